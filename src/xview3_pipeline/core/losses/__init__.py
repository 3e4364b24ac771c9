"""CircleNet losses: a functional core and the weighted multi-term module."""

from xview3_pipeline.core.losses.circlenet_loss import (
    LOSS_PRESETS,
    LOSS_VARIANTS,
    CircleNetLoss,
    LossConfig,
    TargetBatch,
)
from xview3_pipeline.core.losses.functional import (
    binary_entropy_with_logits,
    reduced_focal_loss,
    reduced_focal_loss_map,
    regression_loss_map,
    soft_bce_with_logits,
)

__all__ = [
    "LOSS_PRESETS",
    "LOSS_VARIANTS",
    "CircleNetLoss",
    "LossConfig",
    "TargetBatch",
    "binary_entropy_with_logits",
    "reduced_focal_loss",
    "reduced_focal_loss_map",
    "regression_loss_map",
    "soft_bce_with_logits",
]
