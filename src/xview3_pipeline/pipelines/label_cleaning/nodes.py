"""Nodes of the ``label_cleaning`` pipeline: teachers' folds, out-of-fold detection, cleaning.

The teachers themselves are trained by the ``training`` fold template
(:func:`xview3_pipeline.pipelines.training.pipeline.fold_template`); their detection
reuses the evaluation's jobs (:func:`xview3_pipeline.pipelines.evaluation.nodes.
scene_jobs`: one lazy job per scene, run and resumed by the
:class:`~xview3_pipeline.datasets.CandidateSetDataset` with the run's ``executor``).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from torch import nn

from xview3_pipeline.core.cleaning import (
    clean_labels,
    cleaning_report,
    scene_cleaning_examples,
    training_labels,
)
from xview3_pipeline.core.detection import CnnDetector
from xview3_pipeline.core.detection.cnn import InferenceConfig, build_ensemble
from xview3_pipeline.core.detection.scene_sets import concat_partitions
from xview3_pipeline.core.folds import assign_folds
from xview3_pipeline.core.parallel import ExecutorConfig
from xview3_pipeline.core.training.teachers import (
    LabelCleaningConfig,
    out_of_fold_teachers,
    scenes_to_clean,
)
from xview3_pipeline.datasets import CandidateJobs, CandidateSet, SceneJob
from xview3_pipeline.datasets.candidate_sets import check_scene_error_policy
from xview3_pipeline.pipelines.evaluation.nodes import index_scenes, scene_jobs

logger = logging.getLogger(__name__)

#: Keyword of the fold-``k`` teacher of :func:`detect_train_scenes` (``teacher_<k>``).
TEACHER = "teacher_"


def teacher_fold_assignments(
    labels: pd.DataFrame,
    scene_locations: pd.DataFrame,
    folds: dict[str, Any],
    parameters: dict[str, Any],
    *,
    round_index: int,
    rounds: int,
) -> pd.DataFrame:
    """The fold table of a round's teachers: ``folds`` with the teachers' label sources.

    Args:
        labels: Validated labels (stratification of the folds).
        scene_locations: Scene -> location table.
        folds: The ``folds`` block (``n_folds``, grouping, holdout).
        parameters: The ``label_cleaning`` block.
        round_index: The round (bound when the pipeline is built).
        rounds: The number of rounds the pipeline was built with.

    Returns:
        The fold table (:func:`~xview3_pipeline.core.folds.assign_folds`); round 1 folds
        ``teacher_sources``, later rounds add the ``train`` scenes as ``train_cleaned``.

    Raises:
        ValueError: If ``label_cleaning.rounds`` of the run is not ``rounds`` (it is read
            when the pipelines are built: set it in conf/ or with ``kedro run --params``).
    """
    config = LabelCleaningConfig.from_params(parameters)
    if config.rounds != rounds:
        raise ValueError(
            f"label_cleaning.rounds is {config.rounds} in this run's parameters, but the "
            f"pipelines were built with {rounds} round(s). The rounds are built from the "
            "configuration before parameters reach the nodes: set label_cleaning.rounds in "
            "conf/ (base, local or the run's --env) or with `kedro run --params`."
        )
    return assign_folds(labels, scene_locations, config.teacher_folds(folds, round_index))


def detect_train_scenes(
    *,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    raw_root: str,
    inference: dict[str, Any],
    detection: dict[str, Any],
    executor: str | None = None,
    dask: dict[str, Any] | None = None,
    **teachers: nn.Module,
) -> CandidateJobs:
    """Candidates of the train scenes, each from the teachers that never trained on it.

    A scene in fold ``j`` of the teachers' table is detected by teacher ``j``; a scene no
    teacher trained on (round 1 with validation-only teachers: every train scene) by the
    ensemble of all teachers (:func:`~xview3_pipeline.core.training.teachers.
    out_of_fold_teachers`), with the ``inference`` block's tiling and TTA.

    Args:
        scene_index: The scene index.
        fold_assignments: The teachers' fold table (its holdout is not cleaned).
        raw_root: Root of the xView3 layout.
        inference: The ``inference`` block.
        detection: The ``detection`` block (``on_scene_error``).
        executor: ``local`` or ``dask``.
        dask: The ``dask`` block.
        **teachers: The round's fold models, ``teacher_<k>`` for fold ``k``.

    Returns:
        Lazy per-scene jobs (one detector fingerprint per teacher group) for
        ``label_cleaning.round_<r>.train_candidates``.
    """
    config = InferenceConfig.from_dict(inference)
    policy = check_scene_error_policy(str(detection.get("on_scene_error", "continue")))
    models = [teachers[f"{TEACHER}{k}"] for k in range(len(teachers))]
    rows = scenes_to_clean(scene_index, fold_assignments)
    groups = out_of_fold_teachers(fold_assignments, list(rows["scene_id"]), len(models))
    jobs: list[SceneJob] = []
    for group, scene_ids in groups.items():
        detector = CnnDetector(build_ensemble([models[k] for k in group], config), config)
        chosen = rows[rows["scene_id"].astype(str).isin(scene_ids)]
        jobs += scene_jobs(detector, index_scenes(chosen, raw_root), on_scene_error=policy).jobs
        logger.info("%d train scene(s) detected by teacher(s) %s.", len(scene_ids), list(group))
    return CandidateJobs(
        tuple(jobs),
        on_scene_error=policy,
        detector="cnn",
        executor=ExecutorConfig.from_params(executor, dask),
    )


def clean_train_labels(
    labels: pd.DataFrame,
    train_candidates: CandidateSet,
    scene_index: pd.DataFrame,
    fold_assignments: pd.DataFrame,
    parameters: dict[str, Any],
    *,
    round_index: int,
) -> pd.DataFrame:
    """Match the train scenes' out-of-fold candidates to their raw labels.

    Every round cleans the raw labels (``labels``) anew, with its own teachers'
    candidates. Scenes whose detection failed are left out (logged by the candidate set).

    Args:
        labels: Validated labels (all splits; the train scenes' rows are cleaned).
        train_candidates: ``label_cleaning.round_<r>.train_candidates``.
        scene_index: The scene index (which scenes are ``train``).
        fold_assignments: The teachers' fold table (its holdout is not cleaned).
        parameters: The ``label_cleaning`` block (``cleaning``).
        round_index: The round (bound when the pipeline is built).

    Returns:
        The cleaned table of :func:`~xview3_pipeline.core.cleaning.clean_labels`
        (``label_cleaning.round_<r>.cleaned_labels``).

    Raises:
        IncompleteCandidateSetError: If a train scene has no candidates and did not fail.
    """
    config = LabelCleaningConfig.from_params(parameters).cleaning_config()
    ids = list(scenes_to_clean(scene_index, fold_assignments)["scene_id"].astype(str))
    train_candidates.require(ids, what="train candidates (label cleaning)")
    done = sorted(set(ids) & set(train_candidates))
    candidates = concat_partitions({s: train_candidates[s] for s in done})
    rows = labels[labels["scene_id"].astype(str).isin(done)]
    cleaned = clean_labels(
        rows,
        candidates,
        config,
        round_index=round_index,
        scene_splits=dict.fromkeys(done, "train"),
    )
    states = cleaned["label_state"].value_counts().to_dict()
    logger.info("Round %d cleaned %d train scene(s): %s.", round_index, len(done), states)
    return cleaned


def cleaned_training_labels(cleaned_labels: pd.DataFrame) -> pd.DataFrame:
    """The cleaned table as labels to train on (with ``ignore``; see ``training_labels``)."""
    return training_labels(cleaned_labels)


def report_cleaning(
    truth: pd.DataFrame, labels: pd.DataFrame, parameters: dict[str, Any], *rounds: pd.DataFrame
) -> pd.DataFrame:
    """Precision and recall of every round's cleaning against the synthetic train truth.

    Args:
        truth: ``synthetic_train_truth`` (empty on real data: the report is empty).
        labels: Validated labels (the raw rows of the cleaned scenes are compared).
        parameters: The ``label_cleaning`` block (its ``cleaning`` tolerances).
        *rounds: ``label_cleaning.round_<r>.cleaned_labels``, in round order.

    Returns:
        One row per round and measure (:func:`~xview3_pipeline.core.cleaning.
        cleaning_report`), ``label_cleaning_report``.
    """
    config = LabelCleaningConfig.from_params(parameters).cleaning_config()
    cleaned = pd.concat(rounds, ignore_index=True)
    scenes = set(cleaned["scene_id"].astype(str))
    cleaned_rows = labels[labels["scene_id"].astype(str).isin(scenes)]
    return cleaning_report(cleaned, truth, cleaned_rows, config=config)


def draw_cleaning_examples(
    cleaned_labels: pd.DataFrame,
    truth: pd.DataFrame,
    scene_index: pd.DataFrame,
    raw_root: str,
    parameters: dict[str, Any],
) -> dict[str, Figure]:
    """PNG crops of the last round's label states (and the truth, on synthetic data).

    Args:
        cleaned_labels: The last round's ``cleaned_labels``.
        truth: ``synthetic_train_truth`` (empty: no truth markers).
        scene_index: The scene index (windowed reads of VV).
        raw_root: Root of the xView3 layout.
        parameters: The ``label_cleaning`` block (``examples``, ``cleaning``).

    Returns:
        ``example -> figure`` for ``label_cleaning_examples``.
    """
    config = LabelCleaningConfig.from_params(parameters)
    examples = config.examples_config()
    return scene_cleaning_examples(
        cleaned_labels,
        truth if len(truth) else None,
        scene_index,
        raw_root,
        per_state=examples.per_state,
        crop_size=examples.crop_size,
        seed=examples.seed,
        config=config.cleaning_config(),
    )
