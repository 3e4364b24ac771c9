"""SAR augmentations (albumentations 2.0.8) in the winner's two stages.

The winner (``configs/augs/flips_light_medium.yaml``) augments in two places:

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
  interpolation, as in the winner's code. Non-finite pixels are zeroed by the dataset afterwards.
* Keypoints ``"xy"`` use the pixel-index convention (a flip maps ``x`` to ``W - 1 - x``),
  the convention of the label centres, so centres are passed unchanged.
* ``A.RandomGridShuffle`` moves keypoints itself (sub-pixel exact, tiles swapped only
  within groups of equal shape), so the winner's custom keypoint-aware version is not needed.
* ``A.ElasticTransform`` moves keypoints by an integer look-up into an approximate inverse
  map (sub-pixel position lost); the winner used its own spike-based elastic transform, which
  :class:`SpikeElasticTransform` re-implements with a sub-pixel keypoint inverse.
* Keypoints are ``"xys"``: the scale column carries the object length in pixels, so
  ``A.Affine`` rescales lengths with the zoom, as the winner did. Keypoints leaving the image
  are dropped together with their label field (``remove_invisible=True``).
* ``A.MedianBlur`` converts float32 to uint8 (× 255, clipped to [0, 1]) and
  ``A.GaussianBlur`` clips float32 output to [0, 1]; both would destroy unclipped SAR
  values, so :class:`FloatMedianBlur` and :class:`FloatGaussianBlur` call OpenCV directly.
  ``A.Affine``, the flips and ``A.RandomGridShuffle`` keep float values unclipped.
* Seeding: ``Compose(seed=...)`` / ``Compose.set_random_seed`` give every child transform
  the *same* seed, so children's apply decisions and draws coincide (both flips together,
  never one); :func:`seed_compose` gives child ``k`` the seed ``SeedSequence((seed, k))``.
  Global numpy/random seeds have no effect.

The ``sar`` preset adds, at the start of stage 1 (raw dB, before the winner's transforms),
physical Sentinel-1 variations from :mod:`~xview3_pipeline.core.data.augmentations.sar`,
in the order of the imaging chain: :class:`SpeckleResample` (p=0.5), :class:`IncidenceGradient`
(p=0.3), :class:`NoiseFloor` (p=0.3), :class:`CalibrationOffset` (p=0.5) and
:class:`BackgroundContrast` (p=0.3).
"""

from xview3_pipeline.core.data.augmentations.presets import (
    AUGMENTATION_PRESET_ALIASES,
    AUGMENTATION_PRESETS,
    AugmentationConfig,
    AugmentedSample,
    SarAugmentation,
    build_augmentations,
    seed_compose,
)
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
    "BackgroundContrast",
    "CalibrationOffset",
    "FloatGaussianBlur",
    "FloatMedianBlur",
    "IncidenceGradient",
    "NoiseFloor",
    "PointSpread",
    "SarAugmentation",
    "SpeckleResample",
    "SpikeElasticTransform",
    "UnclippedGaussNoise",
    "UnclippedRandomBrightnessContrast",
    "build_augmentations",
    "seed_compose",
]
