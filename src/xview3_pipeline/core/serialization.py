"""Safe reading and atomic writing of PyTorch model files.

Every model file of the project is a zip archive: ``torch.save`` checkpoints (``.pt``,
Lightning's ``.ckpt``) and ``torch.export`` archives (``.pt2``). Reading one goes
through three checks, each with an error that names the file:

1. **Integrity**: the zip's central directory must be readable (a truncated file has
   none) and every member must match its CRC-32. ``torch.load`` and
   ``torch.export.load`` do not check CRCs: a file with overwritten bytes loads, and its
   weights silently become garbage or NaN.
2. **No code on load**: ``torch.load(weights_only=True)`` only; a pickle that names any
   global outside torch's allowlist (a payload that would run code) is refused before
   anything of it runs.
3. **Finite weights**: a floating-point tensor with a NaN or an infinity is refused,
   with the name of the tensor.

Writes go to a temporary name in the destination folder and are renamed into place,
so a reader never sees a partial file.
"""

from __future__ import annotations

import logging
import os
import pickle
import re
import shutil
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from xview3_pipeline.core.errors import ModelFileError

__all__ = [
    "atomic_torch_save",
    "atomic_write_path",
    "check_archive_integrity",
    "check_finite_tensors",
    "first_non_finite",
    "remove_empty_folders",
    "safe_torch_load",
    "temporary_folder",
]

logger = logging.getLogger(__name__)

_UNSUPPORTED_GLOBAL = re.compile(r"(?:Unsupported global: )?GLOBAL ([\w.]+)")


def check_archive_integrity(source: str | Path | IO[bytes], *, name: str | None = None) -> None:
    """Check that a file is a complete zip archive whose members all match their CRC.

    Reads every member once (about the cost of loading the file).

    Args:
        source: Path or seekable binary file object of the archive.
        name: How the file is called in messages (default: ``source``).

    Raises:
        ModelFileError: If the file is not a zip archive (truncated, or another format)
            or a member's bytes do not match its CRC-32 (corrupt).
    """
    label = name or str(source)
    try:
        with zipfile.ZipFile(source) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ModelFileError(
            f"{label} is not a complete model archive ({exc}); the file is truncated, "
            "corrupt or not a PyTorch file. Restore it or produce it again."
        ) from None
    if bad is not None:
        raise ModelFileError(
            f"{label} is corrupt: member {bad!r} does not match its CRC-32 checksum (bytes "
            "of the file were changed after it was written). Restore it or produce it again."
        )


def _unsafe_global(exc: BaseException) -> str:
    """The global a refused pickle asked for, from torch's message (without its advice)."""
    match = _UNSUPPORTED_GLOBAL.search(str(exc))
    return match.group(1) if match else "an object outside the allowlist"


def safe_torch_load(
    source: str | Path | IO[bytes],
    *,
    name: str | None = None,
    map_location: str | torch.device = "cpu",
) -> Any:
    """Load a ``torch.save`` file after checking its integrity, never running its code.

    Args:
        source: Path or seekable binary file object.
        name: How the file is called in messages (default: ``source``).
        map_location: Device the tensors are loaded to.

    Returns:
        The loaded object (plain containers of tensors and primitive values).

    Raises:
        ModelFileError: If the archive is truncated or corrupt, or if its pickle would
            create an object outside torch's weights-only allowlist (nothing of it runs).
    """
    label = name or str(source)
    check_archive_integrity(source, name=label)
    if not isinstance(source, str | Path):
        source.seek(0)
    try:
        return torch.load(source, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # torch's message advises weights_only=False; that advice is not repeated here.
        raise ModelFileError(
            f"Refusing to load {label}: its pickle asks for {_unsafe_global(exc)}, which "
            "could run code; model files may hold only tensors and plain values. Nothing "
            "of it was executed. Use a file written by this project."
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as exc:
        raise ModelFileError(f"{label} cannot be read as a PyTorch file: {exc}") from None


def _tensors(obj: Any, prefix: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(obj, torch.Tensor):
        yield prefix, obj
    elif isinstance(obj, Mapping):
        for key, value in obj.items():
            yield from _tensors(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _tensors(value, f"{prefix}[{i}]")


def first_non_finite(obj: Any) -> str | None:
    """Name of the first floating-point tensor with a NaN or infinity in a nested object.

    Args:
        obj: A tensor, or dicts / lists / tuples of them (a state dict, a checkpoint).

    Returns:
        The tensor's dotted key (``state_dict.head.bias``, ``optimizer_states[0]...``),
        or None when every tensor is finite.
    """
    for key, tensor in _tensors(obj, ""):
        if (tensor.is_floating_point() or tensor.is_complex()) and not bool(
            torch.isfinite(tensor).all()
        ):
            return key or "<tensor>"
    return None


def check_finite_tensors(obj: Any, *, name: str) -> None:
    """Refuse an object holding a non-finite floating-point tensor.

    Args:
        obj: See :func:`first_non_finite`.
        name: The file or object in the message.

    Raises:
        ModelFileError: Naming the file and the tensor.
    """
    key = first_non_finite(obj)
    if key is not None:
        raise ModelFileError(
            f"{name} holds non-finite values (NaN or infinity) in tensor {key!r}; the weights "
            "are corrupt or training diverged. Refusing to use them."
        )


@contextmanager
def atomic_write_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that becomes ``path`` when the block succeeds.

    Folders missing above ``path`` are created; if the block raises, the temporary file
    and every folder this call created are removed, so a failed write leaves nothing.

    Args:
        path: The destination file.

    Yields:
        The temporary path to write: ``<name>`` inside a hidden folder
        ``.<name>.tmp-<pid>`` beside ``path`` (same file system, so the final rename is
        atomic; same file name, which torch uses as the archive's root folder).
    """
    path = Path(path)
    created = _make_parents(path.parent)
    folder = temporary_folder(path)
    folder.mkdir(exist_ok=True)
    tmp = folder / path.name
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if not path.exists():  # the write failed: remove the folders made for it
            remove_empty_folders(created)


def temporary_folder(path: Path) -> Path:
    """The hidden folder :func:`atomic_write_path` writes ``path`` in first."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; the created ones, deepest first."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove folders (deepest first) that are empty; non-empty ones are kept."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename into place.

    Args:
        obj: What to save.
        path: Destination file; a reader sees the old file or the complete new one.
    """
    with atomic_write_path(path) as tmp:
        torch.save(obj, tmp)
