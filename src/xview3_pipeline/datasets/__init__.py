"""Custom Kedro datasets of the project (the only package that imports ``kedro.io``)."""

from xview3_pipeline.datasets.atomic import AtomicDataset, AtomicPartitionedDataset
from xview3_pipeline.datasets.candidate_sets import (
    CandidateJobs,
    CandidateSet,
    CandidateSetDataset,
    SceneJob,
)
from xview3_pipeline.datasets.checkpoint_dataset import (
    CircleNetCheckpointDataset,
    Xview2CheckpointDataset,
)
from xview3_pipeline.datasets.exported_ensemble import ExportedEnsembleDataset
from xview3_pipeline.datasets.numpy_array import NpyDataset
from xview3_pipeline.datasets.optional_csv import OptionalCSVDataset
from xview3_pipeline.datasets.skip_empty_csv import SkipEmptyCSVDataset
from xview3_pipeline.datasets.thresholds import ThresholdsDataset

__all__ = (
    "AtomicDataset",
    "AtomicPartitionedDataset",
    "CandidateJobs",
    "CandidateSet",
    "CandidateSetDataset",
    "CircleNetCheckpointDataset",
    "ExportedEnsembleDataset",
    "NpyDataset",
    "OptionalCSVDataset",
    "SceneJob",
    "SkipEmptyCSVDataset",
    "ThresholdsDataset",
    "Xview2CheckpointDataset",
)
