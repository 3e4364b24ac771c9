"""Safe reading and atomic writing of model files: integrity, no code on load, finite."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from tests.conftest import CreatesFile, overwrite_member
from xview3_pipeline.core.errors import ModelFileError
from xview3_pipeline.core.serialization import (
    atomic_torch_save,
    atomic_write_path,
    check_finite_tensors,
    first_non_finite,
    safe_torch_load,
)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b.pt"
    atomic_torch_save({"w": torch.arange(3.0), "n": 1}, path)
    loaded = safe_torch_load(path)
    assert loaded["n"] == 1 and torch.equal(loaded["w"], torch.arange(3.0))
    assert [p.name for p in path.parent.iterdir()] == ["b.pt"]


@pytest.mark.parametrize("as_zip", [True, False], ids=["torch_save", "raw_pickle"])
def test_code_in_pickle_never_runs(tmp_path: Path, as_zip: bool) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"w": torch.zeros(2), "x": CreatesFile(marker)}
    if as_zip:
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    assert not marker.exists()
    with pytest.raises(ModelFileError) as excinfo:
        safe_torch_load(path)
    message = str(excinfo.value)
    assert str(path) in message and "weights_only" not in message
    if as_zip:
        assert "io.open" in message and "Nothing of it was executed" in message
    assert not marker.exists()


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save({"w": torch.randn(20_000)}, path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ModelFileError, match=rf"{path}.*truncated"):
        safe_torch_load(path)


def test_overwritten_bytes_are_refused_by_crc(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save({"w": torch.randn(20_000)}, path)
    member = overwrite_member(path, "data/0")
    # torch.load alone does not notice: the tensor silently holds NaN.
    assert not torch.isfinite(torch.load(path, weights_only=True)["w"]).all()
    with pytest.raises(ModelFileError, match=rf"{path} is corrupt: member '{member}'"):
        safe_torch_load(path)


def test_non_finite_tensor_is_named() -> None:
    state = {"a": {"b": torch.ones(3), "c": torch.tensor([1.0, float("inf")])}, "i": 3}
    assert first_non_finite(state) == "a.c"
    assert first_non_finite([torch.ones(1), torch.full((2,), float("nan"))]) == "[1]"
    assert first_non_finite({"ints": torch.arange(3)}) is None
    with pytest.raises(ModelFileError, match=r"model\.pt .*tensor 'a\.c'"):
        check_finite_tensors(state, name="model.pt")


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "models" / "v1" / "model.pt"
    with pytest.raises(RuntimeError, match="disk full"), atomic_write_path(path) as tmp:
        tmp.write_bytes(b"partial")
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []
    # An existing file is kept when its replacement fails.
    path.parent.mkdir(parents=True)
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write_path(path) as tmp:
        tmp.write_bytes(b"new, partial")
        raise RuntimeError
    assert path.read_bytes() == b"old" and [p.name for p in path.parent.iterdir()] == ["model.pt"]
