"""The ``executor`` parameter and the ``dask`` block: defaults, overrides and clear errors."""

from __future__ import annotations

import pytest
import yaml

from tests.conftest import REPO
from xview3_pipeline.core.parallel import DaskConfig, ExecutorConfig
from xview3_pipeline.validation import ParameterError, validate_parameters


def test_defaults_match_the_documented_parameters() -> None:
    conf = yaml.safe_load((REPO / "conf/base/parameters_run.yml").read_text())
    config = ExecutorConfig.from_params(conf["executor"], conf["dask"])
    assert config == ExecutorConfig() and not config.distributed
    assert config.dask == DaskConfig()
    assert config.dask.to_dict() == {**conf["dask"], "resources": {}}


def test_dask_block_overrides() -> None:
    config = ExecutorConfig.from_params(
        "dask", {"n_workers": 4, "resources": {"GPU": 1}, "retries": 0, "address": None}
    )
    assert config.distributed
    assert config.dask.n_workers == 4 and config.dask.retries == 0
    assert config.dask.resources == {"GPU": 1.0}
    assert ExecutorConfig.from_params(None, None) == ExecutorConfig()
    assert DaskConfig.from_dict({"resources": None}).resources == {}


@pytest.mark.parametrize(
    ("executor", "dask", "message"),
    [
        ("spark", {}, r"executor='spark' is not accepted; expected one of \['local', 'dask'\]"),
        ("dask", {"workers": 2}, r"Unknown dask key\(s\) \['workers'\]; valid keys are \["),
        ("dask", {"n_workers": 0}, r"dask.n_workers=0: expected an integer >= 1 or null"),
        ("dask", {"threads_per_worker": 1.5}, r"dask.threads_per_worker=1.5: expected an integer"),
        ("dask", {"retries": -1}, r"dask.retries=-1: expected an integer >= 0"),
        ("dask", {"resources": {"GPU": -1}}, r"dask.resources has \{'GPU': -1\}: expected names"),
        ("dask", {"resources": ["GPU"]}, r"dask.resources=\['GPU'\]: expected a mapping"),
        ("dask", {"address": ""}, r"dask.address='': expected a scheduler address"),
        ("dask", [1], r"dask=\[1\]: expected a mapping"),
    ],
)
def test_bad_values_are_named(executor: str, dask: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ExecutorConfig.from_params(executor, dask)  # type: ignore[arg-type]


def test_the_run_start_checks_name_the_parameter() -> None:
    assert validate_parameters({"executor": "dask", "dask": {}}, ["executor", "dask"]) == [
        "dask",
        "executor",
    ]
    with pytest.raises(ParameterError, match=r"executor='ray' is not accepted"):
        validate_parameters({"executor": "ray"}, ["executor"])
    with pytest.raises(ParameterError, match=r"executor=3: expected 'local' or 'dask'"):
        validate_parameters({"executor": 3}, ["executor"])
    with pytest.raises(ParameterError, match=r"'dask'.*dask.retries='2'"):
        validate_parameters({"executor": "local", "dask": {"retries": "2"}}, ["dask"])
