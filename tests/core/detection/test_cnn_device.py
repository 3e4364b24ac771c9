"""Device handling of CNN inference: explicit devices, memory format, AMP, torch.compile.

The code is device agnostic and runs here on CPU; the CUDA path (pinned batches,
accumulators and decoding on the GPU) is exercised by ``benchmarks/gpu_check.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import torch
from kedro.config import OmegaConfigLoader
from torch import nn

from tests.core.detection.reference import predict_scene_reference
from tests.core.detection.test_cnn import (
    CentroidModel,
    _many_peaks_scene,
    background,
    config,
    write_sar,
)
from xview3_pipeline.core.data.normalization import build_normalization
from xview3_pipeline.core.detection.bands import ArrayBands
from xview3_pipeline.core.detection.cnn import (
    CircleNetEnsemble,
    InferenceConfig,
    TileGrid,
    predict_scene,
)
from xview3_pipeline.core.detection.cnn import forward as forward_module
from xview3_pipeline.core.detection.cnn.prefetch import TileBatch, tile_batches
from xview3_pipeline.core.detection.cnn.run import StreamingSink, run_scene
from xview3_pipeline.core.detection.georef import add_scene_columns, scene_shoreline
from xview3_pipeline.core.types import CircleNetOutputs


def test_accumulator_and_peaks_on_an_explicit_cpu_device(tmp_path: Path) -> None:
    scene, _ = _many_peaks_scene(tmp_path)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=True)
    cfg = config(device="cpu")
    devices: list[torch.device] = []

    def explicit_cpu(grid, cfg_, bands, device):
        devices.append(device)
        sink = StreamingSink(grid, cfg_, bands, torch.device("cpu"))
        assert sink.acc.acc.device == torch.device("cpu")
        assert sink.acc.weight.device == torch.device("cpu")
        return sink

    _, frame = run_scene(ens, scene, cfg, explicit_cpu)
    explicit = add_scene_columns(frame, scene, scene_shoreline(scene))
    assert devices == [torch.device("cpu")]
    default = predict_scene(ens, scene, cfg)
    assert explicit.equals(default)
    reference = predict_scene_reference(ens, scene, cfg)
    pd.testing.assert_frame_equal(explicit, reference, check_exact=False, rtol=0, atol=1e-5)
    assert len(explicit) > 200


class _Recorder(nn.Module):
    """A CentroidModel behind a conv, recording what each call sees."""

    output_stride = 2

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1, bias=False)  # identity
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[:, :, 1, 1] = torch.eye(2)
        self.inner = CentroidModel()
        self.seen: list[tuple[bool, torch.dtype, bool, str]] = []

    def forward(self, x: torch.Tensor) -> CircleNetOutputs:
        self.seen.append(
            (
                x.is_contiguous(memory_format=torch.channels_last),
                x.dtype,
                torch.is_autocast_enabled(x.device.type),
                x.device.type,
            )
        )
        return self.inner(self.conv(x))


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_and_amp_as_configured_on_cpu(tmp_path: Path, channels_last: bool) -> None:
    scene, _ = _many_peaks_scene(tmp_path)
    model = _Recorder()
    cfg = config(device="cpu", channels_last=channels_last, amp=True, amp_dtype="bfloat16")
    out = predict_scene(model, scene, cfg)
    assert len(out) > 200
    weight_cl = model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert weight_cl == channels_last
    # AMP autocasts on CUDA only: on CPU the model runs in float32.
    assert set(model.seen) == {(channels_last, torch.float32, False, "cpu")}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="pinned memory needs CUDA")
def test_batches_pinned_for_cuda() -> None:
    array = torch.randn(2, 100, 130).numpy()
    grid = TileGrid.build(100, 130, 64, 48)
    items = tile_batches(
        ArrayBands(array), grid, 2, build_normalization("sigmoid"), pin_memory=True
    )
    assert all(i.tiles.is_pinned() for i in items if isinstance(i, TileBatch))


def test_compile_option_builds_once_and_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compile: true`` goes through torch.compile (Dynamo; the eager backend, fast)."""
    calls: list[nn.Module] = []
    original = torch.compile

    def eager_compile(model, **kwargs):
        calls.append(model)
        return original(model, backend="eager", **kwargs)

    monkeypatch.setattr(forward_module.torch, "compile", eager_compile)
    torch._dynamo.reset()
    vv = background(100, 150)
    vv[[20, 51, 90], [30, 77, 140]] = 5.0
    scene = write_sar(tmp_path, vv)  # 3 bands of 3 tiles: one batch shape
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=True)
    plain = predict_scene(ens, scene, config())
    compiled = [predict_scene(ens, scene, config(compile=True)) for _ in range(2)]
    assert len(plain) == 3
    assert calls == [ens]  # once per model and device, not per scene
    for frame in compiled:
        pd.testing.assert_frame_equal(frame, plain, check_exact=False, rtol=0, atol=1e-6)


@pytest.mark.skipif(
    os.environ.get("XVIEW3_TEST_TORCH_COMPILE") != "1",
    reason=(
        "torch.compile with inductor on CPU builds C++ kernels: ~100 s cold and ~14 s with "
        "a warm cache for a one-conv model on this 2-core machine; set "
        "XVIEW3_TEST_TORCH_COMPILE=1 to run it"
    ),
)
def test_compile_option_with_inductor(tmp_path: Path) -> None:
    torch._dynamo.reset()
    scene, _ = _many_peaks_scene(tmp_path)
    ens = CircleNetEnsemble([CentroidModel()], flip_tta=False)
    plain = predict_scene(ens, scene, config())
    compiled = predict_scene(ens, scene, config(compile=True))
    pd.testing.assert_frame_equal(compiled, plain, check_exact=False, rtol=0, atol=1e-4)


def test_base_parameters_prefetch_and_do_not_compile() -> None:
    conf = Path(__file__).parents[3] / "conf"
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env="base")
    cfg = InferenceConfig.from_dict(dict(loader["parameters"]["inference"]))
    assert (cfg.prefetch, cfg.compile) == (2, False)
    assert cfg.normalization == "centred"  # the global, as training reads it
    assert InferenceConfig.from_dict({"compile": True}).compile is True
