"""From thresholded candidates to deliverables: the official CSV, GIS layers, score reports."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import (
    COMPONENTS,
    DEFAULT_THRESHOLDS,
    FISHING_PROBABILITY_COLUMN,
    OBJECTNESS_COLUMN,
    SUBMISSION_COLUMNS,
    VESSEL_PROBABILITY_COLUMN,
)
from xview3_pipeline.core.metric import prepare, score
from xview3_pipeline.core.metric.shoreline import Shoreline
from xview3_pipeline.core.robustness import (
    DOMAIN_COLUMN,
    domain_scenes,
    score_by_domain,
    with_true_attributes,
)
from xview3_pipeline.core.tuning import apply_thresholds

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_THRESHOLDS",  # defined in core.constants; importable from here as before
    "DETECTION_KEEP_COLUMNS",
    "detections_layer",
    "official_submission",
    "plot_pr_curve",
    "score_candidates",
    "score_report",
    "threshold_detections",
]

#: Candidate columns kept next to the submission columns in thresholded detections.
DETECTION_KEEP_COLUMNS = (
    OBJECTNESS_COLUMN,
    VESSEL_PROBABILITY_COLUMN,
    FISHING_PROBABILITY_COLUMN,
    "x",
    "y",
    "detect_lat",
    "detect_lon",
    "distance_from_shore_km",
)


def threshold_detections(candidates: pd.DataFrame, thresholds: Mapping[str, float]) -> pd.DataFrame:
    """Candidates above the objectness threshold with ``is_vessel`` / ``is_fishing`` set.

    Args:
        candidates: Candidate table (coder columns plus lat/lon and shore distance).
        thresholds: ``objectness``, ``vessel`` and ``fishing`` thresholds.

    Returns:
        The submission columns followed by the scores, positions and shore distance.
    """
    return apply_thresholds(candidates, thresholds, keep_columns=DETECTION_KEEP_COLUMNS)


def score_candidates(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    shorelines: Mapping[str, Shoreline],
    thresholds: Mapping[str, float],
) -> dict[str, float]:
    """The six official components of thresholded candidates (zeros without candidates)."""
    if candidates.empty or truth.empty:
        return dict.fromkeys(COMPONENTS, 0.0)
    result = score(threshold_detections(candidates, thresholds), truth, shorelines=shorelines)
    return {k: float(v) for k, v in result.as_dict().items()}


def official_submission(detections: pd.DataFrame) -> pd.DataFrame:
    """The official submission columns, in order, one row per kept detection.

    Args:
        detections: Thresholded candidates (``is_vessel`` and ``is_fishing`` set).

    Returns:
        ``detect_scene_row, detect_scene_column, scene_id, is_vessel, is_fishing,
        vessel_length_m``.
    """
    out = detections.loc[:, list(SUBMISSION_COLUMNS)].copy()
    out["detect_scene_row"] = out["detect_scene_row"].astype(np.int64)
    out["detect_scene_column"] = out["detect_scene_column"].astype(np.int64)
    out["is_vessel"] = out["is_vessel"].astype(bool)
    out["is_fishing"] = out["is_fishing"].astype(bool)
    return out.reset_index(drop=True)


def detections_layer(detections: pd.DataFrame) -> gpd.GeoDataFrame:
    """Detections as WGS84 points with every score, for GIS users.

    Args:
        detections: Thresholded candidates with ``detect_lat`` / ``detect_lon``.

    Returns:
        A point layer (EPSG:4326) with the submission columns, the probabilities, the
        length and the shore distance.
    """
    frame = detections.reset_index(drop=True).copy()
    for column in ("is_vessel", "is_fishing"):
        frame[column] = frame[column].astype(bool)
    geometry = gpd.points_from_xy(frame["detect_lon"], frame["detect_lat"], crs="EPSG:4326")
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


def _pr_curve(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    shorelines: Mapping[str, Shoreline],
    thresholds: np.ndarray,
) -> pd.DataFrame:
    """Detection precision and recall per objectness threshold (labels play no part)."""
    rows = []
    for t in thresholds:
        if not (candidates[OBJECTNESS_COLUMN] >= t).any():
            break
        prepared = prepare(candidates, truth, shorelines=shorelines, objectness_threshold=float(t))
        loc = prepared.score(0.5, 0.5).details["loc"]
        rows.append(
            {
                "objectness_threshold": float(t),
                "precision": loc["precision"],
                "recall": loc["recall"],
            }
        )
    return pd.DataFrame(rows)


def plot_pr_curve(curve: pd.DataFrame, chosen: float | None, title: str) -> Figure:
    """Detection precision-recall curve over objectness thresholds.

    Args:
        curve: ``objectness_threshold``, ``precision``, ``recall``.
        chosen: The tuned objectness threshold, marked on the curve, or None.
        title: Figure title.

    Returns:
        The figure.
    """
    fig = Figure(figsize=(6, 5))
    ax = fig.add_subplot()
    ax.plot(curve["recall"], curve["precision"], marker=".", label="objectness sweep")
    if chosen is not None and len(curve):
        nearest = curve.iloc[(curve["objectness_threshold"] - chosen).abs().argmin()]
        ax.scatter(
            [nearest["recall"]],
            [nearest["precision"]],
            color="red",
            zorder=3,
            label=f"tuned threshold {chosen:.3f}",
        )
    ax.set_xlabel("recall (200 m matching)")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def score_report(
    detections: pd.DataFrame,
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    shorelines: Mapping[str, Shoreline],
    *,
    thresholds: Mapping[str, float],
    name: str,
    domains: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], pd.DataFrame, Figure]:
    """Score thresholded detections against the truth of the test scenes.

    Args:
        detections: The thresholded detections (submission rows plus scores).
        candidates: All candidates before thresholding (for the precision-recall curve).
        truth: Official label rows of the test scenes; empty when there is no truth.
        shorelines: Shorelines of the test scenes.
        thresholds: The thresholds applied (``objectness``, ``vessel``, ``fishing``).
        name: Name of the detector in the report.
        domains: ``scene_id -> domain`` (``in`` / ``ood``) of the scored scenes, from
            :func:`~xview3_pipeline.core.robustness.scene_domains`; empty or None when
            the scenes have no domain (real data).

    Returns:
        The report (``scores`` with the six official components, counts, thresholds; or
        ``scores: None`` without truth), the per-scene table and the PR-curve figure.
        With domains, the per-scene table has a ``domain`` column after ``scene_id``;
        when some scene is ``ood``, the report also has ``by_domain`` (``domain -> the
        six components`` on that domain's scenes, same thresholds) and ``domain_scenes``
        (``domain -> scene ids``). ``true_attributes`` (``all`` and each domain → the
        six components) scores the same detections with the vessel, fishing and length
        of the truth they match (:func:`~xview3_pipeline.core.robustness.
        with_true_attributes`): the ceiling of the attribute heads at this detection.
    """
    if truth.empty:
        logger.info("No truth for the test scenes: %s is not scored.", name)
        empty = Figure(figsize=(6, 5))
        empty.add_subplot().text(0.5, 0.5, "no truth for the test scenes", ha="center")
        return (
            {"detector": name, "scores": None, "thresholds": dict(thresholds)},
            pd.DataFrame(),
            empty,
        )
    result = score(detections, truth, shorelines=shorelines)
    curve = _pr_curve(candidates, truth, shorelines, np.round(np.linspace(0.05, 0.95, 19), 3))
    scores = {k: float(v) for k, v in result.as_dict().items()}
    report: dict[str, Any] = {
        "detector": name,
        "scores": {k: scores[k] for k in COMPONENTS},
        "counts": {k: result.details[k] for k in ("loc", "shore", "vessel", "fishing")},
        "thresholds": dict(thresholds),
        "n_detections": len(detections),
        "n_truth": len(truth),
        "warnings": list(result.details.get("warnings", [])),
    }
    per_scene = result.details["per_scene"]
    if domains:
        per_scene = per_scene.copy()
        per_scene.insert(1, DOMAIN_COLUMN, per_scene["scene_id"].astype(str).map(domains))
    if domains and "ood" in domains.values():
        report["by_domain"] = score_by_domain(detections, truth, shorelines, domains)
        report["domain_scenes"] = domain_scenes(domains)
        logger.info(
            "%s: aggregate %s by domain.",
            name,
            ", ".join(f"{d} {s['aggregate']:.3f}" for d, s in report["by_domain"].items()),
        )
    oracle = with_true_attributes(detections, truth)
    ceiling = {"all": score(oracle, truth, shorelines=shorelines).as_dict()}
    if "by_domain" in report:
        ceiling |= score_by_domain(oracle, truth, shorelines, domains or {})
    report["true_attributes"] = {d: {k: float(v) for k, v in c.items()} for d, c in ceiling.items()}
    title = f"{name}: aggregate {scores['aggregate']:.3f}"
    return report, per_scene, plot_pr_curve(curve, thresholds.get("objectness"), title)
