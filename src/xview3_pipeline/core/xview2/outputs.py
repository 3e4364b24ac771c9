"""From stored class probabilities to the xView2 deliverables, one pair at a time.

The xView2 pipelines keep every model's probabilities as one partition per pair
(``pair_id -> loader``). This module fits an architecture's class weights on its
out-of-fold partitions (:func:`fit_weights`), turns the test partitions of an ensemble
into lazily computed masks (:func:`ensemble_masks`), and scores, counts and draws the
written submission against the targets (:func:`score_submission`,
:func:`submission_confusion`, :func:`example_images`). Nothing holds more than one pair's
arrays at once, except the polygon layer itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from xview3_pipeline.core.xview2.data import damage_mask_loaders, read_pair
from xview3_pipeline.core.xview2.ensemble import (
    ClassWeightFitConfig,
    combine,
    fit_class_weights,
    masks_from_probabilities,
)
from xview3_pipeline.core.xview2.masks import mask_id
from xview3_pipeline.core.xview2.metric import SCORE_KEYS
from xview3_pipeline.core.xview2.reports import as_mask, confusion_matrix, score_report
from xview3_pipeline.core.xview2.submission import partition_pairs

logger = logging.getLogger(__name__)

#: ``pair_id -> loader`` of one stored array.
Partitions = Mapping[str, Callable[[], Any]]
MaskPair = tuple[NDArray[np.uint8], NDArray[np.uint8]]


def fit_weights(
    oof_probabilities: Partitions,
    target_masks: Partitions,
    pair_index: pd.DataFrame,
    config: ClassWeightFitConfig,
) -> dict[str, Any]:
    """Fit one architecture's per-class weights on its out-of-fold probabilities.

    Args:
        oof_probabilities: ``pair_id -> loader`` of ``(5, H, W)`` out-of-fold probabilities.
        target_masks: The ``xview2_target_masks`` partitions.
        pair_index: One row per pair.
        config: Method, start, iterations and pixel sample of the fit.

    Returns:
        The JSON-ready :class:`~xview3_pipeline.core.xview2.ensemble.ClassWeights` with
        the number of pairs and the mask rule.

    Raises:
        ValueError: If there are no out-of-fold probabilities.
    """
    ids = sorted(oof_probabilities)
    if not ids:
        raise ValueError("No out-of-fold probabilities to fit class weights on.")
    loaders = damage_mask_loaders(target_masks, pair_index[pair_index["pair_id"].isin(ids)])
    probs = (np.asarray(oof_probabilities[i](), dtype=np.float32) for i in ids)
    targets = (np.asarray(loaders[i](), dtype=np.uint8) for i in ids)
    fitted = fit_class_weights(probs, targets, **config.fit_kwargs())
    return {**fitted.to_dict(), "n_pairs": len(ids), "rule": config.rule}


def _ensemble_pair(
    pair_id: str,
    probabilities: Sequence[Partitions],
    weights: Sequence[Sequence[float]],
    rule: str,
) -> MaskPair:
    arrays = [np.asarray(p[pair_id](), dtype=np.float32) for p in probabilities]
    loc, dmg = masks_from_probabilities(combine(arrays, weights), rule=rule)  # type: ignore[arg-type]
    return loc, dmg


def ensemble_masks(
    probabilities: Sequence[Partitions], weights: Sequence[Sequence[float]], rule: str
) -> dict[str, Callable[[], MaskPair]]:
    """``pair_id -> loader`` of the ensemble's (localization, damage) masks.

    Args:
        probabilities: Per architecture, its test probabilities (``pair_id -> loader``).
        weights: Per architecture, its five class weights.
        rule: Mask rule of :func:`~xview3_pipeline.core.xview2.ensemble.masks_from_probabilities`.

    Raises:
        ValueError: If the architectures predicted different pairs, or the counts of
            probability sets and weight sets differ.
    """
    if len(probabilities) != len(weights) or not probabilities:
        raise ValueError(
            f"{len(probabilities)} probability sets but {len(weights)} class-weight sets."
        )
    ids = sorted(probabilities[0])
    for p in probabilities[1:]:
        if sorted(p) != ids:
            raise ValueError(
                "The ensemble's architectures predicted different test pairs; rerun "
                "xview2_inference for all of them."
            )
    return {
        pid: partial(_ensemble_pair, pid, list(probabilities), [list(w) for w in weights], rule)
        for pid in ids
    }


def split_targets(target_masks: Partitions, split: str) -> dict[str, tuple[Any, Any]]:
    """The ``(localization, damage)`` target loaders of one split, keyed like predictions."""
    prefix = f"{split}/"
    return partition_pairs(
        {k: v for k, v in target_masks.items() if k.removesuffix(".png").startswith(prefix)}
    )


def score_submission(
    submission: Partitions, target_masks: Partitions, split: str
) -> dict[str, Any]:
    """The official score of a written submission against the split's targets.

    Args:
        submission: The submission partitions (``<split>/<split>_<kind>_<id>_prediction``).
        target_masks: The ``xview2_target_masks`` partitions.
        split: The predicted split.

    Returns:
        :func:`~xview3_pipeline.core.xview2.reports.score_report` with ``split``; when the
        split has no targets (the real test set), the metric keys are None and
        ``scored`` is false.
    """
    targets = split_targets(target_masks, split)
    if not targets:
        logger.warning("No %s targets: the submission is written but not scored.", split)
        return {"split": split, "scored": False, **dict.fromkeys(SCORE_KEYS)}
    report = score_report(partition_pairs(submission, "prediction"), targets)
    return {"split": split, "scored": True, **report}


def submission_confusion(
    submission: Partitions, target_masks: Partitions, split: str
) -> pd.DataFrame:
    """Pixel confusion (rows target 0..4, columns predicted) summed over the scored pairs.

    The masks are loaders, so :func:`~xview3_pipeline.core.xview2.reports.confusion_matrix`
    reads one pair at a time.
    """
    preds = partition_pairs(submission, "prediction")
    targets = {k: t for k, t in split_targets(target_masks, split).items() if k in preds}
    return confusion_matrix(
        {k: preds[k][1] for k in targets}, {k: t[1] for k, t in targets.items()}
    )


def example_images(
    pairs: pd.DataFrame,
    raw_root: str | Path,
    submission: Partitions,
    target_masks: Partitions,
    *,
    split: str,
    n: int,
    draw: Callable[..., NDArray[np.uint8]],
) -> dict[str, Callable[[], NDArray[np.uint8]]]:
    """``pair_id -> loader`` of side-by-side images of the first ``n`` submitted pairs.

    Args:
        pairs: One row per pair (the pair index).
        raw_root: Root of the xBD layout.
        submission: The written submission partitions.
        target_masks: The ``xview2_target_masks`` partitions (a target panel where the
            pair has a target).
        split: The predicted split.
        n: Number of pairs shown.
        draw: :func:`~xview3_pipeline.core.xview2.reports.side_by_side`.
    """
    preds = partition_pairs(submission, "prediction")
    targets = split_targets(target_masks, split)
    rows = pairs[pairs["split"] == split]
    keys = {str(pid): f"{split}_{mask_id(str(pid))}" for pid in rows["pair_id"]}
    rows = rows[rows["pair_id"].astype(str).map(keys).isin(list(preds))].head(max(0, n))

    def one(row: pd.Series) -> NDArray[np.uint8]:
        key = keys[str(row["pair_id"])]
        pre, post = read_pair(Path(raw_root), row)
        damage = as_mask(preds[key][1], f"{key} damage")
        target = targets.get(key)
        return draw(pre, post, damage, None if target is None else as_mask(target[1], key))

    return {str(row["pair_id"]): partial(one, row) for _, row in rows.iterrows()}
