"""Whether X and y are cut from one frame, decided without hashing in-memory data."""

from __future__ import annotations

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import gpuinc._blocks as blocks
from gpuinc._blocks import _co_aligned

are_co_aligned = pytest.importorskip("dask.dataframe.dask_expr._expr").are_co_aligned


@pytest.fixture
def frame():
    df = pd.DataFrame({"a": np.arange(40.0), "b": np.arange(40.0) * 2, "t": np.arange(40) % 2})
    return dd.from_pandas(df, npartitions=4)


@pytest.fixture
def parquet(tmp_path, frame):
    frame.to_parquet(tmp_path / "data")
    return dd.read_parquet(tmp_path / "data")


def cases(frame, parquet):
    x_p, y_p = dask.persist(frame[["a", "b"]], frame["t"])
    return {
        "one frame": (frame[["a", "b"]], frame["t"]),
        "blockwise steps": ((frame[["a", "b"]] * 2).astype("float32"), frame["t"] + 1),
        "read_parquet projections": (parquet[["a", "b"]], parquet["t"]),
        "shuffled y": (frame[["a", "b"]], frame.shuffle("t")["t"]),
        "persisted apart": (x_p, y_p),
        "other frame": (frame[["a", "b"]], dd.from_pandas(pd.Series(np.arange(40) % 3),
                                                         npartitions=4)),
    }


@pytest.mark.parametrize("case", ["one frame", "blockwise steps", "read_parquet projections",
                                  "shuffled y", "persisted apart", "other frame"])
def test_same_answer_as_dask(frame, parquet, case):
    X, y = cases(frame, parquet)[case]
    assert _co_aligned(X.expr, y.expr) == are_co_aligned(X.expr, y.expr)


def test_persisted_or_shared_frames_are_not_hashed(frame, parquet, monkeypatch):
    """Dask's check tokenizes a persisted frame's data (0.58 s for 1 GB): not needed here."""
    def refuse(*exprs):
        raise AssertionError("are_co_aligned was called")

    monkeypatch.setattr("dask.dataframe.dask_expr._expr.are_co_aligned", refuse)
    c = cases(frame, parquet)
    for case in ("one frame", "blockwise steps", "persisted apart"):
        X, y = c[case]
        assert _co_aligned(X.expr, y.expr) == (case != "persisted apart")


def test_plan_blocks_pairs_persisted_blocks_by_partition(frame):
    X, y = dask.persist(frame[["a", "b"]], frame["t"])
    plan = blocks.plan_blocks(X, y)
    got = [dask.compute(b.x, b.y) for b in plan.blocks]
    assert len(got) == 4
    assert pd.concat([x for x, _ in got]).equals(frame[["a", "b"]].compute())
    assert pd.concat([t for _, t in got]).equals(frame["t"].compute())
