"""The CircleNet training loss: a weighted sum of named terms.

Two variants of the xView3 winner are offered:

* ``trimmed`` (default): ``MultilabelCenterTrimmedLoss`` of the b4 and v2s models. The
  entropy regularisation of unknown labels is added pixel-wise inside the objectness,
  vessel and fishing sums, weighted by the objectness Gaussian, and shares their
  normalisers.
* ``circlenet``: ``CircleNetLoss`` of the b5 models. Each entropy term is a separate mean
  over its own mask (not weighted by the Gaussian) added to its task term.

Notation: ``y`` the objectness heatmap, peaks = pixels with ``y == 1``, ``N_obj`` the
number of peaks in the batch and ``N_vsl`` the number of peaks whose vessel target is 1
(both at least 1).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import nn

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.losses.functional import (
    REGRESSION_LOSSES,
    binary_entropy_with_logits,
    reduced_focal_loss_map,
    regression_loss_map,
    soft_bce_with_logits,
)
from xview3_pipeline.core.types import IGNORE_INDEX, CircleNetOutputs, EncodedTargets

#: ``trimmed`` = b4/v2s ``MultilabelCenterTrimmedLoss``; ``circlenet`` = b5 ``CircleNetLoss``.
LOSS_VARIANTS = ("trimmed", "circlenet")
#: Names of the weighted terms, in the order they enter ``total``.
TERM_NAMES = ("objectness", "vessel", "fishing", "length", "offset")


class TargetBatch(NamedTuple):
    """Batched :class:`~xview3_pipeline.core.types.EncodedTargets` as tensors.

    Any object with these five tensor attributes (e.g. an ``EncodedTargets`` whose fields
    are batched tensors) is accepted by :class:`CircleNetLoss`.

    Attributes:
        objectness: ``(B, 1, h, w)`` Gaussian heatmap, peaks 1, ``IGNORE_INDEX`` on
            ignored discs.
        vessel: ``(B, 1, h, w)`` 0/1, ``IGNORE_INDEX`` where unknown.
        fishing: ``(B, 1, h, w)`` 0/1, ``IGNORE_INDEX`` where unknown.
        length: ``(B, 1, h, w)`` ``log(1 + length_px)``, 0 where unknown.
        offset: ``(B, 2, h, w)`` sub-pixel ``(dx, dy)`` in [0, 1) at peaks.
    """

    objectness: torch.Tensor
    vessel: torch.Tensor
    fishing: torch.Tensor
    length: torch.Tensor
    offset: torch.Tensor

    @classmethod
    def collate(cls, items: Sequence[EncodedTargets]) -> TargetBatch:
        """Stack per-image numpy targets into float32 tensors ``(B, C, h, w)``."""
        if not items:
            raise ValueError("Cannot collate an empty sequence of targets.")
        return cls(
            *(
                torch.from_numpy(np.stack([np.asarray(item[k], np.float32) for item in items]))
                for k in range(len(cls._fields))
            )
        )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> TargetBatch:
        """The same targets on ``device``."""
        return TargetBatch(*(t.to(device, non_blocking=non_blocking) for t in self))


@dataclass(frozen=True)
class LossConfig:
    """Settings of :class:`CircleNetLoss`; defaults are the b4 recipe.

    Attributes:
        variant: One of :data:`LOSS_VARIANTS`.
        focal_alpha: Reduced focal loss exponent on the prediction (2).
        focal_beta: Reduced focal loss exponent of the penalty reduction (4).
        label_smoothing: Smoothing of the vessel/fishing targets: ``s + (1 - 2s) t``.
        entropy_weight: Weight ``w`` of the entropy regularisation of unknown labels
            (0.1 for b4, 0.5 for b5 and the v2s script); 0 disables it.
        length_loss: ``mse`` or ``smooth_l1`` on ``log(1 + length_px)``.
        objectness_weight: Weight of the objectness term in ``total``.
        vessel_weight: Weight of the vessel term.
        fishing_weight: Weight of the fishing term.
        length_weight: Weight of the length term (0.1).
        offset_weight: Weight of the offset term (0.001).
        size_weight_squared: Faithful quirk of the b5 code, which multiplied the length
            loss by the per-sample weight twice (0.25 -> 0.0625 for train.csv crops).
            Off by default; only matters with a ``sample_weight``.
        ignore_index: Target value of ignored pixels.
    """

    variant: str = "trimmed"
    focal_alpha: float = 2.0
    focal_beta: float = 4.0
    label_smoothing: float = 0.05
    entropy_weight: float = 0.1
    length_loss: str = "mse"
    objectness_weight: float = 1.0
    vessel_weight: float = 1.0
    fishing_weight: float = 1.0
    length_weight: float = 0.1
    offset_weight: float = 0.001
    size_weight_squared: bool = False
    ignore_index: int = IGNORE_INDEX

    def __post_init__(self) -> None:
        if self.variant not in LOSS_VARIANTS:
            raise ValueError(f"variant must be one of {LOSS_VARIANTS}, got {self.variant!r}.")
        if self.length_loss not in REGRESSION_LOSSES:
            raise ValueError(
                f"length_loss must be one of {REGRESSION_LOSSES}, got {self.length_loss!r}."
            )
        if not 0.0 <= self.label_smoothing < 0.5:
            raise ValueError(f"label_smoothing must be in [0, 0.5), got {self.label_smoothing}.")
        negative = [
            name
            for name in ("entropy_weight", *(f"{t}_weight" for t in TERM_NAMES))
            if getattr(self, name) < 0
        ]
        if negative:
            raise ValueError(f"Loss weights must be >= 0: {negative}.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> LossConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Raises:
            ValueError: On unknown keys or invalid values.
        """
        return cls(**check_keys(cls, values))

    def to_dict(self) -> dict[str, Any]:
        """Plain-type dictionary."""
        return dataclasses.asdict(self)

    @property
    def term_weights(self) -> dict[str, float]:
        """Weight of each term of ``total``, by :data:`TERM_NAMES`."""
        return {name: getattr(self, f"{name}_weight") for name in TERM_NAMES}


#: The winner's loss configs (``configs/loss/centernet/*.yaml``).
LOSS_PRESETS: dict[str, LossConfig] = {
    # b4 (and the released v2s checkpoints' names)
    "rfl_soft_bce_mse_regularized": LossConfig(variant="trimmed", entropy_weight=0.1),
    # b5
    "circlenet_loss": LossConfig(variant="circlenet", entropy_weight=0.5),
    # v2s training script (facts section 12: conflicts with the checkpoint names)
    "rfl_soft_bce_smooth_l1_regularized": LossConfig(
        variant="trimmed", entropy_weight=0.5, length_loss="smooth_l1", length_weight=1.0
    ),
}


class CircleNetLoss(nn.Module):
    """Weighted sum of objectness, vessel, fishing, length and offset losses.

    Terms (sums over the whole batch; ``w_b`` the optional per-sample weight):

    * ``objectness`` = sum(w_b * reduced focal loss) / N_obj;
    * ``vessel`` = sum(w_b * soft BCE(vessel) * y * [y != ignore]) / N_obj;
    * ``fishing`` = sum(w_b * soft BCE(fishing) * y * [y != ignore]) / N_vsl;
    * ``length`` = sum over peaks with a known length of w_b * loss(log(1 + len_px)),
      divided by their number (``w_b**2`` with ``size_weight_squared``);
    * ``offset`` = sum over peaks of the squared error of (dx, dy) / N_obj (no w_b);
    * ``total`` = the weighted sum of these five.

    The entropy regularisation is already inside ``objectness``, ``vessel`` and
    ``fishing``; the ``entropy`` entry reports its share for logging only and is not
    added to ``total`` again. The b5 code did not weight its entropy means by ``w_b``.

    Args:
        config: Loss settings; a mapping is passed to :meth:`LossConfig.from_dict`.
    """

    def __init__(self, config: LossConfig | Mapping[str, Any] | None = None) -> None:
        super().__init__()
        if config is None:
            config = LossConfig()
        elif not isinstance(config, LossConfig):
            config = LossConfig.from_dict(config)
        self.config = config

    def forward(
        self,
        outputs: CircleNetOutputs,
        targets: TargetBatch | EncodedTargets,
        sample_weight: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Compute the named loss terms.

        Args:
            outputs: Model outputs, maps ``(B, C, h, w)`` at output stride 2.
            targets: Batched targets of the same shapes (see :class:`TargetBatch`).
            sample_weight: Optional ``(B,)`` weight per image (e.g. 0.25 for train.csv
                scenes in the b5 recipe).

        Returns:
            Scalar float32 tensors ``objectness``, ``vessel``, ``fishing``, ``length``,
            ``offset``, ``entropy`` (informational) and ``total``.

        Raises:
            ValueError: If output and target shapes differ.
        """
        cfg = self.config
        if not isinstance(targets, TargetBatch):
            targets = TargetBatch(*(torch.as_tensor(t) for t in targets))
        for name in TERM_NAMES:
            out_shape, tgt_shape = getattr(outputs, name).shape, getattr(targets, name).shape
            if out_shape != tgt_shape:
                raise ValueError(
                    f"Output {name!r} has shape {tuple(out_shape)} but its target has "
                    f"{tuple(tgt_shape)}; targets must be encoded at the model's output stride."
                )
        # Losses in float32 whatever the autocast dtype of the outputs.
        obj_logits, vsl_logits, fsh_logits = (
            outputs.objectness.float(),
            outputs.vessel.float(),
            outputs.fishing.float(),
        )
        y = targets.objectness.float()
        vsl_t, fsh_t = targets.vessel.float(), targets.fishing.float()
        ign = cfg.ignore_index

        ignored_obj = y == ign
        gaussian = torch.where(ignored_obj, torch.zeros_like(y), y)  # classification weight
        peaks = y == 1
        vessel_peaks = peaks & (vsl_t == 1)
        n_obj = peaks.sum().clamp_min(1).float()
        n_vsl = vessel_peaks.sum().clamp_min(1).float()
        if sample_weight is None:
            w = torch.ones((y.shape[0], 1, 1, 1), dtype=torch.float32, device=y.device)
        else:
            w = sample_weight.reshape(-1, 1, 1, 1).float()

        obj_map = reduced_focal_loss_map(obj_logits, y, cfg.focal_alpha, cfg.focal_beta, ign)
        vsl_map = soft_bce_with_logits(vsl_logits, vsl_t, cfg.label_smoothing, ign) * gaussian
        fsh_map = soft_bce_with_logits(fsh_logits, fsh_t, cfg.label_smoothing, ign) * gaussian
        ent_obj, ent_vsl, ent_fsh = self._entropy_terms(
            obj_logits=obj_logits,
            vsl_logits=vsl_logits,
            fsh_logits=fsh_logits,
            ignored_obj=ignored_obj,
            gaussian=gaussian,
            vsl_t=vsl_t,
            fsh_t=fsh_t,
            w=w,
            n_obj=n_obj,
            n_vsl=n_vsl,
        )
        objectness = (w * obj_map).sum() / n_obj + ent_obj
        vessel = (w * vsl_map).sum() / n_obj + ent_vsl
        fishing = (w * fsh_map).sum() / n_vsl + ent_fsh

        len_t = targets.length.float()
        len_mask = peaks & (len_t > 0)
        len_w = w * w if cfg.size_weight_squared else w
        len_map = regression_loss_map(outputs.length.float(), len_t, cfg.length_loss)
        length = (len_w * torch.where(len_mask, len_map, torch.zeros_like(len_map))).sum()
        length = length / len_mask.sum().clamp_min(1).float()

        off_map = (outputs.offset.float() - targets.offset.float()).pow(2).sum(dim=1, keepdim=True)
        offset = torch.where(peaks, off_map, torch.zeros_like(off_map)).sum() / n_obj

        terms = {
            "objectness": objectness,
            "vessel": vessel,
            "fishing": fishing,
            "length": length,
            "offset": offset,
        }
        total = cfg.term_weights[TERM_NAMES[0]] * terms[TERM_NAMES[0]]
        for name in TERM_NAMES[1:]:
            total = total + cfg.term_weights[name] * terms[name]
        return terms | {"entropy": ent_obj + ent_vsl + ent_fsh, "total": total}

    def _entropy_terms(
        self,
        *,
        obj_logits: torch.Tensor,
        vsl_logits: torch.Tensor,
        fsh_logits: torch.Tensor,
        ignored_obj: torch.Tensor,
        gaussian: torch.Tensor,
        vsl_t: torch.Tensor,
        fsh_t: torch.Tensor,
        w: torch.Tensor,
        n_obj: torch.Tensor,
        n_vsl: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Entropy regularisation added to the objectness, vessel and fishing terms."""
        cfg = self.config
        zero = obj_logits.new_zeros(())
        if cfg.entropy_weight == 0:
            return zero, zero.clone(), zero.clone()
        ign = cfg.ignore_index
        unknown_vsl = vsl_t == ign
        h_obj = binary_entropy_with_logits(obj_logits)
        h_vsl = binary_entropy_with_logits(vsl_logits)
        h_fsh = binary_entropy_with_logits(fsh_logits)
        if cfg.variant == "trimmed":
            # Pixel-wise inside the task sums: Gaussian-weighted, same normalisers.
            fsh_mask = (fsh_t == ign) & (vsl_t == 1)
            ent_obj = (w * h_obj * ignored_obj).sum() / n_obj
            ent_vsl = (w * h_vsl * gaussian * unknown_vsl).sum() / n_obj
            ent_fsh = (w * h_fsh * gaussian * fsh_mask).sum() / n_vsl
        else:
            # b5: a plain mean over each mask, unweighted by the Gaussian or sample weight.
            fsh_mask = ((fsh_t == ign) & (vsl_t == 1)) | unknown_vsl

            def masked_mean(h: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
                return (h * mask).sum() / mask.sum().clamp_min(1).float()

            ent_obj = masked_mean(h_obj, ignored_obj)
            ent_vsl = masked_mean(h_vsl, unknown_vsl)
            ent_fsh = masked_mean(h_fsh, fsh_mask)
        weight = cfg.entropy_weight
        return weight * ent_obj, weight * ent_vsl, weight * ent_fsh
