"""Command line of the official xView3 metric (no Kedro).

Usage::

    python -m xview3_pipeline.metric --pred P.csv --gt G.csv --shore-root DIR
        [--distance-tolerance 200] [--shore-tolerance 2] [--no-drop-low]
        [--plain-distance] [--score-all] [--per-scene OUT.csv]

Prints the six components (``loc_fscore``, ``loc_fscore_shore``, ``vessel_fscore``,
``fishing_fscore``, ``length_acc``, ``aggregate``) as one JSON object on stdout. The defaults
are the leaderboard switches (``--distance_tolerance 200 --shore_tolerance 2 --shore_root DIR
--drop_low_detect --costly_dist`` of the official scorer). Without ``--shore-root`` the
close-to-shore F1 is 0, as in the official code. Warnings go to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from xview3_pipeline.core.constants import DISTANCE_TOLERANCE_M, NEAR_SHORE_KM
from xview3_pipeline.core.metric import MetricConfig, score

logger = logging.getLogger("xview3_pipeline.metric")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the metric command line."""
    parser = argparse.ArgumentParser(
        prog="python -m xview3_pipeline.metric",
        description="Score an xView3 submission with the official metric (leaderboard settings).",
    )
    parser.add_argument("--pred", required=True, type=Path, help="Submission CSV.")
    parser.add_argument("--gt", required=True, type=Path, help="Label CSV (official layout).")
    parser.add_argument(
        "--shore-root",
        type=Path,
        default=None,
        help="Folder of <scene_id>_shoreline.npy (also searched in train/validation/public "
        "subfolders). Without it the close-to-shore F1 is 0.",
    )
    parser.add_argument(
        "--distance-tolerance",
        type=float,
        default=DISTANCE_TOLERANCE_M,
        help="Detection distance tolerance in metres (default: %(default)s).",
    )
    parser.add_argument(
        "--shore-tolerance",
        type=float,
        default=NEAR_SHORE_KM,
        help="Near-shore tolerance in km; 0 turns the shore term off (default: %(default)s).",
    )
    parser.add_argument(
        "--no-drop-low",
        action="store_true",
        help="Do not delete predictions matched to LOW labels (official default without "
        "--drop_low_detect).",
    )
    parser.add_argument(
        "--plain-distance",
        action="store_true",
        help="Minimise the plain sum of distances (official default without --costly_dist).",
    )
    parser.add_argument(
        "--score-all",
        action="store_true",
        help="Score against every confidence level (official --score_all).",
    )
    parser.add_argument(
        "--per-scene", type=Path, default=None, help="Write per-scene counts to this CSV."
    )
    parser.add_argument(
        "--log-level", default="WARNING", help="Logging level on stderr (default: %(default)s)."
    )
    return parser


def config_from_args(args: argparse.Namespace) -> MetricConfig:
    """The :class:`~xview3_pipeline.core.metric.MetricConfig` of parsed arguments.

    Raises:
        ValueError: On a tolerance out of range (negative, zero distance, not finite).
    """
    return MetricConfig(
        distance_tolerance_m=args.distance_tolerance,
        shore_tolerance_km=args.shore_tolerance,
        drop_low_detect=not args.no_drop_low,
        costly_dist=not args.plain_distance,
        score_all=args.score_all,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the metric command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        Exit status 0. A tolerance out of range exits with status 2 and a message naming
        the option; bad tables raise (``ValueError`` for bad input, ``FileNotFoundError``
        for missing CSVs).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for path in (args.pred, args.gt):
        if not path.is_file():
            raise FileNotFoundError(f"CSV file {path} does not exist.")
    pred = pd.read_csv(args.pred, index_col=False)
    gt = pd.read_csv(args.gt, index_col=False)
    result = score(pred, gt, config, shore_root=args.shore_root)
    if args.per_scene is not None:
        result.details["per_scene"].to_csv(args.per_scene, index=False)
        logger.info("Wrote per-scene counts to %s.", args.per_scene)
    sys.stdout.write(json.dumps(result.as_dict()) + "\n")
    return 0


if __name__ == "__main__":
    main()
