"""Threshold tuning: Optuna and grid search against the official metric."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from tests.core.tuning.conftest import FA_OBJECTNESS_MAX, TP_OBJECTNESS_MIN
from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS
from xview3_pipeline.core.metric import COMPONENTS, prepare, score
from xview3_pipeline.core.tuning import (
    COMPARISON_COLUMNS,
    TRIAL_COLUMNS,
    PreparedCache,
    TuningConfig,
    TuningResult,
    apply_thresholds,
    compare_methods,
    grid_search,
    optuna_search,
    plot_grid,
    plot_history,
    plot_slices,
    tune_thresholds,
)


@pytest.fixture(scope="module")
def optuna_result(holdout: tuple[pd.DataFrame, pd.DataFrame]) -> TuningResult:
    candidates, truth = holdout
    return optuna_search(candidates, truth, {"optuna": {"n_trials": 120}})


def _official(candidates: pd.DataFrame, truth: pd.DataFrame, thresholds: dict) -> float:
    return score(apply_thresholds(candidates, thresholds), truth).aggregate


# --------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------
# Optuna
# --------------------------------------------------------------------------------------


def test_optuna_finds_planted_optimum(holdout, optuna_result) -> None:
    candidates, truth = holdout
    cfg = TuningConfig()
    cache = PreparedCache.from_config(candidates, truth, cfg)
    fine = np.linspace(0, 1, 101)
    brute = max(
        cache.get(o).score_grid(fine, fine)["aggregate"].max()
        for o in np.round(np.arange(0.1, 0.8 + 1e-9, 0.005), 10)
    )
    result = optuna_result
    assert result.method == "optuna" and result.study is not None
    assert result.best_value >= brute - 0.02
    # The objectness threshold separates the planted populations: perfect localisation.
    assert FA_OBJECTNESS_MAX < result.best_thresholds["objectness"] <= TP_OBJECTNESS_MIN
    assert result.best_components["loc_fscore"] == 1.0
    assert set(result.best_components) == set(COMPONENTS)
    assert result.best_value == result.best_components["aggregate"]
    # Plain floats, JSON-ready; the value is the official score of the submission.
    assert all(type(v) is float for v in result.best_thresholds.values())
    assert result.best_value == pytest.approx(
        _official(candidates, truth, result.best_thresholds), abs=1e-12
    )
    assert list(result.trials.columns) == list(TRIAL_COLUMNS)
    assert len(result.trials) == 120
    assert result.stats["cache_misses"] <= 141


def test_optuna_trial_values_equal_uncached_scores(holdout, optuna_result) -> None:
    candidates, truth = holdout
    for _, row in optuna_result.trials.iloc[::15].iterrows():
        thresholds = {k: row[k] for k in ("objectness", "vessel", "fishing")}
        official = score(apply_thresholds(candidates, thresholds), truth)
        for name in COMPONENTS:
            assert row[name] == pytest.approx(getattr(official, name), abs=1e-12)


def test_optuna_starts_with_the_defaults(optuna_result) -> None:
    first = optuna_result.trials.iloc[0]
    assert (first["objectness"], first["vessel"], first["fishing"]) == (0.3, 0.338, 0.35)


def test_optuna_is_deterministic_under_the_seed(holdout) -> None:
    candidates, truth = holdout
    runs = [
        optuna_search(candidates, truth, {"optuna": {"n_trials": 25, "seed": s}}) for s in (7, 7, 8)
    ]
    cols = ["objectness", "vessel", "fishing", "aggregate"]
    pd.testing.assert_frame_equal(runs[0].trials[cols], runs[1].trials[cols])
    assert runs[0].best_thresholds == runs[1].best_thresholds
    assert not runs[0].trials[cols].equals(runs[2].trials[cols])


# --------------------------------------------------------------------------------------
# Grid search and cache
# --------------------------------------------------------------------------------------


def test_grid_search_matches_a_loop_over_score(holdout) -> None:
    candidates, truth = holdout
    cfg = {
        "methods": ["grid"],
        "grid": {
            "objectness_start": 0.4,
            "objectness_stop": 0.6,
            "objectness_step": 0.1,
            "vessel_fishing_points": 4,
        },
    }
    results = tune_thresholds(candidates, truth, cfg, storage_path="ignored.db")
    assert list(results) == ["grid"]
    result = results["grid"]
    assert result.method == "grid" and result.study is None
    assert len(result.trials) == 3 * 4 * 4
    assert sorted(result.trials["objectness"].unique()) == [0.4, 0.5, 0.6]
    loop = []
    for o in (0.4, 0.5, 0.6):
        for v in np.linspace(0, 1, 4):
            for f in np.linspace(0, 1, 4):
                thresholds = {"objectness": o, "vessel": v, "fishing": f}
                loop.append((o, v, f, _official(candidates, truth, thresholds)))
    expected = pd.DataFrame(loop, columns=["objectness", "vessel", "fishing", "aggregate"])
    np.testing.assert_allclose(result.trials["aggregate"], expected["aggregate"], atol=1e-12)
    best = expected.loc[expected["aggregate"].idxmax()]
    assert result.best_value == pytest.approx(best["aggregate"], abs=1e-12)
    assert result.best_thresholds["objectness"] == best["objectness"]


def test_grid_default_is_the_winners_grid(holdout) -> None:
    candidates, truth = holdout
    result = grid_search(candidates, truth)
    assert len(result.trials) == 26 * 50 * 50
    assert result.stats["cache_misses"] == 26  # one matching per objectness threshold
    assert result.best_components["loc_fscore"] == 1.0


def test_cache_equals_uncached_prepare_and_is_bounded(holdout) -> None:
    candidates, truth = holdout
    cache = PreparedCache(candidates, truth, maxsize=2)
    for o in (0.3, 0.5, 0.3, 0.7, 0.5, 0.5):
        cached = cache.get(o)
        fresh = prepare(candidates, truth, objectness_threshold=o)
        for v, f in ((0.2, 0.8), (0.5, 0.5), (0.66, 0.31)):
            assert cached.score(v, f).as_dict() == fresh.score(v, f).as_dict()
        assert len(cache) <= 2
    # 0.3 miss, 0.5 miss, 0.3 hit, 0.7 miss (evicts 0.5), 0.5 miss, 0.5 hit.
    assert (cache.hits, cache.misses) == (2, 4)
    # Floating noise does not create new entries.
    cache.get(0.1 + 0.2)
    cache.get(0.3)
    assert cache.hits == 3


# --------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------


def test_tune_runs_the_listed_methods_in_order_on_one_cache(holdout) -> None:
    candidates, truth = holdout
    small_grid = {
        "objectness_start": 0.5,
        "objectness_stop": 0.6,
        "objectness_step": 0.1,
        "vessel_fishing_points": 3,
    }
    cfg = {"methods": ["grid", "optuna"], "optuna": {"n_trials": 5}, "grid": small_grid}
    results = tune_thresholds(candidates, truth, cfg)
    assert list(results) == ["grid", "optuna"]
    assert results["grid"].study is None and results["optuna"].study is not None
    assert len(results["grid"].trials) == 2 * 3 * 3 and len(results["optuna"].trials) == 5
    # Each method alone gives the same result: sharing the cache changes no score.
    alone = optuna_search(candidates, truth, cfg)
    pd.testing.assert_frame_equal(alone.trials, results["optuna"].trials)
    comparison = compare_methods(results)
    assert list(comparison.columns) == list(COMPARISON_COLUMNS)
    assert comparison["method"].tolist() == ["grid", "optuna"]
    assert comparison["aggregate"].tolist() == [r.best_value for r in results.values()]
    assert comparison["evaluations"].tolist() == [18, 5]
    # Only the default method runs by default.
    default = tune_thresholds(candidates, truth, {"optuna": {"n_trials": 3}})
    assert list(default) == ["optuna"]
    assert compare_methods({}).empty


# --------------------------------------------------------------------------------------
# Edge cases
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["optuna", "grid"])
def test_empty_candidates_give_the_defaults(holdout, method, caplog) -> None:
    candidates, truth = holdout
    with caplog.at_level(logging.WARNING, logger="xview3_pipeline.core.tuning"):
        result = tune_thresholds(candidates.iloc[:0], truth, {"methods": [method]})[method]
    assert result.best_thresholds == DEFAULT_THRESHOLDS
    assert result.best_value == 0.0 and result.study is None
    assert list(result.trials.columns) == list(TRIAL_COLUMNS) and result.trials.empty
    assert any("No candidates" in r.getMessage() for r in caplog.records)


def test_truth_scene_without_candidates_does_not_lower_the_score(holdout) -> None:
    candidates, truth = holdout
    extra = truth[truth["scene_id"] == "scene0"].assign(scene_id="no_candidates")
    cfg = {"grid": {"objectness_start": 0.5, "objectness_stop": 0.5}}
    base = grid_search(candidates, truth, cfg)
    more = grid_search(candidates, pd.concat([truth, extra], ignore_index=True), cfg)
    assert more.best_value == base.best_value
    assert more.best_thresholds == base.best_thresholds


# --------------------------------------------------------------------------------------
# Applying thresholds
# --------------------------------------------------------------------------------------


def test_apply_thresholds_columns_and_independent_flags() -> None:
    candidates = pd.DataFrame(
        {
            "detect_scene_row": [1, 2, 3, 4],
            "detect_scene_column": [5, 6, 7, 8],
            "scene_id": ["a", "a", "b", "b"],
            "vessel_length_m": [10.0, 20.0, 30.0, 40.0],
            "objectness_p": [0.9, 0.8, 0.2, np.nan],
            "vessel_p": [0.1, 0.9, 0.9, 0.9],
            "fishing_p": [0.9, np.nan, 0.9, 0.9],
            "extra": [1, 2, 3, 4],
        },
        index=[10, 11, 12, 13],
    )
    thresholds = {"objectness": 0.5, "vessel": 0.5, "fishing": 0.5}
    out = apply_thresholds(candidates, thresholds)
    assert list(out.columns) == [
        "detect_scene_row",
        "detect_scene_column",
        "scene_id",
        "is_vessel",
        "is_fishing",
        "vessel_length_m",
        "objectness_p",
        "vessel_p",
        "fishing_p",
    ]
    assert list(out.index) == [0, 1]  # low and NaN objectness dropped
    # Independent flags: fishing without vessel is kept; NaN probability is False.
    assert out["is_vessel"].tolist() == [False, True]
    assert out["is_fishing"].tolist() == [True, False]
    gated = apply_thresholds(candidates, thresholds, fishing_requires_vessel=True)
    assert gated["is_fishing"].tolist() == [False, False]
    assert list(apply_thresholds(candidates, thresholds, keep_columns=()).columns) == list(
        out.columns[:6]
    )
    with pytest.raises(ValueError, match="fishing"):
        apply_thresholds(candidates, {"objectness": 0.5, "vessel": 0.5})


# --------------------------------------------------------------------------------------
# Plots
# --------------------------------------------------------------------------------------


def test_plots_return_figures(holdout, optuna_result) -> None:
    candidates, truth = holdout
    grid = grid_search(
        candidates,
        truth,
        {"grid": {"objectness_start": 0.4, "objectness_stop": 0.6, "vessel_fishing_points": 6}},
    )
    for trials in (optuna_result.trials, grid.trials, optuna_result.trials.iloc[:0]):
        history = plot_history(trials)
        assert isinstance(history, Figure) and len(history.axes) == 1
        assert (history.axes[0].get_xlabel(), history.axes[0].get_ylabel()) == (
            "trial",
            "aggregate",
        )
        slices = plot_slices(trials)
        assert isinstance(slices, Figure)
        assert [ax.get_xlabel() for ax in slices.axes[:3]] == [
            "objectness threshold",
            "vessel threshold",
            "fishing threshold",
        ]
        heat = plot_grid(trials)
        assert isinstance(heat, Figure)
        assert heat.axes[0].get_xlabel() == "objectness threshold"
        assert (heat.axes[1].get_xlabel(), heat.axes[1].get_ylabel()) == (
            "fishing threshold",
            "vessel threshold",
        )
    # Grid trials give a heatmap (a QuadMesh) at the best objectness threshold.
    heat = plot_grid(grid.trials)
    assert heat.axes[1].collections[0].__class__.__name__ == "QuadMesh"
    assert "objectness" in heat.axes[1].get_title()
