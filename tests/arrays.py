"""Array helpers shared by the tests (importable from every test folder: conftest.py's
folder is on sys.path)."""

from __future__ import annotations

import numpy as np


def misaligned_copy(a):
    """``a`` copied to an address one byte past an aligned one (as a byte stream can leave it)."""
    raw = np.zeros(a.nbytes + 1, dtype=np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned
    return out
