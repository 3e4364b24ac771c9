"""The structure of the xView2 pipelines read from the parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from xview3_pipeline.pipelines.xview2_structure import (
    Xview2Structure,
    check_xview2_structure,
    xview2_structure,
)
from xview3_pipeline.validation import ParameterError, validate_parameters

REPO = Path(__file__).resolve().parents[2]
MODELS = {"siamese": "cpu_siamese_unet", "early_fusion": "cpu_early_fusion_unet"}


def _params(**block: object) -> dict[str, object]:
    return {"xview2": {"models": MODELS, **block}}


def test_namespaces_come_from_the_fold_count_ensemble_and_baseline():
    s = xview2_structure(
        _params(folds={"n_folds": 3}, ensemble=["siamese"], baseline="early_fusion")
    )
    assert s == Xview2Structure(3, ("siamese",), "early_fusion", False)
    assert s.architectures == ("siamese", "early_fusion")
    assert [s.namespace("siamese", k) for k in s.folds()] == [
        "xview2.siamese.fold_0", "xview2.siamese.fold_1", "xview2.siamese.fold_2",
    ]  # fmt: skip
    assert not s.fine_tuned("siamese")


def test_only_the_ensemble_is_fine_tuned_on_pseudo_labels():
    s = xview2_structure(
        _params(ensemble=["siamese"], baseline="early_fusion", pseudo_labels={"enabled": True})
    )
    assert s.n_folds == 5  # the winner's default
    assert s.fine_tuned("siamese") and not s.fine_tuned("early_fusion")


def test_a_baseline_in_the_ensemble_is_listed_once():
    s = xview2_structure(_params(ensemble=["siamese", "early_fusion"], baseline="siamese"))
    assert s.architectures == ("siamese", "early_fusion")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"ensemble": ["unet"]}, "'unet'"),
        ({"ensemble": ["siamese"], "baseline": "fpn"}, "'fpn'"),
        ({"ensemble": "siamese"}, "non-empty list"),
        ({"ensemble": ["siamese", "siamese"]}, "twice"),
        ({"folds": {"n_folds": 1}}, "n_folds"),
        ({"folds": {"n_folds": True}}, "n_folds"),
    ],
)
def test_malformed_structures_are_refused_naming_the_value(block, message):
    with pytest.raises(ValueError, match=message):
        xview2_structure(_params(**block))


def test_a_run_with_another_structure_than_the_registry_is_refused():
    built = xview2_structure(_params(ensemble=["siamese"], folds={"n_folds": 2}))
    same = {"models": MODELS, "ensemble": ["siamese"], "folds": {"n_folds": 2}}
    assert check_xview2_structure(same, built) is built
    with pytest.raises(ValueError, match="built with"):
        check_xview2_structure({**same, "folds": {"n_folds": 3}}, built)


def _parameters(env: str | None = None) -> dict[str, object]:
    """The project's parameters of ``conf/base`` (and ``env``) through Kedro's loader."""
    from kedro.config import OmegaConfigLoader

    from xview3_pipeline.settings import CONFIG_LOADER_ARGS

    loader = OmegaConfigLoader(
        conf_source=str(REPO / "conf"), env=env or "local", **CONFIG_LOADER_ARGS
    )
    return dict(loader["parameters"])


@pytest.mark.parametrize("env", [None, "xview2_full"])
def test_the_default_and_the_winner_recipe_pass_the_run_start_checks(env):
    params = _parameters(env)
    assert validate_parameters(params, ["xview2"]) == ["xview2"]
    s = xview2_structure(params)
    if env is None:
        assert (s.n_folds, s.ensemble, s.baseline) == (2, ("siamese",), "early_fusion")
    else:
        assert s.n_folds == 5 and len(s.ensemble) == 6 and s.pseudo_labels


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"models": {"siamese": "resnet9_unet"}}, "xview2.models.siamese"),
        ({"training": {"data": {"crop_size": 100}}}, "crop_size"),
        ({"inference": {"tta": "rotate"}}, "tta"),
        ({"tuning": {"method": "grid"}}, "method"),
        ({"pseudo_labels": {"overrides": {"trainer": {"max_epochs": 0}}}}, "max_epochs"),
        ({"test_split": "train"}, "test_split"),
    ],
)
def test_a_bad_xview2_value_stops_the_run_before_any_node(override, message):
    params = _parameters()
    block = dict(params["xview2"])
    for key, value in override.items():
        block[key] = {**block[key], **value} if isinstance(value, dict) else value
    with pytest.raises(ParameterError, match=message):
        validate_parameters({"xview2": block}, ["xview2"])
