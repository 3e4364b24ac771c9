"""Pipeline ``xview2_submission``: the ensemble's and the baseline's submissions and scores."""

from kedro.pipeline import Node, Pipeline

from xview3_pipeline.pipelines.xview2_structure import xview2_structure

from .nodes import report_xview2_submission, score_xview2_submission, write_xview2_submission


def _submission_nodes(architectures: tuple[str, ...], prefix: str) -> list[Node]:
    return [
        Node(
            func=write_xview2_submission,
            inputs=[
                "params:xview2",
                *(f"xview2.{a}.test_probabilities" for a in architectures),
                *(f"xview2.{a}.class_weights" for a in architectures),
            ],
            outputs=f"xview2_{prefix}submission",
            name=f"write_xview2_{prefix}submission_node",
            namespace="xview2",
        ),
        Node(
            func=score_xview2_submission,
            inputs=[f"xview2_{prefix}submission", "xview2_target_masks", "params:xview2"],
            outputs=f"xview2_{prefix}score_report",
            name=f"score_xview2_{prefix}submission_node",
            namespace="xview2",
        ),
    ]


def create_pipeline(**kwargs: object) -> Pipeline:
    """Submission, score, confusion, polygons and examples of the ensemble; the baseline's score."""
    structure = xview2_structure()
    nodes = _submission_nodes(structure.ensemble, "")
    nodes.append(
        Node(
            func=report_xview2_submission,
            inputs=[
                "xview2_submission",
                "xview2_target_masks",
                "xview2_pair_index",
                "params:xview2",
            ],
            outputs=[
                "xview2_confusion_matrix",
                "xview2_confusion_matrix_plot",
                "xview2_building_polygons",
                "xview2_examples",
            ],
            name="report_xview2_submission_node",
            namespace="xview2",
        )
    )
    if structure.baseline is not None:
        nodes += _submission_nodes((structure.baseline,), "baseline_")
    return Pipeline(nodes)
