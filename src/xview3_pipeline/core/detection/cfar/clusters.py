"""Clusters of flagged CFAR pixels and the output table.

8-connected labelling per band, stitching across band boundaries, merging of clusters
whose peaks are close, lengths from weighted second moments, ghost and sidelobe
suppression, scores.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from xview3_pipeline.core.constants import PIX_TO_M
from xview3_pipeline.core.detection.cfar.boxsums import BandStats
from xview3_pipeline.core.detection.cfar.config import CFAR_COLUMNS, CfarConfig

__all__ = [
    "LENGTH_CLIP_M",
    "Pixels",
    "band_pixels",
    "empty_frame",
    "finish",
    "major_axis_variance",
    "merge_clusters",
    "segment_length_px",
    "stitch_pairs",
]

#: Output length clip, metres (the metric caps lengths at 500 m).
LENGTH_CLIP_M = (10.0, 500.0)


@dataclass
class Pixels:
    """Flagged pixels of a scene, in raster order (sparse)."""

    row: np.ndarray  # int64 scene row
    col: np.ndarray  # int64 column
    weight: np.ndarray  # excess intensity I/μ − 1 (≥ 0)
    margin_db: np.ndarray
    snr_db: np.ndarray
    label: np.ndarray  # int64 8-connected cluster id (band-local until stitched)

    @classmethod
    def concat(cls, parts: Sequence[Pixels]) -> Pixels:
        """Concatenate (keeps raster order when the parts are consecutive bands)."""
        return cls(
            *(np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls))
        )


def band_pixels(stats: BandStats, row0: int, offset: int) -> tuple[Pixels, np.ndarray, int]:
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
    pixels = Pixels(
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


def _peaks(pixels: Pixels, group: np.ndarray, n: int) -> np.ndarray:
    """Index of each group's peak pixel: highest margin, ties → first in raster order."""
    order = np.lexsort((-pixels.margin_db, group))  # stable: raster order within ties
    starts = np.r_[0, np.flatnonzero(np.diff(group[order])) + 1]
    peak = np.empty(n, dtype=np.int64)
    peak[group[order[starts]]] = order[starts]
    return peak


def _aggregate(pixels: Pixels, group: np.ndarray) -> pd.DataFrame:
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


def major_axis_variance(sw: np.ndarray, sums: Sequence[np.ndarray]) -> np.ndarray:
    """Largest eigenvalue of the covariance of (weighted) pixel positions, pixels².

    Args:
        sw: ``(n,)`` sums of the weights (pixel counts when unweighted).
        sums: ``(n,)`` sums of ``w · row``, ``w · col``, ``w · row²``, ``w · col²`` and
            ``w · row · col``, in this order.

    Returns:
        ``(n,)`` float64, 0 where ``sw`` is 0.
    """
    sr, sc, srr, scc, src = sums
    with np.errstate(divide="ignore", invalid="ignore"):
        mr, mc = sr / sw, sc / sw
        a = np.maximum(srr / sw - mr * mr, 0.0)
        c = np.maximum(scc / sw - mc * mc, 0.0)
        b = src / sw - mr * mc
        lam = (a + c) / 2 + np.sqrt(((a - c) / 2) ** 2 + b * b)
    return np.where(sw > 0, lam, 0.0)


def segment_length_px(variance: np.ndarray, deblur_px2: float | np.ndarray) -> np.ndarray:
    """Length of a uniform segment with this variance along it, the blur taken off.

    A uniform segment of length ``L`` has variance ``L² / 12`` (and so has the generator's
    Gaussian of σ = 0.29 L); the point spread adds its own variance ``deblur_px2``.

    Returns:
        ``sqrt(12 · max(variance − deblur_px2, 0))``, pixels.
    """
    return np.sqrt(12.0 * np.maximum(variance - deblur_px2, 0.0))


def _major_axis_px(table: pd.DataFrame, prefix: str) -> np.ndarray:
    """:func:`major_axis_variance` of a cluster table's sums (``"w"``: weighted, ``""``: not)."""
    sw = table["w" if prefix else "n"].to_numpy(np.float64)
    sums = [table[prefix + k].to_numpy(np.float64) for k in ("r", "c", "rr", "cc", "rc")]
    return major_axis_variance(sw, sums)


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


def finish(table: pd.DataFrame, config: CfarConfig, scene_id: str) -> pd.DataFrame:
    """Length, gating, scores and the output columns."""
    if table.empty:
        return empty_frame()
    # Length: the excess-intensity-weighted second moments (a uniform segment of length L
    # has variance L²/12, and so does the generator's Gaussian of σ = 0.29 L), with the
    # pixel extent of the flagged set as a fallback when the weights vanish.
    lam_w = _major_axis_px(table, "w")
    lam_u = _major_axis_px(table, "")
    length_w = segment_length_px(lam_w, config.length_deblur_px2)
    length_u = np.sqrt(12.0 * lam_u + 1.0)
    length_px = np.where(table["w"].to_numpy() > 0, np.maximum(length_w, 1.0), length_u)
    length_m = length_px * PIX_TO_M
    keep = (length_m >= config.min_length_m) & (length_m <= config.max_length_m)
    table, length_m = table.loc[keep].reset_index(drop=True), length_m[keep]
    kept = ~_suppressed(table, config)
    table = table.loc[kept].reset_index(drop=True)
    length_m = np.clip(length_m[kept], *LENGTH_CLIP_M)
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


def empty_frame() -> pd.DataFrame:
    """A CFAR table with no row (the columns and dtypes of :data:`CFAR_COLUMNS`)."""
    frame = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in CFAR_COLUMNS})
    frame["scene_id"] = frame["scene_id"].astype(object)
    for c in ("detect_scene_row", "detect_scene_column", "n_pixels"):
        frame[c] = frame[c].astype(np.int64)
    return frame


def stitch_pairs(prev_last: np.ndarray, first: np.ndarray) -> list[np.ndarray]:
    """Cluster id pairs 8-connected across a band boundary.

    Args:
        prev_last: ``(W,)`` label row (id + 1, 0 background) of the previous band's last row.
        first: ``(W,)`` label row of this band's first row.

    Returns:
        ``(k, 2)`` arrays of cluster ids to join.
    """
    width = len(first)
    pairs = []
    for shift in (-1, 0, 1):
        a = prev_last[max(0, -shift) : width - max(0, shift)]
        b = first[max(0, shift) : width - max(0, -shift)]
        hit = (a > 0) & (b > 0)
        if hit.any():
            pairs.append(np.stack([a[hit], b[hit]], axis=1) - 1)
    return pairs


def merge_clusters(
    pixels: Pixels, n_clusters: int, pairs: Sequence[np.ndarray], config: CfarConfig
) -> tuple[pd.DataFrame, int]:
    """Join stitched clusters, merge those whose peaks are close, sum their statistics.

    Args:
        pixels: Flagged pixels of the scene, raster order, with band-local cluster ids.
        n_clusters: Number of band-local clusters.
        pairs: Ids joined across band boundaries (:func:`stitch_pairs`).
        config: ``merge_distance_px``.

    Returns:
        The merged clusters' sums (one row each) and the number of 8-connected clusters.
    """
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
    return _aggregate(pixels, group), n_8
