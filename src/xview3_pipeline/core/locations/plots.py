"""Map of the scene locations: an overview of every footprint and zoomed panels per location.

See :func:`plot_locations`; the locations come from
:func:`xview3_pipeline.core.locations.clustering.cluster_locations`.
"""

from __future__ import annotations

import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path
from matplotlib.ticker import MaxNLocator
from matplotlib.typing import LineStyleType

from xview3_pipeline.core.locations.clustering import EARTH_RADIUS_KM, validate_scene_index

#: Style (colour, line style) of each dataset split in the zoomed panels; Okabe-Ito colours
#: (colour-blind safe) plus distinct line styles, so splits read also in grey scale.
_SPLIT_STYLE: dict[str, tuple[str, LineStyleType]] = {
    "train": ("#0072B2", "-"),
    "validation": ("#E69F00", "--"),
    "public": ("#009E73", ":"),
}
#: Colours of any other split value, in order of first appearance.
_OTHER_SPLIT_COLOURS: tuple[str, ...] = ("#CC79A7", "#D55E00", "#56B4E9", "#000000")
#: Kilometres per degree of latitude (and of longitude at the equator) on the mean sphere.
_KM_PER_DEG: float = math.pi * EARTH_RADIUS_KM / 180.0
#: Smallest half-width of a zoomed panel, in km (a location of points only gets 5 km).
_MIN_HALF_SPAN_KM: float = 2.0
_MIN_HALF_SPAN_POINTS_KM: float = 5.0


def _as_geometry(geom: Any) -> Any:
    """``geom`` if it is a non-empty shapely geometry, else ``None`` (NaN, None, empty)."""
    if isinstance(geom, shapely.Geometry) and not geom.is_empty:
        return geom
    return None


def _polygon_path(geom: Any) -> Path | None:
    """A matplotlib path of a (multi)polygon, holes included; ``None`` if empty.

    Geometry collections are flattened (two levels), non-polygonal parts are ignored.
    """
    geom = _as_geometry(geom)
    if geom is None:
        return None
    parts = shapely.get_parts(shapely.get_parts(geom))
    polygons = [g for g in parts if g.geom_type == "Polygon" and not g.is_empty]
    if not polygons:
        return None
    vertices: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    for poly in polygons:
        for ring in (poly.exterior, *poly.interiors):
            xy = np.asarray(ring.coords)[:, :2]
            ring_codes = np.full(len(xy), Path.LINETO, dtype=np.uint8)
            ring_codes[0] = Path.MOVETO
            ring_codes[-1] = Path.CLOSEPOLY
            vertices.append(xy)
            codes.append(ring_codes)
    return Path(np.concatenate(vertices), np.concatenate(codes))


def _lon_scale(lat_deg: float) -> float:
    """cos(latitude), bounded away from 0 (km per degree of longitude / km per degree)."""
    if not math.isfinite(lat_deg):
        return 1.0
    return max(math.cos(math.radians(lat_deg)), 0.05)


def _nice_length(x: float) -> float:
    """Largest 1, 2 or 5 times a power of ten that is at most ``x`` (``x > 0``)."""
    exponent = math.floor(math.log10(x))
    for mantissa in (5.0, 2.0, 1.0):
        if mantissa * 10.0**exponent <= x:
            return mantissa * 10.0**exponent
    return 10.0**exponent  # pragma: no cover - mantissa 1 always fits


def _format_km(km: float) -> str:
    """Kilometres with a precision suited to their size."""
    if km >= 10:
        return f"{km:.0f}"
    return f"{km:.1f}" if km >= 1 else f"{km:.2f}"


def _set_view(ax: Any, x0: float, x1: float, y0: float, y1: float) -> None:
    """Show at least ``[x0, x1] x [y0, y1]``; the fixed aspect may widen one axis.

    Sets the data limits and autoscales (rather than ``set_xlim``/``set_ylim``), so that
    ``set_aspect(..., adjustable="datalim")`` can widen the view to fill the panel without
    the "Ignoring fixed limits" warning.
    """
    ax.update_datalim([(x0, y0), (x1, y1)])
    ax.margins(0)
    ax.autoscale_view()


def _plot_table(scene_index: gpd.GeoDataFrame, scene_locations: pd.DataFrame) -> pd.DataFrame:
    """One row per located scene: ids, split, centroid (degrees) and footprint path."""
    gdf = validate_scene_index(scene_index)
    missing = [c for c in ("scene_id", "location_id") if c not in scene_locations.columns]
    if missing:
        raise ValueError(
            f"scene_locations lacks column(s) {missing}; it has {list(scene_locations.columns)}."
        )
    keep = [
        c
        for c in ("scene_id", "location_id", "split", "centroid_lon", "centroid_lat")
        if c in scene_locations.columns
    ]
    locs = scene_locations[keep].copy()
    locs["scene_id"] = locs["scene_id"].astype(str)
    locs["location_id"] = locs["location_id"].astype(str)
    index_cols = gdf[["scene_id", "split", "centroid_lon", "centroid_lat"]].assign(
        geom=np.asarray(gdf.geometry.values, dtype=object)
    )
    table = pd.DataFrame(locs).merge(
        pd.DataFrame(index_cols), on="scene_id", how="left", suffixes=("", "_index")
    )

    def column(name: str) -> pd.Series:
        """``scene_locations[name]`` where given, else the scene index's value."""
        if name not in locs.columns:
            return table[name]
        return table[name].where(table[name].notna(), table[f"{name}_index"])

    split = column("split")
    lon = pd.to_numeric(column("centroid_lon"), errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(column("centroid_lat"), errors="coerce").to_numpy(dtype=float)
    geoms = [_as_geometry(g) for g in table["geom"]]
    for k, geom in enumerate(geoms):  # fill missing centroids from the footprint
        if geom is not None and not (math.isfinite(lon[k]) and math.isfinite(lat[k])):
            c = geom.centroid
            lon[k], lat[k] = c.x, c.y
    return pd.DataFrame(
        {
            "scene_id": table["scene_id"].to_numpy(),
            "location_id": table["location_id"].to_numpy(),
            "split": split.fillna("unknown").astype(str).to_numpy(),
            "lon": lon,
            "lat": lat,
            "path": [_polygon_path(g) for g in geoms],
        }
    )


def _split_styles(splits: Any) -> dict[str, tuple[str, LineStyleType]]:
    """Colour and line style of every split value (known splits first)."""
    styles = dict(_SPLIT_STYLE)
    others = [s for s in dict.fromkeys(splits) if s not in styles]
    for k, s in enumerate(others):
        styles[s] = (_OTHER_SPLIT_COLOURS[k % len(_OTHER_SPLIT_COLOURS)], "-.")
    return styles


def _draw_overview(  # noqa: PLR0917 - private helper, called once
    ax: Any,
    table: pd.DataFrame,
    centres: pd.DataFrame,
    colours: dict[str, tuple[float, float, float, float]],
    labelled: set[str],
    zoomed: set[str],
) -> None:
    """All locations on lon/lat: footprints, a marker (area ~ scene count) and a label."""
    paths = [p for p in table["path"] if p is not None]
    if paths:
        loc_of_path = table.loc[table["path"].notna(), "location_id"]
        ax.add_collection(
            PatchCollection(
                [PathPatch(p) for p in paths],
                facecolors=[(*colours[loc][:3], 0.3) for loc in loc_of_path],
                edgecolors=[colours[loc] for loc in loc_of_path],
                linewidths=0.6,
            ),
            autolim=False,
        )
    finite = centres[np.isfinite(centres["lon"]) & np.isfinite(centres["lat"])]
    ax.scatter(
        finite["lon"],
        finite["lat"],
        s=25 + 12 * np.sqrt(finite["n"].to_numpy(dtype=float)),
        c=[colours[loc] for loc in finite.index],
        edgecolors="black",
        linewidths=0.5,
        zorder=3,
    )
    for loc, row in finite.iterrows():
        if loc in labelled:
            ax.annotate(
                f"{loc} ({int(row['n'])} scene{'' if row['n'] == 1 else 's'})",
                (row["lon"], row["lat"]),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize=7 if loc in zoomed else 6,
                color=colours[loc],
                fontweight="bold" if loc in zoomed else "normal",
                zorder=4,
            )
    # Limits: every centre and footprint, padded by 10 % (at least 1 degree).
    xs = [finite["lon"].to_numpy()] + [p.vertices[:, 0] for p in paths]
    ys = [finite["lat"].to_numpy()] + [p.vertices[:, 1] for p in paths]
    x, y = np.concatenate(xs), np.concatenate(ys)
    if len(x):
        pad_x = max(0.1 * np.ptp(x), 1.0)
        pad_y = max(0.1 * np.ptp(y), 1.0)
        _set_view(ax, x.min() - pad_x, x.max() + 3 * pad_x, y.min() - pad_y, y.max() + pad_y)
        ax.set_aspect(1.0 / _lon_scale(0.5 * (y.min() + y.max())), adjustable="datalim")
    ax.set_xlabel("longitude (°)", fontsize=8)
    ax.set_ylabel("latitude (°)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(True, linewidth=0.3)


def _draw_zoom(  # noqa: PLR0917 - private helper, called once
    ax: Any,
    location_id: str,
    scenes: pd.DataFrame,
    colour: tuple[float, float, float, float],
    styles: dict[str, tuple[str, LineStyleType]],
    colour_by: str,
) -> None:
    """One location zoomed on its footprints, coloured by split or by scene."""
    has_path = scenes["path"].notna().to_numpy()
    has_point = ~has_path & np.isfinite(scenes["lon"]) & np.isfinite(scenes["lat"])
    if colour_by == "scene":
        scene_colours = [to_rgba(f"C{k % 10}") for k in range(len(scenes))]
        linestyles: list[LineStyleType] = ["-"] * len(scenes)
    else:
        scene_colours = [to_rgba(styles[s][0]) for s in scenes["split"]]
        linestyles = [styles[s][1] for s in scenes["split"]]
    paths = scenes["path"].to_numpy()[has_path]
    if len(paths):
        edge = [scene_colours[k] for k in np.flatnonzero(has_path)]
        ax.add_collection(
            PatchCollection(
                [PathPatch(p) for p in paths],
                facecolors=[(*c[:3], 0.12) for c in edge],
                edgecolors=edge,
                linestyles=[linestyles[k] for k in np.flatnonzero(has_path)],
                linewidths=1.2,
            ),
            autolim=False,
        )
    if has_point.any():
        ax.scatter(
            scenes["lon"][has_point],
            scenes["lat"][has_point],
            marker="x",
            s=30,
            c=[scene_colours[k] for k in np.flatnonzero(has_point)],
            zorder=3,
        )
    n = len(scenes)
    title = f"{location_id}: {n} scene{'s' if n != 1 else ''}"
    n_no_footprint = int((~has_path).sum())
    if n_no_footprint:
        title += f", {n_no_footprint} without footprint (x)"
    for spine in ax.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(2.0)
    ax.tick_params(labelsize=6)
    ax.ticklabel_format(useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_locator(MaxNLocator(4))

    x = np.concatenate(
        [p.vertices[:, 0] for p in paths] + [scenes["lon"][has_point].to_numpy(dtype=float)]
    )
    y = np.concatenate(
        [p.vertices[:, 1] for p in paths] + [scenes["lat"][has_point].to_numpy(dtype=float)]
    )
    if not len(x):
        ax.set_title(title + "\nno position", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        return
    lon_c, lat_c = 0.5 * (x.min() + x.max()), 0.5 * (y.min() + y.max())
    km_x = _KM_PER_DEG * _lon_scale(lat_c)  # km per degree of longitude here
    extent_w, extent_h = np.ptp(x) * km_x, np.ptp(y) * _KM_PER_DEG
    min_half = _MIN_HALF_SPAN_KM if len(paths) else _MIN_HALF_SPAN_POINTS_KM
    half_w = max(0.55 * extent_w, min_half)  # km
    half_h = max(0.55 * extent_h, min_half)
    _set_view(
        ax,
        lon_c - half_w / km_x,
        lon_c + half_w / km_x,
        lat_c - half_h / _KM_PER_DEG,
        lat_c + half_h / _KM_PER_DEG,
    )
    ax.set_aspect(1.0 / _lon_scale(lat_c), adjustable="datalim")

    if len(paths):
        title += f"\nfootprints span {_format_km(extent_w)} × {_format_km(extent_h)} km"
    else:
        title += "\n(centroids only)"
    ax.set_title(title, fontsize=8)

    # Scale bar in the lower left corner (the datalim aspect only widens the view).
    bar_km = _nice_length(0.4 * min(half_w, half_h))
    x0 = lon_c - 0.85 * half_w / km_x
    y0 = lat_c - 0.85 * half_h / _KM_PER_DEG
    ax.plot([x0, x0 + bar_km / km_x], [y0, y0], color="black", linewidth=2.5, zorder=4)
    ax.annotate(
        f"{bar_km:g} km",
        (x0 + 0.5 * bar_km / km_x, y0),
        xytext=(0, 3),
        textcoords="offset points",
        ha="center",
        fontsize=7,
        zorder=4,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 0.5},
    )


def plot_locations(
    scene_index: gpd.GeoDataFrame,
    scene_locations: pd.DataFrame,
    *,
    max_legend_entries: int = 30,
    max_panels: int = 12,
    n_cols: int = 4,
    colour_by: str = "split",
) -> Figure:
    """Overview map of all locations plus one zoomed panel per (largest) location.

    The top panel shows every location on lon/lat axes: its footprints, a marker at the
    mean scene centroid (area growing with the scene count) and a label ``"<id> (<n>
    scenes)"``, in a colour kept by the location's zoomed panel (its frame). Below it, one
    small panel per location, the ``max_panels`` largest by scene count (ties by id),
    zooms on that location's footprints: every outline with a light fill, so overlaps
    show as darker areas, coloured by split (``colour_by="split"``, with a legend) or one
    colour per scene (``colour_by="scene"``). Scenes without a footprint are drawn as
    ``x`` at their centroid. Each panel title gives the location id, the scene count and
    the footprints' extent in km; a scale bar is drawn in each panel. Axes are lon/lat
    degrees with the aspect corrected for latitude (``1 / cos(lat)``), so shapes are true
    up to the curvature within the view. Antimeridian-crossing locations are not handled.

    Args:
        scene_index: Scene footprints in EPSG:4326 (as for :func:`cluster_locations`).
        scene_locations: Output of :func:`cluster_locations` (numeric columns may be
            strings, e.g. read from CSV with ``dtype=str``).
        max_legend_entries: Up to this many locations, every location is labelled on the
            overview; above it only the locations with a zoomed panel are (the others are
            still marked).
        max_panels: At most this many zoomed panels (``0``: overview only). The figure
            title says how many locations are not shown.
        n_cols: Zoomed panels per row.
        colour_by: ``"split"`` or ``"scene"``: colour of the footprints in the zoomed
            panels.

    Returns:
        A matplotlib figure (created without pyplot; renders with the Agg backend) with
        ``1 + min(n_locations, max_panels)`` axes, the overview first.

    Raises:
        ValueError: On invalid options or a ``scene_locations`` without ``scene_id`` and
            ``location_id`` columns (and as :func:`cluster_locations` for ``scene_index``).
    """
    for name, value, lowest in (("max_panels", max_panels, 0), ("n_cols", n_cols, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
            raise ValueError(f"{name} must be an integer >= {lowest}, got {value!r}.")
    if colour_by not in ("split", "scene"):
        raise ValueError(f"colour_by must be 'split' or 'scene', got {colour_by!r}.")
    table = _plot_table(scene_index, scene_locations)
    centres = table.groupby("location_id", sort=True).agg(
        lon=("lon", "mean"), lat=("lat", "mean"), n=("scene_id", "size")
    )
    # Location colours avoid the blue, orange and green of the splits.
    palette = [to_rgba(f"C{k}") for k in (3, 4, 5, 6, 8, 9, 7)]
    colours = {loc: palette[k % len(palette)] for k, loc in enumerate(centres.index)}
    order = centres.assign(loc=centres.index).sort_values(["n", "loc"], ascending=[False, True])
    shown = list(order.index[:max_panels])
    n_hidden = len(centres) - len(shown)

    n_cols = max(1, min(n_cols, len(shown)))
    n_rows = math.ceil(len(shown) / n_cols)
    fig = Figure(figsize=(max(8.0, 3.4 * n_cols), 4.8 + 3.3 * n_rows), layout="constrained")
    grid = fig.add_gridspec(1 + n_rows, n_cols, height_ratios=[4.8] + [3.3] * n_rows)
    overview = fig.add_subplot(grid[0, :])

    title = f"{len(table)} scenes in {len(centres)} locations"
    if shown:
        title += f"; zoomed: the {len(shown)} largest"
        if n_hidden:
            title += f", {n_hidden} not shown"
    fig.suptitle(title, fontsize=11)
    if table.empty:
        overview.text(0.5, 0.5, "no scenes", ha="center", va="center")
        overview.set_axis_off()
        return fig

    labelled = set(centres.index) if len(centres) <= max_legend_entries else set(shown)
    _draw_overview(overview, table, centres, colours, labelled, set(shown))
    overview.set_title(
        "Overview: locations (marker area grows with the scene count; colour = panel frame)",
        fontsize=9,
    )

    styles = _split_styles(table["split"])
    scenes_by_location = dict(list(table.groupby("location_id", sort=False)))
    for k, loc in enumerate(shown):
        ax = fig.add_subplot(grid[1 + k // n_cols, k % n_cols])
        scenes = scenes_by_location[loc].sort_values("scene_id").reset_index(drop=True)
        _draw_zoom(ax, loc, scenes, colours[loc], styles, colour_by)

    if shown and colour_by == "split":
        present = dict.fromkeys(table.loc[table["location_id"].isin(shown), "split"])
        handles = [
            Patch(
                facecolor=(*to_rgba(styles[s][0])[:3], 0.12),
                edgecolor=styles[s][0],
                linestyle=styles[s][1],
                linewidth=1.2,
                label=s,
            )
            for s in styles
            if s in present
        ]
        fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=8)
    return fig
