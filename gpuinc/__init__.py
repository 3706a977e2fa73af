"""gpuinc: incremental learning on larger-than-memory data, on CPU and GPU.

Public names only; nothing from the GPU stack is imported here.
"""

from ._chain import WorkersDiedError
from ._checkpoint import CheckpointInUseError, CheckpointMismatchError
from .wrappers import History, Incremental

__version__ = "0.1.0"

__all__ = [
    "Incremental", "History", "CheckpointMismatchError", "CheckpointInUseError",
    "WorkersDiedError", "__version__",
]
