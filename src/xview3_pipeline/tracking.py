"""Experiment tracking: every ``kedro run`` becomes an MLflow run in a local store.

:class:`ExperimentTracking` (registered in ``settings.py``) drives kedro-mlflow's
``MlflowHook`` for the pipeline-level hooks only: the hook reads ``conf/<env>/mlflow.yml``
(a SQLite store under ``data/09_tracking/``), starts the run before the first node and
ends it after the last (``FAILED`` when the run raised), so ``kedro mlflow ui`` shows the
runs. The plugin's own registration is turned off (``DISABLE_HOOKS_FOR_PLUGINS``): its
node hook would log parameters from inside Dask workers, where no run is active. Instead,
in the Kedro process, whatever the runner:

* before the first node, the run is tagged ``experiment`` (the global of that name) and
  ``kedro_env``, and the parameter blocks the pipeline reads are logged, flattened
  (``folds.label_sources.validation``);
* after the last node, what the run wrote is read back from the catalog: the CV scores per
  fold, pooled and their mean (``cnn.cv.fold_0.aggregate``, ``cnn.cv.pooled.*``,
  ``cnn.cv.mean.*``), the test components per detector (``cnn.test.aggregate``) and per
  domain when the report has them (``cnn.test.ood.aggregate``), the tuned thresholds and
  their holdout scores (``cnn.thresholds.objectness``, ``cnn.holdout.aggregate``), the
  training curves (``fold_0.val/aggregate`` per epoch) and the rows of the other report
  tables (``robustness_report``, ``label_cleaning_report``) as metrics; the run's reports
  and plots (every output under ``08_reporting``) and thresholds as artifacts.

``XVIEW3_TRACKING=0`` (also ``false``, ``off``, ``no``) turns tracking off: nothing of
MLflow is imported and no store is touched. The test suite runs that way except for the
tests of this module. A failure of the store is logged as a warning and never fails a run.
"""

from __future__ import annotations

import logging
import math
import os
import re
import time
from collections.abc import Iterable, Mapping
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import pandas as pd
from kedro.framework.hooks import hook_impl
from kedro.io.core import AbstractVersionedDataset, get_filepath_str

from xview3_pipeline.core.constants import COMPONENTS
from xview3_pipeline.hooks import parameter_blocks

if TYPE_CHECKING:
    from kedro.framework.context import KedroContext
    from kedro.io import DataCatalog
    from kedro.pipeline import Pipeline

logger = logging.getLogger(__name__)

#: Environment variable that turns tracking off (``0``, ``false``, ``off``, ``no``).
TRACKING_ENV = "XVIEW3_TRACKING"
_OFF = frozenset({"0", "false", "off", "no"})
#: The global naming the experiment (``conf/base/globals.yml``).
EXPERIMENT_GLOBAL = "experiment"
DEFAULT_EXPERIMENT = "default"
_EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: Report tables whose rows become metrics: ``<name>.<text columns>.<numeric column>``.
TABLE_REPORTS: tuple[str, ...] = ("robustness_report", "label_cleaning_report")
#: Outputs logged as artifacts besides those under ``08_reporting``.
EXTRA_ARTIFACTS: tuple[str, ...] = ("*best_thresholds", "*attribute_model")
#: Reporting outputs never logged (one PNG per raw scene).
SKIPPED_ARTIFACTS: tuple[str, ...] = ("synthetic_quicklooks",)
_REPORTING_LAYER = "08_reporting"
_LAYER = re.compile(r"^\d\d_")
_HISTORY_INDEX = ("epoch", "step", "attempt")
_INVALID_KEY = re.compile(r"[^/\w.\- ]")
_MAX_PARAM_LENGTH = 6000
_BATCH = 100


def tracking_enabled(environ: Mapping[str, str] | None = None) -> bool:
    """Whether runs are tracked: unless ``XVIEW3_TRACKING`` is ``0``/``false``/``off``/``no``."""
    value = (os.environ if environ is None else environ).get(TRACKING_ENV, "")
    return value.strip().lower() not in _OFF


def check_experiment_name(name: object) -> str:
    """The experiment name, checked: it becomes a folder of every run artefact.

    Raises:
        ValueError: If it is not a non-empty name of letters, digits, ``_``, ``-``, ``.``
            starting with a letter or digit.
    """
    if not isinstance(name, str) or not _EXPERIMENT_NAME.match(name):
        raise ValueError(
            f"Global {EXPERIMENT_GLOBAL!r}={name!r} (conf/<env>/globals.yml): expected a name "
            "of letters, digits, '_', '-' and '.', starting with a letter or digit, e.g. "
            f"{DEFAULT_EXPERIMENT!r} or 'exp_raw_train'."
        )
    return name


def experiment_of(context: KedroContext) -> str:
    """The run's experiment: the global ``experiment`` (``default`` when not set)."""
    try:
        found = context.config_loader["globals"]
    except Exception:  # no globals.yml in this environment
        found = {}
    return check_experiment_name((found or {}).get(EXPERIMENT_GLOBAL, DEFAULT_EXPERIMENT))


def _key(name: str) -> str:
    return _INVALID_KEY.sub("_", name)


def flatten_parameters(
    parameters: Mapping[str, Any], blocks: Iterable[str], sep: str = ".", flatten: bool = True
) -> dict[str, str]:
    """The parameter blocks as flat MLflow parameters (``training.data.crop_size``).

    Args:
        parameters: All parameters of the run.
        blocks: Top-level names to log (those the pipeline reads).
        sep: Separator of nested keys.
        flatten: False logs each block as one value (``mlflow.yml``'s
            ``tracking.params.dict_params.flatten``).

    Returns:
        Flat name -> value as text (lists stay one value; text over MLflow's 6000
        characters is cut).
    """
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if flatten and isinstance(value, Mapping) and value:
            for key, item in value.items():
                walk(f"{prefix}{sep}{key}", item)
        else:
            flat[_key(prefix)] = str(value)[:_MAX_PARAM_LENGTH]

    for block in sorted(set(blocks)):
        if block in parameters:
            walk(block, parameters[block])
    return flat


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _components(prefix: str, scores: Mapping[str, Any] | None) -> dict[str, float]:
    out = {}
    for name in (*COMPONENTS, "n_scenes"):
        value = _number((scores or {}).get(name))
        if value is not None:
            out[f"{prefix}.{name}"] = value
    return out


def cv_metrics(detector: str, table: pd.DataFrame) -> dict[str, float]:
    """``{detector}.cv_scores`` as metrics: per fold, pooled (row ``all``) and the fold mean.

    Args:
        detector: The detector namespace (``cnn``).
        table: One row per fold (column ``fold``: the fold number, or ``all``) and a column
            per metric component.
    """
    rows = table.assign(fold=table["fold"].astype(str))
    folds = rows[rows["fold"] != "all"]
    out: dict[str, float] = {}
    for row in rows.to_dict("records"):
        name = "pooled" if row["fold"] == "all" else f"fold_{row['fold']}"
        out |= _components(f"{detector}.cv.{name}", row)
    if len(folds):
        mean = folds[[c for c in COMPONENTS if c in folds]].astype(float).mean()
        out |= _components(f"{detector}.cv.mean", mean.to_dict())
    return out


def score_report_metrics(detector: str, report: Mapping[str, Any]) -> dict[str, float]:
    """``{detector}.test_score_report`` as metrics, overall and per domain (``by_domain``)."""
    out = _components(f"{detector}.test", report.get("scores"))
    for domain, scenes in (report.get("domain_scenes") or {}).items():
        if isinstance(scenes, list):
            out[f"{detector}.test.{domain}.n_scenes"] = float(len(scenes))
    for count in ("n_detections", "n_truth", "n_scenes"):
        value = _number(report.get(count))
        if value is not None:
            out[f"{detector}.test.{count}"] = value
    for domain, part in (report.get("by_domain") or {}).items():
        if isinstance(part, Mapping):
            scores = part.get("scores") if isinstance(part.get("scores"), Mapping) else part
            out |= _components(f"{detector}.test.{domain}", scores)
            value = _number(part.get("n_scenes"))
            if value is not None:
                out[f"{detector}.test.{domain}.n_scenes"] = value
    for domain, scores in (report.get("true_attributes") or {}).items():
        if isinstance(scores, Mapping):
            out |= _components(f"{detector}.test.true_attributes.{domain}", scores)
    return out


def threshold_metrics(detector: str, thresholds: Mapping[str, Any] | None) -> dict[str, float]:
    """``{detector}.best_thresholds`` as metrics: the thresholds and their holdout scores."""
    out: dict[str, float] = {}
    for name in ("objectness", "vessel", "fishing"):
        value = _number((thresholds or {}).get(name))
        if value is not None:
            out[f"{detector}.thresholds.{name}"] = value
    return out | _components(f"{detector}.holdout", (thresholds or {}).get("holdout_scores"))


def attribute_metrics(detector: str, model: Mapping[str, Any] | None) -> dict[str, float]:
    """``{detector}.attribute_model`` as metrics: its fitting rows and its scene-grouped CV."""
    out: dict[str, float] = {}
    for name in ("n_rows", "n_scenes", "fishing_share"):
        value = _number((model or {}).get(name))
        if value is not None:
            out[f"{detector}.attributes.{name}"] = value
    for name, value in ((model or {}).get("cv") or {}).items():
        if (number := _number(value)) is not None:
            out[_key(f"{detector}.attributes.cv.{name}")] = number
    return out


def table_metrics(name: str, table: pd.DataFrame) -> dict[str, float]:
    """Rows of a report table: ``<name>.<text columns of the row>.<numeric column>``."""
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    numeric = [c for c in numeric if not pd.api.types.is_bool_dtype(table[c])]
    labels = [c for c in table.columns if c not in numeric]
    out: dict[str, float] = {}
    for row in table.to_dict("records"):
        prefix = ".".join([name, *(str(row[c]) for c in labels if pd.notna(row[c]))])
        for column in numeric:
            value = _number(row[column])
            if value is not None:
                out[_key(f"{prefix}.{column}")] = value
    return out


def history_metrics(namespace: str, history: pd.DataFrame) -> list[tuple[str, float, int]]:
    """A fold's ``training_history`` as metric series ``(key, value, epoch)``."""
    steps = history["epoch"].astype(int) if "epoch" in history else pd.Series(range(len(history)))
    out = []
    for column in history.columns:
        if column in _HISTORY_INDEX or not pd.api.types.is_numeric_dtype(history[column]):
            continue
        for step, value in zip(steps, history[column], strict=True):
            number = _number(value)
            if number is not None:
                out.append((_key(f"{namespace}.{column}"), number, int(step)))
    return out


#: The xView2 score reports and the metric prefix of each.
XVIEW2_REPORTS: dict[str, str] = {
    "xview2_score_report": "xview2.test",
    "xview2_baseline_score_report": "xview2.baseline.test",
}


def xview2_metrics(name: str, data: Mapping[str, Any]) -> dict[str, float]:
    """An xView2 score report (``xview2.test.score``, …) or class-weight fit as metrics.

    A class-weight fit ``xview2.<architecture>.class_weights`` gives its five weights and
    the out-of-fold scores before and after the fit (``xview2.siamese.oof_after.score``).
    """
    if name in XVIEW2_REPORTS:
        prefix = XVIEW2_REPORTS[name]
        return {
            _key(f"{prefix}.{k}"): v
            for k, value in data.items()
            if k != "n_images" and (v := _number(value)) is not None
        }
    head = name.removesuffix(".class_weights")
    out = {_key(f"{head}.class_weight_{i}"): float(w) for i, w in enumerate(data["weights"])}
    for stage in ("before", "after"):
        for key, value in (data.get(f"score_{stage}") or {}).items():
            if (v := _number(value)) is not None:
                out[_key(f"{head}.oof_{stage}.{key}")] = v
    return out


def output_metrics(name: str, data: Any) -> list[tuple[str, float, int]]:
    """The metrics of one pipeline output, by its name; empty for other outputs."""
    head, _, tail = name.rpartition(".")
    if tail == "cv_scores" and isinstance(data, pd.DataFrame) and "fold" in data:
        flat = cv_metrics(head, data)
    elif tail == "test_score_report" and isinstance(data, Mapping):
        flat = score_report_metrics(head, data)
    elif tail == "best_thresholds" and isinstance(data, Mapping):
        flat = threshold_metrics(head, data)
    elif tail == "attribute_model" and isinstance(data, Mapping):
        flat = attribute_metrics(head, data)
    elif tail == "training_history" and isinstance(data, pd.DataFrame):
        return history_metrics(head, data)
    elif name in TABLE_REPORTS and isinstance(data, pd.DataFrame):
        flat = table_metrics(name, data)
    elif (name in XVIEW2_REPORTS or tail == "class_weights") and isinstance(data, Mapping):
        flat = xview2_metrics(name, data)
    else:
        return []
    return [(key, value, 0) for key, value in flat.items()]


_METRIC_SUFFIXES = (
    ".cv_scores",
    ".test_score_report",
    ".best_thresholds",
    ".attribute_model",
    ".training_history",
)


def _has_metrics(name: str) -> bool:
    return (
        name.endswith((*_METRIC_SUFFIXES, ".class_weights"))
        or name in TABLE_REPORTS
        or name in XVIEW2_REPORTS
    )


def saved_path(dataset: Any) -> tuple[PurePosixPath, Path] | None:
    """Where a file dataset keeps its data: ``(catalog path, local file or folder)``.

    The catalog path is the one written in ``catalog.yml``; the local path is the file of
    the latest version for a versioned dataset. ``None`` for datasets without a file.
    """
    # Kedro's datasets keep their paths in private attributes (``_filepath``, ``_path``).
    if isinstance(dataset, AbstractVersionedDataset):
        catalog_path = PurePosixPath(dataset._filepath)
        if dataset._version is None:
            return catalog_path, Path(str(catalog_path))
        dataset._clear_version_cache()  # the newest version, also when a worker saved it
        try:
            return catalog_path, Path(get_filepath_str(dataset._get_load_path(), "file"))
        except Exception:  # no version saved
            return None
    for attribute in ("_path", "_filepath"):
        value = getattr(dataset, attribute, None)
        if isinstance(value, str | PurePosixPath | Path):
            path = PurePosixPath(str(value).removeprefix("file://"))
            return path, Path(str(path))
    return None


def artifact_folder(catalog_path: PurePosixPath, experiment: str, *, folder: bool = False) -> str:
    """The artifact folder of a file: its catalog path less ``data/<layer>/<experiment>``.

    ``data/08_reporting/exp_a/cnn/test_pr_curve.png`` -> ``cnn``;
    ``data/06_models/exp_a/thresholds/cnn/best_thresholds.json`` -> ``thresholds/cnn``;
    a folder dataset (``folder=True``) keeps its own name:
    ``data/08_reporting/label_cleaning/examples`` -> ``label_cleaning/examples``.
    """
    parts = list(catalog_path.parts)
    layer = next((i for i, p in enumerate(parts) if _LAYER.match(p)), None)
    if layer is not None:
        parts = parts[layer + 1 :]
        if parts and parts[0] == experiment:
            parts = parts[1:]
    return "/".join(parts if folder else parts[:-1])


def _is_artifact(name: str, catalog_path: PurePosixPath) -> bool:
    if any(fnmatch(name, pattern) for pattern in SKIPPED_ARTIFACTS):
        return False
    return _REPORTING_LAYER in catalog_path.parts or any(
        fnmatch(name, pattern) for pattern in EXTRA_ARTIFACTS
    )


class ExperimentTracking:
    """kedro-mlflow's run around every ``kedro run``, and what the project logs into it."""

    def __init__(self) -> None:
        self._hook: Any = None
        self._experiment = DEFAULT_EXPERIMENT
        self._env = ""

    @property
    def run_id(self) -> str | None:
        """The MLflow run of the current (or last) Kedro run, None when untracked."""
        return getattr(self._hook, "run_id", None)

    @hook_impl
    def after_context_created(self, context: KedroContext) -> None:
        """Check the experiment name; with tracking on, let kedro-mlflow read mlflow.yml.

        Raises:
            ValueError: On a bad ``experiment`` global.
        """
        self._experiment = experiment_of(context)
        self._env = str(context.env or getattr(context.config_loader, "default_run_env", ""))
        self._hook = None
        if not tracking_enabled():
            logger.info(
                "Experiment tracking is off (%s=%s).", TRACKING_ENV, os.environ[TRACKING_ENV]
            )
            return
        from kedro_mlflow.framework.hooks.mlflow_hook import MlflowHook  # noqa: PLC0415  (imports mlflow: only when tracking)

        hook = MlflowHook()
        hook.after_context_created(context)
        self._hook = hook

    @hook_impl
    def after_catalog_created(  # noqa: PLR0917  (Kedro's hook signature)
        self,
        catalog: DataCatalog,
        conf_catalog: dict[str, Any],
        conf_creds: dict[str, Any],
        parameters: dict[str, Any],
        save_version: str,
        load_versions: dict[str, str],
    ) -> None:
        """Let kedro-mlflow name its metric datasets (when the catalog declares any)."""
        if self._hook is not None:
            self._hook.after_catalog_created(
                catalog=catalog,
                conf_catalog=conf_catalog,
                conf_creds=conf_creds,
                parameters=parameters,
                save_version=save_version,
                load_versions=load_versions,
            )

    @hook_impl(trylast=True)
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Start the run (after the parameters are checked), tag it and log the parameters."""
        if self._hook is None:
            return
        self._hook.run_id = None
        try:
            self._hook.before_pipeline_run(
                run_params=run_params, pipeline=pipeline, catalog=catalog
            )
        except Exception as error:  # tracking never stops a run
            logger.warning("Tracking is off for this run: the MLflow run did not start: %s", error)
            self._hook = None
            return
        if self.run_id is None:  # tracking disabled for this pipeline in mlflow.yml
            return
        config = self._hook.mlflow_config.tracking.params.dict_params
        params = flatten_parameters(
            catalog.load("parameters"), parameter_blocks(pipeline), config.sep, config.flatten
        )
        self._log(
            "parameters",
            params=params,
            tags={"experiment": self._experiment, "kedro_env": self._env},
        )
        logger.info(
            "MLflow run %s (experiment %r): %d parameters logged.",
            self.run_id,
            self._experiment,
            len(params),
        )

    @hook_impl(tryfirst=True)
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """Log the run's metrics and artifacts, then end the run."""
        if self._hook is None:
            return
        if self.run_id is not None:
            self._log_outputs(pipeline, catalog)
        self._hook.after_pipeline_run(run_params=run_params, pipeline=pipeline, catalog=catalog)

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog: DataCatalog
    ) -> None:
        """End the run as ``FAILED``."""
        if self._hook is not None and self.run_id is not None:
            self._hook.on_pipeline_error(
                error=error, run_params=run_params, pipeline=pipeline, catalog=catalog
            )

    def _client(self) -> Any:
        from mlflow.tracking import MlflowClient  # noqa: PLC0415  (only when tracking)

        return MlflowClient(tracking_uri=self._hook.mlflow_config.server.mlflow_tracking_uri)

    def _log(
        self,
        what: str,
        *,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        metrics: list[tuple[str, float, int]] | None = None,
    ) -> None:
        from mlflow.entities import Metric, Param, RunTag  # noqa: PLC0415  (only when tracking)

        try:
            client = self._client()
            stamp = int(time.time() * 1000)
            client.log_batch(self.run_id, tags=[RunTag(k, v) for k, v in (tags or {}).items()])
            items = list((params or {}).items())
            for start in range(0, len(items), _BATCH):
                chunk = items[start : start + _BATCH]
                client.log_batch(self.run_id, params=[Param(k, v) for k, v in chunk])
            series = metrics or []
            for start in range(0, len(series), _BATCH * 10):
                values = series[start : start + _BATCH * 10]
                client.log_batch(
                    self.run_id, metrics=[Metric(k, v, stamp, s) for k, v, s in values]
                )
        except Exception as error:  # tracking never stops a run
            logger.warning("MLflow run %s: could not log the %s: %s", self.run_id, what, error)

    def _log_outputs(self, pipeline: Pipeline, catalog: DataCatalog) -> None:
        metrics: list[tuple[str, float, int]] = []
        artifacts: list[tuple[Path, str]] = []
        for name in sorted(pipeline.all_outputs()):
            dataset = catalog.get(name)
            if dataset is None:
                continue
            if _has_metrics(name):
                try:
                    metrics += output_metrics(name, catalog.load(name))
                except Exception as error:  # a report that was not written
                    logger.warning("Tracking: %s has no metrics to log: %s", name, error)
            paths = saved_path(dataset)
            if paths is not None and _is_artifact(name, paths[0]) and paths[1].exists():
                folder = artifact_folder(paths[0], self._experiment, folder=paths[1].is_dir())
                artifacts.append((paths[1], folder))
        self._log("metrics", metrics=metrics)
        try:
            client = self._client()
            for local, folder in artifacts:
                if local.is_dir():
                    client.log_artifacts(self.run_id, str(local), folder or None)
                else:
                    client.log_artifact(self.run_id, str(local), folder or None)
        except Exception as error:  # tracking never stops a run
            logger.warning("MLflow run %s: could not log the artifacts: %s", self.run_id, error)
        logger.info(
            "MLflow run %s: %d metric values and %d artifacts logged.",
            self.run_id,
            len(metrics),
            len(artifacts),
        )
