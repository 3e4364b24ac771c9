"""Threshold tuning: Optuna and grid search against the official metric."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np
import optuna
import pandas as pd
import pytest
from matplotlib.figure import Figure

from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS
from xview3_pipeline.core.metric import COMPONENTS, prepare, score
from xview3_pipeline.core.tuning import (
    TRIAL_COLUMNS,
    PreparedCache,
    TuningConfig,
    TuningResult,
    apply_thresholds,
    grid_search,
    optuna_search,
    plot_grid,
    plot_history,
    plot_slices,
    tune_thresholds,
)

#: Planted separation: false alarms have objectness below, true objects above.
FA_OBJECTNESS_MAX = 0.45
TP_OBJECTNESS_MIN = 0.55


def make_holdout(
    seed: int = 0, n_scenes: int = 3, n_gt: int = 40, n_fa: int = 40, size: float = 3000.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic truth and candidates with known structure.

    True objects sit on a jittered lattice (well separated); each has a candidate within a
    few pixels with high objectness and informative vessel/fishing probabilities. False
    alarms lie on free lattice cells with low objectness and random probabilities.
    """
    rng = np.random.default_rng(seed)
    truths, candidates = [], []
    for s in range(n_scenes):
        scene = f"scene{s}"
        side = int(np.ceil(np.sqrt(n_gt + n_fa))) + 1
        cells = rng.permutation(side * side)[: n_gt + n_fa]
        spacing = size / side
        rows = (cells // side) * spacing + spacing / 2 + rng.uniform(-5, 5, cells.size)
        cols = (cells % side) * spacing + spacing / 2 + rng.uniform(-5, 5, cells.size)
        vessel = rng.random(n_gt) < 0.7
        fishing = vessel & (rng.random(n_gt) < 0.45)
        length = rng.uniform(20, 200, n_gt)
        truths.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rows[:n_gt],
                    "detect_scene_column": cols[:n_gt],
                    "scene_id": scene,
                    "is_vessel": vessel,
                    "is_fishing": fishing,
                    "vessel_length_m": length,
                    "confidence": "HIGH",
                    "distance_from_shore_km": 50.0,
                }
            )
        )
        vessel_p = np.where(vessel, rng.normal(0.7, 0.12, n_gt), rng.normal(0.35, 0.12, n_gt))
        fishing_p = np.where(fishing, rng.normal(0.65, 0.12, n_gt), rng.normal(0.35, 0.12, n_gt))
        candidates.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rows[:n_gt] + rng.integers(-3, 4, n_gt),
                    "detect_scene_column": cols[:n_gt] + rng.integers(-3, 4, n_gt),
                    "scene_id": scene,
                    "vessel_length_m": length * rng.uniform(0.9, 1.1, n_gt),
                    "objectness_p": rng.uniform(TP_OBJECTNESS_MIN, 0.95, n_gt),
                    "vessel_p": np.clip(vessel_p, 0, 1),
                    "fishing_p": np.clip(fishing_p, 0, 1),
                }
            )
        )
        candidates.append(
            pd.DataFrame(
                {
                    "detect_scene_row": rows[n_gt:],
                    "detect_scene_column": cols[n_gt:],
                    "scene_id": scene,
                    "vessel_length_m": rng.uniform(20, 200, n_fa),
                    "objectness_p": rng.uniform(0.05, FA_OBJECTNESS_MAX, n_fa),
                    "vessel_p": rng.random(n_fa),
                    "fishing_p": rng.random(n_fa),
                }
            )
        )
    return pd.concat(candidates, ignore_index=True), pd.concat(truths, ignore_index=True)


@pytest.fixture(autouse=True)
def _quiet_optuna() -> Iterator[None]:
    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(level)


@pytest.fixture(scope="module")
def holdout() -> tuple[pd.DataFrame, pd.DataFrame]:
    return make_holdout()


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


def _optuna(n_trials: int, **options: object) -> dict[str, object]:
    return {"optuna": {"n_trials": n_trials, **options}}


def test_optuna_resumes_from_sqlite(holdout, tmp_path) -> None:
    candidates, truth = holdout
    path = tmp_path / "tuning" / "study.db"
    opts = {"study_name": "resume", "study_per_data": False}
    first = optuna_search(candidates, truth, _optuna(10, **opts), storage_path=path)
    assert path.exists() and len(first.trials) == 10
    second = optuna_search(candidates, truth, _optuna(20, **opts), storage_path=path)
    assert second.stats["n_new_trials"] == 10
    assert len(second.trials) == 20
    assert second.study is not None and first.study is not None
    assert second.study.study_name == "resume"
    assert second.study._study_id == first.study._study_id
    pd.testing.assert_frame_equal(second.trials.iloc[:10], first.trials)
    assert second.best_value >= first.best_value
    summaries = optuna.get_all_study_summaries(f"sqlite:///{path}")
    assert [(s.study_name, s.n_trials) for s in summaries] == [("resume", 20)]
    # Already at the target: no new trials, same best.
    third = optuna_search(candidates, truth, _optuna(15, **opts), storage_path=path)
    assert third.stats["n_new_trials"] == 0 and len(third.trials) == 20
    assert third.best_thresholds == second.best_thresholds
    # Other data under the same study name is refused.
    other, _ = make_holdout(seed=1)
    with pytest.raises(ValueError, match="other candidates"):
        optuna_search(other, truth, _optuna(30, **opts), storage_path=path)


def test_study_per_data_resumes_same_data_and_separates_new_data(holdout, tmp_path) -> None:
    candidates, truth = holdout
    path = tmp_path / "study.db"
    first = optuna_search(candidates, truth, _optuna(6, study_name="thr"), storage_path=path)
    again = optuna_search(candidates, truth, _optuna(8, study_name="thr"), storage_path=path)
    assert again.study.study_name == first.study.study_name and again.stats["n_new_trials"] == 2
    other, _ = make_holdout(seed=1)
    fresh = optuna_search(other, truth, _optuna(6, study_name="thr"), storage_path=path)
    assert fresh.study.study_name != first.study.study_name and len(fresh.trials) == 6
    assert fresh.study.study_name.startswith("thr-")


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
