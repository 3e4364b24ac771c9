"""A classical CFAR ship detector for Sentinel-1 scenes (the ``cfar_baseline`` pipeline).

The detector follows SNAP's Adaptive Thresholding and Global Fishing Watch's CFAR (project
notes ``sar_physics_and_cfar.md`` §4), with parameters re-derived for 10 m IW GRDH pixels:

1. dB → linear intensity ``I = 10^(dB/10)``; nodata (−32768, NaN, outside the scene) is
   masked.
2. Land is masked: the ``owiMask`` land cells (codes 1 and 5, 500 m grid) grown by
   ``land_buffer_m`` and resampled (nearest) to the scene grid; without an ``owiMask``,
   every pixel within ``land_buffer_m`` of a shoreline contour point. Masked pixels are never
   detected and never enter the clutter statistics.
3. Per pixel, the **target** mean ``T`` (a ``target_window``² window: 10–20 m, not SNAP's
   50 m / 36 px which dilutes 2–3 px boats) is compared with the clutter of a **ring**
   between a ``guard_window`` and a ``background_window`` (e.g. 41 and 81 px = 410 and
   810 m). Ring sums are box sums of the background window minus box sums of the guard
   window (GFW's "donut" trick), over valid sea pixels only.
4. ``gamma`` mode (default) flags ``T ≥ thr · μ_ring``; ``gaussian`` mode (SNAP parity)
   flags ``T ≥ μ_ring + t · σ_ring``. With ``channels="vh+vv"`` a pixel is flagged when
   either channel is.
5. Flagged pixels form 8-connected clusters (:func:`scipy.ndimage.label`); clusters whose
   SNR peaks are closer than ``merge_distance_px`` are merged; clusters are gated by
   length (``min_length_m``–``max_length_m``).
6. Detections explained by a much brighter one are dropped: sidelobes (within
   ``sidelobe_radius_px``, ≥ ``sidelobe_contrast_db`` dimmer) and azimuth-ghost pairs
   (mirror-symmetric about a parent ~4.7–5.9 km away along the row axis).
7. Each detection is reported at the pixel of highest SNR margin, with its length, SNR and
   a score, in the candidate format of the learned model. Length = ``sqrt(12 λ)`` of the
   major axis of the cluster's second moments weighted by the excess intensity
   ``I/μ − 1`` (a uniform segment of length ``L`` has variance ``L²/12``, and so has the
   generator's Gaussian of σ = 0.29 L), less a PSF term, clipped to [10, 500] m.

Threshold calibration (``gamma`` mode)
    Fully developed speckle makes the intensity of a homogeneous clutter pixel
    ``σ⁰ · Gamma(L, 1/L)`` (shape ``L`` = ENL = 4.4 for IW GRDH, unit mean). The mean of
    ``n`` independent such pixels is ``Gamma(nL, 1/(nL))``, so with a clutter mean that is
    known (the ring mean averages ~5,000 pixels: its own error is < 1 %) the threshold on
    ``T / μ`` for a per-pixel false-alarm probability ``pfa`` is
    ``thr = gamma.isf(pfa, a=nL, scale=1/(nL))``. For ``n = 1``: 10⁻⁶ → 5.04 (+7.0 dB),
    10⁻⁷ → 5.65 (+7.5 dB), 10⁻⁸ → 6.25 (+8.0 dB). ``n L`` is the **effective number of
    looks** of the target mean, ``effective_looks``. The synthetic generator draws speckle
    independently per pixel *after* its 2 px PSF blur, so ``n L`` is exact there. Real GRD
    pixels are correlated (20 m resolution on a 10 m grid), so for ``n > 1`` the true
    effective looks are lower than ``n L``. Set ``effective_looks``, measured with
    :func:`estimate_effective_looks` (``mean² / var`` of ``T / μ`` over target-free sea),
    or use ``target_window = 1``, where correlation does not matter.

    A scene has ~6×10⁸ pixels, so ``pfa = 1e-7`` gives up to ~60 false-alarm pixels per
    scene and channel (fewer clusters after the length gate); ``vh+vv`` roughly doubles
    that, because the two channels are tested independently. SNAP's Gaussian ``t = 4.98``
    (``pfa = 10^-6.5``) really gives a per-pixel Pfa of 4.3×10⁻⁴ on Gamma(4.4) clutter;
    ``gaussian`` mode keeps SNAP's semantics for parity only.

Score
    ``margin_db`` = SNR (``10 log10(T / μ)``) minus the detection threshold in dB at the
    peak pixel (≥ 0 for every detection); ``objectness_p = 1 − exp(−margin_db /
    score_scale_db)``, in [0, 1) and monotone in SNR in ``gamma`` mode (where the threshold
    is a constant). The tuning stage thresholds it like the model's objectness.

Classification
    CFAR cannot classify. ``vessel_p`` is a constant (default 1: most bright objects at sea
    are vessels, so the vessel F1 is ``2P / (P + 1)`` with ``P`` the vessel share).
    ``fishing_p`` is, by default, a logistic in the estimated length (short → fishing,
    the data's pattern: fishing median 23 m, non-fishing median 81 m); a constant 0 would
    give a fishing F1 of 0, a constant 1 the fishing share's F1.

Band processing, memory and speed
    The scene is processed in bands of ``band_rows`` rows read with a halo of the
    background radius (41 rows), one channel at a time, so memory is
    ``O((band_rows + 82) × width)``: measured peaks of ~0.6 GB (VH) and ~0.8 GB (VH+VV)
    for 256-row bands of a 24,400-px-wide scene, ~1.0 / 1.3 GB for 512-row bands, plus
    ~50 B per flagged pixel (sparse). Speed: ~0.15–0.2 s per megapixel on one core (about
    2 min for a 6×10⁸-px scene), plus reading. Vertical box sums use a fixed binary
    decomposition of the window (sums of power-of-two blocks) and horizontal ones
    :func:`scipy.ndimage.uniform_filter1d` over whole rows, so every output is the same
    floating-point sum of the same inputs whatever the band layout; cluster statistics are
    summed over the flagged pixels in raster order. Banded results therefore equal
    whole-image results exactly. Clusters crossing band boundaries are stitched by
    8-connectivity between the last row of a band and the first row of the next.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd

from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.detection.bands import ArrayBands, BandSource, SceneBands
from xview3_pipeline.core.detection.cfar.boxsums import band_stats
from xview3_pipeline.core.detection.cfar.clusters import (
    Pixels,
    band_pixels,
    empty_frame,
    finish,
    merge_clusters,
    stitch_pairs,
)
from xview3_pipeline.core.detection.cfar.config import CHANNELS, CfarConfig
from xview3_pipeline.core.detection.cfar.land import LandMaskFn, owi_land_mask, shoreline_land_mask
from xview3_pipeline.core.detection.contract import settings_fingerprint
from xview3_pipeline.core.detection.georef import add_scene_columns, scene_shoreline
from xview3_pipeline.core.detection.scene import Scene
from xview3_pipeline.core.io.ancillary import Shoreline

__all__ = ["CfarDetector", "detect_array", "detect_scene", "estimate_effective_looks"]

logger = logging.getLogger(__name__)


def _windows(height: int, config: CfarConfig) -> Iterator[tuple[int, int]]:
    """``(first row, rows)`` of each band: ``band_rows`` core rows plus a halo each side."""
    halo = config.halo
    for row0 in range(0, height, config.band_rows):
        row1 = min(row0 + config.band_rows, height)
        yield row0 - halo, row1 - row0 + 2 * halo


def _detect(
    bands: BandSource, land: LandMaskFn | None, config: CfarConfig, scene_id: str
) -> pd.DataFrame:
    """Run the detector band by band.

    Args:
        bands: The scene's bands (``[VH, VV]`` dB, NaN outside the scene).
        land: Land mask function or None.
        config: Detector settings.
        scene_id: Scene id of the output rows.

    Returns:
        The detections (see :func:`detect_scene`).
    """
    t0 = time.perf_counter()
    height, width = bands.shape
    halo = config.halo
    parts: list[Pixels] = []
    pairs: list[np.ndarray] = []
    n_clusters = 0
    prev_last: np.ndarray | None = None  # label row (id + 1) of the previous band's last row
    for start, db in bands.bands(_windows(height, config), width):
        n_core = db.shape[1] - 2 * halo
        mask = land(start, db.shape[1], width) if land is not None else None
        stats = band_stats(db, mask, halo, halo + n_core, config)
        pixels, labels, n = band_pixels(stats, start + halo, n_clusters)
        if prev_last is not None and n:
            pairs.extend(stitch_pairs(prev_last, labels[0]))
        prev_last = labels[-1]
        if n:
            parts.append(pixels)
            n_clusters += n
    if not parts:
        logger.info("CFAR %s: no detections (%.2f s)", scene_id, time.perf_counter() - t0)
        return empty_frame()
    pixels = Pixels.concat(parts)
    merged, n_8 = merge_clusters(pixels, n_clusters, pairs, config)
    frame = finish(merged, config, scene_id)
    logger.info(
        "CFAR %s: %d x %d px, %d flagged px, %d clusters, %d merged, %d detections (%.2f s)",
        scene_id, height, width, len(pixels.row), n_8, len(merged), len(frame),
        time.perf_counter() - t0,
    )  # fmt: skip
    return frame


def _as_channels(db: np.ndarray) -> np.ndarray:
    """``(H, W)`` VH or ``(C, H, W)`` [VH, VV] dB as float32 ``(C, H, W)`` with NaN nodata."""
    arr = np.asarray(db, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"Expected (H, W) or (C, H, W) dB, got shape {arr.shape}.")
    arr = np.where(np.isfinite(arr) & (arr != np.float32(NODATA)), arr, np.nan)
    return arr.astype(np.float32)


def _array_mask(mask: np.ndarray) -> LandMaskFn:
    height = mask.shape[0]

    def land(row0: int, n_rows: int, width: int) -> np.ndarray:
        out = np.zeros((n_rows, width), dtype=bool)
        r0, r1 = max(row0, 0), min(row0 + n_rows, height)
        if r0 < r1:
            out[r0 - row0 : r1 - row0] = mask[r0:r1, :width]
        return out

    return land


def detect_array(
    db: np.ndarray,
    config: CfarConfig | None = None,
    *,
    land_mask: np.ndarray | None = None,
    scene_id: str = "",
) -> pd.DataFrame:
    """Run the CFAR detector on an in-memory scene (tests, small scenes, notebooks).

    Args:
        db: ``(H, W)`` VH or ``(C, H, W)`` ``[VH, VV]`` backscatter in dB; NaN or −32768 is
            nodata. ``"vh+vv"`` needs both channels.
        config: Detector settings (defaults if None).
        land_mask: ``(H, W)`` bool, True where pixels are excluded (land and any buffer:
            it is used as given).
        scene_id: Value of the ``scene_id`` column.

    Returns:
        The detections, as :func:`detect_scene`.

    Raises:
        ValueError: If shapes disagree or a channel is missing.
    """
    config = config or CfarConfig()
    arr = _as_channels(db)
    if arr.shape[0] < len(CHANNELS[config.channels]):
        raise ValueError(
            f"cfar.channels={config.channels!r} needs {len(CHANNELS[config.channels])} channels."
        )
    _, height, width = arr.shape
    land = None
    if land_mask is not None:
        land_mask = np.asarray(land_mask, dtype=bool)
        if land_mask.shape != (height, width):
            raise ValueError(f"land_mask shape {land_mask.shape} != image {(height, width)}.")
        land = _array_mask(land_mask)
    return _detect(ArrayBands(arr), land, config, scene_id)


def detect_scene(
    scene: Scene, config: CfarConfig | None = None, *, shoreline: Shoreline | None = None
) -> pd.DataFrame:
    """Run the CFAR detector on one scene, band by band.

    Land: the scene's ``owiMask`` (when its ancillary folder has one) buffered by
    ``land_buffer_m``; otherwise pixels within ``land_buffer_m`` of a shoreline contour
    point (which cannot tell land from sea: inland pixels beyond the buffer stay in);
    otherwise nothing is masked.

    Args:
        scene: The scene.
        config: Detector settings (defaults if None).
        shoreline: The scene's shoreline contours, or None.

    Returns:
        One row per detection, in descending ``objectness_p``, columns
        :data:`~xview3_pipeline.core.detection.cfar.config.CFAR_COLUMNS`: ``scene_id``;
        ``detect_scene_row`` / ``detect_scene_column`` (int64, the pixel of highest SNR
        margin); ``x`` / ``y`` (float column / row of that pixel's centre);
        ``objectness_p`` (``1 − exp(−margin_db / score_scale_db)``); ``vessel_p``,
        ``fishing_p``; ``vessel_length_m`` (metres, clipped to [10, 500]); ``snr_db``
        (``10 log10(T/μ)`` at the peak); ``n_pixels`` (flagged pixels).
    """
    config = config or CfarConfig()
    land = owi_land_mask(scene, buffer_m=config.land_buffer_m, land_codes=config.land_codes)
    if land is None and shoreline is not None and len(shoreline):
        land = shoreline_land_mask(shoreline, config.land_buffer_m)
    elif land is None:
        logger.info("CFAR %s: no owiMask or shoreline, no land mask.", scene.scene_id)
    with SceneBands(scene) as bands:
        return _detect(bands, land, config, scene.scene_id)


def estimate_effective_looks(
    db: np.ndarray,
    config: CfarConfig | None = None,
    *,
    land_mask: np.ndarray | None = None,
    clip_sigma: float = 5.0,
) -> float:
    """Estimate the effective looks of the target-window mean from clutter.

    Computes ``r = T/μ`` (target mean over ring mean, as the detector does) on every
    eligible pixel of the first channel and returns ``mean(r)² / var(r)`` after iterative
    clipping of ``r`` above ``mean + clip_sigma · std`` (drops targets). On independent
    Gamma(L) speckle this is ``n L``; correlated speckle gives less. Pass the result as
    ``effective_looks``. Use a target-poor window of open sea (a few hundred pixels on a
    side); the whole array is processed at once.

    Args:
        db: ``(H, W)`` or ``(C, H, W)`` dB (VH first).
        config: Window settings (defaults if None); only the windows and masks are used.
        land_mask: ``(H, W)`` bool excluded pixels, or None.
        clip_sigma: Clipping level in standard deviations.

    Returns:
        The effective number of looks.

    Raises:
        ValueError: If no pixel is eligible.
    """
    config = dataclasses.replace(config or CfarConfig(), channels="vh", mode="gamma")
    arr = _as_channels(db)
    height = arr.shape[1]
    halo = config.halo
    padded = ArrayBands(arr).read(-halo, 0, height + 2 * halo, arr.shape[2])
    mask = None if land_mask is None else _array_mask(np.asarray(land_mask, bool))
    land = None if mask is None else mask(-halo, height + 2 * halo, arr.shape[2])
    stats = band_stats(padded, land, halo, halo + height, config, keep_ratio=True)
    ratio = stats.ratio if stats.ratio is not None else np.zeros(0)
    r = ratio[np.isfinite(ratio)]
    if r.size == 0:
        raise ValueError("estimate_effective_looks: no eligible clutter pixel.")
    for _ in range(10):
        mean, std = r.mean(), r.std()
        kept = r[r <= mean + clip_sigma * std]
        if kept.size == r.size:
            break
        r = kept
    return float(r.mean() ** 2 / r.var())


class CfarDetector:
    """The classical CFAR baseline, reporting the candidate columns of the CNN.

    Args:
        config: Detector settings.
    """

    name = "cfar"

    def __init__(self, config: CfarConfig) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"CfarDetector(config={self.config!r})"

    def fingerprint(self) -> str:
        """SHA-256 of the settings (CFAR has no weights)."""
        return settings_fingerprint({"cfar": dataclasses.asdict(self.config)})

    def detect(self, scene: Scene) -> pd.DataFrame:
        """Candidates of one scene with latitude, longitude and shore distance."""
        shoreline = scene_shoreline(scene)
        return add_scene_columns(
            detect_scene(scene, self.config, shoreline=shoreline), scene, shoreline
        )
