"""xView2 inference: TTA, padding to the model's input multiple, probability storage."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from xview3_pipeline.core.xview2.inference import (
    Xview2InferenceConfig,
    load_probabilities,
    predict_dataset,
    predict_probabilities,
    probabilities_from_bytes,
    probabilities_to_bytes,
    save_probabilities,
)


class Pointwise(nn.Module):
    """A 1x1 convolution 6 -> 5: flip-equivariant, blind to padding."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(6, 5, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Asymmetric(nn.Module):
    """A 3x3 convolution with random weights that checks the input multiple.

    Records each input shape and whether it ran in training mode.
    """

    def __init__(self, input_multiple: int | None = None) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(6, 5, kernel_size=3, padding=1)
        self.dropout = nn.Dropout(0.9)
        if input_multiple is not None:
            self.input_multiple = input_multiple
        self.seen: list[tuple[tuple[int, ...], bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        multiple = getattr(self, "input_multiple", 32)
        assert x.shape[-2] % multiple == 0 and x.shape[-1] % multiple == 0, x.shape
        self.seen.append((tuple(x.shape), self.training))
        return self.conv(self.dropout(x)) * 3.0


def image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(6, height, width, generator=generator)


@pytest.mark.parametrize("tta", ["flip", "flipscale"])
def test_tta_of_a_flip_equivariant_model_equals_its_plain_output(tta: str) -> None:
    model, x = Pointwise(), image(32, 32)
    plain = predict_probabilities(model, x, "none")
    if tta == "flip":
        np.testing.assert_allclose(predict_probabilities(model, x, "flip"), plain, atol=1e-6)
    else:
        # Resizing mixes pixels, so only a constant image is scale-invariant.
        flat = x[:, :1, :1].expand(6, 32, 32).contiguous()
        np.testing.assert_allclose(
            predict_probabilities(model, flat, "flipscale"),
            predict_probabilities(model, flat, "none"),
            atol=1e-6,
        )


def test_plain_output_is_the_softmax_of_the_logits() -> None:
    model, x = Pointwise(), image(32, 64)
    with torch.no_grad():
        expected = model(x[None]).softmax(dim=1)[0].numpy()
    probs = predict_probabilities(model, x, "none")
    assert probs.dtype == np.float32 and probs.shape == (5, 32, 64)
    np.testing.assert_allclose(probs, expected, atol=1e-6)


def test_flip_tta_of_an_asymmetric_model_differs_and_is_flip_equivariant() -> None:
    model, x = Asymmetric(), image(32, 64)
    plain = predict_probabilities(model, x, "none")
    tta = predict_probabilities(model, x, "flip")
    assert np.abs(tta - plain).max() > 1e-3
    np.testing.assert_allclose(tta.sum(axis=0), 1.0, atol=1e-5)
    for dims in ((2,), (1,), (1, 2)):
        flipped = predict_probabilities(model, x.flip(dims), "flip")
        np.testing.assert_allclose(flipped, np.flip(tta, axis=dims), atol=1e-6)


def test_horizontal_only_flips_are_equivariant_to_horizontal_flips_only() -> None:
    model, x = Asymmetric(), image(32, 32)
    tta = predict_probabilities(model, x, "flip", flips="h")
    assert len(model.seen[-1]) and model.seen[-1][0][0] == 2  # two views in one batch
    np.testing.assert_allclose(
        predict_probabilities(model, x.flip(2), "flip", flips="h"), np.flip(tta, 2), atol=1e-6
    )
    vertical = predict_probabilities(model, x.flip(1), "flip", flips="h")
    assert np.abs(vertical - np.flip(tta, 1)).max() > 1e-3


def test_model_runs_in_eval_mode_and_its_mode_is_restored() -> None:
    model = Asymmetric()
    model.train()
    x = image(32, 32)
    first = predict_probabilities(model, x, "flip")
    np.testing.assert_array_equal(first, predict_probabilities(model, x, "flip"))
    assert all(not training for _, training in model.seen)
    assert model.training


@pytest.mark.parametrize(("multiple", "padding"), [(None, "reflect"), (8, "zero"), (16, "reflect")])
def test_odd_sizes_are_padded_to_the_input_multiple_and_cropped_back(
    multiple: int | None, padding: str
) -> None:
    model = Asymmetric(multiple)
    probs = predict_probabilities(model, image(37, 29), "flip", padding=padding)  # type: ignore[arg-type]
    assert probs.shape == (5, 37, 29)
    step = multiple or 32
    expected = (-(-37 // step) * step, -(-29 // step) * step)
    assert model.seen[-1][0] == (4, 6, *expected)


def test_padding_keeps_pixels_in_place() -> None:
    model, x = Pointwise(), image(37, 29)
    with torch.no_grad():
        expected = model(x[None]).softmax(dim=1)[0].numpy()
    for padding in ("reflect", "zero"):
        probs = predict_probabilities(model, x, "flip", padding=padding)  # type: ignore[arg-type]
        np.testing.assert_allclose(probs, expected, atol=1e-6)


def test_tiny_image_pads_even_where_reflection_cannot() -> None:
    probs = predict_probabilities(Asymmetric(), image(3, 5), "flip")
    assert probs.shape == (5, 3, 5)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)


def test_flipscale_shape_and_views() -> None:
    model = Asymmetric()
    probs = predict_probabilities(model, image(40, 24), "flipscale", scales=(0.5, 1.0, 1.5))
    assert probs.shape == (5, 40, 24)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    assert [shape[0] for shape, _ in model.seen] == [4, 4, 4]
    assert sorted(shape[2:] for shape, _ in model.seen) == [(32, 32), (64, 32), (64, 64)]
    flip_only = predict_probabilities(model, image(40, 24), "flip")
    assert np.abs(probs - flip_only).max() > 1e-4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tta": "d4"}, "Unknown tta"),
        ({"tta": "flip", "flips": "v"}, "Unknown flips"),
        ({"tta": "flipscale", "scales": (1.0, 0.0)}, "positive scales"),
    ],
)
def test_bad_options_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        predict_probabilities(Pointwise(), image(8, 8), **kwargs)


def test_bad_image_and_bad_model_output_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(6, H, W\)"):
        predict_probabilities(Pointwise(), torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="normalised floats"):
        predict_probabilities(Pointwise(), torch.zeros(6, 8, 8, dtype=torch.uint8))
    wrong = nn.Conv2d(6, 3, kernel_size=1)
    with pytest.raises(ValueError, match="logits"):
        predict_probabilities(wrong, image(8, 8))


def test_predict_dataset_crops_the_dataset_padding() -> None:
    model = Pointwise()
    raw = [image(20, 30, seed=1), image(32, 32, seed=2)]
    items = [
        {
            "image": torch.nn.functional.pad(raw[0], (0, 2, 0, 12)),
            "pair_id": "a_1",
            "height": 20,
            "width": 30,
        },
        {"image": raw[1], "pair_id": "b_2"},
    ]
    out = list(predict_dataset(model, items, "flip"))
    assert [(pair_id, size) for pair_id, _, size in out] == [("a_1", (20, 30)), ("b_2", (32, 32))]
    for (_, probs, _), x in zip(out, raw, strict=True):
        np.testing.assert_allclose(probs, predict_probabilities(model, x, "flip"), atol=1e-6)


def test_predict_dataset_refuses_bad_items() -> None:
    with pytest.raises(KeyError, match="pair_id"):
        list(predict_dataset(Pointwise(), [{"image": image(8, 8)}], "none"))
    bad = [{"image": image(8, 8), "pair_id": "p", "height": 9, "width": 8}]
    with pytest.raises(ValueError, match="Pair p"):
        list(predict_dataset(Pointwise(), bad, "none"))


def random_probabilities(height: int = 17, width: int = 23) -> np.ndarray:
    logits = np.random.default_rng(3).normal(size=(5, height, width)) * 3
    probs = np.exp(logits)
    return (probs / probs.sum(axis=0)).astype(np.float32)


@pytest.mark.parametrize(("encoding", "tolerance"), [("float16", 2.5e-4), ("uint8", 0.5 / 255)])
def test_storage_round_trip_within_quantisation(
    tmp_path: Path, encoding: str, tolerance: float
) -> None:
    probs = random_probabilities()
    data = probabilities_to_bytes(probs, encoding)  # type: ignore[arg-type]
    back = probabilities_from_bytes(data)
    assert back.dtype == np.float32 and back.shape == probs.shape
    assert np.abs(back - probs).max() <= tolerance + 1e-7
    path = save_probabilities(tmp_path / "oof", "pair_7", probs, encoding)  # type: ignore[arg-type]
    assert path == tmp_path / "oof" / "pair_7.npz"
    assert [p.name for p in path.parent.iterdir()] == ["pair_7.npz"]
    np.testing.assert_array_equal(load_probabilities(tmp_path / "oof", "pair_7"), back)


def test_uint8_is_smaller_than_float16() -> None:
    probs = random_probabilities(64, 64)
    assert len(probabilities_to_bytes(probs, "uint8")) < len(
        probabilities_to_bytes(probs, "float16")
    )


def test_storage_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        probabilities_to_bytes(random_probabilities() * 2)
    with pytest.raises(ValueError, match=r"\(5, H, W\)"):
        probabilities_to_bytes(np.zeros((4, 2, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="Unknown encoding"):
        probabilities_to_bytes(random_probabilities(), "int4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot name a file"):
        save_probabilities(tmp_path, "../x", random_probabilities())
    with pytest.raises(FileNotFoundError, match="pair q"):
        load_probabilities(tmp_path, "q")
    (tmp_path / "junk.npz").write_bytes(b"not an npz")
    with pytest.raises(ValueError, match=r"junk\.npz"):
        load_probabilities(tmp_path, "junk")


def test_inference_config_from_parameters() -> None:
    config = Xview2InferenceConfig.from_dict({"tta": "flipscale", "scales": [0.5, 1], "flips": "h"})
    assert config.scales == (0.5, 1.0)
    kwargs = config.predict_kwargs()
    assert kwargs == {"tta": "flipscale", "scales": (0.5, 1.0), "flips": "h", "padding": "reflect"}
    probs = predict_probabilities(Pointwise(), image(16, 16), **kwargs)
    assert probs.shape == (5, 16, 16)
    assert Xview2InferenceConfig.from_dict(None) == Xview2InferenceConfig()
    with pytest.raises(ValueError, match="ttta"):
        Xview2InferenceConfig.from_dict({"ttta": "flip"})
    with pytest.raises(ValueError, match="encoding"):
        Xview2InferenceConfig(encoding="int4")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="scales"):
        Xview2InferenceConfig(scales=())
