"""xView2 training: configuration, validation counts, a tiny run, reuse and resume."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from xview3_pipeline.core.training.checkpoints import FINISHED_FILE, model_state
from xview3_pipeline.core.training.fit import clear_run, config_fingerprint, fit
from xview3_pipeline.core.xview2.metric import DAMAGE_CLASSES, HARMONIC_EPS, XView2MaskError
from xview3_pipeline.core.xview2.training import (
    EpochRandomSampler,
    Xview2System,
    Xview2TrainingConfig,
    batch_counts,
    build_xview2_loaders,
    train_xview2_model,
    xview2_fingerprint,
)

SIZE = 32
BLOCK = 8


def _easy_pair(seed: int, height: int = SIZE, width: int = SIZE, padded: int = SIZE):
    """Image whose channel c is high exactly where the mask is class c (c = 0..4)."""
    rng = np.random.default_rng(seed)
    n = -(-max(height, width) // BLOCK)
    classes = rng.permutation(np.repeat(np.arange(5), -(-n * n // 5)))[: n * n]
    grid = classes.reshape(n, n)
    mask = np.kron(grid, np.ones((BLOCK, BLOCK), dtype=np.int64))[:height, :width]
    image = np.zeros((6, padded, padded), dtype=np.float32)
    onehot = (mask[None] == np.arange(5)[:, None, None]).astype(np.float32)
    image[:5, :height, :width] = 2.0 * onehot - 1.0
    image += rng.normal(0, 0.1, image.shape).astype(np.float32)
    full = np.full((padded, padded), 255, dtype=np.int64)
    full[:height, :width] = mask
    return torch.from_numpy(image), torch.from_numpy(full)


class PairData(Dataset):
    """In-memory pairs with the items of the xView2 pair dataset."""

    def __init__(self, n: int, seed: int, *, height: int = SIZE, padded: int = SIZE) -> None:
        self.items = []
        for i in range(n):
            image, mask = _easy_pair(seed + i, height, height, padded)
            item = {"image": image, "mask": mask, "pair_id": f"p{seed + i}"}
            if padded != height:
                item |= {"height": height, "width": height}
            self.items.append(item)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, object]:
        return self.items[index]


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Conv2d(6, 5, kernel_size=1)


def tiny_config(work_dir: Path, **trainer: object) -> Xview2TrainingConfig:
    return Xview2TrainingConfig.from_dict(
        {
            "data": {"crop_size": SIZE, "batch_size": 4, "samples_per_epoch": 16, "num_workers": 0},
            "optimizer": {"lr": 0.2},
            "trainer": {
                "max_epochs": 2,
                "checkpoint_every_n_steps": 1,
                "log_every_n_steps": 1,
                "progress_bar": False,
                "accelerator": "cpu",
                **trainer,
            },
            "work_dir": str(work_dir),
        }
    )


@pytest.fixture(scope="module")
def data() -> tuple[PairData, PairData]:
    return PairData(6, seed=0), PairData(2, seed=100, height=40, padded=64)


class _FailAtStep(pl.Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step >= self.step:
            raise RuntimeError("simulated crash")


# ---------------------------------------------------------------------------- config
def test_defaults_are_the_winners() -> None:
    config = Xview2TrainingConfig.from_dict({})
    assert config.optimizer.name == "radam" and config.optimizer.weight_decay == 1e-5
    assert config.class_weights == (1.0, 1.0, 3.0, 3.0, 3.0)
    # An optimizer block overrides only what it names.
    config = Xview2TrainingConfig.from_dict(
        {"optimizer": {"lr": 3e-4}, "class_weights": [1, 2, 3, 4, 5]}
    )
    assert (config.optimizer.name, config.optimizer.lr) == ("radam", 3e-4)
    assert config.class_weights == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert config.fold_work_dir("a/fold_0") == Path(config.work_dir) / "a" / "fold_0"
    # The fingerprint of fit() covers every field.
    other = dataclasses.replace(config, class_weights=(1.0, 1.0, 1.0, 1.0, 1.0))
    assert config_fingerprint(config) != config_fingerprint(other)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": 3}, r"Unknown xview2_training key\(s\) \['epochs'\]"),
        ({"data": {"crop": 64}}, r"xview2_training.data key\(s\) \['crop'\]"),
        (
            {"data": {"crop_size": 100}},
            r"xview2_training.data.crop_size must be a positive multiple",
        ),
        (
            {"data": {"batch_size": 8, "samples_per_epoch": 4}},
            r"samples_per_epoch must be >= data.batch_size",
        ),
        (
            {"data": {"augmentations": "heavy"}},
            r"xview2_training.data.augmentations must be one of",
        ),
        ({"data": {"num_workers": 1.5}}, r"xview2_training.data.num_workers must be an integer"),
        ({"optimizer": {"name": "sgd"}}, r"xview2_training.optimizer.name must be one of"),
        ({"optimizer": {"momentum": 0.9}}, r"xview2_training.optimizer key\(s\) \['momentum'\]"),
        ({"trainer": {"patience": 0}}, r"xview2_training.trainer.patience must be"),
        ({"trainer": {"precision": "8"}}, r"xview2_training.trainer.precision must be one of"),
        ({"class_weights": [1, 1, 3]}, r"xview2_training.class_weights must be a list of 5"),
        ({"class_weights": [1, 1, 3, 3, -3]}, r"xview2_training.class_weights must be a list of 5"),
        ({"class_weights": "winner"}, r"xview2_training.class_weights must be a list of 5"),
        ({"work_dir": ""}, r"xview2_training.work_dir must be a folder path"),
        ([1, 2], r"xview2_training must be a mapping"),
    ],
)
def test_bad_config_is_refused_naming_the_parameter(values: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Xview2TrainingConfig.from_dict(values)  # type: ignore[arg-type]


def test_fingerprint_depends_on_the_pairs_not_their_order() -> None:
    assert xview2_fingerprint(["a", "b"], ["c"]) == xview2_fingerprint(["b", "a"], ["c"])
    assert xview2_fingerprint(["a", "b"], ["c"]) != xview2_fingerprint(["a", "c"], ["b"])
    assert xview2_fingerprint(["a"], labels="v1") != xview2_fingerprint(["a"], labels="v2")


# ---------------------------------------------------------------------- validation
def _perfect_logits(mask: torch.Tensor) -> torch.Tensor:
    return 10.0 * nn.functional.one_hot(mask.clamp(max=4), 5).permute(0, 3, 1, 2).float()


def test_batch_counts_ignore_padding_and_crop_to_the_image() -> None:
    _, mask = _easy_pair(1, 40, 40, 64)
    mask = mask[None]
    logits = _perfect_logits(mask)  # the padding (255) is predicted "destroyed"
    counts = batch_counts(logits, mask, heights=torch.tensor([40]), widths=torch.tensor([40]))
    assert counts.fp.sum() == 0 and counts.fn.sum() == 0
    assert counts.tp[0] == int(((mask > 0) & (mask < 255)).sum())
    # Pixels whose target is 255 count for nothing even without the image size.
    assert batch_counts(logits, mask) == counts
    # Padding labelled 0 and predicted as buildings: cropped away with the size, else FPs.
    zero_pad = mask.masked_fill(mask == 255, 0)
    assert batch_counts(logits, zero_pad, heights=[40], widths=[40]) == counts
    assert batch_counts(logits, zero_pad).fp[0] == 64 * 64 - 40 * 40
    with pytest.raises(ValueError, match=r"Image sizes \[80\]"):
        batch_counts(logits, mask, heights=[80])
    with pytest.raises(
        XView2MaskError, match=r"pair x target localization: mask values must be 0..4, found \[7\]"
    ):
        batch_counts(logits, mask.masked_fill(mask == 255, 7), pair_ids=["x"])


def test_sampler_draws_are_a_function_of_seed_and_epoch() -> None:
    sampler = EpochRandomSampler(5, 12, seed=3)
    first = list(sampler)
    assert len(first) == len(sampler) == 12 and set(first) == set(range(5))
    assert list(sampler) == first
    sampler.set_epoch(1)
    assert list(sampler) != first
    with pytest.raises(ValueError, match="non-empty"):
        EpochRandomSampler(0, 4, seed=0)


# ------------------------------------------------------------------------ training
def test_two_epochs_learn_and_keep_the_best_by_score(
    data: tuple[PairData, PairData], tmp_path: Path
) -> None:
    config = tiny_config(tmp_path / "work")
    train, val = data
    fingerprint = xview2_fingerprint(["p0"], ["p100"])
    result = train_xview2_model(
        tiny_model(), train, val, config, "tiny/fold_0", data_fingerprint=fingerprint
    )
    history = result.history
    assert list(history["epoch"]) == [0.0, 1.0]
    columns = ["train/loss", "val/loss", "val/score", "val/localization_f1", "val/damage_f1"]
    columns += [f"val/damage_f1_{name}" for name in DAMAGE_CLASSES]
    assert history[columns].notna().all().all()
    assert history["lr"].iloc[0] == pytest.approx(0.2)
    assert history["train/loss"].iloc[1] < history["train/loss"].iloc[0]
    # The pattern is easy: the best epoch scores well, and it is the one returned.
    assert result.best_score == pytest.approx(history["val/score"].max())
    assert result.best_score > 0.6
    assert result.best_epoch == int(history.loc[history["val/score"].idxmax(), "epoch"])
    assert result.model.checkpoint_metadata["best_val_score"] == result.best_score
    work = tmp_path / "work" / "tiny" / "fold_0"
    assert (work / FINISHED_FILE).is_file()
    # Every checkpoint loads with weights_only=True; best.ckpt holds the returned weights.
    for path in work.glob("*.ckpt"):
        torch.load(path, map_location="cpu", weights_only=True)
    best = model_state(torch.load(work / "best.ckpt", map_location="cpu", weights_only=True))
    for name, value in result.model.state_dict().items():
        torch.testing.assert_close(best[name], value)
    # The returned model predicts the validation pattern.
    item = val[0]
    with torch.no_grad():
        pred = result.model(item["image"][None]).argmax(1)[0]
    inside = item["mask"] != 255
    assert (pred[inside] == item["mask"][inside]).float().mean() > 0.8
    assert clear_run(config, "tiny/fold_0") and not work.exists()


def test_finished_run_is_returned_without_training(
    data: tuple[PairData, PairData], tmp_path: Path
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=1)
    first = train_xview2_model(tiny_model(), *data, config, "run")
    # A fresh network and a callback that would crash at the first step: not trained.
    again = train_xview2_model(tiny_model(), *data, config, "run", callbacks=[_FailAtStep(0)])
    assert again.seconds == 0.0 and again.resumed_from is not None
    pd.testing.assert_frame_equal(again.history, first.history)
    assert again.best_score == pytest.approx(first.best_score)
    for a, b in zip(
        first.model.state_dict().values(), again.model.state_dict().values(), strict=True
    ):
        torch.testing.assert_close(a, b)


def test_crashed_run_resumes_where_it_stopped(
    data: tuple[PairData, PairData], tmp_path: Path
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=3)
    # 4 steps per epoch: the crash happens in the middle of epoch 1 (after step 6).
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_xview2_model(tiny_model(), *data, config, "run", callbacks=[_FailAtStep(6)])
    work = tmp_path / "work" / "run"
    assert any(work.glob("*.ckpt")) and not (work / FINISHED_FILE).exists()
    result = train_xview2_model(tiny_model(), *data, config, "run")
    assert result.resumed_from is not None
    assert list(result.history["epoch"]) == [0.0, 1.0, 2.0]
    assert list(result.history["attempt"]) == [1.0, 2.0, 2.0]
    assert result.history["val/score"].notna().all()
    assert (work / FINISHED_FILE).is_file()


def test_without_validation_the_last_epoch_is_returned(
    data: tuple[PairData, PairData], tmp_path: Path
) -> None:
    config = tiny_config(tmp_path / "work", max_epochs=1)
    result = train_xview2_model(tiny_model(), data[0], None, config, "run")
    assert np.isnan(result.best_score) and "val/score" not in result.history
    assert (tmp_path / "work" / "run" / "last.ckpt").is_file()


def test_a_perfect_model_scores_one_through_the_system(
    data: tuple[PairData, PairData], tmp_path: Path
) -> None:
    class Oracle(nn.Module):
        """Reads the class off the image channels; one learnable scalar for the optimiser."""

        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(()))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 10.0 * x[:, :5] * self.scale.detach() + 0.0 * self.scale

    config = tiny_config(tmp_path / "work", max_epochs=1)
    train_loader, val_loader = build_xview2_loaders(data[0], data[1], config)
    system = Xview2System(Oracle(), optim=config.optimizer, max_epochs=1)
    result = fit(system, train_loader, val_loader, config, "oracle", monitor="val/score")
    row = result.history.iloc[0]
    assert row["val/localization_f1"] == pytest.approx(1.0)
    assert row["val/score"] == pytest.approx(1.0 + 0.7 * HARMONIC_EPS)


def test_fit_refuses_a_system_without_a_network(tmp_path: Path) -> None:
    class NoModel(pl.LightningModule):
        pass

    config = tiny_config(tmp_path / "work")
    with pytest.raises(TypeError, match="NoModel has no `model` network"):
        fit(NoModel(), None, None, config, "run")  # type: ignore[arg-type]
