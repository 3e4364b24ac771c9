"""Benchmark: the xView3 metric, official-style loops vs the vectorised scorer.

Run on demand (not part of the tests)::

    python benchmarks/bench_metric.py [--scenes 30] [--gt-per-scene 300]
        [--pred-per-scene 600] [--grid 50] [--out benchmarks/results]

A synthetic holdout (30 scenes of 5000 x 5000 px, ~300 labels and ~600 candidate predictions
each, a coastline in most scenes) is scored three ways:

(a) ``reference_score``: a straightforward transcription of the official scorer's logic in
    its own style (per-scene pandas filtering, Python loops over matched pairs, list
    membership tests, a dense KD-tree distance matrix for the shore test). Written for this
    benchmark; it follows ``reference/metric.py`` step by step.
(b) :func:`xview3_pipeline.core.metric.score` on the thresholded table.
(c) :func:`~xview3_pipeline.core.metric.prepare` once, then
    :func:`~xview3_pipeline.core.metric.score_thresholds` over a 50 x 50
    vessel x fishing threshold grid (and, for comparison, 2500 ``PreparedMatch.score`` calls).

Writes ``metric.csv`` (seconds per call, seconds for the whole grid, speed-up over (a)) and
logs the table. The grid time of (a) and (b) is extrapolated from single calls.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment
from scipy.spatial import KDTree, distance_matrix

from xview3_pipeline.core.metric import (
    label_from_probabilities,
    prepare,
    score,
    score_thresholds,
)
from xview3_pipeline.core.metric.shoreline import load_shorelines

logger = logging.getLogger("bench")

PIX_TO_M = 10
MAX_LEN_M = 500
COSTLY = 9999999 * PIX_TO_M


# --------------------------------------------------------------------------------------
# (a) Reference implementation in the official code's style
# --------------------------------------------------------------------------------------


def _ref_match(preds: pd.DataFrame, gt: pd.DataFrame, tol: float, costly: bool) -> Any:
    """Official-style matching of one scene: (tp pairs, fp index list, fn index list)."""
    if len(preds) == 0:  # the official code raises here; never hit in the benchmark
        raise ValueError("scene without predictions")
    p_xy = np.array(list(zip(preds["detect_scene_row"], preds["detect_scene_column"], strict=True)))
    g_xy = np.array(list(zip(gt["detect_scene_row"], gt["detect_scene_column"], strict=True)))
    dist = distance_matrix(p_xy, g_xy, p=2) * PIX_TO_M
    if costly:
        dist[dist > tol] = COSTLY
    rows, cols = linear_sum_assignment(dist)
    tp = [
        {"pred_idx": preds.index[r], "gt_idx": gt.index[c]}
        for r, c in zip(rows, cols, strict=True)
        if dist[r, c] < tol
    ]
    tp_pred = [t["pred_idx"] for t in tp]
    tp_gt = [t["gt_idx"] for t in tp]
    fp = [i for i in preds.index if i not in tp_pred]
    fn = [i for i in gt.index if i not in tp_gt]
    return tp, fp, fn


def _ref_shore_preds(preds: pd.DataFrame, shore_root: str, scene_id: str, km: float) -> Any:
    contours = np.load(f"{shore_root}/{scene_id}_shoreline.npy", allow_pickle=True)
    if len(contours) == 0:
        return pd.DataFrame()
    points = np.vstack(contours)
    tree_shore = KDTree(points)
    tree_pred = KDTree(np.array([preds["detect_scene_row"], preds["detect_scene_column"]]).T)
    dense = tree_shore.sparse_distance_matrix(tree_pred, km * 1000 / PIX_TO_M, p=2).toarray()
    dense[dense == 0] = 9999999
    nearest = np.min(dense, axis=0)
    return preds.iloc[np.where(nearest != 9999999)]


def _ref_class(pred_vals: Any, gt_vals: Any, tp: list[dict], gate: Any = None) -> list[int]:
    """Official-style TP/FP/FN/TN tally on the matched pairs."""
    out = [0, 0, 0, 0]
    for pair in tp:
        g = gt_vals[pair["gt_idx"]]
        if gate is not None and not gate[pair["gt_idx"]]:
            continue
        if isinstance(g, float) and np.isnan(g):
            continue
        if pred_vals[pair["pred_idx"]] == g:
            out[0 if g else 3] += 1
        elif g:
            out[2] += 1
        elif g == False:  # noqa: E712 (the official comparison)
            out[1] += 1
    return out


def _ref_prf(tp: int, fp: int, fn: int) -> float:
    precision = tp / (tp + fp) if tp + fp else 0
    recall = tp / (tp + fn) if tp + fn else 0
    return (2 * precision * recall) / (precision + recall) if precision + recall else 0


def reference_score(
    pred: pd.DataFrame,
    gt: pd.DataFrame,
    shore_root: str | None,
    *,
    tol: float = 200,
    shore_km: float = 2,
    drop_low_detect: bool = True,
    costly: bool = True,
    score_all: bool = False,
) -> dict[str, float]:
    """The official scorer's logic, loop by loop (benchmark baseline and test oracle)."""
    pred = pred.reset_index(drop=True)
    gt = gt[gt["scene_id"].isin(pred["scene_id"].unique())].reset_index(drop=True)
    if not score_all:
        if drop_low_detect:
            low_preds = []
            for scene_id in gt["scene_id"].unique():
                p_sc = pred[pred["scene_id"] == scene_id]
                g_sc = gt[gt["scene_id"] == scene_id]
                tp, _, _ = _ref_match(p_sc, g_sc, tol, costly)
                low_gt = list(g_sc[g_sc["confidence"] == "LOW"].index)
                low_preds += [t["pred_idx"] for t in tp if t["gt_idx"] in low_gt]
            pred = pred.drop(index=low_preds).reset_index(drop=True)
        gt = gt[gt["confidence"].isin(["HIGH", "MEDIUM"])].reset_index(drop=True)

    tp_all: list[dict] = []
    n_fp = n_fn = 0
    for scene_id in gt["scene_id"].unique():
        tp, fp, fn = _ref_match(
            pred[pred["scene_id"] == scene_id], gt[gt["scene_id"] == scene_id], tol, costly
        )
        tp_all += tp
        n_fp += len(fp)
        n_fn += len(fn)
    loc = _ref_prf(len(tp_all), n_fp, n_fn)

    shore = 0
    if shore_km and shore_root:
        s_tp = s_fp = s_fn = 0
        for scene_id in gt["scene_id"].unique():
            p_sc = pred[pred["scene_id"] == scene_id]
            g_near = gt[(gt["scene_id"] == scene_id) & (gt["distance_from_shore_km"] <= shore_km)]
            p_near = _ref_shore_preds(p_sc, shore_root, scene_id, shore_km + tol / 1000)
            if len(g_near) > 0 and len(p_near) > 0:
                tp, fp, fn = _ref_match(p_near, g_near, tol, costly)
                s_tp += len(tp)
                s_fp += len(fp)
                s_fn += len(fn)
        shore = _ref_prf(s_tp, s_fp, s_fn)

    gate = gt["is_vessel"].isin([True])
    v = _ref_class(pred["is_vessel"].values, gt["is_vessel"].values, tp_all)
    f = _ref_class(pred["is_fishing"].values, gt["is_fishing"].values, tp_all, gate)
    vessel = _ref_prf(v[0], v[1], v[2])
    fishing = _ref_prf(f[0], f[1], f[2])

    p_len = pred["vessel_length_m"].tolist()
    g_len = gt["vessel_length_m"].tolist()
    err_sum, n_len = 0.0, 0.0
    for pair in tp_all:
        g = g_len[pair["gt_idx"]]
        if isinstance(g, float) and np.isnan(g):
            continue
        g = min(g, MAX_LEN_M)
        p = min(p_len[pair["pred_idx"]], MAX_LEN_M)
        with np.errstate(divide="ignore", invalid="ignore"):
            err_sum += np.abs(p - g) / g
        n_len += 1
    length = 0 if n_len == 0 else 1.0 - min(err_sum / n_len, 1.0)
    aggregate = loc * (1 + length + vessel + fishing + shore) / 5
    return {
        "loc_fscore": loc,
        "loc_fscore_shore": shore,
        "vessel_fscore": vessel,
        "fishing_fscore": fishing,
        "length_acc": length,
        "aggregate": aggregate,
    }


# --------------------------------------------------------------------------------------
# Synthetic holdout
# --------------------------------------------------------------------------------------


def make_holdout(
    root: Path,
    *,
    n_scenes: int = 30,
    gt_per_scene: int = 300,
    pred_per_scene: int = 600,
    size_px: int = 5000,
    seed: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write shorelines under ``root`` and return (candidates, labels) tables."""
    rng = np.random.default_rng(seed)
    gts: list[pd.DataFrame] = []
    preds: list[pd.DataFrame] = []
    for s in range(n_scenes):
        scene = f"{s:015x}v"
        if s % 5 == 4:
            contours = np.empty(0, dtype=object)  # open-ocean scene
            points = np.zeros((0, 2))
        else:
            cols = np.arange(0.0, size_px, 1.0)
            rows = size_px * 0.35 + 400 * np.sin(cols / 600 + s)
            points = np.stack([rows, cols], axis=1)
            contours = np.empty(2, dtype=object)
            contours[0], contours[1] = points[: size_px // 2], points[size_px // 2 :]
        np.save(root / f"{scene}_shoreline.npy", contours, allow_pickle=True)

        n = gt_per_scene
        # Half the labels in a band along the coast, the rest anywhere.
        rc = rng.uniform(0, size_px, (n, 2))
        if len(points):
            k = rng.integers(0, len(points), n // 2)
            rc[: n // 2] = points[k] + rng.normal(0, 250, (n // 2, 2))
            dist_km = KDTree(points).query(rc)[0] * PIX_TO_M / 1000
        else:
            dist_km = np.full(n, 50.0)
        rc = np.clip(np.round(rc), 0, size_px - 1)
        vessel = rng.choice(np.array([True, False, np.nan], dtype=object), n, p=[0.62, 0.33, 0.05])
        fishing = np.where(
            vessel == True,  # noqa: E712
            rng.choice(np.array([True, False, np.nan], dtype=object), n, p=[0.3, 0.6, 0.1]),
            rng.choice(np.array([False, np.nan], dtype=object), n, p=[0.5, 0.5]),
        )
        length = rng.lognormal(np.log(60), 0.7, n)
        length[rng.random(n) < 0.1] = np.nan
        dist_km[rng.random(n) < 0.02] = np.nan
        gts.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rc[:, 0].astype(np.int64),
                    "detect_scene_column": rc[:, 1].astype(np.int64),
                    "scene_id": scene,
                    "is_vessel": vessel,
                    "is_fishing": fishing,
                    "vessel_length_m": length,
                    "distance_from_shore_km": dist_km,
                    "confidence": rng.choice(["HIGH", "MEDIUM", "LOW"], n, p=[0.6, 0.3, 0.1]),
                }
            )
        )
        # Candidates: 85 % of labels detected with jitter, the rest false alarms.
        hit = rng.random(n) < 0.85
        det = rc[hit] + rng.normal(0, 6, (hit.sum(), 2))
        n_fa = max(pred_per_scene - len(det), 0)
        fa = rng.uniform(0, size_px, (n_fa, 2))
        det_rc = np.round(np.vstack([det, fa]))
        truth_v = np.concatenate([(vessel[hit] == True).astype(float), np.zeros(n_fa)])  # noqa: E712
        truth_f = np.concatenate([(fishing[hit] == True).astype(float), np.zeros(n_fa)])  # noqa: E712
        m = len(det_rc)
        glen = np.concatenate([np.nan_to_num(length[hit], nan=60.0), np.full(n_fa, 20.0)])
        preds.append(
            pd.DataFrame(
                {
                    "detect_scene_row": det_rc[:, 0],
                    "detect_scene_column": det_rc[:, 1],
                    "scene_id": scene,
                    "objectness_p": np.concatenate(
                        [rng.beta(5, 2, hit.sum()), rng.beta(2, 5, n_fa)]
                    ),
                    "vessel_p": np.clip(truth_v * 0.5 + rng.beta(2, 2, m) * 0.5, 0, 1),
                    "fishing_p": np.clip(truth_f * 0.4 + rng.beta(2, 3, m) * 0.6, 0, 1),
                    "vessel_length_m": glen * rng.lognormal(0, 0.3, m),
                }
            )
        )
    pred = pd.concat(preds, ignore_index=True).sample(frac=1.0, random_state=seed)
    return pred.reset_index(drop=True), pd.concat(gts, ignore_index=True)


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run(args: argparse.Namespace) -> pd.DataFrame:
    """Build the holdout, time the three paths, check they agree, write the CSV."""
    grid = np.linspace(0.0, 1.0, args.grid)
    with tempfile.TemporaryDirectory() as tmp:
        shore_root = Path(tmp)
        cands, gt = make_holdout(
            shore_root,
            n_scenes=args.scenes,
            gt_per_scene=args.gt_per_scene,
            pred_per_scene=args.pred_per_scene,
            seed=args.seed,
        )
        logger.info(
            "Holdout: %d scenes, %d labels, %d candidates.", args.scenes, len(gt), len(cands)
        )
        table = label_from_probabilities(cands, 0.5, 0.5)

        t_ref, ref = _time(lambda: reference_score(table, gt, str(shore_root)), args.ref_repeats)
        t_score, res = _time(lambda: score(table, gt, shore_root=shore_root), args.repeats)
        shorelines = load_shorelines(shore_root, gt["scene_id"].unique())
        t_score_pre, _ = _time(lambda: score(table, gt, shorelines=shorelines), args.repeats)
        t_prep, prepared = _time(lambda: prepare(cands, gt, shore_root=shore_root), args.repeats)
        t_grid, agg = _time(lambda: score_thresholds(prepared, grid, grid), args.repeats)
        t_loop, _ = _time(
            lambda: [prepared.score(v, f) for v in grid for f in grid], max(1, args.repeats // 2)
        )

    diff_ref = max(abs(res.as_dict()[k] - ref[k]) for k in ref)
    i, j = args.grid // 3, 2 * args.grid // 3
    direct = score(label_from_probabilities(cands, grid[i], grid[j]), gt, shorelines=shorelines)
    diff_grid = abs(direct.aggregate - agg[i, j])
    logger.info("max |score - reference| = %.3g; |grid - direct| = %.3g", diff_ref, diff_grid)
    if diff_ref > 1e-9 or diff_grid > 1e-12:
        raise AssertionError("The benchmarked implementations disagree.")

    n = args.grid**2
    rows = [
        ("a_reference_official_style", t_ref, t_ref * n),
        ("b_score_shore_root", t_score, t_score * n),
        ("b_score_preloaded_shorelines", t_score_pre, t_score_pre * n),
        ("c_prepare", t_prep, t_prep),
        ("c_prepared_score_single", t_loop / n, t_loop),
        ("c_score_thresholds_grid", t_grid / n, t_grid),
        ("c_prepare_plus_grid", (t_prep + t_grid) / n, t_prep + t_grid),
    ]
    out = pd.DataFrame(rows, columns=["method", "seconds_per_evaluation", "seconds_for_grid"])
    out["speedup_vs_reference_per_evaluation"] = t_ref / out["seconds_per_evaluation"]
    out["speedup_vs_reference_grid"] = t_ref * n / out["seconds_for_grid"]
    out.loc[out["method"] == "c_prepare", "speedup_vs_reference_per_evaluation"] = t_ref / t_prep
    out["grid"] = f"{args.grid}x{args.grid}"
    out["scenes"] = args.scenes
    out["n_gt"] = len(gt)
    out["n_pred"] = len(cands)
    out["max_abs_diff_vs_reference"] = diff_ref
    return out


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=30)
    parser.add_argument("--gt-per-scene", type=int, default=300)
    parser.add_argument("--pred-per-scene", type=int, default=600)
    parser.add_argument("--grid", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ref-repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    table = run(args)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "metric.csv"
    table.to_csv(path, index=False, float_format="%.6g")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        logger.info("\n%s", table.to_string(index=False))
    logger.info("Wrote %s", path)


if __name__ == "__main__":
    main()
