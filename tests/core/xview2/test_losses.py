"""The winner's class-weighted cross-entropy."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from xview3_pipeline.core.xview2.losses import WINNER_CLASS_WEIGHTS, WeightedCrossEntropy


def batch(seed: int = 0, ignored: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 5, 8, 8, generator=generator) * 3
    target = torch.randint(0, 5, (2, 8, 8), generator=generator)
    target[torch.rand(2, 8, 8, generator=generator) < ignored] = 255
    return logits, target


def test_default_weights_are_the_winners() -> None:
    loss = WeightedCrossEntropy()
    assert WINNER_CLASS_WEIGHTS == (1.0, 1.0, 3.0, 3.0, 3.0)
    assert loss.weight.tolist() == [1.0, 1.0, 3.0, 3.0, 3.0] and loss.ignore_index == 255
    assert "weight" in loss.state_dict()


@pytest.mark.parametrize("weights", [(1, 1, 3, 3, 3), (0.5, 2.0, 1.0, 4.0, 0.0)])
def test_equals_torch_cross_entropy_with_weights_and_ignore(weights: tuple[float, ...]) -> None:
    logits, target = batch()
    ours_logits = logits.clone().requires_grad_(True)
    ref_logits = logits.clone().requires_grad_(True)
    ours = WeightedCrossEntropy(weights)(ours_logits, target)
    ref = F.cross_entropy(
        ref_logits, target, weight=torch.tensor(weights, dtype=torch.float32), ignore_index=255
    )
    torch.testing.assert_close(ours, ref)
    ours.backward()
    ref.backward()
    torch.testing.assert_close(ours_logits.grad, ref_logits.grad)


def test_weights_change_the_loss() -> None:
    logits, target = batch(1, ignored=0.0)
    plain = F.cross_entropy(logits, target)
    assert not torch.isclose(WeightedCrossEntropy()(logits, target), plain)
    torch.testing.assert_close(WeightedCrossEntropy((1, 1, 1, 1, 1))(logits, target), plain)


def test_ignored_pixels_do_not_count() -> None:
    logits, target = batch(2)
    loss = WeightedCrossEntropy()
    ignore_both = (target == 255).all(dim=0)
    changed = logits.clone()
    changed[..., ignore_both] += 100.0  # pixels ignored in every batch item
    assert ignore_both.any()
    torch.testing.assert_close(loss(changed, target), loss(logits, target))


def test_all_ignored_is_zero_with_zero_gradient() -> None:
    logits = torch.randn(1, 5, 4, 4, requires_grad=True)
    target = torch.full((1, 4, 4), 255)
    value = WeightedCrossEntropy()(logits, target)
    assert value.item() == 0.0
    value.backward()
    assert logits.grad is not None and (logits.grad == 0).all()


def test_integer_targets_of_other_dtypes() -> None:
    logits, target = batch(3)
    loss = WeightedCrossEntropy()
    torch.testing.assert_close(loss(logits, target.to(torch.int32)), loss(logits, target))


@pytest.mark.parametrize("weights", [(), (1, -1, 3), (1, float("nan")), (0, 0, 0)])
def test_invalid_weights(weights: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="weight"):
        WeightedCrossEntropy(weights)


def test_class_count_must_match_weights() -> None:
    logits, target = batch()
    with pytest.raises(ValueError, match="4 classes but there are 5 weights"):
        WeightedCrossEntropy()(logits[:, :4], target.clamp(max=3))


def test_shape_and_dtype_errors() -> None:
    logits, target = batch()
    loss = WeightedCrossEntropy()
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        loss(logits[0], target)
    with pytest.raises(ValueError, match="does not match"):
        loss(logits, target[:, :4])
    with pytest.raises(ValueError, match="integer"):
        loss(logits, target.float())
