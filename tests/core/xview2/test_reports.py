"""xView2 reports: score report, confusion matrix and its figure, side-by-side images."""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from xview3_pipeline.core.xview2 import SCORE_KEYS, XView2MaskError, score_masks
from xview3_pipeline.core.xview2.reports import (
    CLASS_COLORS,
    CONFUSION_LABELS,
    confusion_matrix,
    confusion_matrix_figure,
    score_report,
    side_by_side,
)


def row(*values: int) -> np.ndarray:
    return np.array([values], dtype=np.uint8)


# Target: background, 2 no-damage, 2 minor, 1 destroyed. Prediction: one minor pixel called
# major, the destroyed pixel missed by localization (damage says 4 but loc says 0), one
# false building on background.
TARG_D = row(0, 0, 1, 1, 2, 2, 4)
PRED_D = row(0, 1, 1, 1, 2, 3, 4)
PRED_L = row(0, 1, 1, 1, 1, 1, 0)


def test_confusion_matrix_hand_case() -> None:
    cm = confusion_matrix(PRED_D, TARG_D)
    assert list(cm.index) == list(CONFUSION_LABELS) == list(cm.columns)
    assert cm.index.name == "target"
    assert cm.columns.name == "predicted"
    expected = np.zeros((5, 5), dtype=np.int64)
    expected[0, 0] = expected[0, 1] = 1
    expected[1, 1] = 2
    expected[2, 2] = expected[2, 3] = 1
    expected[4, 4] = 1
    assert np.array_equal(cm.to_numpy(), expected)
    assert cm.to_numpy().dtype == np.int64


def test_confusion_matrix_sums_over_images() -> None:
    rng = np.random.default_rng(0)
    targ = {f"img{k}": rng.integers(0, 5, (16, 20), dtype=np.uint8) for k in range(3)}
    pred = {k: rng.integers(0, 5, (16, 20), dtype=np.int16) for k in targ}
    cm = confusion_matrix(pred, targ)
    assert int(cm.to_numpy().sum()) == 3 * 16 * 20
    assert np.array_equal(
        cm.sum(axis=1).to_numpy(), np.bincount(np.concatenate([t.ravel() for t in targ.values()]))
    )
    total = sum(confusion_matrix(pred[k], targ[k]) for k in targ)
    assert isinstance(total, pd.DataFrame)
    assert np.array_equal(cm.to_numpy(), total.to_numpy())
    with pytest.raises(ValueError, match="different images"):
        confusion_matrix({"img0": pred["img0"]}, targ)
    with pytest.raises(ValueError, match="arguments as masks or both as"):
        confusion_matrix(pred, targ["img0"])
    with pytest.raises(XView2MaskError, match="differ in shape"):
        confusion_matrix(np.zeros((2, 2), np.uint8), np.zeros((2, 3), np.uint8))


def test_confusion_matrix_figure_is_row_normalised() -> None:
    fig = confusion_matrix_figure(confusion_matrix(PRED_D, TARG_D))
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    shares = ax.images[0].get_array()
    assert shares[2, 2] == pytest.approx(0.5)
    assert shares[3].sum() == 0  # no major-damage target pixel
    texts = [t.get_text() for t in ax.texts]
    assert "50.0%\n1" in texts
    assert [t.get_text() for t in ax.get_yticklabels()][1] == "no damage"
    fig.savefig(io.BytesIO(), format="png")


def test_score_report_counts_and_scores() -> None:
    other = (row(1, 1, 0, 0), row(1, 1, 0, 0))
    preds = {"a": (PRED_L, PRED_D), "b": lambda: other}
    targs = {"a": (TARG_D > 0, TARG_D), "b": (row(1, 1, 0, 0), row(1, 3, 0, 0))}
    report = score_report(preds, targs)
    json.dumps(report)
    expected = score_masks([(*preds["a"], *targs["a"]), (*other, *targs["b"])])
    assert {k: report[k] for k in SCORE_KEYS} == pytest.approx(expected)
    assert report["n_images"] == 2
    loc = report["pixels"]["localization"]
    assert (loc["tp"], loc["fp"], loc["fn"]) == (6, 1, 1)
    assert loc["precision"] == pytest.approx(6 / 7)
    minor = report["pixels"]["minor_damage"]
    assert (minor["tp"], minor["fp"], minor["fn"]) == (1, 0, 1)
    destroyed = report["pixels"]["destroyed"]
    assert (destroyed["tp"], destroyed["fn"], destroyed["recall"]) == (0, 1, 0.0)
    major = report["pixels"]["major_damage"]  # image b: target 3 predicted 1
    assert (major["tp"], major["fp"], major["fn"]) == (0, 0, 1)
    counts = np.array(report["confusion_matrix"]["counts"])
    assert counts[4, 0] == 1  # destroyed, masked by localization: scored as no building
    assert counts[3, 1] == 1
    assert counts.sum() == 7 + 4
    assert report["unscored_predictions"] == 0


def test_score_report_refuses_missing_predictions(caplog: pytest.LogCaptureFixture) -> None:
    pair = (row(1, 0), row(2, 0))
    with pytest.raises(ValueError, match=r"have no prediction, e.g. \['b'\]"):
        score_report({"a": pair}, {"a": pair, "b": pair})
    with pytest.raises(ValueError, match="No target"):
        score_report({"a": pair}, {})
    with caplog.at_level(logging.WARNING):
        report = score_report({"a": pair, "z": pair}, {"a": pair})
    assert report["unscored_predictions"] == 1
    assert "no target" in caplog.text
    with pytest.raises(XView2MaskError, match="image 'a' damage prediction"):
        score_report({"a": (row(1, 0), row(7, 0))}, {"a": pair})
    with pytest.raises(XView2MaskError, match="image 'a'"):
        score_report({"a": (row(1, 0), row(2, 0, 0))}, {"a": pair})


def test_side_by_side_layout_and_colours() -> None:
    rng = np.random.default_rng(1)
    pre = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    post = rng.integers(0, 255, (64, 48, 3), dtype=np.uint8)
    pred = np.zeros((64, 48), np.uint8)
    pred[10:30, 10:30] = 4
    four = side_by_side(pre, post, pred, Image.fromarray(pred), gap=6)
    three = side_by_side(pre, post, pred, gap=6)
    assert four.dtype == np.uint8
    assert four.shape[1] == 4 * 48 + 3 * 6
    assert three.shape[1] == 3 * 48 + 2 * 6
    assert four.shape[0] > 64
    top = next(r for r in range(four.shape[0] - 63) if np.array_equal(four[r : r + 64, :48], pre))
    assert np.array_equal(four[top : top + 64, 54:102], post)
    overlay = four[top : top + 64, 108:156]
    assert tuple(overlay[10, 15]) == CLASS_COLORS[4]  # the region's edge, opaque
    assert np.array_equal(overlay[50], post[50])  # no building: untouched
    inner = overlay[20, 20].astype(int)
    assert inner[0] > post[20, 20, 0] * 0.55 and tuple(inner) != tuple(post[20, 20])
    assert np.array_equal(four[top : top + 64, 162:], overlay)
    legend = four[top + 64 :]
    assert (legend == CLASS_COLORS[1]).all(axis=-1).any()  # a swatch of the legend


def test_side_by_side_errors() -> None:
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="pre must be an \\(H, W, 3\\) uint8"):
        side_by_side(img[..., 0], img, np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match="does not match the images"):
        side_by_side(img, img, np.zeros((8, 9), np.uint8))
    with pytest.raises(XView2MaskError, match="target damage"):
        side_by_side(img, img, np.zeros((8, 8), np.uint8), np.full((8, 8), 9, np.uint8))
