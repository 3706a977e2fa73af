"""Loss functions for mini-batch SGD, written against the array API.

Each loss works on a whole mini-batch at once: ``z`` is the (n_samples, k)
matrix of raw scores and ``y`` the matching (n_samples, k) target matrix.
``gradient`` returns d loss / d z elementwise (same shape as ``z``); ``value``
returns the per-entry loss.  No function branches in Python on array values,
so every loss runs unchanged on NumPy, CuPy or any other array-API namespace.

``curvature`` bounds d2 loss / dz2 for the losses whose gradient grows
without bound (the squared ones); it is ``None`` for losses with a bounded
gradient, which cannot blow up however large the step.  ``smoothness``
bounds d2 loss / dz2 for every smooth loss, and is a unit constant for the
non-smooth ones (hinge, epsilon-insensitive): it sets the largest step
taken along the mean gradient of a mini-batch.  The perceptron's is 0: its
loss has neither curvature nor a margin (scaling the weights scales the
loss), so no step is more stable than another and only the L2 penalty
bounds it (see ``BaseSGD._step_caps``).  ``is_smooth`` tells the kinds apart.
``gradient_bound`` (regression losses only, absent elsewhere) is the bound on
|d loss / dz| of ``huber`` (``epsilon``) and ``epsilon_insensitive`` (1): the
regressor's 'optimal' step bounds how far one update moves a prediction
with it (see ``BaseSGD._eta``); None for the squared ones.

Classification targets are +1/-1 per column (binary: one column; multiclass
one-vs-rest: one column per class), except the multinomial log loss which
takes a one-hot matrix.  Regression targets are one column of real values.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any

# The log loss gradient caps its exponent so float32 cannot overflow; at u = 50
# the logistic function is already 0 or 1 to within float64 rounding.
_EXP_CAP = 50.0


def _positive_part(xp: ModuleType, u: Any) -> Any:
    return xp.maximum(u, 0.0)


def _softplus(xp: ModuleType, u: Any) -> Any:
    """log(1 + exp(u)) without overflow."""
    return _positive_part(xp, u) + xp.log1p(xp.exp(-xp.abs(u)))


@dataclass(frozen=True)
class Hinge:
    """max(0, threshold - y z); threshold 1 is the SVM hinge, 0 the perceptron."""

    threshold: float = 1.0
    curvature = None
    is_smooth = False

    @property
    def smoothness(self) -> float:
        # non-smooth: a unit constant sets the scale of the step of the hinge, whose
        # margin gives the weights a scale; the perceptron (threshold 0) has none:
        # its loss is positively homogeneous in the weights, 0 says "no stable step"
        return 1.0 if self.threshold > 0.0 else 0.0

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return xp.where(y * z <= self.threshold, -y, 0.0)

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return _positive_part(xp, self.threshold - y * z)


@dataclass(frozen=True)
class SquaredHinge:
    """max(0, 1 - y z) ** 2."""

    curvature = 2.0
    is_smooth = True
    smoothness = 2.0

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return -2.0 * y * _positive_part(xp, 1.0 - y * z)

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return _positive_part(xp, 1.0 - y * z) ** 2


@dataclass(frozen=True)
class ModifiedHuber:
    """Quadratically smoothed hinge: (max(0, 1 - y z))**2 for y z >= -1, else -4 y z."""

    curvature = None
    is_smooth = True
    smoothness = 2.0

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        yz = y * z
        return y * xp.where(yz >= -1.0, -2.0 * _positive_part(xp, 1.0 - yz), -4.0)

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        yz = y * z
        return xp.where(yz >= -1.0, _positive_part(xp, 1.0 - yz) ** 2, -4.0 * yz)


@dataclass(frozen=True)
class BinaryLogLoss:
    """log(1 + exp(-y z)) with y in {-1, +1}."""

    curvature = None
    is_smooth = True
    smoothness = 0.25

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return -y / (1.0 + xp.exp(xp.minimum(y * z, _EXP_CAP)))

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return _softplus(xp, -y * z)


@dataclass(frozen=True)
class MultinomialLogLoss:
    """Softmax cross-entropy with a one-hot target matrix."""

    curvature = None
    is_smooth = True
    smoothness = 0.5

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return softmax(xp, z) - y

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        # Returned per row in column 0 and zero elsewhere so callers can sum it
        # like the other losses.
        m = xp.max(z, axis=1, keepdims=True)
        lse = xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True)) + m
        return (lse - xp.sum(z * y, axis=1, keepdims=True)) * y


@dataclass(frozen=True)
class SquaredError:
    """(z - y) ** 2 / 2."""

    curvature = 1.0
    is_smooth = True
    smoothness = 1.0

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return z - y

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        r = z - y
        return 0.5 * r * r


@dataclass(frozen=True)
class Huber:
    """Squared error within ``epsilon`` of the target, linear beyond it."""

    epsilon: float = 0.1
    curvature = None
    is_smooth = True
    smoothness = 1.0

    @property
    def gradient_bound(self) -> float:
        return self.epsilon

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        return xp.minimum(xp.maximum(z - y, -self.epsilon), self.epsilon)

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        r = xp.abs(z - y)
        inner = xp.minimum(r, self.epsilon)
        return 0.5 * inner * inner + self.epsilon * (r - inner)


@dataclass(frozen=True)
class EpsilonInsensitive:
    """max(0, |z - y| - epsilon), raised to ``power`` (1 or 2)."""

    epsilon: float = 0.1
    power: int = 1

    @property
    def curvature(self) -> float | None:
        return 2.0 if self.power == 2 else None

    @property
    def is_smooth(self) -> bool:
        return self.power == 2

    @property
    def smoothness(self) -> float:
        return 2.0 if self.power == 2 else 1.0  # power 1 is non-smooth: a unit constant

    @property
    def gradient_bound(self) -> float | None:
        return None if self.power == 2 else 1.0

    def gradient(self, xp: ModuleType, z: Any, y: Any) -> Any:
        r = z - y
        if self.power == 2:
            above = _positive_part(xp, r - self.epsilon)
            below = _positive_part(xp, -r - self.epsilon)
            return 2.0 * (above - below)
        return xp.where(xp.abs(r) > self.epsilon, xp.sign(r), 0.0)

    def value(self, xp: ModuleType, z: Any, y: Any) -> Any:
        excess = _positive_part(xp, xp.abs(z - y) - self.epsilon)
        return excess**self.power


def softmax(xp: ModuleType, z: Any) -> Any:
    """Row-wise softmax of a 2-D score matrix."""
    e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
    return e / xp.sum(e, axis=1, keepdims=True)


def log_softmax(xp: ModuleType, z: Any) -> Any:
    """Row-wise log-softmax of a 2-D score matrix."""
    shifted = z - xp.max(z, axis=1, keepdims=True)
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=1, keepdims=True))


def sigmoid(xp: ModuleType, z: Any) -> Any:
    """Logistic function ``1 / (1 + exp(-z))``, without overflow and without a floor.

    Written with ``e = exp(-|z|)``, which never overflows: ``1 / (1 + e)`` for
    ``z >= 0`` and ``e / (1 + e)`` below, so a very negative score gives its
    true tiny probability (``exp(z)``, as ``predict_log_proba`` says), not a
    floor set by a cap on the exponent.
    """
    e = xp.exp(-xp.abs(z))
    return xp.where(z >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


CLASSIFICATION_LOSSES = ("hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron")
REGRESSION_LOSSES = (
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
)


def make_loss(name: str, *, epsilon: float, n_columns: int = 1) -> Any:
    """Loss object for ``name``; ``n_columns > 1`` selects multinomial log loss."""
    if name == "hinge":
        return Hinge(1.0)
    if name == "perceptron":
        return Hinge(0.0)
    if name == "squared_hinge":
        return SquaredHinge()
    if name == "modified_huber":
        return ModifiedHuber()
    if name == "log_loss":
        return MultinomialLogLoss() if n_columns > 1 else BinaryLogLoss()
    if name == "squared_error":
        return SquaredError()
    if name == "huber":
        return Huber(epsilon)
    if name == "epsilon_insensitive":
        return EpsilonInsensitive(epsilon, 1)
    if name == "squared_epsilon_insensitive":
        return EpsilonInsensitive(epsilon, 2)
    raise ValueError(f"Unknown loss {name!r}.")
