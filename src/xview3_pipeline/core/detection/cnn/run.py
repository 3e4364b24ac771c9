"""Tiled CircleNet inference on one scene with bounded memory.

For a scene of ``H × W`` pixels (output stride ``s``, tile ``T``, step ``S``,
``t = T / s`` output pixels per tile side, ``w = ceil(W / s)``):

1. Tiles come from a :class:`~xview3_pipeline.core.detection.cnn.tiling.TileGrid`.
2. **Bands.** Tiles are processed by band (one row of tiles). A band's input rows
   ``[r, r + T)`` are read once by the scene's band iterator
   (:class:`~xview3_pipeline.core.detection.bands.SceneBands`); tiles without a single
   valid pixel are skipped; each batch of ``batch_size`` tiles is normalised, NaN → 0 (as
   the winner), and run through the model. Non-finite model outputs are an error naming
   the scene and the tile (corrupt weights must not pass as an empty sea).
3. **Blending** (:mod:`~xview3_pipeline.core.detection.cnn.blending`). Each tile's six
   stride-2 maps are multiplied by the pyramid weight and added to a band accumulator of
   ``7 × t × w`` float32. When the next band starts at ``r' = r + S``, output rows
   ``[r / s, r' / s)`` can receive nothing more: they are finalised and passed on.
4. **Decoding** (:mod:`~xview3_pipeline.core.detection.cnn.decode`), exactly as on the
   whole map, into a running top-``max_objects``.

Memory is ``O(T · W)``, independent of ``H``: the accumulator ``7 · t · w · 4`` B, the raw
band ``2 · T · W · 4`` B plus the validity masks of two bands (``2 · T · W`` B), the
finalised rows waiting for decoding ``≤ 6 · (S / s + 2) · w · 4`` B, one batch of tiles,
``O(K)`` candidates and GDAL's block cache (``gdal_cache_mb``). For a real 29,400 × 24,400
scene with ``T = 512`` that is ≈ 0.27 GB (with the winner's ``T = 2048``: ≈ 1.1 GB),
against ≈ 5 GB for six full-resolution stride-2 maps plus weights. The model's own
activations (one batch) come on top.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, SupportsIndex

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from xview3_pipeline.core.data.normalization import build_normalization
from xview3_pipeline.core.detection.bands import BandSource, SceneBands
from xview3_pipeline.core.detection.cnn.blending import MAP_CHANNELS, N_MAPS, BandAccumulator
from xview3_pipeline.core.detection.cnn.config import AMP_DTYPES, InferenceConfig
from xview3_pipeline.core.detection.cnn.decode import PeakStream, Validity
from xview3_pipeline.core.detection.cnn.ensemble import CircleNetEnsemble
from xview3_pipeline.core.detection.cnn.tiling import TileGrid
from xview3_pipeline.core.detection.contract import module_fingerprint
from xview3_pipeline.core.detection.georef import add_scene_columns, scene_shoreline
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.types import CircleNetOutputs

__all__ = [
    "CnnDetector",
    "ModelFn",
    "NonFiniteOutputError",
    "Sink",
    "StreamingSink",
    "build_ensemble",
    "predict_scene",
    "run_scene",
]

logger = logging.getLogger(__name__)

#: A model: ``(B, 2, T, T)`` normalised tiles → the ensemble's 5-tuple of probability /
#: raw maps, or raw :class:`CircleNetOutputs` (logits; a sigmoid is applied).
ModelFn = Callable[[torch.Tensor], Any]

#: Settings that never change the candidates (only how they are reported).
_OUTPUT_NEUTRAL = ("progress",)


class NonFiniteOutputError(ValueError):
    """The model produced NaN or infinite maps (corrupt weights or an overflow)."""


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
                f"inference.tile_size={config.tile_size}; export it again or change tile_size."
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
    if tuple(maps.shape) != (batch, N_MAPS, size, size):
        raise ValueError(
            f"Model output maps have shape {tuple(maps.shape)}; expected "
            f"({batch}, {N_MAPS}, {size}, {size}) for tiles at output stride."
        )
    return maps.to("cpu", torch.float32).contiguous()


def _check_finite(maps: torch.Tensor, scene_id: str, row0: int, cols: Sequence[int], size: int):
    """Raise :class:`NonFiniteOutputError` naming the first tile with a NaN or inf."""
    finite = torch.isfinite(maps)
    if bool(finite.all()):
        return
    bad_tile = int((~finite).flatten(1).any(1).nonzero()[0, 0])
    bad = (~finite[bad_tile]).flatten(1).sum(1)
    channels = [f"{MAP_CHANNELS[c]} ({int(n)})" for c, n in enumerate(bad) if n]
    col0 = cols[bad_tile]
    raise NonFiniteOutputError(
        f"Scene {scene_id}: the model returned non-finite values for the tile at rows "
        f"{row0}-{row0 + size}, columns {col0}-{col0 + size}, in {', '.join(channels)}. "
        "The weights may be corrupt (check the checkpoint or exported ensemble)."
    )


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
        torch.autocast(device.type, dtype=AMP_DTYPES[config.amp_dtype], enabled=use_amp),
    ):
        out = model_fn(x)
    return _to_maps(out, tiles.shape[0], config.tile_size // config.stride)


# ----------------------------------------------------------------------------------------
# Sinks: what to do with the tile outputs
# ----------------------------------------------------------------------------------------
class Sink(Protocol):
    """Receives the blended tile outputs of a scene, band by band."""

    def begin_band(self, row0: int, valid: np.ndarray) -> None:
        """A band of input rows ``[row0, row0 + T)`` starts; ``valid`` is its pixel mask."""
        ...

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """``(B, 6, t, t)`` tile maps at output row ``out_row`` and columns ``out_cols``."""
        ...

    def finish(self, scene_id: str) -> Any:
        """The result, once every band is in."""
        ...


#: ``(grid, config, bands) -> sink``.
SinkFactory = Callable[[TileGrid, InferenceConfig, BandSource], Sink]


def _valid_pixel(bands: BandSource) -> Callable[[int, int], bool]:
    return lambda row, col: bool(np.isfinite(bands.read(row, col, 1, 1)).all())


class StreamingSink:
    """Band accumulator + exact streaming decoder (bounded memory)."""

    def __init__(self, grid: TileGrid, config: InferenceConfig, bands: BandSource) -> None:
        self.grid, self.config = grid, config
        self.out_h, out_w = grid.output_shape
        t = grid.tile // grid.stride
        self.acc = BandAccumulator(t, self.out_h, out_w, t)
        self.validity = Validity(_valid_pixel(bands), grid.height, grid.width, keep=2)
        self.peaks = PeakStream(self.out_h, config, self.validity)

    def begin_band(self, row0: int, valid: np.ndarray) -> None:
        """Finalise the rows above the band, then remember its validity."""
        out_row = row0 // self.grid.stride
        if out_row > self.acc.base:  # rows above can receive nothing more
            self.peaks.push(self.acc.pop(out_row - self.acc.base))
        # Added after the push: the rows just emitted lie in the two previous bands.
        self.validity.add_band(row0, valid)

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """Blend tile maps into the band accumulator."""
        self.acc.add(maps, out_row, out_cols)

    def finish(self, scene_id: str) -> pd.DataFrame:
        """Decode the last rows; the detection columns, best first."""
        if self.out_h > self.acc.base:
            self.peaks.push(self.acc.pop(self.out_h - self.acc.base))
        return self.peaks.top.frame(scene_id)


# ----------------------------------------------------------------------------------------
# Running a scene
# ----------------------------------------------------------------------------------------
class _TileRunner:
    """Reads, normalises and predicts every tile band by band, feeding a sink."""

    def __init__(self, model_fn: ModelFn, grid: TileGrid, config: InferenceConfig) -> None:
        self.device = config.resolve_device()
        self.model_fn = _prepare_model(model_fn, config, self.device)
        self.normalize = build_normalization(config.normalization)
        self.grid, self.config = grid, config
        self.stats: dict[str, float] = {
            "tiles": grid.n_tiles,
            "tiles_run": 0,
            "tiles_skipped": 0,
            "forward_calls": 0,
        }

    def band(self, row0: int, raw: np.ndarray, sink: Sink, scene_id: str) -> int:
        """Run the tiles of one band ``(2, T, Wr)``; returns the number of tiles done."""
        size, s, batch = self.grid.tile, self.grid.stride, self.config.batch_size
        finite = np.isfinite(raw)
        sink.begin_band(row0, finite.all(axis=0))  # valid in VV and VH: where detections may be
        any_valid = finite.any(axis=(0, 1))  # (Wr,) column has data (winner: not all zero)
        del finite
        run = [c for c in self.grid.col_starts if any_valid[c : c + size].any()]
        for i in range(0, len(run), batch):
            cols = run[i : i + batch]
            tiles = self.normalize(np.stack([raw[:, :, c : c + size] for c in cols]))
            tiles = np.where(np.isfinite(tiles), tiles, np.float32(0.0)).astype(np.float32)
            maps = _forward(self.model_fn, tiles, self.config, self.device)
            _check_finite(maps, scene_id, row0, cols, size)
            sink.add(maps, row0 // s, [c // s for c in cols])
            self.stats["forward_calls"] += 1
        self.stats["tiles_run"] += len(run)
        self.stats["tiles_skipped"] += len(self.grid.col_starts) - len(run)
        return len(self.grid.col_starts)


def run_scene(
    model_fn: ModelFn, scene: Scene, config: InferenceConfig, sink_factory: SinkFactory
) -> tuple[dict[str, Any], Any]:
    """Run every tile of a scene into a sink and finish it while the rasters are open.

    Args:
        model_fn: See :func:`predict_scene`.
        scene: The scene.
        config: Settings.
        sink_factory: Builds the sink (:class:`StreamingSink`, or a test's reference).

    Returns:
        The tile statistics (counts, seconds) and what the sink's ``finish`` returns.
    """
    with SceneBands(scene, gdal_cache_mb=config.gdal_cache_mb) as bands:
        height, width = bands.shape
        grid = TileGrid.build(
            height, width, config.tile_size, config.step, coverage=config.coverage,
            stride=config.stride,
        )  # fmt: skip
        if grid.uncovered_rows or grid.uncovered_cols:
            logger.info(
                "Scene %s: %s coverage leaves the last %d rows and %d columns without a tile.",
                scene.scene_id, config.coverage, grid.uncovered_rows, grid.uncovered_cols,
            )  # fmt: skip
        sink = sink_factory(grid, config, bands)
        runner = _TileRunner(model_fn, grid, config)
        t0 = time.perf_counter()
        windows = [(row0, grid.tile) for row0 in grid.row_starts]
        with tqdm(
            total=grid.n_tiles, desc=scene.scene_id, unit="tile", disable=not config.progress,
            leave=False,
        ) as bar:  # fmt: skip
            for row0, raw in bands.bands(windows, grid.read_width):
                bar.update(runner.band(row0, raw, sink, scene.scene_id))
        runner.stats["seconds"] = time.perf_counter() - t0
        return runner.stats, sink.finish(scene.scene_id)


def predict_scene(
    model_fn: ModelFn, scene: Scene, config: InferenceConfig | None = None
) -> pd.DataFrame:
    """Detect candidates in one scene with bounded memory (see the module docstring).

    Args:
        model_fn: The ensemble (:func:`build_ensemble`), its exported artefact (loaded on
            the config's device) or any callable with the same outputs; ``nn.Module``
            models are put in eval mode, moved to the device and (``channels_last``)
            converted, in place.
        scene: The scene (its shoreline file, else its ``owiMask.tif``, gives the shore
            distance).
        config: Settings; :class:`InferenceConfig` defaults when ``None``.

    Returns:
        One row per candidate, :data:`~xview3_pipeline.core.detection.contract.
        CANDIDATE_COLUMNS`, by descending objectness; ``frame.attrs["inference"]`` holds
        tile counts and timing.

    Raises:
        NonFiniteOutputError: If the model returns NaN or infinite maps.
    """
    config = config or InferenceConfig()
    stats, frame = run_scene(model_fn, scene, config, StreamingSink)
    out = add_scene_columns(frame, scene, scene_shoreline(scene))
    out.attrs["inference"] = stats
    logger.info(
        "Scene %s: %d candidates (objectness >= %.2f) from %d/%d tiles (%d skipped) in %.1f s",
        scene.scene_id, len(out), config.min_objectness, stats["tiles_run"], stats["tiles"],
        stats["tiles_skipped"], stats["seconds"],
    )  # fmt: skip
    return out


class CnnDetector:
    """Tiled inference of a CircleNet model (the exported ensemble or one fold model).

    Args:
        model: The ensemble (:func:`build_ensemble`), its exported artefact, or one fold's
            model wrapped as an ensemble of one.
        config: Tiling, TTA and decoding settings.
    """

    name = "cnn"

    def __init__(self, model: nn.Module, config: InferenceConfig) -> None:
        self.model = model
        self.config = config
        self._fingerprint: str | None = None

    def __repr__(self) -> str:
        return f"CnnDetector(model={type(self.model).__name__}, config={self.config!r})"

    def __reduce_ex__(self, protocol: SupportsIndex) -> str | tuple[Any, ...]:
        """Pickle an exported ensemble as its file, loaded once per process on arrival.

        See :mod:`~xview3_pipeline.core.detection.cnn.transport`; a detector of in-memory
        modules pickles with its weights.
        """
        source = getattr(self.model, "xview3_source", None)
        if source is None:
            return super().__reduce_ex__(protocol)
        from xview3_pipeline.core.detection.cnn.transport import (  # noqa: PLC0415 (cycle)
            exported_detector,
        )

        return exported_detector, (str(source), self.config, self.fingerprint())

    def fingerprint(self) -> str:
        """SHA-256 of the weights and of the settings that change the candidates."""
        if self._fingerprint is None:
            settings = {k: v for k, v in self.config.to_dict().items() if k not in _OUTPUT_NEUTRAL}
            self._fingerprint = module_fingerprint(self.model, {"cnn": settings})
        return self._fingerprint

    def detect(self, scene: Scene) -> pd.DataFrame:
        """Candidates of one scene, by descending objectness (``CANDIDATE_COLUMNS``)."""
        with torch.inference_mode():
            return predict_scene(self.model, scene, self.config)
