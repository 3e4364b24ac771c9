"""Pseudo-label damage masks of unlabelled pairs from ensemble probabilities.

The winner's pseudo-labelling (BloodAxe/xView2-Solution, write-up and ``train.sh``): once
the ensemble scored 0.801 on the public leaderboard, it predicted the test pairs, and some
models were fine-tuned for 50 more epochs on the training pairs plus the pseudo-labelled
test pairs (``-pl stage1_predictions_pseudolabeling``), which raised the score to 0.803.
Pixels where the ensemble was unsure were left unlabelled and ignored by the loss. Its
offline masks (``make_pseudolabeling_target`` in ``xview/postprocessing.py``) keep the
argmax where the top probability is more than 1.5 times the second one; its online
callback (``CEOnlinePseudolabelingCallback2d`` in ``xview/pseudo.py``) keeps it where the
top probability exceeds 0.9.

:func:`pseudo_label_mask` keeps the argmax class where the top probability is at least
``threshold`` (and, when ``min_ratio`` is set, more than ``min_ratio`` times the second
one: the winner's offline rule is ``threshold=0, min_ratio=1.5``); other pixels get 255,
the ``ignore_index`` of the training loss. The masks feed ``Xview2PairDataset`` as the
damage targets of the test pairs. :func:`summarize_pseudo_labels` reports the share of
pixels given each label.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.xview2.inference import N_CLASSES
from xview3_pipeline.core.xview2.metric import DAMAGE_CLASSES

logger = logging.getLogger(__name__)

__all__ = [
    "IGNORE_INDEX",
    "PSEUDO_LABEL_NAMES",
    "PseudoLabelConfig",
    "pseudo_label_mask",
    "pseudo_label_masks",
    "summarize_pseudo_labels",
]

#: Label of the pixels left unlabelled (the loss's ``ignore_index``).
IGNORE_INDEX: Final = 255
#: Names of the labels of a pseudo-label mask, by value.
PSEUDO_LABEL_NAMES: Final[dict[int, str]] = {
    0: "no_building",
    **{value: name for value, name in enumerate(DAMAGE_CLASSES, start=1)},
    IGNORE_INDEX: "ignore",
}


@dataclass(frozen=True)
class PseudoLabelConfig:
    """Parameters of the pseudo-labels (``xview2.pseudo_labels`` in the parameters).

    Attributes:
        threshold: Minimum top probability of a labelled pixel, in [0, 1].
        min_ratio: When set (> 1), the top probability must also exceed ``min_ratio``
            times the second one (the winner's offline rule: 1.5).
    """

    threshold: float = 0.9
    min_ratio: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.threshold) <= 1.0:
            raise ValueError(
                f"PseudoLabelConfig.threshold must lie in [0, 1], got {self.threshold!r}."
            )
        if self.min_ratio is not None and not (
            np.isfinite(self.min_ratio) and self.min_ratio >= 1.0
        ):
            raise ValueError(
                f"PseudoLabelConfig.min_ratio must be None or a number >= 1, got "
                f"{self.min_ratio!r}."
            )

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> PseudoLabelConfig:
        """Build from a parameters mapping (unknown keys are refused, naming them)."""
        data = check_keys(cls, values)
        if data.get("min_ratio") is not None:
            data["min_ratio"] = float(data["min_ratio"])
        if "threshold" in data:
            data["threshold"] = float(data["threshold"])
        return cls(**data)


def pseudo_label_mask(
    probs: NDArray[np.floating],
    threshold: float = 0.9,
    *,
    min_ratio: float | None = None,
) -> NDArray[np.uint8]:
    """The pseudo-label damage mask of one pair.

    Args:
        probs: Ensemble probabilities ``(5, H, W)`` (class-weighted ones work too: only
            their order and ratios matter, and ``threshold`` applies to the values).
        threshold: A pixel is labelled when its top probability is >= ``threshold``.
        min_ratio: If set, the top probability must also be > ``min_ratio`` times the
            second one.

    Returns:
        ``(H, W)`` uint8: the argmax class 0..4 where confident, 255 elsewhere.

    Raises:
        ValueError: ``probs`` is not a finite ``(5, H, W)`` array, or a bad threshold.
    """
    config = PseudoLabelConfig(threshold=threshold, min_ratio=min_ratio)
    arr = np.asarray(probs, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] != N_CLASSES:
        raise ValueError(f"Probabilities must be ({N_CLASSES}, H, W), got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError("Probabilities hold NaN or infinite values.")
    label = arr.argmax(axis=0)
    top = np.take_along_axis(arr, label[None], axis=0)[0]
    confident = top >= np.float32(config.threshold)
    if config.min_ratio is not None:
        second = np.partition(arr, N_CLASSES - 2, axis=0)[N_CLASSES - 2]
        confident &= top > config.min_ratio * second
    return np.where(confident, label, IGNORE_INDEX).astype(np.uint8)


def pseudo_label_masks(
    probabilities: Iterable[tuple[str, NDArray[np.floating]]],
    config: PseudoLabelConfig | None = None,
) -> Iterator[tuple[str, NDArray[np.uint8]]]:
    """Pseudo-label masks of many pairs, one at a time.

    Args:
        probabilities: ``(pair_id, probabilities (5, H, W))`` pairs.
        config: Threshold and ratio (default :class:`PseudoLabelConfig`).

    Yields:
        ``(pair_id, mask (H, W) uint8)``.
    """
    config = config or PseudoLabelConfig()
    for pair_id, probs in probabilities:
        try:
            mask = pseudo_label_mask(probs, config.threshold, min_ratio=config.min_ratio)
        except ValueError as exc:
            raise ValueError(f"Pair {pair_id}: {exc}") from exc
        yield pair_id, mask


def summarize_pseudo_labels(masks: Iterable[NDArray[np.integer]]) -> pd.DataFrame:
    """Share of pixels given each label, over all masks.

    Args:
        masks: Pseudo-label masks ``(H, W)`` with values 0..4 and 255, read one at a time.

    Returns:
        One row per label 0..4 and 255, columns ``label`` (int), ``name``, ``pixels``
        (int) and ``share`` (of all pixels; the shares sum to 1), and ``share_labelled``
        (of the labelled pixels; NaN for 255 or when nothing is labelled).

    Raises:
        ValueError: A mask holds another value (names the mask index), or no pixels.
    """
    counts = np.zeros(IGNORE_INDEX + 1, dtype=np.int64)
    for index, mask in enumerate(masks):
        arr = np.asarray(mask)
        if not np.issubdtype(arr.dtype, np.integer) or arr.ndim != 2:
            raise ValueError(f"Mask {index}: expected an (H, W) integer mask, got {arr.shape}.")
        values = arr.reshape(-1).astype(np.int64)
        bad = ~np.isin(values, list(PSEUDO_LABEL_NAMES))
        if bad.any():
            raise ValueError(
                f"Mask {index}: values must be 0..{N_CLASSES - 1} or {IGNORE_INDEX}, found "
                f"{np.unique(values[bad])[:10].tolist()}."
            )
        counts += np.bincount(values, minlength=IGNORE_INDEX + 1)
    total = int(counts.sum())
    if total == 0:
        raise ValueError("No pseudo-label pixels to summarize.")
    labels = list(PSEUDO_LABEL_NAMES)
    pixels = counts[labels]
    labelled = int(total - counts[IGNORE_INDEX])
    share_labelled = [
        (int(n) / labelled if labelled and label != IGNORE_INDEX else float("nan"))
        for label, n in zip(labels, pixels, strict=True)
    ]
    frame = pd.DataFrame(
        {
            "label": labels,
            "name": [PSEUDO_LABEL_NAMES[label] for label in labels],
            "pixels": pixels.astype(np.int64),
            "share": pixels / total,
            "share_labelled": share_labelled,
        }
    )
    logger.info("Pseudo-labels: %.1f%% of %d pixels labelled.", 100.0 * labelled / total, total)
    return frame
