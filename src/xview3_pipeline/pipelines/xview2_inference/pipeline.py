"""Pipeline ``xview2_inference``: per architecture, out-of-fold and test probabilities."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.xview2_structure import Xview2Structure, xview2_structure

from .nodes import predict_xview2_oof, predict_xview2_test


def fold_models(structure: Xview2Structure, architecture: str, *, final: bool) -> list[str]:
    """The fold model datasets of an architecture (the fine-tuned ones when ``final``)."""
    name = "pl_model" if final and structure.fine_tuned(architecture) else "model"
    return [f"{structure.namespace(architecture, k)}.{name}" for k in structure.folds()]


def predict_test_node(
    structure: Xview2Structure, architecture: str, *, stage: str = "", final: bool = True
) -> Node:
    """The node writing ``xview2.<architecture>.<stage>test_probabilities``."""
    return Node(
        func=predict_xview2_test,
        inputs=[
            "xview2_pair_index",
            "params:xview2",
            *fold_models(structure, architecture, final=final),
        ],
        outputs=f"xview2.{architecture}.{stage}test_probabilities",
        name=f"predict_xview2_{stage}test_node",
        # First-stage nodes get a namespace of their own, so that the models' namespaces
        # stay contiguous in the run order (kedro-viz folds a namespace into one box).
        namespace=f"xview2.{stage.rstrip('_')}.{architecture}"
        if stage
        else f"xview2.{architecture}",
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """Out-of-fold and test probabilities of every architecture's final fold models."""
    structure = xview2_structure()
    nodes = []
    for a in structure.architectures:
        nodes += [
            Node(
                func=predict_xview2_oof,
                inputs=[
                    "xview2_pair_index",
                    "xview2_fold_assignments",
                    "params:xview2",
                    *fold_models(structure, a, final=True),
                ],
                outputs=f"xview2.{a}.oof_probabilities",
                name="predict_xview2_oof_node",
                namespace=f"xview2.{a}",
            ),
            predict_test_node(structure, a),
        ]
    return Pipeline(nodes)
