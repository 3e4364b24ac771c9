"""Structure of the namespaced pipelines, read from the configuration.

Kedro builds the pipeline registry before it hands parameters to any node, so the
number of fold namespaces cannot come from a node's parameters. It comes from here:
every pipeline that has one namespace per fold (training, the ensemble of
architectures, out-of-fold inference) asks :func:`fold_namespaces`, and the ensemble's
architectures come from :func:`ensemble_presets`. Likewise the label-cleaning rounds
(:func:`label_cleaning_rounds`) and whether training reads the cleaned train labels
(:func:`trains_on_cleaned_labels`, ``train_cleaned`` in ``folds.label_sources``).

Both read the project's parameters with Kedro's own config loader
(``settings.CONFIG_LOADER_CLASS`` and ``CONFIG_LOADER_ARGS`` over
``<project>/settings.CONF_SOURCE``), in the environment of the run:

* ``kedro run --env X`` (and ``--conf-source``, ``--params``): Kedro does not publish
  the session's environment to the registry, but the ``kedro run`` command is still the
  current click command while the registry is built, so its options are read from
  there. ``--params folds.n_folds=3`` on the command line therefore counts too.
* ``KEDRO_ENV``: the environment variable that ``KedroSession.create`` falls back on.
* otherwise the loader's ``default_run_env`` (``local``), so ``conf/local`` overrides
  count.

The project is found from the working directory (as the ``kedro`` command finds it).
What cannot be known here: the ``env``, ``runtime_params`` and a ``project_path`` other
than the working directory given to ``KedroSession.create`` in Python (tests, notebooks)
without ``KEDRO_ENV``. A run whose
``folds.n_folds`` (or ``train_cleaned`` in ``folds.label_sources``) differs from the
registry's then fails before any training with the :class:`ValueError` of
:func:`check_fold_count` (:func:`check_label_sources`), which each fold namespace's
first node calls (and which a ``before_pipeline_run`` hook calls for the whole run).
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Mapping
from functools import lru_cache, partial, update_wrapper
from pathlib import Path
from typing import Any

import click
import pandas as pd
from kedro.config import MissingConfigException
from kedro.framework.project import settings
from kedro.pipeline import Node, Pipeline
from kedro.utils import find_kedro_project

from xview3_pipeline.core.folds import HOLDOUT_FOLD, TRAIN_CLEANED, FoldConfig

logger = logging.getLogger(__name__)

#: The winning solution's three ensemble architectures (``<preset>.fold_k`` namespaces),
#: used when the configuration has no ``ensemble`` block.
WINNER_ENSEMBLE_PRESETS: tuple[str, ...] = ("b4_unet_s2", "b5_unet_s2", "v2s_unet_s2")

#: Smallest accepted ``folds.n_folds``.
MIN_FOLDS: int = 2


def _cli_options() -> dict[str, Any]:
    """Options of the running ``kedro`` click command (empty outside the command line)."""
    context = click.get_current_context(silent=True)
    return dict(context.params) if context is not None else {}


def project_parameters() -> dict[str, Any]:
    """The project's parameters as the run being started will see them.

    Returns:
        The merged ``parameters`` of the base and run environments, with the command
        line's ``--params``; empty when no Kedro project is found from the working
        directory or it has no parameters.
    """
    options = _cli_options()
    project = find_kedro_project(Path.cwd())
    if project is None:
        logger.debug("No Kedro project above %s: the default structure is used.", Path.cwd())
        return {}
    conf_source = str(options.get("conf_source") or Path(project) / settings.CONF_SOURCE)
    runtime_params = options.get("params")
    return copy.deepcopy(
        _load_parameters(
            conf_source,
            options.get("env") or os.getenv("KEDRO_ENV"),
            json.dumps(runtime_params if isinstance(runtime_params, dict) else None),
            _conf_signature(conf_source),
        )
    )


def _conf_signature(conf_source: str) -> tuple[tuple[str, int, int], ...]:
    """Path, size and modification time of every file under ``conf_source``."""
    root = Path(conf_source)
    if not root.is_dir():
        return ()
    return tuple(
        (str(p), p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    )


@lru_cache(maxsize=8)
def _load_parameters(
    conf_source: str,
    env: str | None,
    runtime_params_json: str,
    signature: tuple[tuple[str, int, int], ...],
) -> dict[str, Any]:
    """Parameters through the project's config loader, once per configuration state.

    The registry asks several times while it is built; ``signature`` (the files under
    ``conf_source``) makes a changed configuration load again.
    """
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=conf_source,
        env=env,
        runtime_params=json.loads(runtime_params_json),
        **settings.CONFIG_LOADER_ARGS,
    )
    try:
        return dict(loader["parameters"])
    except MissingConfigException:
        return {}


def _validated_n_folds(value: object, source: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_FOLDS:
        raise ValueError(
            f"folds.n_folds must be an integer >= {MIN_FOLDS} (the number of cross-validation "
            f"folds, e.g. 3 or 4), got {value!r} in {source}."
        )
    return value


def n_folds(parameters: Mapping[str, Any] | None = None) -> int:
    """Number of folds, ``folds.n_folds`` of the configuration.

    Args:
        parameters: The project's parameters; by default :func:`project_parameters`.

    Returns:
        ``folds.n_folds``, or :class:`~xview3_pipeline.core.folds.FoldConfig`'s default
        when the configuration does not set it.

    Raises:
        ValueError: If ``folds.n_folds`` is not an integer >= 2.
    """
    params = project_parameters() if parameters is None else parameters
    folds = params.get("folds") or {}
    value = folds.get("n_folds", FoldConfig.n_folds) if isinstance(folds, Mapping) else None
    return _validated_n_folds(value, "the configuration (conf/, parameters_folds.yml)")


def fold_namespaces(parameters: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """``fold_0`` … ``fold_{K-1}`` for ``K = folds.n_folds`` (see :func:`n_folds`)."""
    return tuple(f"fold_{k}" for k in range(n_folds(parameters)))


def trains_on_cleaned_labels(parameters: Mapping[str, Any] | None = None) -> bool:
    """Whether ``folds.label_sources`` has ``train_cleaned``.

    Training then reads the cleaned train labels ``train_cleaned_labels``, and
    ``__default__`` runs ``label_cleaning``.

    Args:
        parameters: The project's parameters; by default :func:`project_parameters`.
    """
    params = project_parameters() if parameters is None else parameters
    folds = params.get("folds") or {}
    sources = folds.get("label_sources") if isinstance(folds, Mapping) else None
    return isinstance(sources, Mapping) and TRAIN_CLEANED in sources


def label_cleaning_rounds(parameters: Mapping[str, Any] | None = None) -> int:
    """Number of label-cleaning rounds, ``label_cleaning.rounds`` (default 1).

    Args:
        parameters: The project's parameters; by default :func:`project_parameters`.

    Raises:
        ValueError: If it is not an integer >= 1.
    """
    params = project_parameters() if parameters is None else parameters
    block = params.get("label_cleaning") or {}
    value = block.get("rounds", 1) if isinstance(block, Mapping) else None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "label_cleaning.rounds must be an integer >= 1 (rounds of train teachers, "
            f"predict, clean), got {value!r} in the configuration (parameters_label_cleaning.yml)."
        )
    return value


def check_label_sources(parameters: Mapping[str, Any], registered: bool | None = None) -> None:
    """Refuse a run whose ``train_cleaned`` label source is not the registry's.

    Args:
        parameters: The run's parameters (with ``folds``).
        registered: Whether the pipelines were built with ``train_cleaned`` in
            ``folds.label_sources``; by default what the registry reads
            (:func:`trains_on_cleaned_labels`).

    Raises:
        ValueError: If the run's ``folds.label_sources`` has ``train_cleaned`` and the
            pipelines were built without it, or the other way round: training would read
            the raw train labels where the cleaned ones were asked for (or miss them).
    """
    requested = trains_on_cleaned_labels(parameters)
    built = trains_on_cleaned_labels() if registered is None else registered
    if requested != built:
        have, lack = ("has", "without") if requested else ("lacks", "with")
        raise ValueError(
            f"folds.label_sources {have} {TRAIN_CLEANED!r} in this run's parameters, but the "
            f"pipelines were built {lack} it (training reads train_cleaned_labels only when "
            "built with it). Set folds.label_sources in conf/ (base, local or the run's "
            "--env) or with `kedro run --params`, or set KEDRO_ENV for a session created in "
            "Python."
        )


def ensemble_presets(parameters: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """Architectures of the ensemble trained by ``training_ensemble``.

    Args:
        parameters: The project's parameters; by default :func:`project_parameters`.

    Returns:
        The keys of the ``ensemble`` block (one complete training block per
        architecture, ``conf/xview3_full``), in their order; the winner's three
        (:data:`WINNER_ENSEMBLE_PRESETS`) when there is no such block.

    Raises:
        ValueError: If ``ensemble`` is not a mapping of training blocks.
    """
    params = project_parameters() if parameters is None else parameters
    block = params.get("ensemble")
    if block is None:
        return WINNER_ENSEMBLE_PRESETS
    if not isinstance(block, Mapping) or not block:
        raise ValueError(
            "ensemble must map each architecture's name to its training block, e.g. "
            f"{{b4_unet_s2: {{model: ...}}}}; got {block!r}."
        )
    return tuple(str(name) for name in block)


def check_fold_count(parameters: Mapping[str, Any], registered: int | None = None) -> None:
    """Refuse a run whose ``folds.n_folds`` is not the registry's fold count.

    Args:
        parameters: The run's parameters (the whole ``parameters`` mapping, with
            ``folds``).
        registered: The number of fold namespaces the pipelines were built with; by
            default what the registry reads (:func:`n_folds`).

    Raises:
        ValueError: If the two differ (typically ``KedroSession.create(runtime_params=
            {"folds": {"n_folds": 3}})`` or an ``env`` unknown to the registry, see the
            module docstring), or if ``folds.n_folds`` is not an integer >= 2.
    """
    folds = parameters.get("folds") or {}
    value = folds.get("n_folds", FoldConfig.n_folds) if isinstance(folds, Mapping) else None
    requested = _validated_n_folds(value, "the run's parameters")
    built = n_folds() if registered is None else registered
    if requested != built:
        raise ValueError(
            f"folds.n_folds is {requested} in this run's parameters, but the pipelines were "
            f"built with {built} fold namespaces (fold_0 ... fold_{built - 1}). The fold "
            "namespaces are built from the configuration before parameters reach the "
            "nodes, so set folds.n_folds in conf/ (base, local or the run's --env), or pass "
            "it with `kedro run --params folds.n_folds=...`, or set KEDRO_ENV for a "
            "session created in Python."
        )


def checked_fold(
    folds: Mapping[str, Any],
    fold_assignments: pd.DataFrame,
    *,
    fold: int,
    n_namespaces: int,
    cleaned_labels: bool | None = None,
) -> int:
    """The fold a namespace trains, after checking the fold structure of the run.

    Args:
        folds: The ``folds`` parameters of the run.
        fold_assignments: The fold table (column ``fold``; ``-1`` is the holdout).
        fold: The namespace's fold ``k``.
        n_namespaces: The number of fold namespaces the pipeline was built with.
        cleaned_labels: Whether the pipelines were built with ``train_cleaned`` in
            ``folds.label_sources`` (:func:`check_label_sources`); ``None`` skips that
            check.

    Returns:
        ``fold``.

    Raises:
        ValueError: If ``folds.n_folds`` differs from ``n_namespaces`` (see
            :func:`check_fold_count`), or if the fold table's folds are not
            ``0 … n_namespaces - 1`` (a table of an earlier run with another fold count:
            rerun the ``folds`` pipeline), or if the run's ``train_cleaned`` label source
            is not the registry's.
    """
    check_fold_count({"folds": folds}, registered=n_namespaces)
    if cleaned_labels is not None:
        check_label_sources({"folds": folds}, registered=cleaned_labels)
    table_folds = sorted(
        int(f) for f in pd.unique(fold_assignments["fold"]) if int(f) != HOLDOUT_FOLD
    )
    if table_folds != list(range(n_namespaces)):
        raise ValueError(
            f"fold_assignments holds folds {table_folds}, but folds.n_folds is {n_namespaces} "
            f"(folds {list(range(n_namespaces))}): it was split with another fold count. "
            "Rerun the folds pipeline (kedro run --pipelines folds)."
        )
    return fold


def fold_pipelines(
    template: Pipeline,
    *,
    prefix: str = "",
    parameters: Mapping[str, str] | None = None,
    shared_inputs: frozenset[str] = frozenset({"scene_index", "fold_assignments", "labels"}),
    inputs: Mapping[str, str] | None = None,
) -> Pipeline:
    """One namespaced copy of a fold template per fold namespace.

    Each copy starts with ``check_fold_node``, which checks the run's fold structure
    (:func:`checked_fold`) and gives the template its fold number as the dataset
    ``<namespace>.fold``; so a fold's number never has to be written in the
    configuration, and ``kedro run --namespaces fold_2`` still runs a complete fold.

    Args:
        template: The pipeline of one fold; it reads its fold number from the dataset
            ``fold``.
        prefix: Namespace prefix (``"b4_unet_s2."`` for ``b4_unet_s2.fold_k``).
        parameters: Parameter mapping of every copy (e.g. ``{"params:training":
            "params:ensemble.b4_unet_s2"}``); other parameters keep their names.
        shared_inputs: Datasets the copies share (not namespaced).
        inputs: Shared datasets under other names (template name -> dataset), e.g.
            ``{"fold_assignments": "label_cleaning.round_1.fold_assignments"}``; they
            take precedence over ``shared_inputs``.

    Returns:
        The sum of the copies, namespaces ``<prefix>fold_0`` … ``<prefix>fold_{K-1}``.
    """
    namespaces = fold_namespaces()
    cleaned = trains_on_cleaned_labels()
    mapping = dict(parameters or {})
    template_inputs = template.inputs() | {"fold_assignments"}
    shared = {name: name for name in shared_inputs} | dict(inputs or {})
    shared = {name: target for name, target in shared.items() if name in template_inputs}
    template_params = {p for p in template.inputs() if p.startswith("params:")}
    params = {p: mapping.get(p, p) for p in template_params | {"params:folds"}}
    copies = []
    for k, namespace in enumerate(namespaces):
        check = Node(
            func=update_wrapper(
                partial(checked_fold, fold=k, n_namespaces=len(namespaces), cleaned_labels=cleaned),
                checked_fold,
            ),
            inputs=["params:folds", "fold_assignments"],
            outputs="fold",
            name="check_fold_node",
        )
        copies.append(
            Pipeline(
                [check, template],
                namespace=f"{prefix}{namespace}",
                inputs=shared,
                parameters=params,
            )
        )
    return sum(copies, Pipeline([]))
