"""``folds.n_folds: 3`` through Kedro: three folds trained, ensembled, scored out of fold.

The fold count comes from the project's configuration (here ``conf/local``) when the
registry is built; nothing else in the configuration mentions the number of folds.

One test function on purpose: pytest-xdist spreads the tests of a module over its
workers, and each worker would build a module fixture of its own (the whole chain).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import make_project, run_kedro
from tests.test_chain import TINY
from xview3_pipeline.core.constants import COMPONENTS
from xview3_pipeline.datasets import CandidateSetDataset


def _run_chain(project: Path) -> None:
    """Tiny data in three folds, three one-epoch fold models, inference → tuning → submission."""
    (project / "conf/local/parameters.yml").write_text(yaml.safe_dump({"folds": {"n_folds": 3}}))
    run_kedro(project, ["synthetic_data"], TINY)
    run_kedro(project, ["ingestion", "locations", "folds", "training"], TINY)
    run_kedro(project, ["inference", "tuning", "submission"], TINY)


def _check_models_and_ensemble(project: Path) -> None:
    models = sorted((project / "data/06_models/default").glob("fold_*/model.pt/*/model.pt"))
    assert [m.parts[-4] for m in models] == ["fold_0", "fold_1", "fold_2"]
    folds = pd.read_csv(
        project / "data/03_primary/default/fold_assignments.csv", dtype={"scene_id": str}
    )
    assert sorted(set(folds["fold"])) == [-1, 0, 1, 2]
    (exported,) = (project / "data/06_models/default/ensemble/ensemble.pt2").glob("*/ensemble.pt2")
    with zipfile.ZipFile(exported) as archive:  # the ensemble's own metadata record
        (meta,) = (n for n in archive.namelist() if n.endswith("/xview3_inference_meta.json"))
        assert json.loads(archive.read(meta))["n_models"] == 3


def _check_scores(project: Path) -> None:
    folds = pd.read_csv(
        project / "data/03_primary/default/fold_assignments.csv", dtype={"scene_id": str}
    )
    oof = CandidateSetDataset(
        path=str(project / "data/07_model_output/default/candidates/cnn/oof")
    ).load()
    assert set(oof) == set(folds.loc[folds["fold"] >= 0, "scene_id"])
    cv = pd.read_csv(project / "data/08_reporting/default/cnn/cv_scores.csv", dtype={"fold": str})
    assert list(cv["fold"]) == ["0", "1", "2", "all"]
    report = json.loads(
        (project / "data/08_reporting/default/cnn/test_score_report.json").read_text()
    )
    assert set(report["scores"]) == set(COMPONENTS)


def _check_other_fold_counts_are_refused(project: Path) -> None:
    # A session's runtime fold count, which the registry cannot see, is refused, not trained.
    before = sorted((project / "data/06_models").rglob("model.pt"))
    with pytest.raises(ValueError, match=r"n_folds is 4 in this run's parameters.*built with 3"):
        run_kedro(project, ["training"], TINY | {"folds": {"n_folds": 4}})
    assert sorted((project / "data/06_models").rglob("model.pt")) == before
    # kedro run --env four builds four namespaces: fold_3 exists and checks the fold table.
    four = project / "conf/four/parameters.yml"
    four.parent.mkdir()
    four.write_text(yaml.safe_dump({"folds": {"n_folds": 4}}))
    kedro = Path(sys.executable).with_name("kedro")
    command = [
        "run",
        "--env",
        "four",
        "--pipelines",
        "training",
        "--nodes",
        "fold_3.check_fold_node",
    ]
    result = subprocess.run(
        [str(kedro), *command],
        cwd=project,
        env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "fold_assignments holds folds [0, 1, 2], but folds.n_folds is 4" in output, output[
        -3000:
    ]


def test_three_folds_trained_ensembled_and_scored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    _run_chain(project)
    _check_models_and_ensemble(project)
    _check_scores(project)
    _check_other_fold_counts_are_refused(project)
