"""CircleNetCheckpointDataset: round trip, and every bad file refused with its name."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from kedro.io import DatasetError
from kedro.io.core import Version

from tests.conftest import CreatesFile, overwrite_member
from xview3_pipeline.core.errors import ModelFileError
from xview3_pipeline.core.models import build_model
from xview3_pipeline.datasets import CircleNetCheckpointDataset


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    net = build_model("cpu_small").eval()
    net.checkpoint_metadata = {"fold": 1, "best_val_aggregate": 0.5}
    return net


@pytest.fixture
def saved(model: torch.nn.Module, tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    CircleNetCheckpointDataset(filepath=str(path)).save(model)
    return path


def _load_error(path: Path) -> str:
    with pytest.raises((DatasetError, ModelFileError)) as excinfo:
        CircleNetCheckpointDataset(filepath=str(path)).load()
    message = str(excinfo.value)
    assert str(path) in message
    assert "weights_only=False" not in message
    return message


def test_round_trip_is_versioned(model: torch.nn.Module, tmp_path: Path) -> None:
    dataset = CircleNetCheckpointDataset(
        filepath=str(tmp_path / "model.pt"), version=Version(None, None)
    )
    dataset.save(model)
    loaded = dataset.load()
    assert loaded.config == model.config and loaded.checkpoint_metadata["fold"] == 1
    assert not loaded.training
    x = torch.randn(1, 2, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x).objectness, model(x).objectness)
    (version,) = (tmp_path / "model.pt").iterdir()
    assert [p.name for p in version.iterdir()] == ["model.pt"]


def test_encoder_weights_file_is_not_needed_to_load(model: torch.nn.Module, tmp_path: Path) -> None:
    weights = tmp_path / "encoder.pth"
    torch.save(model.encoder.model.state_dict(), weights)
    trained = build_model("cpu_small", encoder_weights=str(weights))
    path = tmp_path / "model.pt"
    CircleNetCheckpointDataset(filepath=str(path)).save(trained)
    weights.unlink()  # the checkpoint is loaded on another machine
    loaded = CircleNetCheckpointDataset(filepath=str(path)).load()
    assert loaded.config.encoder_weights == str(weights)


def test_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "state_dict": {}, "x": CreatesFile(marker)}, path)
    message = _load_error(path)
    assert "could run code" in message
    assert not marker.exists()


def test_truncated_checkpoint_is_refused(saved: Path) -> None:
    saved.write_bytes(saved.read_bytes()[: saved.stat().st_size // 3])
    assert "truncated" in _load_error(saved)


def test_overwritten_weights_are_refused(saved: Path) -> None:
    member = overwrite_member(saved, "")  # the largest member: a weight tensor
    assert f"member '{member}' does not match its CRC-32" in _load_error(saved)


def test_non_finite_weights_are_refused_on_load_and_save(
    model: torch.nn.Module, tmp_path: Path
) -> None:
    path = tmp_path / "nan.pt"
    checkpoint = {
        "format": 1,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.clone() for k, v in model.state_dict().items()},
        "metadata": {},
    }
    checkpoint["state_dict"]["head.objectness_up.1.bias"].fill_(float("nan"))
    torch.save(checkpoint, path)  # valid archive, CRCs right: only the values are bad
    assert "'head.objectness_up.1.bias'" in _load_error(path)
    broken = build_model("cpu_small")
    with torch.no_grad():
        broken.head.objectness_up[1].bias.fill_(float("inf"))
    target = tmp_path / "out" / "model.pt"
    dataset = CircleNetCheckpointDataset(filepath=str(target), version=Version(None, None))
    with pytest.raises(DatasetError, match=r"objectness_up\.1\.bias"):
        dataset.save(broken)
    assert not target.exists()


def test_failed_save_leaves_no_version_folder(model: torch.nn.Module, tmp_path: Path) -> None:
    unpicklable = build_model("cpu_small")
    unpicklable.checkpoint_metadata = {"callback": lambda: None}  # torch.save fails
    root = tmp_path / "model.pt"
    dataset = CircleNetCheckpointDataset(filepath=str(root), version=Version(None, None))
    with pytest.raises(DatasetError):
        dataset.save(unpicklable)
    assert not root.exists()
    # With earlier versions present, only the failed version's folder goes.
    CircleNetCheckpointDataset(filepath=str(root), version=Version(None, "v1")).save(model)
    with pytest.raises(DatasetError):
        CircleNetCheckpointDataset(filepath=str(root), version=Version(None, "v2")).save(
            unpicklable
        )
    assert [p.name for p in root.iterdir()] == ["v1"]
    assert [p.name for p in (root / "v1").iterdir()] == ["model.pt"]
