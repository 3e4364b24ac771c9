"""The winner's damage segmentation loss: class-weighted cross-entropy.

The write-up: "cross-entropy loss with experimentally tuned class weights worked the best
[...] 1.0 to 'not building' and 'no damage' classes and 3.0 to 'minor', 'major' and
'destroyed'" (``weighted_ce`` in its ``xview/losses.py``). Pixels equal to
``ignore_index`` (255: padding, unknown pixels, pairs without targets) count for nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import torch
from torch import nn
from torch.nn import functional as F

from xview3_pipeline.core.types import IGNORE_INDEX

__all__ = ["WINNER_CLASS_WEIGHTS", "WeightedCrossEntropy"]

#: Weights of classes 0 (no building), 1 (no damage), 2 (minor), 3 (major), 4 (destroyed).
WINNER_CLASS_WEIGHTS: Final[tuple[float, ...]] = (1.0, 1.0, 3.0, 3.0, 3.0)


class WeightedCrossEntropy(nn.Module):
    """Cross-entropy over classes with per-class weights, mean over the kept pixels.

    ``loss = sum_i w[y_i] * CE_i / sum_i w[y_i]`` over pixels with ``y_i != ignore_index``
    (``torch.nn.functional.cross_entropy`` with ``weight``, computed in float32); 0 (with
    a gradient of 0) when no pixel is kept, where the weighted mean would be 0/0.

    Args:
        weights: One non-negative finite weight per class, not all 0.
        ignore_index: Target value of ignored pixels.

    Raises:
        ValueError: Empty, negative, non-finite or all-zero weights.
    """

    weight: torch.Tensor

    def __init__(
        self, weights: Sequence[float] = WINNER_CLASS_WEIGHTS, ignore_index: int = IGNORE_INDEX
    ) -> None:
        super().__init__()
        values = torch.as_tensor([float(w) for w in weights], dtype=torch.float32)
        if values.numel() == 0:
            raise ValueError("weights must hold one weight per class, got none.")
        if not torch.isfinite(values).all() or (values < 0).any() or not (values > 0).any():
            raise ValueError(
                f"weights must be finite, non-negative and not all 0, got {list(weights)}."
            )
        self.register_buffer("weight", values)
        self.ignore_index = int(ignore_index)

    @property
    def classes(self) -> int:
        """Number of classes (length of the weights)."""
        return int(self.weight.numel())

    def extra_repr(self) -> str:
        """The weights and the ignore index, for ``repr``."""
        return f"weights={self.weight.tolist()}, ignore_index={self.ignore_index}"

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss of a batch.

        Args:
            logits: ``(B, C, H, W)`` float, ``C`` = the number of weights.
            target: ``(B, H, W)`` integer class indices in ``[0, C)`` or ``ignore_index``.

        Returns:
            Scalar tensor.

        Raises:
            ValueError: Shapes that disagree, a class count other than the weights', or a
                floating-point target.
        """
        if logits.ndim != 4:
            raise ValueError(f"logits must be (B, C, H, W), got shape {tuple(logits.shape)}.")
        if logits.shape[1] != self.classes:
            raise ValueError(
                f"logits have {logits.shape[1]} classes but there are {self.classes} weights."
            )
        if target.shape != (logits.shape[0], *logits.shape[2:]):
            raise ValueError(
                f"target shape {tuple(target.shape)} does not match logits "
                f"{tuple(logits.shape)}: expected (B, H, W)."
            )
        if target.dtype.is_floating_point or target.dtype == torch.bool:
            raise ValueError(f"target must hold integer class indices, got {target.dtype}.")
        target = target.long()
        logits = logits.float()
        weight = self.weight.to(logits.device)
        per_pixel = F.cross_entropy(
            logits, target, weight=weight, ignore_index=self.ignore_index, reduction="none"
        )
        kept = target != self.ignore_index
        pixel_weight = weight[torch.where(kept, target, 0)] * kept
        # The weighted mean of F.cross_entropy, without a host sync; 0 where nothing is kept.
        return per_pixel.sum() / pixel_weight.sum().clamp_min(torch.finfo(torch.float32).tiny)
