"""The Lightning "system" that trains a CircleNet: loss, optimiser and xView3 validation.

The model stays a plain ``nn.Module`` (Lightning's "systems vs models"): this module only
wires it to a loss, a heatmap coder, an optimiser with a cosine schedule, and a
validation that decodes tiles of the fold's validation scenes at a fixed threshold and
scores them with the official xView3 metric. The aggregate it logs (``val/aggregate``)
drives early stopping and checkpoint selection, as in the winning solution.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import pandas as pd
import torch
from lightning.pytorch.utilities.types import OptimizerLRSchedulerConfig
from torch import nn

from xview3_pipeline.core.constants import COMPONENTS as METRIC_NAMES
from xview3_pipeline.core.encoding import CircleNetCoder
from xview3_pipeline.core.metric import score
from xview3_pipeline.core.metric.shoreline import Shoreline
from xview3_pipeline.core.training.config import OptimConfig, ValidationConfig
from xview3_pipeline.core.types import CircleNetOutputs, EncodedTargets

logger = logging.getLogger(__name__)


def batch_targets(batch: Mapping[str, torch.Tensor]) -> EncodedTargets:
    """The target maps of a collated batch as an ``EncodedTargets`` of ``(B, C, h, w)`` tensors."""
    return EncodedTargets._make(batch[name] for name in EncodedTargets._fields)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on biases and normalisation weights (the winner's AdamW setting)."""
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim <= 1 or name.endswith(".bias") else decay).append(param)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def cosine_optimizer(
    model: nn.Module, optim: OptimConfig, *, max_epochs: int, world_size: int = 1
) -> OptimizerLRSchedulerConfig:
    """AdamW or RAdam (decoupled decay) with a cosine schedule stepped per epoch.

    Args:
        model: The network whose trainable parameters are optimised (no weight decay on
            biases and normalisation weights).
        optim: Optimiser settings.
        max_epochs: Length of the cosine schedule, epochs.
        world_size: Number of devices; multiplies ``optim.lr`` when
            ``optim.scale_lr_with_devices`` (the winners' DDP rule).

    Returns:
        Lightning's ``configure_optimizers`` dictionary.
    """
    lr = optim.lr * (world_size if optim.scale_lr_with_devices else 1)
    groups = param_groups(model, optim.weight_decay)
    if optim.name == "adamw":
        optimizer: torch.optim.Optimizer = torch.optim.AdamW(groups, lr=lr, eps=optim.eps)
    else:
        optimizer = torch.optim.RAdam(groups, lr=lr, eps=optim.eps, decoupled_weight_decay=True)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, max_epochs), eta_min=optim.eta_min
    )
    return {
        "optimizer": optimizer,
        "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"},
    }


class ChannelsLastSystem(pl.LightningModule):
    """A Lightning system whose network (``self.model``) runs channels-last on CUDA.

    Subclasses set ``self.model`` and ``self.channels_last``; batches carry ``image``.
    """

    model: nn.Module
    channels_last: bool

    def _image(self, batch: Mapping[str, Any]) -> torch.Tensor:
        """The batch's ``image``, channels-last when the system runs so on CUDA."""
        image = batch["image"]
        if self.channels_last and image.is_cuda:
            image = image.contiguous(memory_format=torch.channels_last)
        return image

    def on_fit_start(self) -> None:
        """Switch the model to channels-last on CUDA."""
        if self.channels_last and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)


class CircleNetSystem(ChannelsLastSystem):
    """Trains a CircleNet on crops and validates it with the xView3 metric.

    Args:
        model: The network; ``model(x)`` returns :class:`CircleNetOutputs`.
        loss: Module mapping ``(outputs, targets, sample_weight)`` to a dict of named
            scalar terms with a ``total``.
        coder: The heatmap coder used to decode validation tiles.
        optim: Optimiser settings.
        validation: Thresholds of the validation decoding.
        val_truth: Label rows (official columns, all confidence levels) of the validation
            scenes, or None to skip the metric.
        shorelines: Shoreline contours of the validation scenes, keyed by scene id.
        scene_shapes: ``scene_id -> (height, width)`` of the validation scenes; decoded
            points in the padding of border tiles are dropped.
        max_epochs: Length of the cosine schedule, epochs.
        channels_last: Use the channels-last memory format on CUDA.
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module,
        coder: CircleNetCoder,
        *,
        optim: OptimConfig,
        validation: ValidationConfig,
        val_truth: pd.DataFrame | None = None,
        shorelines: Mapping[str, Shoreline] | None = None,
        scene_shapes: Mapping[str, tuple[int, int]] | None = None,
        max_epochs: int = 1,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.loss = loss
        self.coder = coder
        self.optim = optim
        self.validation = validation
        self.val_truth = val_truth
        self.shorelines = dict(shorelines or {})
        self.scene_shapes = dict(scene_shapes or {})
        self.max_epochs = max_epochs
        self.channels_last = channels_last
        self._val_frames: list[pd.DataFrame] = []

    @property
    def validates(self) -> bool:
        """Whether validation runs (there is validation truth to score)."""
        return self.val_truth is not None

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        """Run the network on ``(B, 2, H, W)`` normalised [VH, VV] images."""
        return self.model(x)

    # ------------------------------------------------------------------ training
    def training_step(self, batch: Mapping[str, Any], batch_idx: int) -> torch.Tensor:
        """One optimisation step; logs every loss term under ``train/``."""
        outputs = self(self._image(batch))
        terms = self.loss(outputs, batch_targets(batch), batch.get("sample_weight"))
        batch_size = batch["image"].shape[0]
        for name, value in terms.items():
            self.log(
                f"train/{name}", value.detach(), on_step=name == "total", on_epoch=True,
                prog_bar=name == "total", batch_size=batch_size, sync_dist=True,
            )  # fmt: skip
        return terms["total"]

    # ---------------------------------------------------------------- validation
    def on_validation_epoch_start(self) -> None:
        """Reset the collected detections."""
        self._val_frames = []

    def validation_step(self, batch: Mapping[str, Any], batch_idx: int) -> None:
        """Loss on a batch of tiles, and their decoded detections in scene coordinates."""
        outputs = self(self._image(batch))
        terms = self.loss(outputs, batch_targets(batch), None)
        batch_size = batch["image"].shape[0]
        for name, value in terms.items():
            self.log(
                f"val/loss_{name}", value, on_epoch=True, batch_size=batch_size, sync_dist=True
            )
        if self.val_truth is None:
            return
        detections = self.coder.decode(outputs, max_objects=self.validation.max_objects)
        frame = self.coder.detections_to_frame(
            detections,
            list(batch["scene_id"]),
            min_objectness=self.validation.objectness_threshold,
            offsets=torch.stack([batch["col0"], batch["row0"]], dim=-1).cpu().numpy(),
        )
        self._val_frames.append(self._inside_scenes(frame))

    def _inside_scenes(self, frame: pd.DataFrame) -> pd.DataFrame:
        if frame.empty or not self.scene_shapes:
            return frame
        shapes = frame["scene_id"].map(self.scene_shapes)
        height = shapes.map(lambda s: s[0]).to_numpy(dtype=float)
        width = shapes.map(lambda s: s[1]).to_numpy(dtype=float)
        keep = (frame["detect_scene_row"].to_numpy() < height) & (
            frame["detect_scene_column"].to_numpy() < width
        )
        return frame.loc[keep]

    def _gathered_frames(self) -> pd.DataFrame:
        frames = self._val_frames
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            everything: list[list[pd.DataFrame] | None] = [
                None
            ] * torch.distributed.get_world_size()
            torch.distributed.all_gather_object(everything, frames)
            frames = [f for part in everything if part for f in part]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    def on_validation_epoch_end(self) -> None:
        """Score the epoch's detections with the xView3 metric and log ``val/<component>``."""
        if self.val_truth is None:
            return
        pred = self._gathered_frames()
        if pred.empty:
            result = dict.fromkeys(METRIC_NAMES, 0.0)
        else:
            v = self.validation
            pred = pred.assign(
                is_vessel=pred["vessel_p"] >= v.vessel_threshold,
                is_fishing=pred["fishing_p"] >= v.fishing_threshold,
            )
            result = score(pred, self.val_truth, shorelines=self.shorelines).as_dict()
        for name in METRIC_NAMES:
            value = float(result[name])
            self.log(
                f"val/{name}",
                0.0 if math.isnan(value) else value,
                prog_bar=name == "aggregate",
                sync_dist=False,
            )
        self._val_frames = []

    # ----------------------------------------------------------------- optimiser
    def configure_optimizers(self) -> OptimizerLRSchedulerConfig:
        """AdamW or RAdam (decoupled decay) with a per-epoch cosine schedule."""
        world = self.trainer.world_size if self._trainer is not None else 1
        return cosine_optimizer(
            self.model, self.optim, max_epochs=self.max_epochs, world_size=world
        )
