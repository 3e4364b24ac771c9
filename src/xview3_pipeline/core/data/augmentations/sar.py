"""Physically motivated SAR transforms on raw dB backscatter (albumentations 2, image only).

Each transform takes an ``(H, W)`` or ``(H, W, C)`` float32 image of sigma0 in dB (the
xView3 convention ``dB = 10 log10(sigma0 + 1e-5)``, hence a -50 dB floor; NaN for nodata)
and returns the same shape and dtype, NaN where the input was NaN. Random draws come from
the transform's own ``random_generator``, so ``Compose(seed=...)`` /
``Compose.set_random_seed`` make them deterministic. Typical values are those of
Sentinel-1 IW GRDH (the project's SAR physics notes and ``core/synthetic/physics.py``):

* :class:`SpeckleResample`: multiplicative speckle, ENL 4.4 in the real product.
* :class:`PointSpread`: a coarser resolution than the data's (~20 m on the 10 m grid):
  wider targets, coarser speckle.
* :class:`IncidenceGradient`: sigma0 falls with incidence (30.9-46.0 degrees across a
  ~25,000 px swath); VV sea loses about 0.5 dB per degree, i.e. ~0.3 dB per 1000 px, and
  residual gradients after normalisation can be of either sign.
* :class:`NoiseFloor`: the noise-equivalent sigma zero (NESZ, specified <= -22 dB) adds
  thermal noise power, scalloped within each sub-swath (~3 dB higher at its edges).
* :class:`CalibrationOffset`: absolute radiometric accuracy of 1 dB (3 sigma).
* :class:`BackgroundContrast`: scales every pixel's dB contrast to the image's median, so
  targets stand out more or less from the sea (wind, point spread and the brightness of
  vessels of a given length vary from scene to scene by several dB).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import albumentations as A
import cv2
import numpy as np
from albumentations.core.transforms_interface import BaseTransformInitSchema

__all__ = [
    "DB_OFFSET",
    "BackgroundContrast",
    "CalibrationOffset",
    "IncidenceGradient",
    "NoiseFloor",
    "PointSpread",
    "SpeckleResample",
    "db_to_power",
    "power_to_db",
]

#: Linear offset of the xView3 dB conversion ``10 log10(sigma0 + 1e-5)`` (-50 dB floor).
DB_OFFSET = 1e-5


def db_to_power(db: np.ndarray) -> np.ndarray:
    """Invert ``10 log10(p + 1e-5)``: linear power ``p >= 0`` (float32, NaN stays NaN).

    Powers below ``1e-8`` (within 0.005 dB of the -50 dB floor, float32 rounding of the
    subtraction) are set to 0, so the floor maps to zero power exactly.
    """
    db = np.asarray(db, dtype=np.float32)
    power = np.power(np.float32(10.0), db / np.float32(10.0)) - np.float32(DB_OFFSET)
    # NaN compares False, so it is kept.
    return np.where(power < np.float32(DB_OFFSET * 1e-3), np.float32(0.0), power)


def power_to_db(power: np.ndarray) -> np.ndarray:
    """``10 log10(p + 1e-5)`` in float32 (the data's -50 dB floor; NaN stays NaN)."""
    return (np.float32(10.0) * np.log10(power + np.float32(DB_OFFSET))).astype(np.float32)


def _range(name: str, value: Any, *, low: float = -math.inf, high: float = math.inf) -> tuple:
    """A ``(lo, hi)`` float range inside ``[low, high]``, or a clear ``ValueError``."""
    try:
        lo, hi = (float(v) for v in (value if isinstance(value, tuple | list) else (value, value)))
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number or a (low, high) pair, got {value!r}.") from None
    if not (low <= lo <= hi <= high) or math.isnan(lo) or math.isnan(hi):
        raise ValueError(f"{name} must satisfy {low} <= low <= high <= {high}, got {value!r}.")
    return (lo, hi)


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else int(image.shape[-1])


def _per_channel(values: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``(C,)`` values broadcastable against an ``(H, W[, C])`` image."""
    return values.reshape(()) if image.ndim == 2 else values.reshape(1, 1, -1)


def _gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian of ``sigma`` pixels, radius ``ceil(3 sigma)``."""
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    return kernel / kernel.sum()


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of an ``(H, W)`` float32 image (reflected borders)."""
    kernel = _gaussian_kernel(sigma)
    return cv2.sepFilter2D(
        np.ascontiguousarray(image, dtype=np.float32), -1, kernel, kernel,
        borderType=cv2.BORDER_REFLECT_101,
    )  # fmt: skip


def _correlated_gamma(
    rng: np.random.Generator, shape: tuple[int, ...], looks: float, sigma: float
) -> np.ndarray:
    """A unit-mean speckle field of variance ``1 / looks``, correlated over ``sigma`` px.

    The correlation is that of speckle behind a Gaussian point spread of ``sigma`` pixels
    (white Gamma speckle when ``sigma`` ~ 0). A ``Gamma(L·r, 1/(L·r))`` field is blurred by the Gaussian, whose sum of squared weights
    ``r`` (``(Σk²)²`` for the separable 2-D kernel) is the variance reduction of the blur,
    so the blurred field has mean 1 and variance ``1/L`` and stays positive.

    Args:
        rng: The generator.
        shape: ``(H, W, C)``.
        looks: ``L`` > 0.
        sigma: Gaussian sigma, pixels.

    Returns:
        ``(H, W, C)`` float32.
    """
    if sigma <= 1e-3:
        return rng.gamma(looks, 1.0 / looks, size=shape).astype(np.float32)
    shape_k = looks * float(np.sum(_gaussian_kernel(sigma) ** 2)) ** 2
    field = rng.gamma(shape_k, 1.0 / shape_k, size=shape).astype(np.float32)
    return np.stack([_blur(field[..., c], sigma) for c in range(shape[-1])], axis=-1)


class SpeckleResample(A.ImageOnlyTransform):
    """Multiply linear power by unit-mean Gamma speckle of ``L`` looks.

    ``p = 10^(dB / 10) - 1e-5`` (clipped at 0), ``p' = p · g`` with ``g ~ Gamma(L, 1/L)``
    (mean 1, variance ``1/L``), back to ``10 log10(p' + 1e-5)``: the mean linear power is
    kept in expectation and pixels at the -50 dB floor stay there. ``L`` (the equivalent
    number of looks, ENL) is drawn once per image from ``U(looks)``; the data already
    carries ENL ~4.4 speckle, so the relative variance of the result grows from ``1/L₀`` to
    ``(1 + 1/L₀)(1 + 1/L) - 1``: a sensor or multi-looking with fewer looks.

    With a correlation ``σ > 0`` (pixels, drawn once per image from ``U(correlation_px)``)
    the field is spatially correlated like speckle behind a Gaussian point spread: a
    ``Gamma(L·r, 1/(L·r))`` field is blurred by the Gaussian, whose sum of squared weights
    ``r`` is the variance reduction of the blur, so the blurred field still has mean 1 and
    variance ``1/L`` (and stays positive). The real product's 20 m resolution on a 10 m
    grid is ``σ ≈ 0.85`` px.

    Args:
        looks: ``(low, high)`` ENL range, > 0 (default 3-8; the real product has 4.4).
        correlation_px: ``(low, high)`` Gaussian sigma range in pixels, >= 0 (0: white).
        per_channel: Independent speckle per channel (else one field for all channels).
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        looks: tuple[float, float]
        correlation_px: tuple[float, float]
        per_channel: bool

    def __init__(
        self,
        looks: tuple[float, float] = (3.0, 8.0),
        correlation_px: tuple[float, float] = (0.0, 0.0),
        per_channel: bool = True,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.looks = _range("SpeckleResample looks", looks, low=1e-3)
        self.correlation_px = _range("SpeckleResample correlation_px", correlation_px, low=0.0)
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the ``(H, W, C or 1)`` float32 unit-mean speckle field ``gain``."""
        image = data["image"]
        looks = float(self.random_generator.uniform(*self.looks))
        sigma = float(self.random_generator.uniform(*self.correlation_px))
        n = _channels(image) if self.per_channel else 1
        gain = _correlated_gamma(self.random_generator, (*image.shape[:2], n), looks, sigma)
        return {"gain": gain, "looks": looks, "sigma": sigma}

    def apply(self, img: np.ndarray, gain: np.ndarray, **params: Any) -> np.ndarray:
        """Speckled ``(H, W[, C])`` dB image, same dtype."""
        field = gain[..., 0] if img.ndim == 2 else gain
        return power_to_db(db_to_power(img) * field).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("looks", "correlation_px", "per_channel")


class PointSpread(A.ImageOnlyTransform):
    """Widen the point spread: blur linear power by a Gaussian, then restore the speckle.

    A coarser resolution spreads each target's energy over more pixels (its peak falls, its
    footprint grows) and coarsens the speckle grains. With ``σ`` drawn once per image from
    ``U(sigma_px)``:

    1. the linear power is blurred by a Gaussian of ``σ`` (normalised over valid pixels, so
       nodata does not leak in): targets widen with their energy kept;
    2. the blur also averages the clutter's speckle: speckle correlated with ``σ₀``
       (``speckle_correlation_px``, the data's) keeps ``r = σ₀² / (σ₀² + σ²)`` of its
       relative variance ``1/L``. A unit-mean field of variance ``v = (1 − r) / (L + r)``,
       correlated with ``sqrt(σ₀² + σ²)``, multiplies it back to ``1/L``
       (``(1 + r/L)(1 + v) − 1 = 1/L``), ``L`` (``looks``, the data's ENL) drawn per image.

    The point spread's FWHM ``2.355 · sqrt(σ₀² + σ²)`` goes from the data's ~2 px (σ₀ 0.85)
    to 2.2–3.1 px with the default ``sigma_px`` of 0.3–1.0: a resolution of 22–31 m on the
    10 m grid, between IW's 20 m and a coarser mode's. NaN stays NaN.

    Args:
        sigma_px: ``(low, high)`` range of the added Gaussian sigma, pixels (> 0).
        looks: ``(low, high)`` ENL range of the data's speckle (> 0; Sentinel-1 GRDH: 4.4).
        speckle_correlation_px: The data's speckle correlation ``σ₀``, pixels (>= 0).
        per_channel: Independent speckle per channel (the blur is the same for all).
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        sigma_px: tuple[float, float]
        looks: tuple[float, float]
        speckle_correlation_px: float
        per_channel: bool

    def __init__(
        self,
        sigma_px: tuple[float, float] = (0.3, 1.0),
        looks: tuple[float, float] = (4.0, 5.0),
        speckle_correlation_px: float = 0.85,
        per_channel: bool = True,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.sigma_px = _range("PointSpread sigma_px", sigma_px, low=1e-3)
        self.looks = _range("PointSpread looks", looks, low=1e-3)
        self.speckle_correlation_px = _range(
            "PointSpread speckle_correlation_px", speckle_correlation_px, low=0.0
        )[0]
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw ``σ`` and the ``(H, W, C or 1)`` float32 restoring speckle field ``gain``."""
        image = data["image"]
        sigma = float(self.random_generator.uniform(*self.sigma_px))
        looks = float(self.random_generator.uniform(*self.looks))
        s0 = self.speckle_correlation_px
        kept = s0**2 / (s0**2 + sigma**2)
        variance = (1.0 - kept) / (looks + kept)
        n = _channels(image) if self.per_channel else 1
        gain = _correlated_gamma(
            self.random_generator,
            (*image.shape[:2], n),
            1.0 / variance,
            math.sqrt(s0**2 + sigma**2),
        )
        return {"gain": gain, "sigma": sigma, "looks": looks}

    def apply(self, img: np.ndarray, gain: np.ndarray, sigma: float, **params: Any) -> np.ndarray:
        """The ``(H, W[, C])`` dB image seen through the wider point spread, same dtype."""
        power = db_to_power(img)
        stack = power[..., None] if power.ndim == 2 else power
        valid = np.isfinite(stack)
        weight = [_blur(valid[..., c].astype(np.float32), sigma) for c in range(stack.shape[-1])]
        blurred = np.stack(
            [
                _blur(np.where(valid[..., c], stack[..., c], 0.0), sigma)
                / np.maximum(weight[c], np.float32(1e-6))
                for c in range(stack.shape[-1])
            ],
            axis=-1,
        )
        field = gain if gain.shape[-1] == stack.shape[-1] else np.repeat(gain, stack.shape[-1], -1)
        out = np.where(valid, np.maximum(blurred, 0.0) * field, np.nan)
        out = out[..., 0] if img.ndim == 2 else out
        return power_to_db(out).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("sigma_px", "looks", "speckle_correlation_px", "per_channel")


class IncidenceGradient(A.ImageOnlyTransform):
    """Add a linear dB ramp across the image, zero at its centre.

    ``dB' = dB + s · d / 1000`` where ``d`` is the signed distance in pixels from the image
    centre along the ramp's direction and ``s`` the slope in dB per 1000 px, drawn from
    ``U(slope_db_per_1000px)``. ``direction="range"`` ramps along the columns (the range
    axis of a north-up GRD tile: ``s > 0`` brightens towards the right);
    ``"random"`` along an angle drawn from ``U(0, 2π)``. The mean dB of the image is kept.
    Sentinel-1 VV sea falls by ~0.3 dB per 1000 px with incidence; residual gradients of a
    few tenths of a dB per 1000 px of either sign remain after per-scene normalisation.

    Args:
        slope_db_per_1000px: ``(low, high)`` slope range, dB per 1000 px (default ±2).
        direction: ``"range"`` (along columns) or ``"random"``.
        per_channel: Independent slopes per channel (else one slope for all).
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        slope_db_per_1000px: tuple[float, float]
        direction: Literal["range", "random"]
        per_channel: bool

    def __init__(
        self,
        slope_db_per_1000px: tuple[float, float] = (-2.0, 2.0),
        direction: Literal["range", "random"] = "range",
        per_channel: bool = False,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.slope_db_per_1000px = _range(
            "IncidenceGradient slope_db_per_1000px", slope_db_per_1000px, low=-100.0, high=100.0
        )
        if direction not in ("range", "random"):
            raise ValueError(
                f"IncidenceGradient direction must be 'range' or 'random', got {direction!r}."
            )
        self.direction = direction
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the ``(H, W, C or 1)`` float32 ramp in dB."""
        image = data["image"]
        height, width = image.shape[:2]
        n = _channels(image) if self.per_channel else 1
        slope = self.random_generator.uniform(*self.slope_db_per_1000px, size=n) / 1000.0
        angle = 0.0 if self.direction == "range" else self.random_generator.uniform(0, 2 * np.pi)
        x = (np.arange(width, dtype=np.float32) - (width - 1) / 2.0) * np.float32(np.cos(angle))
        y = (np.arange(height, dtype=np.float32) - (height - 1) / 2.0) * np.float32(np.sin(angle))
        distance = y[:, None] + x[None, :]
        ramp = distance[..., None] * slope.astype(np.float32)[None, None, :]
        return {"ramp": ramp.astype(np.float32), "slope_db_per_px": slope, "angle": angle}

    def apply(self, img: np.ndarray, ramp: np.ndarray, **params: Any) -> np.ndarray:
        """``(H, W[, C])`` dB image plus the ramp, same dtype."""
        return (img + (ramp[..., 0] if img.ndim == 2 else ramp)).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("slope_db_per_1000px", "direction", "per_channel")


class NoiseFloor(A.ImageOnlyTransform):
    """Add a noise-equivalent sigma zero (thermal noise power) in linear power.

    ``p' = p + 10^(N(x) / 10)`` with ``N(x) = level + a · (2 frac((x + φ) / T) - 1)²`` dB:
    a floor of ``level`` dB (drawn from ``U(level_db)``), optionally scalloped along the
    range axis (columns) with sub-swath period ``T`` px (``U(scallop_period_px)``),
    amplitude ``a`` dB (``U(scallop_db)``, ``a`` higher at the sub-swath edges than at its
    centre, as in ``core.synthetic.physics.nesz_db``) and a random phase ``φ``. Pixels far
    below the floor rise to about it, pixels far above it barely change (``+10 log10(1 +
    n/p)`` dB). Sentinel-1 IW's NESZ is specified at <= -22 dB and typically -22 to -30 dB,
    so the floor mostly touches VH sea (~ -27 dB).

    Args:
        level_db: ``(low, high)`` floor range in dB (default -30 to -22).
        scallop_db: ``(low, high)`` scalloping amplitude range in dB, >= 0 (0: flat).
        scallop_period_px: ``(low, high)`` scalloping period range in pixels, > 0.
        per_channel: Independent floor levels per channel (else one for all).
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        level_db: tuple[float, float]
        scallop_db: tuple[float, float]
        scallop_period_px: tuple[float, float]
        per_channel: bool

    def __init__(
        self,
        level_db: tuple[float, float] = (-30.0, -22.0),
        scallop_db: tuple[float, float] = (0.0, 0.0),
        scallop_period_px: tuple[float, float] = (1000.0, 8000.0),
        per_channel: bool = False,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        self.level_db = _range("NoiseFloor level_db", level_db, low=-80.0, high=20.0)
        self.scallop_db = _range("NoiseFloor scallop_db", scallop_db, low=0.0, high=20.0)
        self.scallop_period_px = _range("NoiseFloor scallop_period_px", scallop_period_px, low=1.0)
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the ``(1, W, C or 1)`` float32 noise power (constant along rows)."""
        image = data["image"]
        width = image.shape[1]
        n = _channels(image) if self.per_channel else 1
        level = self.random_generator.uniform(*self.level_db, size=n)
        amplitude = float(self.random_generator.uniform(*self.scallop_db))
        period = float(self.random_generator.uniform(*self.scallop_period_px))
        phase = float(self.random_generator.uniform(0.0, period))
        within = np.mod((np.arange(width, dtype=np.float64) + phase) / period, 1.0)
        profile = amplitude * (2.0 * within - 1.0) ** 2
        noise_db = profile[None, :, None] + level[None, None, :]
        return {"noise": np.power(10.0, noise_db / 10.0).astype(np.float32), "level_db": level}

    def apply(self, img: np.ndarray, noise: np.ndarray, **params: Any) -> np.ndarray:
        """``(H, W[, C])`` dB image with the noise power added, same dtype."""
        floor = noise[..., 0] if img.ndim == 2 else noise
        return power_to_db(db_to_power(img) + floor).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("level_db", "scallop_db", "scallop_period_px", "per_channel")


class CalibrationOffset(A.ImageOnlyTransform):
    """Add a constant dB offset per image (or per channel): a radiometric calibration error.

    ``dB' = dB + o`` with ``o ~ U(offset_db)``; a gain error of the whole product,
    including its -50 dB floor. Sentinel-1's absolute radiometric accuracy is 1 dB (3σ).

    Args:
        offset_db: ``(low, high)`` offset range in dB, or ``b`` for ``(-b, b)`` (default ±1).
        per_channel: Independent offsets per channel (else one for all).
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        offset_db: float | tuple[float, float]
        per_channel: bool

    def __init__(
        self,
        offset_db: float | tuple[float, float] = (-1.0, 1.0),
        per_channel: bool = False,
        p: float = 0.5,
    ) -> None:
        super().__init__(p=p)
        if isinstance(offset_db, int | float):
            offset_db = (-abs(float(offset_db)), abs(float(offset_db)))
        self.offset_db = _range("CalibrationOffset offset_db", offset_db, low=-50.0, high=50.0)
        self.per_channel = per_channel

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the ``(C,)`` (or ``(1,)``) float32 offsets in dB."""
        n = _channels(data["image"]) if self.per_channel else 1
        return {"offset": self.random_generator.uniform(*self.offset_db, size=n).astype(np.float32)}

    def apply(self, img: np.ndarray, offset: np.ndarray, **params: Any) -> np.ndarray:
        """``(H, W[, C])`` dB image plus the offset, same dtype."""
        shift = offset[0] if (img.ndim == 2 or len(offset) == 1) else _per_channel(offset, img)
        return (img + shift).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("offset_db", "per_channel")


class BackgroundContrast(A.ImageOnlyTransform):
    """Scale the dB contrast to the image's background: ``dB' = b + g (dB - b)``.

    ``b`` is the median dB of each channel (NaN ignored), ``g ~ U(gain)``, one gain for all
    channels. ``g < 1`` makes vessels dimmer against the sea and the clutter smoother, as a
    windier sea, a wider point spread or a dimmer vessel population do; ``g > 1`` the reverse.
    The background level itself is unchanged.

    Args:
        gain: ``(low, high)`` gain range, within ``[0.1, 10]`` (default 0.7-1.15).
        p: Probability of applying.
    """

    class InitSchema(BaseTransformInitSchema):
        """Validated constructor arguments."""

        gain: tuple[float, float]

    def __init__(self, gain: tuple[float, float] = (0.7, 1.15), p: float = 0.3) -> None:
        super().__init__(p=p)
        self.gain = _range("BackgroundContrast gain", gain, low=0.1, high=10.0)

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        """Draw the gain and take the ``(C,)`` (or scalar) median background in dB."""
        img = data["image"]
        flat = img.reshape(-1) if img.ndim == 2 else img.reshape(-1, img.shape[-1])
        finite = np.isfinite(flat).any(axis=0)
        background = np.zeros(flat.shape[1:], dtype=np.float32)
        if np.any(finite):
            background = np.where(
                finite, np.nanmedian(np.where(finite, flat, 0.0), axis=0), 0.0
            ).astype(np.float32)
        return {
            "gain": np.float32(self.random_generator.uniform(*self.gain)),
            "background": background,
        }

    def apply(
        self, img: np.ndarray, gain: np.float32, background: np.ndarray, **params: Any
    ) -> np.ndarray:
        """``(H, W[, C])`` dB image with its contrast scaled, same dtype; NaN stays NaN."""
        b = background.reshape(()) if img.ndim == 2 else _per_channel(background, img)
        return (b + gain * (img - b)).astype(img.dtype, copy=False)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        """Constructor arguments, for serialisation."""
        return ("gain",)
