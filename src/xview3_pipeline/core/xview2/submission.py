"""xView2 deliverables: official prediction PNGs, score report, GIS layer, review images.

The official scorer pairs ``<split>_localization_<id>_prediction.png`` (uint8 0/1) and
``<split>_damage_<id>_prediction.png`` (uint8 0..4) with the targets of the same id
(:func:`xview3_pipeline.core.xview2.metric.score_directories`). Partition ids here mirror
the targets' (:func:`xview3_pipeline.core.xview2.masks.target_name`): one folder per
split, ``<split>/<split>_<kind>_<mask id>_prediction``, so ``<predictions>/test`` is the
folder to submit and ``score_directories(<predictions>/test, <targets>/test)`` scores it.

The score report and confusion matrix live in :mod:`~xview3_pipeline.core.xview2.reports`,
the polygon layer in :mod:`~xview3_pipeline.core.xview2.gis`; both are re-exported here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from xview3_pipeline.core.xview2.gis import (
    POLYGON_COLUMNS,
    collect_polygons,
    damage_polygons,
    georeference,
    pair_georeferences,
)
from xview3_pipeline.core.xview2.masks import mask_id
from xview3_pipeline.core.xview2.metric import XView2MaskError
from xview3_pipeline.core.xview2.reports import (
    CLASS_COLORS,
    CONFUSION_LABELS,
    MaskLike,
    as_mask,
    confusion_matrix,
    confusion_matrix_figure,
    score_report,
    side_by_side,
)

__all__ = [
    "CLASS_COLORS",
    "CONFUSION_LABELS",
    "POLYGON_COLUMNS",
    "collect_polygons",
    "confusion_matrix",
    "confusion_matrix_figure",
    "damage_polygons",
    "georeference",
    "pair_georeferences",
    "partition_pairs",
    "prediction_name",
    "prediction_partitions",
    "score_report",
    "side_by_side",
]

Kind = Literal["localization", "damage"]
Split = Literal["test", "hold"]
Role = Literal["prediction", "target"]

#: Largest value of each kind of mask.
MAX_VALUE: Final[dict[str, int]] = {"localization": 1, "damage": 4}

_MASK_ID = re.compile(r"^[A-Za-z0-9.-]+$")
_PARTITION = re.compile(
    r"^(?:(?P<folder>[^/]+)/)?(?P<split>test|hold)_(?P<kind>localization|damage)_"
    r"(?P<id>[^_/]+)_(?P<role>prediction|target)$"
)

PairMasks = Sequence[MaskLike] | Callable[[], Sequence[MaskLike]]


def _check_choice(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise ValueError(f"{what}={value!r}: expected one of {list(choices)}.")


def _checked_mask_id(pair_id: str) -> str:
    """``mask_id(pair_id)``, refused unless a plain file-name token (no ``/``, ``..``)."""
    mid = mask_id(str(pair_id))
    if not _MASK_ID.match(mid) or mid.strip(".") == "":
        raise ValueError(
            f"Pair id {pair_id!r} cannot name a mask file: expected letters, digits, "
            "'_', '-' and '.' only."
        )
    return mid


def prediction_name(kind: str, pair_id: str, split: str = "test") -> str:
    """``<split>/<split>_<kind>_<mask id>_prediction`` (a partition id; add ``.png``).

    Args:
        kind: ``localization`` or ``damage``.
        pair_id: The pair (``_`` becomes ``-`` in the name, see :func:`mask_id`).
        split: ``test`` or ``hold`` (the splits the scorer reads).

    Returns:
        The partition id; its last component plus ``.png`` is the official file name.

    Raises:
        ValueError: Unknown kind or split, or a pair id unfit for a file name.
    """
    _check_choice(kind, get_args(Kind), "kind")
    _check_choice(split, get_args(Split), "split")
    return f"{split}/{split}_{kind}_{_checked_mask_id(pair_id)}_prediction"


def _checked_pair(
    masks: Sequence[MaskLike], pair_id: str
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    if isinstance(masks, np.ndarray | Image.Image) or len(masks) != 2:
        raise XView2MaskError(
            f"Pair {pair_id!r}: expected (localization, damage) masks, got {type(masks).__name__}."
        )
    loc, dmg = (
        as_mask(mask, f"pair {pair_id!r} {kind} prediction", max_value=MAX_VALUE[kind])
        for mask, kind in zip(masks, ("localization", "damage"), strict=True)
    )
    if loc.shape != dmg.shape:
        raise XView2MaskError(
            f"Pair {pair_id!r}: localization {loc.shape} and damage {dmg.shape} predictions "
            "differ in shape."
        )
    return loc.astype(np.uint8), dmg.astype(np.uint8)


class _LazyPrediction:
    """Both prediction images of a pair from one loader, called once for the two.

    The masks are dropped once both images have been made, so saving many lazy pairs
    holds one pair at a time.
    """

    def __init__(self, load: Callable[[], Sequence[MaskLike]], pair_id: str) -> None:
        self._load, self._pair_id = load, pair_id
        self._masks: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None = None
        self._pending = {0, 1}

    def image(self, index: int) -> Image.Image:
        if self._masks is None:
            self._masks = _checked_pair(self._load(), self._pair_id)
            self._pending = {0, 1}
        image = Image.fromarray(self._masks[index])
        self._pending.discard(index)
        if not self._pending:
            self._masks = None
        return image


def prediction_partitions(
    masks: Mapping[str, PairMasks], split: str = "test"
) -> dict[str, Image.Image | Callable[[], Image.Image]]:
    """Prediction masks as ``L`` images keyed by partition id, for a partitioned dataset.

    Meant for a ``PartitionedDataset`` of ``pillow.ImageDataset`` with
    ``filename_suffix: .png`` (as ``xview2_target_masks``).

    Args:
        masks: ``pair_id -> (localization, damage)``: localization ``(H, W)`` 0/1, damage
            ``(H, W)`` 0..4, any integer or bool dtype (arrays, PIL images or loaders of
            either); or ``pair_id -> loader`` of that tuple, which makes the partition
            lazy (the loader runs once for both images, when the first is saved).
        split: ``test`` or ``hold``.

    Returns:
        ``{prediction_name(kind, pair_id, split): image}``, localization before damage;
        an image, or a zero-argument loader of one for a lazy pair.

    Raises:
        XView2MaskError: A mask is not 2-D, not integer, out of range (localization 0/1,
            damage 0..4) or the two differ in shape; the message names the pair. For a
            lazy pair this is raised when its partition is saved.
        ValueError: Bad split, a pair id unfit for a file name, or two pair ids with one
            mask id (``a_b`` and ``a-b``).
    """
    out: dict[str, Image.Image | Callable[[], Image.Image]] = {}
    owners: dict[str, str] = {}
    for pair_id, value in masks.items():
        loc_name = prediction_name("localization", pair_id, split)
        dmg_name = prediction_name("damage", pair_id, split)
        mid = mask_id(pair_id)
        if mid in owners:
            raise ValueError(
                f"Pairs {owners[mid]!r} and {pair_id!r} share the mask id {mid!r}; their "
                "prediction files would overwrite each other."
            )
        owners[mid] = pair_id
        if callable(value):
            lazy = _LazyPrediction(value, pair_id)
            out[loc_name] = functools.partial(lazy.image, 0)
            out[dmg_name] = functools.partial(lazy.image, 1)
        else:
            loc, dmg = _checked_pair(value, pair_id)
            out[loc_name] = Image.fromarray(loc)
            out[dmg_name] = Image.fromarray(dmg)
    return out


def partition_pairs(
    partitions: Mapping[str, MaskLike], role: str = "target"
) -> dict[str, tuple[MaskLike, MaskLike]]:
    """Group loaded mask partitions (or files' stems) into ``(localization, damage)`` pairs.

    Turns what a partitioned dataset of targets (``<split>/<split>_<kind>_<id>_target``)
    or predictions (``..._prediction``) loads into the mapping :func:`score_report` takes.

    Args:
        partitions: ``partition id -> image or loader``; ids without a folder are accepted.
        role: ``target`` or ``prediction``: the suffix the ids must carry.

    Returns:
        ``{"<split>_<mask id>": (localization, damage)}``, sorted, values untouched (still
        lazy when they were loaders).

    Raises:
        ValueError: An id that does not follow the official names, has another role, or
            a pair with only one of its two masks.
    """
    _check_choice(role, get_args(Role), "role")
    found: dict[str, dict[str, MaskLike]] = {}
    for name, value in partitions.items():
        match = _PARTITION.match(name)
        if match is None or match["role"] != role:
            raise ValueError(
                f"Partition {name!r} is not named "
                f"[<split>/]<split>_{{localization|damage}}_<id>_{role}."
            )
        found.setdefault(f"{match['split']}_{match['id']}", {})[match["kind"]] = value
    pairs = {}
    for key in sorted(found):
        kinds = found[key]
        missing = [kind for kind in ("localization", "damage") if kind not in kinds]
        if missing:
            raise ValueError(f"Image {key!r} has no {missing[0]} {role} partition.")
        pairs[key] = (kinds["localization"], kinds["damage"])
    return pairs
