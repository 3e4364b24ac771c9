"""Tests of the CircleNet losses against explicit numpy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xview3_pipeline.core.losses import (
    LOSS_PRESETS,
    CircleNetLoss,
    LossConfig,
    TargetBatch,
    binary_entropy_with_logits,
    reduced_focal_loss,
    reduced_focal_loss_map,
    soft_bce_with_logits,
)
from xview3_pipeline.core.types import IGNORE_INDEX, CircleNetOutputs, EncodedTargets

IGN = float(IGNORE_INDEX)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _entropy(x: np.ndarray) -> np.ndarray:
    p = _sigmoid(x)
    return -(p * np.log(p) + (1 - p) * np.log(1 - p))


def _bce(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    p = _sigmoid(x)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


# --- functional -----------------------------------------------------------------------


def test_reduced_focal_loss_map_by_hand() -> None:
    logits = torch.tensor([0.3, -1.0, 2.0, 5.0, -0.5]).reshape(1, 1, 1, 5)
    heat = torch.tensor([1.0, 0.5, 0.0, IGN, 0.9]).reshape(1, 1, 1, 5)
    p = _sigmoid(np.array([0.3, -1.0, 2.0, 5.0, -0.5]))
    expected = np.array(
        [
            -((1 - p[0]) ** 2) * np.log(p[0]),
            -((1 - 0.5) ** 4) * p[1] ** 2 * np.log(1 - p[1]),
            -(p[2] ** 2) * np.log(1 - p[2]),
            0.0,
            -((1 - 0.9) ** 4) * p[4] ** 2 * np.log(1 - p[4]),
        ]
    )
    got = reduced_focal_loss_map(logits, heat).flatten().double().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    # Batch-wide normalisation by the single peak.
    assert reduced_focal_loss(logits, heat).item() == pytest.approx(expected.sum(), rel=1e-5)


def test_reduced_focal_loss_without_positives_is_the_negative_sum() -> None:
    logits = torch.tensor([[-1.0, 0.0], [1.5, -3.0]]).reshape(1, 1, 2, 2)
    heat = torch.tensor([[0.0, 0.2], [0.7, IGN]]).reshape(1, 1, 2, 2)
    x = np.array([-1.0, 0.0, 1.5])
    y = np.array([0.0, 0.2, 0.7])
    p = _sigmoid(x)
    expected = np.sum(-((1 - y) ** 4) * p**2 * np.log(1 - p))
    loss = reduced_focal_loss(logits, heat)
    assert torch.isfinite(loss)
    assert loss.item() == pytest.approx(expected, rel=1e-5)


def test_reduced_focal_loss_is_stable_for_extreme_logits() -> None:
    logits = torch.tensor([-200.0, 200.0, 200.0, -200.0], requires_grad=True)
    heat = torch.tensor([1.0, 0.0, 1.0, 0.0])
    loss = reduced_focal_loss(logits.reshape(1, 1, 1, 4), heat.reshape(1, 1, 1, 4))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()
    assert loss.item() == pytest.approx((200.0 + 200.0) / 2, rel=1e-4)


def test_ignored_pixels_contribute_nothing_and_get_no_gradient() -> None:
    heat = torch.tensor([1.0, IGN, 0.3, IGN]).reshape(1, 1, 1, 4)
    a = torch.tensor([0.5, -4.0, 0.2, 3.0]).reshape(1, 1, 1, 4).requires_grad_()
    b = torch.tensor([0.5, 9.0, 0.2, -7.0]).reshape(1, 1, 1, 4)
    loss_a = reduced_focal_loss(a, heat)
    assert loss_a.item() == pytest.approx(reduced_focal_loss(b, heat).item())
    loss_a.backward()
    assert a.grad.flatten()[1] == 0 and a.grad.flatten()[3] == 0
    target = torch.tensor([1.0, IGN, 0.0, IGN]).reshape(1, 1, 1, 4)
    bce = soft_bce_with_logits(a, target)
    assert bce.flatten()[1] == 0 and bce.flatten()[3] == 0


def test_soft_bce_label_smoothing_values() -> None:
    logits = torch.tensor([0.7, 0.7, -2.0]).reshape(1, 1, 1, 3)
    target = torch.tensor([1.0, 0.0, 1.0]).reshape(1, 1, 1, 3)
    x = np.array([0.7, 0.7, -2.0])
    soft = np.array([0.95, 0.05, 0.95])
    got = soft_bce_with_logits(logits, target, smooth_factor=0.05).flatten().double().numpy()
    np.testing.assert_allclose(got, _bce(x, soft), rtol=1e-5)
    # The minimum over logits sits at the soft target, not at 0 or 1.
    best = torch.logit(torch.tensor(0.95)).reshape(1, 1, 1, 1)
    grad_logit = best.clone().requires_grad_()
    soft_bce_with_logits(grad_logit, torch.ones(1, 1, 1, 1)).sum().backward()
    assert abs(grad_logit.grad.item()) < 1e-6
    no_smooth = soft_bce_with_logits(logits, target, smooth_factor=0.0).flatten().double()
    np.testing.assert_allclose(no_smooth.numpy(), _bce(x, np.array([1.0, 0.0, 1.0])), rtol=1e-5)


def test_entropy_is_log2_at_half_and_zero_when_confident() -> None:
    h = binary_entropy_with_logits(torch.tensor([0.0, 30.0, -30.0, 1000.0, -1000.0]))
    assert h[0].item() == pytest.approx(math.log(2))
    assert torch.all(h[1:] < 1e-10) and torch.all(h >= 0)
    x = np.array([-1.3, 0.4, 2.2])
    np.testing.assert_allclose(
        binary_entropy_with_logits(torch.tensor(x)).numpy(), _entropy(x), rtol=1e-6
    )


# --- the module -----------------------------------------------------------------------


def _batch(seed: int = 0) -> tuple[CircleNetOutputs, TargetBatch]:
    """Two 6 x 6 maps: 3 peaks (2 vessels), an ignored disc, unknown labels, lengths."""
    g = torch.Generator().manual_seed(seed)
    shape = (2, 1, 6, 6)
    obj = torch.zeros(shape)
    obj[0, 0, 1, 1], obj[0, 0, 1, 2], obj[0, 0, 2, 1] = 1.0, 0.6, 0.4
    obj[0, 0, 4, 4] = 1.0
    obj[1, 0, 3, 2], obj[1, 0, 3, 3] = 1.0, 0.7
    obj[1, 0, 0, 5] = obj[1, 0, 0, 4] = IGN  # LOW-confidence disc
    vessel = torch.zeros(shape)
    vessel[0, 0, 1, 1] = vessel[0, 0, 1, 2] = 1.0  # vessel, fishing unknown
    vessel[0, 0, 4, 4] = IGN  # unknown vessel
    vessel[1, 0, 3, 2] = vessel[1, 0, 3, 3] = 1.0
    vessel[1, 0, 0, 5] = IGN
    fishing = torch.zeros(shape)
    fishing[0, 0, 1, 1] = fishing[0, 0, 1, 2] = IGN
    fishing[0, 0, 4, 4] = IGN
    fishing[1, 0, 3, 2] = fishing[1, 0, 3, 3] = 1.0
    length = torch.zeros(shape)
    length[0, 0, 1, 1], length[0, 0, 1, 2] = math.log1p(12.0), math.log1p(12.0)
    length[1, 0, 3, 2] = math.log1p(30.0)  # the peak (4, 4) of image 0 has no length
    offset = torch.zeros(2, 2, 6, 6)
    offset[0, :, 1, 1] = torch.tensor([0.25, 0.75])
    offset[0, :, 4, 4] = torch.tensor([0.5, 0.0])
    offset[1, :, 3, 2] = torch.tensor([0.9, 0.1])
    outputs = CircleNetOutputs(
        objectness=torch.randn(shape, generator=g) * 2 - 2,
        vessel=torch.randn(shape, generator=g),
        fishing=torch.randn(shape, generator=g),
        length=torch.rand(shape, generator=g) * 4,
        offset=torch.rand(2, 2, 6, 6, generator=g),
    )
    return outputs, TargetBatch(obj, vessel, fishing, length, offset)


def _expected(
    out: CircleNetOutputs,
    tgt: TargetBatch,
    variant: str,
    entropy_weight: float,
    *,
    sample_weight: np.ndarray | None = None,
    squared: bool = False,
) -> dict[str, float]:
    """The terms of facts section 5, written out with numpy masks."""
    x_o, x_v, x_f = (getattr(out, k).double().numpy() for k in ("objectness", "vessel", "fishing"))
    y, tv, tf = (getattr(tgt, k).double().numpy() for k in ("objectness", "vessel", "fishing"))
    w = np.ones(y.shape[0]) if sample_weight is None else sample_weight
    w = w[:, None, None, None]
    ign_o, ign_v, ign_f = y == IGN, tv == IGN, tf == IGN
    peaks = y == 1
    n_obj = max(peaks.sum(), 1)
    n_vsl = max((peaks & (tv == 1)).sum(), 1)
    p = _sigmoid(x_o)
    y0 = np.where(ign_o, 0.0, y)
    focal = np.where(peaks, -((1 - p) ** 2) * np.log(p), -((1 - y0) ** 4) * p**2 * np.log(1 - p))
    focal[ign_o] = 0.0
    gauss = y0
    bce_v = np.where(ign_v, 0.0, _bce(x_v, 0.05 + 0.9 * np.where(ign_v, 0, tv))) * gauss
    bce_f = np.where(ign_f, 0.0, _bce(x_f, 0.05 + 0.9 * np.where(ign_f, 0, tf))) * gauss
    h_o, h_v, h_f = _entropy(x_o), _entropy(x_v), _entropy(x_f)
    if variant == "trimmed":
        e_o = entropy_weight * np.sum(w * h_o * ign_o) / n_obj
        e_v = entropy_weight * np.sum(w * h_v * gauss * ign_v) / n_obj
        e_f = entropy_weight * np.sum(w * h_f * gauss * (ign_f & (tv == 1))) / n_vsl
    else:
        m_f = (ign_f & (tv == 1)) | ign_v
        e_o = entropy_weight * h_o[ign_o].mean() if ign_o.any() else 0.0
        e_v = entropy_weight * h_v[ign_v].mean() if ign_v.any() else 0.0
        e_f = entropy_weight * h_f[m_f].mean() if m_f.any() else 0.0
    len_t = tgt.length.double().numpy()
    len_mask = peaks & (len_t > 0)
    len_w = w**2 if squared else w
    sq = (out.length.double().numpy() - len_t) ** 2
    off = ((out.offset.double().numpy() - tgt.offset.double().numpy()) ** 2).sum(1, keepdims=True)
    terms = {
        "objectness": np.sum(w * focal) / n_obj + e_o,
        "vessel": np.sum(w * bce_v) / n_obj + e_v,
        "fishing": np.sum(w * bce_f) / n_vsl + e_f,
        "length": np.sum((len_w * sq)[len_mask]) / max(len_mask.sum(), 1),
        "offset": np.sum(off[peaks]) / n_obj,
        "entropy": e_o + e_v + e_f,
    }
    terms["total"] = (
        terms["objectness"]
        + terms["vessel"]
        + terms["fishing"]
        + 0.1 * terms["length"]
        + 0.001 * terms["offset"]
    )
    return terms


@pytest.mark.parametrize(
    ("variant", "entropy_weight"), [("trimmed", 0.1), ("circlenet", 0.5), ("trimmed", 0.0)]
)
def test_terms_match_explicit_computation(variant: str, entropy_weight: float) -> None:
    outputs, targets = _batch()
    loss = CircleNetLoss(LossConfig(variant=variant, entropy_weight=entropy_weight))
    got = loss(outputs, targets)
    expected = _expected(outputs, targets, variant, entropy_weight)
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].ndim == 0 and got[name].dtype == torch.float32
        assert got[name].item() == pytest.approx(value, rel=1e-5, abs=1e-7), name
    # N_obj = 3 peaks, N_vsl = 2 vessel peaks, 2 peaks with a length.
    assert expected["entropy"] > 0 or entropy_weight == 0


def test_total_is_the_weighted_sum_of_the_terms() -> None:
    outputs, targets = _batch(1)
    cfg = LossConfig(objectness_weight=2.0, vessel_weight=0.5, length_weight=0.3)
    got = CircleNetLoss(cfg)(outputs, targets)
    weights = cfg.term_weights
    total = sum(
        weights[k] * got[k] for k in ("objectness", "vessel", "fishing", "length", "offset")
    )
    torch.testing.assert_close(got["total"], total)


def test_sample_weight_scales_terms() -> None:
    outputs, targets = _batch(2)
    base = CircleNetLoss()(outputs, targets)
    weighted = CircleNetLoss()(outputs, targets, sample_weight=torch.tensor([0.25, 0.25]))
    for name in ("objectness", "vessel", "fishing", "length"):
        assert weighted[name].item() == pytest.approx(0.25 * base[name].item(), rel=1e-5), name
    assert weighted["offset"].item() == pytest.approx(base["offset"].item())
    squared = CircleNetLoss(LossConfig(size_weight_squared=True))(
        outputs, targets, sample_weight=torch.tensor([0.25, 0.25])
    )
    assert squared["length"].item() == pytest.approx(0.0625 * base["length"].item(), rel=1e-5)
    # Per-image weights against the explicit computation, b5 variant with the quirk.
    sw = np.array([1.0, 0.25])
    cfg = LossConfig(variant="circlenet", entropy_weight=0.5, size_weight_squared=True)
    got = CircleNetLoss(cfg)(outputs, targets, sample_weight=torch.tensor(sw))
    expected = _expected(outputs, targets, "circlenet", 0.5, sample_weight=sw, squared=True)
    for name, value in expected.items():
        assert got[name].item() == pytest.approx(value, rel=1e-5), name


def test_no_objects_in_batch() -> None:
    outputs, targets = _batch(3)
    empty = TargetBatch(*(torch.zeros_like(t) for t in targets))
    got = CircleNetLoss()(outputs, empty)
    assert all(torch.isfinite(v) for v in got.values())
    for name in ("vessel", "fishing", "length", "offset", "entropy"):
        assert got[name].item() == 0.0, name
    expected = _expected(outputs, empty, "trimmed", 0.1)
    assert got["objectness"].item() == pytest.approx(expected["objectness"], rel=1e-5)


def test_gradients_are_finite_for_extreme_logits() -> None:
    outputs, targets = _batch(4)
    extreme = CircleNetOutputs(
        *(
            (t * 100 if name != "offset" else t).requires_grad_()
            for name, t in zip(CircleNetOutputs._fields, outputs, strict=True)
        )
    )
    for variant in ("trimmed", "circlenet"):
        got = CircleNetLoss(LossConfig(variant=variant, entropy_weight=0.5))(extreme, targets)
        grads = torch.autograd.grad(got["total"], list(extreme))
        assert torch.isfinite(got["total"])
        assert all(torch.isfinite(g).all() for g in grads)


def test_smooth_l1_length_option() -> None:
    outputs, targets = _batch(5)
    got = CircleNetLoss(LOSS_PRESETS["rfl_soft_bce_smooth_l1_regularized"])(outputs, targets)
    d = (outputs.length - targets.length).double().numpy()
    mask = (targets.objectness.numpy() == 1) & (targets.length.numpy() > 0)
    huber = np.where(np.abs(d) < 1, 0.5 * d**2, np.abs(d) - 0.5)
    assert got["length"].item() == pytest.approx(huber[mask].mean(), rel=1e-5)


def test_shape_mismatch_is_reported() -> None:
    outputs, targets = _batch()
    small = TargetBatch(*(t[..., :3, :3] for t in targets))
    with pytest.raises(ValueError, match="output stride"):
        CircleNetLoss()(outputs, small)


def test_config_from_dict_and_presets() -> None:
    assert (
        LossConfig.from_dict(LOSS_PRESETS["circlenet_loss"].to_dict())
        == LOSS_PRESETS["circlenet_loss"]
    )
    assert CircleNetLoss({"entropy_weight": 0.5}).config.entropy_weight == 0.5
    with pytest.raises(ValueError, match="Unknown LossConfig key"):
        LossConfig.from_dict({"entropy": 0.1})
    with pytest.raises(ValueError, match="variant"):
        LossConfig(variant="focal")
    default = LossConfig()
    assert (default.variant, default.entropy_weight, default.length_weight) == ("trimmed", 0.1, 0.1)
    assert default.offset_weight == 0.001 and default.label_smoothing == 0.05


def test_target_batch_collates_encoded_targets() -> None:
    def item(v: float) -> EncodedTargets:
        m = np.full((1, 4, 4), v, np.float32)
        return EncodedTargets(m, m, m, m, np.zeros((2, 4, 4), np.float32))

    batch = TargetBatch.collate([item(0.0), item(1.0)])
    assert batch.objectness.shape == (2, 1, 4, 4) and batch.offset.shape == (2, 2, 4, 4)
    assert batch.objectness.dtype == torch.float32 and batch.vessel[1].max() == 1.0
    # EncodedTargets holding batched tensors is accepted as well.
    outputs, targets = _batch()
    a = CircleNetLoss()(outputs, EncodedTargets(*targets))
    b = CircleNetLoss()(outputs, targets)
    torch.testing.assert_close(a["total"], b["total"])
