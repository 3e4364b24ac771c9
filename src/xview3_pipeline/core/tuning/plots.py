"""Figures of a threshold search, drawn from its trials table (both methods).

All functions take :attr:`~xview3_pipeline.core.tuning.results.TuningResult.trials`
(columns ``number``, ``objectness``, ``vessel``, ``fishing`` and the six metric
components) and return a :class:`matplotlib.figure.Figure` built without pyplot, so they
work headless and do not depend on Optuna's plotting backend.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import THRESHOLD_NAMES

__all__ = ["plot_grid", "plot_history", "plot_slices"]

_VALUE = "aggregate"
_THRESHOLDS = THRESHOLD_NAMES


def _no_trials(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no trials", ha="center", va="center", transform=ax.transAxes)


def plot_history(trials: pd.DataFrame) -> Figure:
    """Optimisation history: the aggregate of each trial and the best so far.

    Args:
        trials: Trials table of a search.

    Returns:
        A Figure with one Axes (x: trial number, y: aggregate).
    """
    fig = Figure(figsize=(7.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xlabel("trial")
    ax.set_ylabel(_VALUE)
    ax.set_title("Threshold search: optimisation history")
    if len(trials):
        frame = trials.sort_values("number")
        x = frame["number"].to_numpy()
        y = frame[_VALUE].to_numpy(dtype=np.float64)
        ax.scatter(x, y, s=8, alpha=0.5, label="trial")
        ax.plot(x, np.fmax.accumulate(y), color="tab:red", label="best so far")
        ax.legend(loc="lower right")
        ax.grid(alpha=0.3)
    else:
        _no_trials(ax)
    return fig


def plot_slices(trials: pd.DataFrame) -> Figure:
    """Aggregate against each threshold (scatter, coloured by trial number).

    Args:
        trials: Trials table of a search.

    Returns:
        A Figure with three Axes (objectness, vessel, fishing threshold), plus a colour
        bar when there are trials.
    """
    fig = Figure(figsize=(12.0, 4.0), layout="constrained")
    axes = fig.subplots(1, len(_THRESHOLDS), sharey=True)
    mappable = None
    for ax, name in zip(axes, _THRESHOLDS, strict=True):
        ax.set_xlabel(f"{name} threshold")
        ax.grid(alpha=0.3)
        if len(trials):
            mappable = ax.scatter(
                trials[name],
                trials[_VALUE],
                c=trials["number"],
                cmap="viridis",
                s=8,
                alpha=0.6,
            )
        else:
            _no_trials(ax)
    axes[0].set_ylabel(_VALUE)
    fig.suptitle("Threshold search: slices")
    if mappable is not None:
        fig.colorbar(mappable, ax=list(axes), label="trial")
    return fig


def plot_grid(trials: pd.DataFrame) -> Figure:
    """Best aggregate per objectness threshold, and the vessel x fishing map at the best.

    The left Axes shows the best aggregate at each objectness threshold. The right Axes
    shows the vessel x fishing plane at the best objectness threshold: a heatmap when the
    trials there form a full grid (grid search), else a scatter of all trials coloured by
    aggregate (Optuna).

    Args:
        trials: Trials table of a search.

    Returns:
        A Figure with two Axes, plus a colour bar when there are trials.
    """
    fig = Figure(figsize=(11.0, 4.5), layout="constrained")
    ax_obj, ax_vf = fig.subplots(1, 2)
    ax_obj.set_xlabel("objectness threshold")
    ax_obj.set_ylabel(f"best {_VALUE}")
    ax_vf.set_xlabel("fishing threshold")
    ax_vf.set_ylabel("vessel threshold")
    if not len(trials):
        _no_trials(ax_obj)
        _no_trials(ax_vf)
        return fig
    per_objectness = trials.groupby("objectness")[_VALUE].max().sort_index()
    ax_obj.plot(per_objectness.index, per_objectness.to_numpy(), marker=".")
    ax_obj.grid(alpha=0.3)
    ax_obj.set_title("best aggregate per objectness threshold")
    best = trials.iloc[int(np.nanargmax(trials[_VALUE].to_numpy(dtype=np.float64)))]
    ax_obj.axvline(best["objectness"], color="tab:red", linestyle="--")
    at_best = trials[trials["objectness"] == best["objectness"]]
    table = at_best.pivot_table(index="vessel", columns="fishing", values=_VALUE, aggfunc="max")
    if table.size > 1 and not table.isna().to_numpy().any():
        mappable = ax_vf.pcolormesh(
            table.columns.to_numpy(),
            table.index.to_numpy(),
            table.to_numpy(),
            shading="nearest",
            cmap="viridis",
        )
        ax_vf.set_title(f"{_VALUE} at objectness {best['objectness']:.3f}")
    else:
        order = trials.sort_values(_VALUE)
        mappable = ax_vf.scatter(
            order["fishing"], order["vessel"], c=order[_VALUE], cmap="viridis", s=10
        )
        ax_vf.set_title(f"{_VALUE} of all trials")
    ax_vf.scatter(
        [best["fishing"]], [best["vessel"]], marker="x", color="tab:red", s=60, label="best"
    )
    ax_vf.legend(loc="upper right")
    fig.colorbar(mappable, ax=ax_vf, label=_VALUE)
    return fig
