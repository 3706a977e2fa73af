"""The ``gpuinc`` command line: ``demo`` and the data commands."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
import time


def _demo_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="train on synthetic data end to end (the seed workflow)",
        description="Generate a synthetic classification problem, train it block by block "
        "through Incremental on a local cluster (or on threads with --workers 0), and print the test accuracy of every pass (in "
        "the progress bar as each pass ends, and one line per pass once training ends) and the "
        "total time. Bad options are reported (one line, exit status 2) before anything starts.",
    )
    p.add_argument("--n-samples", type=int, default=1_000_000,
                   help="rows of synthetic data, about a tenth of them held out for testing "
                        "(at least 100; default: 1000000)")
    p.add_argument("--n-features", type=int, default=100,
                   help="feature columns (at least 4; default: 100)")
    p.add_argument("--blocks", type=int, default=10, help="row blocks, of 2 rows or more (default: 10)")
    p.add_argument("--epochs", type=int, default=5, help="passes over the blocks (default: 5)")
    p.add_argument("--estimator", choices=["gpuinc-sgd", "sklearn-sgd"], default="gpuinc-sgd",
                   help="gpuinc's array-API SGDClassifier or scikit-learn's (default: gpuinc-sgd)")
    p.add_argument("--device", choices=["auto", "cpu", "gpu"], default="auto",
                   help="cluster and data placement: auto (GPU workers and CuPy data when CuPy "
                        "and dask-cuda find a GPU, else CPU), gpu (an error without a GPU) or "
                        "cpu (default: auto)")
    p.add_argument("--workers", type=int, default=None,
                   help="workers of a CPU cluster (default: cores, max 4); a GPU cluster has "
                        "one worker per GPU; 0 runs on threads in this process, without a "
                        "cluster (on the GPU with --device gpu, or auto when CuPy finds one)")
    p.add_argument("--plot", metavar="PNG", default=None,
                   help="write a learning curve here: a file name ending in an image suffix "
                        "matplotlib writes (.png, .svg, .pdf ...) in an existing folder; needs "
                        "matplotlib (pip install 'gpuinc[plot]')")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the data, the train/test split, the block order and the model "
                        "(default: 0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run_demo)


#: the fewest rows the demo makes: fewer may leave one class only
_DEMO_MIN_SAMPLES = 100
#: features of the synthetic problem that carry the classes (informative + redundant)
_DEMO_MIN_FEATURES = 4


def run_demo(args) -> int:
    """``gpuinc demo``: user errors are one ``gpuinc: error:`` line and exit status 2."""
    from ._cli_data import _guarded

    return _guarded(_run_demo)(args)


def _check_demo_args(args) -> None:
    """Refuse bad options before any cluster starts or data is made."""
    from ._cli_data import UsageError

    for option, value, least in (("--n-samples", args.n_samples, _DEMO_MIN_SAMPLES),
                                 ("--n-features", args.n_features, _DEMO_MIN_FEATURES),
                                 ("--blocks", args.blocks, 1), ("--epochs", args.epochs, 1),
                                 ("--workers", args.workers, 0), ("--seed", args.seed, 0)):
        if value is not None and value < least:
            why = {"--n-samples": " (fewer rows may hold a single class)",
                   "--n-features": " (the synthetic problem has 2 informative and 2 "
                                   "redundant features)",
                   "--workers": " (0 runs on threads in this process, without a cluster)",
                   }.get(option, "")
            raise UsageError(f"{option} must be >= {least}, got {value}{why}.")
    if args.seed > 2**32 - 1:
        raise UsageError(f"--seed must be <= {2**32 - 1}, got {args.seed}.")
    if args.blocks > args.n_samples // 2:
        raise UsageError(
            f"--blocks {args.blocks} is too many for --n-samples {args.n_samples}: each block "
            f"needs 2 rows or more (one is held out for testing); use --blocks "
            f"{args.n_samples // 2} or fewer."
        )
    if args.plot is not None:
        _check_plot_path(args.plot)


def _check_plot_path(plot: str) -> None:
    """``--plot``: matplotlib is installed, the name has a suffix it writes, the folder is
    there and writable (checked before training, not after it)."""
    from pathlib import Path

    from ._cli_data import UsageError
    from ._optional import import_optional

    try:
        import_optional("matplotlib", "plot")
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError as exc:
        raise UsageError(f"--plot: {exc} (Or leave out --plot.)") from exc
    formats = FigureCanvasBase.get_supported_filetypes()
    path = Path(plot)
    suffix = path.suffix.lower().lstrip(".")
    if plot.endswith(("/", os.sep)) or path.is_dir():
        raise UsageError(f"--plot {plot} is a folder; give a file name such as "
                         f"{path / 'curve.png'}.")
    if suffix not in formats:
        shown = ", ".join(f".{f}" for f in ("png", "svg", "pdf", "jpg") if f in formats)
        raise UsageError(
            f"--plot {plot}: the file name needs an image suffix matplotlib writes ({shown} "
            f"...; all: {', '.join(sorted(formats))}), e.g. {path.with_suffix('.png').name}."
        )
    folder = path.absolute().parent
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(f"--plot {plot}: the folder {folder} {what}; create it or choose "
                         "another --plot.")
    if not os.access(folder, os.W_OK | os.X_OK) or (
            path.exists() and not os.access(path, os.W_OK)):
        where = path if path.exists() else f"the folder {folder}"
        raise UsageError(f"--plot {plot}: {where} is not writable; choose another --plot.")


@contextlib.contextmanager
def _demo_scheduler(kind: str, workers: int | None):
    """Where the demo computes: yields whether on the GPU. A local cluster (and a Client),
    or with ``workers == 0`` Dask's threaded scheduler in this process."""
    import dask

    from ._optional import gpu_available

    if workers == 0:
        from ._cli_data import UsageError

        on_gpu = kind != "cpu" and gpu_available()
        if kind == "gpu" and not on_gpu:
            raise UsageError("--device gpu needs a CUDA GPU with CuPy; use --device cpu or "
                             "auto.")
        print(f"no cluster (--workers 0): Dask's threaded scheduler in this process "
              f"({'GPU' if on_gpu else 'CPU'})")
        with dask.config.set(scheduler="threads"):
            yield on_gpu
        return
    from distributed import Client

    from ._cli_data import interrupts_stop_here
    from .cluster import make_cluster

    cluster = make_cluster(kind, n_workers=workers)
    on_gpu = type(cluster).__name__ == "LocalCUDACluster" or (kind == "gpu" and gpu_available())
    with cluster, Client(cluster) as client, interrupts_stop_here(client):
        print(f"Dask dashboard: {client.dashboard_link}")
        yield on_gpu


def _demo_chunks(n: int, blocks: int) -> tuple:
    """Row chunks: exactly ``blocks`` blocks, their sizes differing by one row at most."""
    size, extra = divmod(n, blocks)
    return tuple(size + (i < extra) for i in range(blocks))


def _run_demo(args) -> int:
    _check_demo_args(args)
    import dask
    import dask.array as da

    from . import Incremental
    from .datasets import make_classification
    from .model_selection import train_test_split

    t_start = time.perf_counter()
    with _demo_scheduler(args.device, args.workers) as on_gpu:
        n = args.n_samples
        X, y = make_classification(
            n_samples=n, n_features=args.n_features,
            chunks=(_demo_chunks(n, args.blocks), (args.n_features,)),
            flip_y=0.2, random_state=args.seed, dtype="float32",
            device="gpu" if on_gpu else None,
        )
        X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=args.seed)
        X_train, X_test, y_train, y_test = dask.persist(X_train, X_test, y_train, y_test)
        fit_kw = {}
        if not on_gpu:  # as the seed workflow does
            fit_kw["classes"] = da.unique(y_train).compute()
        # On CuPy blocks Incremental finds the classes itself, one small task per block:
        # da.unique may take its NumPy-only path for CuPy chunks.
        estimator = _demo_estimator(args.estimator, args.seed)
        inc = Incremental(
            estimator, scoring="accuracy", random_state=args.seed, epochs=args.epochs,
            progress=not args.no_progress,
        )
        print(f"data: {n:,} x {args.n_features} in {X_train.numblocks[0]} training blocks "
              f"({'GPU' if on_gpu else 'CPU'}); estimator: "
              f"{type(estimator).__module__.split('._')[0]}.{type(estimator).__name__}")
        t0 = time.perf_counter()
        inc.fit(X_train, y_train, validation_data=(X_test, y_test), **fit_kw)
        fit_s = time.perf_counter() - t0
        for rec in inc.history_:
            print(f"pass {rec['epoch']}: test accuracy {rec['val_score']:.4f} "
                  f"({rec['seconds']:.2f} s)")
        print(f"trained {len(inc.history_)} passes in {fit_s:.2f} s; "
              f"total {time.perf_counter() - t_start:.2f} s")
        if args.plot:
            from .plot import learning_curve

            try:
                learning_curve(inc, path=args.plot)
            except OSError as exc:  # checked before training, but the disk may say no
                from ._cli_data import UsageError

                raise UsageError(f"--plot {args.plot}: cannot write it: {exc}") from exc
            print(f"learning curve written to {args.plot}")
    return 0


def _demo_estimator(name: str, seed: int):
    if name == "sklearn-sgd":
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier(loss="log_loss", penalty="l2", tol=1e-3, random_state=seed)
    from .linear_model import SGDClassifier

    return SGDClassifier(loss="log_loss", penalty="l2", random_state=seed)


def _register_data_commands(sub) -> None:
    try:
        from ._cli_data import register
    except ImportError:  # pragma: no cover - the data commands ship with the package
        return
    register(sub)


#: options that take every value up to the next option (a path after them is theirs)
_MULTI_VALUE = ("--features", "--exclude", "--id")
_DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".gz", ".bz2", ".xz", ".zst", ".zip", ".zarr")


class _Parser(argparse.ArgumentParser):
    """argparse, with hints for two command lines that go wrong in the shell."""

    #: the arguments being parsed (set by :func:`main`)
    argv: tuple = ()

    def error(self, message):
        super().error(message + _usage_hint(message, self.argv, self.prog))


def _usage_hint(message: str, argv, prog: str = "gpuinc") -> str:
    if message.startswith("unrecognized arguments:"):
        extra = message.split(":", 1)[1].split()
        # several paths and nothing else (an unknown option's value is not a second DATA)
        if not any(a.startswith("-") for a in extra) and any(_looks_like_data(a) for a in extra):
            return ("\nDATA is one path, and several were given: a glob the shell expanded? "
                    "Quote it (e.g. 'data/*.parquet') or give the folder.")
    if message.startswith("the following arguments are required:") and "DATA" in message:
        used = [o for o in _MULTI_VALUE if o in argv
                and any(_looks_like_data(v) for v in _values_after(argv, o))]
        if used:
            example = ("gpuinc predict MODEL DATA --out preds.parquet --id A B" if
                       prog.endswith("predict") else
                       "gpuinc train DATA --target COLUMN --features A B")
            takes = "takes" if len(used) == 1 else "take"
            return (f"\n{' / '.join(used)} {takes} every value up to the next option, so a "
                    f"DATA after {'it' if len(used) == 1 else 'them'} is taken as one of "
                    f"{'its' if len(used) == 1 else 'their'} values: put DATA first "
                    f"({example} ...).")
    return ""


def _looks_like_data(arg: str) -> bool:
    return os.path.exists(arg) or arg.endswith(_DATA_SUFFIXES) or "://" in arg


def _values_after(argv, option: str) -> list:
    """The arguments after ``option`` up to the next option."""
    values = []
    for arg in list(argv)[list(argv).index(option) + 1:]:
        if arg.startswith("-"):
            break
        values.append(arg)
    return values


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gpuinc", description="Incremental learning on larger-than-memory data.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    _demo_parser(sub)
    _register_data_commands(sub)
    return parser


#: whether SIGTERM stopped the command (the interrupt may reach main() as a plain
#: KeyboardInterrupt, raised again after an estimator swallowed the first)
_TERMINATED = [False]


class _Terminated(KeyboardInterrupt):
    """SIGTERM (``timeout``, Slurm, Kubernetes): the command stops and cleans up as for
    Ctrl-C, and exits with 143."""


@contextlib.contextmanager
def _sigterm_stops():
    """While a command runs, SIGTERM raises :class:`_Terminated` in the main thread
    (unless the program has its own handler, or this is not the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous not in (signal.SIG_DFL, None):
        yield
        return

    def handler(signum, frame):
        from ._chain import STOP_REQUESTED

        _TERMINATED[0] = True
        STOP_REQUESTED.set()  # a pass stops after its block, even if the estimator swallows
        raise _Terminated     # the exception (scikit-learn's MLP models catch it)

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        from ._chain import STOP_REQUESTED

        STOP_REQUESTED.clear()  # set by a SIGTERM outside a fit: no later fit may see it


class _DropsOnClosedPipe:
    """``sys.stdout`` that drops what it cannot write to a closed pipe (see
    :func:`_output_may_close`); all else is the stream's."""

    def __init__(self, stream):
        self._stream = stream
        self.closed_pipe = False

    def write(self, text):
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self.closed_pipe = True
        return len(text)

    def flush(self):
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self.closed_pipe = True

    def __getattr__(self, name):
        return getattr(self._stream, name)


@contextlib.contextmanager
def _output_may_close():
    """Output nobody reads any more (``gpuinc train ... | head -2``) is dropped: a reader
    that stops early does not stop the training or lose its model."""
    real = sys.stdout
    guard = sys.stdout = _DropsOnClosedPipe(real)
    try:
        yield
    finally:
        sys.stdout = real
        if guard.closed_pipe:
            # what is left in the stream's buffer would fail the interpreter's last flush
            with contextlib.suppress(OSError, ValueError, AttributeError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, real.fileno())
                os.close(devnull)


def main(argv=None) -> int:
    parser = build_parser()
    _Parser.argv = tuple(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    from .cluster import GPUUnavailableError

    _TERMINATED[0] = False
    try:
        with _sigterm_stops(), _output_may_close():
            return int(args.func(args) or 0)
    except GPUUnavailableError as exc:
        print(f"gpuinc: error: {exc.message('--device gpu', '--device cpu or auto')}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if _TERMINATED[0]:
            print("terminated", file=sys.stderr)
            return 143
        print("interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The ``gpuinc`` command: :func:`main`, then exit.

    After Ctrl-C or SIGTERM the command has cleaned up what it wrote; it then
    exits at once, since a read or write stuck in a worker thread (a stalled
    file system) would hold the interpreter's exit, which waits for them.
    After a success, a Ctrl-C during that exit is ignored: what was done stays
    reported as done (exit status 0).
    """
    rc = main()
    if rc in (130, 143):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(rc)
    if rc == 0 and threading.current_thread() is threading.main_thread():
        # the work is done and said so: a Ctrl-C while the interpreter shuts down (the
        # cluster's threads ending) would turn the success into exit status 130
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(rc)


if __name__ == "__main__":  # pragma: no cover
    console()
