"""Parameter checks shared by the wrapper and the estimators."""

from __future__ import annotations

import numbers

import numpy as np


def check_random_state_param(value, owner: str = "") -> None:
    """Raise a ValueError unless ``value`` is a valid ``random_state`` parameter.

    Valid: None, an integer in [0, 2**32 - 1] (not a bool) or a
    ``numpy.random.RandomState``, the values scikit-learn's estimators accept.
    ``owner`` (e.g. ``"SGDClassifier"``) prefixes the message.
    """
    if (value is None or isinstance(value, np.random.RandomState)
            or (isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
                and 0 <= value <= 2**32 - 1)):
        return
    hint = (" (a numpy Generator: pass an integer seed instead, e.g. random_state=0)."
            if isinstance(value, np.random.Generator) else ".")
    raise ValueError(
        f"{owner + ': ' if owner else ''}random_state must be None, an integer in "
        f"[0, 2**32 - 1] or a numpy.random.RandomState, got {value!r}{hint}"
    )


def estimator_type(estimator) -> str | None:
    """``"classifier"``, ``"regressor"``, ... as scikit-learn's tags say, or None.

    scikit-learn's ``is_classifier`` raises for an object without
    ``__sklearn_tags__`` (one that does not inherit ``BaseEstimator``: another
    library's estimator with ``partial_fit``); such an object's
    ``_estimator_type``, if any, answers instead.
    """
    try:
        from sklearn.utils import get_tags

        return get_tags(estimator).estimator_type
    except Exception:  # noqa: BLE001 - no (or broken) tags: the older convention
        return getattr(estimator, "_estimator_type", None)


def is_classifier(estimator) -> bool:
    return estimator_type(estimator) == "classifier"


def is_regressor(estimator) -> bool:
    return estimator_type(estimator) == "regressor"
