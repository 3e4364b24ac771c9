"""Box sums and the per-band CFAR test.

Vertical box sums use a fixed binary decomposition of the window (sums of power-of-two
blocks) and horizontal ones :func:`scipy.ndimage.uniform_filter1d` over whole rows, so
every output is the same floating-point sum of the same inputs whatever the band layout:
banded results equal whole-image results exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import uniform_filter1d

from xview3_pipeline.core.constants import NODATA
from xview3_pipeline.core.detection.cfar.config import CHANNELS, CfarConfig

__all__ = ["BandStats", "band_stats"]


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


@dataclass
class BandStats:
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


def band_stats(
    db: np.ndarray,
    land: np.ndarray | None,
    lo: int,
    hi: int,
    config: CfarConfig,
    *,
    keep_ratio: bool = False,
) -> BandStats:
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
    chans = CHANNELS[config.channels]
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
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    ratio_out = None
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for c in chans:
            flags, ratio = _channel_flags(
                db[c],
                masks=(valid, sea, eligible),
                counts=(ring_n, valid_t),
                rows=(lo, hi),
                config=config,
                keep_ratio=keep_ratio and ratio_out is None,
            )
            found.append(flags)
            if ratio_out is None:
                ratio_out = ratio
    flat, margin, snr, excess = (np.concatenate(parts) for parts in zip(*found, strict=True))
    # A pixel flagged in several channels keeps the channel with the largest margin.
    order = np.lexsort((-margin, flat))
    order = order[np.r_[True, np.diff(flat[order]) != 0]] if len(order) else order
    flagged = np.zeros((hi - lo, db.shape[2]), dtype=bool)
    flagged.flat[flat[order]] = True
    return BandStats(
        flagged=flagged,
        margin_db=np.maximum(margin[order], 0.0),
        snr_db=snr[order],
        excess=excess[order],
        ratio=ratio_out,
    )


def _channel_flags(
    db: np.ndarray,
    *,
    masks: tuple[np.ndarray, np.ndarray, np.ndarray],
    counts: tuple[np.ndarray, np.ndarray | None],
    rows: tuple[int, int],
    config: CfarConfig,
    keep_ratio: bool,
) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray | None]:
    """The CFAR test of one channel on the core rows ``[lo, hi)`` of a band.

    Args:
        db: ``(R, W)`` dB of the channel.
        masks: ``valid`` ``(R, W)`` (pixels valid in every tested channel), ``sea``
            (valid and not land) and ``eligible`` ``(hi - lo, W)`` (core pixels with
            usable statistics).
        counts: ``ring_n`` ``(hi - lo, W)`` sea pixels of the ring (>= 1) and ``valid_t``
            valid pixels of the target window (>= 1; None for a 1-pixel target).
        rows: ``(lo, hi)``, the core rows.
        config: Detector settings.
        keep_ratio: Also return ``T / μ`` on every core pixel (NaN where ineligible).

    Returns:
        ``(flat index, margin_db, snr_db, excess)`` of the flagged core pixels, and the
        ratio (or None).
    """
    valid, sea, eligible = masks
    ring_n, valid_t = counts
    lo, hi = rows
    nt, ng, nb = config.target_window, config.guard_window, config.background_window
    t = config.threshold
    intensity = np.power(10.0, db.astype(np.float64) / 10.0)
    intensity[~valid] = 0.0
    sea_i = np.where(sea, intensity, 0.0)
    b, g = _box_sums_2d(sea_i, [nb, ng], lo, hi)
    mu = np.subtract(b, g, out=b)
    mu /= ring_n
    del g
    if config.mode == "gaussian":
        b2, g2 = _box_sums_2d(np.square(sea_i, out=sea_i), [nb, ng], lo, hi)
        var = np.subtract(b2, g2, out=b2)
        var /= ring_n
        var -= mu * mu
        threshold = mu + t * np.sqrt(np.maximum(var, 0.0, out=var), out=var)
        del g2, var
    else:
        threshold = t * mu
    del sea_i
    if nt > 1 and valid_t is not None:
        (target,) = _box_sums_2d(intensity, [nt], lo, hi)
        target /= valid_t
    else:
        target = intensity[lo:hi]
    ok = eligible & (mu > 0)
    ratio = np.where(ok, target / mu, np.nan) if keep_ratio else None
    rr, cc = np.nonzero(ok & (target >= threshold))
    flat = rr * target.shape[1] + cc
    m = mu[rr, cc]
    snr = 10.0 * np.log10(target[rr, cc] / m)
    margin = snr - 10.0 * np.log10(threshold[rr, cc] / m)
    excess = np.maximum(intensity[lo + rr, cc] / m - 1.0, 0.0)
    return (flat, margin, snr, excess), ratio
