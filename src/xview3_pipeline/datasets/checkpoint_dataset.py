"""A versioned Kedro dataset for CircleNet checkpoints.

``save`` takes a CircleNet and writes ``{"format": 1, "model_config": <plain dict>,
"state_dict": <tensors>, "metadata": <plain dict>}`` with ``torch.save`` to a temporary
file that is renamed into place; a failed save leaves neither a partial file nor an empty
version folder, and a model with non-finite weights is refused. ``load`` checks the
archive (every member's CRC), reads it with ``torch.load(weights_only=True)`` (a pickle
that would run code is refused before anything runs), refuses non-finite weights,
rebuilds the architecture from the stored configuration and returns the model in eval
mode: what is saved is what is loaded, so a downstream node in the same run and a later
run see the same object type. Every refusal names the file.
"""

from __future__ import annotations

import dataclasses
import os
from copy import deepcopy
from pathlib import Path, PurePosixPath
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
from xview3_pipeline.core.serialization import (
    atomic_torch_save,
    check_finite_tensors,
    first_non_finite,
    safe_torch_load,
)
from xview3_pipeline.core.xview2.models import Xview2ModelConfig, build_xview2_model

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

    #: Name of the model family in messages.
    kind = "CircleNet"

    def _rebuild(self, stored: dict[str, Any]) -> tuple[Any, nn.Module]:
        """The configuration of a stored model dict and the architecture it describes."""
        config = ModelConfig.from_dict(stored)
        # The encoder's initial weights are overwritten by the state dict: do not read
        # them (the file may not exist where the checkpoint is loaded).
        return config, build_model(config.replace(encoder_weights=None))

    def _config_dict(self, data: nn.Module) -> dict[str, Any]:
        """The plain configuration dict of a model to save."""
        config = getattr(data, "config", None)
        if not isinstance(config, ModelConfig):
            raise DatasetError(
                f"Cannot save {type(data).__name__}: CircleNetCheckpointDataset needs a model "
                "built by xview3_pipeline.core.models.build_model (with a ModelConfig)."
            )
        return config.to_dict()

    def load(self) -> nn.Module:
        """Rebuild the model from the newest (or the requested) version.

        Raises:
            ModelFileError: If the file is truncated or corrupt, would run code on load,
                or holds non-finite weights (the message names the file and tensor).
            DatasetError: If it is not a CircleNet checkpoint of this format.
        """
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as f:
            checkpoint = safe_torch_load(f, name=path, map_location=self._map_location)
        if (
            not isinstance(checkpoint, dict)
            or checkpoint.get("format") != FORMAT_VERSION
            or not {"model_config", "state_dict"} <= set(checkpoint)
        ):
            raise DatasetError(
                f"{path} is not a {self.kind} checkpoint of format {FORMAT_VERSION} "
                "(expected keys 'format', 'model_config', 'state_dict')."
            )
        check_finite_tensors(checkpoint["state_dict"], name=path)
        try:
            config, model = self._rebuild(checkpoint["model_config"])
            model.load_state_dict(checkpoint["state_dict"])
        except (ValueError, TypeError, RuntimeError) as exc:
            raise DatasetError(f"{path} does not match its stored architecture: {exc}") from None
        model.config = config
        model.checkpoint_metadata = checkpoint.get("metadata", {})
        return model.eval()

    def save(self, data: nn.Module) -> None:
        """Write a model's weights and configuration.

        Raises:
            DatasetError: If the model carries no ``config`` (a :class:`ModelConfig`) or
                has a non-finite weight (named).
        """
        model_config = self._config_dict(data)
        state = {k: v.detach().to("cpu").clone() for k, v in data.state_dict().items()}
        bad = first_non_finite(state)
        if bad is not None:
            raise DatasetError(
                f"Refusing to save the model to {self._filepath}: tensor {bad!r} holds NaN or "
                "infinite values (training diverged)."
            )
        checkpoint = {
            "format": FORMAT_VERSION,
            "model_config": model_config,
            "state_dict": state,
            "metadata": deepcopy(getattr(data, "checkpoint_metadata", {})),
        }
        path = get_filepath_str(self._get_save_path(), self._protocol)
        if self._protocol == "file":
            atomic_torch_save(checkpoint, Path(path))
        else:
            self._save_remote(checkpoint, path)
        self._invalidate_cache()

    def _save_remote(self, checkpoint: dict[str, Any], path: str) -> None:
        """Write through fsspec to a temporary name, then move it into place."""
        self._fs.makedirs(str(PurePosixPath(path).parent), exist_ok=True)
        tmp = f"{path}.tmp-{os.getpid()}"
        try:
            with self._fs.open(tmp, "wb") as f:
                torch.save(checkpoint, f)
            self._fs.mv(tmp, path)
        finally:
            if self._fs.exists(tmp):
                self._fs.rm(tmp)

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


class Xview2CheckpointDataset(CircleNetCheckpointDataset):
    """The same safe, versioned checkpoints for the xView2 segmentation models.

    The stored configuration is an
    :class:`~xview3_pipeline.core.xview2.models.Xview2ModelConfig`; ``load`` rebuilds the
    siamese or early-fusion network from it (without reading encoder weights files).
    Example catalog entry::

        "xview2.{architecture}.fold_{k}.model":
          type: xview3_pipeline.datasets.Xview2CheckpointDataset
          filepath: data/06_models/xview2/{architecture}/fold_{k}/model.pt
          versioned: true
    """

    kind = "xView2 model"

    def _rebuild(self, stored: dict[str, Any]) -> tuple[Any, nn.Module]:
        config = Xview2ModelConfig.from_dict(stored)
        fresh = dataclasses.replace(config, encoder_weights=None, weights_path=None)
        return config, build_xview2_model(fresh)

    def _config_dict(self, data: nn.Module) -> dict[str, Any]:
        config = getattr(data, "config", None)
        if not isinstance(config, Xview2ModelConfig):
            raise DatasetError(
                f"Cannot save {type(data).__name__}: Xview2CheckpointDataset needs a model "
                "built by xview3_pipeline.core.xview2.models.build_xview2_model."
            )
        return config.to_dict()
