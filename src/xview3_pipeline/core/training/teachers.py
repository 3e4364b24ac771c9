"""Teachers of the label cleaning: fold models whose out-of-fold predictions clean train.csv.

Round ``r`` of the ``label_cleaning`` pipeline trains one teacher per fold on the label
sources of :meth:`LabelCleaningConfig.teacher_sources_of` (round 1: ``teacher_sources``;
later rounds add the previous round's cleaned train labels as ``train_cleaned``), predicts
every ``train`` scene with the teachers that never trained on it
(:func:`out_of_fold_teachers`) and cleans the raw train labels with those predictions
(:func:`xview3_pipeline.core.cleaning.clean_labels`).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pandas as pd

from xview3_pipeline.core.cleaning import CleaningConfig
from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.folds import HOLDOUT_FOLD, TRAIN_CLEANED, FoldConfig

__all__ = [
    "ExamplesConfig",
    "LabelCleaningConfig",
    "merge_overrides",
    "out_of_fold_teachers",
    "scenes_to_clean",
]


def merge_overrides(block: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict:
    """A parameter block with some keys replaced, nested mappings merged key by key.

    Args:
        block: The base block (e.g. ``training``); not modified.
        overrides: Keys to replace (e.g. ``{"trainer": {"max_epochs": 2}}``); ``None`` or
            empty keeps ``block``.

    Returns:
        A deep copy of ``block`` with the overrides applied.
    """
    merged = copy.deepcopy(dict(block))
    for key, value in (overrides or {}).items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_overrides(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _check_weight(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"label_cleaning.{name} must be a finite weight > 0, got {value!r}.")
    return float(value)


@dataclass(frozen=True)
class ExamplesConfig:
    """The PNG example crops of the last round (``label_cleaning.examples``).

    Attributes:
        per_state: Crops centred on each label state (and, with truth, on wrong and
            missing labels).
        crop_size: Side of a crop, pixels (>= 8).
        seed: Random seed of the choice of crops.
    """

    per_state: int = 4
    crop_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        for name, minimum in (("per_state", 0), ("crop_size", 8), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(
                    f"label_cleaning.examples.{name} must be an integer >= {minimum}, "
                    f"got {value!r}."
                )


@dataclass(frozen=True)
class LabelCleaningConfig:
    """The ``label_cleaning`` parameters (``parameters_label_cleaning.yml``).

    Attributes:
        rounds: Rounds of train-teachers → predict → clean (>= 1). Read when the pipelines
            are built (it sets the ``label_cleaning.round_<r>`` namespaces).
        teacher_sources: Label source -> sample weight of the round-1 teachers (keys of
            ``folds.label_sources`` except ``train_cleaned``); ``{"validation": 1.0}``
            trains them on the hand-checked labels only, so every train scene is out of
            fold for every teacher.
        cleaned_weight: Sample weight of the previous round's cleaned train labels
            (``train_cleaned``) for the teachers of rounds 2 and later.
        cleaning: The :class:`~xview3_pipeline.core.cleaning.CleaningConfig` keys.
        teacher_training: Overrides of the ``training`` block for the teachers (e.g.
            ``{"trainer": {"max_epochs": 4}}``), merged key by key.
        examples: The example crops (:class:`ExamplesConfig` keys).
    """

    rounds: int = 1
    teacher_sources: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"validation": 1.0})
    )
    cleaned_weight: float = 0.25
    cleaning: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    teacher_training: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    examples: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if isinstance(self.rounds, bool) or not isinstance(self.rounds, int) or self.rounds < 1:
            raise ValueError(f"label_cleaning.rounds must be an integer >= 1, got {self.rounds!r}.")
        object.__setattr__(
            self, "cleaned_weight", _check_weight("cleaned_weight", self.cleaned_weight)
        )
        for name in ("teacher_sources", "cleaning", "teacher_training", "examples"):
            value = getattr(self, name)
            if value is None:
                value = {}
            if not isinstance(value, Mapping):
                raise ValueError(f"label_cleaning.{name} must be a mapping, got {value!r}.")
            object.__setattr__(self, name, MappingProxyType(dict(value)))
        if TRAIN_CLEANED in self.teacher_sources:
            raise ValueError(
                f"label_cleaning.teacher_sources must not name {TRAIN_CLEANED!r}: the teachers "
                "of rounds 2 and later add the previous round's cleaned labels themselves, at "
                f"label_cleaning.cleaned_weight; got {dict(self.teacher_sources)!r}."
            )
        FoldConfig(label_sources=self.teacher_sources)  # checks the keys and weights
        self.cleaning_config()
        self.examples_config()

    @classmethod
    def from_params(cls, values: Mapping[str, Any] | None) -> LabelCleaningConfig:
        """Build from the ``label_cleaning`` block, rejecting unknown keys.

        Raises:
            ValueError: On an unknown key or an invalid value (named in the message).
        """
        return cls(**check_keys(cls, values, what="label_cleaning"))

    def cleaning_config(self) -> CleaningConfig:
        """The matching thresholds and tolerances (``label_cleaning.cleaning``)."""
        return CleaningConfig.from_params(self.cleaning, what="label_cleaning.cleaning")

    def examples_config(self) -> ExamplesConfig:
        """The example crops' settings (``label_cleaning.examples``)."""
        return ExamplesConfig(
            **check_keys(ExamplesConfig, self.examples, what="label_cleaning.examples")
        )

    def teacher_sources_of(self, round_index: int) -> dict[str, float]:
        """Label sources of the teachers of a round (round >= 2 adds ``train_cleaned``).

        Raises:
            ValueError: If ``round_index`` is not in ``1 .. rounds``, or a later round would
                combine ``train`` with ``train_cleaned``.
        """
        if not 1 <= round_index <= self.rounds:
            raise ValueError(
                f"Round {round_index} is not one of the {self.rounds} label-cleaning round(s)."
            )
        sources = dict(self.teacher_sources)
        if round_index > 1:
            sources[TRAIN_CLEANED] = self.cleaned_weight
        FoldConfig(label_sources=sources)  # refuses train together with train_cleaned
        return sources

    def teacher_folds(self, folds: Mapping[str, Any], round_index: int) -> FoldConfig:
        """The fold parameters of a round's teachers: ``folds`` with their label sources."""
        return FoldConfig.from_dict(
            {**dict(folds), "label_sources": self.teacher_sources_of(round_index)}
        )

    def teacher_training_block(self, training: Mapping[str, Any]) -> dict[str, Any]:
        """The teachers' training block: ``training`` with ``teacher_training`` merged in."""
        return merge_overrides(training, self.teacher_training)


def scenes_to_clean(scene_index: pd.DataFrame, fold_assignments: pd.DataFrame) -> pd.DataFrame:
    """Scene-index rows of the ``train`` scenes outside the holdout (the scenes cleaned).

    Returns:
        The rows, sorted by scene id.
    """
    holdout = set(
        fold_assignments.loc[fold_assignments["fold"] == HOLDOUT_FOLD, "scene_id"].astype(str)
    )
    ids = scene_index["scene_id"].astype(str)
    chosen = (scene_index["split"].astype(str) == "train") & ~ids.isin(holdout)
    return scene_index[chosen].sort_values("scene_id").reset_index(drop=True)


def out_of_fold_teachers(
    fold_assignments: pd.DataFrame, scene_ids: list[str], n_teachers: int
) -> dict[tuple[int, ...], list[str]]:
    """Which teachers may predict each scene: those that never trained on it.

    Teacher ``k`` trained on the fold table's scenes of fold ``!= k`` with a positive
    sample weight. A scene in fold ``j`` is therefore predicted by teacher ``j`` alone; a
    scene the teachers never trained on (not in the table, the holdout, or weight 0) by
    all of them, as an ensemble.

    Args:
        fold_assignments: The teachers' fold table (``scene_id``, ``fold``,
            ``sample_weight``).
        scene_ids: Scenes to predict.
        n_teachers: Number of teachers (fold namespaces); the table's folds must be
            ``0 .. n_teachers - 1``.

    Returns:
        Teacher group (sorted fold numbers) -> its scenes (sorted), groups in sorted order.

    Raises:
        ValueError: If a scene of ``scene_ids`` is in a fold outside ``0 .. n_teachers - 1``.
    """
    folds = fold_assignments.assign(scene_id=fold_assignments["scene_id"].astype(str))
    trained = folds[(folds["fold"] >= 0) & (folds["sample_weight"] > 0)]
    fold_of = dict(zip(trained["scene_id"], trained["fold"].astype(int), strict=True))
    everyone = tuple(range(n_teachers))
    groups: dict[tuple[int, ...], list[str]] = {}
    for scene_id in sorted(map(str, scene_ids)):
        fold = fold_of.get(scene_id)
        if fold is not None and not 0 <= fold < n_teachers:
            raise ValueError(
                f"Scene {scene_id} is in fold {fold} of the teachers' fold table, but there "
                f"are {n_teachers} teachers (folds 0 .. {n_teachers - 1})."
            )
        groups.setdefault(everyone if fold is None else (fold,), []).append(scene_id)
    return dict(sorted(groups.items()))
