"""Pipeline ``inference``."""

from functools import partial

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.structure import fold_namespaces

from .nodes import (
    cross_validation_report,
    export_ensemble,
    predict_out_of_fold,
    predict_scene_set,
)

_SHARED = {
    "scene_index": "scene_index",
    "fold_assignments": "fold_assignments",
    "raw_root": "params:raw_root",
    "parameters": "params:inference",
    "cache_dir": "params:inference_cache_dir",
}


def create_pipeline(**kwargs: object) -> Pipeline:
    """Export the ensemble; candidates on holdout, test and out-of-fold scenes; CV report."""
    fold_models = [f"{namespace}.model" for namespace in fold_namespaces()]
    return Pipeline(
        [
            Node(
                func=export_ensemble,
                inputs=["params:inference", *fold_models],
                outputs="ensemble_model",
                name="export_ensemble_node",
            ),
            Node(
                func=partial(predict_scene_set, which="holdout"),
                inputs={"ensemble": "ensemble_model", **_SHARED},
                outputs="holdout_candidates",
                name="predict_holdout_node",
            ),
            Node(
                func=partial(predict_scene_set, which="test"),
                inputs={"ensemble": "ensemble_model", **_SHARED},
                outputs="test_candidates",
                name="predict_test_node",
            ),
            Node(
                func=predict_out_of_fold,
                inputs=[*_SHARED.values(), *fold_models],
                outputs="oof_candidates",
                name="predict_out_of_fold_node",
            ),
            Node(
                func=cross_validation_report,
                inputs=["oof_candidates", "labels", "fold_assignments", "params:raw_root"],
                outputs="cv_scores",
                name="cross_validation_report_node",
            ),
        ]
    )
