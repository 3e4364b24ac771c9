"""Float-safe SAR transforms for albumentations 2: intensity, noise, elastic, blurs.

See :mod:`xview3_pipeline.core.data.augmentations` for why each one exists.
"""

from __future__ import annotations

import math
from typing import Any

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema

__all__ = [
    "FloatGaussianBlur",
    "FloatMedianBlur",
    "SpikeElasticTransform",
    "UnclippedGaussNoise",
    "UnclippedRandomBrightnessContrast",
]


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
    backscatter), as the winner's code; the noise is drawn per pixel and, with ``per_channel``, per
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
    """The winner's elastic transform: blurred random displacement spikes, keypoint-exact.

    ``num_spikes`` pixels of each displacement field (x and y independently) are set to
    ``U(magnitude)`` pixels; each field is then blurred ``blur_iterations`` times with a
    ``blur_kernel``² box filter (≈ a Gaussian of σ = sqrt(iterations · (k² − 1) / 12),
    11.3 px for the defaults), and the image is resampled as
    ``out(p) = in(p + d(p))`` (``cv2.remap``, linear, reflect-101 borders). With the winner's
    magnitudes (10–100 px) the displacement stays below about a pixel: a light warp.

    A keypoint at ``q`` moves to the ``p`` that solves ``p + d(p) = q``, found by the
    fixed-point iteration ``p ← q − d(p)`` with bilinear look-ups of ``d`` (exact to
    sub-pixel precision; the winner located the maximum of a remapped one-hot mask, to the
    nearest pixel).

    Args:
        num_spikes: Spikes per displacement field.
        magnitude: ``(low, high)`` spike magnitude in pixels (the winner: 10–100, positive;
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
        field: np.ndarray = np.zeros((height, width), np.float32)
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
    supports for kernels 3 and 5 (the winner's range).

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
    as albumentations 1 did for the winner's ``GaussianBlur(blur_limit=(3, 5))``.

    Args:
        blur_limit: Largest odd kernel, or a ``(low, high)`` range.
        p: Probability of applying.
    """

    def apply(self, img: np.ndarray, ksize: int, **params: Any) -> np.ndarray:
        """Blurred ``(H, W[, C])`` float32 image (reflect-101 borders), unclipped."""
        img = np.ascontiguousarray(img, dtype=np.float32)
        return cv2.GaussianBlur(img, (ksize, ksize), 0).reshape(img.shape)
