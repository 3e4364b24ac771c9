"""The runner's settings: argument, then ``XVIEW3_DASK_ADDRESS``, then the ``dask`` block."""

from __future__ import annotations

import pytest

from xview3_pipeline.runners import ADDRESS_ENV, DaskRunner, DaskSettings
from xview3_pipeline.validation import ParameterError

BLOCK = {"dask": {"address": "tcp://params:8786", "n_workers": 3, "retries": 2}}
UNSET = {"address": None, "n_workers": None, "threads_per_worker": None}


def test_argument_beats_environment_beats_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    from_params = DaskSettings.resolve(UNSET, BLOCK)
    assert (from_params.address, from_params.n_workers) == ("tcp://params:8786", 3)
    assert from_params.retries == 0  # dask.retries retries scenes, not the runner's tasks
    assert from_params.address_source == "the parameter dask.address"
    monkeypatch.setenv(ADDRESS_ENV, "tcp://env:8786")
    assert DaskSettings.resolve(UNSET, BLOCK).address == "tcp://env:8786"
    given = DaskSettings.resolve(
        UNSET | {"address": "tcp://arg:8786", "n_workers": 1, "retries": 1}, BLOCK
    )
    assert (given.address, given.n_workers, given.retries) == ("tcp://arg:8786", 1, 1)
    with pytest.raises(ParameterError, match=r"retries=-1 \(from the runner argument"):
        DaskSettings.resolve({"retries": -1}, {})


def test_defaults_without_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    settings = DaskSettings.resolve({}, {"dask": {"resources": {}}})
    assert settings.address is None and settings.n_workers is None
    assert (settings.threads_per_worker, settings.retries) == (1, 0)
    assert settings.gpu_resources == {"GPU": 1}  # an empty block keeps the default
    custom = DaskSettings.resolve({}, {"dask": {"resources": {"GPU": 1, "MEM": 2}}})
    assert custom.gpu_resources == {"GPU": 1.0, "MEM": 2.0}


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"n_workers": 0}, r"n_workers=0 \(from the parameter dask.n_workers\).*>= 1"),
        ({"dashboard_address": 8787}, r"dask.dashboard_address=8787"),
        ({"threads_per_worker": True}, r"threads_per_worker=True"),
        ({"resources": {"GPU": "one"}}, r"dask.resources=\{'GPU': 'one'\}.*positive amounts"),
        ({"address": 8786}, r"address=8786 .*tcp://"),
    ],
)
def test_bad_settings_name_the_parameter_and_value(
    block: dict[str, object], message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ADDRESS_ENV, raising=False)
    with pytest.raises(ParameterError, match=message):
        DaskSettings.resolve({}, {"dask": block})


def test_unknown_memory_mode_is_refused() -> None:
    with pytest.raises(ValueError, match=r"memory_datasets='copy': expected one of"):
        DaskRunner(memory_datasets="copy")
