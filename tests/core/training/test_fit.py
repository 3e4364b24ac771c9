"""Training engine: a tiny fold end to end, resume after interruption, the finished run."""

from __future__ import annotations

import copy
import logging
from pathlib import Path

import lightning.pytorch as pl
import pandas as pd
import pytest
import torch
from kedro.config import OmegaConfigLoader

from xview3_pipeline.core.encoding import CircleNetCoder, CoderConfig
from xview3_pipeline.core.folds import FoldConfig, assign_folds
from xview3_pipeline.core.ingestion import build_scene_index, validate_labels_in_root
from xview3_pipeline.core.io.layout import resolve_scene_paths
from xview3_pipeline.core.locations import cluster_locations
from xview3_pipeline.core.losses import CircleNetLoss
from xview3_pipeline.core.metric.shoreline import load_shorelines
from xview3_pipeline.core.models import build_model
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset
from xview3_pipeline.core.training.checkpoints import FINISHED_FILE
from xview3_pipeline.core.training.config import TrainingConfig
from xview3_pipeline.core.training.fit import clear_run
from xview3_pipeline.core.training.system import batch_targets
from xview3_pipeline.core.training.train import build_loaders, select_fold, train_fold

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def tiny_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("raw") / "xview3"
    config = SyntheticConfig(
        n_locations=2,
        revisit_splits=("validation", "validation", "validation", "train"),
        height=128,
        width=128,
        objects_per_scene=30,
    )
    generate_dataset(config, root)
    index = resolve_scene_paths(build_scene_index(root), root)
    labels = validate_labels_in_root(root, index).labels
    locations = cluster_locations(index)
    folds = assign_folds(labels, locations, FoldConfig(n_folds=2))
    return {"root": root, "index": index, "labels": labels, "folds": folds}


def tiny_config(work_dir: Path, **trainer: object) -> TrainingConfig:
    return TrainingConfig.from_dict(
        {
            "model": {"preset": "cpu_small"},
            "data": {
                "crop_size": 64,
                "batch_size": 2,
                "epoch_samples": 4,
                "num_workers": 0,
                "val_tile_size": 128,
                "val_batch_size": 2,
            },
            "trainer": {
                "max_epochs": 2,
                "checkpoint_every_n_steps": 1,
                "progress_bar": False,
                "log_every_n_steps": 1,
                **trainer,
            },
            "work_dir": str(work_dir),
        }
    )


def fold_data(tables: dict[str, object], fold: int = 0):
    folds = tables["folds"]
    val_ids = folds.loc[folds["fold"] == fold, "scene_id"]
    shorelines = load_shorelines(Path(tables["root"]) / "shoreline", val_ids)
    return select_fold(tables["index"], folds, tables["labels"], fold, shorelines)


def test_train_fold_end_to_end(tiny_tables: dict[str, object], tmp_path: Path) -> None:
    config = tiny_config(tmp_path / "work")
    result = train_fold(config, fold_data(tiny_tables), "cpu_small/fold_0")
    history = result.history
    assert list(history["epoch"]) == [0.0, 1.0]
    for column in ("train/total", "val/aggregate", "val/loc_fscore", "val/loss_total", "lr"):
        assert column in history and history[column].notna().all()
    assert history["lr"].iloc[0] == pytest.approx(config.optimizer.lr)
    assert list(history["attempt"]) == [1.0, 1.0]
    assert 0.0 <= result.best_score <= 1.0
    assert result.model.checkpoint_metadata["best_epoch"] in (0, 1)
    with torch.no_grad():
        out = result.model(torch.zeros(1, 2, 64, 64))
    assert out.objectness.shape == (1, 1, 32, 32)
    # The work folder stays, marked finished, until the caller has saved the model.
    work = tmp_path / "work" / "cpu_small" / "fold_0"
    assert (work / FINISHED_FILE).is_file() and (work / "best.ckpt").is_file()
    assert clear_run(config, "cpu_small/fold_0") and not work.exists()


def test_finished_run_is_returned_again_without_training(
    tiny_tables: dict[str, object], tmp_path: Path
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=1)
    data = fold_data(tiny_tables)
    first = train_fold(config, data, "run")
    # As if the process had died before the model was saved: the rerun must not train.
    again = train_fold(config, data, "run", callbacks=[_FailAtStep(0)])
    pd.testing.assert_frame_equal(again.history, first.history)
    assert again.best_score == pytest.approx(first.best_score, nan_ok=True)
    assert again.best_epoch == first.best_epoch
    for a, b in zip(
        first.model.state_dict().values(), again.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b)
    # Changed parameters (one more epoch): the finished record is not reused, training
    # continues from the last checkpoint.
    longer = train_fold(tiny_config(tmp_path / "work", max_epochs=2), data, "run")
    assert list(longer.history["epoch"]) == [0.0, 1.0]
    assert list(longer.history["attempt"]) == [1.0, 2.0]


class _FailAtStep(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError("simulated crash")


class _KeyboardAtStep(_FailAtStep):
    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            raise KeyboardInterrupt


def test_resume_after_crash_continues_not_from_scratch(
    tiny_tables: dict[str, object], tmp_path: Path
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=3)
    data = fold_data(tiny_tables)
    # 2 steps per epoch: the crash happens in the middle of epoch 1 (after step 3).
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_fold(config, data, "run", callbacks=[_FailAtStep(3)])
    work = tmp_path / "work" / "run"
    assert any(work.glob("*.ckpt"))
    result = train_fold(config, data, "run")
    assert result.resumed_from is not None
    # The epoch finished before the crash is in the history, restored from the checkpoint;
    # the resumed run (attempt 2) trained the others.
    assert list(result.history["epoch"]) == [0.0, 1.0, 2.0]
    assert list(result.history["attempt"]) == [1.0, 2.0, 2.0]
    # Epochs resumed in the middle still record their learning rate and duration.
    assert result.history[["lr", "epoch_time_s"]].notna().all().all()
    assert (work / FINISHED_FILE).is_file()


def test_unreadable_newest_checkpoint_resumes_from_the_previous(
    tiny_tables: dict[str, object], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=3)
    data = fold_data(tiny_tables)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_fold(config, data, "run", callbacks=[_FailAtStep(3)])
    work = tmp_path / "work" / "run"
    newest = work / "step.ckpt"  # step 3, in epoch 1; last.ckpt is the end of epoch 0
    newest.write_bytes(newest.read_bytes()[:5000])  # truncated, as by a full disk
    with caplog.at_level(logging.WARNING, "xview3_pipeline.core.training.checkpoints"):
        result = train_fold(config, data, "run")
    assert Path(result.resumed_from).name in {"last.ckpt", "best.ckpt"}
    assert any(str(newest) in r.getMessage() for r in caplog.records)
    assert list(result.history["epoch"]) == [0.0, 1.0, 2.0]
    assert list(result.history["attempt"]) == [1.0, 2.0, 2.0]


def test_no_readable_checkpoint_starts_from_scratch(
    tiny_tables: dict[str, object], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=1)
    data = fold_data(tiny_tables)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_fold(config, data, "run", callbacks=[_FailAtStep(2)])
    work = tmp_path / "work" / "run"
    written = list(work.glob("*.ckpt"))
    assert written
    for path in written:
        path.write_bytes(b"\0" * 100)
    with caplog.at_level(logging.WARNING, "xview3_pipeline.core.training.checkpoints"):
        result = train_fold(config, data, "run")
    assert result.resumed_from is None
    assert any("from scratch" in r.getMessage() for r in caplog.records)
    assert list(result.history["attempt"]) == [1.0]


def test_keyboard_interrupt_keeps_checkpoints(
    tiny_tables: dict[str, object], tmp_path: Path
) -> None:
    # Lightning turns Ctrl-C into a graceful shutdown and exit status 1.
    config = tiny_config(tmp_path / "work", max_epochs=2)
    with pytest.raises(SystemExit):
        train_fold(config, fold_data(tiny_tables), "run", callbacks=[_KeyboardAtStep(2)])
    assert any((tmp_path / "work" / "run").glob("*.ckpt"))
    assert train_fold(config, fold_data(tiny_tables), "run").resumed_from is not None


def test_loss_falls_when_fitting_a_batch(tiny_tables: dict[str, object], tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = tiny_config(tmp_path / "work")
    coder = CircleNetCoder(CoderConfig())
    loader, _ = build_loaders(config, fold_data(tiny_tables), coder)
    batch = next(iter(loader))
    model = build_model("cpu_small")
    loss_fn = CircleNetLoss()
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(25):
        optimizer.zero_grad()
        terms = loss_fn(model(batch["image"]), batch_targets(batch), batch["sample_weight"])
        terms["total"].backward()
        optimizer.step()
        losses.append(float(terms["total"]))
    assert losses[-1] < 0.5 * losses[0]


def test_full_recipe_config_builds_and_runs_one_step(
    tiny_tables: dict[str, object], tmp_path: Path
) -> None:
    # Through Kedro's loader: the recipe's normalisation is a global of the environment.
    loader = OmegaConfigLoader(str(REPO / "conf"), base_env="base", default_run_env="xview3_full")
    block = copy.deepcopy(loader["parameters"]["training"])
    assert block["data"]["normalization"] == "sigmoid"
    assert block["model"]["preset"] in {"b4_unet_s2", "b5_unet_s2", "v2s_unet_s2"}
    block["data"].update(
        crop_size=64, batch_size=1, epoch_samples=1, num_workers=0, val_tile_size=128
    )
    block["trainer"].update(
        max_epochs=1, progress_bar=False, accelerator="cpu", devices=1, strategy="auto"
    )
    block["work_dir"] = str(tmp_path / "work")
    config = TrainingConfig.from_dict(block)
    result = train_fold(config, fold_data(tiny_tables), "full/fold_0")
    assert len(result.history) == 1 and pd.notna(result.history["train/total"]).all()


def test_a_work_folder_of_other_data_is_not_resumed(
    tiny_tables: dict[str, object], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=2)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_fold(config, fold_data(tiny_tables, 0), "run", callbacks=[_FailAtStep(3)])
    work = tmp_path / "work" / "run"
    assert any(work.glob("*.ckpt"))
    # The same folder now trains other scenes (a new fold split): it starts from scratch.
    with caplog.at_level(logging.WARNING, "xview3_pipeline.core.training.fit"):
        result = train_fold(config, fold_data(tiny_tables, 1), "run")
    assert result.resumed_from is None
    assert list(result.history["attempt"]) == [1.0, 1.0]
    assert any("other data" in r.getMessage() for r in caplog.records)
    # A finished run is reused only for its own data.
    again = train_fold(config, fold_data(tiny_tables, 0), "run")
    assert again.resumed_from is None and list(again.history["attempt"]) == [1.0, 1.0]
