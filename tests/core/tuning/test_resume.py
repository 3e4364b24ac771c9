"""Resuming the Optuna study from its SQLite file, after a clean stop or a SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from tests.core.tuning.conftest import make_holdout
from xview3_pipeline.core.tuning import optuna_search

SRC = Path(__file__).resolve().parents[3] / "src"


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


#: The tuning run that is killed: it hangs inside the objective of trial ``stall_at``
#: (a run killed in the middle of a trial), after writing ``flag``.
_CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    import pandas as pd

    from xview3_pipeline.core.tuning import PreparedCache, TuningConfig, optuna_search

    data, storage, flag, stall_at = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
    candidates = pd.read_parquet(data / "candidates.parquet")
    truth = pd.read_parquet(data / "truth.parquet")
    config = TuningConfig.from_dict(
        {"optuna": {"n_trials": int(sys.argv[5]), "study_name": "killed", "study_per_data": False}}
    )


    class StallingCache(PreparedCache):
        calls = 0

        def get(self, objectness_threshold):
            StallingCache.calls += 1
            if StallingCache.calls > stall_at:
                flag.write_text("stalled")
                time.sleep(600)
            return super().get(objectness_threshold)


    cache = StallingCache.from_config(candidates, truth, config)
    optuna_search(candidates, truth, config, storage_path=storage, cache=cache)
    """
)


def _wait_for(flag: Path, proc: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not flag.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            pytest.fail(f"the tuning process ended early ({proc.returncode}): {err.decode()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the tuning process did not reach the stalled trial in time")
        time.sleep(0.05)


def test_killed_study_resumes_and_fails_the_running_trial(tmp_path: Path) -> None:
    candidates, truth = make_holdout(n_scenes=2, n_gt=10, n_fa=10)
    candidates.to_parquet(tmp_path / "candidates.parquet")
    truth.to_parquet(tmp_path / "truth.parquet")
    script = tmp_path / "tune.py"
    script.write_text(_CHILD)
    storage, flag = tmp_path / "study.db", tmp_path / "stalled"
    n_trials, stall_at = 8, 3
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    args = (tmp_path, storage, flag, stall_at, n_trials)
    proc = subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _wait_for(flag, proc)
    url = f"sqlite:///{storage}"
    before = optuna.load_study(study_name="killed", storage=url).get_trials()
    assert [t.state for t in before] == [TrialState.COMPLETE] * stall_at + [TrialState.RUNNING]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert optuna.load_study(study_name="killed", storage=url).trials[-1].state.name == "RUNNING"

    config = _optuna(n_trials, study_name="killed", study_per_data=False)
    result = optuna_search(candidates, truth, config, storage_path=storage)

    trials = result.study.get_trials()
    assert result.study.study_name == "killed" and result.stats["n_failed_stale"] == 1
    assert trials[stall_at].state == TrialState.FAIL  # the killed trial
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == n_trials and len(trials) == n_trials + 1
    assert len(result.trials) == n_trials and stall_at not in set(result.trials["number"])
    # No trial lost: the trials finished before the kill are kept as they were.
    for old, new in zip(before[:stall_at], trials[:stall_at], strict=True):
        assert (new.number, new.params, new.value) == (old.number, old.params, old.value)
    # A second resume finds nothing stale and nothing to do.
    again = optuna_search(candidates, truth, config, storage_path=storage)
    assert again.stats["n_failed_stale"] == 0 and again.stats["n_new_trials"] == 0
    assert again.best_thresholds == result.best_thresholds
