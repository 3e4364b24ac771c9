"""Scores split by domain: scenes with known truth where the in-distribution scenes are
detected perfectly and the out-of-distribution ones half-missed, with wrong fishing labels
and lengths; the comparison table, its plot, and real data without domains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xview3_pipeline.core.constants import COMPONENTS
from xview3_pipeline.core.robustness import (
    ROBUSTNESS_COLUMNS,
    plot_robustness,
    robustness_table,
    scene_domains,
    score_by_domain,
    with_true_attributes,
)
from xview3_pipeline.core.submission import score_report

THRESHOLDS = {"objectness": 0.5, "vessel": 0.5, "fishing": 0.5}
DOMAINS = {"in0": "in", "in1": "in", "ood0": "ood"}


def _truth() -> pd.DataFrame:
    """Four vessels per scene, 40 px apart: two fishing, two not, all 50 m long."""
    rows = [
        {
            "scene_id": scene,
            "detect_scene_row": 100 + 40 * k,
            "detect_scene_column": 100,
            "is_vessel": True,
            "is_fishing": k < 2,
            "vessel_length_m": 50.0,
            "distance_from_shore_km": 50.0,
            "confidence": "HIGH",
        }
        for scene in DOMAINS
        for k in range(4)
    ]
    return pd.DataFrame(rows)


def _detections(truth: pd.DataFrame) -> pd.DataFrame:
    """Exact detections on the ``in`` scenes; on ``ood0`` only the two fishing vessels,
    labelled non-fishing, 100 m long (relative length error 1)."""
    ood = truth["scene_id"] == "ood0"
    kept = truth[~ood | truth["is_fishing"]].copy()
    on_ood = kept["scene_id"] == "ood0"
    kept.loc[on_ood, "is_fishing"] = False
    kept.loc[on_ood, "vessel_length_m"] = 100.0
    kept = kept.drop(columns=["distance_from_shore_km", "confidence"])
    return kept.assign(
        objectness_p=0.9,
        vessel_p=0.9,
        fishing_p=np.where(kept["is_fishing"], 0.9, 0.1),
    ).reset_index(drop=True)


def test_split_scores_match_the_hand_computed_values() -> None:
    truth = _truth()
    detections = _detections(truth)
    by_domain = score_by_domain(detections, truth, {}, DOMAINS)
    assert list(by_domain) == ["in", "ood"]
    # no shorelines: shore F1 = 0, so a perfect domain has aggregate 4/5
    assert by_domain["in"] == pytest.approx(
        {
            "loc_fscore": 1.0,
            "loc_fscore_shore": 0.0,
            "vessel_fscore": 1.0,
            "fishing_fscore": 1.0,
            "length_acc": 1.0,
            "aggregate": 0.8,
        }
    )
    # ood: 2 of 4 found (F1 2/3), vessel right, fishing all wrong, length error 1
    assert by_domain["ood"] == pytest.approx(
        {
            "loc_fscore": 2 / 3,
            "loc_fscore_shore": 0.0,
            "vessel_fscore": 1.0,
            "fishing_fscore": 0.0,
            "length_acc": 0.0,
            "aggregate": 2 / 3 * 2 / 5,
        }
    )


def test_true_attributes_leave_only_the_detection_loss() -> None:
    truth = _truth()
    detections = _detections(truth)
    oracle = with_true_attributes(detections, truth)
    ood = oracle["scene_id"] == "ood0"
    assert oracle.loc[ood, "is_fishing"].all() and (oracle["vessel_length_m"] == 50.0).all()
    assert detections.loc[ood.to_numpy(), "vessel_length_m"].eq(100.0).all()  # input unchanged
    by_domain = score_by_domain(oracle, truth, {}, DOMAINS)
    # ood: still 2 of 4 found, now with every attribute right
    assert by_domain["ood"]["aggregate"] == pytest.approx(2 / 3 * 4 / 5)
    assert by_domain["in"]["aggregate"] == pytest.approx(0.8)
    report, _, _ = score_report(
        detections, detections, truth, {}, thresholds=THRESHOLDS, name="model", domains=DOMAINS
    )
    assert list(report["true_attributes"]) == ["all", "in", "ood"]
    assert report["true_attributes"]["ood"] == pytest.approx(by_domain["ood"])
    # A blank truth field keeps the detection's own value; an unmatched detection keeps all.
    blank = truth.astype({"is_fishing": object, "vessel_length_m": float})
    blank.loc[blank["scene_id"] == "ood0", ["is_fishing", "vessel_length_m"]] = [None, np.nan]
    extra = pd.concat(
        [detections, detections.iloc[[0]].assign(detect_scene_row=600, vessel_length_m=7.0)],
        ignore_index=True,
    )
    kept = with_true_attributes(extra.set_axis([0] * len(extra)), blank)  # repeated labels
    assert not kept.loc[extra["scene_id"].eq("ood0").to_numpy(), "is_fishing"].any()
    assert kept.loc[extra["scene_id"].eq("ood0").to_numpy(), "vessel_length_m"].eq(100.0).all()
    assert kept["vessel_length_m"].iloc[-1] == 7.0


def test_score_report_keeps_its_keys_and_adds_the_domains() -> None:
    truth = _truth()
    detections = _detections(truth)
    plain, plain_scenes, _ = score_report(
        detections, detections, truth, {}, thresholds=THRESHOLDS, name="model"
    )
    report, per_scene, _ = score_report(
        detections, detections, truth, {}, thresholds=THRESHOLDS, name="model", domains=DOMAINS
    )
    assert "by_domain" not in plain and "domain" not in plain_scenes.columns
    assert set(plain) <= set(report) and report["scores"] == plain["scores"]
    assert report["scores"]["loc_fscore"] == pytest.approx(2 * 10 / (2 * 10 + 2))  # tp 10, fn 2
    assert set(report["by_domain"]["ood"]) == set(COMPONENTS)
    assert report["domain_scenes"] == {"in": ["in0", "in1"], "ood": ["ood0"]}
    assert list(per_scene.columns[:2]) == ["scene_id", "domain"]
    assert dict(zip(per_scene["scene_id"], per_scene["domain"], strict=True)) == DOMAINS
    # a manifest with domains but no ood scene: the per-scene domain, no split
    only_in = {s: "in" for s in DOMAINS}
    report, per_scene, _ = score_report(
        detections, detections, truth, {}, thresholds=THRESHOLDS, name="model", domains=only_in
    )
    assert "by_domain" not in report and set(per_scene["domain"]) == {"in"}


def test_scene_domains_from_the_manifest() -> None:
    manifest = pd.DataFrame(
        {"scene_id": ["in0", "in1", "ood0", "val0"], "domain": ["in", "in", "ood", "in"]}
    )
    assert scene_domains(manifest, ["ood0", "in1", "in0"]) == DOMAINS
    # real data: no manifest, or an older one without the column
    assert scene_domains(pd.DataFrame(), DOMAINS) == {}
    assert scene_domains(manifest.drop(columns="domain"), DOMAINS) == {}
    assert scene_domains(manifest, ["other0"]) == {}  # a manifest of another dataset
    with pytest.raises(ValueError, match=r"row 2 \(scene ood0\) has domain 'OOD'.*'in', 'ood'"):
        scene_domains(manifest.replace({"domain": {"ood": "OOD"}}), DOMAINS)
    with pytest.raises(ValueError, match=r"2 of the 3 test scenes .*\['ood1'\]"):
        scene_domains(manifest, ["in0", "in1", "ood1"])


def _report(scores: dict[str, float] | None, **extra: object) -> dict[str, object]:
    return {"detector": "x", "scores": scores, "n_scenes": 3, **extra}


def test_robustness_table_rows_and_margins() -> None:
    truth = _truth()
    detections = _detections(truth)
    cnn, _, _ = score_report(
        detections, detections, truth, {}, thresholds=THRESHOLDS, name="CNN", domains=DOMAINS
    )
    cnn["n_scenes"] = 3
    cfar = _report(
        dict.fromkeys(COMPONENTS, 0.25),
        by_domain={"in": dict.fromkeys(COMPONENTS, 0.5), "ood": dict.fromkeys(COMPONENTS, 0.0)},
        domain_scenes={"in": ["in0", "in1"], "ood": ["ood0"]},
    )
    table = robustness_table({"cnn": cnn, "cfar": cfar}, margin=("cnn", "cfar"))
    assert tuple(table.columns) == ROBUSTNESS_COLUMNS
    keys = list(zip(table["detector"], table["domain"], strict=True))
    assert keys == [
        *((d, m) for d in ("cnn", "cfar") for m in ("all", "in", "ood")),
        *(("cnn_minus_cfar", m) for m in ("all", "in", "ood")),
    ]
    rows = table.set_index(["detector", "domain"])
    assert rows.loc[("cnn", "in"), "n_scenes"] == 2 and rows.loc[("cfar", "ood"), "n_scenes"] == 1
    assert pd.isna(rows.loc[("cnn_minus_cfar", "ood"), "n_scenes"])
    assert rows.loc[("cnn_minus_cfar", "in"), "aggregate"] == pytest.approx(0.8 - 0.5)
    assert rows.loc[("cnn_minus_cfar", "ood"), "aggregate"] == pytest.approx(2 / 3 * 2 / 5)
    figure = plot_robustness(table, {"cnn": "CNN", "cfar": "CFAR"})
    assert len(figure.axes) == 2  # scores, margins
    labels = figure.axes[0].get_legend_handles_labels()[1]
    assert labels == [
        "CNN · in (2 scenes)",
        "CNN · ood (1 scene)",
        "CFAR · in (2 scenes)",
        "CFAR · ood (1 scene)",
    ]


def test_robustness_table_on_real_data_has_only_all() -> None:
    # real data: no truth (scores None), no domains
    reports = {"cnn": _report(None), "cfar": _report(None)}
    table = robustness_table(reports, margin=("cnn", "cfar"))
    assert set(table["domain"]) == {"all"} and len(table) == 3
    assert table[list(COMPONENTS)].isna().all(axis=None)
    figure = plot_robustness(table)
    assert "no truth" in figure.axes[0].texts[0].get_text()
    # synthetic data of an older generator: scores without domains
    reports = {d: _report(dict.fromkeys(COMPONENTS, 0.5)) for d in ("cnn", "cfar")}
    table = robustness_table(reports, margin=("cnn", "cfar"))
    assert list(table["domain"]) == ["all"] * 3 and list(table["n_scenes"][:2]) == [3, 3]
    assert len(plot_robustness(table).axes) == 2
    with pytest.raises(ValueError, match=r"cnn lacks the component\(s\) \['aggregate'\]"):
        robustness_table({"cnn": _report({c: 0.5 for c in COMPONENTS[:-1]})})
    with pytest.raises(ValueError, match=r"names \['cfar'\]"):
        robustness_table({"cnn": reports["cnn"]}, margin=("cnn", "cfar"))
