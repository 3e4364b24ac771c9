"""Plots of training runs."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import COMPONENTS

_LOSS_TERMS = ("total", "objectness", "vessel", "fishing", "length", "offset")
#: The aggregate first, then the other components in the official order.
_METRICS = ("aggregate", *(name for name in COMPONENTS if name != "aggregate"))


def plot_history(history: pd.DataFrame, title: str = "") -> Figure:
    """Loss curves (training and validation) and validation xView3 components per epoch.

    Args:
        history: One row per epoch with ``epoch`` and ``train/<term>``, ``val/loss_<term>``
            and ``val/<component>`` columns (as written by the training engine).
        title: Figure title.

    Returns:
        A figure with three panels: training losses (log scale), validation losses and
        the validation metric components.
    """
    fig = Figure(figsize=(15, 4.5))
    axes = fig.subplots(1, 3)
    epochs = history["epoch"] if "epoch" in history else pd.Series(range(len(history)))
    for term in _LOSS_TERMS:
        if f"train/{term}" in history:
            axes[0].plot(epochs, history[f"train/{term}"], marker="o", label=term)
        if f"val/loss_{term}" in history:
            axes[1].plot(epochs, history[f"val/loss_{term}"], marker="o", label=term)
    for name in _METRICS:
        if f"val/{name}" in history:
            axes[2].plot(
                epochs,
                history[f"val/{name}"],
                marker="o",
                label=name,
                linewidth=2.5 if name == "aggregate" else 1.2,
            )
    for ax, name in zip(
        axes, ("training loss", "validation loss", "validation xView3 metric"), strict=True
    ):
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    for ax in axes[:2]:
        if ax.lines:
            ax.set_yscale("log")
    axes[2].set_ylim(0, 1)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
