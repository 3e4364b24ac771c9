"""The metric options: one validated configuration, the leaderboard's by default."""

from __future__ import annotations

import dataclasses
import math

import pandas as pd
import pytest

from xview3_pipeline.core.metric import MetricConfig, score
from xview3_pipeline.metric import build_parser, config_from_args, main


def test_defaults_are_the_leaderboard_switches() -> None:
    cfg = MetricConfig.from_dict(None)
    assert cfg == MetricConfig()
    assert cfg.as_dict() == {
        "distance_tolerance_m": 200.0,
        "shore_tolerance_km": 2.0,
        "drop_low_detect": True,
        "costly_dist": True,
        "score_all": False,
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.score_all = True  # type: ignore[misc]


def test_from_dict_takes_ints_for_tolerances_and_rejects_unknown_keys() -> None:
    cfg = MetricConfig.from_dict({"distance_tolerance_m": 150, "shore_tolerance_km": 0})
    assert cfg.distance_tolerance_m == 150.0 and type(cfg.distance_tolerance_m) is float
    assert MetricConfig(shore_tolerance_km=2).as_dict() == MetricConfig().as_dict()
    assert repr(MetricConfig(distance_tolerance_m=200)) == repr(MetricConfig())
    with pytest.raises(ValueError, match=r"Unknown metric key\(s\) \['radius'\]; valid keys are"):
        MetricConfig.from_dict({"radius": 200})
    with pytest.raises(ValueError, match=r"Unknown tuning.metric key"):
        MetricConfig.from_dict({"radius": 200}, what="tuning.metric")


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"distance_tolerance_m": 0.0}, ValueError, r"distance_tolerance_m .* > 0, got 0.0"),
        ({"distance_tolerance_m": math.inf}, ValueError, "distance_tolerance_m must be a finite"),
        ({"shore_tolerance_km": -1.0}, ValueError, r"shore_tolerance_km .* >= 0 .*got -1.0"),
        ({"shore_tolerance_km": "2"}, TypeError, "shore_tolerance_km must be a number, got '2'"),
        (
            {"drop_low_detect": "false"},
            TypeError,
            r"drop_low_detect must be true or false, got 'false'",
        ),
        ({"score_all": 1}, TypeError, r"score_all must be true or false, got 1 \(int\)"),
    ],
)
def test_bad_values_name_the_option(values: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        MetricConfig(**values)


def test_score_reports_the_config_it_used() -> None:
    gt = pd.DataFrame(
        {
            "detect_scene_row": [0],
            "detect_scene_column": [0],
            "scene_id": ["s"],
            "is_vessel": [True],
            "is_fishing": [False],
            "vessel_length_m": [50.0],
            "confidence": ["HIGH"],
            "distance_from_shore_km": [10.0],
        }
    )
    pred = gt.drop(columns=["confidence", "distance_from_shore_km"])
    details = score(pred, gt, MetricConfig(costly_dist=False)).details
    assert details["config"] == MetricConfig(costly_dist=False).as_dict() | {"shore_enabled": False}


def test_cli_switches_build_the_config() -> None:
    parser = build_parser()
    args = parser.parse_args(["--pred", "p.csv", "--gt", "g.csv"])
    assert config_from_args(args) == MetricConfig()
    flags = ["--no-drop-low", "--plain-distance", "--score-all", "--shore-tolerance", "0.5"]
    args = parser.parse_args(["--pred", "p.csv", "--gt", "g.csv", *flags])
    assert config_from_args(args) == MetricConfig(
        shore_tolerance_km=0.5, drop_low_detect=False, costly_dist=False, score_all=True
    )


def test_cli_refuses_a_bad_tolerance(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--pred", "p.csv", "--gt", "g.csv", "--shore-tolerance", "-1"])
    assert exit_info.value.code == 2
    assert "shore_tolerance_km must be a finite number of km >= 0" in capsys.readouterr().err
