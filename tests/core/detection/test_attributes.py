"""Fishing from length and neighbours (core/detection/attributes.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from xview3_pipeline.core.detection.attributes import (
    AttributeConfig,
    FishingModel,
    RescoredDetector,
    feature_matrix,
    fishing_targets,
    fit_fishing_model,
    neighbour_scores,
)


def _frame(rows: list[tuple[str, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=["scene_id", "detect_scene_row", "detect_scene_column", "objectness_p"]
    )


def test_neighbour_scores_sum_the_objectness_of_the_others_within_each_radius() -> None:
    # Pixels of 10 m: b is 50 m from a, c 300 m; scene "s2" is apart even at the same pixel.
    frame = _frame([("s1", 0, 0, 0.9), ("s1", 0, 5, 0.5), ("s1", 30, 0, 0.2), ("s2", 0, 0, 0.7)])
    scores = neighbour_scores(frame, [100.0, 1000.0])
    np.testing.assert_allclose(scores[:, 0], [0.5, 0.9, 0.0, 0.0])
    np.testing.assert_allclose(scores[:, 1], [0.7, 1.1, 1.4, 0.0])
    assert neighbour_scores(frame.iloc[:0], [100.0]).shape == (0, 1)


def test_neighbour_scores_keep_the_row_order_of_interleaved_scenes() -> None:
    frame = _frame([("b", 0, 0, 0.3), ("a", 0, 0, 0.6), ("b", 0, 1, 0.4), ("a", 0, 1, 0.1)])
    np.testing.assert_allclose(neighbour_scores(frame, [50.0])[:, 0], [0.4, 0.1, 0.3, 0.6])


def test_fishing_targets_come_from_the_matched_vessel_labels_that_know_them() -> None:
    candidates = _frame(
        [("s", 100, 100, 0.9), ("s", 101, 100, 0.2), ("s", 300, 300, 0.8), ("s", 500, 500, 0.9),
         ("t", 50, 50, 0.9), ("t", 50, 50, 0.9)]
    )  # fmt: skip
    labels = pd.DataFrame(
        {
            "scene_id": ["s", "s", "s", "t", "t"],
            "detect_scene_row": [100, 302, 700, 50, 52],
            "detect_scene_column": [101, 300, 700, 50, 50],
            "is_vessel": [True, True, "True", "False", True],
            "is_fishing": ["True", None, False, False, "False"],
        }
    )
    target = fishing_targets(candidates, labels, min_objectness=0.3)
    # Row 1 is below the objectness for matching; row 2's label is blank; row 3 unmatched;
    # in scene t one candidate matches a non-vessel (the metric leaves it out), one a vessel.
    assert target.iloc[0] == 1.0
    assert np.isnan(target.iloc[1:4]).all()
    assert sorted(target.iloc[4:].fillna(-1)) == [-1.0, 0.0]
    labels.loc[2, ["detect_scene_row", "detect_scene_column"]] = [505, 500]
    assert fishing_targets(candidates, labels, min_objectness=0.3).iloc[3] == 0.0
    assert fishing_targets(candidates, labels.iloc[:0]).isna().all()


def _fleet_scenes(seed: int, n_scenes: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scenes with fleets of short fishing boats and lone long vessels, and their labels."""
    rng = np.random.default_rng(seed)
    candidates, labels = [], []
    for s in range(n_scenes):
        rows = []
        for _ in range(4):  # fleets of 4 boats of ~23 m within ~30 px
            centre = rng.uniform(100, 900, 2)
            rows += [(*(centre + rng.normal(0, 15, 2)), np.exp(rng.normal(np.log(23), 0.3)), 1)
                     for _ in range(4)]  # fmt: skip
        rows += [(*rng.uniform(0, 1000, 2), np.exp(rng.normal(np.log(80), 0.6)), 0)
                 for _ in range(14)]  # fmt: skip
        table = pd.DataFrame(rows, columns=["r", "c", "length", "fishing"])
        scene = f"scene{s}"
        candidates.append(
            pd.DataFrame(
                {
                    "scene_id": scene,
                    "detect_scene_row": table["r"].round().astype(int),
                    "detect_scene_column": table["c"].round().astype(int),
                    "objectness_p": rng.uniform(0.5, 1.0, len(table)),
                    "vessel_p": 0.9,
                    # An uninformative network head.
                    "fishing_p": rng.uniform(0.0, 1.0, len(table)),
                    "vessel_length_m": table["length"],
                }
            )
        )
        labels.append(
            candidates[-1][["scene_id", "detect_scene_row", "detect_scene_column"]].assign(
                is_vessel=True, is_fishing=np.where(table["fishing"] == 1, "True", "False")
            )
        )
    return pd.concat(candidates, ignore_index=True), pd.concat(labels, ignore_index=True)


def test_the_fitted_model_learns_length_and_fleets_and_its_cv_says_so() -> None:
    candidates, labels = _fleet_scenes(0)
    config = AttributeConfig(fishing="context", neighbour_radius_m=(300.0,))
    model = fit_fishing_model(candidates, labels, config)
    assert model is not None
    assert model.n_scenes == 8 and model.n_rows == len(candidates)
    # Longer is less fishing; more neighbours more.
    assert model.coef[0] < 0 < model.coef[1]
    assert model.cv["auc_model"] > 0.9
    assert model.cv["auc_network"] < 0.7
    assert model.cv["log_loss_model"] < model.cv["log_loss_network"]
    test, test_labels = _fleet_scenes(1, n_scenes=2)
    p = model.predict(test)
    y = test_labels["is_fishing"].eq("True").to_numpy()
    assert p[y].mean() > 0.7
    assert p[~y].mean() < 0.3
    rescored = model.rescore(test)
    np.testing.assert_allclose(rescored["fishing_p"], p)
    assert test["fishing_p"].between(0, 1).all() and not np.allclose(test["fishing_p"], p)


def test_the_model_round_trips_through_json_and_its_fingerprint_follows_the_numbers() -> None:
    candidates, labels = _fleet_scenes(0)
    model = fit_fishing_model(candidates, labels, AttributeConfig(fishing="context"))
    assert model is not None
    again = FishingModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again is not None
    np.testing.assert_allclose(again.predict(candidates), model.predict(candidates))
    assert again.fingerprint() == model.fingerprint()
    other = FishingModel.from_dict(model.to_dict() | {"intercept": model.intercept + 1.0})
    assert other is not None and other.fingerprint() != model.fingerprint()
    assert FishingModel.from_dict({"fishing": "network"}) is None
    assert FishingModel.from_dict(None) is None
    with pytest.raises(ValueError, match="do not fit its 2 feature"):
        FishingModel.from_dict(model.to_dict() | {"coef": [1.0]})


def test_too_few_rows_give_no_model_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    candidates, labels = _fleet_scenes(0, n_scenes=1)
    assert fit_fishing_model(candidates, labels, AttributeConfig(min_rows=100)) is None
    assert "Fishing model not fitted: 30 matched candidate(s)" in caplog.text


def test_feature_groups_and_their_order() -> None:
    candidates, _ = _fleet_scenes(0, n_scenes=1)
    config = AttributeConfig(
        features=("vessel_p", "length", "fishing_p", "neighbours"), neighbour_radius_m=(100, 500)
    )
    assert config.feature_names() == [
        "log_length",
        "neighbours_100m",
        "neighbours_500m",
        "fishing_logit",
        "vessel_logit",
    ]
    x = feature_matrix(candidates.assign(vessel_length_m=np.nan), config)
    assert x.shape == (len(candidates), 5)
    np.testing.assert_allclose(x[:, 0], 0.0)  # missing length counts as 1 m


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"fishing": "cnn"}, "attributes.fishing = 'cnn'"),
        ({"features": ["colour"]}, "attributes.features = \\['colour'\\]"),
        ({"neighbour_radius_m": [0]}, "attributes.neighbour_radius_m = \\[0\\]"),
        ({"match_objectness": 2}, "attributes.match_objectness = 2"),
        ({"regularization_c": 0}, "attributes.regularization_c = 0"),
        ({"radius": 5}, "radius"),
    ],
)
def test_settings_errors_name_the_parameter(values: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, KeyError, TypeError), match=message):
        AttributeConfig.from_dict(values)


class _Detector:
    name = "cnn"

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def fingerprint(self) -> str:
        return "ab" * 16

    def detect(self, scene: object) -> pd.DataFrame:
        out = self.frame.copy()
        out.attrs["inference"] = {"seconds": 1.0}
        return out


def test_the_rescored_detector_wraps_detect_and_fingerprint() -> None:
    candidates, labels = _fleet_scenes(0)
    model = fit_fishing_model(candidates, labels, AttributeConfig(fishing="context"))
    assert model is not None
    one = candidates[candidates["scene_id"] == "scene0"].reset_index(drop=True)
    detector = RescoredDetector(_Detector(one), model)
    out = detector.detect(object())
    assert detector.name == "cnn"
    np.testing.assert_allclose(out["fishing_p"], model.predict(one))
    assert out.attrs["inference"] == {"seconds": 1.0}
    assert detector.fingerprint() != _Detector(one).fingerprint()
    assert len(detector.fingerprint()) == 64
