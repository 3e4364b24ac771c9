"""SAR augmentations (albumentations 2.0.8) in the seed's two stages.

The seed (``configs/augs/flips_light_medium.yaml``) augments in two places:

1. **Raw dB, per channel, before normalisation** (``individual``): VH and VV each get an
   independent :class:`UnclippedRandomBrightnessContrast` (brightness ±0.01 dB, contrast
   ±0.01, p=0.5) and :class:`UnclippedGaussNoise` (variance U(1e-4, 5e-3) dB², p=0.5).
   Here one transform with ``per_channel=True`` draws independent parameters per channel.
2. **Joint image + keypoints, on the normalised stack** (``spatial``): HorizontalFlip 0.5,
   VerticalFlip 0.5, :class:`UnclippedRandomBrightnessContrast` (brightness U(−1, 1),
   contrast ±0.1, same for both channels, p=0.25), :class:`SpikeElasticTransform` (p=0.1),
   ``A.Affine`` in place of ``ShiftScaleRotate`` (scale ±0.1 isotropic, rotate ±15° — the
   README says 5° —, translate ±6.25 % per axis, constant NaN border, p=0.5),
   ``A.RandomGridShuffle`` 3×3 (p=0.2), :class:`FloatMedianBlur` 3–5 (p=0.05),
   :class:`FloatGaussianBlur` 3–5 (p=0.05).

albumentations 2 specifics (checked against 2.0.8):

* ``A.Affine(border_mode=cv2.BORDER_CONSTANT, fill=np.nan)`` fills float32 images with NaN
  (no sentinel needed); NaN also spreads to the neighbours of nodata through the linear
  interpolation, as in the seed. Non-finite pixels are zeroed by the dataset afterwards.
* Keypoints ``"xy"`` use the pixel-index convention (a flip maps ``x`` to ``W - 1 - x``),
  the convention of the label centres, so centres are passed unchanged.
* ``A.RandomGridShuffle`` moves keypoints itself (sub-pixel exact, tiles swapped only
  within groups of equal shape), so the seed's custom keypoint-aware version is not needed.
* ``A.ElasticTransform`` moves keypoints by an integer look-up into an approximate inverse
  map (sub-pixel position lost); the seed used its own spike-based elastic transform, which
  :class:`SpikeElasticTransform` re-implements with a sub-pixel keypoint inverse.
* Keypoints are ``"xys"``: the scale column carries the object length in pixels, so
  ``A.Affine`` rescales lengths with the zoom, as the seed did. Keypoints leaving the image
  are dropped together with their label field (``remove_invisible=True``).
* ``A.MedianBlur`` converts float32 to uint8 (× 255, clipped to [0, 1]) and
  ``A.GaussianBlur`` clips float32 output to [0, 1]; both would destroy unclipped SAR
  values, so :class:`FloatMedianBlur` and :class:`FloatGaussianBlur` call OpenCV directly.
  ``A.Affine``, the flips and ``A.RandomGridShuffle`` keep float values unclipped.
* Seeding: ``Compose(seed=...)`` / ``Compose.set_random_seed`` seed every child transform
  from their own generators; global numpy/random seeds have no effect.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema

from xview3_pipeline.core.config import check_keys

__all__ = [
    "AUGMENTATION_PRESETS",
    "AugmentationConfig",
    "AugmentedSample",
    "FloatGaussianBlur",
    "FloatMedianBlur",
    "SarAugmentation",
    "SpikeElasticTransform",
    "UnclippedGaussNoise",
    "UnclippedRandomBrightnessContrast",
    "augmentation_from_config",
    "build_augmentations",
]

#: Preset names of :func:`build_augmentations`.
AugmentationPreset = Literal["none", "seed", "light"]
AUGMENTATION_PRESETS: tuple[str, ...] = get_args(AugmentationPreset)

#: Label field carrying the index of each keypoint's object.
_INDEX_FIELD = "object_index"


def _symmetric(value: float | tuple[float, float]) -> tuple[float, float]:
    if isinstance(value, int | float):
        return (-abs(float(value)), abs(float(value)))
    low, high = (float(v) for v in value)
    if low > high:
        raise ValueError(f"Range ({low}, {high}) has low > high.")
    return (low, high)


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else int(image.shape[-1])


class UnclippedRandomBrightnessContrast(A.ImageOnlyTransform):
    """``x · α + β`` without clipping (dB or normalised values); NaN stays NaN.

    ``α = 1 + U(contrast_limit)``, ``β = U(brightness_limit)``, drawn once per image or,
    with ``per_channel``, independently per channel. Unlike ``A.RandomBrightnessContrast``
    the result is not clipped to [0, 1], and ``β`` is an offset in the image's own units.

    Args:
        brightness_limit: ``b`` for ``U(−b, b)`` or a ``(low, high)`` range.
        contrast_limit: ``c`` for ``U(−c, c)`` or a ``(low, high)`` range.
        per_channel: Independent ``α, β`` per channel.
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        brightness_limit: float | tuple[float, float]
        contrast_limit: float | tuple[float, float]
        per_channel: bool

    def __init__(
        self,
        brightness_limit: float | tuple[float, float] = 0.2,
        contrast_limit: float | tuple[float, float] = 0.2,
        per_channel: bool = False,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.brightness_limit = _symmetric(brightness_limit)
        self.contrast_limit = _symmetric(contrast_limit)
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw ``alpha`` and ``beta``: scalars, or ``(C,)`` arrays with ``per_channel``."""
        n = _channels(data["image"]) if self.per_channel else 1
        alpha = 1.0 + self.random_generator.uniform(*self.contrast_limit, size=n)
        beta = self.random_generator.uniform(*self.brightness_limit, size=n)
        return {"alpha": alpha.astype(np.float32), "beta": beta.astype(np.float32)}

    def apply(
        self, img: np.ndarray, alpha: np.ndarray, beta: np.ndarray, **params: Any
    ) -> np.ndarray:
        """``(H, W[, C])`` image times ``alpha`` plus ``beta``, same dtype."""
        if img.ndim == 2:
            alpha, beta = alpha[0], beta[0]
        return (img * alpha + beta).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("brightness_limit", "contrast_limit", "per_channel")


class UnclippedGaussNoise(A.ImageOnlyTransform):
    """Additive Gaussian noise without clipping; NaN stays NaN.

    The variance is drawn once per image from ``U(var_limit)`` (units²: dB² on raw
    backscatter), as the seed; the noise is drawn per pixel and, with ``per_channel``, per
    channel (else one noise field shared by all channels).

    Args:
        var_limit: ``(low, high)`` variance range, non-negative.
        mean: Noise mean.
        per_channel: Independent noise per channel.
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        var_limit: tuple[float, float]
        mean: float
        per_channel: bool

    def __init__(
        self,
        var_limit: tuple[float, float] = (1e-4, 5e-3),
        mean: float = 0.0,
        per_channel: bool = True,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        low, high = (float(v) for v in var_limit)
        if not 0.0 <= low <= high:
            raise ValueError(f"var_limit must satisfy 0 <= low <= high, got {var_limit}.")
        self.var_limit = (low, high)
        self.mean = float(mean)
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the noise field, shaped like the image (or ``(H, W, 1)``)."""
        image = data["image"]
        sigma = math.sqrt(self.random_generator.uniform(*self.var_limit))
        shape = image.shape if (self.per_channel or image.ndim == 2) else (*image.shape[:2], 1)
        noise = self.random_generator.standard_normal(size=shape, dtype=np.float32)
        noise *= np.float32(sigma)
        noise += np.float32(self.mean)
        return {"noise": noise}

    def apply(self, img: np.ndarray, noise: np.ndarray, **params: Any) -> np.ndarray:
        """Image plus noise, same dtype."""
        return (img + noise).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("var_limit", "mean", "per_channel")


class SpikeElasticTransform(A.DualTransform):
    """The seed's elastic transform: blurred random displacement spikes, keypoint-exact.

    ``num_spikes`` pixels of each displacement field (x and y independently) are set to
    ``U(magnitude)`` pixels; each field is then blurred ``blur_iterations`` times with a
    ``blur_kernel``² box filter (≈ a Gaussian of σ = sqrt(iterations · (k² − 1) / 12),
    11.3 px for the defaults), and the image is resampled as
    ``out(p) = in(p + d(p))`` (``cv2.remap``, linear, reflect-101 borders). With the seed's
    magnitudes (10–100 px) the displacement stays below about a pixel: a light warp.

    A keypoint at ``q`` moves to the ``p`` that solves ``p + d(p) = q``, found by the
    fixed-point iteration ``p ← q − d(p)`` with bilinear look-ups of ``d`` (exact to
    sub-pixel precision; the seed located the maximum of a remapped one-hot mask, to the
    nearest pixel).

    Args:
        num_spikes: Spikes per displacement field.
        magnitude: ``(low, high)`` spike magnitude in pixels (the seed: 10–100, positive;
            a symmetric range gives spikes of both signs).
        blur_kernel: Box filter side (odd).
        blur_iterations: Number of box blurs.
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        num_spikes: int
        magnitude: tuple[float, float]
        blur_kernel: int
        blur_iterations: int

    def __init__(
        self,
        num_spikes: int = 128,
        magnitude: tuple[float, float] = (10.0, 100.0),
        blur_kernel: int = 7,
        blur_iterations: int = 32,
        p: float = 0.1,
    ) -> None:
        super().__init__(p=p)
        if num_spikes < 0 or blur_kernel < 1 or blur_iterations < 0:
            raise ValueError(
                "SpikeElasticTransform needs num_spikes >= 0, blur_kernel >= 1 and "
                f"blur_iterations >= 0, got {num_spikes}, {blur_kernel}, {blur_iterations}."
            )
        self.num_spikes = int(num_spikes)
        self.magnitude = (float(magnitude[0]), float(magnitude[1]))
        self.blur_kernel = int(blur_kernel)
        self.blur_iterations = int(blur_iterations)

    def _field(self, height: int, width: int) -> np.ndarray:
        field = np.zeros((height, width), np.float32)
        rows = self.random_generator.integers(0, height, self.num_spikes)
        cols = self.random_generator.integers(0, width, self.num_spikes)
        field[rows, cols] = self.random_generator.uniform(*self.magnitude, self.num_spikes)
        for _ in range(self.blur_iterations):
            field = cv2.blur(field, (self.blur_kernel, self.blur_kernel))
        return field

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the ``(H, W)`` float32 displacement fields ``dx``, ``dy`` in pixels."""
        height, width = params["shape"][:2]
        return {"dx": self._field(height, width), "dy": self._field(height, width)}

    @staticmethod
    def _maps(dx: np.ndarray, dy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = np.indices(dx.shape, dtype=np.float32)
        return cols + dx, rows + dy

    def apply(self, img: np.ndarray, dx: np.ndarray, dy: np.ndarray, **params: Any) -> np.ndarray:
        """Warp an ``(H, W[, C])`` image (linear, reflect-101 borders)."""
        map_x, map_y = self._maps(dx, dy)
        out = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return out.reshape(img.shape)

    def apply_to_mask(
        self, mask: np.ndarray, dx: np.ndarray, dy: np.ndarray, **params: Any
    ) -> np.ndarray:
        """Warp a mask (nearest neighbour)."""
        map_x, map_y = self._maps(dx, dy)
        out = cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)
        return out.reshape(mask.shape)

    def apply_to_keypoints(
        self, keypoints: np.ndarray, dx: np.ndarray, dy: np.ndarray, **params: Any
    ) -> np.ndarray:
        """Move ``(N, ≥2)`` keypoints ``(x, y, ...)`` to where their pixel content went."""
        if len(keypoints) == 0:
            return keypoints
        out = keypoints.copy()
        target = keypoints[:, :2].astype(np.float32)
        pos = target.copy()
        for _ in range(8):
            px = pos[:, 0].reshape(1, -1)
            py = pos[:, 1].reshape(1, -1)
            sx = cv2.remap(dx, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            sy = cv2.remap(dy, px, py, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            pos = target - np.stack([sx.ravel(), sy.ravel()], axis=1)
        out[:, :2] = pos
        return out

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("num_spikes", "magnitude", "blur_kernel", "blur_iterations")


def _odd_kernels(blur_limit: int | tuple[int, int]) -> tuple[int, ...]:
    low, high = (3, int(blur_limit)) if isinstance(blur_limit, int) else blur_limit
    kernels = tuple(k for k in range(int(low), int(high) + 1) if k % 2 == 1 and k >= 3)
    if not kernels:
        raise ValueError(f"blur_limit {blur_limit!r} holds no odd kernel size >= 3.")
    return kernels


class _FloatKernelBlur(A.ImageOnlyTransform):
    """Shared part of the float32 blurs: an odd kernel size drawn from ``blur_limit``."""

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        blur_limit: int | tuple[int, int]

    def __init__(self, blur_limit: int | tuple[int, int] = (3, 5), p: float = 0.05) -> None:
        super().__init__(p=p)
        kernels = _odd_kernels(blur_limit)
        self.blur_limit = (min(kernels), max(kernels))
        self._kernels = kernels

    def get_params(self) -> dict[str, Any]:
        """Draw the kernel size."""
        return {"ksize": int(self.random_generator.choice(self._kernels))}

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("blur_limit",)


class FloatMedianBlur(_FloatKernelBlur):
    """Median blur of float32 images without the uint8 round trip.

    albumentations 2's ``A.MedianBlur`` converts float32 images to uint8 (``x · 255``,
    clipped to [0, 1]) and back, which quantises and clips unclipped SAR values and turns
    NaN into garbage. This calls ``cv2.medianBlur`` on float32 directly, which OpenCV
    supports for kernels 3 and 5 (the seed's range).

    Args:
        blur_limit: Largest odd kernel, or a ``(low, high)`` range; odd sizes in 3–5.
        p: Probability of applying.
    """

    def __init__(self, blur_limit: int | tuple[int, int] = (3, 5), p: float = 0.05) -> None:
        super().__init__(blur_limit=blur_limit, p=p)
        if max(self._kernels) > 5:
            raise ValueError(
                f"OpenCV median blur of float32 supports kernels 3 and 5, got {self._kernels}."
            )

    def apply(self, img: np.ndarray, ksize: int, **params: Any) -> np.ndarray:
        """Median-filtered ``(H, W[, C])`` float32 image (edges replicated by OpenCV)."""
        img = np.ascontiguousarray(img, dtype=np.float32)
        if img.ndim == 3 and img.shape[-1] not in (1, 3, 4):
            channels = [
                cv2.medianBlur(np.ascontiguousarray(img[..., c]), ksize)
                for c in range(img.shape[-1])
            ]
            return np.stack(channels, axis=-1)
        return cv2.medianBlur(img, ksize).reshape(img.shape)


class FloatGaussianBlur(_FloatKernelBlur):
    """Gaussian blur of float32 images without clipping to [0, 1].

    albumentations 2's ``A.GaussianBlur`` clips float32 output to [0, 1], which destroys
    unclipped SAR values (negative after ``x / 50``, above 1 after a brightness shift).
    This calls ``cv2.GaussianBlur`` with an odd kernel from ``blur_limit`` and
    ``sigma = 0`` (OpenCV derives it from the kernel: ``0.3 · ((k − 1) / 2 − 1) + 0.8``),
    as albumentations 1 did for the seed's ``GaussianBlur(blur_limit=(3, 5))``.

    Args:
        blur_limit: Largest odd kernel, or a ``(low, high)`` range.
        p: Probability of applying.
    """

    def apply(self, img: np.ndarray, ksize: int, **params: Any) -> np.ndarray:
        """Blurred ``(H, W[, C])`` float32 image (reflect-101 borders), unclipped."""
        img = np.ascontiguousarray(img, dtype=np.float32)
        return cv2.GaussianBlur(img, (ksize, ksize), 0).reshape(img.shape)


@dataclass(frozen=True)
class AugmentationConfig:
    """Probabilities and ranges of the augmentations (defaults: the seed).

    Attributes:
        raw_brightness_limit: dB offset range of the raw stage (±0.01).
        raw_contrast_limit: Gain range of the raw stage (±0.01).
        raw_brightness_contrast_p: Probability of the raw brightness/contrast.
        noise_var_limit: Raw-stage noise variance range in dB².
        noise_p: Probability of the raw-stage noise.
        hflip_p: Horizontal flip probability.
        vflip_p: Vertical flip probability.
        brightness_limit: Offset range on the normalised stack (±1).
        contrast_limit: Gain range on the normalised stack (±0.1).
        brightness_contrast_p: Probability of the normalised brightness/contrast.
        elastic_p: Probability of :class:`SpikeElasticTransform`.
        elastic_magnitude: Its spike magnitude range in pixels.
        affine_p: Probability of the affine (shift/scale/rotate).
        scale_limit: Isotropic zoom range ``1 ± scale_limit``.
        rotate_limit: Rotation range ``±rotate_limit`` degrees (seed code 15, README 5).
        shift_limit: Translation range per axis, fraction of the side.
        grid_shuffle_p: Probability of the grid shuffle.
        grid: Grid ``(rows, cols)`` of the shuffle.
        median_blur_p: Probability of MedianBlur (kernel 3 or 5).
        gaussian_blur_p: Probability of GaussianBlur (kernel 3 to 5).
    """

    raw_brightness_limit: float = 0.01
    raw_contrast_limit: float = 0.01
    raw_brightness_contrast_p: float = 0.5
    noise_var_limit: tuple[float, float] = (1e-4, 5e-3)
    noise_p: float = 0.5
    hflip_p: float = 0.5
    vflip_p: float = 0.5
    brightness_limit: float = 1.0
    contrast_limit: float = 0.1
    brightness_contrast_p: float = 0.25
    elastic_p: float = 0.1
    elastic_magnitude: tuple[float, float] = (10.0, 100.0)
    affine_p: float = 0.5
    scale_limit: float = 0.1
    rotate_limit: float = 15.0
    shift_limit: float = 0.0625
    grid_shuffle_p: float = 0.2
    grid: tuple[int, int] = (3, 3)
    median_blur_p: float = 0.05
    gaussian_blur_p: float = 0.05


#: Overrides of :class:`AugmentationConfig` per preset (``"none"`` builds nothing).
_PRESETS: dict[str, dict[str, Any]] = {
    "seed": {},
    "light": {
        "brightness_contrast_p": 0.0,
        "elastic_p": 0.0,
        "rotate_limit": 5.0,
        "grid_shuffle_p": 0.0,
        "median_blur_p": 0.0,
        "gaussian_blur_p": 0.0,
    },
}


@dataclass(frozen=True)
class AugmentedSample:
    """Output of :meth:`SarAugmentation.apply_joint`.

    Attributes:
        image: ``(C, H, W)`` float32 augmented image (NaN where filled or nodata).
        centers: ``(M, 2)`` float32 ``(x, y)`` keypoints still inside the image.
        length_px: ``(M,)`` float32 lengths rescaled by the zoom (NaN stays NaN).
        index: ``(M,)`` int64 index of each kept keypoint in the input.
    """

    image: np.ndarray
    centers: np.ndarray
    length_px: np.ndarray
    index: np.ndarray


class SarAugmentation:
    """The two augmentation stages of one preset.

    Args:
        raw: Image-only pipeline on raw dB ``(H, W, C)``, or None.
        joint: Image + keypoint pipeline on the normalised stack, built with
            ``KeypointParams(format="xys", label_fields=["object_index"])``, or None.
        name: Preset name, for ``repr``.
    """

    def __init__(
        self, raw: A.Compose | None, joint: A.Compose | None, name: str = "custom"
    ) -> None:
        self.raw = raw
        self.joint = joint
        self.name = name

    def __repr__(self) -> str:
        return f"SarAugmentation({self.name!r})"

    @staticmethod
    def _to_hwc(image: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(image, 0, -1), dtype=np.float32)

    @staticmethod
    def _to_chw(image: np.ndarray) -> np.ndarray:
        if image.ndim == 2:
            image = image[..., None]
        return np.ascontiguousarray(np.moveaxis(image, -1, 0), dtype=np.float32)

    def apply_raw(self, image: np.ndarray, seed: int) -> np.ndarray:
        """Stage 1: per-channel brightness/contrast and noise on raw dB.

        Args:
            image: ``(C, H, W)`` float32 dB, NaN for nodata.
            seed: Seed of this call (deterministic output).

        Returns:
            ``(C, H, W)`` float32 dB, NaN preserved.
        """
        if self.raw is None:
            return image
        self.raw.set_random_seed(int(seed))
        return self._to_chw(self.raw(image=self._to_hwc(image))["image"])

    def apply_joint(
        self, image: np.ndarray, centers: np.ndarray, length_px: np.ndarray, seed: int
    ) -> AugmentedSample:
        """Stage 2: spatial and intensity augmentations with the object centres.

        Args:
            image: ``(C, H, W)`` float32 normalised image, NaN for nodata.
            centers: ``(N, 2)`` ``(x, y)`` object centres in pixels of ``image``.
            length_px: ``(N,)`` lengths in pixels (NaN unknown).
            seed: Seed of this call.

        Returns:
            The augmented image and the keypoints that stayed inside it.
        """
        centers = np.asarray(centers, dtype=np.float32).reshape(-1, 2)
        length_px = np.asarray(length_px, dtype=np.float32).reshape(-1)
        index = np.arange(len(centers), dtype=np.int64)
        if self.joint is None:
            return AugmentedSample(image, centers, length_px, index)
        known = np.isfinite(length_px)
        keypoints = np.concatenate([centers, np.where(known, length_px, 0.0)[:, None]], axis=1)
        self.joint.set_random_seed(int(seed))
        out = self.joint(image=self._to_hwc(image), keypoints=keypoints, **{_INDEX_FIELD: index})
        kept = np.asarray(out[_INDEX_FIELD], dtype=np.int64).reshape(-1)
        points = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 3)
        lengths = np.where(known[kept], points[:, 2], np.nan).astype(np.float32)
        return AugmentedSample(self._to_chw(out["image"]), points[:, :2].copy(), lengths, kept)


def _raw_pipeline(cfg: AugmentationConfig) -> A.Compose | None:
    transforms: list[A.BasicTransform] = []
    if cfg.raw_brightness_contrast_p > 0:
        transforms.append(
            UnclippedRandomBrightnessContrast(
                cfg.raw_brightness_limit,
                cfg.raw_contrast_limit,
                per_channel=True,
                p=cfg.raw_brightness_contrast_p,
            )
        )
    if cfg.noise_p > 0:
        transforms.append(UnclippedGaussNoise(cfg.noise_var_limit, per_channel=True, p=cfg.noise_p))
    return A.Compose(transforms) if transforms else None


def _joint_pipeline(cfg: AugmentationConfig) -> A.Compose:
    transforms: list[A.BasicTransform] = [
        A.HorizontalFlip(p=cfg.hflip_p),
        A.VerticalFlip(p=cfg.vflip_p),
    ]
    if cfg.brightness_contrast_p > 0:
        transforms.append(
            UnclippedRandomBrightnessContrast(
                cfg.brightness_limit,
                cfg.contrast_limit,
                per_channel=False,
                p=cfg.brightness_contrast_p,
            )
        )
    if cfg.elastic_p > 0:
        transforms.append(SpikeElasticTransform(magnitude=cfg.elastic_magnitude, p=cfg.elastic_p))
    if cfg.affine_p > 0:
        shift = (-cfg.shift_limit, cfg.shift_limit)
        transforms.append(
            A.Affine(
                scale=(1.0 - cfg.scale_limit, 1.0 + cfg.scale_limit),
                keep_ratio=True,
                translate_percent={"x": shift, "y": shift},
                rotate=(-cfg.rotate_limit, cfg.rotate_limit),
                interpolation=cv2.INTER_LINEAR,
                border_mode=cv2.BORDER_CONSTANT,
                fill=np.nan,
                p=cfg.affine_p,
            )
        )
    if cfg.grid_shuffle_p > 0:
        transforms.append(A.RandomGridShuffle(grid=tuple(cfg.grid), p=cfg.grid_shuffle_p))
    if cfg.median_blur_p > 0:
        transforms.append(FloatMedianBlur(blur_limit=(3, 5), p=cfg.median_blur_p))
    if cfg.gaussian_blur_p > 0:
        transforms.append(FloatGaussianBlur(blur_limit=(3, 5), p=cfg.gaussian_blur_p))
    return A.Compose(
        transforms,
        keypoint_params=A.KeypointParams(
            format="xys", label_fields=[_INDEX_FIELD], remove_invisible=True
        ),
    )


def build_augmentations(name: str = "seed", **params: Any) -> SarAugmentation:
    """Build a preset of the two augmentation stages.

    Args:
        name: ``"none"`` (identity), ``"seed"`` (the seed's ``flips_light_medium``) or
            ``"light"`` (flips, affine with ±5° and the raw-dB stage only).
        **params: Overrides of :class:`AugmentationConfig` fields (e.g. ``rotate_limit=5``).

    Returns:
        The :class:`SarAugmentation`.

    Raises:
        KeyError: On an unknown preset (the message lists them).
        ValueError: On an unknown parameter, or parameters given with ``"none"``.
    """
    if name not in AUGMENTATION_PRESETS:
        raise KeyError(
            f"Unknown augmentation preset {name!r}; available: {list(AUGMENTATION_PRESETS)}."
        )
    check_keys(AugmentationConfig, params, what="augmentation parameter")
    if name == "none":
        if params:
            raise ValueError(f"Preset 'none' takes no parameters, got {sorted(params)}.")
        return SarAugmentation(None, None, name="none")
    values: dict[str, Any] = {**_PRESETS[name], **params}
    for key in ("noise_var_limit", "elastic_magnitude", "grid"):
        if key in values:
            values[key] = tuple(values[key])
    cfg = AugmentationConfig(**values)
    return SarAugmentation(_raw_pipeline(cfg), _joint_pipeline(cfg), name=name)


def augmentation_from_config(config: Mapping[str, Any] | None) -> SarAugmentation:
    """Build from a mapping ``{"name": preset, **overrides}`` (e.g. Kedro parameters)."""
    params = dict(config or {})
    return build_augmentations(params.pop("name", "seed"), **params)
