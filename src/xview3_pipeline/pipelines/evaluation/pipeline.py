"""Pipeline ``evaluation``: one template, detect → tune → submit → report, per detector.

:func:`evaluation_template` is written once for any detector: it takes ``detector`` (an
object implementing :class:`~xview3_pipeline.core.detection.Detector`) and produces
``holdout_candidates``, ``test_candidates``, ``failed_scenes``, ``best_thresholds``, the
tuning reports, ``submission``, the detection layers and the test score report. It is
wrapped in the namespaces ``cnn`` and ``cfar``; the catalog's dataset factories
(``"{detector}.best_thresholds"`` …) give every namespaced output its file. What differs
between detectors sits before the template:

* ``cnn``: the fold models exported as one ensemble (``ensemble_model``, shared), the
  ensemble as ``cnn.detector``, and each fold's own model (``cnn.fold_detectors``) for
  the out-of-fold candidates and the CV report, which the template adds for ``cnn``;
* ``cfar``: ``params:cfar`` as ``cfar.detector``.

After both templates, :func:`robustness_pipeline` puts the two test score reports side by
side per domain (in- and out-of-distribution scenes of the synthetic data):
``robustness_report`` and ``robustness_plot``.

Node tags say which step a node belongs to (``detect``, ``tune``, ``submit``,
``compare``); the registry builds the old pipeline names (``inference``, ``tuning``,
``submission``, ``cfar_baseline``) from them, and ``robustness`` is the comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.structure import fold_namespaces

from .nodes import (
    cfar_detector,
    cnn_detector,
    cross_validation_report,
    detect_attribute_scenes,
    detect_out_of_fold,
    detect_scene_set,
    export_ensemble,
    failed_scenes,
    fit_attributes,
    fold_detectors,
    make_submission,
    report_scores,
    rescored_detector,
    robustness_report,
    tune_thresholds,
)

#: The detectors, each a namespace of the template.
DETECTORS: tuple[str, ...] = ("cnn", "cfar")
#: Tags of the template's steps.
DETECT, TUNE, SUBMIT = "detect", "tune", "submit"
#: Tag of the node comparing the detectors (after both templates).
COMPARE = "compare"

#: Inputs every namespace shares (not prefixed).
SHARED_INPUTS = frozenset(
    {
        "scene_index",
        "fold_assignments",
        "labels",
        "synthetic_test_truth",
        "synthetic_manifest",
        "ensemble_model",
    }
)
#: Per-detector parameter blocks behind the template's ``params:tuning`` and
#: ``params:detector_name``.
DETECTOR_PARAMETERS: dict[str, dict[str, str]] = {
    "cnn": {
        "params:tuning": "params:tuning",
        "params:detector_name": "params:submission.detector_name",
    },
    "cfar": {
        "params:tuning": "params:cfar_tuning",
        "params:detector_name": "params:cfar_detector_name",
    },
}
_SHARED_PARAMETERS = {
    "params:raw_root",
    "params:detection",
    "params:executor",
    "params:dask",
    "params:inference",
    "params:cfar",
    "params:tuning_storage",
}


def _scene_set_node(
    which: str,
    *,
    func: Callable[..., Any] = detect_scene_set,
    detector: str = "detector",
    **extra: str,
) -> Node:
    return Node(
        func=update_wrapper(partial(func, which=which), func),
        inputs={
            "detector": detector,
            "scene_index": "scene_index",
            "fold_assignments": "fold_assignments",
            "raw_root": "params:raw_root",
            "detection": "params:detection",
            "executor": "params:executor",
            "dask": "params:dask",
            **extra,
        },
        outputs=f"{which}_candidates",
        name=f"detect_{which}_node",
        tags={DETECT},
    )


def _out_of_fold_nodes() -> list[Node]:
    return [
        Node(
            func=detect_out_of_fold,
            inputs={
                "detectors": "fold_detectors",
                "scene_index": "scene_index",
                "fold_assignments": "fold_assignments",
                "raw_root": "params:raw_root",
                "detection": "params:detection",
                "executor": "params:executor",
                "dask": "params:dask",
            },
            outputs="oof_candidates",
            name="detect_out_of_fold_node",
            tags={DETECT},
        ),
        Node(
            func=cross_validation_report,
            inputs=["oof_candidates", "labels", "fold_assignments", "params:raw_root"],
            outputs="cv_scores",
            name="cross_validation_report_node",
            tags={DETECT},
        ),
    ]


def _failed_scenes_node(sets: tuple[str, ...]) -> Node:
    return Node(
        func=failed_scenes,
        inputs={name: f"{name}_candidates" for name in sets},
        outputs="failed_scenes",
        name="report_failed_scenes_node",
        tags={DETECT},
    )


def _tune_node() -> Node:
    return Node(
        func=tune_thresholds,
        inputs={
            "candidates": "holdout_candidates",
            "fold_assignments": "fold_assignments",
            "labels": "labels",
            "raw_root": "params:raw_root",
            "parameters": "params:tuning",
            "storage_path": "params:tuning_storage",
        },
        outputs=[
            "best_thresholds",
            "tuning_trials",
            "tuning_comparison",
            "tuning_history_plot",
            "tuning_slices_plot",
            "tuning_grid_plot",
        ],
        name="tune_thresholds_node",
        tags={TUNE},
    )


def _submit_nodes() -> list[Node]:
    return [
        Node(
            func=make_submission,
            inputs=["test_candidates", "best_thresholds", "scene_index"],
            outputs=["submission", "detections_geo", "detections_geojson", "test_detections"],
            name="make_submission_node",
            tags={SUBMIT},
        ),
        Node(
            func=report_scores,
            inputs={
                "detections": "test_detections",
                "candidates": "test_candidates",
                "truth": "synthetic_test_truth",
                "manifest": "synthetic_manifest",
                "thresholds": "best_thresholds",
                "raw_root": "params:raw_root",
                "name": "params:detector_name",
            },
            outputs=["test_score_report", "test_score_per_scene", "test_pr_curve"],
            name="report_test_scores_node",
            tags={SUBMIT},
        ),
    ]


def evaluation_template(*, out_of_fold: bool = False) -> Pipeline:
    """Detect → tune → submit → report for the detector in ``detector``.

    Args:
        out_of_fold: Also detect each fold's validation scenes with that fold's own
            detector (input ``fold_detectors``: ``fold -> detector``) and score them per
            fold (``cv_scores``).

    Returns:
        The un-namespaced template.
    """
    sets = ("holdout", "test", "oof") if out_of_fold else ("holdout", "test")
    return Pipeline(
        [
            _scene_set_node("holdout"),
            _scene_set_node("test"),
            *(_out_of_fold_nodes() if out_of_fold else []),
            _failed_scenes_node(sets),
            _tune_node(),
            *_submit_nodes(),
        ]
    )


def _namespaced(detector: str, pipeline: Pipeline) -> Pipeline:
    return Pipeline(
        pipeline,
        namespace=detector,
        inputs=set(SHARED_INPUTS & pipeline.inputs()),
        parameters={
            **{p: p for p in _SHARED_PARAMETERS & pipeline.inputs()},
            **DETECTOR_PARAMETERS[detector],
        },
    )


def ensemble_export_pipeline() -> Pipeline:
    """The fold models exported as one ensemble (``ensemble_model``), before ``cnn``."""
    fold_models = [f"{namespace}.model" for namespace in fold_namespaces()]
    return Pipeline(
        [
            Node(
                func=export_ensemble,
                inputs=["params:inference", *fold_models],
                outputs="ensemble_model",
                name="export_ensemble_node",
                tags={DETECT},
            )
        ]
    )


def build_node_names(detector: str) -> list[str]:
    """The nodes that build ``{detector}.detector`` from saved artefacts (for ``predict``)."""
    names = (
        ["build_network_detector_node", "build_detector_node"]
        if detector == "cnn"
        else ["build_detector_node"]
    )
    return [f"{detector}.{name}" for name in names]


def detector_pipeline(detector: str) -> Pipeline:
    """The nodes that build ``{detector}.detector`` (and the CNN's fold detectors).

    For ``cnn``: the exported ensemble as ``cnn.network_detector``; ``cnn.detector`` is it
    with ``fishing_p`` from ``cnn.attribute_model`` (``attributes.fishing: context``; the
    model is fitted by :func:`attribute_pipeline`, or loaded from the catalog by
    ``predict``) or the network detector itself.

    Args:
        detector: ``cnn`` or ``cfar``.

    Returns:
        The namespaced pipeline.

    Raises:
        ValueError: On an unknown detector.
    """
    if detector == "cnn":
        fold_models = [f"{namespace}.model" for namespace in fold_namespaces()]
        nodes = [
            Node(
                func=cnn_detector,
                inputs=["ensemble_model", "params:inference"],
                outputs="network_detector",
                name="build_network_detector_node",
                tags={DETECT},
            ),
            Node(
                func=rescored_detector,
                inputs=["network_detector", "attribute_model", "params:attributes"],
                outputs="detector",
                name="build_detector_node",
                tags={DETECT},
            ),
            Node(
                func=fold_detectors,
                inputs=["params:inference", *fold_models],
                outputs="fold_detectors",
                name="build_fold_detectors_node",
                tags={DETECT},
            ),
        ]
        return Pipeline(
            Pipeline(nodes),
            namespace="cnn",
            inputs={"ensemble_model", *fold_models},
            parameters={"params:inference", "params:attributes"},
        )
    if detector == "cfar":
        node = Node(
            func=cfar_detector,
            inputs="params:cfar",
            outputs="detector",
            name="build_detector_node",
            tags={DETECT},
        )
        return Pipeline(Pipeline([node]), namespace="cfar", parameters={"params:cfar"})
    raise ValueError(f"Unknown detector {detector!r}; expected one of {list(DETECTORS)}.")


def attribute_pipeline() -> Pipeline:
    """The CNN's fishing model, fitted on out-of-sample candidates of the labelled scenes.

    ``cnn.attribute_candidates``: the ``train`` scenes no fold holds (outside the holdout),
    detected by the network's ensemble, which never trained on them; with the fold
    scenes' ``cnn.oof_candidates`` they fit ``cnn.attribute_model``
    (:mod:`xview3_pipeline.core.detection.attributes`). Nothing is detected or fitted
    with ``attributes.fishing: network``.

    Returns:
        The pipeline in the ``cnn`` namespace.
    """
    nodes = [
        _scene_set_node(
            "attribute",
            func=detect_attribute_scenes,
            detector="network_detector",
            attributes="params:attributes",
        ),
        Node(
            func=fit_attributes,
            inputs=["oof_candidates", "attribute_candidates", "labels", "params:attributes"],
            outputs="attribute_model",
            name="fit_attributes_node",
            tags={DETECT},
        ),
    ]
    return Pipeline(
        Pipeline(nodes),
        namespace="cnn",
        inputs={"scene_index", "fold_assignments", "labels"},
        parameters={
            "params:raw_root",
            "params:detection",
            "params:attributes",
            "params:executor",
            "params:dask",
        },
    )


def evaluation_pipeline(detector: str) -> Pipeline:
    """The template wrapped in the ``detector`` namespace, with its detector built first.

    Args:
        detector: ``cnn`` (with out-of-fold candidates) or ``cfar``.

    Returns:
        The namespaced pipeline (without the ensemble export).
    """
    template = evaluation_template(out_of_fold=detector == "cnn")
    pipeline = detector_pipeline(detector) + _namespaced(detector, template)
    return pipeline + attribute_pipeline() if detector == "cnn" else pipeline


def evaluation_steps(detector: str, *tags: str) -> Pipeline:
    """The nodes of some steps of one detector's evaluation (an old pipeline name).

    Args:
        detector: ``cnn`` (whose ``detect`` step includes the ensemble export) or ``cfar``.
        *tags: Steps (:data:`DETECT`, :data:`TUNE`, :data:`SUBMIT`); all when empty.

    Returns:
        The nodes of those steps.
    """
    full = evaluation_pipeline(detector)
    if detector == "cnn":
        full = ensemble_export_pipeline() + full
    return full.only_nodes_with_tags(*tags) if tags else full


def robustness_pipeline() -> Pipeline:
    """Both detectors' test scores per domain, and the CNN's margin over CFAR.

    Returns:
        The node reading ``cnn.test_score_report`` and ``cfar.test_score_report`` and
        writing ``robustness_report`` and ``robustness_plot``.
    """
    return Pipeline(
        [
            Node(
                func=robustness_report,
                inputs={d: f"{d}.test_score_report" for d in DETECTORS},
                outputs=["robustness_report", "robustness_plot"],
                name="robustness_report_node",
                tags={COMPARE},
            )
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """Ensemble export, the template for ``cnn`` and for ``cfar``, then their comparison."""
    return (
        ensemble_export_pipeline()
        + sum((evaluation_pipeline(d) for d in DETECTORS), Pipeline([]))
        + robustness_pipeline()
    )
