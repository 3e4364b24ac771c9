"""Pseudo-label masks of unlabelled pairs: confidence threshold, ratio rule, summary."""

from __future__ import annotations

import numpy as np
import pytest

from xview3_pipeline.core.xview2.pseudo_labels import (
    IGNORE_INDEX,
    PseudoLabelConfig,
    pseudo_label_mask,
    pseudo_label_masks,
    summarize_pseudo_labels,
)


def pixels(*columns: tuple[float, ...]) -> np.ndarray:
    """Probabilities (5, 1, N), one column per pixel."""
    return np.array(columns, dtype=np.float32).T.reshape(5, 1, len(columns))


PROBS = pixels(
    (0.95, 0.05, 0.0, 0.0, 0.0),  # confident background
    (0.0, 0.0, 0.0, 0.9, 0.1),  # major damage, exactly at 0.9
    (0.1, 0.5, 0.4, 0.0, 0.0),  # unsure no damage
    (0.02, 0.02, 0.02, 0.02, 0.92),  # destroyed
)


def test_confident_pixels_keep_their_argmax_and_others_are_ignored() -> None:
    mask = pseudo_label_mask(PROBS, threshold=0.9)
    assert mask.dtype == np.uint8 and mask.shape == (1, 4)
    np.testing.assert_array_equal(mask, [[0, 3, IGNORE_INDEX, 4]])


def test_threshold_is_inclusive_and_monotone() -> None:
    np.testing.assert_array_equal(pseudo_label_mask(PROBS, 0.91), [[0, 255, 255, 4]])
    np.testing.assert_array_equal(pseudo_label_mask(PROBS, 0.0), [[0, 3, 1, 4]])
    np.testing.assert_array_equal(pseudo_label_mask(PROBS, 1.0), [[255, 255, 255, 255]])
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(5, 0.3), size=(16, 16)).transpose(2, 0, 1)
    labelled = [np.count_nonzero(pseudo_label_mask(probs, t) != 255) for t in (0.3, 0.6, 0.9)]
    assert labelled[0] > labelled[1] > labelled[2] > 0


def test_ratio_rule_of_the_winner() -> None:
    # Top-1 / top-2 ratios: 19, 9, 1.25, 46.
    mask = pseudo_label_mask(PROBS, threshold=0.0, min_ratio=1.5)
    np.testing.assert_array_equal(mask, [[0, 3, 255, 4]])
    both = pseudo_label_mask(PROBS, threshold=0.93, min_ratio=1.5)
    np.testing.assert_array_equal(both, [[0, 255, 255, 255]])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="threshold"):
        pseudo_label_mask(PROBS, 1.5)
    with pytest.raises(ValueError, match="min_ratio"):
        pseudo_label_mask(PROBS, 0.5, min_ratio=0.5)
    with pytest.raises(ValueError, match=r"\(5, H, W\)"):
        pseudo_label_mask(PROBS[:3])
    with pytest.raises(ValueError, match="Pair x"):
        list(pseudo_label_masks([("x", PROBS * np.nan)]))


def test_config_from_parameters() -> None:
    config = PseudoLabelConfig.from_dict({"threshold": 0.8, "min_ratio": 2})
    assert config == PseudoLabelConfig(0.8, 2.0)
    assert PseudoLabelConfig.from_dict(None) == PseudoLabelConfig()
    with pytest.raises(ValueError, match="threshhold"):
        PseudoLabelConfig.from_dict({"threshhold": 0.8})
    out = dict(pseudo_label_masks([("a", PROBS), ("b", PROBS[..., :2])], config))
    np.testing.assert_array_equal(out["a"], [[0, 3, 255, 4]])
    np.testing.assert_array_equal(out["b"], [[0, 3]])


def test_summary_shares() -> None:
    masks = [np.array([[0, 3, 255, 4]], dtype=np.uint8), np.array([[0, 0], [255, 1]])]
    summary = summarize_pseudo_labels(iter(masks))
    assert list(summary["label"]) == [0, 1, 2, 3, 4, 255]
    names = list(summary["name"])
    assert (names[0], names[-1]) == ("no_building", "ignore")
    assert list(summary["pixels"]) == [3, 1, 0, 1, 1, 2]
    np.testing.assert_allclose(summary["share"], np.array([3, 1, 0, 1, 1, 2]) / 8)
    np.testing.assert_allclose(summary["share_labelled"][:5], np.array([3, 1, 0, 1, 1]) / 6)
    assert np.isnan(summary["share_labelled"].iloc[5])
    with pytest.raises(ValueError, match=r"Mask 1.*\[7\]"):
        summarize_pseudo_labels([masks[0], np.array([[7]])])
    with pytest.raises(ValueError, match="No pseudo-label pixels"):
        summarize_pseudo_labels([])
