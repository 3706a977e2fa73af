"""Learning curves from ``Incremental.history_``.

matplotlib is an optional extra (``pip install 'gpuinc[plot]'``); it is
imported only when a plot is drawn.
"""

from __future__ import annotations

import os
import sys

import pandas as pd

_PLOT_EXTRA = "pip install 'gpuinc[plot]'"


def _import_matplotlib():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(
            f"gpuinc.plot needs matplotlib, which is not installed; install it with "
            f"`{_PLOT_EXTRA}` (or `pip install matplotlib`)."
        ) from exc
    return matplotlib


def _history_frame(inc_or_history) -> tuple[pd.DataFrame, dict]:
    """The history as a DataFrame plus what the wrapper says about the fit."""
    info = {}
    source = inc_or_history
    name = type(source).__name__
    if hasattr(source, "get_params") and hasattr(source, "best_estimator_"):
        source = source.best_estimator_  # a fitted search (GridSearchCV): its refitted model
    if hasattr(source, "get_params"):  # an estimator
        history = getattr(source, "history_", None)
        if history is None:
            fitted = (hasattr(source, "estimator_") or name != type(source).__name__
                      or not hasattr(source, "estimator"))
            raise ValueError(
                f"{name} has no history_: learning_curve plots the passes of "
                "a fitted gpuinc.Incremental; "
                + ("pass that (for a search over Incremental, its best_estimator_)." if fitted
                   else "fit it (fit or partial_fit) first.")
            )
        scoring = getattr(source, "scoring", None)
        if isinstance(scoring, str):
            info["scoring"] = scoring
        est = getattr(source, "estimator_", None) or source.estimator
        info["estimator"] = type(est).__name__
        info["stopped_early"] = bool(getattr(source, "stopped_early_", False))
        source = history
    if isinstance(source, (str, bytes)):
        raise TypeError(
            "learning_curve takes a fitted Incremental, its history_, a list of per-pass "
            f"dicts or a DataFrame; got a {type(source).__name__}."
        )
    if isinstance(source, pd.DataFrame):
        frame = source.copy()
        if "epoch" not in frame and frame.index.name == "epoch":
            frame = frame.reset_index()  # (history_.to_frame().set_index("epoch"))
    elif isinstance(source, dict):
        frame = pd.DataFrame(source)  # columns
    elif hasattr(source, "to_frame"):
        frame = source.to_frame()
    else:
        try:
            frame = pd.DataFrame(list(source))
        except TypeError as exc:
            raise TypeError(
                "learning_curve takes a fitted Incremental, its history_, a list of per-pass "
                f"dicts or a DataFrame; got {type(inc_or_history).__name__}."
            ) from exc
    if frame.empty:
        raise ValueError("the history is empty: there is no pass to plot yet.")
    epochs = frame["epoch"] if "epoch" in frame else None
    if epochs is None or not epochs.is_unique:
        # no pass numbers, or repeated ones: number the passes in order
        frame["epoch"] = range(1, len(frame) + 1)
    elif not epochs.is_monotonic_increasing:
        frame = frame.sort_values("epoch", kind="stable")  # each score at its own pass
    return frame, info


def _columns(frame: pd.DataFrame, metric: str) -> list[tuple[str, str]]:
    """(column, legend label) pairs to draw for ``metric``."""
    if metric in frame and not metric.startswith(("train_", "val_")):
        return [(metric, metric)]
    base = metric.removeprefix("train_").removeprefix("val_")
    pairs = [(f"train_{base}", "training"), (f"val_{base}", "validation")]
    if metric.startswith(("train_", "val_")):
        pairs = [p for p in pairs if p[0] == metric]
    found = [p for p in pairs if p[0] in frame and frame[p[0]].notna().any()]
    if not found:
        wanted = " or ".join(p[0] for p in pairs)
        empty = [p[0] for p in pairs if p[0] in frame]
        if empty:
            raise ValueError(
                f"the history's {' and '.join(empty)} column has no value to plot: every "
                "score is missing (NaN). Check the scoring and the validation data."
            )
        hint = (
            " Validation scores are recorded when Incremental has validation= or fit gets "
            "validation_data=(X_val, y_val)."
            if base == "score" else ""
        )
        raise ValueError(
            f"the history has no {wanted} column to plot (it has: "
            f"{', '.join(map(str, frame.columns))}).{hint}"
        )
    return found


def _can_show() -> bool:
    """Whether a figure made through pyplot could be displayed (notebook or GUI)."""
    if "ipykernel" in sys.modules or "IPython" in sys.modules:
        try:
            from IPython import get_ipython

            if get_ipython() is not None:
                return True
        except Exception:
            pass
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def learning_curve(inc_or_history, path=None, ax=None, metric: str = "score"):
    """Plot the score after every pass of a fit; with ``path=``, also save the figure.

    Parameters
    ----------
    inc_or_history : Incremental, History, list of dict or pandas.DataFrame
        A fitted :class:`gpuinc.Incremental` or its ``history_`` (one
        record per pass, with ``epoch`` and the scores).
    path : str or path-like, optional
        Write the figure here, under exactly this name: in the format its
        suffix names (``.png``, ``.svg``, ``.pdf``, ... as matplotlib knows
        them), PNG when it has none. Without a display, the figure is drawn with the Agg
        backend and never opened in a window.
    ax : matplotlib.axes.Axes, optional
        Draw on these axes instead of a new figure.
    metric : str, default="score"
        ``"score"`` draws ``val_score`` and, when present, ``train_score``.
        Another name ``m`` draws ``train_m`` / ``val_m``; a full column name
        (``"val_score"``, ``"seconds"``, ``"rows"`` ...) draws that column.

    Returns
    -------
    matplotlib.axes.Axes
        The axes drawn on; ``ax.figure`` is the figure.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'gpuinc[plot]'``).
    ValueError
        The estimator is not fitted, or the history has no such column.

    Examples
    --------
    >>> from gpuinc.plot import learning_curve
    >>> history = [{"epoch": 1, "val_score": 0.71}, {"epoch": 2, "val_score": 0.74}]
    >>> ax = learning_curve(history)
    >>> ax.get_xlabel()
    'pass (epoch)'
    >>> learning_curve(inc, path="learning_curve.png")  # doctest: +SKIP
    """
    frame, info = _history_frame(inc_or_history)
    columns = _columns(frame, metric)
    _import_matplotlib()
    if ax is not None:
        fig = ax.figure
    elif path is not None and not _can_show():
        # No display: draw on an Agg canvas directly, leaving pyplot (and any
        # GUI backend it would pick) untouched.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 4.0), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    else:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6.4, 4.0), layout="constrained")

    epochs = frame["epoch"].to_numpy()
    styles = {"training": dict(marker="o", linestyle="--", color="tab:gray"),
              "validation": dict(marker="o", linestyle="-", color="tab:blue")}
    for column, label in columns:
        ax.plot(epochs, frame[column].to_numpy(dtype=float), label=label,
                **styles.get(label, dict(marker="o")))

    is_score = metric.removeprefix("train_").removeprefix("val_") == "score"
    val_column = next((c for c, label in columns if label == "validation"), None)
    if is_score and val_column is not None:
        values = frame[val_column].to_numpy(dtype=float)
        best = int(pd.Series(values).idxmax())
        ax.scatter([epochs[best]], [values[best]], s=120, facecolors="none",
                   edgecolors="tab:red", linewidths=1.5, zorder=3,
                   label=f"best: {values[best]:.4g} (pass {epochs[best]})")

    ax.set_xlabel("pass (epoch)")
    if is_score:
        ax.set_ylabel(info.get("scoring", "score"))
    else:
        ax.set_ylabel(columns[0][0] if len(columns) == 1 else metric)
    if len(epochs) <= 20:
        ax.set_xticks(epochs)
    title = "Learning curve"
    if "estimator" in info:
        title += f": {info['estimator']}"
    if info.get("stopped_early"):
        title += " (stopped early)"
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    if path is not None:
        # without a suffix matplotlib would add ".png" to the name: write the name given
        suffix = os.path.splitext(os.fspath(path))[1]
        fig.savefig(os.fspath(path), dpi=120, format=None if suffix else "png")
    return ax
