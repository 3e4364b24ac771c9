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
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from scipy import ndimage
from scipy.ndimage import uniform_filter1d
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
from scipy.stats import gamma as gamma_dist
from scipy.stats import norm

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import NODATA, PIX_TO_M
from xview3_pipeline.core.data.scene_reader import SceneReader
from xview3_pipeline.core.encoding.candidates import DETECTION_COLUMNS
from xview3_pipeline.core.metric.shoreline import Shoreline

__all__ = [
    "CFAR_COLUMNS",
    "CfarConfig",
    "detect_array",
    "detect_scene",
    "estimate_effective_looks",
    "gamma_pfa",
    "gamma_threshold",
    "gaussian_threshold",
    "owi_land_mask",
    "shoreline_land_mask",
]

logger = logging.getLogger(__name__)

#: Output columns: the learned model's candidate columns, then ``snr_db`` and ``n_pixels``.
CFAR_COLUMNS: tuple[str, ...] = (*DETECTION_COLUMNS, "snr_db", "n_pixels")

_CHANNELS: Mapping[str, tuple[int, ...]] = {"vh": (0,), "vh+vv": (0, 1)}
_MODES = ("gamma", "gaussian")
_FISHING_MODES = ("length", "constant")
#: Output length clip, metres (the metric caps lengths at 500 m).
_LENGTH_CLIP_M = (10.0, 500.0)
#: Cell size (pixels) of the coarse pass of the shoreline-distance mask.
_SHORE_CELL_PX = 32


@dataclass(frozen=True)
class CfarConfig:
    """Parameters of the CFAR detector (``parameters_cfar_baseline.yml``).

    Attributes:
        channels: ``"vh"`` or ``"vh+vv"`` (VH or VV flagged, OR-combined).
        target_window: Side of the square target window, pixels (1–2 = 10–20 m).
        guard_window: Side of the guard window, pixels (odd, ≥ 300–500 m; 41 = 410 m).
            Larger than the longest vessel so it does not leak into the ring.
        background_window: Side of the background window, pixels (odd, 600–1000 m;
            81 = 810 m). The ring between guard and background gives the clutter.
        pfa: Per-pixel, per-channel false-alarm probability (a scene has ~6×10⁸ pixels).
        enl: Equivalent number of looks of one pixel (4.4 for IW GRDH).
        effective_looks: Looks of the target-window mean; None → ``target_window² · enl``
            (independent pixels). Lower it for correlated real speckle (see
            :func:`estimate_effective_looks`). Only used in ``gamma`` mode.
        mode: ``"gamma"`` (threshold on ``T/μ`` from the Gamma speckle model) or
            ``"gaussian"`` (SNAP: ``T ≥ μ + t σ`` with ``t = norm.isf(pfa)``).
        min_length_m: Clusters whose estimated length is below this are dropped, metres.
        max_length_m: Clusters whose estimated length is above this are dropped, metres.
        merge_distance_px: Clusters whose peaks are at most this far apart are merged,
            pixels (single linkage).
        length_deblur_px2: Variance (pixels²) subtracted from the cluster's weighted
            second moment before the length is computed: the 2 px PSF adds 0.72 px², the
            threshold truncation of small clusters removes some; 0.36 fits the synthetic
            generator best.
        land_buffer_m: Buffer around land (``owiMask``) or shoreline points, metres. The
            xView3 near-shore band is 2 km: a buffer of 0.5–1 km trades the near-shore
            recall (shore F1) against false alarms on coastal clutter and land.
        land_codes: ``owiMask`` codes that are land (1 and 5; add 2 and 6 for ice).
        max_nodata_fraction: A pixel is not detected when more than this fraction of its
            background window is nodata or outside the scene. 0.5 ("mostly nodata")
            rejects corners and thin slivers of data but keeps pixels next to a straight
            edge; 0.25 keeps detections ≥ ~20 px (200 m) from a straight edge (GFW clips
            500 m against border noise). The synthetic scenes favour 0.5.
        max_target_nodata_fraction: The same for the target window (SNAP: 10 %).
        min_background_pixels: Fewest valid sea pixels in the ring for usable statistics.
        ghost_contrast_db: Azimuth-ghost suppression (module docstring, step 6): the least
            SNR excess of the parent over a ghost, dB; None disables it.
        ghost_distance_px: ``(min, max)`` ghost displacement, pixels (4.7–5.9 km).
        ghost_angle_deg: Largest angle between the displacement and the row axis.
        ghost_mirror_px: Tolerance on the mirror position of the second ghost, pixels.
        sidelobe_contrast_db: Sidelobe suppression: the least SNR excess of a bright
            detection over a nearby one, dB; None disables it.
        sidelobe_radius_px: Radius of the sidelobe suppression, pixels.
        band_rows: Rows processed at a time (memory bound; results do not depend on it).
        score_scale_db: Scale of the objectness score: ``1 − exp(−margin_db / scale)``.
        vessel_p: Constant ``vessel_p`` of every detection.
        fishing_mode: ``"length"`` (logistic in the estimated length) or ``"constant"``.
        fishing_p: ``fishing_p`` of every detection in ``constant`` mode.
        fishing_length_m: Length with ``fishing_p = 0.5`` in ``length`` mode, metres.
        fishing_length_scale_m: Logistic scale in ``length`` mode, metres.
    """

    channels: str = "vh"
    target_window: int = 1
    guard_window: int = 41
    background_window: int = 81
    pfa: float = 1e-7
    enl: float = 4.4
    effective_looks: float | None = None
    mode: str = "gamma"
    min_length_m: float = 0.0
    max_length_m: float = 600.0
    merge_distance_px: float = 10.0
    length_deblur_px2: float = 0.36
    land_buffer_m: float = 500.0
    land_codes: tuple[int, ...] = (1, 5)
    max_nodata_fraction: float = 0.5
    max_target_nodata_fraction: float = 0.1
    min_background_pixels: int = 500
    band_rows: int = 256
    ghost_contrast_db: float | None = 15.0
    ghost_distance_px: tuple[float, float] = (420.0, 650.0)
    ghost_angle_deg: float = 30.0
    ghost_mirror_px: float = 10.0
    sidelobe_contrast_db: float | None = 12.0
    sidelobe_radius_px: float = 25.0
    score_scale_db: float = 5.0
    vessel_p: float = 1.0
    fishing_mode: str = "length"
    fishing_p: float = 0.5
    fishing_length_m: float = 40.0
    fishing_length_scale_m: float = 10.0

    def __post_init__(self) -> None:
        """Validate the values.

        Raises:
            ValueError: On a value out of range.
        """
        checks = [
            (self.channels in _CHANNELS, f"channels must be one of {sorted(_CHANNELS)}"),
            (self.mode in _MODES, f"mode must be one of {_MODES}"),
            (self.fishing_mode in _FISHING_MODES, f"fishing_mode must be one of {_FISHING_MODES}"),
            (
                1 <= self.target_window < self.guard_window < self.background_window,
                "windows must satisfy 1 <= target_window < guard_window < background_window",
            ),
            (
                self.guard_window % 2 == 1 and self.background_window % 2 == 1,
                "guard_window and background_window must be odd",
            ),
            (0.0 < self.pfa < 0.5, "pfa must be in (0, 0.5)"),
            (
                self.enl > 0 and (self.effective_looks is None or self.effective_looks > 0),
                "enl and effective_looks must be positive",
            ),
            (
                0.0 <= self.min_length_m <= self.max_length_m,
                "need 0 <= min_length_m <= max_length_m",
            ),
            (
                min(self.merge_distance_px, self.land_buffer_m, self.length_deblur_px2) >= 0,
                "merge_distance_px, land_buffer_m and length_deblur_px2 must be >= 0",
            ),
            (
                all(
                    0.0 <= v <= 1.0
                    for v in (
                        self.max_nodata_fraction,
                        self.max_target_nodata_fraction,
                        self.vessel_p,
                        self.fishing_p,
                    )
                ),
                "fractions and probabilities must be in [0, 1]",
            ),
            (
                len(self.ghost_distance_px) == 2
                and 0 <= self.ghost_distance_px[0] <= self.ghost_distance_px[1],
                "ghost_distance_px must be (min, max) with 0 <= min <= max",
            ),
            (
                min(self.band_rows, self.min_background_pixels) >= 1,
                "band_rows and min_background_pixels must be >= 1",
            ),
            (
                min(self.score_scale_db, self.fishing_length_scale_m) > 0,
                "score_scale_db and fishing_length_scale_m must be positive",
            ),
        ]
        errors = [message for ok, message in checks if not ok]
        if errors:
            raise ValueError(f"Invalid CfarConfig {self}: {'; '.join(errors)}.")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> CfarConfig:
        """Build from a parameters mapping, rejecting unknown keys.

        Args:
            values: Keys of this dataclass (None → defaults).

        Returns:
            The validated configuration.

        Raises:
            ValueError: On unknown keys or values out of range.
        """
        params = check_keys(cls, values, what="cfar")
        if "land_codes" in params:
            params["land_codes"] = tuple(int(v) for v in params["land_codes"])
        if "ghost_distance_px" in params:
            params["ghost_distance_px"] = tuple(float(v) for v in params["ghost_distance_px"])
        return cls(**params)

    @property
    def looks(self) -> float:
        """Effective looks of the target-window mean used by the ``gamma`` threshold."""
        if self.effective_looks is not None:
            return float(self.effective_looks)
        return self.target_window**2 * self.enl

    @property
    def threshold(self) -> float:
        """``gamma``: the ratio ``T/μ`` to exceed; ``gaussian``: the ``t`` of ``μ + tσ``."""
        if self.mode == "gamma":
            return gamma_threshold(self.pfa, self.looks)
        return gaussian_threshold(self.pfa)

    @property
    def halo(self) -> int:
        """Rows read beyond each band: the background radius (covers every window)."""
        return self.background_window // 2 + 1


# -- thresholds -------------------------------------------------------------------------


def gamma_threshold(pfa: float, looks: float) -> float:
    """Threshold on ``T / μ`` for a false-alarm probability under Gamma speckle.

    ``T`` is the mean of the target window, ``μ`` the (known) clutter mean; ``T/μ`` follows
    ``Gamma(looks, 1/looks)`` (mean 1), so the threshold is its inverse survival function.

    Args:
        pfa: False-alarm probability per test.
        looks: Effective number of looks of ``T`` (``n · ENL`` for ``n`` independent pixels).

    Returns:
        The ratio ``thr`` with ``P(T/μ > thr) = pfa`` (5.04 for ``pfa = 1e-6``, ``L = 4.4``).
    """
    return float(gamma_dist.isf(pfa, a=looks, scale=1.0 / looks))


def gamma_pfa(threshold: float, looks: float) -> float:
    """False-alarm probability of a ratio threshold under Gamma speckle (inverse of above)."""
    return float(gamma_dist.sf(threshold, a=looks, scale=1.0 / looks))


def gaussian_threshold(pfa: float) -> float:
    """SNAP's ``t`` in ``μ + t σ``: the standard normal inverse survival function.

    Args:
        pfa: Nominal false-alarm probability (``10^-6.5`` → 4.98, SNAP's value).

    Returns:
        ``norm.isf(pfa)``.
    """
    return float(norm.isf(pfa))


# -- box sums ---------------------------------------------------------------------------


def _box_sums(a: np.ndarray, sizes: Sequence[int], axis: int, lo: int, hi: int) -> list[np.ndarray]:
    """Sums over windows of several sizes along one axis, zero outside the array.

    For size ``n`` and output index ``i`` in ``[lo, hi)`` the sum covers
    ``[i − n//2, i − n//2 + n)`` (the window of :func:`scipy.ndimage.uniform_filter`). Each
    sum is built from power-of-two block sums (``S_2p[j] = S_p[j] + S_p[j + p]``) added in
    a fixed order, so the result for an index depends only on the values around it, never
    on where the array starts: banded and whole-image processing agree bit for bit. There is
    no running-sum drift either.

    Args:
        a: Input (float64).
        sizes: Window sizes (≥ 1).
        axis: Axis to sum along.
        lo: First output index.
        hi: One past the last output index.

    Returns:
        One array per size, ``a``'s shape with ``hi − lo`` along ``axis``.
    """
    n_in = a.shape[axis]
    n_max = max(sizes)
    pad_lo = max(0, n_max // 2 - lo)
    pad_hi = max(0, hi + n_max - n_max // 2 - n_in)
    if pad_lo or pad_hi:
        widths = [(0, 0)] * a.ndim
        widths[axis] = (pad_lo, pad_hi)
        a = np.pad(a, widths)
    n_out = hi - lo

    def take(arr: np.ndarray, start: int, stop: int | None) -> np.ndarray:
        index = [slice(None)] * arr.ndim
        index[axis] = slice(start, stop)
        return arr[tuple(index)]

    outs: list[np.ndarray | None] = [None] * len(sizes)
    # Next segment start (padded coordinates) of each size's window at output index lo.
    starts = [lo - n // 2 + pad_lo for n in sizes]
    level, p = a, 1
    while True:
        for k, n in enumerate(sizes):
            if n & p:
                seg = take(level, starts[k], starts[k] + n_out)
                outs[k] = seg.copy() if outs[k] is None else np.add(outs[k], seg)
                starts[k] += p
        if 2 * p > n_max:
            break
        level = take(level, 0, -p) + take(level, p, None)
        p *= 2
    return [o for o in outs if o is not None]


def _box_sums_2d(a: np.ndarray, sizes: Sequence[int], lo: int, hi: int) -> list[np.ndarray]:
    """Square-window sums of ``a`` for output rows ``[lo, hi)`` and every column.

    Rows use :func:`_box_sums` (exact whatever the band layout); columns use
    :func:`scipy.ndimage.uniform_filter1d` (zero outside), which only ever sees whole scene
    rows, so it is band-independent too.
    """
    out = _box_sums(a, sizes, 0, lo, hi)
    for v, n in zip(out, sizes, strict=True):
        if n > 1:
            uniform_filter1d(v, n, axis=1, mode="constant", output=v)
            np.multiply(v, n, out=v)
    return out


# -- land masks -------------------------------------------------------------------------

#: ``mask(row0, n_rows, width)`` → ``(n_rows, width)`` bool land (True = excluded).
LandMaskFn = Callable[[int, int, int], np.ndarray]


def owi_land_mask(
    owi_path: str | Path,
    scene_transform: Affine,
    *,
    buffer_m: float,
    land_codes: Sequence[int] = (1, 5),
    fine_cell_m: float = 100.0,
) -> LandMaskFn:
    """Land mask from an ``owiMask`` raster, buffered, resampled to the scene grid.

    The land cells (``land_codes``) of the coarse grid (500 m) are upsampled by an integer
    factor to about ``fine_cell_m``, grown by ``buffer_m`` with a Euclidean distance
    transform on that small grid, and read at each scene pixel centre (nearest). Nodata and
    pixels outside the ``owiMask`` extent are sea. Both rasters must share a CRS (as in
    xView3).

    Args:
        owi_path: ``owiMask.tif``.
        scene_transform: Affine transform of the scene's VH raster.
        buffer_m: Buffer around land, metres.
        land_codes: Codes counted as land.
        fine_cell_m: Cell size of the buffered mask, metres (buffer resolution).

    Returns:
        A function ``(row0, n_rows, width) → (n_rows, width)`` bool.
    """
    with rasterio.open(owi_path) as src:
        codes = src.read(1)
        owi_transform = src.transform
        nodata = src.nodata
    valid = np.isfinite(codes)
    if nodata is not None and math.isfinite(nodata):
        valid &= codes != nodata
    land = valid & np.isin(codes, np.asarray(land_codes, dtype=codes.dtype))
    cell_m = math.hypot(owi_transform.a, owi_transform.d)
    factor = max(1, round(cell_m / fine_cell_m))
    fine = np.repeat(np.repeat(land, factor, axis=0), factor, axis=1)
    if buffer_m > 0 and fine.any():
        fine = ndimage.distance_transform_edt(~fine, sampling=cell_m / factor) <= buffer_m
    fine_transform = owi_transform @ Affine.scale(1.0 / factor)
    # scene pixel (col, row) → fine grid (col, row)
    to_fine = ~fine_transform @ scene_transform
    fh, fw = fine.shape
    separable = abs(to_fine.b) < 1e-12 and abs(to_fine.d) < 1e-12
    logger.debug("owiMask %s: %d land cells, buffer %.0f m", owi_path, int(land.sum()), buffer_m)

    def mask(row0: int, n_rows: int, width: int) -> np.ndarray:
        rows = np.arange(row0, row0 + n_rows, dtype=np.float64) + 0.5
        cols = np.arange(width, dtype=np.float64) + 0.5
        if separable:
            fr = np.floor(to_fine.e * rows + to_fine.f).astype(np.int64)
            fc = np.floor(to_fine.a * cols + to_fine.c).astype(np.int64)
            ok_r, ok_c = (fr >= 0) & (fr < fh), (fc >= 0) & (fc < fw)
            out = fine[np.clip(fr, 0, fh - 1)[:, None], np.clip(fc, 0, fw - 1)[None, :]]
            return out & ok_r[:, None] & ok_c[None, :]
        cc, rr = np.meshgrid(cols, rows)
        fcol, frow = to_fine * (cc, rr)
        fr, fc = np.floor(frow).astype(np.int64), np.floor(fcol).astype(np.int64)
        ok = (fr >= 0) & (fr < fh) & (fc >= 0) & (fc < fw)
        return fine[np.clip(fr, 0, fh - 1), np.clip(fc, 0, fw - 1)] & ok

    return mask


def shoreline_land_mask(shoreline: Shoreline, buffer_m: float) -> LandMaskFn:
    """Mask of the pixels within ``buffer_m`` of a shoreline contour point.

    Contours are lines, so this cannot tell land from sea: land farther than the buffer
    from the coastline stays unmasked (and may give false alarms). Pixels are tested at
    their integer (row, col) position, as the metric tests predictions. A coarse pass on
    32 px cells decides whole cells from the KD-tree distance of their centre; only cells
    straddling the buffer edge are tested pixel by pixel.

    Args:
        shoreline: The scene's contours.
        buffer_m: Buffer, metres.

    Returns:
        A function ``(row0, n_rows, width) → (n_rows, width)`` bool.
    """
    tree = shoreline.tree
    radius = buffer_m / PIX_TO_M
    cell = _SHORE_CELL_PX

    def mask(row0: int, n_rows: int, width: int) -> np.ndarray:
        out = np.zeros((n_rows, width), dtype=bool)
        if tree is None or radius <= 0:
            return out
        n_cr, n_cc = -(-n_rows // cell), -(-width // cell)
        half_diag = (cell - 1) / 2 * math.sqrt(2.0)
        cr, cc = np.meshgrid(np.arange(n_cr), np.arange(n_cc), indexing="ij")
        centres = np.stack(
            [row0 + cr.ravel() * cell + (cell - 1) / 2, cc.ravel() * cell + (cell - 1) / 2],
            axis=1,
        )
        dist, _ = tree.query(centres, distance_upper_bound=radius + half_diag)
        full = (dist + half_diag <= radius).reshape(n_cr, n_cc)
        partial = (np.isfinite(dist) & ~(dist + half_diag <= radius)).reshape(n_cr, n_cc)
        out[:] = np.repeat(np.repeat(full, cell, 0), cell, 1)[:n_rows, :width]
        for i, j in zip(*np.nonzero(partial), strict=True):
            r0, c0 = i * cell, j * cell
            r1, c1 = min(r0 + cell, n_rows), min(c0 + cell, width)
            rr, cc2 = np.mgrid[r0:r1, c0:c1]
            pts = np.stack([(rr + row0).ravel(), cc2.ravel()], axis=1).astype(np.float64)
            d, _ = tree.query(pts, distance_upper_bound=radius * (1 + 1e-12) + 1e-9)
            out[r0:r1, c0:c1] = (d <= radius).reshape(r1 - r0, c1 - c0)
        return out

    return mask


# -- per-band detection -----------------------------------------------------------------


@dataclass
class _BandStats:
    """CFAR results of the core rows of a band.

    Per-pixel values are kept only for the flagged pixels, in raster order (the order of
    ``np.nonzero(flagged)``).
    """

    flagged: np.ndarray  # (rows, width) bool
    margin_db: np.ndarray  # best channel's SNR minus its threshold, dB (≥ 0)
    snr_db: np.ndarray  # that channel's SNR, dB
    excess: np.ndarray  # that channel's pixel intensity / μ − 1 (≥ 0), length weights
    ratio: np.ndarray | None = None  # first channel's T / μ on every pixel (NaN: ineligible)


def _box_sum_rows(a: np.ndarray, sizes: Sequence[int], lo: int, hi: int) -> list[np.ndarray]:
    """:func:`_box_sums_2d` of a bool or float array, as float64."""
    return _box_sums_2d(np.asarray(a, dtype=np.float64), sizes, lo, hi)


def _band_stats(
    db: np.ndarray,
    land: np.ndarray | None,
    lo: int,
    hi: int,
    config: CfarConfig,
    *,
    keep_ratio: bool = False,
) -> _BandStats:
    """CFAR test of rows ``[lo, hi)`` of a ``(C, R, W)`` dB band with halo.

    Memory: a few ``R × W`` float64 arrays at a time (one channel at a time).

    Args:
        db: Backscatter in dB, NaN or −32768 for nodata, ``(C, R, W)`` with the channels
            used by ``config.channels`` first.
        land: ``(R, W)`` bool land mask (True = excluded) or None.
        lo: First core row in ``db``.
        hi: One past the last core row.
        config: Detector settings.
        keep_ratio: Also return the first channel's ``T/μ`` on every core pixel.

    Returns:
        The flagged pixels and their values.
    """
    chans = _CHANNELS[config.channels]
    valid = np.ones(db.shape[1:], dtype=bool)
    for c in chans:
        valid &= np.isfinite(db[c]) & (db[c] != np.float32(NODATA))
    sea = valid if land is None else valid & ~land
    nt, ng, nb = config.target_window, config.guard_window, config.background_window
    cnt_b, cnt_g = _box_sum_rows(sea, [nb, ng], lo, hi)
    ring_n = cnt_b - cnt_g
    del cnt_b, cnt_g
    (valid_b,) = _box_sum_rows(valid, [nb], lo, hi)
    eligible = (
        sea[lo:hi]
        & (ring_n >= config.min_background_pixels)
        & (valid_b >= (1.0 - config.max_nodata_fraction) * nb * nb)
    )
    del valid_b
    valid_t = None
    if nt > 1:
        (valid_t,) = _box_sum_rows(valid, [nt], lo, hi)
        eligible &= valid_t >= (1.0 - config.max_target_nodata_fraction) * nt * nt
        valid_t = np.maximum(valid_t, 1.0)
    ring_n = np.maximum(ring_n, 1.0)
    gaussian = config.mode == "gaussian"
    t = config.threshold
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    ratio_out = None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for c in chans:
            intensity = np.power(10.0, db[c].astype(np.float64) / 10.0)
            intensity[~valid] = 0.0
            sea_i = np.where(sea, intensity, 0.0)
            b, g = _box_sums_2d(sea_i, [nb, ng], lo, hi)
            mu = np.subtract(b, g, out=b)
            mu /= ring_n
            del g
            if gaussian:
                b2, g2 = _box_sums_2d(np.square(sea_i, out=sea_i), [nb, ng], lo, hi)
                var = np.subtract(b2, g2, out=b2)
                var /= ring_n
                var -= mu * mu
                threshold = mu + t * np.sqrt(np.maximum(var, 0.0, out=var), out=var)
                del g2, var
            else:
                threshold = t * mu
            del sea_i
            if nt > 1:
                (target,) = _box_sums_2d(intensity, [nt], lo, hi)
                target /= valid_t
            else:
                target = intensity[lo:hi]
            ok = eligible & (mu > 0)
            if keep_ratio and ratio_out is None:
                ratio_out = np.where(ok, target / mu, np.nan)
            rr, cc = np.nonzero(ok & (target >= threshold))
            flat = rr * target.shape[1] + cc
            m = mu[rr, cc]
            snr = 10.0 * np.log10(target[rr, cc] / m)
            margin = snr - 10.0 * np.log10(threshold[rr, cc] / m)
            excess = np.maximum(intensity[lo + rr, cc] / m - 1.0, 0.0)
            found.append((flat, margin, snr, excess))
            del intensity, mu, threshold, target, ok
    flat, margin, snr, excess = (np.concatenate(parts) for parts in zip(*found, strict=True))
    # A pixel flagged in several channels keeps the channel with the largest margin.
    order = np.lexsort((-margin, flat))
    order = order[np.r_[True, np.diff(flat[order]) != 0]] if len(order) else order
    flagged = np.zeros((hi - lo, db.shape[2]), dtype=bool)
    flagged.flat[flat[order]] = True
    return _BandStats(
        flagged=flagged,
        margin_db=np.maximum(margin[order], 0.0),
        snr_db=snr[order],
        excess=excess[order],
        ratio=ratio_out,
    )


@dataclass
class _Pixels:
    """Flagged pixels of a scene, in raster order (sparse)."""

    row: np.ndarray  # int64 scene row
    col: np.ndarray  # int64 column
    weight: np.ndarray  # excess intensity I/μ − 1 (≥ 0)
    margin_db: np.ndarray
    snr_db: np.ndarray
    label: np.ndarray  # int64 8-connected cluster id (band-local until stitched)

    @classmethod
    def concat(cls, parts: Sequence[_Pixels]) -> _Pixels:
        """Concatenate (keeps raster order when the parts are consecutive bands)."""
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls))
        )


def _band_pixels(stats: _BandStats, row0: int, offset: int) -> tuple[_Pixels, np.ndarray, int]:
    """Flagged pixels of a band with their 8-connected cluster ids.

    Args:
        stats: Band statistics.
        row0: Scene row of the band's first core row.
        offset: Id of the band's first cluster (ids are unique across bands).

    Returns:
        The pixels, the label image (``offset + k + 1`` for cluster ``offset + k``, 0 for
        background) and the number of clusters.
    """
    labels, n = ndimage.label(stats.flagged, structure=np.ones((3, 3), dtype=bool))
    rr, cc = np.nonzero(labels)  # raster order, as the values in ``stats``
    pixels = _Pixels(
        row=(rr + row0).astype(np.int64),
        col=cc.astype(np.int64),
        weight=stats.excess,
        margin_db=stats.margin_db,
        snr_db=stats.snr_db,
        label=(labels[rr, cc] - 1 + offset).astype(np.int64),
    )
    return pixels, np.where(labels > 0, labels + offset, 0), n


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component id of each of ``n`` nodes given ``(k, 2)`` edges."""
    if len(pairs) == 0:
        return np.arange(n)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _peaks(pixels: _Pixels, group: np.ndarray, n: int) -> np.ndarray:
    """Index of each group's peak pixel: highest margin, ties → first in raster order."""
    order = np.lexsort((-pixels.margin_db, group))  # stable: raster order within ties
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    peak = np.empty(n, dtype=np.int64)
    peak[group[order[starts]]] = order[starts]
    return peak


def _aggregate(pixels: _Pixels, group: np.ndarray) -> pd.DataFrame:
    """Per-group pixel count, (weighted) position moments and peak (``group`` in ``0..n-1``).

    Sums run over the pixels in raster order, so they do not depend on the band layout.
    """
    n = int(group.max()) + 1
    r, c, w = pixels.row.astype(np.float64), pixels.col.astype(np.float64), pixels.weight
    cols: dict[str, np.ndarray] = {}
    terms = {"r": r, "c": c, "rr": r * r, "cc": c * c, "rc": r * c}
    cols["n"] = np.bincount(group, minlength=n).astype(np.float64)
    cols["w"] = np.bincount(group, weights=w, minlength=n)
    for key, term in terms.items():
        cols[key] = np.bincount(group, weights=term, minlength=n)
        cols["w" + key] = np.bincount(group, weights=w * term, minlength=n)
    peak = _peaks(pixels, group, n)
    cols["margin_db"] = pixels.margin_db[peak]
    cols["snr_db"] = pixels.snr_db[peak]
    cols["peak_row"] = pixels.row[peak]
    cols["peak_col"] = pixels.col[peak]
    return pd.DataFrame(cols)


def _major_axis_px(table: pd.DataFrame, prefix: str) -> np.ndarray:
    """Largest eigenvalue of the covariance of pixel positions, pixels².

    Args:
        table: Cluster sums.
        prefix: ``"w"`` for the weighted sums, ``""`` for the unweighted ones.
    """
    sw = table["w" if prefix else "n"].to_numpy(np.float64)
    sr, sc, srr, scc, src = (
        table[prefix + k].to_numpy(np.float64) for k in ("r", "c", "rr", "cc", "rc")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mr, mc = sr / sw, sc / sw
        a = np.maximum(srr / sw - mr * mr, 0.0)
        c = np.maximum(scc / sw - mc * mc, 0.0)
        b = src / sw - mr * mc
        lam = (a + c) / 2 + np.sqrt(((a - c) / 2) ** 2 + b * b)
    return np.where(sw > 0, lam, 0.0)


def _suppressed(table: pd.DataFrame, config: CfarConfig) -> np.ndarray:
    """Detections explained by a much brighter one: azimuth ghosts and sidelobes.

    * Azimuth ambiguities appear in pairs, displaced ±4.7–5.9 km along azimuth (roughly
      the row axis of the UTM grid) and 20–25 dB below their parent. A detection is a
      ghost when a detection at least ``ghost_contrast_db`` brighter (peak SNR) lies
      ``ghost_distance_px`` away within ``ghost_angle_deg`` of the row axis **and** the
      mirror position on the other side of that parent holds another such detection
      (within ``ghost_mirror_px``). Requiring the pair keeps real vessels that merely
      lie in the annulus; a ghost whose twin is outside the scene, on land or in nodata
      is kept.
    * Range/azimuth sidelobes of very bright targets (13–20 dB down) are suppressed when a
      detection at least ``sidelobe_contrast_db`` brighter lies within
      ``sidelobe_radius_px``.

    SNRs before suppression are compared, so nothing cascades.

    Args:
        table: Merged clusters (``snr_db``, ``peak_row``, ``peak_col``).
        config: Detector settings.

    Returns:
        ``(n,)`` bool, True for suppressed detections.
    """
    n = len(table)
    out = np.zeros(n, dtype=bool)
    if n < 2:
        return out
    snr = table["snr_db"].to_numpy(np.float64)
    pts = table[["peak_row", "peak_col"]].to_numpy(np.float64)
    tree = cKDTree(pts)
    if config.sidelobe_contrast_db is not None and config.sidelobe_radius_px > 0:
        contrast = config.sidelobe_contrast_db
        parents = np.flatnonzero(snr >= snr.min() + contrast)
        near_lists = tree.query_ball_point(pts[parents], config.sidelobe_radius_px)
        for parent, found in zip(parents, near_lists, strict=True):
            near = np.asarray(found, dtype=np.int64)
            out[near[snr[near] <= snr[parent] - contrast]] = True
    if config.ghost_contrast_db is not None:
        contrast = config.ghost_contrast_db
        r_min, r_max = config.ghost_distance_px
        cos_max = math.cos(math.radians(config.ghost_angle_deg))
        parents = np.flatnonzero(snr >= snr.min() + contrast)
        near_lists = tree.query_ball_point(pts[parents], r_max)
        for parent, found in zip(parents, near_lists, strict=True):
            near = np.asarray(found, dtype=np.int64)
            offset = pts[near] - pts[parent]
            dist = np.hypot(offset[:, 0], offset[:, 1])
            cand = (
                (dist >= r_min)
                & (np.abs(offset[:, 0]) >= cos_max * dist)
                & (snr[near] <= snr[parent] - contrast)
            )
            if not cand.any():
                continue
            ghosts, d = near[cand], offset[cand]
            # Pairs: candidate i mirrors candidate j when d_i + d_j ≈ 0.
            gap = np.hypot(*(d[:, None, :] + d[None, :, :]).transpose(2, 0, 1))
            out[ghosts[(gap <= config.ghost_mirror_px).any(axis=1)]] = True
    return out


def _finish(table: pd.DataFrame, config: CfarConfig, scene_id: str) -> pd.DataFrame:
    """Length, gating, scores and the output columns."""
    if table.empty:
        return _empty_frame()
    # Length: the excess-intensity-weighted second moments (a uniform segment of length L
    # has variance L²/12, and so does the generator's Gaussian of σ = 0.29 L), with the
    # pixel extent of the flagged set as a fallback when the weights vanish.
    lam_w = _major_axis_px(table, "w")
    lam_u = _major_axis_px(table, "")
    length_w = np.sqrt(12.0 * np.maximum(lam_w - config.length_deblur_px2, 0.0))
    length_u = np.sqrt(12.0 * lam_u + 1.0)
    length_px = np.where(table["w"].to_numpy() > 0, np.maximum(length_w, 1.0), length_u)
    length_m = length_px * PIX_TO_M
    keep = (length_m >= config.min_length_m) & (length_m <= config.max_length_m)
    table, length_m = table.loc[keep].reset_index(drop=True), length_m[keep]
    kept = ~_suppressed(table, config)
    table = table.loc[kept].reset_index(drop=True)
    length_m = np.clip(length_m[kept], *_LENGTH_CLIP_M)
    margin = table["margin_db"].to_numpy(np.float64)
    objectness = 1.0 - np.exp(-np.maximum(margin, 0.0) / config.score_scale_db)
    if config.fishing_mode == "length":
        z = (length_m - config.fishing_length_m) / config.fishing_length_scale_m
        fishing = 1.0 / (1.0 + np.exp(np.clip(z, -50, 50)))
    else:
        fishing = np.full(len(table), config.fishing_p)
    rows = table["peak_row"].to_numpy(np.int64)
    cols = table["peak_col"].to_numpy(np.int64)
    frame = pd.DataFrame(
        {
            "scene_id": np.full(len(table), scene_id, dtype=object),
            "detect_scene_row": rows,
            "detect_scene_column": cols,
            "x": cols + 0.5,
            "y": rows + 0.5,
            "objectness_p": objectness,
            "vessel_p": np.full(len(table), config.vessel_p),
            "fishing_p": fishing,
            "vessel_length_m": length_m,
            "snr_db": table["snr_db"].to_numpy(np.float64),
            "n_pixels": table["n"].to_numpy().round().astype(np.int64),
        },
        columns=list(CFAR_COLUMNS),
    )
    frame = frame.sort_values(
        ["objectness_p", "detect_scene_row", "detect_scene_column"],
        ascending=[False, True, True],
        kind="stable",
    )
    return frame.reset_index(drop=True)


def _empty_frame() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in CFAR_COLUMNS})
    frame["scene_id"] = frame["scene_id"].astype(object)
    for c in ("detect_scene_row", "detect_scene_column", "n_pixels"):
        frame[c] = frame[c].astype(np.int64)
    return frame


def _detect(
    read: Callable[[int, int], np.ndarray],
    shape: tuple[int, int],
    land: LandMaskFn | None,
    config: CfarConfig,
    scene_id: str,
) -> pd.DataFrame:
    """Run the detector band by band.

    Args:
        read: ``read(row0, n_rows)`` → ``(C, n_rows, width)`` dB (NaN outside the scene).
        shape: Scene ``(height, width)``.
        land: Land mask function or None.
        config: Detector settings.
        scene_id: Scene id of the output rows.

    Returns:
        The detections (see :func:`detect_scene`).
    """
    t0 = time.perf_counter()
    height, width = shape
    halo = config.halo
    parts: list[_Pixels] = []
    pairs: list[np.ndarray] = []
    n_clusters = 0
    prev_last: np.ndarray | None = None  # label row (id + 1) of the previous band's last row
    for row0 in range(0, height, config.band_rows):
        row1 = min(row0 + config.band_rows, height)
        db = read(row0 - halo, row1 - row0 + 2 * halo)
        mask = land(row0 - halo, row1 - row0 + 2 * halo, width) if land is not None else None
        stats = _band_stats(db, mask, halo, halo + row1 - row0, config)
        pixels, labels, n = _band_pixels(stats, row0, n_clusters)
        if prev_last is not None and n:
            # Stitch clusters 8-connected across the band boundary.
            first = labels[0]
            for shift in (-1, 0, 1):
                a = prev_last[max(0, -shift) : width - max(0, shift)]
                b = first[max(0, shift) : width - max(0, -shift)]
                hit = (a > 0) & (b > 0)
                if hit.any():
                    pairs.append(np.stack([a[hit], b[hit]], axis=1) - 1)
        prev_last = labels[-1]
        if n:
            parts.append(pixels)
            n_clusters += n
    if not parts:
        logger.info("CFAR %s: no detections (%.2f s)", scene_id, time.perf_counter() - t0)
        return _empty_frame()
    pixels = _Pixels.concat(parts)
    edges = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int64)
    _, cluster = np.unique(_components(n_clusters, edges)[pixels.label], return_inverse=True)
    n_8 = int(cluster.max()) + 1
    # Merge clusters whose peaks are within merge_distance_px (single linkage).
    group = cluster
    if config.merge_distance_px > 0 and n_8 > 1:
        peak = _peaks(pixels, cluster, n_8)
        points = np.stack([pixels.row[peak], pixels.col[peak]], axis=1).astype(np.float64)
        close = cKDTree(points).query_pairs(config.merge_distance_px, output_type="ndarray")
        _, group = np.unique(_components(n_8, close)[cluster], return_inverse=True)
    merged = _aggregate(pixels, group)
    frame = _finish(merged, config, scene_id)
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


def _array_reader(arr: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """``read(row0, n_rows)`` over an in-memory ``(C, H, W)`` array, NaN outside."""
    height = arr.shape[1]

    def read(row0: int, n_rows: int) -> np.ndarray:
        out = np.full((arr.shape[0], n_rows, arr.shape[2]), np.nan, dtype=np.float32)
        r0, r1 = max(row0, 0), min(row0 + n_rows, height)
        if r0 < r1:
            out[:, r0 - row0 : r1 - row0] = arr[:, r0:r1]
        return out

    return read


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
    if arr.shape[0] < len(_CHANNELS[config.channels]):
        raise ValueError(f"channels={config.channels!r} needs {len(_CHANNELS[config.channels])}.")
    _, height, width = arr.shape
    land = None
    if land_mask is not None:
        land_mask = np.asarray(land_mask, dtype=bool)
        if land_mask.shape != (height, width):
            raise ValueError(f"land_mask shape {land_mask.shape} != image {(height, width)}.")
        land = _array_mask(land_mask)
    return _detect(_array_reader(arr), (height, width), land, config, scene_id)


def detect_scene(
    vh_path: str | Path,
    vv_path: str | Path,
    config: CfarConfig | None = None,
    *,
    shoreline: Shoreline | None = None,
    owi_mask_path: str | Path | None = None,
    scene_id: str,
) -> pd.DataFrame:
    """Run the CFAR detector on one scene, band by band.

    Land: the ``owiMask`` (if given and present) buffered by ``land_buffer_m``; otherwise
    pixels within ``land_buffer_m`` of a shoreline contour point (which cannot tell land
    from sea: inland pixels beyond the buffer stay in); otherwise nothing is masked.

    Args:
        vh_path: ``VH_dB.tif``.
        vv_path: ``VV_dB.tif``.
        config: Detector settings (defaults if None).
        shoreline: The scene's shoreline contours, or None.
        owi_mask_path: ``owiMask.tif`` on the same CRS, or None.
        scene_id: Value of the ``scene_id`` column.

    Returns:
        One row per detection, in descending ``objectness_p``, columns
        :data:`CFAR_COLUMNS`: ``scene_id``; ``detect_scene_row`` / ``detect_scene_column``
        (int64, the pixel of highest SNR margin); ``x`` / ``y`` (float column / row of
        that pixel's centre); ``objectness_p`` (``1 − exp(−margin_db / score_scale_db)``);
        ``vessel_p``, ``fishing_p``; ``vessel_length_m`` (metres, clipped to
        [10, 500]); ``snr_db`` (``10 log10(T/μ)`` at the peak); ``n_pixels`` (flagged
        pixels).
    """
    config = config or CfarConfig()
    reader = SceneReader(vh_path, vv_path)
    try:
        height, width = reader.shape
        with rasterio.open(vh_path) as src:
            transform = src.transform
        land: LandMaskFn | None = None
        if owi_mask_path is not None and Path(owi_mask_path).is_file():
            land = owi_land_mask(
                owi_mask_path,
                transform,
                buffer_m=config.land_buffer_m,
                land_codes=config.land_codes,
            )
        elif shoreline is not None and len(shoreline):
            land = shoreline_land_mask(shoreline, config.land_buffer_m)
        else:
            logger.info("CFAR %s: no owiMask or shoreline, no land mask.", scene_id)

        def read(row0: int, n_rows: int) -> np.ndarray:
            return reader.read(row0, 0, n_rows, width)

        return _detect(read, (height, width), land, config, scene_id)
    finally:
        reader.close()


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
    padded = _array_reader(arr)(-halo, height + 2 * halo)
    mask = None if land_mask is None else _array_mask(np.asarray(land_mask, bool))
    land = None if mask is None else mask(-halo, height + 2 * halo, arr.shape[2])
    stats = _band_stats(padded, land, halo, halo + height, config, keep_ratio=True)
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
