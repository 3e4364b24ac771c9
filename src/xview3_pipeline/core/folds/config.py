"""Parameters of the cross-validation folds and the private holdout (:class:`FoldConfig`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import LABEL_FILES

GroupBy = Literal["scene", "location"]
HoldoutMethod = Literal["first", "random", "most_objects"]

#: Stratification flags and the label column each one reads.
STRATIFY_COLUMNS: Mapping[str, str] = MappingProxyType(
    {"fishing": "is_fishing", "near_shore": "is_near_shore", "vessel": "is_vessel"}
)
#: Named stratifications: ``winner`` is the winning solution's (near-shore only).
STRATIFY_PRESETS: Mapping[str, tuple[str, ...]] = MappingProxyType({"winner": ("near_shore",)})
#: Splits that have label files and can feed training or the holdout.
LABELLED_SPLITS: tuple[str, ...] = tuple(LABEL_FILES)
#: The label source of the cleaned train labels (``train_cleaned_labels``, written by the
#: ``label_cleaning`` pipeline): the ``train`` scenes, folded as ``train``.
TRAIN_CLEANED: str = "train_cleaned"
#: Label sources of ``label_sources`` that are not a split, and the split of their scenes.
DERIVED_SOURCES: Mapping[str, str] = MappingProxyType({TRAIN_CLEANED: "train"})
#: Every accepted key of ``label_sources``.
LABEL_SOURCES: tuple[str, ...] = (*LABELLED_SPLITS, *DERIVED_SOURCES)
#: Fold number of the private holdout.
HOLDOUT_FOLD: int = -1

FOLD_COLUMNS: tuple[str, ...] = (
    "scene_id",
    "split",
    "location_id",
    "fold",
    "sample_weight",
    "role",
)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"FoldConfig.{name} must be one of {list(allowed)}, got {value!r}.")


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"FoldConfig.{name} must be an integer >= {minimum}, got {value!r}.")


@dataclass(frozen=True)
class FoldConfig:
    """Parameters of the fold split and the private holdout.

    Attributes:
        n_folds: Number of CV folds (>= 2).
        seed: Random seed of ``StratifiedGroupKFold`` and of ``holdout_method="random"``.
        group_by: ``"scene"`` (the winner's leaky folds) or ``"location"`` (leak-free).
        stratify_by: Flags combined into the stratification class, from ``"fishing"``,
            ``"near_shore"``, ``"vessel"``, or the name of a preset
            (:data:`STRATIFY_PRESETS`): ``"winner"`` (the same as ``("near_shore",)``)
            reproduces the winner's validation folds; empty means group k-fold without
            stratification.
        label_sources: Label source -> sample weight (> 0) of its objects in training.
            A source is a labelled split, or ``train_cleaned``: the ``train`` scenes with
            the cleaned labels of the ``label_cleaning`` pipeline, folded as ``train``
            (not together with ``train``). ``{"validation": 1.0}`` is the winner's
            default, ``{"validation": 1.0, "train": 0.25}`` the b5 recipe.
        holdout_split: Split the holdout scenes are drawn from.
        holdout_per_location: Holdout scenes per location (fewer if it has fewer).
        holdout_method: ``"first"`` (smallest scene ids, as the winner), ``"random"``
            (seeded) or ``"most_objects"`` (most labelled objects, ties by scene id).
        holdout_enabled: If False, no holdout is taken.
    """

    n_folds: int = 4
    seed: int = 42
    group_by: GroupBy = "scene"
    stratify_by: tuple[str, ...] = ("fishing", "near_shore")
    label_sources: Mapping[str, float] = field(
        default_factory=lambda: MappingProxyType({"validation": 1.0})
    )
    holdout_split: str = "train"
    holdout_per_location: int = 1
    holdout_method: HoldoutMethod = "first"
    holdout_enabled: bool = True

    def __post_init__(self) -> None:
        _check_int("n_folds", self.n_folds, 2)
        _check_int("seed", self.seed, 0)
        _check_choice("group_by", self.group_by, get_args(GroupBy))
        given: object = self.stratify_by  # the configuration may name a preset instead
        if isinstance(given, str):
            if given not in STRATIFY_PRESETS:
                raise ValueError(
                    f"FoldConfig.stratify_by must be a list of flags from "
                    f"{list(STRATIFY_COLUMNS)} or one of {list(STRATIFY_PRESETS)}, got the "
                    f"string {given!r}; write e.g. [{given!r}]."
                )
            object.__setattr__(self, "stratify_by", STRATIFY_PRESETS[given])
        stratify_by = tuple(self.stratify_by)
        for flag in stratify_by:
            _check_choice("stratify_by item", flag, tuple(STRATIFY_COLUMNS))
        if len(set(stratify_by)) != len(stratify_by):
            raise ValueError(f"FoldConfig.stratify_by has duplicates: {list(stratify_by)}.")
        object.__setattr__(self, "stratify_by", stratify_by)

        if not isinstance(self.label_sources, Mapping) or not self.label_sources:
            raise ValueError(
                "FoldConfig.label_sources must be a non-empty mapping split -> sample weight, "
                f"e.g. {{'validation': 1.0}}; got {self.label_sources!r}."
            )
        sources: dict[str, float] = {}
        for split, weight in self.label_sources.items():
            _check_choice("label_sources key", split, LABEL_SOURCES)
            if (
                isinstance(weight, bool)
                or not isinstance(weight, int | float)
                or not math.isfinite(weight)
                or weight <= 0
            ):
                raise ValueError(
                    f"FoldConfig.label_sources[{split!r}] must be a finite weight > 0, "
                    f"got {weight!r}."
                )
            sources[split] = float(weight)
        for derived, split in DERIVED_SOURCES.items():
            if derived in sources and split in sources:
                raise ValueError(
                    f"FoldConfig.label_sources has both {split!r} and {derived!r}, which are "
                    f"the same {split!r} scenes with raw and cleaned labels; keep one of them "
                    f"(got {sources!r})."
                )
        object.__setattr__(self, "label_sources", MappingProxyType(sources))

        _check_choice("holdout_split", self.holdout_split, LABELLED_SPLITS)
        _check_int("holdout_per_location", self.holdout_per_location, 1)
        _check_choice("holdout_method", self.holdout_method, get_args(HoldoutMethod))
        if not isinstance(self.holdout_enabled, bool):
            raise ValueError(
                f"FoldConfig.holdout_enabled must be a bool, got {self.holdout_enabled!r}."
            )

    @property
    def cleaned_train(self) -> bool:
        """Whether the ``train`` scenes train on the cleaned labels (``train_cleaned``)."""
        return TRAIN_CLEANED in self.label_sources

    def __hash__(self) -> int:
        return hash(
            tuple(
                tuple(sorted(v.items())) if isinstance(v, Mapping) else v
                for v in (getattr(self, f.name) for f in dataclasses.fields(self))
            )
        )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> FoldConfig:
        """Build a config from a parameters mapping (e.g. Kedro ``params:folds``).

        Args:
            d: Keys are field names; missing keys take their defaults; lists are accepted
                for ``stratify_by``. ``None`` means all defaults.

        Returns:
            The validated config.

        Raises:
            ValueError: On unknown keys (the message lists the valid ones) or invalid values.
        """
        return cls(**check_keys(cls, d, what="fold parameter"))


def source_split(source: str) -> str:
    """The split whose scenes a label source holds (``train`` for ``train_cleaned``)."""
    return DERIVED_SOURCES.get(source, source)


def require_columns(df: pd.DataFrame, name: str, columns: tuple[str, ...]) -> None:
    """Raise a ``ValueError`` naming the table and its columns if ``columns`` are missing."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; it has {list(df.columns)}.")
