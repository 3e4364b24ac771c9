"""Augmentation presets: the configuration, the two stages and :func:`build_augmentations`.

See :mod:`xview3_pipeline.core.data.augmentations` for the stages and their transforms.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, get_args

import albumentations as A
import cv2
import numpy as np

from xview3_pipeline.core.config import check_keys, resolve_alias
from xview3_pipeline.core.data.augmentations.sar import (
    BackgroundContrast,
    CalibrationOffset,
    IncidenceGradient,
    NoiseFloor,
    PointSpread,
    SpeckleResample,
)
from xview3_pipeline.core.data.augmentations.transforms import (
    FloatGaussianBlur,
    FloatMedianBlur,
    SpikeElasticTransform,
    UnclippedGaussNoise,
    UnclippedRandomBrightnessContrast,
)

__all__ = [
    "AUGMENTATION_PRESETS",
    "AUGMENTATION_PRESET_ALIASES",
    "AugmentationConfig",
    "AugmentedSample",
    "SarAugmentation",
    "build_augmentations",
    "seed_compose",
]

#: Preset names of :func:`build_augmentations`; ``winner`` is the winning solution's.
AugmentationPreset = Literal["none", "winner", "light", "sar"]
AUGMENTATION_PRESETS: tuple[str, ...] = get_args(AugmentationPreset)
#: Spellings of preset names accepted for one release (with a ``RenamedOptionWarning``).
AUGMENTATION_PRESET_ALIASES = MappingProxyType({"seed": "winner"})

#: Label field carrying the index of each keypoint's object.
_INDEX_FIELD = "object_index"


@dataclass(frozen=True)
class AugmentationConfig:
    """Probabilities and ranges of the augmentations (defaults: the winner's).

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
        rotate_limit: Rotation range ``±rotate_limit`` degrees (winner's code 15, README 5).
        shift_limit: Translation range per axis, fraction of the side.
        grid_shuffle_p: Probability of the grid shuffle.
        grid: Grid ``(rows, cols)`` of the shuffle.
        median_blur_p: Probability of MedianBlur (kernel 3 or 5).
        gaussian_blur_p: Probability of GaussianBlur (kernel 3 to 5).
        speckle_p: Probability of :class:`SpeckleResample` (raw dB; 0 in ``winner``).
        speckle_looks: Its ENL range (the real product: 4.4).
        speckle_correlation_px: Its Gaussian correlation sigma range, pixels (0: white).
        point_spread_p: Probability of :class:`PointSpread` (raw dB; 0 in ``winner``).
        point_spread_sigma_px: Its added Gaussian sigma range, pixels.
        point_spread_looks: Its ENL range of the data's speckle.
        gradient_p: Probability of :class:`IncidenceGradient` (raw dB).
        gradient_slope_db_per_1000px: Its slope range, dB per 1000 px.
        gradient_direction: ``"range"`` (along columns) or ``"random"``.
        noise_floor_p: Probability of :class:`NoiseFloor` (raw dB).
        noise_floor_db: Its NESZ level range, dB.
        noise_floor_scallop_db: Its scalloping amplitude range, dB.
        noise_floor_scallop_period_px: Its scalloping period range, pixels.
        calibration_p: Probability of :class:`CalibrationOffset` (raw dB).
        calibration_offset_db: Its offset range, dB.
        calibration_per_channel: Independent offsets for VH and VV.
        contrast_p: Probability of :class:`BackgroundContrast` (raw dB).
        contrast_gain: Its gain range on the dB contrast to the background.
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
    speckle_p: float = 0.0
    speckle_looks: tuple[float, float] = (3.0, 8.0)
    speckle_correlation_px: tuple[float, float] = (0.0, 0.85)
    point_spread_p: float = 0.0
    point_spread_sigma_px: tuple[float, float] = (0.3, 1.0)
    point_spread_looks: tuple[float, float] = (4.0, 5.0)
    gradient_p: float = 0.0
    gradient_slope_db_per_1000px: tuple[float, float] = (-2.0, 2.0)
    gradient_direction: str = "range"
    noise_floor_p: float = 0.0
    noise_floor_db: tuple[float, float] = (-30.0, -22.0)
    noise_floor_scallop_db: tuple[float, float] = (0.0, 3.0)
    noise_floor_scallop_period_px: tuple[float, float] = (1000.0, 8000.0)
    calibration_p: float = 0.0
    calibration_offset_db: tuple[float, float] = (-1.0, 1.0)
    calibration_per_channel: bool = False
    contrast_p: float = 0.0
    contrast_gain: tuple[float, float] = (0.7, 1.15)


#: Overrides of :class:`AugmentationConfig` per preset (``"none"`` builds nothing).
_PRESETS: dict[str, dict[str, Any]] = {
    "winner": {},
    "light": {
        "brightness_contrast_p": 0.0,
        "elastic_p": 0.0,
        "rotate_limit": 5.0,
        "grid_shuffle_p": 0.0,
        "median_blur_p": 0.0,
        "gaussian_blur_p": 0.0,
    },
    # The winner's augmentations plus the physical SAR ones on raw dB.
    "sar": {
        "speckle_p": 0.5,
        "gradient_p": 0.3,
        "noise_floor_p": 0.3,
        "calibration_p": 0.5,
        "contrast_p": 0.3,
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


def seed_compose(compose: A.Compose, seed: int) -> None:
    """Seed a ``Compose`` and give each of its transforms its own derived seed.

    albumentations 2.0.8's ``Compose.set_random_seed`` hands the same seed to every
    child, so their apply decisions (``random() < p``) and parameter draws coincide: two
    transforms of ``p=0.5`` would always be applied together (e.g. both flips, never one).
    Here child ``k`` gets ``SeedSequence((seed, k))``, so the draws are independent and
    still determined by ``seed``.
    """
    compose.set_random_seed(int(seed))
    for k, transform in enumerate(compose.transforms):
        child = np.random.SeedSequence((int(seed), k)).generate_state(1)[0]
        transform.set_random_seed(int(child))


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
        seed_compose(self.raw, seed)
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
        seed_compose(self.joint, seed)
        out = self.joint(image=self._to_hwc(image), keypoints=keypoints, **{_INDEX_FIELD: index})
        kept = np.asarray(out[_INDEX_FIELD], dtype=np.int64).reshape(-1)
        points = np.asarray(out["keypoints"], dtype=np.float32).reshape(-1, 3)
        lengths = np.where(known[kept], points[:, 2], np.nan).astype(np.float32)
        return AugmentedSample(self._to_chw(out["image"]), points[:, :2].copy(), lengths, kept)


def _sar_transforms(cfg: AugmentationConfig) -> list[A.BasicTransform]:
    """The physical SAR transforms, in the order of the imaging chain."""
    transforms: list[A.BasicTransform] = []
    if cfg.point_spread_p > 0:
        transforms.append(
            PointSpread(cfg.point_spread_sigma_px, cfg.point_spread_looks, p=cfg.point_spread_p)
        )
    if cfg.speckle_p > 0:
        transforms.append(
            SpeckleResample(cfg.speckle_looks, cfg.speckle_correlation_px, p=cfg.speckle_p)
        )
    if cfg.gradient_p > 0:
        direction: Any = cfg.gradient_direction
        transforms.append(
            IncidenceGradient(cfg.gradient_slope_db_per_1000px, direction, p=cfg.gradient_p)
        )
    if cfg.noise_floor_p > 0:
        transforms.append(
            NoiseFloor(
                cfg.noise_floor_db,
                cfg.noise_floor_scallop_db,
                cfg.noise_floor_scallop_period_px,
                p=cfg.noise_floor_p,
            )
        )
    if cfg.calibration_p > 0:
        transforms.append(
            CalibrationOffset(
                cfg.calibration_offset_db, cfg.calibration_per_channel, p=cfg.calibration_p
            )
        )
    if cfg.contrast_p > 0:
        transforms.append(BackgroundContrast(cfg.contrast_gain, p=cfg.contrast_p))
    return transforms


def _raw_pipeline(cfg: AugmentationConfig) -> A.Compose | None:
    transforms = _sar_transforms(cfg)
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


def build_augmentations(name: str = "winner", **params: Any) -> SarAugmentation:
    """Build a preset of the two augmentation stages.

    Args:
        name: ``"none"`` (identity), ``"winner"`` (the winning solution's
            ``flips_light_medium``; ``"seed"`` is its old spelling, accepted with a
            ``RenamedOptionWarning``), ``"light"`` (flips, affine with ±5° and the raw-dB
            stage only) or ``"sar"`` (the winner's plus, on raw dB before them, speckle
            resampling p=0.5, an incidence gradient p=0.3, a noise floor p=0.3, a
            calibration offset p=0.5 and a background-contrast gain p=0.3; ranges in
            :class:`AugmentationConfig`).
        **params: Overrides of :class:`AugmentationConfig` fields (e.g. ``rotate_limit=5``).

    Returns:
        The :class:`SarAugmentation`.

    Raises:
        KeyError: On an unknown preset (the message lists them).
        ValueError: On an unknown parameter, parameters given with ``"none"``, or a
            range or choice a transform rejects (the message names both).
    """
    name = resolve_alias(name, AUGMENTATION_PRESET_ALIASES, what="augmentations")
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
    for key, value in values.items():
        if isinstance(value, list):  # ranges from YAML
            values[key] = tuple(value)
    cfg = AugmentationConfig(**values)
    try:
        raw, joint = _raw_pipeline(cfg), _joint_pipeline(cfg)
    except ValueError as exc:  # a transform's own check of a range or choice
        given = {key: values[key] for key in params}
        raise ValueError(f"Augmentation preset {name!r} with {given}: {exc}") from None
    return SarAugmentation(raw, joint, name=name)
