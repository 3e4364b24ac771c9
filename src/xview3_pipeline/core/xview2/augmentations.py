"""Training augmentations of pre/post image pairs and their damage mask (albumentations 2).

The ``winner`` preset follows the winner's write-up and its ``medium`` set (the one every
model of its ensemble was trained with, ``-a medium --crops True --post-transform True``),
in the write-up's order:

1. **Post image only, spatial jitter** (:data:`POST_JITTER_P`): one ``A.Affine`` with a
   rotation of ±3°, a shift of ±10 px per axis and an isotropic zoom of ±2 %; it simulates
   a worse registration of the post image against the pre image.
2. **Crop of the same region from both** (always): ``A.RandomSizedCrop`` of a square side
   drawn in ``[0.8, 1.2] × crop_size`` resized to ``crop_size``; images smaller than the
   largest side are padded first (images 0, mask 255 = ignore).
3. **Colour, independently on pre and post**: brightness/contrast ±0.2
   (:data:`BRIGHTNESS_CONTRAST_P`), gamma 0.9–1.1 (:data:`GAMMA_P`), and either an HSV
   shift or an RGB shift of ±10 (:data:`COLOR_SPACE_P`). Each image gets its own draws.
4. **Shared spatial and colour**, with the same parameters on pre, post and mask
   (``additional_targets={"image_post": "image"}``): a grid shuffle of 2×2, 3×3 or 4×4
   tiles (:data:`GRID_SHUFFLE_P`), ``A.Affine`` scale ±10 %, rotation ±10°, shift ±6.25 %
   (``ShiftScaleRotate``'s defaults; :data:`SHIFT_SCALE_ROTATE_P`), a transposition
   (:data:`TRANSPOSE_P`) and a rotation by a multiple of 90° (:data:`ROTATE90_P`), which
   together give the eight flips and rotations of the square, brightness/contrast ±0.2 on
   both (:data:`SHARED_BRIGHTNESS_CONTRAST_P`), and mask dropout of 1–10 buildings
   (:data:`MASK_DROPOUT_P`).

The probabilities are those of the winner's ``medium`` code, each ``OneOf`` reduced to
one probability; they live in the constants below and nowhere else. The write-up's
numbers (±3°, ±10 px, ±2 %) are used for the post jitter; the ``medium`` code's own post
jitter was somewhat stronger.

**The post jitter moves the damage mask too.** The targets of this project are drawn from
the post label's polygons (:mod:`xview3_pipeline.core.xview2.masks`), and where the two
images are misregistered those polygons sit on the post image (the synthetic generator,
:mod:`xview3_pipeline.core.xview2.synthetic.misalign`, moves them with it). The mask is
therefore in the post image's frame: a jitter of the post image alone would shift every
damage label off the only image that shows the damage, by up to ~10 px, which is the size
of a small building. Moving post and mask together changes only the pre→post registration,
which is what the jitter simulates. The pixels that enter the post image at its border
have no known target and are set to 255 (ignore). The winner's code jittered the post image
alone (``post_image_transform(image=post_image)``): in the released xBD the post polygons
are copies of the pre polygons, so there the mask follows the pre image, and the images are
registered within a few pixels, so the two choices differ little on real data.

Other presets: ``light`` has the shared transposition and rotation by 90° only; ``none`` is
the identity. Borders filled by the shared ``A.Affine`` are 0 in the images and 0 (no
building) in the mask, as the winner's; padding is 255 in the mask.

Seeding: a call with ``seed`` is deterministic; each stage and each child transform gets
its own seed derived from it (:func:`~xview3_pipeline.core.data.augmentations.seed_compose`),
and the two colour draws differ. Without ``seed`` the transforms draw from their own
generators, which are copied into each worker of a ``DataLoader``: pass a seed there.
"""

from __future__ import annotations

import logging
from typing import Any, Final, Literal, Protocol, get_args

import albumentations as A
import cv2
import numpy as np
from numpy.typing import NDArray

from xview3_pipeline.core.data.augmentations import seed_compose
from xview3_pipeline.core.types import IGNORE_INDEX

__all__ = [
    "XVIEW2_AUGMENTATION_PRESETS",
    "PairTransform",
    "PairTransformFn",
    "Xview2AugmentationPreset",
    "build_xview2_transform",
]

logger = logging.getLogger(__name__)

Xview2AugmentationPreset = Literal["winner", "light", "none"]
#: Names accepted by :func:`build_xview2_transform`.
XVIEW2_AUGMENTATION_PRESETS: Final[tuple[str, ...]] = get_args(Xview2AugmentationPreset)

# ---------------------------------------------------------------- probabilities (one place)
#: Post-only jitter: the winner's ``OneOf([NoOp, pad+crop, ShiftScaleRotate], p=0.5)`` with
#: weights 0.5, 1, 0.5 applies a jitter 0.5 × 3/4 of the time.
POST_JITTER_P: Final[float] = 0.375
#: Per image: brightness/contrast, gamma, and one colour-space shift (the winner's
#: ``OneOf([NoOp(0.8), HSV(0.5), RGB(0.5)], p=0.2)`` gives 0.2 × 1/1.8).
BRIGHTNESS_CONTRAST_P: Final[float] = 0.5
GAMMA_P: Final[float] = 0.5
COLOR_SPACE_P: Final[float] = 0.2 / 1.8
#: Shared: the winner's ``OneOf([NoOp(0.8), 4×4, 3×3, 2×2 (0.2 each)], p=1)`` gives 0.6/1.4.
GRID_SHUFFLE_P: Final[float] = 0.6 / 1.4
SHIFT_SCALE_ROTATE_P: Final[float] = 0.5
TRANSPOSE_P: Final[float] = 0.5
ROTATE90_P: Final[float] = 0.5
SHARED_BRIGHTNESS_CONTRAST_P: Final[float] = 0.5
MASK_DROPOUT_P: Final[float] = 0.5

# ---------------------------------------------------------------- magnitudes
POST_ROTATE_DEG: Final[float] = 3.0
POST_SHIFT_PX: Final[int] = 10
POST_ZOOM: Final[float] = 0.02
CROP_SCALE: Final[tuple[float, float]] = (0.8, 1.2)
GRID_SHUFFLE_GRIDS: Final[tuple[int, ...]] = (2, 3, 4)
SHARED_SCALE: Final[float] = 0.1
SHARED_ROTATE_DEG: Final[float] = 10.0
SHARED_SHIFT: Final[float] = 0.0625
MASK_DROPOUT_OBJECTS: Final[tuple[int, int]] = (1, 10)

_U8 = NDArray[np.uint8]


class PairTransformFn(Protocol):
    """What :class:`~xview3_pipeline.core.xview2.data.Xview2PairDataset` calls."""

    def __call__(
        self, pre: _U8, post: _U8, mask: _U8, *, seed: int | None = None
    ) -> tuple[_U8, _U8, _U8]:
        """``(pre, post, mask)`` → augmented ``(pre, post, mask)``, same layout."""
        ...


class BuildingDropout(A.MaskDropout):
    """``A.MaskDropout`` that drops buildings only (mask 1..4), never ignored pixels.

    ``A.MaskDropout`` treats every non-zero mask value as an object; here pixels equal to
    255 (padding, unknown border) are not objects, so they stay ignored.
    """

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """The dropout region, drawn from the buildings of ``data["mask"]``."""
        mask = data["mask"]
        buildings = np.where(mask == IGNORE_INDEX, 0, mask).astype(mask.dtype)
        out: dict[str, Any] = super().get_params_dependent_on_data(
            params, {**data, "mask": buildings}
        )
        return out


def _stage_seed(seed: int, *key: int) -> int:
    return int(np.random.SeedSequence((int(seed), *key)).generate_state(1)[0])


class PairTransform:
    """The stages of one preset, applied to ``(pre, post, mask)``.

    Args:
        post_jitter: Compose on ``image`` (the post image) and ``mask``, or None.
        crop: Compose on ``image``, ``image_post`` and ``mask``, or None.
        color: Image-only compose, called separately on pre and post, or None.
        shared: Compose on ``image``, ``image_post`` and ``mask``, or None.
        name: Preset name, for ``repr``.
    """

    def __init__(
        self,
        post_jitter: A.Compose | None = None,
        crop: A.Compose | None = None,
        color: A.Compose | None = None,
        shared: A.Compose | None = None,
        name: str = "custom",
    ) -> None:
        self.post_jitter = post_jitter
        self.crop = crop
        self.color = color
        self.shared = shared
        self.name = name

    def __repr__(self) -> str:
        return f"PairTransform({self.name!r})"

    def __call__(
        self, pre: _U8, post: _U8, mask: _U8, *, seed: int | None = None
    ) -> tuple[_U8, _U8, _U8]:
        """Augment one pair.

        Args:
            pre: ``(H, W, 3)`` uint8 pre image.
            post: ``(H, W, 3)`` uint8 post image.
            mask: ``(H, W)`` uint8 damage mask, 0..4 or 255.
            seed: Seed of this call (deterministic output), or None.

        Returns:
            ``(pre, post, mask)``, uint8, ``(h, w, 3)``, ``(h, w, 3)`` and ``(h, w)``
            (``h = w = crop_size`` where the preset crops).
        """
        if self.post_jitter is not None:
            if seed is not None:
                seed_compose(self.post_jitter, _stage_seed(seed, 0))
            out = self.post_jitter(image=post, mask=mask)
            post, mask = out["image"], out["mask"]
        if self.crop is not None:
            if seed is not None:
                seed_compose(self.crop, _stage_seed(seed, 1))
            out = self.crop(image=pre, image_post=post, mask=mask)
            pre, post, mask = out["image"], out["image_post"], out["mask"]
        if self.color is not None:
            if seed is not None:
                seed_compose(self.color, _stage_seed(seed, 2, 0))
            pre = self.color(image=pre)["image"]
            if seed is not None:
                seed_compose(self.color, _stage_seed(seed, 2, 1))
            post = self.color(image=post)["image"]
        if self.shared is not None:
            if seed is not None:
                seed_compose(self.shared, _stage_seed(seed, 3))
            out = self.shared(image=pre, image_post=post, mask=mask)
            pre, post, mask = out["image"], out["image_post"], out["mask"]
        return (
            np.ascontiguousarray(pre, dtype=np.uint8),
            np.ascontiguousarray(post, dtype=np.uint8),
            np.ascontiguousarray(mask, dtype=np.uint8),
        )


def _pair_compose(transforms: list[A.BasicTransform | A.BaseCompose]) -> A.Compose:
    return A.Compose(transforms, additional_targets={"image_post": "image"})


def _post_jitter() -> A.Compose:
    return A.Compose(
        [
            A.Affine(
                scale=(1.0 - POST_ZOOM, 1.0 + POST_ZOOM),
                keep_ratio=True,
                translate_px=(-POST_SHIFT_PX, POST_SHIFT_PX),
                rotate=(-POST_ROTATE_DEG, POST_ROTATE_DEG),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=IGNORE_INDEX,
                p=POST_JITTER_P,
            )
        ]
    )


def _crop(crop_size: int) -> A.Compose:
    low, high = (round(s * crop_size) for s in CROP_SCALE)
    return _pair_compose(
        [
            A.PadIfNeeded(
                min_height=high,
                min_width=high,
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=IGNORE_INDEX,
            ),
            A.RandomSizedCrop(min_max_height=(low, high), size=(crop_size, crop_size)),
        ]
    )


def _color() -> A.Compose:
    return A.Compose(
        [
            A.RandomBrightnessContrast(
                brightness_limit=0.2,
                contrast_limit=0.2,
                brightness_by_max=True,
                p=BRIGHTNESS_CONTRAST_P,
            ),
            A.RandomGamma(gamma_limit=(90, 110), p=GAMMA_P),
            A.OneOf(
                [
                    A.HueSaturationValue(
                        hue_shift_limit=10, sat_shift_limit=10, val_shift_limit=10, p=1.0
                    ),
                    A.RGBShift(r_shift_limit=10, g_shift_limit=10, b_shift_limit=10, p=1.0),
                ],
                p=COLOR_SPACE_P,
            ),
        ]
    )


def _d4() -> list[A.BasicTransform | A.BaseCompose]:
    return [A.Transpose(p=TRANSPOSE_P), A.RandomRotate90(p=ROTATE90_P)]


def _shared_winner() -> A.Compose:
    return _pair_compose(
        [
            A.OneOf(
                [A.RandomGridShuffle(grid=(g, g), p=1.0) for g in GRID_SHUFFLE_GRIDS],
                p=GRID_SHUFFLE_P,
            ),
            A.Affine(
                scale=(1.0 - SHARED_SCALE, 1.0 + SHARED_SCALE),
                keep_ratio=True,
                translate_percent=(-SHARED_SHIFT, SHARED_SHIFT),
                rotate=(-SHARED_ROTATE_DEG, SHARED_ROTATE_DEG),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                fill_mask=0,
                p=SHIFT_SCALE_ROTATE_P,
            ),
            *_d4(),
            A.RandomBrightnessContrast(p=SHARED_BRIGHTNESS_CONTRAST_P),
            BuildingDropout(
                max_objects=MASK_DROPOUT_OBJECTS, fill=0, fill_mask=0, p=MASK_DROPOUT_P
            ),
        ]
    )


def build_xview2_transform(preset: str, crop_size: int | None = None) -> PairTransform:
    """The training transform of a preset.

    Args:
        preset: ``winner`` (the winner's pipeline, see the module docstring), ``light``
            (shared transposition and rotation by 90° only) or ``none`` (identity).
        crop_size: Side of the ``winner`` crop, pixels, or None for no crop (the output
            keeps the input size). Ignored by ``light`` and ``none``, whose crops are the
            dataset's.

    Returns:
        A :class:`PairTransform`.

    Raises:
        ValueError: Unknown preset, or a ``crop_size`` that is not a positive integer.
    """
    if preset not in XVIEW2_AUGMENTATION_PRESETS:
        raise ValueError(
            f"Unknown xView2 augmentation preset {preset!r}: expected one of "
            f"{', '.join(XVIEW2_AUGMENTATION_PRESETS)}."
        )
    if crop_size is not None and (
        isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size <= 0
    ):
        raise ValueError(f"crop_size must be a positive integer or None, got {crop_size!r}.")
    if preset == "none":
        return PairTransform(name="none")
    if preset == "light":
        return PairTransform(shared=_pair_compose(_d4()), name="light")
    return PairTransform(
        post_jitter=_post_jitter(),
        crop=_crop(crop_size) if crop_size is not None else None,
        color=_color(),
        shared=_shared_winner(),
        name="winner",
    )
