"""Candidate sets: per-scene candidate tables, resumable, published only when complete.

A detection node cannot read its own output, so it cannot skip the scenes an earlier,
interrupted run already finished. The work is therefore split between the node and this
dataset:

* the node returns :class:`CandidateJobs`: one lazy :class:`SceneJob` per scene, each
  carrying the fingerprint of its detector (:meth:`Detector.fingerprint`, which covers
  the weights and every setting that changes the output) and nothing computed yet;
* :meth:`CandidateSetDataset.save` runs the jobs and writes
  ``<path>/<fingerprint[:16]>/<scene_id>.parquet`` (temporary name, then rename) for
  every scene whose file is not already there: one by one in this process with the
  ``local`` executor, or one Dask task per scene with ``dask`` (the jobs' executor,
  :class:`~xview3_pipeline.core.parallel.ExecutorConfig`), where the worker that detects a
  scene also writes its file, so only paths and row counts come back to this process. A rerun after a kill therefore skips the
  finished scenes of the *same* detector, and a frame of another model or other settings
  is never taken for this run's, because it lives under another fingerprint;
* only when every job has run does ``save`` write ``<path>/manifest.json`` (temporary
  name, then rename), the one file that says which frames form the set. Until then a
  reader sees the previous complete set (or none): never one out-of-fold scene of twelve
  as the whole set. After publishing, fingerprint folders the manifest no longer names
  are removed, so a frame is stored once and old results do not pile up;
* :meth:`CandidateSetDataset.load` reads the manifest and returns a :class:`CandidateSet`,
  a mapping ``scene_id -> loader`` of its scenes (loaded lazily, like a
  ``PartitionedDataset``) that also knows the scenes that failed and can check that
  a consumer's scenes are all there (:meth:`CandidateSet.require`).

A scene whose job raises is isolated (``on_scene_error="continue"``): it is logged with
its file and error, recorded under ``failed`` in the manifest and left out of the set,
and the other scenes are saved. ``on_scene_error="raise"`` restores all-or-nothing: the
first error stops the save before the manifest is written, so the published set stays
the previous one (the frames already written stay as the resume cache).

Local paths only (an atomic rename needs one file system).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from kedro.io.core import AbstractDataset, DatasetError

from xview3_pipeline.core.io.parquet import temporary_sibling
from xview3_pipeline.core.parallel import (
    ExecutorConfig,
    SceneTask,
    TaskFailure,
    run_tasks,
    table_task,
)

logger = logging.getLogger(__name__)

#: Version of the manifest layout.
MANIFEST_FORMAT = 1
#: Accepted values of ``on_scene_error``.
SCENE_ERROR_POLICIES = ("continue", "raise")
#: Length of the fingerprint prefix that names a folder.
FINGERPRINT_PREFIX = 16

_INPUTS_KEY = "xview3_pipeline.inputs"
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_FINGERPRINT = re.compile(r"^[0-9a-f]{16,}$")


class IncompleteCandidateSetError(DatasetError):
    """A consumer needs scenes that the candidate set does not hold."""


class SceneDetectionError(DatasetError):
    """Detection of one scene failed (``on_scene_error: raise``)."""


def check_scene_error_policy(value: str, *, what: str = "detection.on_scene_error") -> str:
    """Validate an ``on_scene_error`` value.

    Args:
        value: The configured value.
        what: The parameter's name, for the message.

    Returns:
        ``value``.

    Raises:
        ValueError: If it is not ``continue`` or ``raise``.
    """
    if value not in SCENE_ERROR_POLICIES:
        raise ValueError(
            f"{what} = {value!r} is not accepted; expected one of {list(SCENE_ERROR_POLICIES)}."
        )
    return value


@dataclass(frozen=True)
class SceneJob:
    """The pending detection of one scene.

    Attributes:
        scene_id: The scene (a safe file name: letters, digits, ``_``, ``.``, ``-``).
        fingerprint: Hex digest of the detector (weights and settings) that runs it.
        source: The scene's file or folder, named when the scene fails.
        run: Computes the scene's candidate table: ``run(detector)``, or ``run()`` when
            the job has no detector. With the ``dask`` executor it must pickle (a
            module-level function or a ``functools.partial`` of one).
        inputs: Signature of the scene's input files (e.g. sizes and modification
            times, hashed); a stored frame is reused only when it was computed from
            inputs with the same signature.
        detector: The object ``run`` receives, shared by the jobs of a set: the
            executor sends it once to each worker rather than once per scene.
    """

    scene_id: str
    fingerprint: str
    source: str
    run: Callable[..., pd.DataFrame]
    inputs: str = ""
    detector: Any = None


@dataclass(frozen=True)
class CandidateJobs:
    """What a detection node returns: the scenes of a set, not yet computed.

    Attributes:
        jobs: One job per scene, in processing order.
        on_scene_error: ``continue`` (isolate failing scenes) or ``raise``.
        detector: Name of the detector (``cnn``, ``cfar``), recorded in the manifest.
        executor: Where the jobs run (``local`` or a Dask cluster).
    """

    jobs: tuple[SceneJob, ...]
    on_scene_error: str = "continue"
    detector: str = ""
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)

    def __post_init__(self) -> None:
        check_scene_error_policy(self.on_scene_error)
        ids = [job.scene_id for job in self.jobs]
        duplicated = sorted({s for s in ids if ids.count(s) > 1})
        if duplicated:
            raise ValueError(f"Scenes listed twice in one candidate set: {duplicated}.")
        for job in self.jobs:
            if not _SAFE_ID.match(job.scene_id):
                raise ValueError(
                    f"Scene id {job.scene_id!r} ({job.source}) cannot name a file; expected "
                    "letters, digits, '_', '.' or '-', not starting with '.'."
                )
            if not _FINGERPRINT.match(job.fingerprint):
                raise ValueError(
                    f"Fingerprint {job.fingerprint!r} of scene {job.scene_id!r} is not a hex "
                    "digest of at least 16 characters."
                )

    def __len__(self) -> int:
        return len(self.jobs)


@dataclass(frozen=True)
class SceneFailure:
    """A scene whose detection raised.

    Attributes:
        scene_id: The scene.
        source: Its file or folder.
        error: ``ExceptionType: message``.
    """

    scene_id: str
    source: str
    error: str


FAILURE_COLUMNS = ("scene_id", "source", "error")


def failures_frame(failures: Iterable[SceneFailure], **columns: str) -> pd.DataFrame:
    """Failures as a table (``scene_id``, ``source``, ``error`` after any extra columns).

    Args:
        failures: The failed scenes.
        **columns: Constant columns put first (e.g. ``set="holdout"``).

    Returns:
        One row per failure; no rows (but the columns) when there is none.
    """
    rows = [
        {**columns, "scene_id": f.scene_id, "source": f.source, "error": f.error} for f in failures
    ]
    return pd.DataFrame(rows, columns=[*columns, *FAILURE_COLUMNS])


def run_scene_jobs(
    jobs: Sequence[SceneJob],
    on_scene_error: str,
    *,
    executor: ExecutorConfig | None = None,
    targets: Mapping[str, Path] | None = None,
    label: str = "detect",
) -> Generator[tuple[SceneJob, Any], None, None]:
    """Run jobs with the executor, isolating failures.

    Args:
        jobs: The jobs.
        on_scene_error: ``continue``: a failing job yields a :class:`SceneFailure` (also
            logged with its file and error) and the other jobs run; ``raise``: the first
            failure raises (the jobs not yet finished are cancelled).
        executor: ``local`` (default: one by one, in job order) or ``dask`` (one task per
            scene, results as they finish; see :func:`~xview3_pipeline.core.parallel.
            run_tasks`).
        targets: ``scene_id -> parquet file``: the frame is written there (atomically,
            with the job's inputs signature) by whoever runs the job, and the result is
            its number of rows. Without targets the result is the frame.
        label: What the jobs do, for the progress bar and the task names.

    Yields:
        ``(job, frame or row count)`` or ``(job, failure)``.

    Raises:
        SceneDetectionError: On the first failure with ``raise``; the message names the
            scene and its file, the original error is chained.
    """
    check_scene_error_policy(on_scene_error)
    executor = executor or ExecutorConfig()
    targets = targets or {}
    tasks = [
        SceneTask(
            name=job.scene_id,
            source=job.source,
            fn=table_task,
            args=(job.run, _target(targets, job.scene_id), {_INPUTS_KEY: job.inputs}),
            shared=job.detector,
        )
        for job in jobs
    ]
    by_name = {job.scene_id: job for job in jobs}
    retried = f" after {executor.dask.retries} retries" if executor.distributed else ""
    with closing(run_tasks(tasks, executor, label=label)) as results:
        for task, result in results:
            job = by_name[task.name]
            if not isinstance(result, TaskFailure):
                yield job, result
                continue
            if on_scene_error == "raise":
                raise SceneDetectionError(
                    f"Detection failed on scene {job.scene_id} ({job.source}){retried}: "
                    f"{result.error} (detection.on_scene_error=raise; 'continue' would skip "
                    "the scene)."
                ) from result.exception
            logger.error(
                "Scene %s (%s) failed%s and is left out: %s",
                job.scene_id, job.source, retried, result.error,
            )  # fmt: skip
            yield job, SceneFailure(job.scene_id, job.source, result.error)


def _target(targets: Mapping[str, Path], scene_id: str) -> str | None:
    path = targets.get(scene_id)
    return None if path is None else str(Path(path).absolute())


def _write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Write through ``write(tmp)`` to a temporary sibling, then rename onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass(frozen=True)
class CandidateSet(Mapping[str, Callable[[], pd.DataFrame]]):
    """A published candidate set: ``scene_id -> loader`` of the scenes it holds.

    Iterating, ``len`` and ``in`` see the scenes whose candidates are there; calling a
    value loads that scene's table. Failed scenes are not keys; they are in
    :attr:`failed`.

    Attributes:
        files: ``scene_id -> parquet file``.
        failed: ``scene_id -> failure`` of the scenes whose detection raised.
        detector: Name of the detector.
        fingerprints: ``scene_id -> fingerprint``.
    """

    files: Mapping[str, Path]
    failed: Mapping[str, SceneFailure] = field(default_factory=dict)
    detector: str = ""
    fingerprints: Mapping[str, str] = field(default_factory=dict)

    def __getitem__(self, scene_id: str) -> Callable[[], pd.DataFrame]:
        return partial(pd.read_parquet, self.files[scene_id])

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self.files))

    def __len__(self) -> int:
        return len(self.files)

    @property
    def scene_ids(self) -> tuple[str, ...]:
        """Scenes of the set whose candidates are there, sorted."""
        return tuple(sorted(self.files))

    def failures_frame(self, **columns: str) -> pd.DataFrame:
        """The failed scenes as a table (see :func:`failures_frame`)."""
        return failures_frame(self.failed.values(), **columns)

    def require(self, scene_ids: Iterable[str], *, what: str, allow_failed: bool = True) -> None:
        """Check that the set holds every scene a consumer needs.

        Args:
            scene_ids: The scenes the consumer needs.
            what: The consumer, for the message (e.g. ``cnn.holdout_candidates for tuning``).
            allow_failed: Accept scenes recorded as failed (they are left out, with a
                warning); otherwise they count as missing.

        Raises:
            IncompleteCandidateSetError: Listing the missing scenes (and, for failed ones,
                their file and error).
        """
        needed = sorted(set(map(str, scene_ids)))
        failed = [s for s in needed if s in self.failed]
        missing = [s for s in needed if s not in self.files and s not in self.failed]
        if not allow_failed:
            missing += failed
        if missing:
            details = [
                f"{s} (failed: {self.failed[s].source}: {self.failed[s].error})"
                if s in self.failed
                else s
                for s in sorted(missing)
            ]
            raise IncompleteCandidateSetError(
                f"{what}: {len(missing)} of {len(needed)} scenes have no candidates: "
                f"{details}. Rerun the detection of this set."
            )
        if failed:
            logger.warning(
                "%s: %d scene(s) failed in detection and are left out: %s",
                what,
                len(failed),
                failed,
            )


class CandidateSetDataset(AbstractDataset[CandidateJobs, CandidateSet]):
    """Per-scene candidate tables keyed by detector fingerprint, published by a manifest.

    See the module docstring for the layout and why ``save`` takes lazy jobs.

    Example catalog entry::

        "{detector}.{set}_candidates":
          type: xview3_pipeline.datasets.CandidateSetDataset
          path: data/07_model_output/candidates/{detector}/{set}

    Args:
        path: Folder of the set (local).
        prune: Remove fingerprint folders the new manifest does not name.
        metadata: Free-form metadata shown by kedro-viz.
    """

    def __init__(
        self, *, path: str, prune: bool = True, metadata: dict[str, Any] | None = None
    ) -> None:
        self._path = Path(path)
        self._prune = prune
        self.metadata = metadata

    @property
    def manifest_path(self) -> Path:
        """The manifest that publishes the set."""
        return self._path / "manifest.json"

    def load(self) -> CandidateSet:
        """The published set.

        Raises:
            DatasetError: If no set was published yet, or the manifest names a file that
                is not there.
        """
        if not self.manifest_path.is_file():
            raise DatasetError(
                f"No complete candidate set under {self._path} (no manifest.json): run the "
                "detection of this set first; an interrupted detection publishes nothing."
            )
        manifest = json.loads(self.manifest_path.read_text())
        if manifest.get("format") != MANIFEST_FORMAT:
            raise DatasetError(
                f"{self.manifest_path} has format {manifest.get('format')!r}; expected "
                f"{MANIFEST_FORMAT}."
            )
        files = {s: self._path / PurePosixPath(e["file"]) for s, e in manifest["scenes"].items()}
        absent = sorted(s for s, f in files.items() if not f.is_file())
        if absent:
            raise DatasetError(
                f"{self.manifest_path} names candidate files that are missing for scenes "
                f"{absent}; rerun the detection of this set."
            )
        return CandidateSet(
            files=files,
            failed={
                s: SceneFailure(s, e["source"], e["error"]) for s, e in manifest["failed"].items()
            },
            detector=str(manifest.get("detector", "")),
            fingerprints={s: e["fingerprint"] for s, e in manifest["scenes"].items()},
        )

    def save(self, data: CandidateJobs) -> None:
        """Run the jobs not done yet (with the jobs' executor), then publish the set.

        Scenes already stored for the same fingerprint and inputs are not run (nor sent
        to a cluster); with ``dask`` the workers write the other scenes' files.

        Raises:
            DatasetError: If ``data`` is not :class:`CandidateJobs`.
            SceneDetectionError: On a failing scene with ``on_scene_error="raise"``
                (nothing is published).
        """
        if not isinstance(data, CandidateJobs):
            raise DatasetError(
                f"CandidateSetDataset saves CandidateJobs, not {type(data).__name__}."
            )
        entries: dict[str, dict[str, Any]] = {}
        failed: dict[str, dict[str, str]] = {}
        done = {j.scene_id for j in data.jobs if self._reusable(j)}
        for job in data.jobs:
            if job.scene_id in done:
                logger.info(
                    "Scene %s: candidates already in %s", job.scene_id, self._scene_file(job)
                )
                entries[job.scene_id] = self._entry(job)
        todo = [j for j in data.jobs if j.scene_id not in done]
        results = run_scene_jobs(
            todo,
            data.on_scene_error,
            executor=data.executor,
            targets={j.scene_id: self._scene_file(j) for j in todo},
            label=f"detect_{data.detector or 'scenes'}",
        )
        with closing(results):
            for job, result in results:
                if isinstance(result, SceneFailure):
                    failed[job.scene_id] = {"source": result.source, "error": result.error}
                    continue
                entries[job.scene_id] = self._entry(job)
        self._publish(data.detector, entries, failed)
        logger.info(
            "Candidate set %s: %d scene(s), %d reused, %d failed.",
            self._path,
            len(entries),
            len(done),
            len(failed),
        )

    def _reusable(self, job: SceneJob) -> bool:
        """Whether the job's frame is stored, from inputs with the job's signature."""
        path = self._scene_file(job)
        if not path.is_file():
            return False
        try:
            metadata = pq.read_schema(path).metadata or {}
        except (OSError, pa.ArrowException) as exc:
            logger.warning(
                "Scene %s: unreadable stored candidates %s (%s); detecting again.",
                job.scene_id,
                path,
                exc,
            )
            return False
        stored = metadata.get(_INPUTS_KEY.encode(), b"").decode()
        if stored != job.inputs:
            logger.info(
                "Scene %s: its input files changed since %s; detecting again.", job.scene_id, path
            )
            return False
        return True

    def _scene_file(self, job: SceneJob) -> Path:
        return self._path / job.fingerprint[:FINGERPRINT_PREFIX] / f"{job.scene_id}.parquet"

    def _entry(self, job: SceneJob) -> dict[str, Any]:
        relative = self._scene_file(job).relative_to(self._path)
        return {"fingerprint": job.fingerprint, "file": relative.as_posix()}

    def _publish(
        self, detector: str, entries: dict[str, dict[str, Any]], failed: dict[str, dict[str, str]]
    ) -> None:
        manifest = {
            "format": MANIFEST_FORMAT,
            "detector": detector,
            "scenes": dict(sorted(entries.items())),
            "failed": dict(sorted(failed.items())),
        }
        text = json.dumps(manifest, indent=1)
        _write_atomic(self.manifest_path, lambda tmp: tmp.write_text(text))
        keep = {PurePosixPath(e["file"]).parts[0] for e in entries.values()}
        for folder in self._path.iterdir():
            if not folder.is_dir():
                continue
            if self._prune and folder.name not in keep:
                shutil.rmtree(folder)
                logger.info("Removed candidates of an earlier detector: %s", folder)
                continue
            for stale in folder.glob(".*.tmp-*"):  # left by a killed run
                stale.unlink(missing_ok=True)

    def _exists(self) -> bool:
        return self.manifest_path.is_file()

    def _describe(self) -> dict[str, Any]:
        return {"path": str(self._path), "prune": self._prune}
