"""Linear models trained by mini-batch SGD, on any array-API namespace.

The namespace of the training data (NumPy, CuPy, ...) decides where a model
computes and where its fitted arrays live.  To use a fitted model with data
from another namespace or device, move it with :func:`to_namespace`::

    model_gpu = to_namespace(model, "cupy")      # or to_namespace(model, X_gpu)
    model_cpu = to_namespace(model_gpu, "numpy")
"""

from .._array_api import to_namespace
from ._sgd import SGDClassifier, SGDRegressor

__all__ = ["SGDClassifier", "SGDRegressor", "to_namespace"]
