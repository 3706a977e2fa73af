"""Work that blocks share (a reduction, a shuffle) is computed once a pass, not once a block.

A pass computed every block alone: with ``X - X.mean(0)`` every block computed
the mean again, from every chunk of X, so a pass computed the source chunks
N**2 times (40,000 for 200 blocks); a lazy ``sort_values`` ran its whole
shuffle again for every block.  Now the pieces several blocks use are computed
once a pass, when the first block needing them loads, and held until the last
one has: each source chunk is computed twice (once for the mean, once for its
own block), and a chunk only neighbours share is held only while they load.
"""

from __future__ import annotations

import threading

import dask
import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import SGDClassifier

from gpuinc import Incremental, _chain
from gpuinc.datasets import make_classification

N = 20  # blocks
_LOCK = threading.Lock()
_COUNT = [0]


def _counted(block):
    """The source of the data: counts how often a chunk (or partition) is computed."""
    with _LOCK:
        _COUNT[0] += 1
    return block


def _reset() -> None:
    with _LOCK:
        _COUNT[0] = 0


def _centred():
    X, y = make_classification(n_samples=50 * N, n_features=4, chunks=50, random_state=0)
    X = X.map_blocks(_counted)
    return X - X.mean(axis=0), y


def _sorted_frame():
    rng = np.random.default_rng(0)
    pdf = pd.DataFrame(rng.normal(size=(50 * N, 4)), columns=list("abcd"))
    pdf["t"] = (pdf.a > 0).astype(int)
    ddf = dd.from_pandas(pdf, npartitions=N).map_partitions(_counted)
    return ddf.sort_values("b")


def _plain(blocks, epochs=1):
    """The model of the plain loop: partial_fit on each block in order."""
    model = SGDClassifier(random_state=0)
    for _ in range(epochs):
        for xb, yb in blocks:
            model.partial_fit(xb, yb, classes=[0, 1])
    return model


def _array_blocks(X, y, scheduler):
    return [dask.compute(X.blocks[i], y.blocks[i], scheduler=scheduler)
            for i in range(X.numblocks[0])]


def _frame_blocks(ddf):
    whole = ddf.compute()
    ends = np.cumsum([0, *ddf.map_partitions(len).compute().to_numpy()])
    parts = [whole.iloc[a:b] for a, b in zip(ends[:-1], ends[1:], strict=True) if b > a]
    return [(part[list("abcd")], part["t"]) for part in parts]


def _fit(X, y, epochs=1):
    _reset()
    inc = Incremental(SGDClassifier(random_state=0), shuffle_blocks=False, progress=False,
                      epochs=epochs).fit(X, y, classes=[0, 1])
    with _LOCK:
        return inc, _COUNT[0]


def _nothing_held(client) -> bool:
    import time

    def wanted(dask_scheduler):
        return [str(k) for k, ts in dask_scheduler.tasks.items() if ts.who_wants]

    deadline = time.monotonic() + 10
    while (client.futures or client.run_on_scheduler(wanted)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not client.futures and not client.run_on_scheduler(wanted)


def test_a_shared_reduction_is_computed_once_a_pass_on_threads():
    Xc, y = _centred()
    expected = _plain(_array_blocks(Xc, y, "threads"), epochs=2)
    inc, computed = _fit(Xc, y, epochs=2)
    assert computed <= 2 * (2 * N), computed  # was N**2 a pass
    assert np.array_equal(inc.coef_, expected.coef_)
    assert np.array_equal(inc.intercept_, expected.intercept_)


def test_a_shuffle_is_computed_once_a_pass_on_threads():
    ddf = _sorted_frame()
    expected = _plain(_frame_blocks(ddf))
    inc, computed = _fit(ddf[list("abcd")], ddf["t"])
    assert computed <= 2 * N + 2, computed  # was N * (N + 1)
    assert np.array_equal(inc.coef_, expected.coef_)


def test_a_shared_reduction_is_computed_once_a_pass_on_a_cluster(client):
    Xc, y = _centred()
    expected = _plain(_array_blocks(Xc, y, "threads"))
    inc, computed = _fit(Xc, y)
    assert computed <= 2 * N + 2, computed  # was ~14 N for 40 blocks
    assert np.array_equal(inc.coef_, expected.coef_)
    assert _nothing_held(client)  # what the pass held is released with it


def test_a_shuffle_is_computed_once_a_pass_on_a_cluster(client):
    ddf = _sorted_frame()
    expected = _plain(_frame_blocks(ddf))
    inc, computed = _fit(ddf[list("abcd")], ddf["t"])
    assert computed <= 2 * N + 2, computed
    assert np.array_equal(inc.coef_, expected.coef_)
    assert _nothing_held(client)


def test_what_blocks_share_is_the_pieces_their_own_tasks_use():
    """The mean's result is held, not the chunks it is computed from (each chunk is used
    by its own block only); blocks that share nothing have nothing to hold."""
    from gpuinc._blocks import Block

    Xc, y = _centred()
    pieces = [Block(i, x) for i, x in enumerate(Xc.to_delayed().ravel())]
    from gpuinc._blocks import split_graph

    blocks = [Block(i, x) for i, x in enumerate(split_graph(b.x for b in pieces))]
    shared = _chain._shared_work(blocks, lambda v: True)
    assert len(shared.held) == 1 and "mean" in str(shared.held[0])
    assert all(needs == set(shared.held) for _, needs in shared.blocks.values())
    own = [own for own, _ in shared.blocks.values()]
    assert all(not (a & b) for i, a in enumerate(own) for b in own[i + 1:])

    X, _ = make_classification(n_samples=200, n_features=4, chunks=50, random_state=0)
    alone = [Block(i, x) for i, x in enumerate(split_graph(X.to_delayed().ravel()))]
    assert _chain._shared_work(alone, lambda v: True) is None


def test_a_failed_pass_releases_what_it_held(client):
    class Raises(SGDClassifier):
        def partial_fit(self, X, y, classes=None, sample_weight=None):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 3:
                raise RuntimeError("boom")
            return super().partial_fit(X, y, classes=classes, sample_weight=sample_weight)

    Xc, y = _centred()
    with pytest.raises(RuntimeError, match="boom"):
        Incremental(Raises(random_state=0), shuffle_blocks=False, progress=False).fit(
            Xc, y, classes=[0, 1])
    assert _nothing_held(client)


def test_blocks_that_share_nothing_are_looked_at_once_a_fit_or_not_at_all(client,
                                                                         monkeypatch):
    """No new cost on the fast paths: a cluster never looks for shared work among
    independent (one-task pass) or persisted blocks; the threaded runner looks once a fit."""
    calls = []
    shared_work = _chain._shared_work

    def counting(blocks, lazy):
        calls.append(len(blocks))
        return shared_work(blocks, lazy)

    monkeypatch.setattr(_chain, "_shared_work", counting)
    X, y = make_classification(n_samples=400, n_features=4, chunks=50, random_state=0)
    Xp, yp = dask.persist(X, y)
    for data in [(X, y), (Xp, yp)]:
        Incremental(SGDClassifier(random_state=0), epochs=2, progress=False).fit(
            *data, classes=[0, 1])
    assert calls == []
    with dask.config.set(scheduler="threads"):
        Incremental(SGDClassifier(random_state=0), epochs=3, progress=False).fit(
            X, y, classes=[0, 1])
    assert calls == [8]


def _split_frame():
    # each source partition split into two blocks: its chunk is shared by neighbours only
    rng = np.random.default_rng(1)
    pdf = pd.DataFrame(rng.normal(size=(50 * N, 4)), columns=list("abcd"))
    pdf["t"] = (pdf.a > 0).astype(int)
    ddf = dd.from_pandas(pdf, npartitions=N).map_partitions(_counted)
    return ddf.repartition(npartitions=2 * N)


@pytest.fixture
def most_held(monkeypatch):
    """The most held keys a pass holds at once (see _chain._PassHold)."""
    most = [0]
    after = _chain._PassHold.after

    def counting(self, pos):
        most[0] = max(most[0], len(self.values))
        return after(self, pos)

    monkeypatch.setattr(_chain._PassHold, "after", counting)
    return most


@pytest.mark.parametrize("on_cluster", [False, True])
def test_chunks_shared_by_neighbours_are_held_only_while_they_load(request, most_held,
                                                                   on_cluster):
    # A repartition that splits each source partition: every source chunk is used by two
    # neighbouring blocks. Held from the start of the pass to its end, they were the whole
    # dataset (190 MB of 190 MB in a reviewer's run); now each is computed once, when its
    # first block loads, and let go of after its last.
    if on_cluster:
        request.getfixturevalue("client")
    ddf = _split_frame()
    expected = _plain(_frame_blocks(ddf))
    inc, computed = _fit(ddf[list("abcd")], ddf["t"])
    assert np.array_equal(inc.coef_, expected.coef_)
    assert computed <= N + 2, computed  # (each block alone: 2 N)
    assert 1 <= most_held[0] <= 2, most_held[0]  # was N, all of them


def test_a_reduction_is_held_for_the_whole_pass_and_computed_once(most_held):
    Xc, y = _centred()
    _, computed = _fit(Xc, y)
    assert computed <= 2 * N + 2
    assert most_held[0] == 1
