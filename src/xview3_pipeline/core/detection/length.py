"""Vessel length measured in the image around each detection (the CFAR's extent estimate).

The CircleNet regresses a length from what it has learned of the training scenes' vessel
brightness and blur; on scenes of another sensor state (a brighter sea, weaker returns per
metre, a wider point spread) the regression drifts, while the extent of the bright blob in
the image does not depend on those learned relations. :func:`measure_lengths` measures it
for a set of detections with the CFAR baseline's own estimator
(:mod:`~xview3_pipeline.core.detection.cfar.clusters`), one small window per detection:

1. A ``(2r + 1)²`` window of the channel is read around the detection (``r = radius_px``),
   in linear power; outside the scene and nodata are NaN.
2. The clutter mean ``μ`` is the mean of the window's pixels farther than ``guard_px``
   (Chebyshev) from the detection, with the brightest ``trim`` share left out (other
   targets, sidelobes).
3. Pixels with ``I / μ`` above the Gamma threshold of ``pfa`` (``enl`` looks) are flagged;
   the 8-connected flagged component holding the brightest flagged pixel within
   ``search_px`` of the detection is the object.
4. Its length is ``sqrt(12 · max(λ − d, 0))`` pixels, ``λ`` the largest
   eigenvalue of the covariance of its pixel positions weighted by the excess
   ``I / μ − 1`` (a uniform segment of length ``L`` has variance ``L² / 12``), at least one
   pixel, times the pixel spacing. ``d`` is the point spread's variance: the CFAR's
   constant ``deblur_px2``, or (``deblur: speckle``) ``σ² = −1 / (4 ln ρ)`` from the
   lag-1 correlation ``ρ`` of the window's unflagged clutter pixels, since speckle blurred
   by a Gaussian point spread of ``σ`` pixels is correlated as ``exp(−d² / (4σ²))``.

A detection without a flagged pixel near it has no measurement (NaN). :func:`refine_lengths`
puts the measurement into a candidate table: ``cnn`` keeps the network's length,
``measured`` takes the measurement (the network's where there is none), ``blend`` their
geometric mean with weight ``blend`` on the measurement.

All windows of a chunk of detections are measured at once (numpy and one
``scipy.ndimage.label`` over the stack); memory is ``chunk · (2r + 1)² · 8`` B per array (float64).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from xview3_pipeline.core.config import check_keys
from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.detection.bands import BandSource
from xview3_pipeline.core.detection.cfar.clusters import (
    LENGTH_CLIP_M,
    major_axis_variance,
    segment_length_px,
)
from xview3_pipeline.core.detection.cfar.config import CfarConfig
from xview3_pipeline.core.detection.cfar.threshold import gamma_threshold

__all__ = ["LENGTH_SOURCES", "LengthConfig", "measure_lengths", "refine_lengths"]

#: Where a candidate's ``vessel_length_m`` comes from.
LENGTH_SOURCES: tuple[str, ...] = ("cnn", "measured", "blend")
#: How the point spread is taken off the second moment.
_DEBLURS: tuple[str, ...] = ("fixed", "speckle")
#: Channel index of each name in a ``[VH, VV]`` window.
_CHANNELS: Mapping[str, int] = {"vh": 0, "vv": 1}


@dataclass(frozen=True)
class LengthConfig:
    """Settings of the image length measurement (``inference.length``).

    Attributes:
        source: ``"cnn"`` (the network's regression, the winner's), ``"measured"`` or
            ``"blend"`` (see the module docstring).
        blend: Weight of the measurement in the geometric mean of ``blend``, in [0, 1].
        channel: ``"vh"`` (the CFAR's default: weaker sea clutter) or ``"vv"``.
        radius_px: Half side of the window, pixels (40: the CFAR's 81-pixel background
            window).
        guard_px: Pixels within this Chebyshev distance of the detection are not
            clutter (20: the CFAR's 41-pixel guard window); ``< radius_px``.
        trim: Share of the brightest clutter pixels left out of ``μ``, in [0, 0.5).
        pfa: False-alarm probability of the flagging threshold, in (0, 1) (the CFAR's).
        enl: Equivalent number of looks of one pixel (4.4: Sentinel-1 IW GRDH).
        search_px: The object's brightest pixel lies within this Chebyshev distance of
            the detection, pixels.
        deblur_px2: Variance of the point spread taken off ``λ`` with ``deblur: fixed``,
            pixels² (the CFAR's).
        deblur: ``"fixed"`` (``deblur_px2``) or ``"speckle"``: the point spread's variance
            estimated in each window from the clutter's lag-1 speckle correlation (a wider
            point spread correlates the speckle more and blurs the object more).
        chunk: Detections measured at once (memory bound; results do not depend on it).
    """

    source: str = "cnn"
    blend: float = 0.5
    channel: str = "vh"
    radius_px: int = CfarConfig.background_window // 2
    guard_px: int = CfarConfig.guard_window // 2
    trim: float = 0.05
    pfa: float = CfarConfig.pfa
    enl: float = CfarConfig.enl
    search_px: int = 3
    deblur_px2: float = CfarConfig.length_deblur_px2
    deblur: str = "fixed"
    chunk: int = 256

    def __post_init__(self) -> None:
        """Validate the values.

        Raises:
            ValueError: On a value out of range; the message names each parameter
                (``inference.length.source``, ...), its value and what is accepted.
        """
        checks = [
            (self.source in LENGTH_SOURCES, f"source={self.source!r} not in {LENGTH_SOURCES}"),
            (0.0 <= self.blend <= 1.0, f"blend={self.blend} must be in [0, 1]"),
            (self.channel in _CHANNELS, f"channel={self.channel!r} not in {sorted(_CHANNELS)}"),
            (
                0 <= self.search_px <= self.guard_px < self.radius_px,
                f"guard_px={self.guard_px}, search_px={self.search_px} and "
                f"radius_px={self.radius_px} must satisfy 0 <= search_px <= guard_px < radius_px",
            ),
            (0.0 <= self.trim < 0.5, f"trim={self.trim} must be in [0, 0.5)"),
            (0.0 < self.pfa < 1.0, f"pfa={self.pfa} must be in (0, 1)"),
            (self.enl > 0.0, f"enl={self.enl} must be > 0"),
            (self.deblur_px2 >= 0.0, f"deblur_px2={self.deblur_px2} must be >= 0"),
            (self.deblur in _DEBLURS, f"deblur={self.deblur!r} not in {_DEBLURS}"),
            (self.chunk >= 1, f"chunk={self.chunk} must be >= 1"),
        ]
        errors = [f"inference.length.{message}" for ok, message in checks if not ok]
        if errors:
            raise ValueError("Invalid length parameters: " + "; ".join(errors) + ".")

    @classmethod
    def from_dict(cls, params: Mapping[str, Any] | None) -> LengthConfig:
        """Build from a parameter mapping, rejecting unknown keys."""
        return cls(**check_keys(cls, params, what="inference.length"))

    def to_dict(self) -> dict[str, Any]:
        """Plain mapping of the fields."""
        return asdict(self)


def _windows(
    source: BandSource, rows: np.ndarray, cols: np.ndarray, config: LengthConfig
) -> np.ndarray:
    """``(n, 2r + 1, 2r + 1)`` linear-power windows of the channel (NaN outside/nodata)."""
    r, side = config.radius_px, 2 * config.radius_px + 1
    channel = _CHANNELS[config.channel]
    out = np.empty((len(rows), side, side), dtype=np.float32)
    for k, (row, col) in enumerate(zip(rows, cols, strict=True)):
        out[k] = source.read(int(row) - r, int(col) - r, side, side)[channel]
    return np.power(10.0, out.astype(np.float64) / 10.0)


def _ring(config: LengthConfig) -> np.ndarray:
    """``(2r + 1, 2r + 1)`` bool: the window's pixels beyond the guard."""
    offset = np.abs(np.arange(-config.radius_px, config.radius_px + 1))
    return np.maximum(offset[:, None], offset[None, :]) > config.guard_px


def _clutter(power: np.ndarray, ring: np.ndarray, trim: float) -> np.ndarray:
    """``(n, 2r + 1, 2r + 1)`` the windows' clutter pixels (in ``ring``, trimmed), else NaN."""
    clutter = np.where(ring, power, np.nan)
    if trim > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows
            cut = np.nanquantile(power[:, ring], 1.0 - trim, axis=1)
        clutter = np.where(clutter <= cut[:, None, None], clutter, np.nan)
    return clutter


def _nanmean(values: np.ndarray, axis: tuple[int, ...]) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nothing to average: NaN
        return np.nanmean(values, axis=axis)


def _speckle_psf_variance(clutter: np.ndarray) -> np.ndarray:
    """``(n,)`` variance of the point spread, pixels², from the clutter's lag-1 correlation.

    Speckle blurred by a Gaussian point spread of standard deviation ``σ`` has the
    intensity autocorrelation ``ρ(d) = exp(−d² / (4σ²))``, so ``σ² = −1 / (4 ln ρ(1))``;
    ``ρ(1)`` is the mean of the row and column lag-1 correlation coefficients of the
    clutter pixels. Windows without a correlation in (0, 1) give 0.
    """
    rhos = []
    for first, second in (
        (clutter[:, :, :-1], clutter[:, :, 1:]),
        (clutter[:, :-1, :], clutter[:, 1:, :]),
    ):
        both = np.isfinite(first) & np.isfinite(second)
        a, b = np.where(both, first, np.nan), np.where(both, second, np.nan)
        ma, mb = _nanmean(a, (1, 2)), _nanmean(b, (1, 2))
        da, db = a - ma[:, None, None], b - mb[:, None, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            rhos.append(
                _nanmean(da * db, (1, 2))
                / np.sqrt(_nanmean(da * da, (1, 2)) * _nanmean(db * db, (1, 2)))
            )
    rho = (rhos[0] + rhos[1]) / 2
    ok = np.isfinite(rho) & (rho > 0) & (rho < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, -1.0 / (4.0 * np.log(np.where(ok, rho, 0.5))), 0.0)


def _measure_chunk(power: np.ndarray, config: LengthConfig) -> np.ndarray:
    """``(n,)`` lengths in pixels of the windows' central objects (NaN: none)."""
    n, side, _ = power.shape
    r, s = config.radius_px, config.search_px
    ring = _ring(config)
    clutter = _clutter(power, ring, config.trim)
    mu = _nanmean(clutter, (1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = power / mu[:, None, None]
    ratio = np.nan_to_num(ratio, nan=0.0, posinf=0.0, neginf=0.0)
    flagged = ratio > gamma_threshold(config.pfa, config.enl)
    deblur: float | np.ndarray = config.deblur_px2
    if config.deblur == "speckle":  # every pixel beyond the guard but flagged ones (untrimmed)
        background = ring[None] & ~flagged
        deblur = _speckle_psf_variance(np.where(background, power, np.nan))
    structure = np.zeros((3, 3, 3), dtype=bool)
    structure[1] = True  # 8-connected within a window, never across windows
    labels, _ = ndimage.label(flagged, structure=structure)
    # The object: the component of the brightest flagged pixel near the detection.
    centre = np.where(
        flagged[:, r - s : r + s + 1, r - s : r + s + 1],
        ratio[:, r - s : r + s + 1, r - s : r + s + 1],
        -1.0,
    )
    flat = centre.reshape(n, -1)
    best = flat.argmax(axis=1)
    found = flat[np.arange(n), best] > 0
    peak_label = labels[:, r - s : r + s + 1, r - s : r + s + 1].reshape(n, -1)[np.arange(n), best]
    member = (labels == np.where(found, peak_label, -1)[:, None, None]) & found[:, None, None]
    weight = np.where(member, ratio - 1.0, 0.0).astype(np.float64)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float64)
    sw = weight.sum(axis=(1, 2))
    terms = (yy, xx, yy * yy, xx * xx, yy * xx)
    lam = major_axis_variance(sw, [(weight * t).sum(axis=(1, 2)) for t in terms])
    length = np.maximum(segment_length_px(lam, deblur), 1.0)
    return np.where(found & (sw > 0) & np.isfinite(mu), length, np.nan)


def measure_lengths(
    source: BandSource, rows: np.ndarray, cols: np.ndarray, config: LengthConfig | None = None
) -> np.ndarray:
    """Length of the object at each detection, measured in the image.

    Args:
        source: The scene's ``[VH, VV]`` dB windows (NaN for nodata and outside).
        rows: ``(n,)`` scene rows of the detections, pixels.
        cols: ``(n,)`` scene columns, pixels.
        config: Measurement settings; defaults when ``None``.

    Returns:
        ``(n,)`` float64 lengths in metres, clipped to [10, 500] as the CFAR's; NaN where
        no flagged pixel lies within ``search_px`` of the detection or the window has no
        clutter pixel.

    Raises:
        ValueError: If ``rows`` and ``cols`` differ in length or hold non-finite values.
    """
    config = config or LengthConfig()
    rows, cols = np.asarray(rows, dtype=np.float64), np.asarray(cols, dtype=np.float64)
    if rows.shape != cols.shape or rows.ndim != 1:
        raise ValueError(
            f"rows and cols must be two 1-d arrays of one length, got shapes {rows.shape} "
            f"and {cols.shape}."
        )
    if not (np.isfinite(rows).all() and np.isfinite(cols).all()):
        bad = int(np.flatnonzero(~(np.isfinite(rows) & np.isfinite(cols)))[0])
        raise ValueError(
            f"Detection {bad} has a non-finite position (row {rows[bad]}, col {cols[bad]})."
        )
    out = np.full(len(rows), np.nan)
    for start in range(0, len(rows), config.chunk):
        part = slice(start, start + config.chunk)
        power = _windows(source, rows[part], cols[part], config)
        out[part] = _measure_chunk(power, config) * PIX_TO_M
    return np.where(np.isfinite(out), np.clip(out, *LENGTH_CLIP_M), np.nan)


def refine_lengths(
    candidates: pd.DataFrame, source: BandSource, config: LengthConfig
) -> pd.DataFrame:
    """A candidate table with ``vessel_length_m`` from ``config.source``.

    Args:
        candidates: One scene's candidates (``detect_scene_row``, ``detect_scene_column``,
            ``vessel_length_m``, metres).
        source: The scene's windows.
        config: ``cnn`` returns ``candidates`` unchanged.

    Returns:
        A copy with the new lengths (the network's where nothing was measured), or the
        input itself for ``cnn``.
    """
    if config.source == "cnn" or candidates.empty:
        return candidates
    measured = measure_lengths(
        source,
        candidates["detect_scene_row"].to_numpy(),
        candidates["detect_scene_column"].to_numpy(),
        config,
    )
    learned = candidates["vessel_length_m"].to_numpy(np.float64)
    weight = 1.0 if config.source == "measured" else config.blend
    with np.errstate(divide="ignore", invalid="ignore"):
        mixed = np.exp((1.0 - weight) * np.log(learned) + weight * np.log(measured))
    out = candidates.copy()
    out["vessel_length_m"] = np.where(np.isfinite(measured), mixed, learned)
    return out
