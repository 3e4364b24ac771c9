"""Benchmark: synthetic scene generation and scene indexing, per scene size.

Run on demand (not part of the tests)::

    python benchmarks/bench_synthetic_ingestion.py [--sizes 512 1024 2048] [--out benchmarks/results]

Writes ``synthetic_ingestion.csv`` with, per scene size: seconds to generate one scene (all
seven rasters, labels and shoreline), seconds to index it (footprint and statistics), the
peak resident memory of the process after each step, and the size of the scene on disk.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from xview3_pipeline.core.ingestion import build_scene_index
from xview3_pipeline.core.synthetic import SyntheticConfig, generate_dataset

logger = logging.getLogger("bench")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench(size: int, workdir: Path) -> dict[str, float]:
    """Generate and index one scene of ``size`` x ``size`` pixels."""
    root = workdir / f"raw_{size}"
    config = SyntheticConfig(n_locations=1, revisit_splits=("validation",), height=size, width=size)
    t0 = time.perf_counter()
    generate_dataset(config, root)
    t_gen = time.perf_counter() - t0
    rss_gen = _peak_rss_mb()
    t0 = time.perf_counter()
    build_scene_index(root)
    t_index = time.perf_counter() - t0
    disk = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20
    shutil.rmtree(root)
    return {
        "size_px": size,
        "generate_s": round(t_gen, 2),
        "index_s": round(t_index, 2),
        "peak_rss_after_generate_mb": round(rss_gen, 1),
        "peak_rss_after_index_mb": round(_peak_rss_mb(), 1),
        "disk_mb": round(disk, 2),
    }


def main() -> None:
    """Parse arguments, run the benchmark, write the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench(size, Path(tmp)) for size in sorted(args.sizes)]
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "synthetic_ingestion.csv", index=False)
    logger.info("\n%s", table.to_string(index=False))


if __name__ == "__main__":
    main()
