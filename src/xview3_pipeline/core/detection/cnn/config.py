"""Settings of tiled CircleNet scene inference (the ``inference`` parameter block).

Defaults are for CPU: tiles of 512 with step 384 keep the winner's 75 % step / 25 % overlap;
the 128 px (1.28 km) overlap is more than twice the longest vessel, so every object lies
≥ 64 px inside some tile, and a batch of 4 tiles of 512² is where the ``cpu_small`` preset
ran most efficiently on 2 cores (about 0.25 s per tile, against 0.6 s for a batch of one).
:meth:`InferenceConfig.winner` gives the winning solution's settings (2048 / 1536, batch 1,
its tile grid, uncorrected flip offsets, ``min_objectness`` 0.3).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from xview3_pipeline.core.config import RenamedOptionWarning, check_keys, resolve_alias
from xview3_pipeline.core.data.normalization import NORMALIZATIONS
from xview3_pipeline.core.detection.cnn.tiling import COVERAGE_ALIASES, COVERAGES
from xview3_pipeline.core.detection.length import LengthConfig

__all__ = ["AMP_DTYPES", "ENCODER_STRIDE", "InferenceConfig"]

#: Total stride of the CircleNet encoders: tiles must be a multiple of it.
ENCODER_STRIDE = 32
#: Autocast dtypes by name.
AMP_DTYPES: Mapping[str, torch.dtype] = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class InferenceConfig:
    """Settings of tiled scene inference.

    Attributes:
        tile_size: Tile side ``T`` in input pixels, a multiple of the encoder's total
            stride (32). Winner: 2048.
        step: Distance between tile starts, ``0 < S <= T``, a multiple of ``stride``.
            Winner: 1536.
        batch_size: Tiles per forward call.
        coverage: ``"full"`` (every pixel covered) or ``"winner"`` (the winning
            solution's grid and its uncovered border; ``"seed"`` is the old spelling).
        flip_tta: Left-right flip TTA in the ensemble.
        flip_offset_correction: Correct the flipped pass's x offset
            (:func:`~xview3_pipeline.core.detection.cnn.ensemble.flip_offset_x`); the
            winner did not.
        min_objectness: Candidates need objectness ``>=`` this (``> 0``; winner 0.3).
        max_objects: Top-K candidates per scene (winner 2048).
        normalization: Name in :data:`~xview3_pipeline.core.data.normalization.NORMALIZATIONS`.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        amp: Autocast the forward pass on CUDA (ignored on CPU).
        amp_dtype: ``"float16"`` (the winner) or ``"bfloat16"``.
        channels_last: Run modules and inputs in ``channels_last`` memory format.
        stride: Output stride ``s`` of the model.
        nms_kernel: Max-pool NMS window (odd).
        gdal_cache_mb: GDAL block cache (``GDAL_CACHEMAX``, MiB) while a scene is read.
            Each band is read once, so caching buys little, and GDAL's default (5 % of
            RAM) would keep decoded blocks of the whole scene: +630 MB measured on an
            8192² scene, growing with the scene.
        progress: Show tqdm progress bars.
        compile: Wrap the model in ``torch.compile`` (once per model and device; the
            first batches pay the compilation). Off by default: worth it on a GPU for a
            whole set of scenes, rarely on a CPU.
        prefetch: Tile batches read and normalised ahead in a background thread while the
            model runs (the bound of its queue); 0 reads in the calling thread. Never
            changes the candidates.
        land_filter: Leave out candidates on land by the scene's ``owiMask``
            (:func:`~xview3_pipeline.core.detection.land_filter.drop_on_land`); the
            winner did not.
        land_buffer_m: Land grown by this much for ``land_filter``, metres (>= 0).
        length: Where each candidate's length comes from
            (:class:`~xview3_pipeline.core.detection.length.LengthConfig`): the network's
            regression (``source: cnn``, the winner's), the extent measured in the image
            around it, or a blend; a mapping is converted.
    """

    tile_size: int = 512
    step: int = 384
    batch_size: int = 4
    coverage: str = "full"
    flip_tta: bool = True
    flip_offset_correction: bool = True
    min_objectness: float = 0.1
    max_objects: int = 2048
    normalization: str = "sigmoid"
    device: str = "auto"
    amp: bool = True
    amp_dtype: str = "float16"
    channels_last: bool = True
    stride: int = 2
    nms_kernel: int = 3
    gdal_cache_mb: int = 64
    progress: bool = True
    prefetch: int = 2
    compile: bool = False
    land_filter: bool = False
    land_buffer_m: float = 0.0
    length: LengthConfig = field(default_factory=LengthConfig)

    def __post_init__(self) -> None:
        if isinstance(self.length, Mapping):
            object.__setattr__(self, "length", LengthConfig.from_dict(self.length))
        coverage = resolve_alias(self.coverage, COVERAGE_ALIASES, what="inference.coverage")
        object.__setattr__(self, "coverage", coverage)
        problems = self._grid_problems() + self._other_problems()
        if problems:
            raise ValueError("Invalid inference parameters: " + "; ".join(problems) + ".")

    def _grid_problems(self) -> list[str]:
        problems = []
        if self.stride < 1 or ENCODER_STRIDE % self.stride:
            problems.append(
                f"inference.stride={self.stride} must divide the encoder stride {ENCODER_STRIDE}"
            )
        if self.tile_size < ENCODER_STRIDE or self.tile_size % ENCODER_STRIDE:
            low = max(ENCODER_STRIDE, self.tile_size // ENCODER_STRIDE * ENCODER_STRIDE)
            problems.append(
                f"inference.tile_size={self.tile_size}: expected a positive multiple of "
                f"{ENCODER_STRIDE} (the encoder's total stride), e.g. {low} or "
                f"{low + ENCODER_STRIDE}"
            )
        if not 0 < self.step <= self.tile_size or self.step % max(self.stride, 1):
            problems.append(
                f"inference.step={self.step} must be a multiple of stride={self.stride} in "
                f"(0, tile_size] (tile_size={self.tile_size})"
            )
        if self.batch_size < 1:
            problems.append(f"inference.batch_size={self.batch_size} must be >= 1")
        if self.coverage not in COVERAGES:
            problems.append(f"inference.coverage={self.coverage!r} must be one of {COVERAGES}")
        return problems

    def _other_problems(self) -> list[str]:
        problems = []
        if not 0.0 < self.min_objectness <= 1.0:
            problems.append(f"inference.min_objectness={self.min_objectness} must be in (0, 1]")
        if self.max_objects < 1:
            problems.append(f"inference.max_objects={self.max_objects} must be >= 1")
        if self.normalization not in NORMALIZATIONS:
            problems.append(
                f"inference.normalization={self.normalization!r} not in {sorted(NORMALIZATIONS)}"
            )
        if self.amp_dtype not in AMP_DTYPES:
            problems.append(f"inference.amp_dtype={self.amp_dtype!r} not in {sorted(AMP_DTYPES)}")
        if self.nms_kernel < 1 or self.nms_kernel % 2 == 0:
            problems.append(f"inference.nms_kernel={self.nms_kernel} must be odd and >= 1")
        if self.prefetch < 0:
            problems.append(f"inference.prefetch={self.prefetch} must be >= 0 (0: no thread)")
        if self.land_buffer_m < 0:
            problems.append(f"inference.land_buffer_m={self.land_buffer_m} must be >= 0")
        if self.gdal_cache_mb < 1:
            problems.append(f"inference.gdal_cache_mb={self.gdal_cache_mb} must be >= 1")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as exc:
                problems.append(f"inference.device={self.device!r}: {exc}")
        return problems

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> InferenceConfig:
        """Build from a parameter mapping (e.g. Kedro parameters), rejecting unknown keys.

        Raises:
            ValueError: On an unknown key or an invalid value (the message names the
                parameter and the accepted values).
        """
        return cls(**check_keys(cls, params, what="inference"))

    @classmethod
    def winner(cls, **overrides: Any) -> InferenceConfig:
        """The winner's settings: 2048 / 1536 tiles, batch 1, its grid, fp16, no offset fix."""
        values: dict[str, Any] = {
            "tile_size": 2048,
            "step": 1536,
            "batch_size": 1,
            "coverage": "winner",
            "flip_tta": True,
            "flip_offset_correction": False,
            "min_objectness": 0.3,
            "max_objects": 2048,
            "amp": True,
            "amp_dtype": "float16",
        }
        return cls.from_dict(values | overrides)

    @classmethod
    def seed(cls, **overrides: Any) -> InferenceConfig:
        """Old name of :meth:`winner` (accepted for one release, with a warning)."""
        warnings.warn(
            "InferenceConfig.seed() is deprecated and will be removed in the next release; "
            "use InferenceConfig.winner().",
            RenamedOptionWarning,
            stacklevel=2,
        )
        return cls.winner(**overrides)

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping of the fields."""
        return asdict(self)

    def replace(self, **changes: Any) -> InferenceConfig:
        """A copy with some fields changed (validated)."""
        return replace(self, **changes)

    def resolve_device(self) -> torch.device:
        """The torch device: ``"auto"`` is CUDA when available, else CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)
