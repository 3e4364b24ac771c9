"""Atomic saves for any file dataset: write to a temporary name, then rename.

kedro-datasets' CSV, Parquet, JSON, Matplotlib and GeoPandas datasets write in place, so a
run killed (or a save that fails) half-way leaves a truncated file where the previous one
was, and ``PartitionedDataset`` with ``overwrite: true`` deletes the whole folder before it
writes the partitions one by one. The two datasets here wrap them without changing what
they write:

- :class:`AtomicDataset` saves through the wrapped dataset to a hidden temporary file in
  the same folder, then ``os.replace``-s it over the target: a reader sees the old file or
  the new one, never a part.
- :class:`AtomicPartitionedDataset` writes every partition into a hidden staging folder
  next to the target, then swaps the folders: a reader sees the old set or the new set,
  never a partial one (between the two renames of the swap the folder is briefly absent,
  which loads as "no partitions", not as a short set).

Both work on the local filesystem only (a rename is atomic there; object stores have no
rename). Catalog use::

    scene_index:
      type: xview3_pipeline.datasets.AtomicDataset
      filepath: data/02_intermediate/scene_index.parquet
      dataset: {type: geopandas.GenericDataset, file_format: parquet}

    encoded_objects:
      type: xview3_pipeline.datasets.AtomicPartitionedDataset
      path: data/05_model_input/encoded_objects
      dataset: {type: pandas.ParquetDataset}
      filename_suffix: .parquet
      overwrite: true
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from copy import deepcopy
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    DatasetError,
    Version,
    parse_dataset_definition,
)
from kedro_datasets.partitions import PartitionedDataset

logger = logging.getLogger(__name__)

_TMP_TAG = ".tmp-"
_STAGING_TAG = ".staging-"
_OLD_TAG = ".old-"


def _local_path(path: str, what: str) -> Path:
    """The local path of a catalog path (``file://`` allowed); remote protocols raise."""
    if "://" in path:
        protocol, _, rest = path.partition("://")
        if protocol != "file":
            raise DatasetError(
                f"{what} {path!r}: atomic saves need a local path (got protocol "
                f"{protocol!r}); use the wrapped dataset directly for remote storage."
            )
        path = rest
    return Path(path)


def _pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tag_pid(name: str, tag: str) -> int | None:
    """The pid in ``.<name><tag><pid>-<hex>...``, or None."""
    _, _, rest = name.partition(tag)
    head = rest.split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _remove_leftovers(folder: Path, prefix: str, tags: tuple[str, ...]) -> None:
    """Delete temporary files and folders of dead processes (a killed earlier save)."""
    if not folder.is_dir():
        return
    for entry in folder.iterdir():
        for tag in tags:
            if not entry.name.startswith(prefix + tag):
                continue
            pid = _tag_pid(entry.name, tag)
            if pid is None or (pid != os.getpid() and not _pid_alive(pid)):
                logger.info("Removing %s, left by an interrupted save.", entry)
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:  # not empty (or already gone)
        pass


def _unique(tag: str) -> str:
    """``<tag><pid>-<random hex>``: unique per save, and names its writer."""
    return f"{tag}{os.getpid()}-{uuid.uuid4().hex[:12]}"


class AtomicDataset(AbstractVersionedDataset[Any, Any]):
    """A file dataset whose save replaces the previous file in one rename.

    Loading and ``exists`` go to the wrapped dataset. A save builds a second instance of
    the wrapped dataset on ``.<stem>.tmp-<pid>-<hex><suffix>`` in the target's folder (the
    suffix is kept, so formats inferred from it still work), saves there and renames the
    file over the target. When the save fails the temporary file is removed and the
    previous file is untouched; temporary files of killed runs are removed by the next save.

    With ``versioned: true`` the target is ``<filepath>/<version>/<name>`` (Kedro's layout):
    the temporary file lies in the new version's folder under another name, so a version
    whose save did not finish is never the latest one a load picks.

    Args:
        dataset: The wrapped dataset: a ``type`` string, a class, or a mapping with ``type``
            and its other arguments (without the file path).
        filepath: The target file (local).
        filepath_arg: Name of the wrapped dataset's path argument.
        version: Kedro's load and save versions (set by the catalog for ``versioned: true``).
        metadata: Free-form metadata shown by kedro-viz.

    Raises:
        DatasetError: If the path is remote or the wrapped definition names the path.
    """

    def __init__(
        self,
        *,
        dataset: str | type[AbstractDataset] | dict[str, Any],
        filepath: str,
        filepath_arg: str = "filepath",
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        definition = deepcopy(dataset) if isinstance(dataset, dict) else {"type": dataset}
        self._dataset_type, self._dataset_config = parse_dataset_definition(definition)
        if filepath_arg in self._dataset_config:
            raise DatasetError(
                f"AtomicDataset {filepath!r}: give the path as 'filepath' of the wrapper, "
                f"not as {filepath_arg!r} of the wrapped dataset."
            )
        self._filepath_arg = filepath_arg
        super().__init__(
            filepath=PurePosixPath(_local_path(filepath, "AtomicDataset").as_posix()),
            version=version,
        )
        self.metadata = metadata

    def _build(self, path: Path | PurePosixPath) -> AbstractDataset:
        kwargs = deepcopy(self._dataset_config)
        kwargs[self._filepath_arg] = path.as_posix()
        return self._dataset_type(**kwargs)

    def load(self) -> Any:
        """What the wrapped dataset loads from the target (the latest version if versioned)."""
        return self._build(self._get_load_path()).load()

    def save(self, data: Any) -> None:
        """Save through the wrapped dataset to a temporary file, then rename it over the target.

        Args:
            data: What the wrapped dataset saves.
        """
        target = Path(self._get_save_path())
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{target.stem}"
        _remove_leftovers(target.parent, prefix, (_TMP_TAG,))
        temporary = target.with_name(f"{prefix}{_unique(_TMP_TAG)}{target.suffix}")
        try:
            self._build(temporary).save(data)
            if not temporary.exists():
                raise DatasetError(
                    f"AtomicDataset {target}: the wrapped {self._dataset_type.__name__} wrote "
                    f"nothing at {temporary}; it does not save to its '{self._filepath_arg}'."
                )
            os.replace(temporary, target)
        finally:
            if temporary.is_dir():
                shutil.rmtree(temporary, ignore_errors=True)
            else:
                temporary.unlink(missing_ok=True)
            if self._version is not None and not target.exists():
                _remove_if_empty(target.parent)  # a failed save leaves no empty version

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:  # versioned, and no version saved yet
            return False
        return self._build(path).exists()

    def _describe(self) -> dict[str, Any]:
        return {
            "filepath": self._filepath.as_posix(),
            "version": self._version,
            "dataset_type": self._dataset_type.__name__,
            "dataset_config": {k: v for k, v in self._dataset_config.items() if k != "credentials"},
        }


class AtomicPartitionedDataset(PartitionedDataset):
    """A ``PartitionedDataset`` whose save publishes the whole set of partitions at once.

    Every partition (lazy callables are called one at a time, as the parent does) is saved
    into ``.<name>.staging-<pid>-<hex>`` next to the target folder. With
    ``overwrite: true`` the staging folder then replaces the target (two renames); with
    ``overwrite: false`` each staged file is renamed into the target (each file atomic,
    existing partitions kept). A failed save removes the staging folder and leaves the
    previous set untouched; folders of killed runs are removed by the next save, and a set
    left aside by a run killed between the two renames is put back by the next load or save.

    Takes the arguments of ``PartitionedDataset`` (local ``path`` only).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._target = _local_path(self._path, "AtomicPartitionedDataset")

    def load(self) -> dict[str, Any]:
        """The partitions (lazy loaders), after restoring a set left aside by a killed swap."""
        self._restore_interrupted_swap()
        return super().load()

    def _restore_interrupted_swap(self) -> None:
        """Put back the previous set if a run was killed between the two renames of a swap."""
        target = self._target
        if target.exists() or not target.parent.is_dir():
            return
        prefix = f".{target.name}{_OLD_TAG}"
        for entry in sorted(target.parent.glob(f"{prefix}*")):
            pid = _tag_pid(entry.name, _OLD_TAG)
            if pid is not None and pid != os.getpid() and _pid_alive(pid):
                continue
            logger.warning("Restoring %s from %s (a save was killed mid-swap).", target, entry)
            os.replace(entry, target)
            self._invalidate_caches()
            return

    def _staging_dataset(self, folder: Path) -> PartitionedDataset:
        return PartitionedDataset(
            path=folder.as_posix(),
            dataset={"type": self._dataset_type, **deepcopy(self._dataset_config)},
            filepath_arg=self._filepath_arg,
            filename_suffix=self._filename_suffix,
            overwrite=False,
            save_lazily=self._save_lazily,
        )

    def save(self, data: dict[str, Any]) -> None:
        """Write every partition to a staging folder, then publish the folder.

        Args:
            data: ``partition id -> data`` (or a callable returning it).
        """
        target = self._target
        target.parent.mkdir(parents=True, exist_ok=True)
        prefix = f".{target.name}"
        self._restore_interrupted_swap()
        _remove_leftovers(target.parent, prefix, (_STAGING_TAG, _OLD_TAG))
        staging = target.with_name(f"{prefix}{_unique(_STAGING_TAG)}")
        try:
            staging.mkdir()
            self._staging_dataset(staging).save(data)
            if self._overwrite:
                self._swap(staging, target)
            else:
                self._merge(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            self._invalidate_caches()

    @staticmethod
    def _swap(staging: Path, target: Path) -> None:
        if not target.exists():
            os.replace(staging, target)
            return
        old = target.with_name(f".{target.name}{_unique(_OLD_TAG)}")
        os.replace(target, old)
        try:
            os.replace(staging, target)
        except OSError:
            os.replace(old, target)
            raise
        shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def _merge(staging: Path, target: Path) -> None:
        for file in sorted(p for p in staging.rglob("*") if p.is_file()):
            destination = target / file.relative_to(staging)
            destination.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, destination)
