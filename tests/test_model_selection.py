import dask
import dask.array as da
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

from gpuinc.datasets import make_classification
from gpuinc.model_selection import train_test_split


def test_blockwise_split_keeps_rows_paired_and_blocks():
    X, y = make_classification(n_samples=1000, n_features=4, chunks=250, random_state=0)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, random_state=1)
    assert Xtr.numblocks[0] == Xte.numblocks[0] == 4
    assert Xtr.shape == (800, 4) and Xte.shape == (200, 4)
    Xn, yn, Xtrn, ytrn, Xten, yten = dask.compute(X, y, Xtr, ytr, Xte, yte)
    rows = {tuple(r): t for r, t in zip(Xn, yn, strict=True)}
    assert all(rows[tuple(r)] == t for r, t in zip(Xtrn, ytrn, strict=True))
    assert all(rows[tuple(r)] == t for r, t in zip(Xten, yten, strict=True))
    together = np.concatenate([Xtrn, Xten])
    assert len({tuple(r) for r in together}) == 1000
    again = train_test_split(X, y, test_size=0.2, random_state=1)[0].compute()
    np.testing.assert_array_equal(again, Xtrn)


def test_dataframe_split():
    pdf = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100) % 2})
    ddf = dd.from_pandas(pdf, npartitions=4)
    tr, te = train_test_split(ddf, test_size=0.25, random_state=0)
    assert isinstance(tr, dd.DataFrame) and tr.npartitions == 4
    trp, tep = tr.compute(), te.compute()
    # each partition of 25 rows sends ceil(0.25 * 25) = 7 rows to the test set
    assert len(trp) == 72 and len(tep) == 28
    assert sorted(trp.a.tolist() + tep.a.tolist()) == list(np.arange(100.0))


def test_in_memory_goes_to_sklearn():
    X = np.arange(20).reshape(10, 2)
    a, b = train_test_split(X, test_size=0.3, random_state=0)
    assert a.shape == (7, 2) and b.shape == (3, 2)


def test_bad_inputs():
    X = da.ones((10, 2), chunks=5)
    with pytest.raises(ValueError, match="same number of row blocks"):
        train_test_split(X, da.ones(10, chunks=2))
    with pytest.raises(ValueError, match="test_size"):
        train_test_split(X, test_size=3)
    with pytest.raises(TypeError, match="Mix of Dask"):
        train_test_split(X, np.ones(10))
