"""xView2 reports a person reads: score report, damage confusion matrix, review images.

:func:`score_report` scores in-memory (or lazily loaded) masks with the official rules of
:mod:`~xview3_pipeline.core.xview2.metric` and adds the pixel counts behind the F1s;
:func:`confusion_matrix` counts pixels per (target, predicted) class;
:func:`side_by_side` draws ``pre | post | prediction | target`` with one colour per class.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, cast

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from xview3_pipeline.core.xview2.metric import (
    DAMAGE_CLASSES,
    SCORE_KEYS,
    MaskSet,
    PixelCounts,
    XView2MaskError,
    image_counts,
    score_from_counts,
)

__all__ = [
    "CLASS_COLORS",
    "CONFUSION_LABELS",
    "MaskLike",
    "as_mask",
    "confusion_matrix",
    "confusion_matrix_figure",
    "score_report",
    "side_by_side",
]

logger = logging.getLogger(__name__)

#: Row / column labels of the confusion matrix: mask values 0..4.
CONFUSION_LABELS: Final[tuple[str, ...]] = ("no building", *DAMAGE_CLASSES)
#: RGB colour of each damage value 1..4 in review images (index 0, background, unused).
CLASS_COLORS: Final[tuple[tuple[int, int, int], ...]] = (
    (0, 0, 0),
    (40, 200, 40),
    (250, 220, 0),
    (255, 130, 0),
    (230, 20, 20),
)

_N_CLASSES = len(CONFUSION_LABELS)

#: A mask: an array, a PIL image, or a zero-argument loader of either (a partition).
MaskLike = NDArray[Any] | Image.Image | Callable[[], NDArray[Any] | Image.Image]
PairMasks = Sequence[MaskLike] | Callable[[], Sequence[MaskLike]]


def as_mask(mask: MaskLike, name: str, *, max_value: int = 4) -> NDArray[np.uint8]:
    """A mask as ``(H, W)`` uint8 after checking it; a loader is called first.

    Args:
        mask: Array, PIL image or zero-argument loader of either; any integer or bool dtype.
        name: How errors name the mask (pair and kind).
        max_value: Largest allowed value (1 for localization, 4 for damage).

    Returns:
        The mask, uint8.

    Raises:
        XView2MaskError: Not 2-D, not an integer dtype, or values outside ``0..max_value``.
    """
    arr = np.asarray(mask() if callable(mask) else mask)
    if arr.ndim != 2:
        raise XView2MaskError(f"{name}: a mask must be 2-D (H, W), got shape {arr.shape}.")
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        raise XView2MaskError(f"{name}: a mask must have an integer dtype, got {arr.dtype}.")
    bad = (arr < 0) | (arr > max_value)
    if bad.any():
        values = np.unique(arr[bad])[:10].tolist()
        raise XView2MaskError(
            f"{name}: values must be 0..{max_value}, found {values} at {int(bad.sum())} pixels."
        )
    return arr.astype(np.uint8)


def _pair(value: PairMasks, key: str, role: str) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    masks = value() if callable(value) else value
    if isinstance(masks, np.ndarray | Image.Image) or len(masks) != 2:
        raise XView2MaskError(f"Image {key!r}: the {role} must be (localization, damage) masks.")
    return (
        as_mask(masks[0], f"image {key!r} localization {role}"),
        as_mask(masks[1], f"image {key!r} damage {role}"),
    )


def _confusion(pred: NDArray[np.uint8], target: NDArray[np.uint8], key: str) -> NDArray[np.int64]:
    if pred.shape != target.shape:
        raise XView2MaskError(
            f"Image {key!r}: predicted damage {pred.shape} and target {target.shape} differ "
            "in shape."
        )
    flat = target.astype(np.intp).ravel() * _N_CLASSES + pred.astype(np.intp).ravel()
    return np.bincount(flat, minlength=_N_CLASSES**2).reshape(_N_CLASSES, _N_CLASSES)


def _frame(counts: NDArray[np.int64]) -> pd.DataFrame:
    return pd.DataFrame(
        counts.astype(np.int64),
        index=pd.Index(CONFUSION_LABELS, name="target"),
        columns=pd.Index(CONFUSION_LABELS, name="predicted"),
    )


def confusion_matrix(
    pred_damage: MaskLike | Mapping[str, MaskLike],
    target_damage: MaskLike | Mapping[str, MaskLike],
) -> pd.DataFrame:
    """Pixel counts per (target, predicted) damage value, summed over images.

    Every pixel counts, background included; the prediction is taken as given (mask it
    with the localization first to see what the metric scores, as :func:`score_report`
    does).

    Args:
        pred_damage: One ``(H, W)`` damage mask (0..4), or ``image -> mask``.
        target_damage: The matching target, or ``image -> mask`` with the same images.

    Returns:
        A 5 x 5 int64 frame: rows the target value 0..4 (index ``target``), columns the
        predicted value (``predicted``), labelled with :data:`CONFUSION_LABELS`.

    Raises:
        XView2MaskError: A bad mask, or a prediction and target of different shapes.
        ValueError: One argument is a mapping and the other not, or their images differ.
    """
    if isinstance(pred_damage, Mapping) != isinstance(target_damage, Mapping):
        raise ValueError("Give both damage arguments as masks or both as image -> mask mappings.")
    if not isinstance(pred_damage, Mapping) or not isinstance(target_damage, Mapping):
        pred = as_mask(cast(MaskLike, pred_damage), "predicted damage")
        target = as_mask(cast(MaskLike, target_damage), "target damage")
        return _frame(_confusion(pred, target, "-"))
    if set(pred_damage) != set(target_damage):
        odd = sorted(set(pred_damage) ^ set(target_damage))[:5]
        raise ValueError(f"Predictions and targets cover different images, e.g. {odd}.")
    total = np.zeros((_N_CLASSES, _N_CLASSES), dtype=np.int64)
    for key in sorted(target_damage):
        pred = as_mask(pred_damage[key], f"image {key!r} predicted damage")
        total += _confusion(pred, as_mask(target_damage[key], f"image {key!r} target damage"), key)
    return _frame(total)


def confusion_matrix_figure(cm: pd.DataFrame, title: str = "Damage confusion (pixels)") -> Figure:
    """Row-normalised heat map of :func:`confusion_matrix`, each cell with its count.

    Args:
        cm: A square frame of pixel counts (rows target, columns predicted).
        title: Figure title.

    Returns:
        The figure (made without pyplot). A cell shows the share of its row (the recall of
        the row's class on the diagonal) and the pixel count; a row without pixels shows
        counts only.
    """
    counts = cm.to_numpy(dtype=np.int64)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros(counts.shape), where=rows > 0)
    fig = Figure(figsize=(7.5, 6), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the target class's pixels")
    for (i, j), value in np.ndenumerate(share):
        text = f"{value:.1%}\n{counts[i, j]:,}" if rows[i, 0] else f"{counts[i, j]:,}"
        ax.text(
            j, i, text, ha="center", va="center", fontsize=8,
            color="white" if value > 0.6 else "black",
        )  # fmt: skip
    labels = [str(label).replace("_", " ") for label in cm.columns]
    ax.set_xticks(range(counts.shape[1]), labels, rotation=30, ha="right")
    ax.set_yticks(range(counts.shape[0]), [str(label).replace("_", " ") for label in cm.index])
    ax.set_xlabel("predicted")
    ax.set_ylabel("target")
    ax.set_title(title)
    return fig


def score_report(
    pred_masks: Mapping[str, PairMasks], target_masks: Mapping[str, PairMasks]
) -> dict[str, Any]:
    """The official score of predictions against targets, with the pixel counts behind it.

    Args:
        pred_masks: ``image -> (localization, damage)`` predictions (arrays, PIL images or
            loaders; or a loader of the pair), e.g. from
            :func:`~xview3_pipeline.core.xview2.submission.partition_pairs`.
        target_masks: The same for the targets; its images are the ones scored.

    Returns:
        A JSON-serialisable dict: the :data:`SCORE_KEYS` floats; ``n_images``;
        ``pixels`` (``localization`` and each damage class -> ``tp``, ``fp``, ``fn``,
        ``precision``, ``recall``, by the official rules: damage only on target buildings,
        zeroed where no building is predicted, a class counted only on images whose target
        holds it); ``confusion_matrix`` (``labels`` and ``counts``, rows target, columns
        the damage as scored, i.e. zero where no building is predicted);
        ``unscored_predictions`` (predicted images without a target, left out).

    Raises:
        ValueError: No target, or a target without a prediction (names up to five).
        XView2MaskError: A bad mask or shapes that differ (names the image).
    """
    if not target_masks:
        raise ValueError("No target images to score.")
    missing = sorted(set(target_masks) - set(pred_masks))
    if missing:
        raise ValueError(f"{len(missing)} target image(s) have no prediction, e.g. {missing[:5]}.")
    extra = sorted(set(pred_masks) - set(target_masks))
    if extra:
        logger.warning("%d predicted image(s) have no target and are not scored.", len(extra))
    total = PixelCounts.zeros()
    cm = np.zeros((_N_CLASSES, _N_CLASSES), dtype=np.int64)
    for key in sorted(target_masks):
        p_loc, p_dmg = _pair(pred_masks[key], key, "prediction")
        t_loc, t_dmg = _pair(target_masks[key], key, "target")
        names = tuple(f"image {key!r} {field}" for field in MaskSet._fields)
        total = total + image_counts(p_loc, p_dmg, t_loc, t_dmg, names=names)
        cm += _confusion(np.where(p_loc > 0, p_dmg, 0).astype(np.uint8), t_dmg, key)
    scores = score_from_counts(total)
    report: dict[str, Any] = {key: float(scores[key]) for key in SCORE_KEYS}
    report["n_images"] = len(target_masks)
    report["pixels"] = {}
    for slot, name in enumerate(("localization", *DAMAGE_CLASSES)):
        tp, fp, fn = (int(getattr(total, field)[slot]) for field in ("tp", "fp", "fn"))
        report["pixels"][name] = {
            "tp": tp, "fp": fp, "fn": fn,
            "precision": tp / (tp + fp) if tp else 0.0, "recall": tp / (tp + fn) if tp else 0.0,
        }  # fmt: skip
    report["confusion_matrix"] = {"labels": list(CONFUSION_LABELS), "counts": cm.tolist()}
    report["unscored_predictions"] = len(extra)
    logger.info("Scored %d images: score %.4f.", len(target_masks), report["score"])
    return report


def _overlay(post: NDArray[np.uint8], mask: NDArray[np.uint8], alpha: float) -> NDArray[np.uint8]:
    """``post`` tinted by class colour where ``mask > 0``, region edges in full colour."""
    lut = np.asarray(CLASS_COLORS, dtype=np.float32)
    colour = lut[mask]
    inside = (mask > 0)[..., None]
    out = np.where(inside, (1 - alpha) * post + alpha * colour, post.astype(np.float32))
    padded = np.pad(mask, 1, mode="edge")
    edge = (mask > 0) & (
        (padded[:-2, 1:-1] != mask)
        | (padded[2:, 1:-1] != mask)
        | (padded[1:-1, :-2] != mask)
        | (padded[1:-1, 2:] != mask)
    )
    out[edge] = colour[edge]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _check_rgb(image: NDArray[Any], name: str) -> NDArray[np.uint8]:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(
            f"{name} must be an (H, W, 3) uint8 RGB image, got {arr.shape} {arr.dtype}."
        )
    return arr


def side_by_side(
    pre: NDArray[np.uint8],
    post: NDArray[np.uint8],
    damage_pred: MaskLike,
    damage_target: MaskLike | None = None,
    *,
    alpha: float = 0.45,
    gap: int = 6,
) -> NDArray[np.uint8]:
    """A review image: ``pre | post | prediction on post (| target on post)`` and a legend.

    Args:
        pre: Pre-disaster image, ``(H, W, 3)`` uint8.
        post: Post-disaster image, same shape.
        damage_pred: Predicted damage, ``(H, W)`` 0..4.
        damage_target: Target damage, ``(H, W)`` 0..4, or None for three panels.
        alpha: Opacity of the class colour inside buildings (edges are opaque).
        gap: White pixels between panels.

    Returns:
        An RGB uint8 array ``(header + H + legend, n * W + (n - 1) * gap, 3)`` with a title
        above each panel and a legend of :data:`CLASS_COLORS` below (wrapped to the width).

    Raises:
        ValueError: Images or masks of the wrong shape or dtype, or ``alpha`` outside [0, 1].
    """
    pre, post = _check_rgb(pre, "pre"), _check_rgb(post, "post")
    if pre.shape != post.shape:
        raise ValueError(f"pre {pre.shape} and post {post.shape} differ in shape.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha={alpha}: expected a value in [0, 1].")
    height, width = pre.shape[:2]
    panels = [(pre, "pre"), (post, "post")]
    for mask, title in ((damage_pred, "prediction"), (damage_target, "target")):
        if mask is None:
            continue
        arr = as_mask(mask, f"{title} damage")
        if arr.shape != (height, width):
            raise ValueError(
                f"{title} damage {arr.shape} does not match the images {(height, width)}."
            )
        panels.append((_overlay(post, arr, alpha), title))
    size = max(10, min(height, width) // 24)
    font = ImageFont.load_default(size=size)
    line = size + 8
    canvas_w = len(panels) * width + (len(panels) - 1) * gap
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    entries, rows, x = [], 0, 0
    for value, name in enumerate(DAMAGE_CLASSES, start=1):
        span = size + 4 + int(measure.textlength(name.replace("_", " "), font=font)) + size
        if x and x + span > canvas_w:
            rows, x = rows + 1, 0
        entries.append((value, name, x, rows))
        x += span
    canvas = Image.new("RGB", (canvas_w, line + height + (rows + 1) * line), "white")
    draw = ImageDraw.Draw(canvas)
    for k, (image, title) in enumerate(panels):
        left = k * (width + gap)
        canvas.paste(Image.fromarray(image), (left, line))
        draw.text((left + 2, 3), title, fill="black", font=font)
    top = line + height
    for value, name, left, row in entries:
        y = top + row * line + 4
        draw.rectangle(
            (left + 2, y, left + 2 + size, y + size), fill=CLASS_COLORS[value], outline="black"
        )
        draw.text((left + size + 6, y), name.replace("_", " "), fill="black", font=font)
    return np.asarray(canvas, dtype=np.uint8).copy()
