"""Seeded Optuna TPE search of the objectness, vessel and fishing thresholds.

The objectness threshold is suggested on the ``optuna.objectness_step`` grid (exact caching
of the matching), the vessel and fishing thresholds in their ranges. Each trial stores the
six components in its ``components`` user attribute.

Resuming: with a ``storage_path`` the study lives in a SQLite file (open it with
``optuna-dashboard sqlite:///<path>``). Rerunning with the same ``study_name`` continues the
study, and ``n_trials`` is the **target total** of completed trials, earlier runs included:
a study that already has ``n_trials`` completed trials runs no new ones and simply reports
its best trial. A trial left RUNNING by a killed run is marked FAIL when the study resumes
(one process drives a study at a time) and does not count. A fingerprint of the
candidates, the truth, the shorelines and the metric options is stored with the study;
resuming on different data raises (use a new ``study_name``), so stale thresholds are never
returned silently.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from xview3_pipeline.core.constants import COMPONENTS, SUBMISSION_COLUMNS, THRESHOLD_NAMES
from xview3_pipeline.core.tuning.cache import (
    CANDIDATE_COLUMNS,
    PreparedCache,
    clean_threshold,
    quiet_repeats,
)
from xview3_pipeline.core.tuning.config import TuningConfig
from xview3_pipeline.core.tuning.results import (
    TRIAL_COLUMNS,
    TuningResult,
    components_of,
    empty_trials,
    finish,
    start_search,
)

logger = logging.getLogger(__name__)

__all__ = ["fail_stale_trials", "optuna_search"]

_STUDY_FINGERPRINT_ATTR = "data_fingerprint"
_COMPONENTS_ATTR = "components"
_TRUTH_COLUMNS = (*SUBMISSION_COLUMNS, "confidence", "distance_from_shore_km")


def optuna_search(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig | Mapping[str, Any] | None = None,
    *,
    storage_path: str | Path | None = None,
    shorelines: Mapping[str, Any] | None = None,
    cache: PreparedCache | None = None,
) -> TuningResult:
    """Seeded TPE search over the three thresholds, maximising the xView3 aggregate.

    With ``storage_path`` the study is a SQLite file that resumes under the same
    ``study_name``; ``optuna.n_trials`` is the target total of completed trials (a study
    already at or above it runs no new trial). A new study starts with the default
    thresholds (``optuna.enqueue_defaults``). SQLite writes dominate the time per trial
    (about 10-20 trials/s against 50-100 in memory).

    Args:
        candidates: Candidate detections (see
            :func:`~xview3_pipeline.core.tuning.tune_thresholds`).
        truth: Holdout labels in the official layout.
        config: Tuning configuration (a mapping is parsed with
            :meth:`TuningConfig.from_dict`).
        storage_path: SQLite file of the study (parents created); None keeps it in memory.
        shorelines: Preloaded shorelines; None turns the shore term off.
        cache: A cache to reuse (built from ``config`` if None).

    Returns:
        The :class:`TuningResult` with the study; ``trials`` holds all completed trials.

    Raises:
        ValueError: When resuming a study that was run on other data or metric options.
    """
    config, prepared = start_search(
        candidates, truth, config, "optuna", shorelines=shorelines, cache=cache
    )
    if isinstance(prepared, TuningResult):
        return prepared
    cache = prepared
    study = _open_study(candidates, truth, config, shorelines, storage_path)
    n_failed = fail_stale_trials(study)
    done = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    opt = config.optuna
    study.sampler = optuna.samplers.TPESampler(
        seed=opt.seed + done, n_startup_trials=opt.n_startup_trials
    )
    remaining = max(opt.n_trials - done, 0)
    if done and storage_path is not None:
        logger.info(
            "Resuming study %r (%s): %d completed trial(s), %d to go to reach n_trials=%d.",
            study.study_name,
            storage_path,
            done,
            remaining,
            opt.n_trials,
        )
    if remaining and opt.enqueue_defaults and not study.trials:
        _enqueue_defaults(study, config)
    start = time.perf_counter()
    with quiet_repeats():
        if remaining:
            study.optimize(_objective(config, cache), n_trials=remaining)
        elapsed = time.perf_counter() - start
        return finish(
            method="optuna",
            thresholds=_best_thresholds(study, config),
            cache=cache,
            config=config,
            trials=_study_trials(study),
            study=study,
            n_new=remaining,
            elapsed=elapsed,
            extra_stats={"n_failed_stale": n_failed},
        )


def fail_stale_trials(study: optuna.Study) -> int:
    """Mark the trials left RUNNING (by a killed run) as FAIL.

    A study is driven by one process at a time (the project's run lock), so a RUNNING
    trial found when the study is opened belongs to a run that died. Left RUNNING it
    would stay in the study forever and be shown as in progress by optuna-dashboard; as
    FAIL it does not count towards ``n_trials``.

    Args:
        study: The opened study.

    Returns:
        The number of trials marked FAIL.
    """
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if stale:
        logger.warning(
            "Study %r: marked %d trial(s) left RUNNING by an interrupted run as FAIL (%s).",
            study.study_name,
            len(stale),
            [t.number for t in stale],
        )
    return len(stale)


def _open_study(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig,
    shorelines: Mapping[str, Any] | None,
    storage_path: str | Path | None,
) -> optuna.Study:
    """Create or load the study and check (or store) its data fingerprint."""
    opt = config.optuna
    fingerprint = _fingerprint(candidates, truth, config, shorelines)
    study_name = f"{opt.study_name}-{fingerprint[:12]}" if opt.study_per_data else opt.study_name
    study = optuna.create_study(
        storage=_storage_url(storage_path),
        study_name=study_name,
        load_if_exists=True,
        direction="maximize",
    )
    stored = study.user_attrs.get(_STUDY_FINGERPRINT_ATTR)
    if stored is not None and stored != fingerprint:
        raise ValueError(
            f"The study {opt.study_name!r} in {storage_path} was run on other candidates, "
            "labels, shorelines or metric options; its thresholds would not apply. Use a new "
            "tuning.optuna.study_name or remove the study."
        )
    if stored is None:
        if study.trials:
            logger.warning(
                "Study %r has %d trial(s) but no data fingerprint; assuming the same data.",
                opt.study_name,
                len(study.trials),
            )
        study.set_user_attr(_STUDY_FINGERPRINT_ATTR, fingerprint)
        study.set_user_attr("config", asdict(config))
    return study


def _objective(config: TuningConfig, cache: PreparedCache) -> Any:
    """The Optuna objective: the aggregate of one suggested threshold triple."""
    opt = config.optuna

    def objective(trial: optuna.Trial) -> float:
        objectness = clean_threshold(
            trial.suggest_float(
                "objectness", opt.objectness_low, opt.objectness_high, step=opt.objectness_step
            )
        )
        vessel = trial.suggest_float(
            "vessel", opt.vessel_low, opt.vessel_high, step=opt.vessel_fishing_step
        )
        fishing = trial.suggest_float(
            "fishing", opt.fishing_low, opt.fishing_high, step=opt.vessel_fishing_step
        )
        result = cache.get(objectness).score(
            vessel, fishing, fishing_requires_vessel=config.fishing_requires_vessel
        )
        components = components_of(result)
        # One attribute (one storage write): SQLite commits dominate the trial time.
        trial.set_user_attr(_COMPONENTS_ATTR, components)
        return components["aggregate"]

    return objective


def _best_thresholds(study: optuna.Study, config: TuningConfig) -> dict[str, float]:
    opt = config.optuna
    best = study.best_trial
    missing = [name for name in THRESHOLD_NAMES if name not in best.params]
    if missing:
        raise ValueError(
            f"The best trial of study {opt.study_name!r} lacks the parameters {missing}."
        )
    return {
        "objectness": _snap(best.params["objectness"], opt.objectness_low, opt.objectness_step),
        "vessel": float(best.params["vessel"]),
        "fishing": float(best.params["fishing"]),
    }


def _snap(value: float, low: float, step: float | None) -> float:
    if step is None:
        return clean_threshold(value)
    return clean_threshold(low + round((value - low) / step) * step)


def _enqueue_defaults(study: optuna.Study, config: TuningConfig) -> None:
    """Queue the default thresholds (snapped to the search grid) as the first trial."""
    opt, defaults = config.optuna, config.defaults
    params = {
        "objectness": _snap(defaults.objectness, opt.objectness_low, opt.objectness_step),
        "vessel": _snap(defaults.vessel, opt.vessel_low, opt.vessel_fishing_step),
        "fishing": _snap(defaults.fishing, opt.fishing_low, opt.vessel_fishing_step),
    }
    outside = [
        name
        for name, value in params.items()
        if not getattr(opt, f"{name}_low") <= value <= getattr(opt, f"{name}_high")
    ]
    if outside:
        logger.info("Default thresholds %s outside the search ranges; not enqueued.", params)
        return
    study.enqueue_trial(params)


def _frame_digest(frame: pd.DataFrame, columns: Sequence[str]) -> str:
    present = [c for c in columns if c in frame.columns]
    sub = frame.loc[:, present]
    digest = hashlib.sha256(repr((present, len(sub))).encode())
    try:
        hashed = pd.util.hash_pandas_object(sub, index=False).to_numpy()
        digest.update(hashed.tobytes())
    except TypeError:
        digest.update(sub.to_csv(index=False).encode())
    return digest.hexdigest()


def _fingerprint(
    candidates: pd.DataFrame,
    truth: pd.DataFrame,
    config: TuningConfig,
    shorelines: Mapping[str, Any] | None,
) -> str:
    """Identify what a study's values depend on (data, shorelines, metric options)."""
    shore = None if shorelines is None else sorted(map(str, shorelines))
    digest = hashlib.sha256()
    digest.update(
        _frame_digest(candidates, (*CANDIDATE_COLUMNS, config.objectness_column)).encode()
    )
    digest.update(_frame_digest(truth, _TRUTH_COLUMNS).encode())
    digest.update(
        repr(
            (
                shore,
                sorted(config.metric.as_dict().items()),
                config.objectness_column,
                config.fishing_requires_vessel,
            )
        ).encode()
    )
    return digest.hexdigest()[:32]


def _storage_url(storage_path: str | Path | None) -> str | None:
    if storage_path is None:
        return None
    path = Path(storage_path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _study_trials(study: optuna.Study) -> pd.DataFrame:
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        row: dict[str, Any] = {"number": trial.number}
        row |= {name: float(trial.params.get(name, np.nan)) for name in THRESHOLD_NAMES}
        components = trial.user_attrs.get(_COMPONENTS_ATTR) or {}
        row |= {name: float(components.get(name, np.nan)) for name in COMPONENTS}
        row["aggregate"] = float(trial.value) if trial.value is not None else np.nan
        rows.append(row)
    if not rows:
        return empty_trials()
    return pd.DataFrame(rows, columns=list(TRIAL_COLUMNS))
