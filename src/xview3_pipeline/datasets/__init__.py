"""Custom Kedro datasets of the project (the only package that imports ``kedro.io``)."""

from xview3_pipeline.datasets.candidate_sets import (
    CandidateJobs,
    CandidateSet,
    CandidateSetDataset,
    SceneJob,
)
from xview3_pipeline.datasets.checkpoint_dataset import CircleNetCheckpointDataset
from xview3_pipeline.datasets.exported_ensemble import ExportedEnsembleDataset
from xview3_pipeline.datasets.optional import NOT_PRODUCED, OptionalDataset, ThresholdsDataset
from xview3_pipeline.datasets.optional_csv import OptionalCSVDataset

__all__ = (
    "NOT_PRODUCED",
    "CandidateJobs",
    "CandidateSet",
    "CandidateSetDataset",
    "CircleNetCheckpointDataset",
    "ExportedEnsembleDataset",
    "OptionalCSVDataset",
    "OptionalDataset",
    "SceneJob",
    "ThresholdsDataset",
)
