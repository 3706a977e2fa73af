"""Atomic checkpoints of a multi-pass fit.

A checkpoint is a pickle (load only checkpoints you wrote yourself: unpickling
runs code).  It holds the model, the pass and block position, the block order
of the current pass, the RNG state, the validation split and ``history_``,
plus a fingerprint of the estimator, its parameters, the fit's keywords, the
data's shape and dtypes, a digest of the values of its first block that has
rows, and what identifies ``validation_data``, so that a checkpoint is not
resumed into a different fit.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import hashlib
import os
import pickle
import re
import secrets
import stat
import threading
import warnings
from pathlib import Path
from pickle import PicklingError

import dask
import numpy as np

from ._movers import to_host

FILENAME = "gpuinc-checkpoint.pkl"
LOCKNAME = "gpuinc-checkpoint.lock"
FORMAT = 4
#: Formats a fit resumes from: 2 (before the scoring joined the fingerprint) at the end
#: of a pass; 2 and 3 digest the first block with its rows in order
_READABLE = (2, 3, FORMAT)


class CheckpointMismatchError(ValueError):
    """The checkpoint in the directory belongs to a different fit."""


class CheckpointTooLongError(CheckpointMismatchError):
    """The checkpoint holds more passes than the fit is asked for.

    ``directory``, ``held`` (the passes it holds, in words), ``epochs`` (asked
    for) and ``need`` (the least ``epochs`` that resumes it) say so to a
    caller that words the fix its own way (the command line's ``--epochs``).
    """

    def __init__(self, directory, held: str, epochs: int, need: int,
                 words=("epochs=", "use a new checkpoint directory (or delete this one)")):
        self.directory, self.held, self.epochs, self.need = directory, held, epochs, need
        self._words = tuple(words)
        epochs_word, new_dir = words
        super().__init__(
            f"The checkpoint in {directory} holds a model trained for {held}, more than "
            f"{epochs_word}{epochs}. Pass {epochs_word}{need} or more to resume it, or "
            f"{new_dir} to train for fewer passes."
        )

    def __reduce__(self):  # pickled and copied with its fields (worker -> client, copy)
        return type(self), (self.directory, self.held, self.epochs, self.need, self._words), \
            self.__dict__

    def worded(self, words) -> CheckpointTooLongError:
        """The same error, the fix said with ``words`` (the epochs option, a new folder)."""
        return type(self)(self.directory, self.held, self.epochs, self.need, words)


class CheckpointInUseError(OSError):
    """Another fit (in this process or another) is writing checkpoints to the directory."""


#: checkpoint directories (real paths) that fits of this process hold
_HELD: set[str] = set()
_HELD_GUARD = threading.Lock()


@contextlib.contextmanager
def lock(directory):
    """Hold the checkpoint directory for one fit; create it, and check it can be written.

    The lock is an ``flock`` on ``gpuinc-checkpoint.lock`` in the directory:
    the operating system releases it when the fit ends or its process dies,
    so a crashed fit never leaves the directory locked.  A second fit using
    the directory at the same time is refused (CheckpointInUseError) instead
    of overwriting the first one's checkpoints.  Temporary files that a
    killed fit left behind are removed (only under the lock: on a filesystem
    that cannot lock, they may be another fit's write in progress).  On Windows the lock is a
    ``msvcrt.locking`` byte lock, which the system also drops with the process.
    Fits of one process are also told apart without the filesystem: on NFS an
    ``flock`` is a lock of the whole process, which a second fit would share.
    """
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(directory, exc) from exc
    # this process's fits first, without touching the lock file: on NFS an flock is the
    # whole process's, and closing any handle of the file would drop it
    with _held_in_process(directory):
        try:
            fh = open(directory / LOCKNAME, "a+b")  # noqa: SIM115 - held for the whole fit
        except OSError as exc:
            raise _unwritable(directory, exc) from exc
        with _locked(directory, fh):
            yield


@contextlib.contextmanager
def _held_in_process(directory):
    """Register ``directory`` as held by a fit of this process; refuse a second one."""
    key = os.path.realpath(directory)
    with _HELD_GUARD:
        if key in _HELD:
            raise CheckpointInUseError(
                f"another fit in this process is writing checkpoints to {directory}; wait "
                "for it to end, or give this fit its own checkpoint directory."
            )
        _HELD.add(key)
    try:
        yield
    finally:
        with _HELD_GUARD:
            _HELD.discard(key)


@contextlib.contextmanager
def _locked(directory, fh):
    """Hold the filesystem lock on the open lock file ``fh``; remove stale temporaries."""
    unlock = None
    try:
        try:
            unlock = _lock_file(fh)
        except (BlockingIOError, PermissionError) as exc:  # held by another
            raise CheckpointInUseError(
                f"another fit is writing checkpoints to {directory} (it holds "
                f"{directory / LOCKNAME}); wait for it to end, or give this fit its own "
                "checkpoint directory."
            ) from exc
        except OSError as exc:  # a filesystem without locks (some network mounts)
            warnings.warn(
                f"cannot lock {directory / LOCKNAME} ({exc.strerror or exc}); a second "
                "fit using this checkpoint directory at the same time would not be "
                "detected.", RuntimeWarning, stacklevel=5,  # the fit that took the lock
            )
        if unlock is not None:  # unlocked, another fit may be writing its temporary file
            for stale in directory.glob(f".{FILENAME}.*.tmp"):  # left by a fit killed mid-write
                with contextlib.suppress(OSError):
                    stale.unlink()
        _check_writable(directory)
        yield
    finally:
        if unlock is not None:
            with contextlib.suppress(OSError):
                unlock()
        fh.close()  # releases an flock in any case


def _check_writable(directory) -> None:
    """Create and remove a file where checkpoints go: a directory that holds a lock file
    already (from an earlier fit) opens even when no new file can be made in it."""
    probe = directory / f".{FILENAME}.{os.getpid()}.{threading.get_ident()}.probe"
    try:
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise _unwritable(directory, exc) from exc


def _unwritable(directory, exc: OSError,
                fix: str = "pass checkpoint= a directory you can write to") -> OSError:
    """The error for a checkpoint directory that cannot be written: ``exc``'s type and
    errno, a message that names the directory, the cause and ``fix``."""
    cause = getattr(exc, "checkpoint_error", (None, exc.strerror or str(exc)))[1]
    err = type(exc)(
        exc.errno,
        f"the checkpoint directory {directory} cannot be created or written ({cause}); {fix}",
    )
    err.checkpoint_error = (directory, cause)
    return err


def reworded(exc: OSError, fix: str) -> OSError | None:
    """An error made by :func:`_unwritable`, with another ``fix``; None for any other."""
    info = getattr(exc, "checkpoint_error", None)
    return None if info is None else _unwritable(info[0], exc, fix)


def _lock_file(fh):
    """Take an exclusive, non-blocking lock on the open file ``fh``; returns its release.

    Raises BlockingIOError or PermissionError when another open file holds
    it, another OSError when the filesystem cannot lock.
    """
    fd = fh.fileno()
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        def release():  # Windows asks for locks to be released before the file is closed
            fh.seek(0)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

        fh.seek(0)
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # EACCES (PermissionError) when held
        return release
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lambda: fcntl.flock(fd, fcntl.LOCK_UN)


def path_for(directory) -> Path:
    return Path(directory) / FILENAME


def write_pickle_atomic(target, payload) -> Path:
    """Pickle ``payload`` to ``target`` atomically.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, and only then renamed over ``target``: a reader sees the old file
    or the complete new one, never a partial write.  The directory is then
    flushed as well (where the platform can), so the rename survives a power
    loss.  A new file gets the mode
    ``open()`` would give it (``0o666`` less the umask); a replaced file keeps
    its mode.
    """
    target = Path(target)
    tmp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, flags, 0o666)  # the umask applies, as with open()
        with os.fdopen(fd, "wb") as fh:
            with contextlib.suppress(FileNotFoundError):
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
            pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
        _fsync_directory(target.parent)  # the rename itself, through a power loss
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:
            # a full disk, a quota, a file-size limit, no permission ...: say which file,
            # and what to do
            full = exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1), errno.EFBIG)
            fix = ("free some space there, or choose another path" if full
                   else "choose a path you can write to")
            raise OSError(exc.errno, f"could not write {target}: {exc.strerror}; {fix}") from exc
        if isinstance(exc, (TypeError, AttributeError, PicklingError)):
            raise TypeError(
                f"could not save {target}: the model cannot be pickled ({exc}). Keep what "
                "cannot be pickled (open files, locks, connections) out of the estimator's "
                "attributes."
            ) from exc
        raise
    return target


def _fsync_directory(directory) -> None:
    """Flush ``directory``'s entries (a rename in it) to disk; nothing where the platform
    cannot open a directory (Windows) or its filesystem cannot sync one."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save(directory, state: dict) -> Path:
    """Write ``state`` atomically: a temporary file in the same directory, then rename."""
    return write_pickle_atomic(path_for(directory), dict(state, format=FORMAT))


def load(directory, fingerprint: dict, earlier=None) -> dict | None:
    """Return the saved state, None if there is none; refuse a foreign one.

    ``earlier()``: the fingerprint's entries as formats 2 and 3 computed them
    (called only for such a checkpoint).
    """
    target = path_for(directory)
    if not target.exists():
        return None
    if target.is_dir():
        raise CheckpointMismatchError(
            f"{target} is a folder, not a gpuinc checkpoint file; move it away or choose "
            "another checkpoint directory."
        )
    try:
        fh = open(target, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:  # no permission to read it, an I/O error ...
        raise CheckpointMismatchError(
            f"{target} cannot be read ({exc.strerror or exc}); give this user read access to "
            "it (or run the fit as the user that wrote it), or choose another checkpoint "
            "directory."
        ) from exc
    with fh:
        try:
            state = pickle.load(fh)
        except (ImportError, AttributeError) as exc:
            # a class the checkpoint holds cannot be found here: the environment differs,
            # the file may be fine (deleting it would throw the progress away)
            raise CheckpointMismatchError(
                f"{target} could not be loaded here ({type(exc).__name__}: {exc}): it holds a "
                "class this Python environment cannot import. Resume where it was written "
                "(the same packages and modules importable), or delete it to start over."
            ) from exc
        except Exception as exc:
            raise CheckpointMismatchError(
                f"{target} is not a readable gpuinc checkpoint ({exc}); delete it or choose "
                "another checkpoint directory."
            ) from exc
    written = state.get("format") if isinstance(state, dict) else None
    if written not in _READABLE:
        raise CheckpointMismatchError(
            f"{target} was not written by this version of gpuinc; delete it or choose another "
            "checkpoint directory."
        )
    saved = state.get("fingerprint", {})
    # before "first_block_at", the digest was of block 0, rows or not: of an empty block 0
    # it checks nothing (a filter that emptied the first partition)
    digested = fingerprint.get("first_block_at")
    unchecked = "first_block_at" not in saved and digested not in (0, None)
    if written in (2, 3) and earlier is not None and not unchecked:
        fingerprint = {**fingerprint, **earlier()}
    if written == 2:  # no scoring in its fingerprint, and no counts of a pass in progress
        if state.get("position", -1) != -1:
            raise CheckpointMismatchError(
                f"{target} was written in the middle of a pass by an earlier gpuinc, which "
                "did not record that pass's progress; resume it with that version, or delete "
                "it to start over."
            )
        fingerprint = {k: v for k, v in fingerprint.items() if k != "scoring"}
    # keys that fingerprints of earlier versions lack: not compared with those
    fingerprint = {k: v for k, v in fingerprint.items() if k in saved or k not in _LATER_KEYS}
    if unchecked:
        saved = {k: v for k, v in saved.items() if k != "first_block"}
        fingerprint = {k: v for k, v in fingerprint.items() if k != "first_block"}
    diffs = _differences(saved, fingerprint)
    if unchecked and not diffs:
        raise CheckpointMismatchError(
            f"{target} was written by an earlier gpuinc, whose check of the data read only "
            f"block 0 of X, and block 0 of this X is empty (the first block with rows is block "
            f"{digested}), so it cannot tell whether this is the data the "
            "checkpoint was trained on. Delete the checkpoint (or use a new checkpoint "
            "directory) to start over, or resume it with the gpuinc version that wrote it."
        )
    if diffs:
        detail = "; ".join(diffs[:5]) + ("; ..." if len(diffs) > 5 else "")
        raise CheckpointMismatchError(
            f"The checkpoint in {Path(directory)} belongs to a different fit ({detail}). "
            "Use a new checkpoint directory, or delete the old checkpoint to start over."
        )
    return state


#: fingerprint keys added after checkpoint format 3 was introduced ("first_block_at": the
#: block that "first_block" digests, the first one with rows; before it, block 0;
#: "fit_kwargs": fit's keywords that are not per row, as ``classes``; "dtypes": of X, y
#: and the per-row keywords; "validation_data": what identifies it): a checkpoint whose
#: fingerprint lacks one was written before it was recorded, and is not compared on it
_LATER_KEYS = frozenset({"held_out_blocks", "first_block_at", "fit_kwargs", "dtypes",
                         "validation_data"})


def _differences(saved: dict, current: dict, prefix: str = "") -> list[str]:
    """What differs between two fingerprints, in words; nested dicts (parameters) walked."""
    out = []
    # the digest of the first block covers its dtypes: another dtype is said as such
    recast = not prefix and _ABSENT not in (saved.get("dtypes", _ABSENT),
                                            current.get("dtypes", _ABSENT)) \
        and saved["dtypes"] != current["dtypes"]
    for k in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(k, _ABSENT), current.get(k, _ABSENT)
        if k == "validation_data" and not prefix:
            if a is not None and a is not _ABSENT and a != b:
                # (a checkpoint that scored no validation set has no state to mismatch)
                said = ("the checkpoint's scores and early-stopping state were computed on "
                        "validation data, and this fit has none" if b is None else
                        "this fit's validation data differs from the one the checkpoint's "
                        "scores and early-stopping state were computed on")
                out.append(f"validation_data: {said}; pass the same "
                           "validation_data=(X_val, y_val) to resume it")
        elif isinstance(a, dict) and isinstance(b, dict):
            out.extend(_differences(a, b, f"{prefix}{k}."))
        elif a == b or (prefix in _REPR_PREFIXES or k in _REPR_KEYS) and isinstance(
                a, str) and isinstance(b, str) and _python_scalars(a) == _python_scalars(b):
            continue
        elif k == "first_block":
            if not recast:
                out.append("the values of the first block of X/y differ (other data; the "
                           "first block that has rows is compared)")
        elif prefix == "dtypes.":
            out.append(f"the dtype of {k}: checkpoint has {_dtype_said(a)}, this fit has "
                       f"{_dtype_said(b)} (convert the data as the checkpoint's fit did)")
        elif prefix == "fit_kwargs.":
            a, b = (v if isinstance(v, str) else "not passed" for v in (a, b))
            out.append(f"fit({k}=...): checkpoint has {a}, this fit has {b}")
        elif k == "first_block_at":
            if saved.get("first_block") == current.get("first_block"):  # (else said above)
                out.append(f"the first block of X with rows differs (block {a} in the "
                           f"checkpoint, block {b} here: other data)")
        else:
            # parameters, random_state and scoring are kept as their repr (stable_repr)
            as_repr = prefix in _REPR_PREFIXES or k in _REPR_KEYS
            a, b = (v if as_repr and isinstance(v, str) else repr(v) for v in (a, b))
            out.append(f"{prefix}{k}: checkpoint has {a}, this fit has {b}")
    return out


#: fingerprint entries stored as ``stable_repr`` text (besides the estimator's parameters)
_REPR_KEYS = frozenset({"random_state", "scoring"})
#: nested fingerprint entries whose values are ``stable_repr`` text
_REPR_PREFIXES = ("params.", "fit_kwargs.")


def _dtype_said(value) -> str:
    return "no such data" if value is _ABSENT else "nothing" if value is None else str(value)


#: a NumPy scalar as ``repr`` writes it (NumPy 2): ``np.int64(0)``, ``np.True_``
_NUMPY_SCALAR = re.compile(r"\bnp\.(?:(True_|False_)\b|([a-z]+[0-9]*_?)\(([^()]*)\))")


def _python_scalars(text: str) -> str:
    """``text`` (a ``stable_repr``) with NumPy scalars written as Python's: what stable_repr
    of a NumPy scalar was before it wrote its ``.item()`` (and within containers)."""
    def plain(match):
        if match.group(1):
            return match.group(1)[:-1]
        kind, text = getattr(np, match.group(2), None), match.group(3)
        if not (isinstance(kind, type) and issubclass(kind, np.generic)):
            return match.group(0)
        try:
            try:
                literal = ast.literal_eval(text)
            except (ValueError, SyntaxError):  # nan, inf
                literal = text
            return repr(kind(literal).item())
        except Exception:  # not a value of that type: as it was
            return match.group(0)

    return _NUMPY_SCALAR.sub(plain, text)


class _Absent:
    """A key one fingerprint has and the other has not (another estimator's parameter)."""

    def __repr__(self) -> str:
        return "no such parameter"


_ABSENT = _Absent()


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def stable_repr(value) -> str:
    """``repr`` without memory addresses, which differ from one process to the next.

    A ``RandomState`` instance is described by its type only: its state moves
    as it is used, and the checkpoint keeps the state it needs itself.  A
    NumPy scalar is written as the Python number it holds (``np.int64(0)`` as
    ``0``), so that it matches the same value given as a Python number.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.random.RandomState):
        return "RandomState(...)"
    if isinstance(value, np.random.Generator):
        return "Generator(...)"
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        # repr prints 8 digits and elides the middle of large arrays: a digest of the values
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]
        return f"ndarray(shape={value.shape}, dtype={value.dtype}, sha256={digest})"
    return _ADDRESS.sub("", repr(value))


def keyword_repr(value) -> str:
    """``stable_repr`` of a fit keyword (``classes=``) that is the same for every row: a
    list, tuple or array of numbers or text by its values (``[0, 1]`` whether a list or an
    array; a digest of them when there are more than 20)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        try:
            values = np.asarray(value)
            items = values.ravel().tolist() if values.dtype.kind == "O" else None
            if items and (all(isinstance(v, str) for v in items) or all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in items)):
                values = np.asarray(values.tolist())  # text labels, as a list of them gives
        except Exception:  # ragged: as it is
            values = None
        if values is not None and values.dtype.kind in "biufUS":
            return repr(values.tolist()) if values.size <= 20 else stable_repr(values)
    return stable_repr(value)


def dtype_words(value) -> str | None:
    """The dtype of X, y or a per-row keyword, in words, read from its metadata (nothing
    is computed): ``"float32"``; for a frame with columns of several dtypes, each with
    its count of columns.  A device frame's are those of its host copy, which the digest
    of its first block sees.  None for None or what has no dtype."""
    if value is None:
        return None
    if dask.is_dask_collection(value):
        value = getattr(value, "_meta", value)
    if hasattr(value, "iloc"):  # a pandas / cuDF frame or series: no rows, on the host
        value = to_host(value.iloc[:0])
        dtypes = list(value.dtypes) if hasattr(value, "columns") else [value.dtype]
    else:
        dtype = getattr(value, "dtype", None)
        if dtype is None:
            return None
        dtypes = [dtype]
    counts: dict[str, int] = {}
    for dtype in dtypes:
        counts[str(dtype)] = counts.get(str(dtype), 0) + 1
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{name} ({n} column{'s' if n > 1 else ''})"
                     for name, n in sorted(counts.items()))


def block_digest(block, *, ordered: bool = False) -> str:
    """A digest of the values of one block (X, y and per-row keywords), read once.

    The same data gives the same digest in any process; changed values (new
    labels, other files under the same names) give another.  The order of the
    rows does not count: Dask may give a block's rows in another order on each
    compute (after ``set_index``, ``sort_values`` or a shuffle on a key with
    ties).  It is computed where the block is (a task, on a cluster's worker),
    so only the digest comes to the client; device blocks are copied to the
    host there first, so the digest does not depend on where data is.

    ``ordered=True``: the digest of checkpoint formats 2 and 3 (rows in order).
    """
    digest = _ordered_digest if ordered else _rows_digest
    (value,) = dask.compute(dask.delayed(digest, pure=True)(block.x, block.y, block.kwargs))
    return value


def first_rows_digest(blocks) -> tuple[str | None, int | None]:
    """``(block_digest, index)`` of the first of ``blocks`` that has rows, read one by one
    until one has (an empty block 0 would make the digest check nothing); of block 0
    when none has rows, ``(None, None)`` when there are no blocks."""
    first = None
    for index, block in enumerate(blocks):
        (value,) = dask.compute(dask.delayed(_digest_and_rows, pure=True)(
            _rows_digest, block.x, block.y, block.kwargs))
        digest, n_rows = value
        if n_rows:
            return digest, index
        if first is None:
            first = digest
    return first, (0 if first is not None else None)


def _digest_and_rows(digest, x, y, kwargs) -> tuple[str, int]:
    shape = getattr(x, "shape", None)
    n_rows = int(shape[0]) if shape is not None and len(shape) else len(x)
    return digest(x, y, kwargs), n_rows


def _host(v):
    return None if v is None else to_host(v)


def _ordered_digest(x, y, kwargs) -> str:
    return dask.base.tokenize(_host(x), _host(y), {k: _host(v) for k, v in kwargs.items()})


def _rows_digest(x, y, kwargs) -> str:
    """sha256 of the pieces' descriptions and of their rows' hashes, sorted."""
    pieces = [("x", _host(x)), ("y", _host(y))] + [(k, _host(v)) for k, v in
                                                     sorted(kwargs.items(), key=str)]
    header, columns = [], {}
    for name, value in pieces:
        if value is None:
            header.append((name, None))
            continue
        rows = _row_hashes(value)
        if rows is None:  # no rows to hash one by one: as it is, in order
            header.append((name, dask.base.tokenize(value)))
            continue
        described, hashes = rows
        header.append((name, described))
        columns[name] = hashes
    h = hashlib.sha256(repr(header).encode())
    if columns:
        lengths = {len(v) for v in columns.values()}
        if len(lengths) > 1:  # misaligned pieces (refused later): as they are
            for name in columns:
                h.update(np.ascontiguousarray(columns[name]).tobytes())
        else:
            import pandas as pd

            joined = pd.util.hash_pandas_object(pd.DataFrame(columns), index=False)
            h.update(np.sort(joined.to_numpy()).tobytes())
    return h.hexdigest()


def _row_hashes(value):
    """``(description, one uint64 hash per row)`` of a block's piece, or None."""
    import pandas as pd
    import scipy.sparse as sp

    if isinstance(value, pd.DataFrame):
        described = ("DataFrame", [str(c) for c in value.columns],
                     [str(t) for t in value.dtypes])
        if len(value.columns) and all(isinstance(t, np.dtype) and t.kind in "biuf"
                                      and t.itemsize in (1, 2, 4, 8) for t in value.dtypes):
            columns = [value.iloc[:, k].to_numpy() for k in range(value.shape[1])]
            return described, _numeric_row_hashes(columns, len(value))
        return described, pd.util.hash_pandas_object(value, index=False).to_numpy()
    if isinstance(value, pd.Series):
        return ("Series", str(value.name), str(value.dtype)), pd.util.hash_pandas_object(
            value, index=False).to_numpy()
    if sp.issparse(value):
        csr = sp.csr_array(value)  # a CSR input's arrays are shared, not copied: when
        if not csr.has_canonical_format:  # they need sorting or summing, on a copy (the
            csr = csr.copy()  # caller's are left as they are, read-only ones included)
            csr.sum_duplicates()
        n = csr.shape[0]
        entries = pd.util.hash_pandas_object(
            pd.DataFrame({"col": csr.indices, "value": csr.data}), index=False).to_numpy()
        per_row = np.zeros(n, dtype=np.uint64)
        counts = np.diff(csr.indptr)
        filled = counts > 0
        per_row[filled] = np.add.reduceat(entries, csr.indptr[:-1][filled]) if len(
            entries) else 0
        described = ("sparse", csr.shape[1:], str(csr.dtype))
        return described, pd.util.hash_array(per_row) ^ pd.util.hash_array(counts)
    if isinstance(value, np.ndarray) and value.ndim >= 1:
        described = ("ndarray", value.shape[1:], str(value.dtype))
        if value.ndim == 1:
            return described, pd.util.hash_array(value)
        flat = value.reshape(len(value), -1)
        if flat.dtype.kind in "biuf" and flat.dtype.itemsize in (1, 2, 4, 8):
            return described, _numeric_row_hashes([flat[:, k] for k in range(flat.shape[1])],
                                                  len(flat))
        return described, pd.util.hash_pandas_object(pd.DataFrame(flat), index=False).to_numpy()
    return None


def _numeric_row_hashes(columns, n_rows: int) -> np.ndarray:
    """One uint64 per row from numeric ``columns`` (1-D arrays of ``n_rows`` values each).

    Each value's bits are mixed (a 64-bit finalizer: structured changes such
    as sign flips do not cancel out), times a fixed odd number of its
    column's, and summed per row: several times faster than hashing every
    value, and one column at a time, so the temporaries are a few times one
    column (a fit's first block is digested as the fit starts).
    """
    import pandas as pd

    factors = np.random.RandomState(20261129).randint(1, 2**62, size=len(columns),
                                                      dtype=np.uint64) * 2 + 1
    acc = np.zeros(n_rows, dtype=np.uint64)
    shift, mult = np.uint64(33), np.uint64(0xFF51AFD7ED558CCD)
    for factor, column in zip(factors, columns, strict=True):
        column = np.ascontiguousarray(column)
        bits = column.view(np.dtype(f"u{column.dtype.itemsize}")).astype(np.uint64)
        bits ^= bits >> shift
        bits *= mult
        bits ^= bits >> shift
        bits *= factor
        acc += bits
    return pd.util.hash_array(acc)
