"""Array-API namespace helpers shared by gpuinc's own estimators.

The namespace of the input decides where an estimator computes.  Public
methods resolve it once with :func:`get_namespace` and pass ``xp`` down, so the
numerical code below them never names NumPy or CuPy.

Host containers (lists, pandas objects, ``scipy.sparse`` matrices, NumPy
arrays) all resolve to the NumPy namespace; arrays that carry
``__array_namespace__`` (CuPy, array_api_strict, ...) resolve to their own.
Nothing here imports a GPU library: CuPy is only touched when the caller
already holds a CuPy array or asks for the ``"cupy"`` namespace by name.
"""

from __future__ import annotations

import copy
import importlib
from types import ModuleType
from typing import Any

import array_api_compat
import array_api_compat.numpy
import numpy as np
from array_api_compat import array_namespace, is_array_api_obj, is_numpy_array

__all__ = [
    "device",
    "get_namespace",
    "is_numpy_namespace",
    "namespace_name",
    "resolve_namespace",
    "same_namespace",
    "to_namespace",
    "to_numpy",
]

_NAMESPACE_ALIASES = {
    "np": "numpy",
    "numpy": "numpy",
    "cupy": "cupy",
    "cp": "cupy",
    "array_api_strict": "array_api_strict",
    "strict": "array_api_strict",
    "torch": "torch",
}


def _is_host_container(obj: Any) -> bool:
    """True for anything that resolves to NumPy (not an array-API object of another library)."""
    return not is_array_api_obj(obj) or is_numpy_array(obj)


def get_namespace(*arrays: Any) -> ModuleType:
    """Return the array-API namespace the given arrays share.

    ``None`` entries are ignored.  Host containers (lists, pandas,
    ``scipy.sparse``, NumPy) resolve to ``array_api_compat.numpy``; every other
    array resolves through :func:`array_api_compat.array_namespace`, which
    raises ``TypeError`` when the arrays come from different libraries.

    Parameters
    ----------
    *arrays : array-like or None
        The arrays to inspect.

    Returns
    -------
    xp : module
        An array-API compatible namespace.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuinc._array_api import get_namespace
    >>> get_namespace(np.ones(3)).__name__
    'array_api_compat.numpy'
    """
    device_arrays = [a for a in arrays if a is not None and not _is_host_container(a)]
    if not device_arrays:
        return array_api_compat.numpy
    return array_namespace(*device_arrays)


def is_numpy_namespace(xp: ModuleType) -> bool:
    """Whether ``xp`` is NumPy or array-api-compat's NumPy wrapper."""
    return xp.__name__ in {"numpy", "array_api_compat.numpy"}


def namespace_name(xp: ModuleType) -> str:
    """A short, user-facing name for a namespace ("numpy", "cupy", ...)."""
    name = xp.__name__
    if name.startswith("array_api_compat."):
        name = name[len("array_api_compat.") :]
    return name


def same_namespace(xp1: ModuleType, xp2: ModuleType) -> bool:
    """Whether two namespaces wrap the same array library."""
    return namespace_name(xp1) == namespace_name(xp2)


def device(x: Any) -> Any:
    """The device an array lives on (``"cpu"`` for host containers)."""
    if _is_host_container(x):
        return "cpu"
    return array_api_compat.device(x)


def resolve_namespace(xp: ModuleType | str | Any) -> ModuleType:
    """Turn a module, a library name or an example array into an array-API namespace.

    Parameters
    ----------
    xp : module, str or array
        ``numpy``/``"numpy"``, ``cupy``/``"cupy"``, ``array_api_strict`` ... or
        an array whose namespace should be used.

    Returns
    -------
    module
        The array-API compatible namespace (array-api-compat's wrapper where
        one exists).
    """
    if isinstance(xp, str):
        key = xp.lower()
        if key not in _NAMESPACE_ALIASES:
            raise ValueError(
                f"Unknown array namespace {xp!r}; expected one of "
                f"{sorted(set(_NAMESPACE_ALIASES.values()))} or a module."
            )
        module = importlib.import_module(_NAMESPACE_ALIASES[key])
        return resolve_namespace(module)
    if isinstance(xp, ModuleType):
        name = namespace_name(xp)
        if name in {"numpy", "cupy", "torch", "dask.array"}:
            return importlib.import_module(f"array_api_compat.{name}")
        if hasattr(xp, "__array_api_version__"):
            return xp
        raise TypeError(f"Module {xp.__name__!r} is not an array-API namespace.")
    return get_namespace(xp)


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array from any namespace or device to a NumPy array on the host.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuinc._array_api import to_numpy
    >>> to_numpy([1.0, 2.0])
    array([1., 2.])
    """
    if _is_host_container(x):
        return np.asarray(x)
    if hasattr(x, "get") and type(x).__module__.startswith("cupy"):
        return x.get()
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    try:
        return np.from_dlpack(x)
    except (TypeError, RuntimeError, BufferError, AttributeError):
        return np.asarray(x)


def _to_namespace_array(x: Any, xp: ModuleType, device: Any = None, copy: bool = False) -> Any:
    if is_array_api_obj(x) and same_namespace(get_namespace(x), xp):
        if device is None or array_api_compat.device(x) == device:
            return xp.asarray(x, copy=True) if copy else x
        return array_api_compat.to_device(x, device)
    host = to_numpy(x)
    if is_numpy_namespace(xp):
        return host
    if host.dtype.kind not in "biufc":
        raise TypeError(
            f"Cannot move an array of dtype {host.dtype} to {namespace_name(xp)}: only "
            "numeric and boolean arrays exist outside NumPy."
        )
    if device is None:
        return xp.asarray(host)
    return xp.asarray(host, device=device)


def to_namespace(obj: Any, xp: ModuleType | str | Any, *, device: Any = None) -> Any:
    """Move an array, or every fitted array of an estimator, to another namespace.

    Parameters
    ----------
    obj : array or estimator
        An array (of any namespace) or a fitted estimator whose fitted
        attributes (those ending in ``_``, and private array state) are arrays.
    xp : module, str or array
        Target namespace: a module (``numpy``, ``cupy``, ``array_api_strict``),
        its name, or an array that lives where the result should live.
    device : object, optional
        Target device within ``xp``; defaults to the namespace's default device
        (or the example array's device when ``xp`` is an array).

    Returns
    -------
    array or estimator
        For an array, the moved array (``obj`` itself when already there).  For
        an estimator, a copy whose array attributes live in ``xp``; the
        original is left as it was and shares no state with the copy.

    Examples
    --------
    >>> import numpy as np
    >>> from gpuinc.linear_model import SGDRegressor, to_namespace
    >>> to_namespace([1, 2, 3], "numpy")
    array([1, 2, 3])
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> model = SGDRegressor(random_state=0).fit(X, X[:, 0])
    >>> moved = to_namespace(model, "numpy")  # "cupy" or a CuPy array for the GPU
    >>> moved is model, type(moved.coef_).__name__
    (False, 'ndarray')
    """
    if device is None and not isinstance(xp, (str, ModuleType)):
        device = array_api_compat.device(xp) if not _is_host_container(xp) else None
    target = resolve_namespace(xp)
    if "dask" in getattr(target, "__name__", ""):
        raise ValueError(
            "to_namespace cannot move arrays or a model into dask.array: a model's arrays live "
            "in memory (NumPy, CuPy, ...). Train on Dask data with gpuinc.Incremental, which "
            "hands the model one in-memory block at a time."
        )
    if hasattr(obj, "get_params") and hasattr(obj, "__dict__"):
        # Arrays are moved (copied once); everything else is deep-copied so the
        # two estimators share no mutable state (a random generator, say).
        moved = copy.copy(obj)
        for name, value in vars(obj).items():
            if name not in _HOST_ONLY_ATTRIBUTES and _is_movable_array(value):
                setattr(moved, name, _to_namespace_array(value, target, device, copy=True))
            else:
                setattr(moved, name, copy.deepcopy(value))
        return moved
    return _to_namespace_array(obj, target, device)


_HOST_ONLY_ATTRIBUTES = frozenset({"feature_names_in_"})


def _is_movable_array(value: Any) -> bool:
    return is_array_api_obj(value) and not isinstance(value, (bool, int, float, complex))


def aligned(a: Any) -> Any:
    """``a``, or an aligned copy of a NumPy array whose data is misaligned.

    Arrays rebuilt from a byte stream (for example chunks a Dask worker
    received inside a graph, as ``da.from_array`` of in-memory data on a
    cluster makes) can start at an address that is not a multiple of their
    item size; NumPy then gathers and multiplies them element by element,
    tens of times slower than one copy.
    """
    if isinstance(a, np.ndarray) and not a.flags.aligned:
        return np.require(a, requirements=["A", "C"] if a.flags.c_contiguous else ["A"])
    return a
