"""Tiled CircleNet inference on one scene with bounded memory.

For a scene of ``H × W`` pixels (output stride ``s``, tile ``T``, step ``S``,
``t = T / s`` output pixels per tile side, ``w = ceil(W / s)``):

1. Tiles come from a :class:`~xview3_pipeline.core.detection.cnn.tiling.TileGrid`.
2. **Bands.** Tiles are processed by band (one row of tiles, input rows ``[r, r + T)``),
   read once through column windows of the scene's rasters
   (:mod:`~xview3_pipeline.core.detection.cnn.prefetch`, on
   :class:`~xview3_pipeline.core.detection.bands.SceneBands`) in a background thread,
   ``prefetch`` batches ahead of the model; tiles without a single valid pixel are
   skipped; each batch of ``batch_size`` tiles is normalised, NaN → 0 (as the winner), and
   run through the model (:mod:`~xview3_pipeline.core.detection.cnn.forward`). Non-finite
   model outputs are an error naming the scene and the tile (corrupt weights must not
   pass as an empty sea).
3. **Blending** (:mod:`~xview3_pipeline.core.detection.cnn.blending`). Each tile's six
   stride-2 maps are multiplied by the pyramid weight and added to a band accumulator of
   ``7 × t × w`` float32 on the model's device. When the next band starts at
   ``r' = r + S``, output rows ``[r / s, r' / s)`` can receive nothing more: they are
   finalised in place and decoded.
4. **Decoding** (:mod:`~xview3_pipeline.core.detection.cnn.decode`), exactly as on the
   whole map, 64 rows at a time, on the model's device, into a running
   top-``max_objects`` on the host.

Memory is ``O(T · W)``, independent of ``H``, and what grows with the width is mostly the
accumulator: ``7 · t · w · 4`` B, plus the packed validity of two bands
(``2 · T · W / 8`` B) and the decoding temporaries of 64 rows (``≈ 3 · 6 · 65 · w · 4``
B). Constant in the scene size: the sliding column buffer (``2 · T · (T + 2048) · 4`` B),
the prefetched batches (``(prefetch + 2) · B · 2 · T² · 4`` B), ``O(K)`` candidates,
GDAL's block cache (``gdal_cache_mb``) and the model's own activations. Measured
(``benchmarks/bench_inference_memory.py --sizes 1024x8192 1024x29400``, ``cpu_small``,
``T = 512``, flip TTA, ``prefetch`` 2): peak RSS 1382 MB at width 8192 and 1460 MB at
the real width 29,400 (×1.06; the scene's own part 132 → 226 MB over ≈ 1.24 GB for torch
and the model), against 1347 → 1651 MB (×1.23) when whole-width bands were read. For a
real 29,400 × 24,400 scene the width-dependent part is ≈ 0.18 GB with ``T = 512`` (with
the winner's ``T = 2048``: ≈ 0.5 GB), against ≈ 5 GB for six full-resolution stride-2
maps plus weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, SupportsIndex

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from xview3_pipeline.core.data.normalization import build_normalization
from xview3_pipeline.core.detection.bands import BandSource, SceneBands
from xview3_pipeline.core.detection.cnn.blending import N_MAPS, BandAccumulator
from xview3_pipeline.core.detection.cnn.config import InferenceConfig
from xview3_pipeline.core.detection.cnn.decode import PeakStream, Validity
from xview3_pipeline.core.detection.cnn.ensemble import CircleNetEnsemble
from xview3_pipeline.core.detection.cnn.forward import (
    ModelFn,
    NonFiniteOutputError,
    check_finite,
    forward,
    prepare_model,
)
from xview3_pipeline.core.detection.cnn.prefetch import (
    BandEnd,
    Prefetcher,
    PrefetchError,
    TileBatch,
    tile_batches,
)
from xview3_pipeline.core.detection.cnn.tiling import TileGrid
from xview3_pipeline.core.detection.contract import module_fingerprint
from xview3_pipeline.core.detection.georef import add_scene_columns, scene_shoreline
from xview3_pipeline.core.detection.land_filter import drop_on_land
from xview3_pipeline.core.detection.length import refine_lengths
from xview3_pipeline.core.detection.scene import Scene

__all__ = [
    "CnnDetector",
    "ModelFn",
    "NonFiniteOutputError",
    "PrefetchError",
    "Sink",
    "StreamingSink",
    "build_ensemble",
    "predict_scene",
    "run_scene",
]

logger = logging.getLogger(__name__)

#: Settings that never change the candidates (only how they are reported).
_OUTPUT_NEUTRAL = ("progress", "prefetch")


def build_ensemble(models: Sequence[nn.Module], config: InferenceConfig) -> CircleNetEnsemble:
    """A :class:`CircleNetEnsemble` with the config's TTA flags and stride."""
    return CircleNetEnsemble(
        models,
        flip_tta=config.flip_tta,
        flip_offset_correction=config.flip_offset_correction,
        stride=config.stride,
    )


# ----------------------------------------------------------------------------------------
# Sinks: what to do with the tile outputs
# ----------------------------------------------------------------------------------------
class Sink(Protocol):
    """Receives the blended tile outputs of a scene, band by band."""

    def begin_band(self, row0: int) -> None:
        """A band of input rows ``[row0, row0 + T)`` starts."""
        ...

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """``(B, 6, t, t)`` tile maps at output row ``out_row`` and columns ``out_cols``."""
        ...

    def end_band(self, row0: int, valid: np.ndarray, width: int) -> None:
        """The band is done; ``valid`` its packed pixel mask (see :class:`BandEnd`)."""
        ...

    def finish(self, scene_id: str) -> Any:
        """The result, once every band is in."""
        ...


#: ``(grid, config, bands, device) -> sink``.
SinkFactory = Callable[[TileGrid, InferenceConfig, BandSource, torch.device], Sink]


def _valid_pixel(bands: BandSource) -> Callable[[int, int], bool]:
    return lambda row, col: bool(np.isfinite(bands.read(row, col, 1, 1)).all())


class StreamingSink:
    """Band accumulator + exact streaming decoder (bounded memory, on the model's device)."""

    def __init__(
        self,
        grid: TileGrid,
        config: InferenceConfig,
        bands: BandSource,
        device: torch.device | None = None,
    ) -> None:
        self.grid, self.config = grid, config
        self.out_h, out_w = grid.output_shape
        t = grid.tile // grid.stride
        self.acc = BandAccumulator(t, self.out_h, out_w, t, device=device or "cpu")
        self.validity = Validity(_valid_pixel(bands), grid.height, grid.width, keep=2)
        self.peaks = PeakStream(self.out_h, config, self.validity)

    def begin_band(self, row0: int) -> None:
        """Finalise and decode the rows above the band."""
        out_row = row0 // self.grid.stride
        if out_row > self.acc.base:  # rows above can receive nothing more
            self._emit(out_row - self.acc.base)

    def _emit(self, n_rows: int) -> None:
        """Decode the first ``n_rows`` rows straight from the accumulator, then drop them."""
        block = self.acc.finalise_rows(n_rows)
        self.peaks.push(block)  # keeps copies of what it needs, never the view
        if n_rows > block.shape[1]:  # past the last tile (winner coverage): no weight
            self.peaks.push(block.new_zeros(N_MAPS, n_rows - block.shape[1], block.shape[2]))
        self.acc.shift(n_rows)

    def end_band(self, row0: int, valid: np.ndarray, width: int) -> None:
        """Remember the band's validity (the rows decoded next lie in the last two bands)."""
        self.validity.add_band(row0, valid, width)

    def add(self, maps: torch.Tensor, out_row: int, out_cols: Sequence[int]) -> None:
        """Blend tile maps into the band accumulator."""
        self.acc.add(maps, out_row, out_cols)

    def finish(self, scene_id: str) -> pd.DataFrame:
        """Decode the last rows; the detection columns, best first."""
        if self.out_h > self.acc.base:
            self._emit(self.out_h - self.acc.base)
        return self.peaks.top.frame(scene_id)


# ----------------------------------------------------------------------------------------
# Running a scene
# ----------------------------------------------------------------------------------------
class _TileRunner:
    """Predicts tile batches into a sink and counts tiles, calls and seconds."""

    def __init__(self, model_fn: ModelFn, grid: TileGrid, config: InferenceConfig) -> None:
        self.device = config.resolve_device()
        self.model_fn = prepare_model(model_fn, config, self.device)
        self.normalize = build_normalization(config.normalization)
        self.grid, self.config = grid, config
        self.stats: dict[str, float] = {
            "tiles": grid.n_tiles,
            "tiles_run": 0,
            "tiles_skipped": 0,
            "forward_calls": 0,
        }
        # read_s / normalise_s are added by the (prefetch) tile iterator.
        self.timings: dict[str, float] = {"forward_s": 0.0, "blend_s": 0.0, "decode_s": 0.0}

    def batch(self, item: TileBatch, sink: Sink, scene_id: str) -> None:
        """Run one batch of tiles and blend its maps."""
        size, s = self.grid.tile, self.grid.stride
        t0 = time.perf_counter()
        maps = forward(self.model_fn, item.tiles, self.config, self.device)
        check_finite(maps, scene_id, item.row0, item.cols, size)
        t1 = time.perf_counter()
        sink.add(maps, item.row0 // s, [c // s for c in item.cols])
        self.timings["forward_s"] += t1 - t0
        self.timings["blend_s"] += time.perf_counter() - t1
        self.stats["forward_calls"] += 1

    def band_end(self, item: BandEnd, sink: Sink) -> None:
        """Hand the band's validity to the sink and count its tiles."""
        sink.end_band(item.row0, item.valid, item.width)
        self.stats["tiles_run"] += item.n_run
        self.stats["tiles_skipped"] += item.n_tiles - item.n_run

    def begin(self, row0: int, sink: Sink) -> None:
        """Start a band (the sink finalises and decodes the rows above it)."""
        t0 = time.perf_counter()
        sink.begin_band(row0)
        self.timings["decode_s"] += time.perf_counter() - t0


def _feed(runner: _TileRunner, items: Prefetcher, sink: Sink, bar: tqdm, scene_id: str) -> None:
    """Feed the tile batches and band ends to the sink, band by band."""
    current: int | None = None
    for item in items:
        assert isinstance(item, (TileBatch, BandEnd))
        if item.row0 != current:
            runner.begin(item.row0, sink)
            current = item.row0
        if isinstance(item, TileBatch):
            runner.batch(item, sink, scene_id)
        else:
            runner.band_end(item, sink)
            bar.update(item.n_tiles)


def run_scene(
    model_fn: ModelFn, scene: Scene, config: InferenceConfig, sink_factory: SinkFactory
) -> tuple[dict[str, Any], Any]:
    """Run every tile of a scene into a sink and finish it while the rasters are open.

    With ``config.prefetch > 0`` the tiles are read and normalised in a background thread
    (:class:`~xview3_pipeline.core.detection.cnn.prefetch.Prefetcher`), ``prefetch``
    batches ahead of the model; with 0 in this thread. Both give the same batches and
    results.

    Args:
        model_fn: See :func:`predict_scene`.
        scene: The scene.
        config: Settings.
        sink_factory: Builds the sink (:class:`StreamingSink`, or a test's reference).

    Returns:
        The tile statistics (counts; seconds: ``seconds`` in all, and ``read_s``,
        ``normalise_s`` (in the prefetch thread when on), ``wait_s`` (waiting for it),
        ``forward_s``, ``blend_s``, ``decode_s``) and what the sink's ``finish`` returns.

    Raises:
        PrefetchError: If reading or normalising tiles fails (names the scene).
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
        runner = _TileRunner(model_fn, grid, config)
        sink = sink_factory(grid, config, bands, runner.device)
        t0 = time.perf_counter()

        def items() -> Iterator[TileBatch | BandEnd]:
            return tile_batches(
                bands, grid, config.batch_size, runner.normalize,
                pin_memory=runner.device.type == "cuda", timings=runner.timings,
            )  # fmt: skip

        with (
            tqdm(
                total=grid.n_tiles, desc=scene.scene_id, unit="tile",
                disable=not config.progress, leave=False,
            ) as bar,
            Prefetcher(items, config.prefetch, scene.scene_id) as prefetched,
        ):  # fmt: skip
            _feed(runner, prefetched, sink, bar, scene.scene_id)
        t1 = time.perf_counter()
        result = sink.finish(scene.scene_id)
        runner.timings["decode_s"] += time.perf_counter() - t1
        stats = runner.stats | runner.timings | {"wait_s": prefetched.wait_s}
        stats["seconds"] = time.perf_counter() - t0
        return stats, result


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
        config: Settings; :class:`InferenceConfig` defaults when ``None``. With
            ``land_filter`` the candidates on land are then left out; with
            ``length.source`` other than ``cnn`` the lengths are measured in the
            image around each candidate (:func:`~xview3_pipeline.core.detection.length.
            refine_lengths`, one more window read per candidate).

    Returns:
        One row per candidate, :data:`~xview3_pipeline.core.detection.contract.
        CANDIDATE_COLUMNS`, by descending objectness; ``frame.attrs["inference"]`` holds
        tile counts and timing.

    Raises:
        NonFiniteOutputError: If the model returns NaN or infinite maps.
    """
    config = config or InferenceConfig()
    stats, frame = run_scene(model_fn, scene, config, StreamingSink)
    if config.land_filter:
        n_before = len(frame)
        frame = drop_on_land(frame, scene, buffer_m=config.land_buffer_m)
        stats["on_land"] = n_before - len(frame)
    if config.length.source != "cnn":
        t0 = time.perf_counter()
        with SceneBands(scene, gdal_cache_mb=config.gdal_cache_mb) as bands:
            frame = refine_lengths(frame, bands, config.length)
        stats["length_s"] = time.perf_counter() - t0
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
            if self.config.length.source == "cnn":  # the measurement settings do not apply
                del settings["length"]
            self._fingerprint = module_fingerprint(self.model, {"cnn": settings})
        return self._fingerprint

    def detect(self, scene: Scene) -> pd.DataFrame:
        """Candidates of one scene, by descending objectness (``CANDIDATE_COLUMNS``)."""
        with torch.inference_mode():
            return predict_scene(self.model, scene, self.config)
