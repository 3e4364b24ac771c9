"""Fold training through Kedro survives a SIGKILL and a failed save without losing work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import DatasetError

from tests.conftest import TINY_SYNTHETIC, make_project, run_kedro
from xview3_pipeline.core.training.checkpoints import FINISHED_FILE

#: Three epochs of two steps on 64-pixel crops; checkpoints only at epoch ends.
TRAINING = {
    "training": {
        "data": {
            "crop_size": 64,
            "batch_size": 2,
            "epoch_samples": 4,
            "num_workers": 0,
            "val_tile_size": 128,
        },
        "trainer": {"max_epochs": 3, "progress_bar": False, "checkpoint_every_n_steps": 1000},
    }
}
EPOCHS = TRAINING["training"]["trainer"]["max_epochs"]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny scenes, their index and folds; the training parameters in ``conf/local``."""
    project = make_project(tmp_path_factory.mktemp("faults") / "project")
    (project / "conf" / "local" / "parameters.yml").write_text(yaml.safe_dump(TRAINING))
    cwd = Path.cwd()
    os.chdir(project)
    try:
        run_kedro(project, ["synthetic_data"], TINY_SYNTHETIC)
        run_kedro(project, ["ingestion", "locations", "folds"], TINY_SYNTHETIC)
    finally:
        os.chdir(cwd)
    return project


def _train(project: Path, namespace: str) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        session.run(pipeline_names=["training"], namespaces=[namespace])


def _work(project: Path, namespace: str) -> Path:
    return project / "data/06_models/default/training_work/cpu_small" / namespace


def _history(project: Path, namespace: str) -> pd.DataFrame:
    return pd.read_csv(project / "data/08_reporting/default/training" / namespace / "history.csv")


def _load_model(project: Path, namespace: str) -> object:
    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        return session.load_context().catalog.load(f"{namespace}.model")


def test_sigkill_after_first_checkpoint_resumes(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    work = _work(project, "fold_0")
    kedro = Path(sys.executable).with_name("kedro")
    log = tmp_path / "killed_run.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(kedro), "run", "--pipelines", "training", "--namespaces", "fold_0"],
            cwd=project,
            env=os.environ | {"KEDRO_DISABLE_TELEMETRY": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 240
        while not (work / "last.ckpt").exists():  # written at the end of epoch 0
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"no checkpoint before the run ended:\n{log.read_text()[-3000:]}")
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert not (project / "data/06_models/default/fold_0").exists()  # the model was never saved
    assert not (work / FINISHED_FILE).exists()

    _train(project, "fold_0")

    history = _history(project, "fold_0")
    # The epochs continue the numbering: epoch 0 comes from the killed run (attempt 1),
    # the rest from the resumed one; there is no second epoch 0.
    assert list(history["epoch"]) == list(range(EPOCHS))
    assert history["attempt"].iloc[0] == 1 and history["attempt"].iloc[-1] == 2
    assert history["attempt"].is_monotonic_increasing
    model = _load_model(project, "fold_0")
    assert model.checkpoint_metadata["run"] == "cpu_small/fold_0"
    assert not work.exists()  # cleared once the model was saved


def test_failed_model_save_keeps_the_finished_run(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    work = _work(project, "fold_1")
    blocker = project / "data/06_models/default/fold_1"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file where the model's folder should be")  # the save fails
    with pytest.raises(DatasetError, match=r"fold_1\.model"):
        _train(project, "fold_1")
    finished = json.loads((work / FINISHED_FILE).read_text())
    assert (work / finished["weights"]).is_file()
    assert [row["epoch"] for row in finished["history"]] == list(range(EPOCHS))

    blocker.unlink()
    _train(project, "fold_1")

    # The rerun trained nothing: its history is the recorded one, epoch times included.
    history = _history(project, "fold_1")
    recorded = pd.DataFrame(finished["history"])
    pd.testing.assert_frame_equal(history[recorded.columns], recorded, check_dtype=False)
    assert (history["attempt"] == 1).all()
    assert _load_model(project, "fold_1").checkpoint_metadata["run"] == "cpu_small/fold_1"
    assert not work.exists()


def test_unknown_preset_stops_before_any_training(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project)
    bad = {"training": {"model": {"preset": "b7_unet_s2"}}}
    models = set((project / "data").rglob("model.pt"))
    with pytest.raises(ValueError, match=r"training\.model\.preset must be one of \[.*'cpu_small'"):
        run_kedro(project, ["training"], bad)
    assert not (project / "data/06_models/default/training_work/b7_unet_s2").exists()
    assert set((project / "data").rglob("model.pt")) == models
