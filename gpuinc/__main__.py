"""``python -m gpuinc``: the ``gpuinc`` command (the same as the installed script)."""

from .cli import console

if __name__ == "__main__":  # pragma: no cover - run as a program
    console()
