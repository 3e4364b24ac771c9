"""The official xView2 metric: hand-worked cases, a plain transcription, files and CLI."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from xview3_pipeline.core.errors import RasterReadError
from xview3_pipeline.core.xview2 import (
    SCORE_KEYS,
    MaskSet,
    PixelCounts,
    XView2MaskError,
    directory_counts,
    image_counts,
    score_directories,
    score_from_counts,
    score_masks,
)
from xview3_pipeline.xview2.metric import main

EPS = 1e-6


def row(*values: int) -> np.ndarray:
    """A 1 x N uint8 mask."""
    return np.array([values], dtype=np.uint8)


# --- A deliberately plain transcription of DIUx-xView/xView2_scoring:xview2_metrics.py ---------


def official_image_rows(lp, dp, lt, dt):
    """RowPairCalculator.get_row_pair: ([TP, FN, FP], 4 x [TP, FN, FP] or [None] * 3)."""

    def extract_buildings(x):
        buildings = x.copy()
        buildings[x > 0] = 1
        return buildings

    def compute_tp_fn_fp(pred, targ, c):
        tp = np.logical_and(pred == c, targ == c).sum()
        fn = np.logical_and(pred != c, targ == c).sum()
        fp = np.logical_and(pred == c, targ != c).sum()
        return [tp, fn, fp]

    lp_b, lt_b, dt_b = extract_buildings(lp), extract_buildings(lt), extract_buildings(dt)
    dp = dp * lp_b
    dp, dt = dp[dt_b == 1], dt[dt_b == 1]
    lrow = compute_tp_fn_fp(lp_b, lt_b, 1)
    drow = []
    for i in range(1, 5):
        if i in np.unique(dt):
            drow += compute_tp_fn_fp(dp, dt, i)
        else:
            drow += [None, None, None]
    return lrow, drow


def official_f1(tp, fp, fn):
    """F1Recorder."""
    precision = 0 if tp == 0 else tp / (tp + fp)
    recall = 0 if tp == 0 else tp / (tp + fn)
    if precision == 0 or recall == 0:
        return 0
    return (2 * precision * recall) / (precision + recall)


def official_score(images):
    """XviewMetrics.compute_score on a list of (lp, dp, lt, dt)."""
    rows = [official_image_rows(*image) for image in images]
    ltp = sum(lrow[0] for lrow, _ in rows)
    lfn = sum(lrow[1] for lrow, _ in rows)
    lfp = sum(lrow[2] for lrow, _ in rows)
    lf1 = official_f1(ltp, lfp, lfn)
    df1s = []
    for i in range(4):
        tp = sum(drow[3 * i] for _, drow in rows if drow[3 * i] is not None)
        fn = sum(drow[3 * i + 1] for _, drow in rows if drow[3 * i + 1] is not None)
        fp = sum(drow[3 * i + 2] for _, drow in rows if drow[3 * i + 2] is not None)
        df1s.append(official_f1(tp, fp, fn))
    df1 = len(df1s) / sum((x + 1e-6) ** -1 for x in df1s)
    return {
        "score": 0.3 * lf1 + 0.7 * df1,
        "damage_f1": df1,
        "localization_f1": lf1,
        "damage_f1_no_damage": df1s[0],
        "damage_f1_minor_damage": df1s[1],
        "damage_f1_major_damage": df1s[2],
        "damage_f1_destroyed": df1s[3],
    }


def random_images(rng: np.random.Generator, n: int, shape=(24, 32)) -> list[MaskSet]:
    """Random masks; targets often lack some classes, predictions are partly right."""
    images = []
    for _ in range(n):
        classes = rng.choice(np.arange(1, 5), size=rng.integers(1, 5), replace=False)
        buildings = rng.random(shape) < rng.uniform(0.05, 0.6)
        targ_dmg = np.where(buildings, rng.choice(classes, size=shape), 0).astype(np.uint8)
        # The localization target mostly equals the damage target's buildings, not always.
        targ_loc = np.where(rng.random(shape) < 0.95, targ_dmg > 0, rng.random(shape) < 0.3)
        keep = rng.random(shape) < rng.uniform(0.3, 0.95)
        pred_dmg = np.where(keep, targ_dmg, rng.integers(0, 5, size=shape)).astype(np.uint8)
        pred_loc = np.where(rng.random(shape) < 0.85, pred_dmg, rng.integers(0, 5, size=shape))
        images.append(
            MaskSet(pred_loc.astype(np.uint8), pred_dmg, targ_loc.astype(np.uint8), targ_dmg)
        )
    return images


@pytest.mark.parametrize("seed", range(25))
def test_agrees_with_plain_transcription_of_official_rules(seed: int) -> None:
    rng = np.random.default_rng(seed)
    images = random_images(rng, n=int(rng.integers(1, 6)))
    ours = score_masks(images)
    theirs = official_score(images)
    assert list(ours) == list(SCORE_KEYS)
    for key in SCORE_KEYS:
        assert ours[key] == pytest.approx(theirs[key], abs=1e-12, rel=0), key


# --- Hand-worked cases --------------------------------------------------------------------------


def test_perfect_prediction_scores_one_plus_the_eps_residue() -> None:
    targ = row(0, 1, 2, 3, 4, 0)
    result = score_masks([(targ, targ, targ, targ)])
    assert result["localization_f1"] == 1.0
    for name in ("no_damage", "minor_damage", "major_damage", "destroyed"):
        assert result[f"damage_f1_{name}"] == 1.0
    # 4 / (4 / (1 + eps)) = 1 + eps: the official harmonic mean never removes its eps.
    assert result["damage_f1"] == pytest.approx(1 + EPS, abs=1e-15)
    assert result["score"] == pytest.approx(1.0 + 0.7 * EPS, abs=1e-15)


def test_damage_without_predicted_building_is_not_credited() -> None:
    targ = row(1, 2, 3, 4)
    pred_dmg = row(1, 2, 3, 4)  # right everywhere ...
    pred_loc = row(1, 1, 1, 0)  # ... but no building predicted on the destroyed pixel
    counts = image_counts(pred_loc, pred_dmg, targ, targ)
    assert counts.tp.tolist() == [3, 1, 1, 1, 0]
    assert counts.fn.tolist() == [1, 0, 0, 0, 1]
    assert counts.fp.tolist() == [0, 0, 0, 0, 0]
    result = score_from_counts(counts)
    # Localization: P = 1, R = 3/4, F1 = 2 * 3/4 / (7/4) = 6/7.
    assert result["localization_f1"] == pytest.approx(6 / 7, abs=1e-15)
    assert result["damage_f1_destroyed"] == 0.0
    damage = 4 / (3 / (1 + EPS) + 1 / EPS)
    assert result["damage_f1"] == pytest.approx(damage, rel=1e-12)
    assert result["score"] == pytest.approx(0.3 * 6 / 7 + 0.7 * damage, rel=1e-12)
    # Credited, had the building been predicted there.
    credited = score_masks([(targ, pred_dmg, targ, targ)])
    assert credited["damage_f1_destroyed"] == 1.0


def test_class_absent_from_a_target_is_not_counted_from_that_image() -> None:
    ones = row(1, 1, 0)
    image_a = (ones, row(1, 2, 0), ones, ones)  # target holds no class 2, predicts one
    targ_b = row(2, 3, 4)
    image_b = (targ_b, targ_b, targ_b, targ_b)
    counts_a = image_counts(*image_a)
    # Class 1: TP 1, FN 1 (the pixel called 2); the class-2 call is no FP, class 2 is absent.
    assert (counts_a.tp[1], counts_a.fn[1], counts_a.fp[1]) == (1, 1, 0)
    assert (counts_a.tp[2], counts_a.fn[2], counts_a.fp[2]) == (0, 0, 0)
    result = score_masks([image_a, image_b])
    assert result["damage_f1_no_damage"] == pytest.approx(2 / 3, abs=1e-15)  # P 1, R 1/2
    assert result["damage_f1_minor_damage"] == 1.0  # would be 2/3 with the FP of image A
    assert result["damage_f1_major_damage"] == 1.0
    assert result["damage_f1_destroyed"] == 1.0


def test_counts_are_summed_over_images_before_f1() -> None:
    image_a = (row(1, 0, 0, 0), row(1, 0, 0, 0), row(1, 1, 1, 1), row(1, 1, 1, 1))  # F1 0.4
    image_b = (row(1, 0, 0, 0), row(1, 0, 0, 0), row(1, 0, 0, 0), row(1, 0, 0, 0))  # F1 1
    per_image = [score_masks([image])["localization_f1"] for image in (image_a, image_b)]
    assert per_image == [pytest.approx(0.4, abs=1e-15), 1.0]
    result = score_masks([image_a, image_b])
    # Summed: TP 2, FN 3, FP 0 -> P 1, R 2/5, F1 = 0.8 / 1.4 = 4/7, not the mean 0.7.
    assert result["localization_f1"] == pytest.approx(4 / 7, abs=1e-15)
    assert result["localization_f1"] != pytest.approx(np.mean(per_image))
    # Damage (class 1 only, also summed): TP 2, FN 3 -> F1 4/7.
    assert result["damage_f1_no_damage"] == pytest.approx(4 / 7, abs=1e-15)


def test_eps_when_classes_have_zero_tp() -> None:
    ones = row(1, 1)
    # Class 1 perfect; classes 2..4 absent from every target: F1 0 each, never NaN.
    result = score_masks([(ones, ones, ones, ones)])
    assert [result[f"damage_f1_{n}"] for n in ("minor_damage", "major_damage", "destroyed")] == [
        0.0,
        0.0,
        0.0,
    ]
    damage = 4 / (1 / (1 + EPS) + 3 / EPS)
    assert result["damage_f1"] == pytest.approx(damage, rel=1e-12)
    assert result["damage_f1"] == pytest.approx(4 / 3 * EPS, rel=1e-5)
    assert result["score"] == pytest.approx(0.3 + 0.7 * damage, rel=1e-12)
    # TP 0 with FPs and FNs present is also F1 0: class 2 in the target, always called 1.
    wrong = score_masks([(row(1, 1), row(1, 1), row(2, 2), row(2, 2))])
    assert wrong["damage_f1_minor_damage"] == 0.0
    assert wrong["damage_f1_no_damage"] == 0.0
    assert wrong["damage_f1"] == pytest.approx(4 / (4 / EPS), rel=1e-12)


def test_damage_is_scored_on_damage_target_pixels_only() -> None:
    # The localization target marks a building the damage target does not: damage ignores it.
    targ_loc = row(1, 1, 0)
    targ_dmg = row(1, 0, 0)
    pred = row(1, 3, 3)
    counts = image_counts(pred, pred, targ_loc, targ_dmg)
    assert counts.tp.tolist() == [2, 1, 0, 0, 0]
    assert counts.fp.tolist() == [1, 0, 0, 0, 0]
    assert counts.fn.tolist() == [0, 0, 0, 0, 0]


def test_pixel_counts_add_and_sum() -> None:
    a = PixelCounts(np.arange(5), np.ones(5, dtype=int), np.zeros(5, dtype=int))
    b = PixelCounts(np.ones(5, dtype=int), np.arange(5), np.full(5, 2))
    total = a + b
    assert total.tp.tolist() == [1, 2, 3, 4, 5]
    assert total.fp.tolist() == [1, 2, 3, 4, 5]
    assert total.fn.tolist() == [2, 2, 2, 2, 2]
    assert sum([a, b]) == total
    assert PixelCounts.zeros() + a == a
    with pytest.raises(ValueError, match="non-negative"):
        PixelCounts(np.full(5, -1), np.zeros(5, np.int64), np.zeros(5, np.int64))
    with pytest.raises(ValueError, match="5"):
        PixelCounts(np.zeros(4, np.int64), np.zeros(4, np.int64), np.zeros(4, np.int64))


# --- In-memory errors ---------------------------------------------------------------------------


def test_array_errors_name_image_and_mask() -> None:
    good = row(1, 2)
    with pytest.raises(XView2MaskError, match=r"image 1 pred_dmg.*0\.\.4.*\[5\]"):
        score_masks([(good, good, good, good), (good, row(1, 5), good, good)])
    with pytest.raises(XView2MaskError, match="one shape"):
        score_masks([(good, good, good, row(1, 2, 3))])
    with pytest.raises(XView2MaskError, match="integer dtype"):
        score_masks([(good.astype(float), good, good, good)])
    with pytest.raises(XView2MaskError, match="2-D"):
        score_masks([(good[0], good, good, good)])
    with pytest.raises(ValueError, match="No images"):
        score_masks([])


# --- Files and command line ---------------------------------------------------------------------


def write_png(path: Path, mask: np.ndarray) -> None:
    Image.fromarray(mask).save(path)


def write_dirs(tmp_path: Path, images: list[MaskSet], split: str = "test") -> tuple[Path, Path]:
    pred_dir, targ_dir = tmp_path / "pred", tmp_path / "targ"
    pred_dir.mkdir()
    targ_dir.mkdir()
    for index, image in enumerate(images):
        img_id = f"{index:05d}"
        write_png(pred_dir / f"{split}_localization_{img_id}_prediction.png", image.pred_loc)
        write_png(pred_dir / f"{split}_damage_{img_id}_prediction.png", image.pred_dmg)
        write_png(targ_dir / f"{split}_localization_{img_id}_target.png", image.targ_loc)
        write_png(targ_dir / f"{split}_damage_{img_id}_target.png", image.targ_dmg)
    return pred_dir, targ_dir


def test_directories_match_in_memory_and_official(tmp_path: Path) -> None:
    images = random_images(np.random.default_rng(7), n=3)
    pred_dir, targ_dir = write_dirs(tmp_path, images)
    (pred_dir / "test_damage_99999_prediction.png").write_bytes(b"not read: no target")
    counts = directory_counts(pred_dir, targ_dir)
    assert list(counts) == ["test_00000", "test_00001", "test_00002"]
    assert counts["test_00001"] == image_counts(*images[1])
    result = score_directories(pred_dir, targ_dir)
    assert result == score_masks(images)
    theirs = official_score(images)
    assert all(result[k] == pytest.approx(theirs[k], abs=1e-12) for k in SCORE_KEYS)


def test_cli_main_prints_json_and_writes_out(tmp_path: Path, capsys) -> None:
    images = random_images(np.random.default_rng(3), n=2)
    pred_dir, targ_dir = write_dirs(tmp_path, images, split="hold")
    out = tmp_path / "score.json"
    assert main(["--pred", str(pred_dir), "--targ", str(targ_dir), "--out", str(out)]) == 0
    # The JSON is the last line: a logging handler that an earlier Kedro session in this
    # process left on stdout may print before it.
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert list(printed) == list(SCORE_KEYS)
    assert printed == pytest.approx(score_masks(images), abs=1e-15)
    assert json.loads(out.read_text()) == printed


def test_cli_module_runs(tmp_path: Path) -> None:
    targ = row(0, 1, 2, 3, 4)
    pred_dir, targ_dir = write_dirs(tmp_path, [MaskSet(targ, targ, targ, targ)])
    proc = subprocess.run(
        [
            sys.executable,
            *("-m", "xview3_pipeline.xview2.metric"),
            *("--pred", str(pred_dir), "--targ", str(targ_dir)),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(proc.stdout)["score"] == pytest.approx(1 + 0.7 * EPS, abs=1e-15)


@pytest.fixture
def good_dirs(tmp_path: Path) -> tuple[Path, Path]:
    mask = row(0, 1, 2, 3, 4)
    return write_dirs(tmp_path, [MaskSet(mask, mask, mask, mask)] * 2)


def test_missing_prediction_names_file(good_dirs: tuple[Path, Path]) -> None:
    pred_dir, targ_dir = good_dirs
    (pred_dir / "test_damage_00001_prediction.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"test_damage_00001_prediction\.png.*00001_target"):
        score_directories(pred_dir, targ_dir)


def test_shape_mismatch_names_files(good_dirs: tuple[Path, Path]) -> None:
    pred_dir, targ_dir = good_dirs
    write_png(pred_dir / "test_localization_00000_prediction.png", np.zeros((2, 5), np.uint8))
    with pytest.raises(XView2MaskError, match=r"test_localization_00000_prediction\.png \(2, 5\)"):
        score_directories(pred_dir, targ_dir)


def test_values_outside_range_name_file(good_dirs: tuple[Path, Path]) -> None:
    pred_dir, targ_dir = good_dirs
    write_png(targ_dir / "test_damage_00001_target.png", row(0, 1, 7, 3, 4))
    with pytest.raises(XView2MaskError, match=r"test_damage_00001_target\.png.*\[7\]"):
        score_directories(pred_dir, targ_dir)


def test_unreadable_png_names_file(good_dirs: tuple[Path, Path]) -> None:
    pred_dir, targ_dir = good_dirs
    (pred_dir / "test_damage_00000_prediction.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(RasterReadError, match=r"test_damage_00000_prediction\.png"):
        score_directories(pred_dir, targ_dir)


def test_non_uint8_or_multiband_png_rejected(good_dirs: tuple[Path, Path]) -> None:
    pred_dir, targ_dir = good_dirs
    path = pred_dir / "test_damage_00000_prediction.png"
    Image.fromarray(row(0, 1, 2, 3, 4).astype(np.uint16)).save(path)
    with pytest.raises(XView2MaskError, match=r"prediction\.png.*uint8"):
        score_directories(pred_dir, targ_dir)
    Image.fromarray(np.zeros((1, 5, 3), np.uint8)).save(path)
    with pytest.raises(XView2MaskError, match=r"prediction\.png.*single-band"):
        score_directories(pred_dir, targ_dir)


def test_bad_target_names_and_folders(good_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    pred_dir, targ_dir = good_dirs
    with pytest.raises(NotADirectoryError, match="nowhere"):
        score_directories(pred_dir, tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"no .*localization"):
        score_directories(pred_dir, empty)
    write_png(targ_dir / "test_localization_00_02_target.png", row(0))
    with pytest.raises(XView2MaskError, match=r"test_localization_00_02_target\.png"):
        score_directories(pred_dir, targ_dir)


def test_damage_target_without_localization_target_warns(
    good_dirs: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    pred_dir, targ_dir = good_dirs
    (targ_dir / "test_localization_00001_target.png").unlink()
    with caplog.at_level(logging.WARNING, logger="xview3_pipeline.core.xview2.metric"):
        counts = directory_counts(pred_dir, targ_dir)
    assert list(counts) == ["test_00000"]
    assert "test_damage_00001_target.png" in caplog.text
