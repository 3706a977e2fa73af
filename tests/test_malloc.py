"""Chain tasks let glibc reuse freed memory under Dask's worker malloc setting."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from gpuinc import _malloc

glibc = pytest.mark.skipif(_malloc._libc() is None, reason="needs glibc")

PROBE = textwrap.dedent(
    """
    import resource, sys, threading
    import numpy as np
    from gpuinc._malloc import reusing_memory, _STATE

    def faults(n=20):
        np.ones(100_000)  # warm
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(n):
            a = np.ones(100_000)  # 800 KB: above the 128 KiB mmap threshold
            del a
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / n

    # an 800 KB request is served from a free chunk of the heap, if one that fits is left
    # over from the imports (it depends on the layout: ASLR), and never faults: use them up
    kept = [np.ones(100_000) for _ in range(64)]
    outside = faults()
    with reusing_memory():
        inside = faults()
        with reusing_memory():  # nested: shares the raise
            pass
        nested = faults()
    after = faults()
    # two threads overlapping: the last one out restores
    go = threading.Barrier(2)
    def task():
        with reusing_memory():
            go.wait()
    threads = [threading.Thread(target=task) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    print(outside, inside, nested, after, faults(), _STATE["depth"])
    """
)


def _run(env):
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return [float(v) for v in out.stdout.split()]


@glibc
def test_faults_vanish_inside_and_return_after():
    env = dict(os.environ, MALLOC_TRIM_THRESHOLD_="65536")
    env.pop("GPUINC_WORKER_MALLOC", None)
    outside, inside, nested, after, later, depth = _run(env)
    assert outside > 150  # each 800 KB array is a fresh mmap: ~195 pages
    assert inside < 5 and nested < 5
    assert after > 150 and later > 150  # the worker's setting is back
    assert depth == 0


@glibc
def test_nothing_changes_without_the_worker_setting_or_when_switched_off():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    assert _run(dict(env, GPUINC_WORKER_MALLOC="0", MALLOC_TRIM_THRESHOLD_="65536"))[1] > 150
    # no MALLOC_TRIM_THRESHOLD_: glibc's dynamic threshold already reuses memory
    outside, inside, *_ = _run(env)
    assert outside < 5 and inside < 5


def test_worker_settings(monkeypatch):
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GPUINC_WORKER_MALLOC", raising=False)
    assert _malloc.worker_settings() is None
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    if _malloc._libc() is None:
        assert _malloc.worker_settings() is None
        return
    assert _malloc.worker_settings() == (65536, 128 * 1024)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "200000")
    assert _malloc.worker_settings() == (65536, 200000)
    # a worker already more generous than the raise is left as it is
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(2**30))
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", str(2**25))
    assert _malloc.worker_settings() is None
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "200000")  # one of the two lower: raised
    assert _malloc.worker_settings() == (2**30, 200000)
    monkeypatch.setenv("GPUINC_WORKER_MALLOC", "0")
    assert _malloc.worker_settings() is None


def test_a_higher_worker_threshold_is_never_lowered(monkeypatch):
    calls = []

    class FakeLibc:
        def mallopt(self, what, value):
            calls.append((what, value))

        def malloc_trim(self, pad):
            calls.append(("trim", pad))

    monkeypatch.setattr(_malloc, "_LIBC", [FakeLibc()])
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", str(2**30))
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("GPUINC_WORKER_MALLOC", raising=False)
    with _malloc.reusing_memory():
        assert calls == [
            (_malloc.M_MMAP_THRESHOLD, _malloc.RAISED_MMAP_THRESHOLD),
            (_malloc.M_TRIM_THRESHOLD, 2**30),  # the worker's, higher than the raise
        ]
    assert calls[2:] == [  # and no malloc_trim: this worker keeps up to 1 GiB freed
        (_malloc.M_TRIM_THRESHOLD, 2**30),
        (_malloc.M_MMAP_THRESHOLD, _malloc.GLIBC_MMAP_THRESHOLD),
    ]
