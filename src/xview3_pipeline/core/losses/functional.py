"""Per-pixel loss maps of CircleNet, computed stably from logits.

Every function returns an unreduced map of the input's shape; the reductions (sums over
the batch divided by object counts) live in :mod:`xview3_pipeline.core.losses.circlenet_loss`.
Ignored pixels (target == ``ignore_index``) contribute exactly 0 and get zero gradient.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from xview3_pipeline.core.types import IGNORE_INDEX

#: Regression losses available for the length term.
REGRESSION_LOSSES = ("mse", "smooth_l1")


def reduced_focal_loss_map(
    logits: torch.Tensor,
    heatmap: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 4.0,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """CenterNet's reduced focal loss per pixel (Law & Deng 2018; Zhou et al. 2019).

    With ``p = sigmoid(logits)`` and ``y = heatmap``::

        y == 1:            -(1 - p)^alpha * log(p)
        y < 1:             -(1 - y)^beta * p^alpha * log(1 - p)
        y == ignore_index: 0

    ``log p`` and ``log(1 - p)`` are ``logsigmoid(logits)`` and ``logsigmoid(-logits)``,
    finite for any logit (no clamping, the winner's ``eps=0``).

    Args:
        logits: ``(B, 1, h, w)`` objectness logits.
        heatmap: ``(B, 1, h, w)`` Gaussian target in [0, 1], peaks exactly 1, or
            ``ignore_index``.
        alpha: Focusing exponent on the prediction.
        beta: Exponent of the penalty reduction around peaks.
        ignore_index: Target value of ignored pixels.

    Returns:
        ``(B, 1, h, w)`` non-negative loss (nats).
    """
    ignored = heatmap == ignore_index
    y = torch.where(ignored, torch.zeros_like(heatmap), heatmap)
    positive = y == 1
    p = torch.sigmoid(logits)
    pos = -torch.pow(1.0 - p, alpha) * F.logsigmoid(logits)
    neg = -torch.pow(1.0 - y, beta) * torch.pow(p, alpha) * F.logsigmoid(-logits)
    loss = torch.where(positive, pos, neg)
    return torch.where(ignored, torch.zeros_like(loss), loss)


def reduced_focal_loss(
    logits: torch.Tensor,
    heatmap: torch.Tensor,
    alpha: float = 2.0,
    beta: float = 4.0,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Reduced focal loss summed over the batch and divided by the number of peaks.

    When the batch has no peak (``num_pos == 0``) the negative sum alone is returned,
    as CenterNet's ``_neg_loss`` does (the count is clamped to 1).

    Args:
        logits: ``(B, 1, h, w)`` objectness logits.
        heatmap: ``(B, 1, h, w)`` target, see :func:`reduced_focal_loss_map`.
        alpha: Focusing exponent on the prediction.
        beta: Exponent of the penalty reduction around peaks.
        ignore_index: Target value of ignored pixels.

    Returns:
        Scalar loss.
    """
    num_pos = (heatmap == 1).sum().clamp_min(1).to(torch.float32)
    return reduced_focal_loss_map(logits, heatmap, alpha, beta, ignore_index).sum() / num_pos


def soft_bce_with_logits(
    logits: torch.Tensor,
    target: torch.Tensor,
    smooth_factor: float = 0.05,
    ignore_index: int = IGNORE_INDEX,
) -> torch.Tensor:
    """Binary cross-entropy against label-smoothed targets, per pixel.

    The soft target is ``smooth_factor + (1 - 2 * smooth_factor) * t`` (0.05 / 0.95 for
    the default), as pytorch-toolbelt's ``SoftBCEWithLogitsLoss``.

    Args:
        logits: ``(B, 1, h, w)`` logits.
        target: ``(B, 1, h, w)`` labels in {0, 1} (or [0, 1]), ``ignore_index`` where
            unknown.
        smooth_factor: Label smoothing in [0, 0.5).
        ignore_index: Target value of ignored pixels.

    Returns:
        ``(B, 1, h, w)`` loss (nats), 0 on ignored pixels.
    """
    ignored = target == ignore_index
    t = torch.where(ignored, torch.zeros_like(target), target)
    soft = smooth_factor + (1.0 - 2.0 * smooth_factor) * t
    loss = F.binary_cross_entropy_with_logits(logits, soft, reduction="none")
    return torch.where(ignored, torch.zeros_like(loss), loss)


def binary_entropy_with_logits(logits: torch.Tensor) -> torch.Tensor:
    """Shannon entropy of ``p = sigmoid(logits)`` per pixel.

    ``H(p) = -[p log p + (1 - p) log(1 - p)]`` in nats: ``log 2`` at ``p = 0.5``, 0 for
    confident predictions. Minimising it pushes predictions on unknown labels to 0 or 1.

    Args:
        logits: Logits of any shape.

    Returns:
        Entropy of the same shape, in [0, log 2].
    """
    p = torch.sigmoid(logits)
    return -(p * F.logsigmoid(logits) + (1.0 - p) * F.logsigmoid(-logits))


def regression_loss_map(
    prediction: torch.Tensor, target: torch.Tensor, kind: str = "mse"
) -> torch.Tensor:
    """Element-wise regression loss.

    Args:
        prediction: Predicted values, any shape.
        target: Targets of the same shape.
        kind: ``mse`` (squared error) or ``smooth_l1`` (Huber with delta 1).

    Returns:
        Loss of the same shape.

    Raises:
        ValueError: For an unknown ``kind``.
    """
    if kind == "mse":
        return F.mse_loss(prediction, target, reduction="none")
    if kind == "smooth_l1":
        return F.smooth_l1_loss(prediction, target, reduction="none")
    raise ValueError(f"Unknown regression loss {kind!r}; expected one of {REGRESSION_LOSSES}.")
