"""Pipeline ``xview2_pseudo_labels``: first-stage test predictions, pseudo masks, fine-tuning."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.xview2_inference.pipeline import predict_test_node
from xview3_pipeline.pipelines.xview2_structure import xview2_structure
from xview3_pipeline.pipelines.xview2_training.nodes import clear_xview2_training_work
from xview3_pipeline.pipelines.xview2_training.pipeline import bound

from .nodes import fine_tune_xview2_fold, make_xview2_pseudo_labels


def create_pipeline(**kwargs: object) -> Pipeline:
    """Empty unless ``xview2.pseudo_labels.enabled``; then the winner's second stage."""
    structure = xview2_structure()
    if not structure.pseudo_labels:
        return Pipeline([])
    nodes = [
        predict_test_node(structure, a, stage="stage1_", final=False) for a in structure.ensemble
    ]
    nodes.append(
        Node(
            func=make_xview2_pseudo_labels,
            inputs=[
                "xview2_pair_index",
                "params:xview2",
                *(f"xview2.{a}.stage1_test_probabilities" for a in structure.ensemble),
            ],
            outputs=["xview2_pseudo_label_masks", "xview2_pseudo_label_summary"],
            name="make_xview2_pseudo_labels_node",
            namespace="xview2",
        )
    )
    for a in structure.ensemble:
        for k in structure.folds():
            ns = structure.namespace(a, k)
            nodes += [
                Node(
                    func=bound(fine_tune_xview2_fold, architecture=a, fold=k, structure=structure),
                    inputs={
                        "base_model": f"{ns}.model",
                        "pair_index": "xview2_pair_index",
                        "fold_assignments": "xview2_fold_assignments",
                        "target_masks": "xview2_target_masks",
                        "pseudo_masks": "xview2_pseudo_label_masks",
                        "parameters": "params:xview2",
                    },
                    outputs=[
                        f"{ns}.pl_model",
                        f"{ns}.pl_training_history",
                        f"{ns}.pl_training_curves",
                    ],
                    name="fine_tune_xview2_fold_node",
                    namespace=ns,
                    tags="gpu",
                ),
                Node(
                    func=bound(clear_xview2_training_work, architecture=a, fold=k, stage="pseudo"),
                    inputs=[f"{ns}.pl_model", f"{ns}.pl_training_history", "params:xview2"],
                    outputs=None,
                    name="clear_xview2_pseudo_label_work_node",
                    namespace=ns,
                ),
            ]
    return Pipeline(nodes)
