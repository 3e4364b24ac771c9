"""In-distribution vs out-of-distribution test scores, per detector and component.

The synthetic generator marks every scene of its manifest with a ``domain``: ``in`` (sensor
conditions drawn from the training ranges) or ``ood`` (settings outside them, written as
ordinary test scenes with their truth next to the others). :func:`scene_domains` reads
that column for the test scenes (nothing on real data, which has no manifest);
:func:`score_by_domain` scores the thresholded detections of each domain with the official
metric, at the thresholds tuned on the in-distribution holdout; :func:`robustness_table`
and :func:`plot_robustness` put the detectors' score reports side by side.

The official metric sums its counts over scenes, so a domain's score is the score of a
submission holding only that domain's scenes (not a mean of per-scene scores).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Final

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import COMPONENTS
from xview3_pipeline.core.metric import match_by_scene, score
from xview3_pipeline.core.metric.shoreline import Shoreline

logger = logging.getLogger(__name__)

__all__ = [
    "ALL_SCENES",
    "DOMAINS",
    "DOMAIN_COLUMN",
    "ROBUSTNESS_COLUMNS",
    "domain_scenes",
    "margin_name",
    "plot_robustness",
    "robustness_table",
    "scene_domains",
    "score_by_domain",
    "with_true_attributes",
]

#: Manifest column holding a scene's domain.
DOMAIN_COLUMN: Final[str] = "domain"
#: The domains, in report order: in-distribution, out-of-distribution.
DOMAINS: Final[tuple[str, ...]] = ("in", "ood")
#: The ``domain`` of the rows that score all test scenes together.
ALL_SCENES: Final[str] = "all"
#: Columns of :func:`robustness_table`.
ROBUSTNESS_COLUMNS: Final[tuple[str, ...]] = ("detector", "domain", "n_scenes", *COMPONENTS)
#: Components in plot order: the aggregate first.
_PLOT_ORDER = ("aggregate", *(c for c in COMPONENTS if c != "aggregate"))


def scene_domains(
    manifest: pd.DataFrame, scene_ids: Iterable[str], *, source: str = "synthetic_manifest"
) -> dict[str, str]:
    """The domain (``in`` / ``ood``) of each of some scenes, from the generator's manifest.

    Args:
        manifest: The scene manifest (``scene_id``, ``domain``, …); empty or without a
            ``domain`` column on real data or on data of an older generator.
        scene_ids: The scenes (the scored test scenes).
        source: Name of the manifest in error messages.

    Returns:
        ``scene_id -> domain``; empty when the manifest has no ``domain`` column or lists
        none of the scenes (a manifest of another dataset).

    Raises:
        ValueError: If a scene's domain is not one of :data:`DOMAINS`, a scene has several
            rows, or the manifest lists some of the scenes but not all.
    """
    ids = sorted(set(map(str, scene_ids)))
    if DOMAIN_COLUMN not in manifest.columns or not ids:
        return {}
    table = manifest.assign(scene_id=manifest["scene_id"].astype(str))
    rows = table[table["scene_id"].isin(ids)]
    if rows.empty:
        logger.info("%s lists none of the %d test scenes: no domains.", source, len(ids))
        return {}
    bad = ~rows[DOMAIN_COLUMN].isin(DOMAINS)
    if bad.any():
        row = rows.index[bad][0]
        raise ValueError(
            f"{source}: row {row} (scene {rows.at[row, 'scene_id']}) has {DOMAIN_COLUMN} "
            f"{rows.at[row, DOMAIN_COLUMN]!r}; expected one of {list(DOMAINS)}."
        )
    duplicated = sorted(set(rows.loc[rows["scene_id"].duplicated(), "scene_id"]))
    if duplicated:
        raise ValueError(f"{source}: scene(s) {duplicated} have several rows.")
    missing = sorted(set(ids) - set(rows["scene_id"]))
    if missing:
        raise ValueError(
            f"{source} gives the {DOMAIN_COLUMN} of {len(rows)} of the {len(ids)} test scenes "
            f"but has no row for {missing[:10]}{' …' if len(missing) > 10 else ''}: it "
            "belongs to another dataset (regenerate it with the synthetic_data pipeline)."
        )
    return dict(zip(rows["scene_id"], rows[DOMAIN_COLUMN].astype(str), strict=True))


def domain_scenes(domains: Mapping[str, str]) -> dict[str, list[str]]:
    """The scenes of each domain that has any, sorted (``domain -> scene ids``)."""
    out = {d: sorted(s for s, v in domains.items() if v == d) for d in DOMAINS}
    return {d: ids for d, ids in out.items() if ids}


def score_by_domain(
    detections: pd.DataFrame,
    truth: pd.DataFrame,
    shorelines: Mapping[str, Shoreline],
    domains: Mapping[str, str],
) -> dict[str, dict[str, float]]:
    """The six official components on each domain's scenes.

    Args:
        detections: Thresholded detections (submission rows) of the scored scenes.
        truth: Official label rows of the scored scenes.
        shorelines: Shorelines of the scenes.
        domains: ``scene_id -> domain`` of every scored scene (see :func:`scene_domains`).

    Returns:
        ``domain -> component -> value`` for each domain with at least one scene, in
        :data:`DOMAINS` order.
    """
    detection_scene = detections["scene_id"].astype(str)
    truth_scene = truth["scene_id"].astype(str)
    out: dict[str, dict[str, float]] = {}
    for domain, ids in domain_scenes(domains).items():
        result = score(
            detections[detection_scene.isin(ids)],
            truth[truth_scene.isin(ids)],
            shorelines={s: shorelines[s] for s in ids if s in shorelines},
        )
        out[domain] = {k: float(v) for k, v in result.as_dict().items()}
    return out


def with_true_attributes(detections: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Detections whose vessel, fishing and length are taken from the truth they match.

    Each scene's detections are matched to its truth rows with the metric's matcher
    (:func:`~xview3_pipeline.core.metric.match_points`, 200 m); a matched detection takes
    the truth's ``is_vessel``, ``is_fishing`` and ``vessel_length_m`` where the truth knows
    them, and keeps its own where the truth is blank. Scored, this is the ceiling of the
    classification and length heads at these detections: what is lost below it is
    detection (missed objects, false alarms), not attributes.

    Args:
        detections: Thresholded detections (``scene_id``, ``detect_scene_row``,
            ``detect_scene_column``, ``is_vessel``, ``is_fishing``, ``vessel_length_m``).
        truth: Official label rows of the same scenes.

    Returns:
        A copy of ``detections`` (same index, also when it repeats labels) with the
        attributes replaced.
    """
    out = detections.reset_index(drop=True)  # positions, whatever the index holds
    positions = ["detect_scene_row", "detect_scene_column"]
    pred_i, gt_i = match_by_scene(
        out["scene_id"].to_numpy(),
        out[positions].to_numpy(np.float64),
        truth["scene_id"].to_numpy(),
        truth[positions].to_numpy(np.float64),
    )
    matched = truth.iloc[gt_i]
    for column in ("is_vessel", "is_fishing", "vessel_length_m"):
        values = matched[column].to_numpy(object)
        known = pd.notna(matched[column]).to_numpy()
        out.loc[pred_i[known], column] = values[known].astype(out[column].dtype)
    out.index = detections.index
    return out


def margin_name(first: str, second: str) -> str:
    """The ``detector`` of the margin rows ``first - second`` (``cnn_minus_cfar``)."""
    return f"{first}_minus_{second}"


def _components(scores: Mapping[str, Any], what: str) -> dict[str, float]:
    missing = [c for c in COMPONENTS if c not in scores]
    if missing:
        raise ValueError(f"{what} lacks the component(s) {missing}; expected {list(COMPONENTS)}.")
    return {c: float(scores[c]) for c in COMPONENTS}


def _report_rows(detector: str, report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows ``all`` (NaN scores without truth) and, when present, ``in`` and ``ood``."""
    scores = report.get("scores")
    n_scenes = report.get("n_scenes")
    overall = (
        _components(scores, f"The score report of {detector}")
        if scores is not None
        else dict.fromkeys(COMPONENTS, np.nan)
    )
    rows = [{"detector": detector, "domain": ALL_SCENES, "n_scenes": n_scenes, **overall}]
    by_domain = report.get("by_domain") or {}
    scenes = report.get("domain_scenes") or {}
    for domain in DOMAINS:
        if domain in by_domain:
            values = _components(by_domain[domain], f"by_domain.{domain} of {detector}")
            n = len(scenes[domain]) if domain in scenes else None
            rows.append({"detector": detector, "domain": domain, "n_scenes": n, **values})
    return rows


def robustness_table(
    reports: Mapping[str, Mapping[str, Any]], *, margin: tuple[str, str] | None = None
) -> pd.DataFrame:
    """The detectors' test scores per domain, and the margin of one detector over another.

    Args:
        reports: ``detector -> score report`` (``scores``, ``n_scenes`` and, with
            out-of-distribution scenes, ``by_domain`` and ``domain_scenes``; ``scores``
            None without truth).
        margin: ``(first, second)``: add rows ``first_minus_second`` with the component
            differences for each domain both have (``n_scenes`` empty).

    Returns:
        :data:`ROBUSTNESS_COLUMNS`: one row per detector and domain (``all``, then ``in``
        and ``ood`` when the reports have them), then the margin rows.

    Raises:
        ValueError: If a report lacks a component, or ``margin`` names a detector that has
            no report.
    """
    rows = [row for detector, report in reports.items() for row in _report_rows(detector, report)]
    if margin is not None:
        unknown = [d for d in margin if d not in reports]
        if unknown:
            raise ValueError(f"margin {margin} names {unknown}; reports exist for {list(reports)}.")
        first, second = margin
        by_key = {(r["detector"], r["domain"]): r for r in rows}
        for domain in (ALL_SCENES, *DOMAINS):
            a, b = by_key.get((first, domain)), by_key.get((second, domain))
            if a is not None and b is not None:
                difference = {c: a[c] - b[c] for c in COMPONENTS}
                rows.append(
                    {"detector": margin_name(first, second), "domain": domain, **difference}
                )
    table = pd.DataFrame(rows).reindex(columns=list(ROBUSTNESS_COLUMNS))
    table["n_scenes"] = table["n_scenes"].astype("Int64")
    return table


def _bar_groups(table: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The detectors (margin rows excluded) and the domains to draw (``in``/``ood``, else ``all``)."""
    detectors = [d for d in dict.fromkeys(table["detector"]) if "_minus_" not in d]
    domains = [d for d in DOMAINS if (table["domain"] == d).any()] or [ALL_SCENES]
    return detectors, domains


def _draw_bars(
    ax: Any, table: pd.DataFrame, series: list[tuple[str, str]], names: Mapping[str, str]
) -> None:
    """One bar per component for each ``(detector, domain)``: colour per detector, ood hatched."""
    x = np.arange(len(_PLOT_ORDER))
    width = 0.8 / max(len(series), 1)
    colours = {d: f"C{i}" for i, d in enumerate(dict.fromkeys(d for d, _ in series))}
    for i, (detector, domain) in enumerate(series):
        row = table[(table["detector"] == detector) & (table["domain"] == domain)].iloc[0]
        values = np.array([row[c] for c in _PLOT_ORDER], dtype=np.float64)
        n = row["n_scenes"]
        label = f"{names.get(detector, detector)} · {domain}"
        label += f" ({n} scene{'s' if n != 1 else ''})" if not pd.isna(n) else ""
        bars = ax.bar(
            x - 0.4 + width * (i + 0.5),
            np.nan_to_num(values),
            width,
            color=colours[detector],
            alpha=0.55 if domain == "ood" else 0.95,
            hatch="//" if domain == "ood" else None,
            edgecolor="black",
            linewidth=0.4,
            label=label,
        )
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in values], fontsize=6, padding=1)
    ax.set_xticks(x, list(_PLOT_ORDER), rotation=25, ha="right", rotation_mode="anchor")
    ax.axhline(0, color="black", linewidth=0.6)
    ax.grid(axis="y", alpha=0.3)


def plot_robustness(table: pd.DataFrame, names: Mapping[str, str] | None = None) -> Figure:
    """Side-by-side bars per component: each detector in vs out of distribution, and margins.

    Args:
        table: Output of :func:`robustness_table`.
        names: ``detector -> display name`` for the legend.

    Returns:
        The figure: the components of every detector × domain (``in`` and ``ood``, or
        ``all`` without domains) on the left, the margin rows per domain on the right; a
        note instead when no detector has scores (no truth for the test scenes).
    """
    names = dict(names or {})
    fig = Figure(figsize=(13, 4.8), layout="constrained")
    detectors, domains = _bar_groups(table)
    scored = table[table["detector"].isin(detectors)]
    if scored.empty or scored[list(COMPONENTS)].isna().all(axis=None):
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no truth for the test scenes", ha="center", va="center")
        ax.set_axis_off()
        return fig
    margins = [d for d in dict.fromkeys(table["detector"]) if "_minus_" in d]
    axes = fig.subplots(1, 2, width_ratios=[3, 1.6]) if margins else [fig.add_subplot()]
    present = {(d, m) for d, m in zip(table["detector"], table["domain"], strict=True)}
    series = [(d, m) for d in detectors for m in domains if (d, m) in present]
    _draw_bars(axes[0], table, series, names)
    axes[0].set_ylim(0, 1.3)  # room for the legend above the bars
    axes[0].set_ylabel("score")
    axes[0].legend(fontsize=8, ncols=2, loc="upper center")
    split = domains != [ALL_SCENES]
    axes[0].set_title("Test scenes: in vs out of distribution" if split else "All test scenes")
    if margins:
        margin_series = [(d, m) for d in margins for m in domains if (d, m) in present]
        _draw_bars(axes[1], table, margin_series, {d: d.replace("_minus_", " − ") for d in margins})
        axes[1].set_title("margin")
        axes[1].legend(fontsize=8)
    return fig
