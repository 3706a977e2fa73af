"""Peak resident memory of a process tree, sampled in a background thread.

Example::

    proc = subprocess.Popen([...])
    with PeakRSS(proc.pid) as peak:
        proc.wait()
    print(peak.peak_bytes)
"""

from __future__ import annotations

import threading

import psutil


def tree_rss(process: psutil.Process) -> int:
    """RSS of ``process`` plus all its descendants, in bytes (vanished processes count 0)."""
    try:
        procs = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total


class PeakRSS:
    """Sample the summed RSS of a process and its children every ``interval`` seconds.

    Parameters
    ----------
    pid : int, optional
        The root process (default: this process).
    interval : float, default=0.05
        Seconds between samples.
    """

    def __init__(self, pid: int | None = None, interval: float = 0.05):
        self.process = psutil.Process(pid)
        self.interval = float(interval)
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while True:
            self.peak_bytes = max(self.peak_bytes, tree_rss(self.process))
            self.samples += 1
            if self._stop.wait(self.interval):
                return

    def start(self) -> PeakRSS:
        self._thread.start()
        return self

    def stop(self) -> int:
        """Stop sampling; return the peak in bytes."""
        self._stop.set()
        self._thread.join()
        return self.peak_bytes

    def __enter__(self) -> PeakRSS:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
