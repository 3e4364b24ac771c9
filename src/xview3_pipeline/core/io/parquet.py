"""Parquet files written atomically, with string metadata in the file's schema."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["temporary_sibling", "write_parquet_atomic"]


def temporary_sibling(path: Path) -> Path:
    """The hidden file ``.<name>.tmp-<pid>`` beside ``path`` that a write goes to first."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_parquet_atomic(
    frame: pd.DataFrame, path: str | Path, metadata: Mapping[str, str] | None = None
) -> Path:
    """Write ``frame`` (without its index) to ``path``: a temporary sibling, then a rename.

    A reader never sees a partial file, and two processes writing the same path (a task
    run twice on a cluster) each rename a whole file.

    Args:
        frame: The table.
        path: The destination; missing parent folders are created.
        metadata: ``key -> value`` stored in the schema's metadata (UTF-8).

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pandas(frame, preserve_index=False)
    extra = {k.encode(): v.encode() for k, v in (metadata or {}).items()}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **extra})
    tmp = temporary_sibling(path)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
