"""How a :class:`~xview3_pipeline.core.detection.cnn.CnnDetector` travels to other processes.

A detector whose model was loaded from an exported ensemble (it carries the file in
``xview3_source``, set by :func:`~xview3_pipeline.core.detection.cnn.ensemble.
load_exported`) pickles as a recipe, ``(file, inference config, fingerprint)``: a few
hundred bytes instead of the weights. Unpickling it calls :func:`exported_detector`,
which loads the file once per process onto the config's device (``auto``: the worker's
GPU when it has one) and keeps it in a small per-process cache keyed by file, fingerprint
and device, so every later scene of that worker reuses the loaded model. The weights are
checked against the fingerprint the sending process computed: a file replaced in between
is refused, never silently mixed into the set.

A detector built from in-memory modules (each fold's own model) pickles with its weights;
the executor sends it once to every worker (:func:`~xview3_pipeline.core.parallel.
run_tasks`), not once per scene.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from xview3_pipeline.core.detection.cnn.config import InferenceConfig
from xview3_pipeline.core.detection.cnn.ensemble import load_exported
from xview3_pipeline.core.errors import ModelFileError

if TYPE_CHECKING:
    from xview3_pipeline.core.detection.cnn.run import CnnDetector

__all__ = ["CACHE_SIZE", "clear_cache", "exported_detector"]

logger = logging.getLogger(__name__)

#: Exported ensembles a process keeps loaded (one run uses one; two cover a switch).
CACHE_SIZE = 2

_CACHE: OrderedDict[tuple[str, str, str], CnnDetector] = OrderedDict()
_LOCK = threading.Lock()


def exported_detector(path: str, config: InferenceConfig, fingerprint: str) -> CnnDetector:
    """The detector of an exported ensemble, loaded once per process (see the module).

    Args:
        path: The ``.pt2`` file (absolute).
        config: The inference settings.
        fingerprint: :meth:`CnnDetector.fingerprint` as computed by the sender.

    Returns:
        The cached detector (shared by the threads of the process).

    Raises:
        ModelFileError: If the file's weights (with these settings) do not give
            ``fingerprint``, or the file is corrupt or unsafe.
        FileNotFoundError: If the file is not there (e.g. a worker without the shared
            file system).
    """
    from xview3_pipeline.core.detection.cnn.run import CnnDetector  # noqa: PLC0415 (cycle)

    device = config.resolve_device()
    key = (path, fingerprint, str(device))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
        detector = CnnDetector(load_exported(path, device=device), config)
        if detector.fingerprint() != fingerprint:
            raise ModelFileError(
                f"{path} changed since the run loaded it: its weights no longer match the "
                f"detector's fingerprint {fingerprint[:16]}; run the stage again."
            )
        _CACHE[key] = detector
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    logger.info("Loaded the exported ensemble %s on %s for this process.", path, device)
    return detector


def clear_cache() -> None:
    """Forget the ensembles this process loaded."""
    with _LOCK:
        _CACHE.clear()
