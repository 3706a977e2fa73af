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
