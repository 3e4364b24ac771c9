"""xView2 ensembling: masks from probabilities, fitted class weights, model averaging."""

from __future__ import annotations

import numpy as np
import pytest

from xview3_pipeline.core.xview2.ensemble import (
    WINNER_INIT,
    ClassWeightFitConfig,
    ClassWeights,
    apply_class_weights,
    combine,
    fit_class_weights,
    masks_from_probabilities,
)
from xview3_pipeline.core.xview2.metric import score_masks


def column(*values: float) -> np.ndarray:
    """Probabilities (5, 1, 1) of one pixel."""
    return np.array(values, dtype=np.float32).reshape(5, 1, 1)


def test_masks_follow_the_winner_rule_or_the_plain_argmax() -> None:
    probs = np.concatenate(
        [
            column(0.4, 0.15, 0.15, 0.15, 0.15),  # buildings together beat p0, none alone
            column(0.7, 0.1, 0.1, 0.05, 0.05),  # background
            column(0.1, 0.1, 0.2, 0.5, 0.1),  # major damage
            column(0.3, 0.1, 0.1, 0.1, 0.4),  # destroyed
        ],
        axis=2,
    )
    loc, dmg = masks_from_probabilities(probs)
    assert loc.dtype == np.uint8 and dmg.dtype == np.uint8 and loc.shape == (1, 4)
    np.testing.assert_array_equal(loc, [[1, 0, 1, 1]])
    np.testing.assert_array_equal(dmg, [[1, 0, 3, 4]])
    loc, dmg = masks_from_probabilities(probs, rule="argmax")
    np.testing.assert_array_equal(dmg, [[0, 0, 3, 4]])
    np.testing.assert_array_equal(loc, dmg > 0)
    with pytest.raises(ValueError, match="Unknown mask rule"):
        masks_from_probabilities(probs, rule="dominant")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(5, H, W\)"):
        masks_from_probabilities(probs[:4])


def test_apply_class_weights_scales_each_class_plane() -> None:
    probs = np.full((5, 2, 3), 0.2, dtype=np.float32)
    weighted = apply_class_weights(probs, (0.5, 1.0, 2.0, 3.0, 0.0))
    assert weighted.dtype == np.float32
    np.testing.assert_allclose(weighted[:, 1, 2], [0.1, 0.2, 0.4, 0.6, 0.0], rtol=1e-6)
    with pytest.raises(ValueError, match="5 finite non-negative"):
        apply_class_weights(probs, (1.0, -1.0, 1.0, 1.0, 1.0))
    with pytest.raises(ValueError, match="5 finite non-negative"):
        apply_class_weights(probs, (1.0, 1.0))


def synthetic_case(
    n_images: int = 6, size: int = 32, under: int = 3, factor: float = 0.25, seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Noisy probabilities of random targets, with class ``under`` scaled down by ``factor``.

    Every image holds background and buildings of each damage class except image 0, which
    lacks class 4 (so the metric's presence rule matters).
    """
    rng = np.random.default_rng(seed)
    probabilities, targets = [], []
    for index in range(n_images):
        target = np.zeros((size, size), dtype=np.uint8)
        blocks = rng.integers(1, 5, size=(size // 4, size // 4))
        blocks[rng.random(blocks.shape) < 0.4] = 0
        if index == 0:
            blocks[blocks == 4] = 1
        target[:] = np.kron(blocks, np.ones((4, 4), dtype=np.uint8))
        logits = rng.normal(size=(5, size, size)) * 1.5
        logits += 2.5 * np.eye(5)[target].transpose(2, 0, 1)
        probs = np.exp(logits)
        probs[under] *= factor
        probabilities.append((probs / probs.sum(axis=0)).astype(np.float32))
        targets.append(target)
    return probabilities, targets


def test_scores_follow_the_official_metric() -> None:
    probabilities, targets = synthetic_case(n_images=4)
    fitted = fit_class_weights(probabilities, targets, maxiter=1, max_pixels_per_image=None)
    masks = [
        (*masks_from_probabilities(p), t, t) for p, t in zip(probabilities, targets, strict=True)
    ]
    official = score_masks(masks)
    assert fitted.score_before == pytest.approx(official, abs=1e-12)
    weights = np.array(fitted.weights)
    weighted = [
        (*masks_from_probabilities(apply_class_weights(p, weights)), t, t)
        for p, t in zip(probabilities, targets, strict=True)
    ]
    assert fitted.score_after == pytest.approx(score_masks(weighted), abs=1e-12)
    assert fitted.n_pixels == 4 * 32 * 32 and fitted.n_images == 4


def test_nelder_mead_raises_the_score_of_an_under_predicted_class() -> None:
    probabilities, targets = synthetic_case()
    fitted = fit_class_weights(probabilities, targets, "nelder-mead")
    assert len(fitted.weights) == len(WINNER_INIT) == 5
    assert fitted.method == "nelder-mead"
    assert fitted.score_after["score"] > fitted.score_before["score"] + 0.01
    assert (
        fitted.score_after["damage_f1_major_damage"] > fitted.score_before["damage_f1_major_damage"]
    )
    w = np.array(fitted.weights)
    assert w[3] / w[1] > 1.5


def test_optuna_is_deterministic_with_a_seed() -> None:
    probabilities, targets = synthetic_case(n_images=3)
    first = fit_class_weights(probabilities, targets, "optuna", n_trials=12, seed=5)
    second = fit_class_weights(probabilities, targets, "optuna", n_trials=12, seed=5)
    assert first.weights == second.weights
    assert first.score_after == second.score_after
    assert first.score_after["score"] >= first.score_before["score"]
    assert first.method in {"optuna", "uniform"}


def test_pixels_are_drawn_deterministically_and_ignore_pixels_left_out() -> None:
    probabilities, targets = synthetic_case(n_images=3)
    targets[1][:4] = 255
    kwargs = {"maxiter": 5, "max_pixels_per_image": 300, "seed": 2}
    first = fit_class_weights(probabilities, targets, **kwargs)  # type: ignore[arg-type]
    again = fit_class_weights(iter(probabilities), iter(targets), **kwargs)  # type: ignore[arg-type]
    assert first.n_pixels == 3 * 300
    assert first == again
    full = fit_class_weights(probabilities, targets, maxiter=1, max_pixels_per_image=None)
    assert full.n_pixels == 3 * 32 * 32 - 4 * 32


def test_uniform_weights_are_kept_when_the_fit_cannot_beat_them() -> None:
    probabilities, targets = synthetic_case(n_images=2, factor=1.0)
    fitted = fit_class_weights(probabilities, targets, maxiter=1, init=(5e-3, 1, 1, 1, 1))
    assert fitted.method == "uniform"
    assert fitted.weights == (1.0,) * 5
    assert fitted.score_after == fitted.score_before


def test_class_weights_round_trip_through_a_dict() -> None:
    probabilities, targets = synthetic_case(n_images=2)
    fitted = fit_class_weights(probabilities, targets, maxiter=3)
    assert ClassWeights.from_dict(fitted.to_dict()) == fitted
    with pytest.raises(ValueError, match="Unknown ClassWeights key"):
        ClassWeights.from_dict({**fitted.to_dict(), "extra": 1})


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"method": "powell"}, "Unknown method"),
        ({"init": (1.0, 1.0)}, "init"),
        ({"bounds": (2.0, 1.0)}, "bounds"),
        ({"maxiter": 0}, "maxiter"),
        ({"max_pixels_per_image": 0}, "max_pixels_per_image"),
    ],
)
def test_fit_refuses_bad_options(kwargs: dict, match: str) -> None:
    probabilities, targets = synthetic_case(n_images=1, size=8)
    with pytest.raises(ValueError, match=match):
        fit_class_weights(probabilities, targets, **kwargs)


def test_fit_refuses_bad_data() -> None:
    probabilities, targets = synthetic_case(n_images=2, size=8)
    with pytest.raises(ValueError, match="Image 1"):
        fit_class_weights(probabilities, [targets[0], targets[1][:4]])
    bad = targets[1].copy()
    bad[0, 0] = 7
    with pytest.raises(ValueError, match=r"Image 1.*\[7\]"):
        fit_class_weights(probabilities, [targets[0], bad])
    with pytest.raises(ValueError, match="No images"):
        fit_class_weights([], [])
    with pytest.raises(ValueError):
        fit_class_weights(probabilities, targets[:1])


def test_combine_averages_class_weighted_probabilities() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.random((2, 5, 3, 4)).astype(np.float32)
    wa, wb = np.array([0.5, 1, 1, 2, 1]), np.array([1, 1, 3, 1, 1])
    expected = 0.25 * a * wa[:, None, None] + 0.75 * b * wb[:, None, None]
    np.testing.assert_allclose(combine([a, b], [wa, wb], [1.0, 3.0]), expected, rtol=1e-6)
    np.testing.assert_allclose(combine([a, b], [None, None]), (a + b) / 2, rtol=1e-6)
    cw = ClassWeights(tuple(wa.tolist()), {}, {}, "nelder-mead", 1, 1)
    np.testing.assert_allclose(combine([a], [cw]), a * wa[:, None, None], rtol=1e-6)


def test_combine_refuses_mismatches() -> None:
    a = np.zeros((5, 2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="at least one"):
        combine([], [])
    with pytest.raises(ValueError, match="class weights"):
        combine([a, a], [None])
    with pytest.raises(ValueError, match="model_weights"):
        combine([a, a], [None, None], [1.0, -1.0])
    with pytest.raises(ValueError, match="Model 1"):
        combine([a, np.zeros((5, 3, 2))], [None, None])


def test_fit_config_from_parameters() -> None:
    config = ClassWeightFitConfig.from_dict(
        {"method": "optuna", "init": [1, 1, 1, 1, 1], "n_trials": 4, "bounds": [0.1, 2]}
    )
    assert config.init == (1.0,) * 5 and config.bounds == (0.1, 2.0)
    probabilities, targets = synthetic_case(n_images=2)
    fitted = fit_class_weights(probabilities, targets, **config.fit_kwargs())
    assert fitted.method in {"optuna", "uniform"}
    assert all(0.1 <= w <= 2.0 for w in fitted.weights) or fitted.method == "uniform"
    with pytest.raises(ValueError, match="max_iter"):
        ClassWeightFitConfig.from_dict({"max_iter": 3})
