"""Pixels drawn from many images to score masks fast by the official xView2 rules.

Fitting class weights scores the same pixels many times. :func:`draw_pixel_sample` draws at
most ``max_pixels_per_image`` pixels per image, uniformly without replacement from one
generator seeded with ``seed`` (all pixels of a smaller image), and keeps which damage
classes each image's whole target holds. :func:`sample_counts` then counts predicted masks
on these pixels as ``metric.image_counts`` does: localization over all drawn pixels,
damage over the drawn pixels whose target is a building, and an image's false positives
of a damage class only when its whole target holds that class. Target pixels of 255
(ignore) are never drawn.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from xview3_pipeline.core.xview2.metric import PixelCounts
from xview3_pipeline.core.xview2.probabilities import N_CLASSES

__all__ = ["IGNORE_INDEX", "PixelSample", "draw_pixel_sample", "sample_counts"]

#: Target value of pixels left out.
IGNORE_INDEX: Final = 255


@dataclass(frozen=True)
class PixelSample:
    """Pixels drawn from many images, pooled.

    Attributes:
        probs: Their class probabilities, ``(5, N)`` float32.
        target: Their damage targets, ``(N,)`` 0..4.
        image: The index of the image each came from, ``(N,)``.
        present: ``(n_images, 5)``: whether each image's whole target holds each damage
            class (column 0, no building, is always False).
    """

    probs: NDArray[np.float32]
    target: NDArray[np.intp]
    image: NDArray[np.intp]
    present: NDArray[np.bool_]

    @property
    def n_images(self) -> int:
        """Number of images."""
        return int(self.present.shape[0])


def draw_pixel_sample(
    probabilities: Iterable[NDArray[np.floating]],
    targets: Iterable[NDArray[np.integer]],
    max_pixels_per_image: int | None,
    seed: int,
) -> PixelSample:
    """Draw pixels of each (probabilities, target) pair, one image at a time.

    Args:
        probabilities: Per image, probabilities ``(5, H, W)``.
        targets: Per image, the damage target ``(H, W)``, 0..4 or 255 (left out).
        max_pixels_per_image: At most this many pixels per image, drawn uniformly
            without replacement (None: all).
        seed: Seed of the draw; the images draw in turn from one generator.

    Returns:
        The pooled :class:`PixelSample`.

    Raises:
        ValueError: Shapes disagree, a bad target value (names the image) or no image.
    """
    rng = np.random.default_rng(seed)
    probs_parts, target_parts, image_parts, present_rows = [], [], [], []
    for index, (probs, target) in enumerate(zip(probabilities, targets, strict=True)):
        p = np.asarray(probs, dtype=np.float32)
        t = np.asarray(target)
        if p.ndim != 3 or p.shape[0] != N_CLASSES or t.shape != p.shape[1:]:
            raise ValueError(
                f"Image {index}: probabilities must be ({N_CLASSES}, H, W) and the target "
                f"(H, W), got {p.shape} and {t.shape}."
            )
        if not np.issubdtype(t.dtype, np.integer):
            raise ValueError(f"Image {index}: the target must be integer, got {t.dtype}.")
        t_flat = t.reshape(-1).astype(np.intp)
        valid = np.flatnonzero(t_flat != IGNORE_INDEX)
        bad = (t_flat[valid] < 0) | (t_flat[valid] > N_CLASSES - 1)
        if bad.any():
            raise ValueError(
                f"Image {index}: target values must be 0..{N_CLASSES - 1} or "
                f"{IGNORE_INDEX}, found {np.unique(t_flat[valid][bad])[:10].tolist()}."
            )
        present_rows.append(np.bincount(t_flat[valid], minlength=N_CLASSES) > 0)
        if max_pixels_per_image is not None and valid.size > max_pixels_per_image:
            valid = np.sort(rng.choice(valid, size=max_pixels_per_image, replace=False))
        probs_parts.append(p.reshape(N_CLASSES, -1)[:, valid])
        target_parts.append(t_flat[valid])
        image_parts.append(np.full(valid.size, index, dtype=np.intp))
    if not present_rows:
        raise ValueError("No images to fit class weights on.")
    present = np.stack(present_rows)
    present[:, 0] = False  # slot 0 is localization, never a damage class
    return PixelSample(
        probs=np.concatenate(probs_parts, axis=1),
        target=np.concatenate(target_parts),
        image=np.concatenate(image_parts),
        present=present,
    )


def sample_counts(
    pixels: PixelSample, building: NDArray[np.bool_], damage: NDArray[np.integer]
) -> PixelCounts:
    """The official counts of predicted masks on the drawn pixels.

    Equal to ``metric.image_counts`` summed over the images when every pixel is drawn.

    Args:
        pixels: The sample.
        building: Predicted localization per drawn pixel, ``(N,)`` bool.
        damage: Predicted damage per drawn pixel, ``(N,)`` 0..4 (only read where
            ``building``).

    Returns:
        The summed counts.
    """
    targ_b = pixels.target > 0
    loc = np.array(
        [
            np.count_nonzero(building & targ_b),
            np.count_nonzero(building & ~targ_b),
            np.count_nonzero(~building & targ_b),
        ],
        dtype=np.int64,
    )
    dp = np.where(building, damage, 0)[targ_b]
    dt = pixels.target[targ_b]
    im = pixels.image[targ_b]
    n_images = pixels.n_images
    n_targ = np.bincount(dt, minlength=N_CLASSES)
    tp = np.bincount(dt[dp == dt], minlength=N_CLASSES)
    n_pred = np.bincount(im * N_CLASSES + dp, minlength=n_images * N_CLASSES)
    n_pred = (n_pred.reshape(n_images, N_CLASSES) * pixels.present).sum(axis=0)
    return PixelCounts(
        tp=np.concatenate([[loc[0]], tp[1:]]),
        fp=np.concatenate([[loc[1]], (n_pred - tp)[1:]]),
        fn=np.concatenate([[loc[2]], (n_targ - tp)[1:]]),
    )
