"""The work folder of a training run: atomic checkpoints, resume choice, finished marker.

A run keeps in ``<work_dir>/<run name>``:

* ``best.ckpt`` (best validation aggregate), ``last.ckpt`` (end of the newest epoch) and
  ``step.ckpt`` (every ``checkpoint_every_n_steps`` steps), written by
  :class:`AtomicCheckpointIO`: a temporary file in the folder, then a rename, so a kill
  while writing leaves the previous checkpoint intact;
* ``data.json``, the fingerprint of the data the run trains on (a folder with another
  one is not resumed);
* ``finished.json`` once training has ended, naming the checkpoint that holds the
  returned weights: a rerun before the folder is cleared returns the same result without
  training again.

The folder is cleared by :func:`clear_work_dir`, which the caller runs only once the
trained model has been saved elsewhere.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.fabric.utilities.types import _PATH

from xview3_pipeline.core.errors import ModelFileError
from xview3_pipeline.core.serialization import (
    atomic_torch_save,
    check_finite_tensors,
    safe_torch_load,
)

logger = logging.getLogger(__name__)

#: Name of the marker of a finished run in its work folder.
FINISHED_FILE = "finished.json"
#: Name of the record of the data a run trains on, in its work folder.
DATA_FILE = "data.json"
_MODEL_PREFIX = "model."


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint I/O that never leaves a partial checkpoint under its name.

    Lightning's own writer opens the destination directly (or a temporary file in the
    system temp folder, moved across file systems), so a kill while writing can truncate
    the newest checkpoint. This one writes beside it and renames (atomic on POSIX).
    """

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: _PATH, storage_options: Any | None = None
    ) -> None:
        """Write ``checkpoint`` to ``path`` atomically (local paths)."""
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options.")
        atomic_torch_save(checkpoint, Path(path))

    def load_checkpoint(
        self,
        path: _PATH,
        map_location: Callable[..., Any] | Any | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read a checkpoint through :func:`read_checkpoint` (always weights-only)."""
        return read_checkpoint(Path(path))


def read_checkpoint(path: Path) -> dict[str, Any]:
    """Load a Lightning checkpoint with every check of :func:`safe_torch_load`.

    Args:
        path: A ``.ckpt`` file.

    Returns:
        The checkpoint dictionary, on CPU.

    Raises:
        ModelFileError: If the file is truncated or corrupt, would run code, holds a
            non-finite weight or optimiser state, or is not a checkpoint.
    """
    checkpoint = safe_torch_load(path)
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ModelFileError(
            f"{path} is not a Lightning checkpoint (no 'state_dict' entry); found "
            f"{type(checkpoint).__name__}."
        )
    # Weights and optimiser moments must be finite; callback states may hold +-inf.
    trained = {k: checkpoint[k] for k in ("state_dict", "optimizer_states") if k in checkpoint}
    check_finite_tensors(trained, name=str(path))
    return checkpoint


def model_state(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The network's state dict inside a checkpoint of the training system."""
    return {
        k[len(_MODEL_PREFIX) :]: v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith(_MODEL_PREFIX)
    }


def resumable_checkpoint(folder: Path) -> Path | None:
    """The newest readable checkpoint of a work folder, to resume training from.

    Candidates are the folder's ``*.ckpt`` files, newest first (on a tie ``best.ckpt``
    comes last). An unreadable one (truncated, corrupt, unsafe, non-finite) is skipped
    with a warning naming the file and why; the next one is tried.

    Args:
        folder: The run's work folder (it may not exist).

    Returns:
        The checkpoint to resume from, or None to start from scratch (no checkpoint, or
        none readable).
    """
    if not folder.is_dir():
        return None
    candidates = sorted(
        (p for p in folder.glob("*.ckpt") if not p.name.startswith(".")),
        key=lambda p: (p.stat().st_mtime_ns, p.name != "best.ckpt"),
        reverse=True,
    )
    for path in candidates:
        try:
            read_checkpoint(path)
        except ModelFileError as exc:
            logger.warning("Not resuming from %s: %s", path, exc)
            continue
        return path
    if candidates:
        logger.warning(
            "No readable checkpoint in %s (%s); training starts from scratch.",
            folder,
            ", ".join(p.name for p in candidates),
        )
    return None


def write_data_fingerprint(folder: Path, fingerprint: str) -> None:
    """Record the fingerprint of the data the run in ``folder`` trains on (atomic write)."""
    path = folder / DATA_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps({"data_fingerprint": fingerprint}))
    tmp.replace(path)


def same_data(folder: Path, fingerprint: str) -> bool:
    """Whether ``folder`` may be resumed for a run on data of ``fingerprint``.

    True when the folder holds no checkpoint or marker, when ``fingerprint`` is "" (no
    check), or when its recorded fingerprint equals ``fingerprint``. A folder with
    checkpoints but no readable record (written before records existed) counts as other data.
    """
    if not fingerprint or not folder.is_dir():
        return True
    if not any(folder.glob("*.ckpt")) and not (folder / FINISHED_FILE).exists():
        return True
    try:
        recorded = json.loads((folder / DATA_FILE).read_text())["data_fingerprint"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return bool(recorded == fingerprint)


def remove_partial_writes(folder: Path) -> None:
    """Delete what a killed checkpoint write left behind (its hidden temporary folders)."""
    for tmp in folder.glob(".*.tmp-*"):
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class FinishedRun:
    """What ``finished.json`` records about a run that ended.

    Attributes:
        weights: Checkpoint file (in the work folder) holding the returned weights.
        best_score: Best validation aggregate (NaN without validation).
        best_epoch: Epoch of the best score.
        history: One dict per epoch, as :class:`EpochHistory` rows.
        fingerprint: Fingerprint of the training configuration of the run.
    """

    weights: str
    best_score: float
    best_epoch: int
    history: list[dict[str, float]]
    fingerprint: str


def write_finished(folder: Path, run: FinishedRun) -> None:
    """Record that the run in ``folder`` has ended (atomic write)."""
    payload = {
        "weights": run.weights,
        "best_score": None if math.isnan(run.best_score) else run.best_score,
        "best_epoch": run.best_epoch,
        "history": run.history,
        "fingerprint": run.fingerprint,
    }
    path = folder / FINISHED_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload))
    tmp.replace(path)


def read_finished(folder: Path, fingerprint: str) -> FinishedRun | None:
    """The record of a finished run in ``folder``, or None (not finished, or unusable).

    A record whose weights checkpoint is missing, or whose configuration fingerprint is
    not ``fingerprint`` (the parameters changed since), is ignored with a warning: the
    run then resumes from its newest readable checkpoint instead.
    """
    path = folder / FINISHED_FILE
    if not path.is_file():
        return None
    try:
        payload = json.loads(path.read_text())
        run = FinishedRun(
            weights=str(payload["weights"]),
            best_score=float("nan") if payload["best_score"] is None else payload["best_score"],
            best_epoch=int(payload["best_epoch"]),
            history=[dict(r) for r in payload["history"]],
            fingerprint=str(payload.get("fingerprint", "")),
        )
    except (ValueError, KeyError, TypeError) as exc:
        logger.warning("Ignoring unreadable %s (%s); resuming from the checkpoints.", path, exc)
        return None
    if not (folder / run.weights).is_file():
        logger.warning("Ignoring %s: its weights %s are missing.", path, run.weights)
        return None
    if run.fingerprint != fingerprint:
        logger.warning(
            "Ignoring %s: the training parameters changed since that run finished; "
            "continuing from its checkpoints with the new parameters.",
            path,
        )
        return None
    return run


def best_weights(path: Path, work: Path) -> dict[str, Any]:
    """The network weights of a checkpoint of the work folder, checked.

    Raises:
        ModelFileError: If the checkpoint is unreadable; the message says how to retrain.
    """
    try:
        return model_state(read_checkpoint(path))
    except ModelFileError as exc:
        raise ModelFileError(
            f"{exc} The finished run's weights are lost: delete {work} to train this fold again."
        ) from None


def clear_work_dir(folder: Path) -> bool:
    """Remove a run's work folder (its marker first, so a partial removal is not "finished").

    Returns:
        Whether there was a folder to remove.
    """
    if not folder.exists():
        return False
    (folder / FINISHED_FILE).unlink(missing_ok=True)
    shutil.rmtree(folder)
    logger.info("Removed the training work folder %s.", folder)
    return True
