"""Custom Kedro datasets of the project (the only package that imports ``kedro.io``)."""

from xview3_pipeline.datasets.checkpoint_dataset import CircleNetCheckpointDataset

__all__ = ("CircleNetCheckpointDataset",)
