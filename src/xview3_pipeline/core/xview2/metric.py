"""The official xView2 building-damage metric (pixel F1s), vectorised.

Source of the rules: ``DIUx-xView/xView2_scoring:xview2_metrics.py`` (classes
``PathHandler``, ``RowPairCalculator``, ``F1Recorder``, ``XviewMetrics``). What it does, and
what this module reproduces:

* Masks hold 0 (no building) and 1..4 (building with no / minor / major damage, destroyed).
  Localization masks are binarised (``> 0``).
* Localization: TP/FN/FP of the binarised prediction against the binarised target, on every
  pixel.
* Damage: the damage prediction is first zeroed where the *localization prediction* is 0
  (``dp = dp * lp_b``, "only give credit to damages where buildings are predicted"); both
  damage masks are then restricted to the pixels where the *damage target* is > 0 (the
  localization target plays no part in damage). On those pixels TP/FN/FP are counted per
  class 1..4; a zeroed prediction is a false negative of the target's class.
* A damage class is counted from an image only if that image's damage target holds it
  (``if i in np.unique(targ_d)``, else ``None``, which the pandas sum skips): predicting a
  class on an image whose target lacks it costs no false positive of that class.
* Counts are summed over all images before any F1 (``ldf[...].sum()``, ``ddf[...].sum()``).
* ``F1Recorder``: precision is 0 when TP is 0, else TP/(TP+FP); recall likewise; F1 is 0
  when either is 0, else 2PR/(P+R).
* ``damage_f1 = 4 / sum(1 / (f1_c + 1e-6))`` over the four classes (so a class with F1 0
  drives it to about 4e-6), and ``score = 0.3 * localization_f1 + 0.7 * damage_f1``.
  The eps is never taken back out, so a perfect prediction scores ``1 + 0.7e-6``, not 1;
  this is reproduced.
* Files pair by id: for every ``{test|hold}_localization_<id>_target.png`` in the target
  folder, the scorer reads ``..._localization_<id>_prediction.png`` and
  ``..._damage_<id>_prediction.png`` from the prediction folder and
  ``..._damage_<id>_target.png`` from the target folder. PNGs are read with Pillow
  (``np.array(Image.open(path))``, so a palette PNG gives its indices), must be ``uint8``
  and hold only 0..4.

Differences, all on input the official code rejects or mishandles: masks of any 2-D shape
are accepted as long as the four of an image agree (the official asserts 1024 x 1024); a
damage target without its localization target is skipped with a warning (the official skips
it silently); an empty target folder is an error (the official scores it 0.7e-6); images
are scored one after another rather than in a process pool. In-memory masks may have any
integer dtype.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from xview3_pipeline.core.errors import RasterReadError

__all__ = [
    "DAMAGE_CLASSES",
    "DAMAGE_WEIGHT",
    "HARMONIC_EPS",
    "LOCALIZATION_WEIGHT",
    "SCORE_KEYS",
    "MaskSet",
    "PixelCounts",
    "XView2MaskError",
    "directory_counts",
    "image_counts",
    "read_mask",
    "score_directories",
    "score_from_counts",
    "score_masks",
]

logger = logging.getLogger(__name__)

#: Damage class names, for mask values 1..4.
DAMAGE_CLASSES = ("no_damage", "minor_damage", "major_damage", "destroyed")
#: Keys of the score dict, in the order of the official output JSON.
SCORE_KEYS = (
    "score",
    "damage_f1",
    "localization_f1",
    *(f"damage_f1_{name}" for name in DAMAGE_CLASSES),
)
#: Weight of the localization F1 in the score.
LOCALIZATION_WEIGHT = 0.3
#: Weight of the damage F1 (harmonic mean of the four class F1s) in the score.
DAMAGE_WEIGHT = 0.7
#: Added to each class F1 before the harmonic mean.
HARMONIC_EPS = 1e-6

_MAX_VALUE = 4
_N_SLOTS = 1 + len(DAMAGE_CLASSES)
_TARGET_NAME = re.compile(
    r"^(?P<split>test|hold)_(?P<kind>localization|damage)_(?P<id>[^_]+)_target\.png$"
)

Mask = NDArray[np.integer]


class XView2MaskError(ValueError):
    """A mask (file or array) is unusable: wrong name, shape, dtype or values."""


class MaskSet(NamedTuple):
    """The four masks of one image, each ``(H, W)`` with values 0..4.

    Attributes:
        pred_loc: Predicted localization (only ``> 0`` matters).
        pred_dmg: Predicted damage class per pixel.
        targ_loc: Target localization (only ``> 0`` matters).
        targ_dmg: Target damage class per pixel.
    """

    pred_loc: Mask
    pred_dmg: Mask
    targ_loc: Mask
    targ_dmg: Mask


@dataclass(frozen=True, eq=False)
class PixelCounts:
    """Pixel TP/FP/FN counts, summable over images.

    Each array has shape ``(5,)`` and dtype int64: slot 0 counts buildings (localization),
    slots 1..4 the damage classes of :data:`DAMAGE_CLASSES`. ``a + b`` adds counts, and
    ``sum(counts)`` works (``0 + counts`` is ``counts``).

    Attributes:
        tp: True positives, pixels.
        fp: False positives, pixels.
        fn: False negatives, pixels.
    """

    tp: NDArray[np.int64]
    fp: NDArray[np.int64]
    fn: NDArray[np.int64]

    def __post_init__(self) -> None:
        for name in ("tp", "fp", "fn"):
            arr = np.asarray(getattr(self, name), dtype=np.int64)
            if arr.shape != (_N_SLOTS,) or (arr < 0).any():
                raise ValueError(
                    f"PixelCounts.{name} must be {_N_SLOTS} non-negative counts, got {arr!r}."
                )
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def zeros(cls) -> PixelCounts:
        """Counts of no image at all."""
        zero = np.zeros(_N_SLOTS, dtype=np.int64)
        return cls(zero, zero, zero)

    def __add__(self, other: PixelCounts) -> PixelCounts:
        if not isinstance(other, PixelCounts):
            return NotImplemented
        return PixelCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def __radd__(self, other: object) -> PixelCounts:
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PixelCounts):
            return NotImplemented
        return all(
            np.array_equal(getattr(self, name), getattr(other, name)) for name in ("tp", "fp", "fn")
        )

    __hash__ = None  # type: ignore[assignment]


def _check_mask(mask: object, name: str) -> Mask:
    """The mask as an integer array, or :class:`XView2MaskError` naming ``name``."""
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise XView2MaskError(f"{name}: a mask must be 2-D (H, W), got shape {arr.shape}.")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise XView2MaskError(f"{name}: a mask must have an integer dtype, got {arr.dtype}.")
    bad = (arr < 0) | (arr > _MAX_VALUE)
    if bad.any():
        values = np.unique(arr[bad])[:10].tolist()
        raise XView2MaskError(
            f"{name}: mask values must be 0..{_MAX_VALUE}, found {values} "
            f"at {int(bad.sum())} pixels."
        )
    return arr


def image_counts(
    pred_loc: Mask,
    pred_dmg: Mask,
    targ_loc: Mask,
    targ_dmg: Mask,
    *,
    names: Sequence[str] = ("pred_loc", "pred_dmg", "targ_loc", "targ_dmg"),
) -> PixelCounts:
    """Pixel counts of one image, by the official rules (see the module docstring).

    Args:
        pred_loc: Predicted localization, ``(H, W)``, values 0..4 (binarised ``> 0``).
        pred_dmg: Predicted damage, ``(H, W)``, values 0..4.
        targ_loc: Target localization, ``(H, W)``, values 0..4 (binarised ``> 0``).
        targ_dmg: Target damage, ``(H, W)``, values 0..4.
        names: How errors name the four masks (file paths, for instance).

    Returns:
        The image's counts: slot 0 localization, slots 1..4 damage; all zero for a damage
        class absent from ``targ_dmg``.

    Raises:
        XView2MaskError: A mask is not 2-D, not integer, holds a value outside 0..4, or the
            four shapes differ.
    """
    masks = [
        _check_mask(mask, name)
        for mask, name in zip((pred_loc, pred_dmg, targ_loc, targ_dmg), names, strict=True)
    ]
    shapes = {mask.shape for mask in masks}
    if len(shapes) != 1:
        listed = ", ".join(f"{name} {mask.shape}" for name, mask in zip(names, masks, strict=True))
        raise XView2MaskError(f"The four masks of an image must have one shape, got {listed}.")
    p_loc, p_dmg, t_loc, t_dmg = masks

    p_b = p_loc > 0
    t_b = t_loc > 0
    loc_tp = np.count_nonzero(p_b & t_b)
    loc_fp = np.count_nonzero(p_b & ~t_b)
    loc_fn = np.count_nonzero(~p_b & t_b)

    scored = t_dmg > 0
    dp = np.where(p_b, p_dmg, 0)[scored].astype(np.intp)
    dt = t_dmg[scored].astype(np.intp)
    n_targ = np.bincount(dt, minlength=_N_SLOTS)
    n_pred = np.bincount(dp, minlength=_N_SLOTS)
    tp = np.bincount(dt[dp == dt], minlength=_N_SLOTS)
    present = n_targ > 0
    dmg_tp = np.where(present, tp, 0)
    dmg_fp = np.where(present, n_pred - tp, 0)
    dmg_fn = np.where(present, n_targ - tp, 0)
    return PixelCounts(
        tp=np.concatenate([[loc_tp], dmg_tp[1:]]),
        fp=np.concatenate([[loc_fp], dmg_fp[1:]]),
        fn=np.concatenate([[loc_fn], dmg_fn[1:]]),
    )


def _f1(tp: NDArray[np.int64], fp: NDArray[np.int64], fn: NDArray[np.int64]) -> NDArray[np.float64]:
    """F1 per slot exactly as the official ``F1Recorder`` (0 when TP is 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp > 0, tp / (tp + fn), 0.0)
        f1 = np.where(
            (precision > 0) & (recall > 0),
            2 * precision * recall / (precision + recall),
            0.0,
        )
    return np.asarray(f1, dtype=np.float64)


def score_from_counts(counts: PixelCounts) -> dict[str, float]:
    """The official score dict from summed counts.

    Args:
        counts: Counts summed over all images.

    Returns:
        ``{key: value}`` for every key of :data:`SCORE_KEYS`, each in [0, 1]:
        ``localization_f1``, the four ``damage_f1_<class>``, their harmonic mean
        ``damage_f1`` (each F1 plus :data:`HARMONIC_EPS`) and
        ``score = 0.3 * localization_f1 + 0.7 * damage_f1``.
    """
    f1 = _f1(counts.tp, counts.fp, counts.fn)
    loc_f1 = float(f1[0])
    class_f1 = [float(value) for value in f1[1:]]
    damage_f1 = len(class_f1) / sum(1.0 / (value + HARMONIC_EPS) for value in class_f1)
    result = {
        "score": LOCALIZATION_WEIGHT * loc_f1 + DAMAGE_WEIGHT * damage_f1,
        "damage_f1": damage_f1,
        "localization_f1": loc_f1,
    }
    result.update(
        {f"damage_f1_{name}": value for name, value in zip(DAMAGE_CLASSES, class_f1, strict=True)}
    )
    return result


def score_masks(masks: Iterable[MaskSet | Sequence[Mask]]) -> dict[str, float]:
    """The official score of in-memory masks, counts summed over images.

    Args:
        masks: Per image, the four masks ``(pred_loc, pred_dmg, targ_loc, targ_dmg)``
            (a :class:`MaskSet` or any 4-sequence), each ``(H, W)`` with values 0..4.

    Returns:
        The score dict of :func:`score_from_counts`.

    Raises:
        XView2MaskError: A mask is bad (the message names the image index and the mask).
        ValueError: ``masks`` is empty.
    """
    total = PixelCounts.zeros()
    n_images = 0
    for index, item in enumerate(masks):
        if len(item) != 4:
            raise XView2MaskError(f"Image {index}: expected 4 masks, got {len(item)}.")
        names = tuple(f"image {index} {field}" for field in MaskSet._fields)
        total = total + image_counts(*item, names=names)
        n_images += 1
    if n_images == 0:
        raise ValueError("No images to score.")
    return score_from_counts(total)


def read_mask(path: Path) -> NDArray[np.uint8]:
    """Read one mask PNG as the official scorer does (``np.array(Image.open(path))``).

    Args:
        path: A single-band 8-bit PNG (grey or palette) with values 0..4.

    Returns:
        The mask, ``(H, W)`` uint8.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        RasterReadError: ``path`` is not a readable image.
        XView2MaskError: Not single-band, not uint8, or values outside 0..4.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Mask {path} does not exist.")
    try:
        with Image.open(path) as image:
            arr = np.array(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise RasterReadError(f"Cannot read mask {path} as an image: {exc}") from exc
    if arr.ndim != 2:
        raise XView2MaskError(f"{path}: a mask must be single-band, got shape {arr.shape}.")
    if arr.dtype != np.uint8:
        raise XView2MaskError(f"{path}: a mask must be 8-bit (uint8), got {arr.dtype}.")
    _check_mask(arr, str(path))
    return arr


def _pair_paths(pred_dir: Path, targ_dir: Path) -> dict[str, tuple[Path, Path, Path, Path]]:
    """Per ``<split>_<id>``, the paths ``(pred_loc, pred_dmg, targ_loc, targ_dmg)``."""
    localization: dict[str, tuple[str, str]] = {}
    damage: set[tuple[str, str]] = set()
    for path in sorted(targ_dir.glob("*.png")):
        match = _TARGET_NAME.match(path.name)
        if match is None:
            raise XView2MaskError(
                f"Target file {path} is not named "
                "{test|hold}_{localization|damage}_<id>_target.png."
            )
        key = (match["split"], match["id"])
        if match["kind"] == "localization":
            localization[f"{key[0]}_{key[1]}"] = key
        else:
            damage.add(key)
    for split, img_id in sorted(damage - set(localization.values())):
        logger.warning(
            "Damage target %s has no localization target %s; the image is not scored.",
            targ_dir / f"{split}_damage_{img_id}_target.png",
            targ_dir / f"{split}_localization_{img_id}_target.png",
        )
    pairs = {}
    for name, (split, img_id) in localization.items():
        paths = (
            pred_dir / f"{split}_localization_{img_id}_prediction.png",
            pred_dir / f"{split}_damage_{img_id}_prediction.png",
            targ_dir / f"{split}_localization_{img_id}_target.png",
            targ_dir / f"{split}_damage_{img_id}_target.png",
        )
        for path in paths:
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} does not exist; it is needed to score the target {paths[2]}."
                )
        pairs[name] = paths
    return pairs


def directory_counts(pred_dir: Path | str, targ_dir: Path | str) -> Mapping[str, PixelCounts]:
    """Per-image counts of a prediction folder against a target folder (official names).

    Args:
        pred_dir: Folder of ``{test|hold}_{localization|damage}_<id>_prediction.png``.
        targ_dir: Folder of ``{test|hold}_{localization|damage}_<id>_target.png``.

    Returns:
        ``{"<split>_<id>": counts}`` for every localization target, sorted by name.

    Raises:
        NotADirectoryError: A folder does not exist.
        FileNotFoundError: A prediction (or the damage target) of a target is missing.
        RasterReadError: A PNG is unreadable.
        XView2MaskError: A badly named target file, or a bad mask (names the file).
        ValueError: The target folder holds no localization target.
    """
    pred_dir, targ_dir = Path(pred_dir), Path(targ_dir)
    for folder, role in ((pred_dir, "Prediction"), (targ_dir, "Target")):
        if not folder.is_dir():
            raise NotADirectoryError(f"{role} folder {folder} does not exist.")
    pairs = _pair_paths(pred_dir, targ_dir)
    if not pairs:
        raise ValueError(f"Target folder {targ_dir} holds no *_localization_<id>_target.png.")
    counts = {}
    for name, paths in pairs.items():
        masks = [read_mask(path) for path in paths]
        counts[name] = image_counts(*masks, names=tuple(str(path) for path in paths))
    logger.info("Scored %d images of %s against %s.", len(counts), pred_dir, targ_dir)
    return counts


def score_directories(pred_dir: Path | str, targ_dir: Path | str) -> dict[str, float]:
    """The official xView2 score of a prediction folder against a target folder.

    Args:
        pred_dir: Folder of official prediction PNGs.
        targ_dir: Folder of official target PNGs.

    Returns:
        The score dict of :func:`score_from_counts`.

    Raises:
        See :func:`directory_counts`.
    """
    counts = directory_counts(pred_dir, targ_dir)
    return score_from_counts(sum(counts.values(), PixelCounts.zeros()))
