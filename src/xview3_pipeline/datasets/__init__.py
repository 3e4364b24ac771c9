"""Custom Kedro datasets of the project (the only package that imports ``kedro.io``)."""

from xview3_pipeline.datasets.checkpoint_dataset import CircleNetCheckpointDataset
from xview3_pipeline.datasets.optional_csv import OptionalCSVDataset

__all__ = ("CircleNetCheckpointDataset", "OptionalCSVDataset")
