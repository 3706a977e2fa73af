"""``gpuinc train`` and ``gpuinc predict``: train on Parquet/CSV/Zarr files and predict.

``train`` reads the data lazily with :mod:`gpuinc.io`, fits an
:class:`~gpuinc.Incremental` block by block (on a local Dask cluster, or on
threads with ``--workers 0``), prints the validation score of every pass and
writes the model file atomically, only after a successful fit.  ``predict``
loads that file and writes one prediction per input row, block by block.

User errors (bad data, bad options) print one ``gpuinc: error: ...`` line on
stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import inspect
import logging
import os
import pickle
import posixpath
import re
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ._chain import WorkersDiedError, stop_on_interrupt
from ._checkpoint import write_pickle_atomic
from ._text import one_sentence

MODEL_FORMAT = "gpuinc-model"
MODEL_VERSION = 1
#: the ``--dtype`` choices: features are converted to it, block by block
FEATURE_DTYPES = ("float32", "float64")
#: ``predict --out`` name endings and what is written; a name without suffix is a Parquet folder
OUTPUTS = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".csv.gz": "csv.gz"}


class UsageError(ValueError):
    """A bad command-line choice; reported as one line, exit status 2."""


# --------------------------------------------------------------------------- models
@dataclass(frozen=True)
class ModelChoice:
    """One ``--model`` name: what it is and how to build it."""

    help: str
    build: Callable


def _gpuinc_sgd_classifier(seed):
    from .linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", random_state=seed)


def _gpuinc_sgd_regressor(seed):
    from .linear_model import SGDRegressor

    return SGDRegressor(random_state=seed)


def _sklearn(name: str, **params):
    def build(seed):
        import importlib

        module, cls = name.rsplit(".", 1)
        klass = getattr(importlib.import_module(module), cls)
        if "random_state" in inspect.signature(klass).parameters:
            params.setdefault("random_state", seed)
        return klass(**params)

    return build


def _sklearn_version() -> tuple[int, ...]:
    """The installed scikit-learn's (major, minor) version."""
    import sklearn

    return tuple(int(part) for part in re.findall(r"\d+", sklearn.__version__)[:2])


def _passive_aggressive(seed):
    """PA-I with the hinge loss and a step of at most 1 (``C=1``), for any scikit-learn.

    scikit-learn 1.8 made this ``SGDClassifier(learning_rate="pa1")``, with
    ``eta0`` as the cap, and deprecated ``PassiveAggressiveClassifier``.
    Earlier versions accept ``learning_rate="pa1"`` only as a hidden option
    that ignores ``eta0`` (the cap stays 1), so there the classifier is
    ``PassiveAggressiveClassifier``, whose cap is ``C``.
    """
    if _sklearn_version() >= (1, 8):
        return _sklearn("sklearn.linear_model.SGDClassifier", loss="hinge", penalty=None,
                        learning_rate="pa1", eta0=1.0)(seed)
    return _sklearn("sklearn.linear_model.PassiveAggressiveClassifier", loss="hinge",
                    C=1.0)(seed)


MODELS = {
    "sgd-classifier": ModelChoice(
        "gpuinc's SGDClassifier (logistic loss; runs on the GPU with --device gpu)",
        _gpuinc_sgd_classifier),
    "sgd-regressor": ModelChoice(
        "gpuinc's SGDRegressor (squared loss; runs on the GPU with --device gpu)",
        _gpuinc_sgd_regressor),
    "sklearn-sgd-classifier": ModelChoice(
        "scikit-learn SGDClassifier (logistic loss)",
        _sklearn("sklearn.linear_model.SGDClassifier", loss="log_loss")),
    "sklearn-sgd-regressor": ModelChoice(
        "scikit-learn SGDRegressor", _sklearn("sklearn.linear_model.SGDRegressor")),
    "passive-aggressive": ModelChoice(
        "passive-aggressive classifier, PA-I (scikit-learn SGDClassifier with "
        "learning_rate='pa1'; PassiveAggressiveClassifier before scikit-learn 1.8)",
        _passive_aggressive),
    "perceptron": ModelChoice("scikit-learn Perceptron", _sklearn("sklearn.linear_model.Perceptron")),
    "multinomial-nb": ModelChoice(
        "scikit-learn MultinomialNB (non-negative features, e.g. counts)",
        _sklearn("sklearn.naive_bayes.MultinomialNB")),
    "bernoulli-nb": ModelChoice("scikit-learn BernoulliNB", _sklearn("sklearn.naive_bayes.BernoulliNB")),
    "gaussian-nb": ModelChoice("scikit-learn GaussianNB", _sklearn("sklearn.naive_bayes.GaussianNB")),
    "mlp-classifier": ModelChoice(
        "scikit-learn MLPClassifier", _sklearn("sklearn.neural_network.MLPClassifier")),
    "mlp-regressor": ModelChoice(
        "scikit-learn MLPRegressor", _sklearn("sklearn.neural_network.MLPRegressor")),
}


def build_estimator(name: str, seed: int | None = None, params: dict | None = None):
    """The estimator behind a ``--model`` name, with ``--param`` values set.

    Examples
    --------
    >>> from gpuinc._cli_data import build_estimator
    >>> build_estimator("sklearn-sgd-regressor", 0, {"alpha": 1e-3}).alpha
    0.001
    """
    if name not in MODELS:
        raise UsageError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}.")
    estimator = MODELS[name].build(seed)
    if params:
        valid = estimator.get_params()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise UsageError(
                f"--param {unknown[0]}: {type(estimator).__name__} has no such parameter; "
                f"valid ones: {', '.join(sorted(valid))}."
            )
        estimator.set_params(**params)
        _check_param_values(estimator, params)
    return estimator


def _check_param_values(estimator, params: dict) -> None:
    """Refuse bad ``--param`` values before any data is read, with the estimator's own check
    (scikit-learn's ``_validate_params``, gpuinc's ``_check_params``; others: at fit time)."""
    check = getattr(estimator, "_check_params", None)
    if not callable(check) and hasattr(estimator, "_parameter_constraints"):
        check = getattr(estimator, "_validate_params", None)
    if not callable(check):
        return
    try:
        check()
    except (ValueError, TypeError) as exc:
        given = " ".join(f"{key}={value!r}" for key, value in params.items())
        raise UsageError(
            f"--param {given}: {one_sentence(exc)} Fix the value(s) given to --param."
        ) from exc


# --------------------------------------------------------------------------- options
def _key_value(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        # true / false as a shell user writes them (no estimator takes those strings)
        value = {"true": True, "false": False}.get(raw.strip().lower(), raw)
    return key.strip(), value


def _blocksize(text: str):
    if text.strip().lower() in ("none", "file"):
        return None
    from dask.utils import parse_bytes

    try:
        parse_bytes(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected a size such as 64MiB or 'none', got {text!r}") from exc
    return text


def _names(values, known=()) -> list[str] | None:
    """``--features a b`` and ``--features a,b`` both give ['a', 'b'].

    A value that is the name of a column of the data (``known``) is that
    column, commas and all: ``--features "price, usd"``.
    """
    if not values:
        return None
    known = set(known)
    out = []
    for v in values:
        if v in known or v.strip() in known:
            out.append(v if v in known else v.strip())
        else:
            out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def _add_data_options(p, urls: str) -> None:
    p.add_argument("--format", choices=["parquet", "csv", "zarr"], default=None,
                   help="data format (default: from the file suffixes)")
    p.add_argument("--blocksize", default="64MiB", type=_blocksize,
                   help="about this many bytes of features per block, or 'none' for one block "
                        "per file (default: 64MiB)")
    p.add_argument("--allow-nan", action="store_true",
                   help="accept NaN/infinite feature values (an error by default)")
    p.add_argument("--storage-option", action="append", type=_key_value, default=[],
                   metavar="KEY=VALUE",
                   help=f"fsspec option for the URLs of {urls} (repeatable), e.g. anon=True")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                   help="auto: a GPU when one is found (GPU workers when CuPy and dask-cuda "
                        "find one; with --workers 0, when CuPy does), else the CPU; gpu: a GPU "
                        "or an error; cpu: the CPU only (default: auto)")
    p.add_argument("--workers", type=int, default=None,
                   help="workers of a local CPU cluster (default: cores, at most 4; a GPU "
                        "cluster has one worker per GPU); 0 runs on threads without a cluster")


def register(subparsers) -> None:
    """Add the ``train`` and ``predict`` subcommands to the ``gpuinc`` parser."""
    models = "\n".join(f"  {name:24s}{choice.help}" for name, choice in MODELS.items())
    t = subparsers.add_parser(
        "train",
        help="train a model on Parquet/CSV/Zarr data, block by block",
        description="Read DATA lazily (a file, folder, glob or fsspec URL), fit a model block by "
                    "block with at most --prefetch blocks read ahead, print the validation score "
                    "of every pass, and save the model (written only after a successful fit).",
        epilog=f"models:\n{models}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    t.add_argument("data", metavar="DATA", help="Parquet/CSV file or folder, glob, Zarr store, URL")
    t.add_argument("--target", required=True, metavar="COLUMN", help="the column to predict")
    t.add_argument("--features", nargs="+", metavar="COLUMN",
                   help="feature columns (default: all other columns)")
    t.add_argument("--exclude", nargs="+", metavar="COLUMN",
                   help="columns to leave out of the default features (ids, text ...)")
    t.add_argument("--model", choices=list(MODELS), default="sgd-classifier", metavar="NAME",
                   help="estimator (default: sgd-classifier; the models are listed below)")
    t.add_argument("--param", action="append", type=_key_value, default=[], metavar="KEY=VALUE",
                   help="estimator parameter (repeatable), e.g. --param alpha=1e-5; values "
                        "are Python literals (1e-5, None, 'l1'), true/false also in lower case, "
                        "else text; checked before any data is read")
    t.add_argument("--epochs", type=int, default=1, help="passes over the data (default: 1)")
    t.add_argument("--validation", type=float, default=None,
                   help="fraction of blocks held out and scored after every pass; 0 for none "
                        "(default: 0.1, or none when the data makes a single block)")
    t.add_argument("--scoring", default=None,
                   help="scikit-learn scorer name (default: accuracy or r2)")
    t.add_argument("--pos-label", metavar="LABEL", default=None,
                   help="the positive class of a binary --scoring (f1, precision, recall, "
                        "average_precision ...), as written in the data; needed when the two "
                        "classes are not 0 and 1 (e.g. text labels)")
    t.add_argument("--early-stopping", action="store_true",
                   help="stop when the validation score stops improving")
    t.add_argument("--prefetch", type=int, default=2,
                   help="blocks read ahead of the one training (default: 2)")
    t.add_argument("--dtype", default="float32",
                   help=f"feature dtype, {' or '.join(FEATURE_DTYPES)} (default: float32)")
    t.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="checkpoint directory; an interrupted run resumes from it")
    t.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    t.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress bars (default: auto, in terminals only)")
    t.add_argument("--out", default="model.pkl",
                   help="model file, local or fsspec URL (default: model.pkl); an existing "
                        "model written by gpuinc train there is replaced, any other file only "
                        "with --overwrite")
    t.add_argument("--overwrite", action="store_true",
                   help="replace an existing --out that is not a gpuinc model")
    _add_data_options(t, "DATA and --out")
    t.set_defaults(func=run_train)

    p = subparsers.add_parser(
        "predict",
        help="predict with a model saved by `gpuinc train`",
        description="Predict one value per row of DATA, block by block, and write them to --out "
                    "(a Parquet folder, or one CSV file when --out ends in .csv or .csv.gz), in "
                    "input order.",
    )
    p.add_argument("model", metavar="MODEL", help="model file written by `gpuinc train`")
    p.add_argument("data", metavar="DATA", help="Parquet/CSV file or folder, glob, Zarr store, URL")
    p.add_argument("--out", required=True,
                   help="output: preds.parquet or preds.pq (a Parquet folder; also a name "
                        "without suffix), preds.csv, or preds.csv.gz (gzip CSV)")
    p.add_argument("--id", nargs="+", metavar="COLUMN", default=None,
                   help="columns copied next to the predictions, as stored (Parquet/CSV input; "
                        "CSV values as their exact text, e.g. 000123)")
    p.add_argument("--proba", action="store_true",
                   help="also write class probabilities (proba_<class> columns)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    _add_data_options(p, "MODEL, DATA and --out")
    p.set_defaults(func=run_predict)


# --------------------------------------------------------------------------- shared
def _fail(exc: BaseException) -> int:
    notes = [n.removeprefix("gpuinc: ") for n in getattr(exc, "__notes__", ())]
    text = " ".join(" ".join([str(exc), *(f"({n})" for n in notes)]).split())
    text = text or type(exc).__name__
    print(f"gpuinc: error: {text}", file=sys.stderr)
    return 2


#: what a user can cause (and fix): reported as one line, never a traceback
USER_ERRORS = (ValueError, OSError, ImportError, WorkersDiedError)


@contextlib.contextmanager
def _name_the_file(ds, n_features: int, dtype, blocksize):
    """Add to an error that names a block of X (from an estimator) the file it reads."""
    import re

    from .io import block_sources

    try:
        yield
    except USER_ERRORS as exc:
        text = " ".join([str(exc), *getattr(exc, "__notes__", ())])
        found = re.search(r"\bblock (\d+)\b", text)
        if found and not any(f.shown in text for f in ds.files):
            sources = block_sources(ds, n_features, dtype, blocksize)
            i = int(found.group(1))
            if i < len(sources):
                note = f"block {i} reads {sources[i]}"
                if hasattr(exc, "add_note"):
                    exc.add_note(note)
                else:  # Python 3.10: no notes; the message carries it
                    exc.args = (f"{exc.args[0] if exc.args else exc} ({note})", *exc.args[1:])
        raise


def _guarded(run):
    def call(args) -> int:
        try:
            return run(args)
        except USER_ERRORS as exc:
            return _fail(exc)

    call.__doc__ = run.__doc__
    call.__name__ = run.__name__
    return call


@contextlib.contextmanager
def _scheduler(device: str, workers: int | None):
    """A local cluster (or none with 0 workers); yields the Incremental ``device``.
    ``workers`` was checked with the other options (``_check_workers``)."""
    from ._optional import gpu_available

    if workers == 0:
        if device == "gpu" and not gpu_available():
            raise UsageError("--device gpu needs a CUDA GPU with CuPy; use --device cpu or auto.")
        use_gpu = device == "gpu" or (device == "auto" and gpu_available())
        yield "gpu" if use_gpu else "cpu"
        return
    from distributed import Client

    from .cluster import GPUUnavailableError, make_cluster

    try:
        # Errors reach the user as one line from the command; the workers' own
        # "Compute Failed" logs would repeat them as tracebacks.
        cluster = make_cluster(device, n_workers=workers, silence_logs=logging.CRITICAL)
    except GPUUnavailableError as exc:
        raise UsageError(exc.message("--device gpu", "--device cpu or auto")) from exc
    except RuntimeError as exc:
        raise UsageError(str(exc)) from exc
    on_gpu = type(cluster).__name__ == "LocalCUDACluster"
    with cluster, Client(cluster) as client, interrupts_stop_here(client):
        yield "gpu" if on_gpu else "cpu"


@contextlib.contextmanager
def interrupts_stop_here(client):
    """Ctrl-C stops the command, quietly: not the workers of its local cluster.

    A terminal's Ctrl-C reaches every process of the group: the command stops
    the workers itself, and their own tracebacks would bury its "interrupted".
    """
    client.run(_ignore_interrupts)
    try:
        yield
    except KeyboardInterrupt:
        # the client's gathers, cancelled, would each log "Task exception was never
        # retrieved ... AllExit" as the cluster closes
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        raise


def _ignore_interrupts() -> None:
    """On a worker (its event loop runs in its main thread): SIGINT is ignored there."""
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextlib.contextmanager
def _kept_if_done(done: list):
    """Hold a Ctrl-C (or SIGTERM) that arrives once the work inside is done (``done[0]``
    set), while the cluster stops: the caller keeps the result (saves the model, reports
    the predictions written), then :func:`_raise_held` raises it."""
    try:
        yield
    except KeyboardInterrupt as exc:
        if not done[0]:
            raise
        done.append(exc)


def _raise_held(done: list) -> None:
    if len(done) > 1:
        raise done[1]


def _storage_options(pairs) -> dict:
    return dict(pairs or [])


def _is_url(path) -> bool:
    """An fsspec URL other than ``file://`` (a local path written as a URL)."""
    return "://" in str(path) and not str(path).startswith("file://")


def _fs_and_path(path, storage_options: dict):
    """fsspec's ``(filesystem, path)`` of ``path``; ``storage_options`` apply to URLs only."""
    import fsspec

    return fsspec.core.url_to_fs(path, **(storage_options if _is_url(path) else {}))


def _local(path) -> str:
    """``path`` as the operating system takes it: ``file://`` URLs become plain paths."""
    path = os.fspath(path)
    if path.startswith("file://"):
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem._strip_protocol(path)
    return path


def _check_out_folder(out: str, storage_options: dict | None = None) -> None:
    """Refuse, before any work, an ``--out`` whose folder cannot be created or written (for
    a URL: whose filesystem cannot be opened, e.g. its package is not installed)."""
    if _is_url(out):
        import fsspec

        try:
            fsspec.core.url_to_fs(out, **(storage_options or {}))
        except (ImportError, ValueError) as exc:
            raise UsageError(f"cannot write {out}: {exc}") from exc
        return
    parent = Path(_local(out)).resolve().parent
    existing = next(p for p in (parent, *parent.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"cannot write {out}: {existing} is a file, not a folder; choose "
                         "another --out.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {out}: {existing} is not writable; choose another --out.")


def _feature_dtype(text: str) -> str:
    """The ``--dtype`` value as a NumPy dtype name; a usage error unless a float dtype."""
    import numpy as np

    try:
        dt = np.dtype(text)
    except (TypeError, ValueError):
        dt = None
    if dt is not None and dt.name in FEATURE_DTYPES:
        return dt.name
    why = ("features are converted to it, and an integer dtype would silently truncate "
           "fractions and wrap out-of-range values" if dt is not None and dt.kind in "iu"
           else "not a supported feature dtype")
    raise UsageError(f"--dtype {text}: {why}; use --dtype {' or --dtype '.join(FEATURE_DTYPES)}.")


# --------------------------------------------------------------------------- train
@contextlib.contextmanager
def _checkpoint_in_cli_words():
    """Say a refused checkpoint's fix in the command's terms (``--epochs``, ``--checkpoint``)
    instead of the Python API's (``epochs=``, ``checkpoint=``)."""
    from ._checkpoint import CheckpointTooLongError, reworded

    try:
        yield
    except CheckpointTooLongError as exc:
        words = ("--epochs ", "a new --checkpoint folder (or delete this one)")
        raise UsageError(str(exc.worded(words))) from exc
    except OSError as exc:  # a checkpoint folder that cannot be written (or is a file)
        new = reworded(exc, "pass --checkpoint a folder you can write to")
        if new is None:
            raise
        raise new from exc


def _scoring(args, classes, scored: bool = True):
    """``--scoring``, with ``--pos-label`` its positive class; a binary scorer that needs a
    positive class and was given none is refused before training, in the command's words
    (when a score is computed at all: ``scored``, validation blocks held out)."""
    from .metrics import PositiveClassNeeded, check_scoring_for_classes, scorer_with_pos_label

    if args.pos_label is None:
        if not scored:
            return args.scoring
        try:
            check_scoring_for_classes(args.scoring, classes)
        except PositiveClassNeeded as exc:
            raise UsageError(
                f"--scoring {args.scoring} needs its positive class: the classes are "
                f"{exc.classes}; pass --pos-label {exc.suggested} (the class that counts as "
                "positive), or choose another --scoring such as accuracy."
            ) from exc
        return args.scoring
    labels = [c.item() if hasattr(c, "item") else c for c in classes]
    if len(labels) != 2:
        raise UsageError(f"--pos-label names the positive class of two; the target has "
                         f"{len(labels)} classes. Leave it out, and choose a --scoring for "
                         "more classes (e.g. f1_macro, accuracy).")
    match = [c for c in labels if _same_label(c, args.pos_label)]
    if not match:
        raise UsageError(f"--pos-label {args.pos_label} is not one of the classes {labels}; "
                         "name one of them as written in the data.")
    try:
        return scorer_with_pos_label(args.scoring, match[0])
    except ValueError as exc:
        raise UsageError(f"--scoring {args.scoring} takes no --pos-label; leave it out, or "
                         "choose a binary scorer such as f1, precision or recall.") from exc


def _same_label(label, text: str) -> bool:
    """Whether ``--pos-label text`` names ``label`` (2 names 2.0; true names True)."""
    if str(label) == text:
        return True
    if isinstance(label, (bool,)) or type(label).__name__ == "bool_":
        return text.strip().lower() == str(bool(label)).lower()
    if isinstance(label, (int, float)):
        try:
            return float(text) == float(label)
        except ValueError:
            return False
    return False


def _split_hint(ds, width: int, dtype, blocksize) -> str:
    """How a dataset read as one block may be split into more, or why it cannot be."""
    import numpy as np

    most = _most_blocks(ds)
    if most == 1:
        if ds.fmt == "parquet":
            return ("it is one Parquet row group, the smallest block there is; write it with "
                    "smaller row groups (e.g. DataFrame.to_parquet(path, row_group_size=10000))")
        if ds.fmt == "zarr":
            return ("its arrays are one chunk of rows, the smallest block there is; store them "
                    "with smaller chunks (e.g. zarr chunks of 10000 rows)")
        if ds.files and ds.files[0].compression:
            return ("it is one compressed CSV file, which is read whole; decompress it or split "
                    "it into several files")
        return "it is one CSV file of 64 KiB or less, the smallest block of CSV"
    ways = []
    if ds.n_rows:
        size = ds.n_rows * width * np.dtype(dtype or "float64").itemsize
        quarter = max(1024, size // 4)
        shown = (f"{quarter // 2**20}MiB" if quarter >= 2**20 else f"{quarter // 1024}KiB")
        up_to = min(4, most) if most else 4
        ways.append(f"its features take about {_bytes(size)}, so --blocksize {shown} may make "
                    f"up to {up_to} blocks")
    else:
        ways.append("a smaller --blocksize may split it")
    if blocksize is not None and len(ds.files) > 1:
        ways.append(f"--blocksize none makes one block per file ({len(ds.files)} files)")
    return ("; or ".join(ways) + " (a block is at least one Parquet row group, one compressed "
            "CSV file, 64 KiB of CSV or one chunk of Zarr rows)")


def _most_blocks(ds) -> int | None:
    """The most blocks any --blocksize can make of ``ds`` (None: not known)."""
    if ds.fmt == "parquet":
        return sum(max(1, len(f.row_groups)) for f in ds.files) or None
    if ds.fmt == "zarr":
        cols = list(ds.zarr_columns)
        if not cols or not cols[0].chunk_rows:
            return None
        return max(1, -(-cols[0].rows // cols[0].chunk_rows))
    return sum(1 if f.compression else max(1, -(-(f.size or 0) // (64 * 1024)))
               for f in ds.files) or None


def _bytes(n: int) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} bytes"


def _check_workers(workers: int | None) -> None:
    if workers is not None and workers < 0:
        raise UsageError(f"--workers must be >= 0, got {workers}.")


def _check_scoring_name(scoring: str | None) -> None:
    """An unknown ``--scoring`` is refused before any data is read, with the names to use."""
    from sklearn.metrics import get_scorer_names

    if scoring is None or scoring in get_scorer_names():
        return
    names = sorted(get_scorer_names())
    close = difflib.get_close_matches(scoring, names, n=3)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise UsageError(f"--scoring {scoring} is not a scorer name; {hint}scikit-learn's names "
                     f"are: {', '.join(names)}.")


def _check_train_args(args) -> None:
    if args.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {args.epochs}.")
    _check_workers(args.workers)
    _check_scoring_name(args.scoring)
    if args.pos_label is not None and args.scoring is None:
        raise UsageError("--pos-label names the positive class of a binary --scoring; pass "
                         "one too, e.g. --scoring f1.")
    if args.validation is not None and not 0 <= args.validation < 1:
        raise UsageError(f"--validation must be in [0, 1), got {args.validation}.")
    if args.prefetch < 0:
        raise UsageError(f"--prefetch must be >= 0, got {args.prefetch}.")
    if args.early_stopping and args.validation == 0:
        raise UsageError("--early-stopping needs validation blocks; set --validation > 0.")
    out = os.fspath(args.out)
    if out.endswith(("/", os.sep)):  # a folder, which may not exist yet: not a file name
        raise UsageError(f"--out {out} names a folder (it ends with a path separator); give a "
                         f"file name such as {out}model.pkl.")
    _check_out_folder(args.out, _storage_options(args.storage_option))
    if not _is_url(args.out) and Path(_local(args.out)).is_dir():
        raise UsageError(f"--out {args.out} is a folder; give a file name such as model.pkl.")


def _check_model_replaceable(out: str, storage_options: dict) -> None:
    """``train --out``: an existing file there is replaced only if it is a model that
    ``gpuinc train`` wrote (an earlier run's), else only with ``--overwrite``, as for
    ``predict`` (checked before any work)."""

    fs, path = _fs_and_path(_local(out), storage_options)
    try:
        if not fs.exists(path):
            return
        with fs.open(path, "rb") as fh:
            head = fh.read(256)
    except OSError:
        return  # cannot be read: writing there fails with its own error
    if not _is_model_head(head):
        raise UsageError(f"--out {out} exists and is not a model written by `gpuinc train`; "
                         "pass --overwrite to replace it, or choose another --out.")


def _is_model_head(head: bytes) -> bool:
    """Whether the first bytes of a file are those of a model file ``gpuinc train`` wrote:
    a pickled dict whose first entry is ``"format": MODEL_FORMAT``, told from its opcodes
    without unpickling anything."""
    import pickletools

    texts = []
    try:
        for op, arg, _ in pickletools.genops(head):
            if isinstance(arg, str) and "UNICODE" in op.name:
                texts.append(arg)
                if len(texts) == 2:
                    break
    except Exception:  # the bytes end inside an opcode, or they are not a pickle
        pass
    return texts == ["format", MODEL_FORMAT]


def _auto_picks_gpu(workers: int | None) -> bool:
    """Whether ``--device auto`` would train on the GPU (as :func:`_scheduler` decides)."""
    from ._optional import gpu_available

    if workers == 0:
        return gpu_available()
    from .cluster import _gpu_unavailable_reason

    return _gpu_unavailable_reason() is None


def _text_labels(classes) -> bool:
    """Whether class labels are text (or other values that cannot live on the GPU)."""
    import numpy as np

    return classes is not None and np.asarray(classes).dtype.kind not in "biuf"


def _device_for_text_target(args, estimator, classes) -> str:
    """The ``--device`` to train with: text class labels keep gpuinc's estimators (which
    compute where the data is) on the CPU, since the GPU holds numbers only."""
    if args.device == "cpu" or not getattr(estimator, "_gpuinc_array_api", False):
        return args.device
    if not _text_labels(classes):
        return args.device
    if args.device == "gpu":
        raise UsageError(
            f"--device gpu: the target {args.target!r} holds text labels, which cannot live "
            "on the GPU; encode the labels as integers, or pass --device cpu."
        )
    if not _auto_picks_gpu(args.workers):
        return args.device  # the CPU anyway
    print(f"note: training on the CPU: the target {args.target!r} holds text labels, which "
          "cannot live on the GPU (encode them as integers to train there).")
    return "cpu"


def _needs_classes(estimator) -> bool:
    from ._params import is_classifier

    return is_classifier(estimator) and "classes" in inspect.signature(
        estimator.partial_fit).parameters


def run_train(args) -> int:
    """``gpuinc train``: fit on DATA and save the model; returns the exit status."""
    return _guarded(_train)(args)


def _train(args) -> int:
    from . import Incremental
    from ._progress import should_show
    from .io import csv_target_has_text, read_classes, read_table, scan

    _check_train_args(args)
    dtype = _feature_dtype(args.dtype)
    params = dict(args.param or [])
    estimator = build_estimator(args.model, args.random_state, params)
    if args.pos_label is not None and not _needs_classes(estimator):
        raise UsageError(f"--pos-label is for classifiers; --model {args.model} is not one.")
    storage_options = _storage_options(args.storage_option)
    t_start = time.perf_counter()
    ds = scan(args.data, args.format, storage_options=storage_options)
    _check_model_out(args.out, ds, storage_options)
    if not getattr(args, "overwrite", False):
        _check_model_replaceable(args.out, storage_options)
    features = _names(args.features, ds.columns)
    # a classifier's CSV labels with text in some file are text everywhere (see below)
    text_target = _needs_classes(estimator) and csv_target_has_text(ds, args.target)
    X, y = read_table(ds, args.target, features, exclude=_names(args.exclude, ds.columns) or (),
                      dtype=dtype, blocksize=args.blocksize, allow_nan=args.allow_nan,
                      text_target=text_target)
    features = list(X.columns) if hasattr(X, "columns") else _zarr_feature_names(ds, args, features)
    width = len(features) if hasattr(X, "columns") else int(X.shape[1])
    n_blocks = X.npartitions if hasattr(X, "npartitions") else X.numblocks[0]
    validation = (0.1 if args.validation is None else args.validation) or None
    if validation is not None and n_blocks < 2:
        split = _split_hint(ds, width, dtype, args.blocksize)
        if args.validation is not None or args.early_stopping:
            raise UsageError(
                f"the data makes {n_blocks} block, so no block can be held out for validation; "
                f"{split}. Or pass --validation 0 (no validation, no early stopping)."
            )
        print(f"note: the data makes {n_blocks} block, so none is held out for validation; "
              f"{split}.")
        validation = None
    n_rows = ds.n_rows
    if ds.fmt == "zarr" and isinstance(getattr(X, "shape", (None,))[0], int):
        n_rows = X.shape[0]  # the arrays read (others in the store may differ in length)
    rows = "?" if n_rows is None else f"{n_rows:,}"
    files = f"{len(ds.files)} file(s)" if ds.files else "Zarr store"
    print(f"data: {ds.source} ({ds.fmt}, {files}, {rows} rows) in {n_blocks} blocks; "
          f"{width} feature columns, target {args.target!r}")
    progress = {"auto": "auto", "always": True, "never": False}[args.progress]
    classes, chosen = None, args.device
    if (_needs_classes(estimator) and args.device != "cpu"
            and getattr(estimator, "_gpuinc_array_api", False)):
        # text labels decide the device before any cluster or training starts
        classes = read_classes(ds, args.target)
        chosen = _device_for_text_target(args, estimator, classes)
    done = [False]  # the fit ended: a Ctrl-C while the cluster stops does not lose the model
    with _kept_if_done(done), _scheduler(chosen, args.workers) as device:
        fit_kwargs = {}
        if _needs_classes(estimator):
            if classes is None:
                classes = read_classes(ds, args.target)
            if len(classes) < 2:
                raise UsageError(
                    f"the target {args.target!r} has a single value ({classes.tolist()}); a "
                    "classifier needs at least two classes (use a regressor for numbers)."
                )
            fit_kwargs["classes"] = classes
            if ds.fmt == "csv" and classes.dtype.kind in "OUT" and not text_target:
                # text labels: every block's labels as text, also where a block holds
                # digits only (pandas would make those numbers)
                X, y = read_table(ds, args.target, features, dtype=dtype,
                                  blocksize=args.blocksize, allow_nan=args.allow_nan,
                                  text_target=True)
            shown = classes.tolist()
            print(f"classes: {shown[:20]}{' ...' if len(shown) > 20 else ''}")
        scoring = _scoring(args, classes if _needs_classes(estimator) else None,
                           scored=validation is not None)
        inc = Incremental(
            estimator, scoring=scoring, random_state=args.random_state,
            epochs=args.epochs, prefetch=args.prefetch, validation=validation,
            early_stopping=args.early_stopping, progress=progress,
            checkpoint=args.checkpoint, device=device if device == "gpu" else None,
            # without bars (logs, pipes), one line per pass as it ends
            verbose=0 if should_show(progress) else 1,
        )
        print(f"model: {args.model} ({type(estimator).__module__}.{type(estimator).__name__}), "
              f"{args.epochs} pass(es), prefetch {args.prefetch}, device {device}")
        t0 = time.perf_counter()
        with (_checkpoint_in_cli_words(), stop_on_interrupt(),
              _name_the_file(ds, width, dtype, args.blocksize)):
            inc.fit(X, y, **fit_kwargs)
        fit_s = time.perf_counter() - t0
        done[0] = True
    resumed = getattr(inc, "resumed_from_", None)
    if resumed is not None:
        if resumed["passes"] >= inc.n_epochs_ and resumed["blocks"] == 0:
            if inc.stopped_early_:
                more = ("it stopped early, so it goes on only without --early-stopping (with "
                        "--epochs above the passes made); or pass a new --checkpoint folder to "
                        "train afresh.")
            else:
                more = ("pass a larger --epochs to add passes, or a new --checkpoint folder to "
                        "train afresh.")
            print(f"the checkpoint in {args.checkpoint} held a finished fit of "
                  f"{resumed['passes']} pass(es): nothing was trained; {more}")
        else:
            print(f"resumed from the checkpoint in {args.checkpoint} after {resumed['passes']} "
                  f"pass(es) and {resumed['blocks']} block(s)")
    if inc.stopped_early_:
        print(f"stopped early after {inc.n_epochs_} passes (no improvement)")
    payload = {
        "format": MODEL_FORMAT,
        "version": MODEL_VERSION,
        "model": _model_to_host(inc),
        "model_name": args.model,
        "features": features,
        "target": args.target,
        "dtype": dtype,
        "data_format": ds.fmt,
        "classes": fit_kwargs.get("classes"),
        "history": list(inc.history_),
        "data": str(ds.source),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    save_model(payload, args.out, storage_options)
    print(f"trained in {fit_s:.2f} s (total {time.perf_counter() - t_start:.2f} s); "
          f"model saved to {args.out}")
    _raise_held(done)
    return 0


def _zarr_feature_names(ds, args, features) -> list[str]:
    """The feature names the model is trained on, as read_table picks them: --features (or
    every column but the target) less --exclude."""
    exclude = set(_names(args.exclude, ds.columns) or [])
    chosen = list(features) if features else [c for c in ds.columns if c != args.target]
    return [c for c in chosen if c not in exclude]


def _model_to_host(inc):
    """Move a model trained on the GPU to NumPy so the file loads anywhere."""
    if getattr(inc, "estimator_home_", "host") != "device":
        return inc
    est = inc.estimator_
    if getattr(est, "_gpuinc_array_api", False):
        from .linear_model import to_namespace

        inc.estimator_ = to_namespace(est, "numpy")
    return inc


def save_model(payload: dict, path, storage_options: dict | None = None) -> None:
    """Pickle ``payload`` to ``path`` atomically (temporary file, then ``os.replace``).

    A reader never sees a half-written file, and an existing file is only
    replaced once the new one is complete.  fsspec URLs are pickled in memory
    first and then written in one go, with ``storage_options``.
    """
    path = _local(path)
    if _is_url(path):
        import fsspec

        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        with fsspec.open(path, "wb", **(storage_options or {})) as fh:
            fh.write(data)
        return
    write_pickle_atomic(path, payload)


def load_model(path, storage_options: dict | None = None) -> dict:
    """Load a model file written by ``gpuinc train`` (a pickle: load only your own files).

    ``storage_options`` are passed to fsspec for a URL.
    """
    path = os.fspath(path)
    missing = FileNotFoundError(f"model file {path} does not exist; train one with "
                                "`gpuinc train DATA --target COLUMN --out MODEL`.")
    if _is_url(path):
        import fsspec

        opener = fsspec.open(path, "rb", **(storage_options or {}))
        if not opener.fs.exists(opener.path):
            raise missing
    else:
        if not os.path.exists(_local(path)):
            raise missing
        if os.path.isdir(_local(path)):
            raise UsageError(
                f"model file {path} is a folder, not a model file (a folder of data?): "
                "`gpuinc predict` takes the model first, then the data (gpuinc predict MODEL "
                "DATA --out PREDS); pass the file that `gpuinc train --out` wrote."
            )
        opener = open(_local(path), "rb")
    with opener as fh:
        try:
            payload = pickle.load(fh)
        except Exception as exc:
            raise UsageError(f"{path} is not a readable gpuinc model file ({exc}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise UsageError(f"{path} was not written by `gpuinc train`.")
    if payload.get("version") != MODEL_VERSION:
        raise UsageError(f"{path} has model file version {payload.get('version')}; this gpuinc "
                         f"reads version {MODEL_VERSION}. Train the model again.")
    return payload


# --------------------------------------------------------------------------- predict
def run_predict(args) -> int:
    """``gpuinc predict``: write predictions for DATA; returns the exit status."""
    return _guarded(_predict)(args)


def _predict(args) -> int:
    import dask.dataframe as dd

    from .io import PREDICT, DataError, _read_features, _read_features_and_kept, scan

    _check_workers(args.workers)
    out = os.fspath(args.out)
    kind = _output_kind(out)
    storage_options = _storage_options(args.storage_option)
    _check_out_folder(out, storage_options)
    fs, path = _fs_and_path(out, storage_options)
    if fs.exists(path) and not args.overwrite:
        raise UsageError(f"{out} exists; pass --overwrite to replace it.")
    payload = load_model(args.model, storage_options)
    inc = payload["model"]
    features = list(payload["features"])
    ds = scan(args.data, args.format, storage_options=storage_options)
    if fs.exists(path):
        _check_replaceable(fs, path, out, kind, ds, os.fspath(args.model), storage_options)
    _check_out_outside_data(out, fs, path, os.fspath(args.data), storage_options)
    keep = _names(args.id, ds.columns) or []
    _check_id_names(keep, inc, args.proba)
    # the model's features, read as it was trained; the readers' errors (also those of block
    # tasks on workers) suggest the fixes predict has (purpose=PREDICT)
    options = {"dtype": payload["dtype"], "blocksize": args.blocksize, "allow_nan": args.allow_nan,
               "purpose": PREDICT}
    if ds.fmt == "zarr":
        X, kept = _read_features(ds, features, keep=keep, **options), None  # (no --id for Zarr)
        expected = getattr(inc.estimator_, "n_features_in_", None)
        width = X.shape[1] if X.ndim == 2 else None
        if expected is not None and width is not None and width == width and width != expected:
            raise DataError(
                f"{args.data} has {width} feature column(s), but the model {args.model} was "
                f"trained on {expected}; predict on data with the training features."
            )
    else:
        # --id columns come through as stored, also one that is a feature of the model
        X, kept = _read_features_and_kept(ds, features, keep, **options)
    if args.proba and not hasattr(inc.estimator_, "predict_proba"):
        raise UsageError(f"--proba: {type(inc.estimator_).__name__} has no predict_proba.")
    t0 = time.perf_counter()
    done = [False]  # written: a Ctrl-C while the cluster stops says so
    with _kept_if_done(done), _scheduler(args.device, args.workers) as device:
        if (device == "gpu" and getattr(inc.estimator_, "_gpuinc_array_api", False)
                and _text_labels(getattr(inc.estimator_, "classes_", None))):
            # text classes_ cannot live on the GPU: the model predicts on the host
            print("note: predicting on the CPU: the model's classes are text labels, which "
                  "cannot live on the GPU.")
            device = "cpu"
        inc.set_params(device=device if device == "gpu" else None)
        if device == "gpu" and getattr(inc.estimator_, "_gpuinc_array_api", False):
            from .linear_model import to_namespace

            inc.estimator_ = to_namespace(inc.estimator_, "cupy")  # saved on the host
        if ds.fmt == "zarr":
            preds = dd.from_dask_array(inc.predict(X), columns="prediction")
            table = preds.to_frame() if isinstance(preds, dd.Series) else preds
            if args.proba:
                proba = inc.predict_proba(X)
                names = [f"proba_{c}" for c in inc.estimator_.classes_]
                table = dd.concat([table, dd.from_dask_array(proba, columns=names)], axis=1)
        else:
            preds = inc.predict(X)
            table = kept.assign(prediction=preds) if keep else preds.to_frame("prediction")
            if args.proba:
                proba = inc.predict_proba(X)
                table = table.assign(**{f"proba_{c}": proba[c] for c in proba.columns})
        # an error of the model on a block (NaN with --allow-nan, say) names its file too
        with _name_the_file(ds, len(features), payload["dtype"], args.blocksize):
            _write_table(table, fs, path, kind, overwrite=args.overwrite, out=out)
        done[0] = True
    print(f"predictions for {ds.source} written to {out} in {time.perf_counter() - t0:.2f} s")
    _raise_held(done)
    return 0


def _check_id_names(keep: list, inc, proba: bool) -> None:
    """Refuse --id columns that would be written twice or replaced by the predictions."""
    repeated = sorted({c for c in keep if keep.count(c) > 1})
    if repeated:
        raise UsageError(f"--id names {repeated} more than once; name each column once.")
    written = {"prediction"}
    if proba and hasattr(getattr(inc, "estimator_", None), "classes_"):
        written |= {f"proba_{c}" for c in inc.estimator_.classes_}
    clash = sorted(written.intersection(keep))
    if clash:
        raise UsageError(
            f"--id {clash}: the output has columns of that name for the new predictions, "
            "which would replace them. Rename the column in the data, or leave it out of --id "
            "and join the predictions to it by row order."
        )


def _output_kind(out: str) -> str:
    """What ``predict --out`` writes, from its name: "parquet", "csv" or "csv.gz"."""
    name = posixpath.basename(out.rstrip("/")).lower()
    kind = next((k for suffix, k in OUTPUTS.items() if name.endswith(suffix)), None)
    if kind is None and "." in name.lstrip("."):
        raise UsageError(
            f"--out {out}: unknown output type; name it preds.parquet or preds.pq (a Parquet "
            "folder), preds.csv or preds.csv.gz (gzip CSV)."
        )
    return kind or "parquet"


#: what a folder written by ``gpuinc predict`` (Parquet output) holds
_PREDICT_PARTS = re.compile(r"part\.\d+\.parquet|_metadata|_common_metadata|_SUCCESS")


def _path_key(filesystem, p) -> str:
    """A path in one comparable form: resolved locally, with its protocol elsewhere."""
    from .io import _is_local

    if _is_local(filesystem):
        return os.path.realpath(_local(p))
    return filesystem.unstrip_protocol(filesystem._strip_protocol(p)).rstrip("/")


def _data_keys(ds) -> list:
    """(what, key) of every file (or Zarr store) of a scanned dataset."""
    keys = [(f"the data ({f.shown})", _path_key(ds.fs, f.path)) for f in ds.files]
    if ds.fmt == "zarr":
        keys.append((f"the data ({ds.source})",
                     _path_key(ds.fs, ds.fs._strip_protocol(ds.zarr_store))))
    return keys


def _clash(target: str, guarded) -> str | None:
    """``"is <what>"`` or ``"holds <what>"`` for the first (what, key) of ``guarded`` that
    the path ``target`` is or holds (both as :func:`_path_key` gives them), else None."""
    for what, where in guarded:
        if where == target or where.startswith(target.rstrip("/") + "/"):
            return f"{'is' if where == target else 'holds'} {what}"
    return None


def _check_model_out(out: str, ds, storage_options: dict) -> None:
    """``train --out`` must not be, or hold, the training data: saving the model there
    would replace it (checked before any work)."""

    fs, path = _fs_and_path(out, storage_options)
    clash = _clash(_path_key(fs, path), _data_keys(ds))
    if clash:
        raise UsageError(f"--out {out} {clash}; saving the model there would replace the "
                         "data. Choose another --out, such as model.pkl.")


def _check_out_outside_data(out: str, fs, path: str, data: str, storage_options: dict) -> None:
    """``predict --out`` must not lie inside a DATA folder: the predictions would become
    part of the dataset that the next read of that folder takes (checked before any work)."""

    from .io import _has_glob

    data_fs, data_path = _fs_and_path(data, storage_options)
    if _has_glob(data_path) and not data_fs.exists(data_path):
        # a glob: the next read of it would take --out (or a folder above it) if it matched
        if _glob_takes(_path_key(data_fs, data_path), _path_key(fs, path)):
            raise UsageError(
                f"--out {out} matches the data glob {data}; the predictions would become "
                f"part of what it reads. Choose an --out that {data} does not match."
            )
        return
    if not data_fs.isdir(data_path):
        return
    folder = _path_key(data_fs, data_path).rstrip("/")
    if _path_key(fs, path).startswith(folder + "/"):
        raise UsageError(
            f"--out {out} is inside the data folder {data}; the predictions would become part "
            f"of that dataset. Choose an --out outside {data}."
        )


def _glob_takes(pattern: str, path: str) -> bool:
    """Whether a glob ``pattern`` matches ``path`` or a folder above it, part by part
    (``*`` stays within one part, ``**`` spans any number of them)."""
    import fnmatch

    def match(pats: list[str], parts: list[str]) -> bool:
        if not pats:
            return True  # the pattern matched a folder above what is left of the path
        if not parts:
            return all(p == "**" for p in pats)
        if pats[0] == "**":
            return match(pats[1:], parts) or match(pats, parts[1:])
        return fnmatch.fnmatchcase(parts[0], pats[0]) and match(pats[1:], parts[1:])

    return match(pattern.rstrip("/").split("/"), path.rstrip("/").split("/"))


def _check_replaceable(fs, path: str, out: str, kind: str, ds, model: str,
                       storage_options: dict) -> None:
    """``--overwrite`` replaces an earlier prediction output, and nothing else: never the
    data, the model, a folder that holds them or other files, or the working folder."""

    from .io import _is_local

    target = _path_key(fs, path)
    model_fs, model_path = _fs_and_path(model, storage_options)
    guarded = [(f"the model {model}", _path_key(model_fs, model_path)), *_data_keys(ds)]
    if _is_local(fs):
        guarded.append(("the working folder", os.path.realpath(os.getcwd())))
    clash = _clash(target, guarded)
    if clash:
        raise UsageError(f"--out {out} {clash}; --overwrite replaces only an earlier "
                         "prediction output. Choose another --out.")
    if not fs.isdir(path):
        return
    if kind != "parquet":
        raise UsageError(f"--out {out} is a folder, not a {kind} file; --overwrite replaces "
                         "only an earlier prediction output. Choose another --out.")
    others = [p for p in fs.ls(path, detail=False)
              if not _PREDICT_PARTS.fullmatch(posixpath.basename(p.rstrip("/")))]
    if others:
        raise UsageError(
            f"--out {out} is a folder that holds more than an earlier prediction output (e.g. "
            f"{posixpath.basename(others[0].rstrip('/'))}); --overwrite would delete it. "
            "Remove the folder yourself, or choose another --out."
        )


#: seconds an interrupted predict waits for block writes already running
_INTERRUPTED_WRITES_WAIT = 10.0


def _compute_writes(writes) -> None:
    """Compute the block writes of an output; when one fails, return only once no other
    write is still running, so that cleaning up after the failure is final.

    (Dask's schedulers raise the first error while other tasks still run: a block
    written after the clean-up would leave a partial output behind.)
    """
    import dask

    from ._chain import current_client

    client = current_client()
    if client is None:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max(1, os.cpu_count() or 1), thread_name_prefix="gpuinc-write")
        try:
            dask.compute(writes, scheduler="threads", pool=pool)
        except KeyboardInterrupt:
            # Ctrl-C / SIGTERM: running writes get a moment to end, but one stuck on a
            # stalled file system must not keep the command from stopping
            pool.shutdown(wait=False, cancel_futures=True)
            end = time.monotonic() + _INTERRUPTED_WRITES_WAIT
            for thread in list(getattr(pool, "_threads", ())):
                thread.join(max(0.0, end - time.monotonic()))
            raise
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
        return
    futures = client.compute(writes)
    try:
        client.gather(futures)
    except BaseException:
        # the command's own cluster: once no task runs on it (cancelled ones run on until
        # they end), no write is left to land
        with contextlib.suppress(Exception):
            client.cancel(futures)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and any(client.run(_running_tasks).values()):
                time.sleep(0.05)
        raise


def _running_tasks(dask_worker) -> int:
    """Tasks occupying a thread of this worker, cancelled ones included."""
    return len(dask_worker.state.all_running_tasks)


def _write_table(table, fs, path: str, kind: str, *, overwrite: bool = True,
                 out: str | None = None) -> None:
    """Compute ``table`` blockwise into a temporary sibling of ``path``, then move it into place.

    An existing output is moved aside only once the new one is complete, and
    deleted after; on failure the old output stays, and the temporary output and
    the folders created for it are removed.  Without ``overwrite``, an output that
    appeared while this one was computed (another run writing there) is left as
    it is, and this one is not written.
    """
    parent, name = posixpath.split(path)
    token = secrets.token_hex(4)
    tmp, old = (posixpath.join(parent, f".{name}.{token}.{s}") for s in ("tmp", "old"))
    created, folder = [], parent  # the folders made for the output, deepest first
    while folder.strip("/") and not fs.exists(folder):
        created.append(folder)
        folder = posixpath.dirname(folder)
    fs.makedirs(parent, exist_ok=True)
    url = fs.unstrip_protocol(tmp)
    options = dict(fs.storage_options)  # the --storage-option values the output was opened with
    try:
        if kind == "parquet":
            # zero-padded part names, so that every reader (pandas, pyarrow, Spark), which
            # orders the files by name, reads the rows in input order: part.10 < part.2
            width = len(str(max(table.npartitions - 1, 0)))
            _compute_writes(table.to_parquet(
                url, write_index=False, storage_options=options, compute=False,
                name_function=lambda i: f"part.{i:0{width}d}.parquet"))
        else:
            _compute_writes(table.to_csv(
                url, single_file=True, index=False, storage_options=options, compute=False,
                compression="gzip" if kind == "csv.gz" else None))
        replaced = fs.exists(path)
        if replaced and not overwrite:
            raise UsageError(
                f"--out {out or path} appeared while these predictions were computed (another "
                "run writing there?); it was left as it is and these predictions were not "
                "written. Run again with another --out, or with --overwrite."
            )
        if replaced:
            fs.mv(path, old, recursive=True)
        try:
            fs.mv(tmp, path, recursive=True)
        except BaseException:
            if replaced:
                fs.mv(old, path, recursive=True)
            raise
    except BaseException:
        with contextlib.suppress(OSError):
            if fs.exists(tmp):
                fs.rm(tmp, recursive=True)
        for folder in created:
            with contextlib.suppress(OSError):
                fs.rmdir(folder)
        raise
    if replaced:
        fs.rm(old, recursive=True)
