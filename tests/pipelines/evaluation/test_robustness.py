"""The submit steps of both detectors and their comparison, on the project's catalog: test
candidates of in-distribution and out-of-distribution scenes with known truth, a failed
scene, and the real-data case (no manifest, no truth)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from kedro.config import OmegaConfigLoader
from kedro.io import DataCatalog
from kedro.runner import SequentialRunner

from xview3_pipeline.core.constants import COMPONENTS
from xview3_pipeline.core.detection import CANDIDATE_COLUMNS
from xview3_pipeline.datasets import CandidateSet
from xview3_pipeline.datasets.candidate_sets import SceneFailure
from xview3_pipeline.pipelines.evaluation.pipeline import COMPARE, SUBMIT, create_pipeline
from xview3_pipeline.report import main

SCENES = {"in0": "in", "in1": "in", "ood0": "ood", "ood1": "ood"}
REPORTING = Path("data/08_reporting/default")  # the experiment `default`
#: Both detectors' submit steps and the comparison.
PIPELINE = create_pipeline().only_nodes_with_tags(SUBMIT, COMPARE)


def _truth() -> pd.DataFrame:
    """Three vessels per scene, 40 px apart; the first is fishing; all 50 m long."""
    rows = [
        {
            "scene_id": scene,
            "detect_scene_row": 100 + 40 * k,
            "detect_scene_column": 100,
            "is_vessel": True,
            "is_fishing": k == 0,
            "vessel_length_m": 50.0,
            "distance_from_shore_km": 50.0,
            "confidence": "HIGH",
            "detect_id": f"{scene}_{k}",
        }
        for scene in SCENES
        for k in range(3)
    ]
    return pd.DataFrame(rows)


def _candidates(folder: Path, truth: pd.DataFrame, keep: dict[str, int]) -> CandidateSet:
    """A published set: the first ``keep[scene]`` true objects of each scene, exactly."""
    folder.mkdir(parents=True)
    files = {}
    for scene, n in keep.items():
        rows = truth[truth["scene_id"] == scene].head(n)
        frame = rows.assign(
            x=rows["detect_scene_column"] + 0.5,
            y=rows["detect_scene_row"] + 0.5,
            objectness_p=0.9,
            vessel_p=0.9,
            fishing_p=rows["is_fishing"].map({True: 0.9, False: 0.1}),
            detect_lat=10.0,
            detect_lon=-17.0,
        )
        files[scene] = folder / f"{scene}.parquet"
        frame.loc[:, list(CANDIDATE_COLUMNS)].to_parquet(files[scene])
    return CandidateSet(files=files, detector=folder.name)


def _catalog(project: Path, truth: pd.DataFrame) -> DataCatalog:
    """The project's catalog (``conf/base``, no session) with published candidate sets and
    tuned thresholds in memory.

    The CNN finds every object; CFAR finds the in-distribution ones, one of three on
    ``ood0`` and fails on ``ood1``.
    """
    loader = OmegaConfigLoader(
        conf_source=str(project / "conf"),
        base_env="base",
        default_run_env="local",
        merge_strategy={"parameters": "soft"},
    )
    catalog = DataCatalog.from_config(loader["catalog"])
    for name in PIPELINE.inputs():
        if name.startswith("params:"):
            value = loader["parameters"]
            for key in name.removeprefix("params:").split("."):
                value = value[key]
            catalog[name] = value
    sets = project / "candidates"
    catalog["cnn.test_candidates"] = _candidates(sets / "cnn", truth, dict.fromkeys(SCENES, 3))
    cfar = _candidates(sets / "cfar", truth, {"in0": 3, "in1": 3, "ood0": 1})
    failure = SceneFailure("ood1", "public/ood1", "OSError: truncated")
    catalog["cfar.test_candidates"] = CandidateSet(files=cfar.files, failed={"ood1": failure})
    for detector in ("cnn", "cfar"):
        catalog[f"{detector}.best_thresholds"] = {"objectness": 0.5, "vessel": 0.5, "fishing": 0.5}
    catalog["scene_index"] = pd.DataFrame({"scene_id": list(SCENES), "split": "public"})
    return catalog


def _run(catalog: DataCatalog) -> tuple[dict[str, dict], pd.DataFrame]:
    SequentialRunner().run(PIPELINE, catalog)
    reports = {
        d: json.loads((REPORTING / d / "test_score_report.json").read_text())
        for d in ("cnn", "cfar")
    }
    table = pd.read_csv(REPORTING / "robustness_report.csv", dtype={"n_scenes": "Int64"})
    assert (REPORTING / "robustness_plot.png").stat().st_size > 0
    return reports, table


def test_scores_by_domain_through_the_catalog(
    kedro_project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = _truth()
    catalog = _catalog(kedro_project, truth)
    # real data: no manifest and no truth; only "all", scores empty
    reports, table = _run(catalog)
    assert reports["cnn"]["scores"] is None and "by_domain" not in reports["cnn"]
    assert list(table["domain"]) == ["all"] * 3 and table[list(COMPONENTS)].isna().all(axis=None)
    assert list(table["detector"]) == ["cnn", "cfar", "cnn_minus_cfar"]
    main(["--reporting", str(REPORTING.parent), "--experiment", "default"])
    printed = capsys.readouterr().out
    assert "no truth for the test scenes" in printed and "out-of-distribution" not in printed
    # synthetic data with in- and out-of-distribution scenes
    catalog.save("synthetic_test_truth", truth)
    manifest = pd.DataFrame({"scene_id": list(SCENES), "domain": list(SCENES.values())})
    catalog.save("synthetic_manifest", manifest.assign(split="public"))
    reports, table = _run(catalog)
    cnn, cfar = reports["cnn"], reports["cfar"]
    assert {"detector", "scores", "counts", "thresholds", "failed_scenes"} <= set(cnn)
    assert cnn["by_domain"]["in"]["aggregate"] == pytest.approx(0.8)  # no shorelines
    assert cnn["by_domain"]["ood"]["aggregate"] == pytest.approx(0.8)
    # CFAR: the failed scene is left out; on ood0 one of three found, labels right
    assert cfar["failed_scenes"] == ["ood1"] and cfar["domain_scenes"]["ood"] == ["ood0"]
    assert cfar["by_domain"]["in"]["aggregate"] == pytest.approx(0.8)
    assert cfar["by_domain"]["ood"]["loc_fscore"] == pytest.approx(0.5)
    assert cfar["by_domain"]["ood"]["aggregate"] == pytest.approx(0.5 * 4 / 5)
    per_scene = pd.read_csv(REPORTING / "cfar" / "test_score_per_scene.csv")
    assert dict(zip(per_scene["scene_id"], per_scene["domain"], strict=True)) == {
        s: d for s, d in SCENES.items() if s != "ood1"
    }
    rows = table.set_index(["detector", "domain"])
    assert len(rows) == 9 and rows.loc[("cfar", "all"), "n_scenes"] == 3
    assert rows.loc[("cnn", "ood"), "n_scenes"] == 2 and rows.loc[("cfar", "ood"), "n_scenes"] == 1
    assert rows.loc[("cnn_minus_cfar", "in"), "aggregate"] == pytest.approx(0.0)
    assert rows.loc[("cnn_minus_cfar", "ood"), "aggregate"] == pytest.approx(0.8 - 0.4)
    # the command line prints both domains side by side, with the margin
    main(["--reporting", str(REPORTING.parent), "--experiment", "default"])
    lines = capsys.readouterr().out.splitlines()
    table_lines = lines[lines.index("In-distribution vs out-of-distribution test scenes") + 1 :]
    title = "Aggregate with the truth's vessel, fishing and length on the same detections"
    ceiling = table_lines[table_lines.index(title) + 1 :]
    header, counts, *components = table_lines[: table_lines.index(title) - 1]
    # CFAR's ood detections are right but one of three: the truth's attributes change nothing
    assert ceiling[1].split()[:3] == ["CFAR", "baseline:", "all"]
    assert float(ceiling[1].split()[-1]) == pytest.approx(0.4, abs=1e-4)
    assert cfar["true_attributes"]["ood"] == pytest.approx(cfar["by_domain"]["ood"])
    columns = [
        "cnn in",
        "cnn ood",
        "cfar in",
        "cfar ood",
        "cnn_minus_cfar in",
        "cnn_minus_cfar ood",
    ]
    assert header.split("  ")[0] == "component" and all(c in header for c in columns)
    assert header.index("cfar in") < header.index("cnn_minus_cfar in")
    assert counts.split() == ["n_scenes", "2", "2", "2", "1"]
    values = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in components}
    assert set(values) == set(COMPONENTS)
    assert values["aggregate"] == pytest.approx([0.8, 0.8, 0.8, 0.4, 0.0, 0.4], abs=1e-4)
