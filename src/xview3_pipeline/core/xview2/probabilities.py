"""Compact storage of one pair's class probabilities ``(5, H, W)``.

A pair's probabilities are kept in a compressed ``.npz`` holding the array
``probabilities`` ``(5, H, W)`` and its ``encoding``: ``float16`` (the default, the winner's
format for out-of-fold predictions, absolute error <= 2.5e-4 on [0, 1]) or ``uint8``
(``round(p * 255)``, half the size, absolute error <= 1 / 510). Loading always returns
float32. :func:`probabilities_to_bytes` / :func:`probabilities_from_bytes` do this without
files, for a partitioned catalog entry; :func:`save_probabilities` /
:func:`load_probabilities` write ``<folder>/<pair_id>.npz`` atomically.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Final, Literal, get_args

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "Encoding",
    "load_probabilities",
    "probabilities_from_bytes",
    "probabilities_to_bytes",
    "save_probabilities",
]

Encoding = Literal["float16", "uint8"]

#: Classes of the stored probabilities.
N_CLASSES: Final = 5
_PROBABILITY_TOLERANCE: Final = 1e-3


def _check_probabilities(probs: NDArray[np.floating], what: str) -> NDArray[np.float32]:
    """``probs`` as float32 ``(5, H, W)`` clipped to [0, 1], or a ValueError naming ``what``."""
    arr = np.asarray(probs, dtype=np.float32)
    if arr.ndim != 3 or arr.shape[0] != N_CLASSES:
        raise ValueError(f"{what}: probabilities must be ({N_CLASSES}, H, W), got {arr.shape}.")
    tol = _PROBABILITY_TOLERANCE
    if not np.isfinite(arr).all() or arr.min() < -tol or arr.max() > 1 + tol:
        raise ValueError(
            f"{what}: probabilities must be finite and within [0, 1], found "
            f"[{np.nanmin(arr):.4g}, {np.nanmax(arr):.4g}]."
        )
    return np.clip(arr, 0.0, 1.0)


def probabilities_to_bytes(probs: NDArray[np.floating], encoding: Encoding = "float16") -> bytes:
    """Encode one pair's probabilities as a compressed ``.npz`` (see the module docstring).

    Args:
        probs: Probabilities ``(5, H, W)`` within [0, 1] (a tolerance of 1e-3 is clipped).
        encoding: ``"float16"`` or ``"uint8"`` (``round(p * 255)``).

    Returns:
        The ``.npz`` file's bytes.

    Raises:
        ValueError: Bad shape, non-finite or out-of-range values, unknown encoding.
    """
    arr = _check_probabilities(probs, "probabilities_to_bytes")
    if encoding == "float16":
        stored = arr.astype(np.float16)
    elif encoding == "uint8":
        stored = np.rint(arr * 255.0).astype(np.uint8)
    else:
        raise ValueError(f"Unknown encoding {encoding!r}; expected one of {get_args(Encoding)}.")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, probabilities=stored, encoding=np.array(encoding))
    return buffer.getvalue()


def probabilities_from_bytes(data: bytes, *, what: str = "probabilities") -> NDArray[np.float32]:
    """Decode :func:`probabilities_to_bytes` output.

    Args:
        data: The ``.npz`` bytes.
        what: How errors name the source (a file path, for instance).

    Returns:
        Probabilities ``(5, H, W)`` float32.

    Raises:
        ValueError: Not such an ``.npz`` (the message names ``what``).
    """
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            stored = npz["probabilities"]
            encoding = str(npz["encoding"])
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{what}: not a probabilities .npz ({exc}).") from exc
    if encoding == "float16" and stored.dtype == np.float16:
        arr = stored.astype(np.float32)
    elif encoding == "uint8" and stored.dtype == np.uint8:
        arr = stored.astype(np.float32) / 255.0
    else:
        raise ValueError(f"{what}: unknown encoding {encoding!r} of dtype {stored.dtype}.")
    if arr.ndim != 3 or arr.shape[0] != N_CLASSES:
        raise ValueError(f"{what}: stored probabilities have shape {arr.shape}.")
    return arr


def _probabilities_path(folder: Path | str, pair_id: str) -> Path:
    """``<folder>/<pair_id>.npz``, refusing a pair id that would leave the folder."""
    if not pair_id or pair_id in {".", ".."} or "/" in pair_id or "\\" in pair_id:
        raise ValueError(f"Pair id {pair_id!r} cannot name a file.")
    return Path(folder) / f"{pair_id}.npz"


def save_probabilities(
    folder: Path | str,
    pair_id: str,
    probs: NDArray[np.floating],
    encoding: Encoding = "float16",
) -> Path:
    """Write one pair's probabilities to ``<folder>/<pair_id>.npz`` atomically.

    Args:
        folder: Output folder (created if needed).
        pair_id: The pair's id (no path separators).
        probs: Probabilities ``(5, H, W)``.
        encoding: See :func:`probabilities_to_bytes`.

    Returns:
        The written path.

    Raises:
        ValueError: A bad pair id or bad probabilities.
    """
    path = _probabilities_path(folder, pair_id)
    data = probabilities_to_bytes(probs, encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_probabilities(folder: Path | str, pair_id: str) -> NDArray[np.float32]:
    """Read what :func:`save_probabilities` wrote.

    Args:
        folder: The folder.
        pair_id: The pair's id.

    Returns:
        Probabilities ``(5, H, W)`` float32.

    Raises:
        FileNotFoundError: No file for the pair.
        ValueError: The file is not a probabilities ``.npz`` (names the file).
    """
    path = _probabilities_path(folder, pair_id)
    if not path.is_file():
        raise FileNotFoundError(f"No probabilities for pair {pair_id}: {path} does not exist.")
    return probabilities_from_bytes(path.read_bytes(), what=str(path))
