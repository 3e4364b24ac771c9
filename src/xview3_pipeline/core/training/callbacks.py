"""Lightning callbacks of the training engine."""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
import pandas as pd


class EpochHistory(pl.Callback):
    """Records one row per epoch: losses, validation metrics, learning rate and time.

    The rows are part of the callback's state, so they are saved in every checkpoint and a
    resumed run keeps the history of the epochs before the interruption. The ``attempt``
    column counts the runs: 1 for the first, one more each time training resumed from a
    checkpoint, so the history shows which epochs a resumed run trained.
    """

    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []
        self.attempt = 1
        self._t0 = 0.0
        self._lr = float("nan")
        self._epoch = -1

    def _start_epoch(self, trainer: pl.Trainer) -> None:
        self._epoch = trainer.current_epoch
        self._t0 = time.perf_counter()
        self._lr = (
            float(trainer.optimizers[0].param_groups[0]["lr"])
            if trainer.optimizers
            else float("nan")
        )

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Start the epoch clock and note the learning rate the epoch trains with."""
        self._start_epoch(trainer)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        """Same, for an epoch resumed from a checkpoint (Lightning skips its epoch start)."""
        if self._epoch != trainer.current_epoch:
            self._start_epoch(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Append the epoch's metrics; validation has run and epoch means are reduced."""
        row: dict[str, float] = {
            "epoch": float(trainer.current_epoch),
            "step": float(trainer.global_step),
            "lr": self._lr,
            "epoch_time_s": time.perf_counter() - self._t0 if self._t0 else float("nan"),
            "attempt": float(self.attempt),
        }
        for key, value in trainer.callback_metrics.items():
            if key.startswith(("train/", "val/")) and not key.endswith("_step"):
                row[key.removesuffix("_epoch")] = float(value)
        self.rows = [r for r in self.rows if r["epoch"] != row["epoch"]] + [row]

    def state_dict(self) -> dict[str, Any]:
        """Rows as plain Python types (safe for ``torch.load(weights_only=True)``)."""
        return {"rows": [dict(r) for r in self.rows], "attempt": self.attempt}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the rows of a checkpoint; the resumed run is the next attempt."""
        self.rows = [dict(r) for r in state_dict.get("rows", [])]
        self.attempt = int(state_dict.get("attempt", 1)) + 1

    def frame(self) -> pd.DataFrame:
        """The history as a frame, one row per epoch."""
        return pd.DataFrame(self.rows)
