"""A versioned Kedro dataset for CircleNet checkpoints.

``save`` takes a CircleNet and writes ``{"format": 1, "model_config": <plain dict>,
"state_dict": <tensors>, "metadata": <plain dict>}`` with ``torch.save`` to a temporary
file that is renamed into place. ``load`` reads it with ``torch.load(weights_only=True)``
(no arbitrary unpickling), rebuilds the architecture from the stored configuration and
returns the model in eval mode: what is saved is what is loaded, so a downstream node in
the same run and a later run see the same object type.
"""

from __future__ import annotations

import os
from copy import deepcopy
from pathlib import PurePosixPath
from typing import Any

import fsspec
import torch
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)
from torch import nn

from xview3_pipeline.core.models import ModelConfig, build_model

FORMAT_VERSION = 1


class CircleNetCheckpointDataset(AbstractVersionedDataset[nn.Module, nn.Module]):
    """Save and load CircleNet models as safe, self-describing checkpoints.

    Example catalog entry::

        "{namespace}.model":
          type: xview3_pipeline.datasets.CircleNetCheckpointDataset
          filepath: data/06_models/{namespace}/model.pt
          versioned: true

    Args:
        filepath: Path of the checkpoint (local or any fsspec protocol).
        version: Kedro version to load or save.
        map_location: Device the tensors are loaded to.
        metadata: Free-form metadata shown by kedro-viz.
    """

    def __init__(
        self,
        *,
        filepath: str,
        version: Version | None = None,
        map_location: str = "cpu",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        self._fs = fsspec.filesystem(protocol)
        self._map_location = map_location
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def load(self) -> nn.Module:
        """Rebuild the model from the newest (or the requested) version."""
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as f:
            checkpoint = torch.load(f, map_location=self._map_location, weights_only=True)
        if checkpoint.get("format") != FORMAT_VERSION or "model_config" not in checkpoint:
            raise DatasetError(
                f"{path} is not a CircleNet checkpoint of format {FORMAT_VERSION} "
                "(expected keys 'format', 'model_config', 'state_dict')."
            )
        model = build_model(ModelConfig.from_dict(checkpoint["model_config"]))
        model.load_state_dict(checkpoint["state_dict"])
        model.checkpoint_metadata = checkpoint.get("metadata", {})  # type: ignore[attr-defined]
        return model.eval()

    def save(self, data: nn.Module) -> None:
        """Write a model's weights and configuration.

        Raises:
            DatasetError: If the model carries no ``config`` (a :class:`ModelConfig`).
        """
        config = getattr(data, "config", None)
        if not isinstance(config, ModelConfig):
            raise DatasetError(
                f"Cannot save {type(data).__name__}: CircleNetCheckpointDataset needs a model "
                "built by xview3_pipeline.core.models.build_model (with a ModelConfig)."
            )
        state = {k: v.detach().to("cpu").clone() for k, v in data.state_dict().items()}
        checkpoint = {
            "format": FORMAT_VERSION,
            "model_config": config.to_dict(),
            "state_dict": state,
            "metadata": deepcopy(getattr(data, "checkpoint_metadata", {})),
        }
        path = get_filepath_str(self._get_save_path(), self._protocol)
        parent = str(PurePosixPath(path).parent)
        self._fs.makedirs(parent, exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        with self._fs.open(tmp, "wb") as f:
            torch.save(checkpoint, f)
        self._fs.mv(tmp, path)
        self._invalidate_cache()

    def _exists(self) -> bool:
        try:
            path = get_filepath_str(self._get_load_path(), self._protocol)
        except DatasetError:
            return False
        return self._fs.exists(path)

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath,
            "protocol": self._protocol,
            "version": self._version,
            "map_location": self._map_location,
        }

    def _invalidate_cache(self) -> None:
        self._fs.invalidate_cache(get_filepath_str(self._filepath, self._protocol))
