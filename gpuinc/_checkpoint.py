"""Atomic checkpoints of a multi-pass fit.

A checkpoint is a pickle (load only checkpoints you wrote yourself: unpickling
runs code).  It holds the model, the pass and block position, the block order
of the current pass, the RNG state, the validation split and ``history_``,
plus a fingerprint of the estimator, its parameters and the data's shape so
that a checkpoint is never resumed into a different fit.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

FILENAME = "gpuinc-checkpoint.pkl"
FORMAT = 1


class CheckpointMismatchError(ValueError):
    """The checkpoint in the directory belongs to a different fit."""


def path_for(directory) -> Path:
    return Path(directory) / FILENAME


def write_pickle_atomic(target, payload) -> Path:
    """Pickle ``payload`` to ``target`` atomically.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, and only then renamed over ``target``: a reader sees the old file
    or the complete new one, never a partial write.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target


def save(directory, state: dict) -> Path:
    """Write ``state`` atomically: a temporary file in the same directory, then rename."""
    return write_pickle_atomic(path_for(directory), dict(state, format=FORMAT))


def load(directory, fingerprint: dict) -> dict | None:
    """Return the saved state, None if there is none; refuse a foreign one."""
    target = path_for(directory)
    if not target.exists():
        return None
    with open(target, "rb") as fh:
        try:
            state = pickle.load(fh)
        except Exception as exc:
            raise CheckpointMismatchError(
                f"{target} is not a readable gpuinc checkpoint ({exc}); delete it or choose "
                "another checkpoint directory."
            ) from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointMismatchError(
            f"{target} was not written by this version of gpuinc; delete it or choose another "
            "checkpoint directory."
        )
    saved = state.get("fingerprint", {})
    diffs = [k for k in sorted(set(saved) | set(fingerprint)) if saved.get(k) != fingerprint.get(k)]
    if diffs:
        detail = "; ".join(
            f"{k}: checkpoint has {saved.get(k)!r}, this fit has {fingerprint.get(k)!r}" for k in diffs
        )
        raise CheckpointMismatchError(
            f"The checkpoint in {Path(directory)} belongs to a different fit ({detail}). "
            "Use a new checkpoint directory, or delete the old checkpoint to start over."
        )
    return state
