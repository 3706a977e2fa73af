"""What the benchmarks print about the machine they ran on."""

from __future__ import annotations

import os
import platform
import subprocess
import time


def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def gpuinc_revision() -> str:
    """The git commit gpuinc is imported from, when it is a checkout (read-only git calls)."""
    import gpuinc

    root = os.path.dirname(os.path.dirname(os.path.abspath(gpuinc.__file__)))
    try:
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "--", "gpuinc"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return f"({root})"
    return f"(commit {head}{' + local changes to gpuinc/' if dirty else ''}, {root})"


def load_avg() -> str:
    """The 1/5/15-minute load averages, formatted."""
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not available
        return "n/a"


class ForeignLoad:
    """CPU time used by processes outside this benchmark (and its workers) during a call.

    On a small shared machine other processes steal cores from the run; a
    timing taken while they do measures them, not gpuinc. Without psutil
    this reports nothing and no call is retried.
    """

    def __init__(self):
        try:
            import psutil
        except ImportError:  # pragma: no cover - psutil comes with distributed
            psutil = None
        self.psutil = psutil
        self.cores = usable_cores()

    def _sample(self):
        ps = self.psutil
        t = ps.cpu_times()
        busy = sum(t) - t.idle - getattr(t, "iowait", 0.0)
        # children this process has waited for (a finished benchmark child and the
        # descendants it reaped) are no longer in the tree: their CPU is in os.times()
        done = os.times()
        mine = done.children_user + done.children_system
        me = ps.Process()
        for proc in [me, *me.children(recursive=True)]:
            try:
                c = proc.cpu_times()
                mine += c.user + c.system
            except ps.Error:
                pass
        return busy, mine

    def start(self):
        return self._sample() if self.psutil is not None else None

    def wait_quiet(self, max_share: float, timeout: float, probe: float = 1.0) -> bool:
        """Wait (at most ``timeout`` s) for a ``probe``-second spell of low foreign load."""
        if self.psutil is None or timeout <= 0:
            return True
        deadline = time.perf_counter() + timeout
        while True:
            before = self.start()
            time.sleep(probe)
            if self.share(before, probe) <= max_share:
                return True
            if time.perf_counter() >= deadline:
                return False

    def share(self, before, wall) -> float | None:
        """Foreign CPU seconds during the call, as a share of the machine's capacity."""
        if before is None or wall <= 0:
            return None
        busy, mine = self._sample()
        foreign = max(0.0, (busy - before[0]) - (mine - before[1]))
        return foreign / (wall * self.cores)
