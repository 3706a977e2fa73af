"""The one place that knows whether the GPU stack is importable.

Nothing here imports a GPU library at module import time.  ``is_cupy_array`` and
friends look only at ``sys.modules``: an object can only be a CuPy array if CuPy
has already been imported by somebody else, so the check never pays for (or
triggers) a GPU import.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from functools import cache

GPU_MODULES = ("cupy", "cudf", "cuml", "dask_cuda", "dask_cudf", "pynvml", "rmm")


def _module_type_check(obj, module: str, attr: str) -> bool:
    mod = sys.modules.get(module)
    if mod is None:
        return False
    cls = getattr(mod, attr, None)
    return cls is not None and isinstance(obj, cls)


def is_cupy_array(obj) -> bool:
    """True for a ``cupy.ndarray``, without importing CuPy."""
    return _module_type_check(obj, "cupy", "ndarray")


def is_cupyx_sparse(obj) -> bool:
    """True for a ``cupyx.scipy.sparse`` matrix, without importing CuPy."""
    mod = sys.modules.get("cupyx.scipy.sparse")
    return mod is not None and bool(getattr(mod, "issparse", lambda _: False)(obj))


def is_cudf_object(obj) -> bool:
    """True for a cuDF DataFrame, Series or Index, without importing cuDF."""
    mod = sys.modules.get("cudf")
    if mod is None:
        return False
    kinds = tuple(getattr(mod, n) for n in ("DataFrame", "Series", "Index") if hasattr(mod, n))
    return bool(kinds) and isinstance(obj, kinds)


@cache
def has_module(name: str) -> bool:
    """Whether ``name`` can be imported (without importing it)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def import_optional(name: str, extra: str):
    """Import ``name`` or raise an ImportError that says which extra installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - message path tested via fake names
        raise ImportError(
            f"gpuinc needs the optional package {name!r} for this; install it with "
            f"`pip install 'gpuinc[{extra}]'`."
        ) from exc


def gpu_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device.

    This imports CuPy (only if installed), so call it only on paths that are
    about to use the GPU anyway.
    """
    if not has_module("cupy"):
        return False
    try:
        import cupy

        return bool(cupy.cuda.is_available()) and cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False
