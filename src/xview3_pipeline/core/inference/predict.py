"""Tiled whole-scene inference with band-streamed blending and exact streaming decoding.

Pipeline of :func:`predict_scene` for one scene of ``H × W`` pixels (output stride ``s``,
tile ``T``, step ``S``, ``t = T / s`` output pixels per tile side, ``w = ceil(W / s)``):

1. Tiles come from a :class:`~xview3_pipeline.core.inference.tiling.TileGrid`
   (``coverage="full"`` covers every pixel; ``"seed"`` keeps the seed's uncovered border).
2. **Bands.** Tiles are processed by *band* (one row of tiles). A band's input rows
   ``[r, r + T)`` are read once through rasterio windows (:class:`SceneReader`, NaN for
   nodata and outside the scene); tiles without a single valid pixel are skipped; each
   batch of ``batch_size`` tiles is normalised, NaN → 0 (as the seed), and run through the
   model (the ensemble, or its exported artefact).
3. **Blending.** Each tile's six stride-2 maps (objectness, vessel, fishing probabilities,
   log length, offset x, offset y) are multiplied by the pyramid weight and added to a
   band accumulator of ``7 × t × w`` float32 (six weighted sums + the summed weights) that
   holds output rows ``[r / s, r / s + t)``. When the next band starts at ``r' = r + S``,
   output rows ``[r / s, r' / s)`` can receive nothing more (tile starts only increase):
   they are *finalised* (sum / weights; 0 where no tile contributed, the seed's NaN → 0),
   the accumulator shifts up by ``S / s`` rows, and the block is passed on.
4. **Decoding, exactly as on the whole map.** The 3 × 3 max-pool NMS of a row needs its
   neighbours, so a finalised block is decoded together with ``k // 2`` (1) halo rows kept
   from the previous block, and its last ``k // 2`` rows are held back until the next block
   arrives (or the scene ends, where max-pool padding is the scene border as on the whole
   map). Only rows whose whole 3 × 3 neighbourhood is final are emitted, so every emitted
   peak and value is bit-identical to decoding the whole-scene map
   (:func:`predict_scene_reference`, used by the tests).
5. **Candidates.** Peaks with objectness ``>= min_objectness`` (default 0.1, below the
   seed's 0.3 so that thresholds can be tuned) are read with the coder's maths
   (:func:`~xview3_pipeline.core.encoding.functional.heatmap_nms`, ``topk_peaks``,
   ``gather_features``, ``length_from_log``): centre ``((x_idx + dx) · s, (y_idx + dy) · s)``
   (float64), length ``(exp(relu(size)) - 1) · 10`` m, probabilities at the peak. Peaks
   whose detection pixel (the truncated centre) is nodata in VV or VH (or outside the
   scene) are dropped, *before* the top-K, then a running top-``max_objects`` (2048, the
   seed's per-scene K) is kept, ordered by objectness then ``(y, x)``. NMS runs before the
   nodata test, so a nodata peak still suppresses its neighbours.

Memory is ``O(T · W)``, independent of ``H``: the accumulator ``7 · t · w · 4`` B, the raw
band ``2 · T · W · 4`` B plus the validity masks of two bands (``2 · T · W`` B), the
finalised rows waiting for decoding ``≤ 6 · (S / s + 2) · w · 4`` B, one batch of tiles,
``O(K)`` candidates and GDAL's block cache, capped at ``gdal_cache_mb`` (64 MB) while the
scene is read. For a real 29,400 × 24,400 scene with ``T = 512`` that is 87 + 100 +
25 + 57 MB ≈ 0.27 GB (with the seed's ``T = 2048``: ≈ 1.1 GB), against ≈ 5 GB for six
full-resolution stride-2 maps plus weights, and 5.7 GB for the whole-scene input the seed
also held. The model's own activations (one batch) come on top in both cases.

Defaults (:class:`InferenceConfig`) are for CPU: tiles of 512 with step 384 keep the seed's
75 % step / 25 % overlap; the 128 px (1.28 km) overlap is more than twice the longest
vessel, so every object lies ≥ 64 px inside some tile, and a batch of 4 tiles of 512² is
where the ``cpu_small`` preset ran most efficiently on 2 cores (about 0.25 s per tile,
against 0.6 s for a batch of one). :meth:`InferenceConfig.seed` gives the seed's settings (2048 /
1536, batch 1, seed grid, uncorrected flip offsets, ``min_objectness`` 0.3).
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
import torch
from affine import Affine
from torch import nn
from tqdm.auto import tqdm

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import ANCILLARY_FILES
from xview3_pipeline.core.data.normalization import NORMALIZATIONS, build_normalization
from xview3_pipeline.core.data.scene_reader import SceneReader
from xview3_pipeline.core.encoding.candidates import DETECTION_COLUMNS
from xview3_pipeline.core.encoding.functional import (
    gather_features,
    heatmap_nms,
    length_from_log,
    topk_peaks,
)
from xview3_pipeline.core.inference.ensemble import CircleNetEnsemble
from xview3_pipeline.core.inference.postprocess import CANDIDATE_COLUMNS, add_scene_columns
from xview3_pipeline.core.inference.tiling import COVERAGES, TileGrid, pyramid_weight
from xview3_pipeline.core.metric.shoreline import Shoreline, load_shoreline
from xview3_pipeline.core.types import CircleNetOutputs

__all__ = [
    "MAP_CHANNELS",
    "InferenceConfig",
    "InferenceScene",
    "ModelFn",
    "accumulate_scene_maps",
    "build_ensemble",
    "predict_scene",
    "predict_scene_reference",
    "predict_scenes",
]

logger = logging.getLogger(__name__)

#: A model: ``(B, 2, T, T)`` normalised tiles → the ensemble's 5-tuple of probability /
#: raw maps, or raw :class:`CircleNetOutputs` (logits; a sigmoid is applied).
ModelFn = Callable[[torch.Tensor], Any]

#: Channels of the blended maps, in order.
MAP_CHANNELS: tuple[str, ...] = (
    "objectness",
    "vessel",
    "fishing",
    "length",
    "offset_x",
    "offset_y",
)
_N_MAPS = len(MAP_CHANNELS)
_AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class InferenceConfig:
    """Settings of tiled scene inference.

    Attributes:
        tile_size: Tile side ``T`` in input pixels (multiple of the stride; of 32 for a
            CircleNet). Seed: 2048.
        step: Distance between tile starts ``S <= T`` (multiple of the stride). Seed: 1536.
        batch_size: Tiles per forward call.
        coverage: ``"full"`` (every pixel covered) or ``"seed"`` (the seed's grid and its
            uncovered border).
        flip_tta: Left-right flip TTA in :func:`build_ensemble`.
        flip_offset_correction: Correct the flipped pass's x offset
            (:func:`~xview3_pipeline.core.inference.ensemble.flip_offset_x`); the seed did
            not.
        min_objectness: Candidates need objectness ``>=`` this (``> 0``; seed 0.3).
        max_objects: Top-K candidates per scene (seed 2048).
        normalization: Name in :data:`~xview3_pipeline.core.data.normalization.NORMALIZATIONS`.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        amp: Autocast the forward pass on CUDA (ignored on CPU).
        amp_dtype: ``"float16"`` (the seed) or ``"bfloat16"``.
        channels_last: Run modules and inputs in ``channels_last`` memory format.
        stride: Output stride ``s`` of the model.
        nms_kernel: Max-pool NMS window (odd).
        gdal_cache_mb: GDAL block cache (``GDAL_CACHEMAX``, MiB) while a scene is read.
            Each band is read once, so caching buys little, and GDAL's default (5 % of
            RAM) would keep decoded blocks of the whole scene: +630 MB measured on an
            8192² scene, growing with the scene.
        progress: Show tqdm progress bars.
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

    def __post_init__(self) -> None:
        problems = self._grid_problems() + self._other_problems()
        if problems:
            raise ValueError("InferenceConfig: " + "; ".join(problems) + ".")

    def _grid_problems(self) -> list[str]:
        problems = []
        if self.stride < 1:
            problems.append(f"stride={self.stride} must be >= 1")
        elif self.tile_size < self.stride or self.tile_size % self.stride:
            problems.append(f"tile_size={self.tile_size} must be a positive multiple of stride")
        elif not 0 < self.step <= self.tile_size or self.step % self.stride:
            problems.append(f"step={self.step} must be a multiple of stride in (0, tile_size]")
        if self.batch_size < 1:
            problems.append(f"batch_size={self.batch_size} must be >= 1")
        if self.coverage not in COVERAGES:
            problems.append(f"coverage={self.coverage!r} must be one of {COVERAGES}")
        return problems

    def _other_problems(self) -> list[str]:
        problems = []
        if not 0.0 < self.min_objectness <= 1.0:
            problems.append(f"min_objectness={self.min_objectness} must be in (0, 1]")
        if self.max_objects < 1:
            problems.append(f"max_objects={self.max_objects} must be >= 1")
        if self.normalization not in NORMALIZATIONS:
            problems.append(f"normalization={self.normalization!r} not in {sorted(NORMALIZATIONS)}")
        if self.amp_dtype not in _AMP_DTYPES:
            problems.append(f"amp_dtype={self.amp_dtype!r} not in {sorted(_AMP_DTYPES)}")
        if self.nms_kernel < 1 or self.nms_kernel % 2 == 0:
            problems.append(f"nms_kernel={self.nms_kernel} must be odd and >= 1")
        if self.gdal_cache_mb < 1:
            problems.append(f"gdal_cache_mb={self.gdal_cache_mb} must be >= 1")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, TypeError) as exc:
                problems.append(f"device={self.device!r}: {exc}")
        return problems

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> InferenceConfig:
        """Build from a parameter mapping (e.g. Kedro parameters), rejecting unknown keys.

        Raises:
            ValueError: On an unknown key or an invalid value.
        """
        return cls(**check_keys(cls, params))

    @classmethod
    def seed(cls, **overrides: Any) -> InferenceConfig:
        """The seed's settings: 2048 / 1536 tiles, batch 1, seed grid, fp16, no offset fix."""
        values: dict[str, Any] = {
            "tile_size": 2048,
            "step": 1536,
            "batch_size": 1,
            "coverage": "seed",
            "flip_tta": True,
            "flip_offset_correction": False,
            "min_objectness": 0.3,
            "max_objects": 2048,
            "amp": True,
            "amp_dtype": "float16",
        }
        return cls.from_dict(values | overrides)

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


@dataclass(frozen=True)
class InferenceScene:
    """What inference needs to know about a scene.

    Attributes:
        scene_id: Scene identifier.
        vh_path: ``VH_dB.tif``.
        vv_path: ``VV_dB.tif``.
        height: Rows.
        width: Columns.
        crs: CRS of the rasters (rasterio CRS, pyproj CRS or string), or ``None``.
        transform: Affine pixel → CRS transform, or ``None``.
        owi_mask_path: ``owiMask.tif`` next to the rasters, when it exists.
    """

    scene_id: str
    vh_path: Path
    vv_path: Path
    height: int
    width: int
    crs: Any = None
    transform: Affine | None = None
    owi_mask_path: Path | None = None

    @classmethod
    def from_paths(cls, scene_id: str, vh_path: str | Path, vv_path: str | Path) -> InferenceScene:
        """Read the size and georeference from the VV raster's header."""
        vv_path, vh_path = Path(vv_path), Path(vh_path)
        with rasterio.open(vv_path) as src:
            height, width, crs, transform = src.height, src.width, src.crs, src.transform
        owi = vv_path.parent / ANCILLARY_FILES["owi_mask"]
        return cls(
            scene_id=str(scene_id),
            vh_path=vh_path,
            vv_path=vv_path,
            height=int(height),
            width=int(width),
            crs=crs,
            transform=transform,
            owi_mask_path=owi if owi.is_file() else None,
        )

    @classmethod
    def coerce(cls, scene: Any) -> InferenceScene:
        """An :class:`InferenceScene` from this class or any ``SceneRef``-like object.

        The object needs ``scene_id``, ``vh_path`` and ``vv_path`` (e.g. a
        :class:`~xview3_pipeline.core.io.scenes.SceneRef`); missing ``height``, ``width``,
        ``crs``, ``transform`` or ``owi_mask_path`` are read from the VV raster's folder.
        """
        if isinstance(scene, cls):
            return scene
        base = cls.from_paths(scene.scene_id, scene.vh_path, scene.vv_path)
        given = {
            f.name: getattr(scene, f.name)
            for f in fields(cls)
            if f.name not in {"scene_id", "vh_path", "vv_path"}
            and getattr(scene, f.name, None) is not None
        }
        return replace(base, **given)


def build_ensemble(models: Sequence[nn.Module], config: InferenceConfig) -> CircleNetEnsemble:
    """A :class:`CircleNetEnsemble` with the config's TTA flags and stride."""
    return CircleNetEnsemble(
        models,
        flip_tta=config.flip_tta,
        flip_offset_correction=config.flip_offset_correction,
        stride=config.stride,
    )


# ----------------------------------------------------------------------------------------
# Model calls
# ----------------------------------------------------------------------------------------
def _prepare_model(model_fn: ModelFn, config: InferenceConfig, device: torch.device) -> ModelFn:
    """Eval mode, device and memory format for modules; check exported tile shapes."""
    meta = getattr(model_fn, "xview3_meta", None)
    if getattr(model_fn, "xview3_exported", False):
        shape = (meta or {}).get("input_shape")
        if shape and list(shape[1:]) != [config.tile_size, config.tile_size]:
            raise ValueError(
                f"The exported model takes tiles of {shape[1:]} pixels but "
                f"tile_size={config.tile_size}; export it again or change tile_size."
            )
        return model_fn
    if isinstance(model_fn, nn.Module):
        model_fn.eval().to(device)
        if config.channels_last:
            model_fn.to(memory_format=torch.channels_last)
    return model_fn


def _to_maps(out: Any, batch: int, size: int) -> torch.Tensor:
    """``(B, 6, t, t)`` float32 CPU maps from a model output."""
    if isinstance(out, CircleNetOutputs):
        parts = [
            out.objectness.float().sigmoid(),
            out.vessel.float().sigmoid(),
            out.fishing.float().sigmoid(),
            out.length.float(),
            out.offset.float(),
        ]
    elif isinstance(out, (tuple, list)) and len(out) == 5:
        parts = [t.float() for t in out]
    else:
        raise TypeError(
            "The model must return CircleNetOutputs or a 5-tuple (objectness_prob, "
            f"vessel_prob, fishing_prob, length, offset); got {type(out).__name__}."
        )
    maps = torch.cat(parts, dim=1)
    if tuple(maps.shape) != (batch, _N_MAPS, size, size):
        raise ValueError(
            f"Model output maps have shape {tuple(maps.shape)}; expected "
            f"({batch}, {_N_MAPS}, {size}, {size}) for tiles at output stride."
        )
    return maps.to("cpu", torch.float32).contiguous()


def _forward(
    model_fn: ModelFn, tiles: np.ndarray, config: InferenceConfig, device: torch.device
) -> torch.Tensor:
    """Run one batch of normalised tiles ``(B, 2, T, T)`` → ``(B, 6, t, t)`` maps."""
    x = torch.from_numpy(tiles).to(device, non_blocking=True)
    if config.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    use_amp = config.amp and device.type == "cuda"
    with (
        torch.inference_mode(),
        torch.autocast(device.type, dtype=_AMP_DTYPES[config.amp_dtype], enabled=use_amp),
    ):
        out = model_fn(x)
    return _to_maps(out, tiles.shape[0], config.tile_size // config.stride)


# ----------------------------------------------------------------------------------------
# Blending
# ----------------------------------------------------------------------------------------
class _Accumulator:
    """Weighted sums of the six maps and the weights for ``capacity`` output rows.

    ``acc[:6]`` holds ``Σ w · map``, ``acc[6]`` ``Σ w``, for output rows
    ``[base, base + capacity)``.
    """

    def __init__(self, capacity: int, out_h: int, out_w: int, weight: torch.Tensor) -> None:
        self.acc = torch.zeros(_N_MAPS + 1, capacity, out_w, dtype=torch.float32)
        self.out_h, self.out_w = out_h, out_w
        self.weight = weight
        self.base = 0

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """Add ``(B, 6, t, t)`` tile maps whose top-left output pixels are given."""
        size = maps.shape[-1]
        nr = min(size, self.out_h - out_row)
        r = out_row - self.base
        if nr <= 0:
            return
        if r < 0 or r + nr > self.acc.shape[1]:
            raise RuntimeError(f"Tile rows {out_row}+{nr} outside the band buffer at {self.base}.")
        for b, col in enumerate(out_cols):
            nc = min(size, self.out_w - col)
            if nc <= 0:
                continue
            w = self.weight[:nr, :nc]
            self.acc[:_N_MAPS, r : r + nr, col : col + nc] += maps[b, :, :nr, :nc] * w
            self.acc[_N_MAPS, r : r + nr, col : col + nc] += w

    def finalised(self, start: int, stop: int) -> torch.Tensor:
        """``(6, stop - start, w)`` blended maps of buffer rows ``[start, stop)``; 0 unweighted."""
        acc = self.acc[:_N_MAPS, start:stop]
        weight = self.acc[_N_MAPS : _N_MAPS + 1, start:stop]
        covered = weight > 0
        return torch.where(covered, acc / torch.where(covered, weight, 1.0), 0.0)

    def pop(self, n_rows: int) -> torch.Tensor:
        """Finalise the first ``n_rows`` rows (zeros past the buffer) and shift the rest up."""
        capacity = self.acc.shape[1]
        n_in = min(n_rows, capacity)
        block = self.finalised(0, n_in)
        if n_rows > n_in:
            block = torch.cat([block, block.new_zeros(_N_MAPS, n_rows - n_in, self.out_w)], 1)
        if n_in < capacity:
            self.acc[:, : capacity - n_in] = self.acc[:, n_in:].clone()
        self.acc[:, capacity - n_in :] = 0.0
        self.base += n_rows
        return block


# ----------------------------------------------------------------------------------------
# Nodata lookup
# ----------------------------------------------------------------------------------------
class _Validity:
    """Whether detection pixels are valid in both VV and VH, from the bands in memory.

    Keeps the masks of the last ``keep`` bands (enough for every emitted row); anything
    else is read from the rasters (rare: a peak whose offset points far from its cell).
    """

    def __init__(self, reader: SceneReader, height: int, width: int, keep: int = 2) -> None:
        self.reader = reader
        self.height, self.width = height, width
        self.bands: deque[tuple[int, np.ndarray]] = deque(maxlen=keep)

    def add_band(self, row0: int, valid: np.ndarray) -> None:
        """Remember the ``(rows, cols)`` validity of input rows ``[row0, row0 + rows)``."""
        self.bands.append((int(row0), valid))

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``(n,)`` bool: the pixels are inside the scene and finite in both channels."""
        out = np.zeros(len(rows), dtype=bool)
        todo = (rows >= 0) & (rows < self.height) & (cols >= 0) & (cols < self.width)
        for row0, mask in self.bands:
            sel = todo & (rows >= row0) & (rows < row0 + mask.shape[0]) & (cols < mask.shape[1])
            out[sel] = mask[rows[sel] - row0, cols[sel]]
            todo &= ~sel
        for i in np.flatnonzero(todo):  # rare fallback, a handful of 1 x 1 reads
            out[i] = bool(np.isfinite(self.reader.read(int(rows[i]), int(cols[i]), 1, 1)).all())
        return out


# ----------------------------------------------------------------------------------------
# Decoding
# ----------------------------------------------------------------------------------------
_CANDIDATE_FIELDS = ("x", "y", "row", "col", "objectness", "vessel", "fishing", "length_m")


def _empty_candidates() -> dict[str, np.ndarray]:
    out = {k: np.zeros(0, np.float64) for k in _CANDIDATE_FIELDS}
    out["row"] = np.zeros(0, np.int64)
    out["col"] = np.zeros(0, np.int64)
    return out


def _clean(x: torch.Tensor) -> torch.Tensor:
    """Non-finite → 0, as the coder's ``decode``."""
    return torch.where(torch.isfinite(x), x, torch.zeros((), dtype=x.dtype))


def _select_peaks(
    nms: torch.Tensor,
    maps: torch.Tensor,
    row0: int,
    config: InferenceConfig,
    validity: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> dict[str, np.ndarray]:
    """Peaks of an NMS'd block with objectness ``>= min_objectness`` at valid pixels.

    Args:
        nms: ``(m, w)`` objectness after NMS (non-peaks 0) of output rows ``[row0, row0 + m)``.
        maps: ``(5, m, w)`` vessel, fishing, length, offset x, offset y of the same rows.
        row0: Scene output row of the block's first row.
        config: ``min_objectness``, ``max_objects``, ``stride``.
        validity: Pixel validity lookup.

    Returns:
        Up to ``max_objects`` valid candidates (the best ones of the block) as arrays.
    """
    n_peaks = int((nms >= config.min_objectness).sum())
    if n_peaks == 0:
        return _empty_candidates()
    k = min(n_peaks, config.max_objects)
    s = float(config.stride)
    while True:
        scores, index, ys, xs = topk_peaks(nms[None, None], k)
        feats = gather_features(maps[None], index)[0]  # (k, 5)
        x = (xs[0].double() + feats[:, 3].double()) * s
        y = (ys[0].double() + row0 + feats[:, 4].double()) * s
        x_np, y_np = x.numpy(), y.numpy()
        rows, cols = y_np.astype(np.int64), x_np.astype(np.int64)  # truncation, as the coder
        valid = validity(rows, cols)
        if int(valid.sum()) >= config.max_objects or k >= n_peaks:
            break
        k = min(n_peaks, 2 * k)
    return {
        "x": x_np[valid],
        "y": y_np[valid],
        "row": rows[valid],
        "col": cols[valid],
        "objectness": scores[0].double().numpy()[valid],
        "vessel": feats[:, 0].double().numpy()[valid],
        "fishing": feats[:, 1].double().numpy()[valid],
        "length_m": length_from_log(feats[:, 2]).double().numpy()[valid],
    }


def _order(c: Mapping[str, np.ndarray]) -> np.ndarray:
    """Objectness descending, then ``y``, then ``x`` (a total order for ties)."""
    return np.lexsort((c["x"], c["y"], -c["objectness"]))


class _TopK:
    """Running top-K of candidates under :func:`_order`."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.best = _empty_candidates()

    def add(self, cand: Mapping[str, np.ndarray]) -> None:
        if len(cand["x"]) == 0:
            return
        merged = {key: np.concatenate([self.best[key], cand[key]]) for key in _CANDIDATE_FIELDS}
        keep = _order(merged)[: self.k]
        self.best = {key: merged[key][keep] for key in _CANDIDATE_FIELDS}

    def frame(self, scene_id: str) -> pd.DataFrame:
        c = {key: v[_order(self.best)] for key, v in self.best.items()}
        return pd.DataFrame(
            {
                "scene_id": np.full(len(c["x"]), scene_id, dtype=object),
                "detect_scene_row": c["row"],
                "detect_scene_column": c["col"],
                "x": c["x"],
                "y": c["y"],
                "objectness_p": c["objectness"],
                "vessel_p": c["vessel"],
                "fishing_p": c["fishing"],
                "vessel_length_m": c["length_m"],
            },
            columns=list(DETECTION_COLUMNS),
        )


def _decode_rows(
    block: torch.Tensor,
    start: int,
    stop: int,
    block_row0: int,
    *,
    config: InferenceConfig,
    validity: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> dict[str, np.ndarray]:
    """NMS over a block of finalised rows, candidates of its rows ``[start, stop)``.

    Args:
        block: ``(6, n, w)`` finalised maps of output rows ``[block_row0, block_row0 + n)``.
        start: First block row to emit; rows above it are halo for the NMS.
        stop: End of the emitted rows; rows below are halo (or none at the scene bottom).
        block_row0: Scene output row of ``block[:, 0]``.
        config: Decoding settings.
        validity: Pixel validity lookup.
    """
    nms = heatmap_nms(_clean(block[0:1])[None], config.nms_kernel)[0, 0, start:stop]
    maps = _clean(block[1:, start:stop])
    return _select_peaks(nms, maps, block_row0 + start, config, validity)


class _PeakStream:
    """Exact streaming NMS + top-K over finalised row blocks arriving top to bottom."""

    def __init__(self, out_h: int, config: InferenceConfig, validity: _Validity) -> None:
        self.out_h = out_h
        self.config = config
        self.validity = validity
        self.pad = config.nms_kernel // 2
        self.pending: torch.Tensor | None = None  # finalised rows [p0, f)
        self.p0 = 0  # first row kept (halo)
        self.f = 0  # end of the finalised rows
        self.e = 0  # end of the emitted rows
        self.top = _TopK(config.max_objects)

    def push(self, rows: torch.Tensor) -> None:
        """Take the next finalised ``(6, n, w)`` rows and emit what has become final."""
        self.pending = rows if self.pending is None else torch.cat([self.pending, rows], 1)
        self.f += rows.shape[1]
        end = self.f if self.f >= self.out_h else self.f - self.pad
        if end > self.e:
            cand = _decode_rows(
                self.pending,
                self.e - self.p0,
                end - self.p0,
                self.p0,
                config=self.config,
                validity=self.validity,
            )
            self.top.add(cand)
            self.e = end
        keep_from = max(0, self.e - self.pad)
        self.pending = self.pending[:, keep_from - self.p0 :].clone()
        self.p0 = keep_from


# ----------------------------------------------------------------------------------------
# Sinks: what to do with the tile outputs
# ----------------------------------------------------------------------------------------
class _StreamingSink:
    """Band accumulator + exact streaming decoder (bounded memory)."""

    def __init__(self, grid: TileGrid, config: InferenceConfig, reader: SceneReader) -> None:
        self.grid, self.config = grid, config
        self.out_h, out_w = grid.output_shape
        t = grid.tile // grid.stride
        weight = torch.from_numpy(pyramid_weight(t).copy())
        self.acc = _Accumulator(t, self.out_h, out_w, weight)
        self.validity = _Validity(reader, grid.height, grid.width, keep=2)
        self.peaks = _PeakStream(self.out_h, config, self.validity)

    def begin_band(self, row0: int, valid: np.ndarray) -> None:
        out_row = row0 // self.grid.stride
        if out_row > self.acc.base:  # rows above can receive nothing more
            self.peaks.push(self.acc.pop(out_row - self.acc.base))
        # Added after the push: the rows just emitted lie in the two previous bands.
        self.validity.add_band(row0, valid)

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        self.acc.add(maps, out_row, out_cols)

    def finish(self, scene_id: str) -> pd.DataFrame:
        if self.out_h > self.acc.base:
            self.peaks.push(self.acc.pop(self.out_h - self.acc.base))
        return self.peaks.top.frame(scene_id)


class _WholeSceneSink:
    """Whole-scene accumulation and decoding (the reference; memory O(H · W))."""

    def __init__(self, grid: TileGrid, config: InferenceConfig, reader: SceneReader) -> None:
        self.grid, self.config, self.reader = grid, config, reader
        self.out_h, out_w = grid.output_shape
        t = grid.tile // grid.stride
        weight = torch.from_numpy(pyramid_weight(t).copy())
        self.acc = _Accumulator(self.out_h, self.out_h, out_w, weight)

    def begin_band(self, row0: int, valid: np.ndarray) -> None:
        pass

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        self.acc.add(maps, out_row, out_cols)

    def maps(self) -> tuple[np.ndarray, np.ndarray]:
        return self.acc.finalised(0, self.out_h).numpy(), self.acc.acc[_N_MAPS].numpy().copy()

    def finish(self, scene_id: str) -> pd.DataFrame:
        validity = _Validity(self.reader, self.grid.height, self.grid.width, keep=1)
        whole = self.reader.read(0, 0, self.grid.height, self.grid.width)
        validity.add_band(0, np.isfinite(whole).all(0))
        block = self.acc.finalised(0, self.out_h)
        top = _TopK(self.config.max_objects)
        top.add(_decode_rows(block, 0, self.out_h, 0, config=self.config, validity=validity))
        return top.frame(scene_id)


def _run_tiles(
    model_fn: ModelFn,
    reader: SceneReader,
    grid: TileGrid,
    config: InferenceConfig,
    *,
    sink: _StreamingSink | _WholeSceneSink,
    desc: str,
) -> dict[str, Any]:
    """Read, normalise and predict every tile band by band, feeding ``sink``."""
    device = config.resolve_device()
    model_fn = _prepare_model(model_fn, config, device)
    normalize = build_normalization(config.normalization)
    size, s = grid.tile, grid.stride
    stats = {"tiles": grid.n_tiles, "tiles_run": 0, "tiles_skipped": 0, "forward_calls": 0}
    t0 = time.perf_counter()
    with tqdm(
        total=grid.n_tiles, desc=desc, unit="tile", disable=not config.progress, leave=False
    ) as bar:
        for band in range(grid.n_bands):
            row0 = grid.row_starts[band]
            raw = reader.read(row0, 0, size, grid.read_width)  # (2, T, Wr) dB, NaN = nodata
            finite = np.isfinite(raw)
            valid = finite.all(axis=0)  # (T, Wr) valid in VV and VH: where detections may be
            sink.begin_band(row0, valid)
            any_valid = finite.any(axis=(0, 1))  # (Wr,) column has data (seed: not all zero)
            del finite
            run = [c for c in grid.col_starts if any_valid[c : c + size].any()]
            skipped = len(grid.col_starts) - len(run)
            for i in range(0, len(run), config.batch_size):
                cols = run[i : i + config.batch_size]
                tiles = normalize(np.stack([raw[:, :, c : c + size] for c in cols]))
                tiles = np.where(np.isfinite(tiles), tiles, np.float32(0.0)).astype(np.float32)
                maps = _forward(model_fn, tiles, config, device)
                sink.add(maps, row0 // s, [c // s for c in cols])
                stats["forward_calls"] += 1
                bar.update(len(cols))
            bar.update(skipped)
            stats["tiles_run"] += len(run)
            stats["tiles_skipped"] += skipped
            logger.debug(
                "%s band %d/%d (rows %d-%d): %d tiles run, %d skipped",
                desc, band + 1, grid.n_bands, row0, row0 + size, len(run), skipped,
            )  # fmt: skip
            del raw
    stats["seconds"] = time.perf_counter() - t0
    return stats


def _gdal_env(config: InferenceConfig) -> rasterio.Env:
    """GDAL environment of the scene reads: a bounded block cache."""
    return rasterio.Env(GDAL_CACHEMAX=int(config.gdal_cache_mb))


def _grid_for(scene: InferenceScene, reader: SceneReader, config: InferenceConfig) -> TileGrid:
    height, width = reader.shape
    if (height, width) != (scene.height, scene.width):
        logger.warning(
            "Scene %s: rasters are %d x %d, not the %d x %d given; using the rasters.",
            scene.scene_id, height, width, scene.height, scene.width,
        )  # fmt: skip
    return TileGrid.build(
        height, width, config.tile_size, config.step, coverage=config.coverage, stride=config.stride
    )


def _finish_frame(
    frame: pd.DataFrame,
    scene: InferenceScene,
    shoreline: Shoreline | None,
    owi_mask_path: str | Path | None,
) -> pd.DataFrame:
    return add_scene_columns(
        frame,
        transform=scene.transform,
        crs=scene.crs,
        shoreline=shoreline,
        owi_mask_path=owi_mask_path,
    )


def _run_scene(
    model_fn: ModelFn,
    scene: Any,
    config: InferenceConfig,
    sink_type: type,
    finish: Callable[[Any, InferenceScene], Any],
) -> tuple[InferenceScene, dict[str, Any], Any]:
    """Run every tile of a scene into a sink and finish it while the rasters are open.

    Returns:
        The scene, the tile statistics and what ``finish(sink, scene)`` returns.
    """
    ref = InferenceScene.coerce(scene)
    with _gdal_env(config), SceneReader(ref.vh_path, ref.vv_path) as reader:
        grid = _grid_for(ref, reader, config)
        sink = sink_type(grid, config, reader)
        stats = _run_tiles(model_fn, reader, grid, config, sink=sink, desc=ref.scene_id)
        return ref, stats, finish(sink, ref)


def predict_scene(
    model_fn: ModelFn,
    scene: Any,
    config: InferenceConfig | None = None,
    *,
    shoreline: Shoreline | None = None,
    owi_mask_path: str | Path | None = None,
) -> pd.DataFrame:
    """Detect candidates in one scene with bounded memory (see the module docstring).

    Args:
        model_fn: The ensemble (:func:`build_ensemble`), its exported artefact
            (:func:`~xview3_pipeline.core.inference.ensemble.load_exported`, loaded on the
            config's device) or any callable with the same outputs; ``nn.Module`` models
            are put in eval mode, moved to the device and (``channels_last``) converted,
            in place.
        scene: An :class:`InferenceScene` or a ``SceneRef``-like object with
            ``scene_id``, ``vh_path``, ``vv_path`` (size and georeference are read from
            the VV raster when absent).
        config: Settings; :class:`InferenceConfig` defaults when ``None``.
        shoreline: The scene's shoreline, for ``distance_from_shore_km``.
        owi_mask_path: ``owiMask.tif``, for the distance when there is no shoreline.

    Returns:
        One row per candidate, :data:`~xview3_pipeline.core.inference.postprocess.
        CANDIDATE_COLUMNS`, by descending objectness; ``frame.attrs["inference"]`` holds
        tile counts and timing.
    """
    config = config or InferenceConfig()
    ref, stats, frame = _run_scene(
        model_fn, scene, config, _StreamingSink, lambda sink, r: sink.finish(r.scene_id)
    )
    out = _finish_frame(frame, ref, shoreline, owi_mask_path)
    out.attrs["inference"] = stats
    logger.info(
        "Scene %s: %d candidates (objectness >= %.2f) from %d/%d tiles (%d skipped) in %.1f s",
        ref.scene_id, len(out), config.min_objectness, stats["tiles_run"], stats["tiles"],
        stats["tiles_skipped"], stats["seconds"],
    )  # fmt: skip
    return out


def accumulate_scene_maps(
    model_fn: ModelFn, scene: Any, config: InferenceConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Blend the tile outputs of a whole scene into full maps (tests, small scenes only).

    Returns:
        ``(maps, weights)``: ``(6, ceil(H/s), ceil(W/s))`` float32 blended maps
        (:data:`MAP_CHANNELS`; 0 where no tile contributed) and the summed weights.
    """
    config = config or InferenceConfig()
    return _run_scene(model_fn, scene, config, _WholeSceneSink, lambda sink, _: sink.maps())[2]


def predict_scene_reference(
    model_fn: ModelFn,
    scene: Any,
    config: InferenceConfig | None = None,
    *,
    shoreline: Shoreline | None = None,
    owi_mask_path: str | Path | None = None,
) -> pd.DataFrame:
    """:func:`predict_scene` on whole-scene maps (memory ``O(H · W)``; for tests only).

    Same tiles, blending and decoding, but the maps of the whole scene are accumulated
    first and decoded in one piece, as the seed did.
    """
    config = config or InferenceConfig()
    ref, stats, frame = _run_scene(
        model_fn, scene, config, _WholeSceneSink, lambda sink, r: sink.finish(r.scene_id)
    )
    out = _finish_frame(frame, ref, shoreline, owi_mask_path)
    out.attrs["inference"] = stats
    return out


def predict_scenes(
    model_fn: ModelFn,
    scenes: Iterable[Any],
    config: InferenceConfig | None = None,
    *,
    shore_root: str | Path | None = None,
    use_owi_mask: bool = True,
) -> pd.DataFrame:
    """:func:`predict_scene` over several scenes, with a per-scene progress bar.

    Args:
        model_fn: See :func:`predict_scene`.
        scenes: ``InferenceScene`` / ``SceneRef``-like objects.
        config: Settings.
        shore_root: Folder of ``<scene_id>_shoreline.npy`` files (and split subfolders).
        use_owi_mask: Fall back to the scene's ``owiMask.tif`` for shore distances.

    Returns:
        The concatenated candidate tables (:data:`CANDIDATE_COLUMNS`).
    """
    config = config or InferenceConfig()
    refs = [InferenceScene.coerce(s) for s in scenes]
    frames = []
    for ref in tqdm(refs, desc="scenes", unit="scene", disable=not config.progress):
        shoreline = load_shoreline(shore_root, ref.scene_id) if shore_root is not None else None
        owi = ref.owi_mask_path if use_owi_mask else None
        frames.append(predict_scene(model_fn, ref, config, shoreline=shoreline, owi_mask_path=owi))
    if not frames:
        return pd.DataFrame(columns=list(CANDIDATE_COLUMNS))
    return pd.concat(frames, ignore_index=True)
