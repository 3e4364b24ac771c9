"""Fold training, fine-tuning and prediction runs of the xView2 models.

What the xView2 pipelines do per architecture and fold, kept out of the Kedro nodes:
which pairs a fold trains and validates on (:func:`fold_pairs`), training one fold model
(:func:`train_fold_model`), fine-tuning it on pseudo-labelled test pairs
(:func:`fine_tune_fold_model`), and predicting its out-of-fold pairs and the test pairs
one pair at a time (:func:`oof_probabilities`, :func:`test_probabilities`), so memory
stays bounded by one pair whatever the number of images.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from PIL import Image
from torch import nn

from xview3_pipeline.core.folds.config import require_columns
from xview3_pipeline.core.training.fit import clear_run
from xview3_pipeline.core.xview2.augmentations import build_xview2_transform
from xview3_pipeline.core.xview2.data import Xview2PairDataset
from xview3_pipeline.core.xview2.inference import Xview2InferenceConfig, predict_probabilities
from xview3_pipeline.core.xview2.models import build_xview2_model, xview2_model_config
from xview3_pipeline.core.xview2.pseudo_labels import (
    PseudoLabelConfig,
    pseudo_label_mask,
    summarize_pseudo_labels,
)
from xview3_pipeline.core.xview2.training import (
    Xview2TrainingConfig,
    train_xview2_model,
    xview2_fingerprint,
)

logger = logging.getLogger(__name__)

#: Loader of one pair's (H, W) uint8 damage mask.
MaskLoader = Callable[[], Any]
#: dtype of stored probabilities (5 × H × W per pair).
PROBABILITY_DTYPE = np.float16


def fold_pairs(
    pair_index: pd.DataFrame, fold_assignments: pd.DataFrame, fold: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pairs a fold trains on and the pairs it validates on.

    Args:
        pair_index: One row per pair (``xview2_pair_index``).
        fold_assignments: One row per image with ``pair_id`` and ``fold``
            (``xview2_fold_assignments``).
        fold: The fold ``k``.

    Returns:
        ``(train, validation)``: pair-index rows of the folded pairs outside fold ``k``
        and in it, in pair-index order.

    Raises:
        ValueError: If the fold table has no pair in fold ``k`` or none outside it.
    """
    require_columns(fold_assignments, "xview2_fold_assignments", ("pair_id", "fold"))
    folds = fold_assignments.drop_duplicates("pair_id").set_index("pair_id")["fold"]
    folded = pair_index[pair_index["pair_id"].isin(folds.index)]
    in_fold = folded["pair_id"].map(folds).astype(int) == int(fold)
    train, val = folded[~in_fold], folded[in_fold]
    if train.empty or val.empty:
        raise ValueError(
            f"xView2 fold {fold} has {len(train)} training and {len(val)} validation pairs; "
            f"the fold table holds folds {sorted(folds.unique().tolist())}. Rerun xview2_folds."
        )
    return train.reset_index(drop=True), val.reset_index(drop=True)


def split_pairs(pair_index: pd.DataFrame, split: str) -> pd.DataFrame:
    """The pair-index rows of one split (e.g. ``test``), in index order."""
    return pair_index[pair_index["split"] == split].reset_index(drop=True)


def _run_name(architecture: str, fold: int, stage: str) -> str:
    return f"xview2/{architecture}/{stage}/fold_{fold}"


def _train(
    model: nn.Module,
    train: Xview2PairDataset,
    val: Xview2PairDataset,
    config: Xview2TrainingConfig,
    *,
    run_name: str,
    fingerprint: str,
) -> tuple[nn.Module, pd.DataFrame]:
    result = train_xview2_model(model, train, val, config, run_name, data_fingerprint=fingerprint)
    trained = result.model
    trained.config = model.config
    logger.info(
        "%s: best val/score %.4f at epoch %d", run_name, result.best_score, result.best_epoch
    )
    return trained, result.history


def train_fold_model(
    pair_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    damage_masks: Mapping[str, MaskLoader],
    raw_root: str | Path,
    *,
    model: Mapping[str, Any] | str,
    training: Mapping[str, Any],
    architecture: str,
    fold: int,
) -> tuple[nn.Module, pd.DataFrame]:
    """Train the model of one architecture on one fold (resuming an interrupted run).

    Args:
        pair_index: One row per pair.
        fold_assignments: The xView2 fold table.
        damage_masks: ``pair_id -> loader`` of the damage targets.
        raw_root: Root of the xBD layout.
        model: The architecture (a preset name or an ``Xview2ModelConfig`` mapping).
        training: Keys of :class:`Xview2TrainingConfig`.
        architecture: Name of the architecture (its work folder).
        fold: The fold ``k``: it validates on fold ``k`` and trains on the others.

    Returns:
        The model of the best validation xView2 score (with its ``config``) and the
        per-epoch history.
    """
    config = Xview2TrainingConfig.from_dict(training)
    train, val = fold_pairs(pair_index, fold_assignments, fold)
    net = build_xview2_model(xview2_model_config(model))
    datasets = _datasets(train, val, damage_masks, raw_root, config)
    fingerprint = xview2_fingerprint(train["pair_id"].tolist(), val["pair_id"].tolist())
    name = _run_name(architecture, fold, "base")
    return _train(net, *datasets, config, run_name=name, fingerprint=fingerprint)


def _datasets(
    train: pd.DataFrame,
    val: pd.DataFrame,
    damage_masks: Mapping[str, MaskLoader],
    raw_root: str | Path,
    config: Xview2TrainingConfig,
) -> tuple[Xview2PairDataset, Xview2PairDataset]:
    data = config.data
    transform = build_xview2_transform(data.augmentations, data.crop_size)
    root = Path(raw_root)
    return (
        Xview2PairDataset(
            train, root, damage_masks, transform, data.crop_size, seed=config.trainer.seed
        ),
        Xview2PairDataset(val, root, damage_masks, None, None),
    )


def fine_tune_fold_model(
    base_model: nn.Module,
    pair_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    damage_masks: Mapping[str, MaskLoader],
    *,
    pseudo_masks: Mapping[str, MaskLoader],
    raw_root: str | Path,
    training: Mapping[str, Any],
    architecture: str,
    fold: int,
) -> tuple[nn.Module, pd.DataFrame]:
    """Fine-tune a fold model on its training pairs plus the pseudo-labelled test pairs.

    The winner fine-tuned every base model for 50 epochs on the train pairs and the test
    pairs labelled by the first-stage ensemble. Pixels the ensemble was unsure of are 255
    in the pseudo masks and ignored by the loss. The fold's validation pairs stay out of
    training, so its out-of-fold predictions remain out of fold.

    Args:
        base_model: The fold's first-stage model (its weights are copied, not changed).
        pair_index: One row per pair.
        fold_assignments: The xView2 fold table.
        damage_masks: ``pair_id -> loader`` of the damage targets.
        pseudo_masks: ``pair_id -> loader`` of the pseudo-label masks of test pairs.
        raw_root: Root of the xBD layout.
        training: Keys of :class:`Xview2TrainingConfig` (the fine-tuning block).
        architecture: Name of the architecture.
        fold: The fold ``k``.

    Returns:
        The fine-tuned model and its history.
    """
    config = Xview2TrainingConfig.from_dict(training)
    train, val = fold_pairs(pair_index, fold_assignments, fold)
    pseudo = pair_index[pair_index["pair_id"].isin(list(pseudo_masks))]
    missing = sorted(set(pseudo_masks) - set(pair_index["pair_id"]))
    if missing:
        raise ValueError(f"Pseudo-label masks of unknown pairs {missing[:5]} (not in the index).")
    masks = {**damage_masks, **pseudo_masks}
    rows = pd.concat([train, pseudo], ignore_index=True)
    net = copy.deepcopy(base_model).train()
    datasets = _datasets(rows, val, masks, raw_root, config)
    fingerprint = xview2_fingerprint(rows["pair_id"].tolist(), val["pair_id"].tolist())
    fingerprint += _masks_digest(pseudo_masks)
    name = _run_name(architecture, fold, "pseudo")
    return _train(net, *datasets, config, run_name=name, fingerprint=fingerprint)


def _masks_digest(masks: Mapping[str, MaskLoader]) -> str:
    """A short hash of the pseudo masks (a resumed run must see the same labels)."""
    digest = hashlib.sha256()
    for pair_id in sorted(masks):
        digest.update(pair_id.encode())
        digest.update(np.ascontiguousarray(np.asarray(masks[pair_id]())).tobytes())
    return digest.hexdigest()[:12]


def _one_pair(
    models: Sequence[nn.Module],
    row: pd.DataFrame,
    raw_root: str | Path,
    inference: Xview2InferenceConfig,
) -> NDArray[np.float16]:
    """Mean probabilities ``(5, H, W)`` of ``models`` on the pair of a one-row frame."""
    item = Xview2PairDataset(row, Path(raw_root), None, None, None)[0]
    h, w = int(item["height"]), int(item["width"])
    image = item["image"][:, :h, :w]
    kwargs = inference.predict_kwargs()
    total = sum(predict_probabilities(model, image, **kwargs) for model in models)
    return (np.asarray(total) / len(models)).astype(PROBABILITY_DTYPE)


def lazy_probabilities(
    models: Sequence[nn.Module],
    rows: pd.DataFrame,
    raw_root: str | Path,
    inference: Xview2InferenceConfig,
) -> dict[str, Callable[[], NDArray[np.float16]]]:
    """``pair_id -> callable`` giving the mean class probabilities of ``models`` on that pair.

    For a Kedro partitioned dataset's lazy save: each pair is predicted (and freed) when
    its partition is written.
    """
    return {
        str(pair_id): partial(_one_pair, models, rows.iloc[[i]], raw_root, inference)
        for i, pair_id in enumerate(rows["pair_id"])
    }


def oof_probabilities(
    fold_models: Sequence[nn.Module],
    pair_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str | Path,
    inference: Xview2InferenceConfig,
) -> dict[str, Callable[[], NDArray[np.float16]]]:
    """Lazy out-of-fold probabilities: each folded pair by the model of its own fold.

    Args:
        fold_models: The models of folds ``0 … K-1``, in order.
        pair_index: One row per pair.
        fold_assignments: The xView2 fold table.
        raw_root: Root of the xBD layout.
        inference: Test-time augmentation and padding.

    Returns:
        ``pair_id -> callable`` of ``(5, H, W)`` float16 probabilities.
    """
    out: dict[str, Callable[[], NDArray[np.float16]]] = {}
    for k, model in enumerate(fold_models):
        _, val = fold_pairs(pair_index, fold_assignments, k)
        out |= lazy_probabilities([model], val, raw_root, inference)
    return out


def _pseudo_mask(
    pair_id: str,
    probabilities: Sequence[Mapping[str, Callable[[], Any]]],
    config: PseudoLabelConfig,
) -> NDArray[np.uint8]:
    mean = np.mean([np.asarray(p[pair_id](), dtype=np.float32) for p in probabilities], axis=0)
    return pseudo_label_mask(mean, config.threshold, min_ratio=config.min_ratio)


def pseudo_label_partitions(
    probabilities: Sequence[Mapping[str, Callable[[], Any]]], config: PseudoLabelConfig
) -> tuple[dict[str, Callable[[], Image.Image]], dict[str, Any]]:
    """Pseudo-label masks of the test pairs from the first-stage ensemble.

    The ensemble is the plain mean of its architectures' fold-mean probabilities (the
    class weights are fitted later, on the final models).

    Args:
        probabilities: Per ensemble architecture, ``pair_id -> loader`` of its first-stage
            test probabilities.
        config: Confidence threshold (and ratio) of a labelled pixel.

    Returns:
        ``pair_id -> lazy PNG`` of the uint8 masks (0..4, 255 where unsure), and a summary:
        ``threshold``, ``min_ratio``, ``pairs`` and the per-label ``labels`` rows of
        :func:`~xview3_pipeline.core.xview2.pseudo_labels.summarize_pseudo_labels`.

    Raises:
        ValueError: If the architectures predicted different pairs, or none.
    """
    ids = sorted(probabilities[0]) if probabilities else []
    if not ids or any(sorted(p) != ids for p in probabilities):
        raise ValueError("The first-stage architectures must predict the same, non-empty pairs.")
    masks = {pid: partial(_pseudo_mask, pid, probabilities, config) for pid in ids}
    summary = summarize_pseudo_labels(masks[pid]() for pid in ids)
    report = {
        "threshold": config.threshold,
        "min_ratio": config.min_ratio,
        "pairs": len(ids),
        "labels": summary.replace({np.nan: None}).to_dict(orient="records"),
    }
    return {pid: partial(_as_image, load) for pid, load in masks.items()}, report


def _as_image(load: Callable[[], NDArray[np.uint8]]) -> Image.Image:
    return Image.fromarray(load())


def clear_fold_run(
    training: Mapping[str, Any], *, architecture: str, fold: int, stage: str = "base"
) -> bool:
    """Remove the work folder of a fold run whose model has been saved.

    Args:
        training: The training block the run was made with.
        architecture: The architecture.
        fold: The fold ``k``.
        stage: ``base`` (first-stage training) or ``pseudo`` (fine-tuning).

    Returns:
        Whether a folder was removed.
    """
    config = Xview2TrainingConfig.from_dict(training)
    return clear_run(config, _run_name(architecture, fold, stage))
