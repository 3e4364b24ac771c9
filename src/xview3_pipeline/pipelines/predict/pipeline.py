"""Pipeline ``predict``: ``kedro run --pipelines predict --params predict_root=DIR``.

``predict.detector`` (``cnn``, the default, or ``cfar``) chooses the detector, and the
pipeline holds only that detector's nodes, so it loads only that detector's artefacts:
CFAR prediction needs no ``ensemble_model`` and runs on a project that never trained a
CNN. Thresholds come from ``{detector}.best_thresholds`` when the detector was tuned,
else the winner's defaults (with a warning).

Kedro builds the registry before parameters reach a node, so the choice is read from the
configuration at that time (:func:`configured_detector`: the command line's ``--params``,
``conf/base`` and the run's environment); the node checks that the run's parameters agree.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.core.config import RenamedOptionWarning, resolve_alias
from xview3_pipeline.pipelines.evaluation.pipeline import (
    DETECTORS,
    build_node_names,
    detector_pipeline,
)
from xview3_pipeline.pipelines.structure import project_parameters

from .nodes import predict_folder

#: Old ``predict_method`` values.
_METHOD_ALIASES = {"model": "cnn"}


def resolve_detector(parameters: Mapping[str, Any]) -> str:
    """``predict.detector``, or the deprecated ``predict_method`` when that is set.

    Args:
        parameters: The project's parameters.

    Returns:
        ``cnn`` or ``cfar``.

    Raises:
        ValueError: On another value.
    """
    block = parameters.get("predict") or {}
    value = block.get("detector", "cnn") if isinstance(block, Mapping) else "cnn"
    method = parameters.get("predict_method")
    if method is not None:
        warnings.warn(
            "predict_method is deprecated and will be removed in the next release; use "
            "predict.detector (cnn or cfar).",
            RenamedOptionWarning,
            stacklevel=2,
        )
        value = resolve_alias(str(method), _METHOD_ALIASES, what="predict_method")
    if value not in DETECTORS:
        raise ValueError(
            f"predict.detector = {value!r} is not accepted; expected one of {list(DETECTORS)}."
        )
    return str(value)


def configured_detector(parameters: Mapping[str, Any] | None = None) -> str:
    """The detector the configuration chooses for ``predict`` (see the module docstring)."""
    return resolve_detector(project_parameters() if parameters is None else parameters)


def _chosen(predict: Mapping[str, Any], predict_method: str | None) -> str:
    return resolve_detector({"predict": predict, "predict_method": predict_method})


def create_pipeline(detector: str | None = None, **kwargs: object) -> Pipeline:
    """The chosen detector, then the scenes of ``predict_root`` through it.

    Args:
        detector: ``cnn`` or ``cfar``; by default :func:`configured_detector`.
        **kwargs: Unused.

    Returns:
        The pipeline (outputs ``predictions``, ``predictions_geo``,
        ``predict_failed_scenes``).
    """
    detector = detector or configured_detector()
    build = detector_pipeline(detector).only_nodes(*build_node_names(detector))
    nodes = [
        Node(
            func=_chosen,
            inputs=["params:predict", "params:predict_method"],
            outputs="chosen_detector",
            name="resolve_predict_detector_node",
        ),
        Node(
            func=predict_folder,
            inputs={
                "detector": "detector",
                "thresholds": "best_thresholds",
                "predict_root": "params:predict_root",
                "detection": "params:detection",
                "chosen": "chosen_detector",
                "executor": "params:executor",
                "dask": "params:dask",
            },
            outputs=["predictions", "predictions_geo", "predict_failed_scenes"],
            name="predict_folder_node",
        ),
    ]
    predict = Pipeline(
        Pipeline(nodes),
        namespace=detector,
        outputs={"predictions", "predictions_geo", "predict_failed_scenes"},
        parameters={
            "params:predict",
            "params:predict_method",
            "params:predict_root",
            "params:detection",
            "params:executor",
            "params:dask",
        },
    )
    return build + predict
