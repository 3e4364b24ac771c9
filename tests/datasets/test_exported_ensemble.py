"""ExportedEnsembleDataset: round trip, corrupt archives refused, failed exports leave nothing."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from kedro.io import DatasetError
from kedro.io.core import Version
from torch import nn

from tests.conftest import overwrite_member
from xview3_pipeline.core.detection.cnn.ensemble import CircleNetEnsemble
from xview3_pipeline.core.errors import ModelFileError
from xview3_pipeline.datasets import ExportedEnsembleDataset

SHAPE = (2, 2, 32, 32)


class TinyNet(nn.Module):
    """Five maps at stride 2 from two convolutions (a fast stand-in for a CircleNet)."""

    output_stride = 2

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(2, 64, 3, padding=1)  # 4.6 KB of weights
        self.conv = nn.Conv2d(64, 6, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        y = F.avg_pool2d(self.conv(self.features(x).relu()), 2)
        return y[:, :1], y[:, 1:2], y[:, 2:3], y[:, 3:4], y[:, 4:6].sigmoid()


class Unexportable(nn.Module):
    """Data-dependent control flow: ``torch.export`` refuses it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return x
        return -x


def ensemble() -> CircleNetEnsemble:
    torch.manual_seed(0)
    ens = CircleNetEnsemble([TinyNet(), TinyNet()], flip_tta=True)
    ens.export_shape = SHAPE
    return ens


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("export") / "ensemble.pt2"
    ExportedEnsembleDataset(filepath=str(path)).save(ensemble())
    return path


@pytest.fixture
def copy(exported: Path, tmp_path: Path) -> Path:
    target = tmp_path / "ensemble.pt2"
    target.write_bytes(exported.read_bytes())
    return target


def _load_error(path: Path) -> str:
    with pytest.raises((DatasetError, ModelFileError)) as excinfo:
        ExportedEnsembleDataset(filepath=str(path)).load()
    assert str(path) in str(excinfo.value)
    return str(excinfo.value)


def test_round_trip(exported: Path) -> None:
    loaded = ExportedEnsembleDataset(filepath=str(exported)).load()
    x = torch.rand(3, 2, 32, 32)
    with torch.no_grad():
        for a, b in zip(ensemble()(x), loaded(x), strict=True):
            torch.testing.assert_close(b, a)


def test_overwritten_weights_are_refused(copy: Path) -> None:
    # 4 KB of a weight overwritten: torch.export.load alone would load NaN weights.
    member = overwrite_member(copy, "weights/weight_0", n_bytes=4096)
    unchecked = torch.export.load(copy).state_dict
    assert not all(torch.isfinite(t).all() for t in unchecked.values())
    assert f"member '{member}' does not match its CRC-32" in _load_error(copy)


def test_truncated_archive_is_refused(copy: Path) -> None:
    copy.write_bytes(copy.read_bytes()[: copy.stat().st_size // 2])
    assert "truncated" in _load_error(copy)


def test_unloadable_program_is_refused(copy: Path, tmp_path: Path) -> None:
    # A consistent archive (CRCs right) whose graph is not a program.
    bad = tmp_path / "bad.pt2"
    with zipfile.ZipFile(copy) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("models/model.json"):
                data = b'{"not": "a program"}'
            dst.writestr(item, data)
    assert "cannot be loaded as an exported ensemble" in _load_error(bad)


def test_non_finite_weights_with_valid_archive_are_refused(tmp_path: Path) -> None:
    ens = ensemble()
    path = tmp_path / "nan.pt2"
    ExportedEnsembleDataset(filepath=str(path)).save(ens)
    # Rewrite one weight as NaN and rebuild the archive with correct CRCs.
    rewritten = tmp_path / "rewritten.pt2"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(rewritten, "w") as dst:
        weights = [i for i in src.infolist() if "/weights/weight_" in i.filename]
        target = max(weights, key=lambda i: i.file_size).filename
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == target:
                data = b"\xff" * len(data)
            dst.writestr(item, data)
    message = _load_error(rewritten)
    assert "non-finite" in message and "tensor 'models." in message


def test_export_of_non_finite_weights_is_refused(tmp_path: Path) -> None:
    ens = ensemble()
    with torch.no_grad():
        ens.models[1].conv.bias[0] = float("nan")
    root = tmp_path / "ensemble.pt2"
    with pytest.raises(DatasetError, match=r"models\.1\.conv\.bias"):
        ExportedEnsembleDataset(filepath=str(root), version=Version(None, None)).save(ens)
    assert not root.exists()


def test_failed_export_leaves_no_version_folder(exported: Path, tmp_path: Path) -> None:
    module = Unexportable()
    module.export_shape = SHAPE
    root = tmp_path / "ensemble.pt2"
    (root / "v1").mkdir(parents=True)
    (root / "v1" / "ensemble.pt2").write_bytes(exported.read_bytes())
    dataset = ExportedEnsembleDataset(filepath=str(root), version=Version(None, "v2"))
    with pytest.raises(DatasetError):
        dataset.save(module)
    assert [p.name for p in root.iterdir()] == ["v1"]
    assert [p.name for p in (root / "v1").iterdir()] == ["ensemble.pt2"]
    # Also on a fresh project: the dataset's own folder is not left behind.
    fresh = tmp_path / "fresh" / "ensemble.pt2"
    with pytest.raises(DatasetError):
        ExportedEnsembleDataset(filepath=str(fresh), version=Version(None, None)).save(module)
    assert not (tmp_path / "fresh").exists()
