"""Array and estimator helpers shared by the tests (importable from every test folder:
conftest.py's folder is on sys.path)."""

from __future__ import annotations

import numpy as np


def misaligned_copy(a):
    """``a`` copied to an address one byte past an aligned one (as a byte stream can leave it)."""
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out


def kill_this_process_once(marker) -> None:
    """SIGKILL this process unless ``marker`` (a file path) exists, creating it (with the pid)
    first: the first worker to get here dies, a rerun of its task goes on."""
    import os
    import signal

    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # the rerun
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)


def swallows_interrupts(interrupt_at: int, calls: list, signum=None):
    """A scikit-learn SGDClassifier that gets Ctrl-C (or ``signum``) during its
    ``interrupt_at``-th ``partial_fit`` call and, like scikit-learn's MLP models, catches
    the KeyboardInterrupt; each call's row count is appended to ``calls``."""
    import os
    import signal

    signum = signal.SIGINT if signum is None else signum

    from sklearn.linear_model import SGDClassifier

    class SwallowsInterrupts(SGDClassifier):
        def partial_fit(self, X, y, classes=None, sample_weight=None):
            calls.append(len(X))
            try:
                if len(calls) == interrupt_at:
                    os.kill(os.getpid(), signum)
                    for _ in range(1000):  # the handler runs between these bytecodes
                        pass
            except KeyboardInterrupt:
                pass  # "Training interrupted by user." and carry on
            return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    return SwallowsInterrupts(random_state=0)


class FakeCupyArray:
    """A CuPy array stand-in: NumPy data reachable only through get(); like CuPy, it
    refuses implicit conversion to NumPy (``np.asarray``) and iteration."""

    def __init__(self, values):
        self._a = np.asarray(values)

    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)

    def __len__(self):
        return len(self._a)

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed.")

    def __iter__(self):
        raise TypeError("iteration over a CuPy array is not supported")

    def __getitem__(self, key):
        return FakeCupyArray(self._a[key])

    def get(self):
        return self._a.copy()

    def copy(self):
        return FakeCupyArray(self._a.copy())

    def astype(self, dtype):
        return FakeCupyArray(self._a.astype(dtype))


def parquet_parts(folder, frames) -> tuple:
    """``frames`` written as ``folder/part-<i>.parquet`` (the folder is made); returns the
    folder and the frames concatenated, as one reads them back."""
    import pandas as pd

    folder.mkdir()
    frames = list(frames)
    for i, df in enumerate(frames):
        df.to_parquet(folder / f"part-{i}.parquet", index=False)
    return folder, pd.concat(frames, ignore_index=True)


def text_label_frame(npartitions: int):
    """A Dask DataFrame of 400 rows: features a, b, c and a text label y ('pos' / 'neg')."""
    import dask.dataframe as dd
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.randn(400, 3), columns=list("abc"))
    frame["y"] = np.where(frame.a > 0, "pos", "neg")
    return dd.from_pandas(frame, npartitions=npartitions)
