"""Cross-validation folds of xView2 image pairs, and their balance report.

The winner (``make_folds.py`` of BloodAxe/xView2-Solution) splits the post images with
``MultilabelStratifiedKFold(5, shuffle=True, random_state=42)`` from the
``iterative-stratification`` package. The multilabel target of an image is the presence
of each damage class (``un-classified`` counted as ``no-damage``) plus the one-hot event
(disaster) name; each pre image inherits the fold of its post image. ``group_by="image"``
reproduces that. Pairs of one event look alike (same place, date and sensor), so those
folds leak; ``group_by="event"`` gives leak-free folds where every event lies in exactly
one fold.

The event grouping uses scikit-learn's ``StratifiedGroupKFold`` rather than
``GroupKFold``. ``GroupKFold`` balances only the number of pairs per fold, whereas
``StratifiedGroupKFold`` also balances the damage classes. It runs over one row per
(pair, damage class present in the pair), plus one ``no building`` row for a pair without
buildings, with the event as the group. Its folds thus balance the same quantity as the
image grouping: the number of pairs showing each class. Like every ``shuffle=True``
``StratifiedGroupKFold``, it only shuffles the order of events whose class spreads tie, so
different seeds often give the same event folds.

All pairs of the splits in :attr:`Xview2FoldConfig.splits` are folded together (by
default only ``train``; ``hold`` and ``test`` get folds only when asked). Folding them
together keeps an event of two splits in one fold under the event grouping.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import numpy as np
import pandas as pd
from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
from matplotlib.figure import Figure
from sklearn.model_selection import StratifiedGroupKFold

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.folds.config import require_columns
from xview3_pipeline.core.xview2.metric import DAMAGE_CLASSES
from xview3_pipeline.core.xview2.synthetic.xbd import XVIEW2_SPLITS

logger = logging.getLogger(__name__)

Xview2GroupBy = Literal["image", "event"]

#: Columns of the pair index (one row per pre/post pair) that the folds read.
PAIR_INDEX_COLUMNS: Final[tuple[str, ...]] = (
    "pair_id",
    "split",
    "disaster",
    "pre_image",
    "post_image",
    "n_buildings",
    *(f"n_{name}" for name in DAMAGE_CLASSES),
    "n_un_classified",
)
#: Columns of :func:`assign_folds`' table (one row per image).
ASSIGNMENT_COLUMNS: Final[tuple[str, ...]] = (
    "image",
    "pair_id",
    "split",
    "disaster",
    "kind",
    "fold",
)
#: Count columns of :func:`fold_balance`, after ``fold``.
BALANCE_COLUMNS: Final[tuple[str, ...]] = (
    "pairs",
    "images",
    "events",
    "buildings",
    *(f"images_with_{name}" for name in DAMAGE_CLASSES),
)


@dataclass(frozen=True)
class Xview2FoldConfig:
    """Parameters of the xView2 folds (``xview2.folds`` in ``parameters_xview2.yml``).

    Attributes:
        n_folds: Number of folds (>= 2); the winner's is 5.
        seed: Random seed of the splitter (>= 0).
        shuffle: Shuffle before splitting (the winner: True). The multilabel splitter
            breaks ties with the seed even without shuffling, so the folds are
            reproducible either way.
        group_by: ``"image"`` (the winner's multilabel stratification over pairs) or
            ``"event"`` (leak-free: every event in exactly one fold).
        splits: Splits of the pair index that get folds, from ``train``, ``hold``,
            ``test``; their pairs are folded together. Other pairs get no fold.
    """

    n_folds: int = 5
    seed: int = 42
    shuffle: bool = True
    group_by: Xview2GroupBy = "image"
    splits: tuple[str, ...] = ("train",)

    def __post_init__(self) -> None:
        for name, minimum in (("n_folds", 2), ("seed", 0)):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | np.integer)
                or value < minimum
            ):
                raise ValueError(
                    f"Xview2FoldConfig.{name} must be an integer >= {minimum}, got {value!r}."
                )
        if not isinstance(self.shuffle, bool):
            raise ValueError(f"Xview2FoldConfig.shuffle must be a bool, got {self.shuffle!r}.")
        if self.group_by not in get_args(Xview2GroupBy):
            raise ValueError(
                f"Xview2FoldConfig.group_by must be one of {list(get_args(Xview2GroupBy))}, "
                f"got {self.group_by!r}."
            )
        given: object = self.splits
        if isinstance(given, str) or not isinstance(given, list | tuple) or not given:
            raise ValueError(
                f"Xview2FoldConfig.splits must be a non-empty list of splits from "
                f"{list(XVIEW2_SPLITS)}, got {given!r}; write e.g. ['train']."
            )
        splits = tuple(given)
        unknown = [s for s in splits if s not in XVIEW2_SPLITS]
        if unknown:
            raise ValueError(
                f"Xview2FoldConfig.splits has unknown split(s) {unknown}; "
                f"valid splits are {list(XVIEW2_SPLITS)}."
            )
        if len(set(splits)) != len(splits):
            raise ValueError(f"Xview2FoldConfig.splits has duplicates: {list(splits)}.")
        object.__setattr__(self, "splits", splits)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> Xview2FoldConfig:
        """Build a config from a parameters mapping (Kedro ``params:xview2.folds``).

        Args:
            d: Keys are field names; missing keys take their defaults; a list is accepted
                for ``splits``. ``None`` means all defaults.

        Returns:
            The validated config.

        Raises:
            ValueError: On unknown keys (the message lists the valid ones) or bad values.
        """
        return cls(**check_keys(cls, d, what="xview2.folds parameter"))


def _prepare_pairs(pair_index: pd.DataFrame, config: Xview2FoldConfig) -> pd.DataFrame:
    """The pairs of ``config.splits``, validated, sorted by ``pair_id``."""
    require_columns(pair_index, "xview2_pair_index", PAIR_INDEX_COLUMNS)
    pairs = pair_index[list(PAIR_INDEX_COLUMNS)].copy()
    for column in ("pair_id", "split", "disaster", "pre_image", "post_image"):
        pairs[column] = pairs[column].fillna("").astype(str)
    pairs = pairs[pairs["split"].isin(config.splits)]
    duplicated = pairs["pair_id"][pairs["pair_id"].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"xview2_pair_index has duplicate pair_id(s): {sorted(duplicated)[:10]}.")
    for column in PAIR_INDEX_COLUMNS[5:]:
        values = pd.to_numeric(pairs[column], errors="coerce")
        bad = values.isna() | (values < 0) | (values % 1 != 0)
        if bad.any():
            row = pairs.loc[bad].iloc[0]
            value = row[column].item() if isinstance(row[column], np.generic) else row[column]
            raise ValueError(
                f"xview2_pair_index: pair {row['pair_id']!r} has {column}={value!r}; "
                f"expected a count (integer >= 0) ({int(bad.sum())} such row(s))."
            )
        pairs[column] = values.astype(np.int64)
    no_image = (pairs["pre_image"] == "") & (pairs["post_image"] == "")
    if no_image.any():
        raise ValueError(
            f"xview2_pair_index: pair(s) {sorted(pairs.loc[no_image, 'pair_id'])[:10]} have "
            "neither a pre_image nor a post_image path."
        )
    if len(pairs) < config.n_folds:
        raise ValueError(
            f"xview2_pair_index has {len(pairs)} pair(s) in split(s) {list(config.splits)}, "
            f"fewer than n_folds={config.n_folds}. Use fewer folds or add pairs."
        )
    return pairs.sort_values("pair_id", kind="mergesort").reset_index(drop=True)


def damage_presence(pairs: pd.DataFrame) -> pd.DataFrame:
    """Presence of each damage class per pair, ``un-classified`` counted as ``no-damage``.

    Args:
        pairs: Rows with ``n_no_damage``, ``n_minor_damage``, ``n_major_damage``,
            ``n_destroyed``, ``n_un_classified`` (building counts of the post label).

    Returns:
        Boolean frame ``[len(pairs), 4]``, index of ``pairs``, one column per class of
        :data:`~xview3_pipeline.core.xview2.metric.DAMAGE_CLASSES`.
    """
    counts = pairs[[f"n_{name}" for name in DAMAGE_CLASSES]].to_numpy(dtype=np.int64).copy()
    counts[:, 0] += pairs["n_un_classified"].to_numpy(dtype=np.int64)
    return pd.DataFrame(counts > 0, index=pairs.index, columns=list(DAMAGE_CLASSES))


def _image_folds(pairs: pd.DataFrame, config: Xview2FoldConfig) -> np.ndarray:
    """The winner's folds: multilabel stratified on class presence plus one-hot event."""
    targets = np.hstack(
        [
            damage_presence(pairs).to_numpy(dtype=np.int64),
            pd.get_dummies(pairs["disaster"]).to_numpy(dtype=np.int64),
        ]
    )  # [n_pairs, 4 + n_events]
    splitter = MultilabelStratifiedKFold(
        n_splits=config.n_folds,
        shuffle=config.shuffle,
        random_state=config.seed if config.shuffle else None,
    )
    # The iterative stratification breaks ties with random_state even without shuffling,
    # but scikit-learn refuses a seed without shuffle: set it afterwards to stay seeded.
    splitter.random_state = config.seed
    folds = np.full(len(pairs), -1, dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros((len(pairs), 1)), targets)):
        folds[test] = k
    return folds


def _event_folds(pairs: pd.DataFrame, config: Xview2FoldConfig) -> np.ndarray:
    """Leak-free folds: ``StratifiedGroupKFold`` over (pair, class present) rows by event."""
    n_events = pairs["disaster"].nunique()
    if n_events < config.n_folds:
        raise ValueError(
            f"xview2_pair_index has {n_events} event(s) in split(s) {list(config.splits)}, "
            f"fewer than n_folds={config.n_folds}: group_by='event' needs at least one "
            "event per fold. Use fewer folds, group_by='image', or add events."
        )
    presence = damage_presence(pairs).to_numpy()
    no_building = ~presence.any(axis=1)
    classes = np.hstack([presence, no_building[:, None]])  # [n_pairs, 5]
    pair_of_row, class_of_row = np.nonzero(classes)
    events = pairs["disaster"].to_numpy()[pair_of_row]
    splitter = StratifiedGroupKFold(
        n_splits=config.n_folds,
        shuffle=config.shuffle,
        random_state=config.seed if config.shuffle else None,
    )
    fold_of_row = np.full(len(pair_of_row), -1, dtype=np.int64)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, test) in enumerate(
            splitter.split(np.zeros(len(pair_of_row)), class_of_row, events)
        ):
            fold_of_row[test] = k
    folds = np.full(len(pairs), -1, dtype=np.int64)
    folds[pair_of_row] = fold_of_row  # every row of a pair has the fold of its event
    return folds


def assign_folds(pair_index: pd.DataFrame, config: Xview2FoldConfig | None = None) -> pd.DataFrame:
    """Assign every image pair of ``config.splits`` to a fold; pre images follow the post.

    Args:
        pair_index: One row per pre/post pair (the ``xview2_pair_index`` table) with at
            least ``pair_id``, ``split``, ``disaster``, ``pre_image``, ``post_image``
            (relative paths, ``""`` when absent), ``n_buildings`` and the building counts
            ``n_no_damage``, ``n_minor_damage``, ``n_major_damage``, ``n_destroyed``,
            ``n_un_classified``. The result does not depend on its row order.
        config: Fold parameters; defaults (the winner's) if ``None``.

    Returns:
        One row per image of the folded pairs (post then pre per pair; an absent image
        has no row), sorted by ``pair_id``, with columns ``image`` (the path of the pair
        index), ``pair_id``, ``split``, ``disaster``, ``kind`` (``pre`` / ``post``) and
        ``fold`` (int in ``[0, n_folds)``, the same for both images of a pair).

    Raises:
        ValueError: On missing columns, duplicate pair ids, a count that is not an
            integer >= 0, a pair without images, fewer pairs than folds or, with
            ``group_by="event"``, fewer events than folds.
    """
    config = config or Xview2FoldConfig()
    pairs = _prepare_pairs(pair_index, config)
    folds = (
        _image_folds(pairs, config) if config.group_by == "image" else _event_folds(pairs, config)
    )
    pairs = pairs.assign(fold=folds)
    images = pd.concat(
        [
            pairs.assign(image=pairs[f"{kind}_image"], kind=kind, _order=order)
            for order, kind in enumerate(("post", "pre"))
        ],
        ignore_index=True,
    )
    images = images[images["image"] != ""].sort_values(["pair_id", "_order"], kind="mergesort")
    missing = len(pairs) * 2 - len(images)
    if missing:
        logger.warning(
            "%d pair(s) lack a pre or post image; they get a fold all the same.", missing
        )
    empty = sorted(set(range(config.n_folds)) - set(folds.tolist()))
    if empty:
        logger.warning("xView2 fold(s) %s received no pair.", empty)
    logger.info(
        "xView2 folds: %d pairs of %d event(s) in split(s) %s, %d folds (group_by=%r).",
        len(pairs),
        pairs["disaster"].nunique(),
        list(config.splits),
        config.n_folds,
        config.group_by,
    )
    return images[list(ASSIGNMENT_COLUMNS)].reset_index(drop=True)


def fold_balance(assignments: pd.DataFrame, pair_index: pd.DataFrame) -> pd.DataFrame:
    """Per-fold counts of pairs, images, events, buildings and pairs with each class.

    Args:
        assignments: Output of :func:`assign_folds` (``pair_id``, ``fold``; ``image``
            counted per row).
        pair_index: The pair index the folds were made from (``pair_id``, ``disaster``,
            ``n_buildings`` and the damage counts); pairs without a fold are ignored.

    Returns:
        One row per fold, ascending, with columns ``fold``, ``pairs``, ``images``,
        ``events`` (distinct disasters), ``buildings`` (post buildings), and
        ``images_with_<class>`` for each damage class (post images showing at least one
        building of that class, ``un-classified`` counted as ``no_damage``: the
        stratification targets).

    Raises:
        ValueError: On missing columns, or assigned pairs absent from ``pair_index``.
    """
    require_columns(assignments, "xview2_fold_assignments", ("pair_id", "fold"))
    require_columns(pair_index, "xview2_pair_index", PAIR_INDEX_COLUMNS)
    assigned = assignments.assign(pair_id=assignments["pair_id"].astype(str))
    folds = assigned.drop_duplicates("pair_id").set_index("pair_id")["fold"]
    pairs = pair_index.assign(pair_id=pair_index["pair_id"].astype(str))
    pairs = pairs[pairs["pair_id"].isin(folds.index)].drop_duplicates("pair_id")
    unknown = sorted(set(folds.index) - set(pairs["pair_id"]))
    if unknown:
        raise ValueError(
            f"xview2_fold_assignments has {len(unknown)} pair(s) absent from "
            f"xview2_pair_index, e.g. {unknown[:5]}."
        )
    presence = damage_presence(pairs).astype(np.int64)
    per_pair = pd.DataFrame(
        {
            "fold": pairs["pair_id"].map(folds).astype(int).to_numpy(),
            "disaster": pairs["disaster"].astype(str).to_numpy(),
            "buildings": pairs["n_buildings"].astype(np.int64).to_numpy(),
            **{f"images_with_{c}": presence[c].to_numpy() for c in DAMAGE_CLASSES},
        }
    )
    balance = per_pair.groupby("fold").agg(
        pairs=("disaster", "size"),
        events=("disaster", "nunique"),
        buildings=("buildings", "sum"),
        **{f"images_with_{c}": (f"images_with_{c}", "sum") for c in DAMAGE_CLASSES},
    )
    balance["images"] = assigned.groupby("fold").size()
    balance = balance.fillna(0).astype(np.int64).sort_index().reset_index()
    return balance[["fold", *BALANCE_COLUMNS]]


def plot_fold_balance(balance: pd.DataFrame) -> Figure:
    """Grouped bar chart of :func:`fold_balance`.

    Left panel: post images with each damage class per fold; middle: buildings; right:
    pairs, images and events.

    Args:
        balance: Output of :func:`fold_balance`.

    Returns:
        A matplotlib figure (created without pyplot; renders with the Agg backend).
    """
    fig = Figure(figsize=(14, 4.5), layout="constrained")
    axes = fig.subplots(1, 3, width_ratios=[3, 1, 2])
    ticks = [f"fold {int(f)}" for f in balance["fold"]]
    x = np.arange(len(balance))
    panels = (
        ([f"images_with_{c}" for c in DAMAGE_CLASSES], "post images with each damage class"),
        (["buildings"], "buildings"),
        (["pairs", "images", "events"], "pairs, images and events"),
    )
    for ax, (columns, title) in zip(axes, panels, strict=True):
        width = 0.8 / len(columns)
        for k, column in enumerate(columns):
            ax.bar(
                x + (k - (len(columns) - 1) / 2) * width,
                balance[column].to_numpy(dtype=float),
                width,
                label=column.removeprefix("images_with_"),
                color=f"C{k}",
            )
        ax.set_xticks(x, ticks)
        ax.set_ylabel("count")
        ax.set_title(f"Per-fold {title}", fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(True, axis="y", linewidth=0.3)
    return fig
