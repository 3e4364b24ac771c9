"""The nested tuning configuration: defaults, validation and the previous release's keys."""

from __future__ import annotations

import warnings

import pytest

from xview3_pipeline.core.config import RenamedOptionWarning
from xview3_pipeline.core.constants import DEFAULT_THRESHOLDS
from xview3_pipeline.core.metric import MetricConfig
from xview3_pipeline.core.tuning import GridConfig, OptunaConfig, TuningConfig


def test_defaults_are_optuna_the_winners_grid_and_the_leaderboard_metric() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cfg = TuningConfig.from_dict({})
    assert cfg.methods == ("optuna",) and cfg.method == "optuna"
    assert (cfg.optuna.n_trials, cfg.optuna.seed) == (200, 42)
    assert cfg.defaults.as_dict() == dict(DEFAULT_THRESHOLDS)
    assert cfg.metric == MetricConfig()
    grid = cfg.grid.objectness_values()
    assert len(grid) == 26 and grid[0] == 0.35 and grid[-1] == 0.6
    assert len(cfg.grid.vessel_values()) == len(cfg.grid.fishing_values()) == 50
    assert cfg == TuningConfig()


def test_nested_parts_are_parsed_into_their_dataclasses() -> None:
    cfg = TuningConfig.from_dict(
        {
            "methods": ["grid", "optuna"],
            "optuna": {"n_trials": 7, "study_name": "s"},
            "grid": {"objectness_start": 0.1, "objectness_stop": 0.2},
            "metric": {"costly_dist": False, "shore_tolerance_km": 0},
            "defaults": {"vessel": 0.5},
        }
    )
    assert cfg.methods == ("grid", "optuna") and cfg.method == "grid"
    assert cfg.optuna == OptunaConfig(n_trials=7, study_name="s")
    assert cfg.grid == GridConfig(objectness_start=0.1, objectness_stop=0.2)
    assert cfg.metric == MetricConfig(costly_dist=False, shore_tolerance_km=0.0)
    assert cfg.defaults.as_dict() == dict(DEFAULT_THRESHOLDS) | {"vessel": 0.5}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"n_trial": 5}, r"Unknown tuning key\(s\) \['n_trial'\]; valid keys are \['cache_size'"),
        (
            {"optuna": {"trials": 5}},
            r"tuning.optuna key\(s\) \['trials'\]; valid keys are .*n_trials",
        ),
        ({"grid": {"points": 5}}, r"tuning.grid key\(s\) \['points'\].*vessel_fishing_points"),
        ({"metric": {"radius": 5}}, r"tuning.metric key\(s\) \['radius'\].*distance_tolerance_m"),
        ({"defaults": {"length": 5}}, r"tuning.defaults key\(s\) \['length'\].*objectness"),
        ({"methods": ["random"]}, r"tuning.methods .* from \['optuna', 'grid'\], got \['random'\]"),
        ({"methods": []}, r"tuning.methods must be a non-empty list"),
        ({"methods": ["grid", "grid"]}, r"distinct methods"),
        ({"optuna": {"objectness_step": 0.03}}, "multiple of the step"),
        ({"optuna": {"objectness_low": 0.9}}, r"tuning.optuna.objectness_low < objectness_high"),
        ({"optuna": {"n_trials": 0}}, r"tuning.optuna.n_trials must be >= 1, got 0"),
        ({"grid": {"objectness_step": 0}}, r"tuning.grid.objectness_step must be > 0"),
        ({"grid": {"vessel_start": 0.6, "vessel_stop": 0.5}}, r"tuning.grid.vessel_start"),
        ({"defaults": {"fishing": 1.5}}, r"tuning.defaults.fishing must be in \[0, 1\], got 1.5"),
        ({"metric": {"distance_tolerance_m": -1}}, "distance_tolerance_m must be"),
        ({"cache_size": 0}, "tuning.cache_size must be >= 1"),
    ],
)
def test_bad_values_name_the_parameter(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TuningConfig.from_dict(values)


def test_the_single_method_key_is_accepted_with_a_warning() -> None:
    with pytest.warns(
        RenamedOptionWarning, match=r"tuning.method is deprecated.*methods: \[grid\]"
    ):
        cfg = TuningConfig.from_dict({"method": "grid"})
    assert cfg.methods == ("grid",)
    with pytest.raises(ValueError, match="either methods"):
        TuningConfig.from_dict({"method": "grid", "methods": ["optuna"]})


def test_flat_keys_of_the_previous_release_move_to_their_nested_place() -> None:
    old = {
        "n_trials": 9,
        "grid_objectness_step": 0.05,
        "grid_vessel_fishing_points": 4,
        "vessel_low": 0.2,
        "score_all": True,
        "default_objectness": 0.4,
    }
    with pytest.warns(RenamedOptionWarning) as record:
        cfg = TuningConfig.from_dict(old)
    moved = " ".join(str(w.message) for w in record)
    assert "tuning.n_trials is deprecated" in moved and "tuning.optuna.n_trials" in moved
    assert "tuning.optuna.vessel_low and grid.vessel_start" in moved
    assert cfg.optuna.n_trials == 9 and cfg.optuna.vessel_low == 0.2
    assert (cfg.grid.objectness_step, cfg.grid.vessel_fishing_points) == (0.05, 4)
    assert cfg.grid.vessel_start == 0.2  # the vessel range was shared by both methods
    assert cfg.metric.score_all and cfg.defaults.objectness == 0.4
    # A nested value wins over a flat one.
    with pytest.warns(RenamedOptionWarning):
        both = TuningConfig.from_dict({"n_trials": 3, "optuna": {"n_trials": 5}})
    assert both.optuna.n_trials == 5
