"""``kedro run --params executor=dask,...`` switches CFAR detection to a LocalCluster built
from the ``dask`` block: one cluster for the run's scene sets, the candidates of the local
detector, and the cluster closed at the end."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from tests.conftest import TINY_SYNTHETIC, make_project, run_kedro
from xview3_pipeline.core.detection import CfarDetector, Scene, detect_candidates
from xview3_pipeline.core.detection.cfar import CfarConfig

SETS = Path("data/07_model_output/default/candidates/cfar")


class _Records(logging.Handler):
    """Keeps the messages it receives."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny synthetic scenes, indexed and split into folds."""
    project = make_project(tmp_path_factory.mktemp("dask_run") / "project")
    cwd = Path.cwd()
    os.chdir(project)
    try:
        run_kedro(project, ["synthetic_data"], TINY_SYNTHETIC)
        run_kedro(project, ["ingestion", "locations", "folds"], TINY_SYNTHETIC)
    finally:
        os.chdir(cwd)
    return project


@pytest.mark.kedro_run
def test_cli_params_switch_detection_to_a_local_cluster(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kedro.framework.cli.cli import KedroCLI

    from xview3_pipeline.core.parallel import cluster

    monkeypatch.chdir(project)
    # On a child of the configured loggers: Kedro's logging set-up replaces the handlers
    # of root and of "xview3_pipeline", not those of its children.
    records = _Records()
    logger = logging.getLogger("xview3_pipeline.core.parallel")
    logger.addHandler(records)
    params = "executor=dask,dask.n_workers=2,dask.dashboard_address=null,dask.resources.GPU=1"
    args = ["run", "--pipelines", "cfar_baseline", "--tags", "detect", "--params", params]
    try:
        result = CliRunner().invoke(KedroCLI(project_path=project), args)
    finally:
        logger.removeHandler(records)
    assert result.exit_code == 0, f"{result.output[-3000:]}\n{result.exception!r}"
    log = "\n".join(records.messages)
    assert log.count("Dask: the LocalCluster") == 1  # holdout and test share the cluster
    assert "2 worker(s), 2 thread(s); dashboard: none" in log
    assert "Dask: reusing" in log and "resources {'GPU': 1.0}" in log
    assert cluster._POOL is None  # the run's scope ended and closed the cluster
    # the workers wrote what the detector gives in this process
    index = pd.read_parquet(project / "data/02_intermediate/scene_index.parquet")
    rows = {str(r.scene_id): r for r in index.itertuples(index=False)}
    conf = yaml.safe_load((project / "conf/base/parameters_cfar_baseline.yml").read_text())
    detector = CfarDetector(CfarConfig.from_dict(conf["cfar"]))
    raw_root = project / "data/01_raw/xview3"
    checked = 0
    for which in ("holdout", "test"):
        manifest = json.loads((project / SETS / which / "manifest.json").read_text())
        assert manifest["scenes"] and not manifest["failed"]
        for scene_id, entry in manifest["scenes"].items():
            stored = pd.read_parquet(project / SETS / which / entry["file"])
            expected = detect_candidates(detector, Scene.from_index_row(rows[scene_id], raw_root))
            pd.testing.assert_frame_equal(stored, expected, check_exact=True)
            checked += len(stored)
    assert checked > 0
