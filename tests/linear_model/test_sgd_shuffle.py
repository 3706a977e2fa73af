"""The row order of shuffled passes: a permutation, the same on every namespace, well mixed."""

from __future__ import annotations

import numpy as np
import pytest

from gpuinc.linear_model import SGDClassifier
from gpuinc.linear_model._shuffle import draw_keys, shuffle_order

xps = pytest.importorskip("array_api_strict")


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 17, 100, 1023, 1024, 1025, 75_000])
def test_order_is_a_permutation_on_every_namespace(n):
    keys = draw_keys(np.random.default_rng(n))
    order = shuffle_order(np, n, keys, {})
    assert np.array_equal(np.sort(order), np.arange(n))
    strict = shuffle_order(xps, n, keys, {"device": xps.Device("CPU_DEVICE")})
    assert np.array_equal(np.asarray(strict), order)


def test_keys_decide_the_order():
    rng = np.random.default_rng(0)
    k1, k2 = draw_keys(rng), draw_keys(rng)
    a, b = shuffle_order(np, 5000, k1, {}), shuffle_order(np, 5000, k2, {})
    assert np.array_equal(a, shuffle_order(np, 5000, list(k1), {}))
    assert not np.array_equal(a, b)
    # two orders of different keys agree on about one position in n, as random ones
    assert np.mean(a == b) < 0.01


def test_batches_of_sorted_data_are_mixed():
    # labels sorted (all 0s then all 1s): each 1024-row batch of a shuffled pass
    # must hold about 30 % ones, with the spread of a random sample
    n, batch = 100_000, 1024
    y = (np.arange(n) >= 0.7 * n).astype(float)
    shares = []
    for seed in range(3):
        order = shuffle_order(np, n, draw_keys(np.random.default_rng(seed)), {})
        shares += [y[order[i : i + batch]].mean() for i in range(0, n - batch, batch)]
    shares = np.asarray(shares)
    sampling_sd = np.sqrt(0.3 * 0.7 / batch)
    assert abs(shares.mean() - 0.3) < 0.005
    assert 0.7 * sampling_sd < shares.std() < 1.3 * sampling_sd
    # neighbours in the order are not neighbours in the data
    order = shuffle_order(np, n, draw_keys(np.random.default_rng(9)), {})
    steps = np.abs(np.diff(order.astype(np.int64)))
    assert np.median(steps) > n / 5


def test_shuffled_passes_differ_and_repeat_with_random_state():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 5))
    y = (X[:, 0] > 0).astype(int)

    def coef(**params):
        return SGDClassifier(random_state=3, max_iter=3, tol=None, **params).fit(X, y).coef_

    assert np.array_equal(coef(), coef())
    assert not np.array_equal(coef(), coef(shuffle=False))


def test_scratch_arrays_are_reused_per_thread_and_grown():
    import threading

    from gpuinc.linear_model._scratch import arange, scratch

    a = scratch("test-a", (4, 3), np.float32)
    b = scratch("test-a", (2, 3), np.float32)
    assert np.shares_memory(a, b) and b.shape == (2, 3)
    c = scratch("test-a", (10, 3), np.float32)  # larger: a new array
    assert c.shape == (10, 3) and not np.shares_memory(a, c)
    assert scratch("test-a", (3,), np.float64).dtype == np.float64
    values = arange(7, np.uint32)
    assert np.array_equal(values, np.arange(7)) and not values.flags.writeable
    other = []
    thread = threading.Thread(target=lambda: other.append(scratch("test-a", (2, 3), np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(other[0], c)  # each thread has its own
