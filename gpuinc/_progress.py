"""Progress bars that show in terminals and notebooks and stay quiet elsewhere."""

from __future__ import annotations

import os
import sys


def interactive() -> bool:
    """True in a terminal or a Jupyter kernel, False under CI or with redirected stdout."""
    if os.environ.get("CI"):
        return False
    if "ipykernel" in sys.modules:
        try:
            from ipykernel.zmqshell import ZMQInteractiveShell
            from IPython import get_ipython

            shell = get_ipython()
            # Jupyter's kernel shell, or one built on it (Colab's, ...)
            if isinstance(shell, ZMQInteractiveShell):
                return True
        except Exception:
            pass
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def should_show(progress) -> bool:
    if progress in (True, "always"):
        return True
    if progress in (False, None, "never"):
        return False
    if progress == "auto":
        return interactive()
    raise ValueError(f"progress must be 'auto', True or False, got {progress!r}.")


class _Quiet:
    def update(self, n=1):
        pass

    def set_postfix_str(self, s):
        pass

    def close(self):
        pass


def bar(total: int, desc: str, progress="auto"):
    """A tqdm.auto bar over ``total`` blocks, or a silent stand-in."""
    if not should_show(progress):
        return _Quiet()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="block", leave=True, file=sys.stdout)
