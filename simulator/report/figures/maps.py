"""The maps the activity data come from (``figures/maps.png``, with a ``[maps]`` table).

An auditor sees where the reference region's loss series comes from: the loss-year
raster with the reference region, leakage belt and project outlines (a), the project's
carbon strata with the mapped loss around them (b), the accuracy sample of the last
sampled year over that year's map strata, coloured by reference class (c), and, given a
risk raster, its classes with the project outline (d).

The maps are read with :mod:`simulator.data.maps` (:func:`read_run_maps`), so a map
``reddsim import maps`` refuses is refused here too, in the same words. A raster of a few
thousand pixels a side is drawn pooled to cells of :data:`CELL_PIXELS` of the saved
figure's pixels (:data:`SAVE_DPI`): loss
by the latest year in each block (a max-pool), forest where any pixel of the block is
forest, so that a single-pixel clearing stays visible; the pool is stated in the caption.
Axes are in the raster's CRS: kilometres of a projected CRS, degrees of a geographic one.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from simulator.data.maps import (
    Boundary,
    LossMap,
    boundary_mask,
    file_sha256,
    pixel_areas_ha,
    read_boundary,
    read_class_raster,
    read_loss_map,
    stratum_masks,
    year_strata,
)
from simulator.errors import DataError
from simulator.report.figures.style import styled
from simulator.report.labels import humanise

__all__ = [
    "SAVE_DPI",
    "CELL_PIXELS",
    "MAPS_FIGURE",
    "RunMaps",
    "read_run_maps",
    "pool_max",
    "pool_pick",
    "draw_maps",
    "fig_maps",
]

#: The figure's file name under ``figures/``.
MAPS_FIGURE = "maps.png"

#: Resolution the figure is saved at: a map's detail needs more than the charts' 150 dpi.
SAVE_DPI = 250
#: Pixels of the saved figure a drawn cell spans at least: one, so that no pixel of the
#: raster falls between two of the figure's (a coarser cell would show loss as more
#: widespread than it is).
CELL_PIXELS = 1

#: Colours: no forest at the start of the map, forest, outlines, the map strata of (c).
NO_FOREST = "#f2f2f2"
FOREST = "#d5e5cf"
OUTLINES = {
    "reference_region": ("reference region", "black", "-", 0.9),
    "leakage_belt": ("leakage belt", "#2166ac", "--", 1.1),
    "project": ("project", "#762a83", "-", 1.4),
}
STRATUM_COLOURS = (
    "#a6cee3",
    "#b2df8a",
    "#cab2d6",
    "#fdbf6f",
    "#ffff99",
    "#8dd3c7",
    "#bebada",
    "#d9d9d9",
    "#fccde5",
    "#ccebc5",
)
MAPPED_LOSS = "#b2182b"
MAP_STRATUM_COLOURS = {"stable_forest": FOREST, "buffer": "#fdd49e", "loss": "#d7301f"}
REFERENCE_STYLE = {
    "loss": dict(marker="X", color="black", markeredgecolor="white", markersize=3.6),
    "forest": dict(marker="o", color="#1b7837", markeredgecolor="white", markersize=2.8),
    "": dict(marker="o", color="none", markeredgecolor="0.35", markersize=2.8),
}
_FONT = 7


@dataclass(frozen=True)
class RunMaps:
    """The ``[maps]`` of a run, read and checked."""

    loss: LossMap
    boundaries: dict[str, Boundary]  # reference_region, project and leakage_belt (if given)
    masks: dict[str, np.ndarray]  # pixels inside each boundary
    strata: dict[str, np.ndarray] | None  # carbon stratum -> its pixels
    points: dict[str, np.ndarray] | None  # year, x, y, reference_class of every point
    risk: np.ma.MaskedArray | None  # integer risk class of every pixel (masked: nodata)
    buffer_pixels: int
    paths: dict[str, str]  # by [maps] name, as configured
    sha256: dict[str, str]  # by [maps] name


def read_run_maps(spec) -> RunMaps:
    """Read a run's ``[maps]`` files with :mod:`simulator.data.maps`' readers.

    Raises
    ------
    DataError
        A map those readers refuse, sample points without their columns or with a
        coordinate or year that is not a number, a risk raster off the loss raster's grid.
    """
    m = spec.config.maps
    loss = read_loss_map(spec.map_path("loss"), m.year_base)
    whats = {
        "reference_region": ("reference_region", "reference region"),
        "project": ("project", "project"),
        "leakage_belt": ("belt", "leakage belt"),
    }
    boundaries = {
        key: read_boundary(spec.map_path(field), loss.crs, what)
        for key, (field, what) in whats.items()
        if getattr(m, field) is not None
    }
    masks = {key: boundary_mask(b, loss) for key, b in boundaries.items()}
    strata = (
        stratum_masks(spec.map_path("strata"), loss, masks["project"])
        if m.strata is not None
        else None
    )
    points = _read_points(spec.map_path("sample")) if m.sample is not None else None
    risk = _read_risk(spec.map_path("risk"), loss) if m.risk is not None else None
    files = m.files()
    return RunMaps(
        loss=loss,
        boundaries=boundaries,
        masks=masks,
        strata=strata,
        points=points,
        risk=risk,
        buffer_pixels=m.buffer_pixels,
        paths={name: str(value) for name, value in files.items()},
        sha256={name: file_sha256(spec.map_path(name)) for name in files},
    )


def _read_points(path: Path) -> dict[str, np.ndarray]:
    """Sample points from ``points.csv`` (x, y columns) or a GeoPackage of points."""
    need = ("year", "reference_class")
    if path.suffix.lower() == ".csv":
        try:
            with open(path, newline="", encoding="utf-8") as fh:
                reader = csv.DictReader(fh)
                missing = [c for c in (*need, "x", "y") if c not in (reader.fieldnames or [])]
                if missing:
                    raise DataError(f"{path}: no column {missing[0]!r}")
                rows = [(i, r) for i, r in enumerate(reader, start=2)]
        except UnicodeDecodeError as err:
            raise DataError(f"{path}: not UTF-8 text") from err
        where = [f"row {i}" for i, _ in rows]
        raw = {c: [r[c] for _, r in rows] for c in (*need, "x", "y")}
    else:
        import geopandas as gpd
        from pyogrio.errors import DataSourceError

        try:
            frame = gpd.read_file(path, engine="pyogrio")
        except (DataSourceError, ValueError) as err:
            raise DataError(f"{path}: not a vector file GDAL can read ({err})") from err
        missing = [c for c in need if c not in frame.columns]
        if missing:
            raise DataError(f"{path}: no column {missing[0]!r}")
        kinds = set(frame.geom_type.dropna())
        if kinds - {"Point"} or frame.geometry.isna().any():
            raise DataError(f"{path}: the sample holds geometries that are not points")
        where = [f"feature {i + 1}" for i in range(len(frame))]
        raw = {
            "year": frame["year"].tolist(),
            "reference_class": [
                "" if v is None or v != v else v for v in frame["reference_class"].tolist()
            ],
            "x": frame.geometry.x.tolist(),
            "y": frame.geometry.y.tolist(),
        }
    out = {"reference_class": np.array([str(v).strip() for v in raw["reference_class"]])}
    for column, kind in (("year", int), ("x", float), ("y", float)):
        values = []
        for w, v in zip(where, raw[column], strict=True):
            try:
                value = kind(float(v)) if kind is int else float(v)
            except (TypeError, ValueError):
                raise DataError(f"{path}: {w}, column {column} = {v!r}: not a number") from None
            if not math.isfinite(value):
                raise DataError(f"{path}: {w}, column {column} = {v!r}: not finite")
            values.append(value)
        out[column] = np.array(values, dtype=kind)
    if not len(out["year"]):
        raise DataError(f"{path}: no sample points")
    return out


def _read_risk(path: Path, loss: LossMap) -> np.ma.MaskedArray:
    """The risk classes (masked at nodata), read as ``reddsim allocate`` reads them."""
    valid, values = read_class_raster(path, loss, "risk", require_nodata=True)
    if not valid.any():
        raise DataError(f"{path}: every pixel is nodata")
    return np.ma.MaskedArray(values, mask=~valid)


# -- pooling ----------------------------------------------------------------------------


def _blocks(a: np.ndarray, f: int, fill) -> np.ndarray:
    """``a`` padded with ``fill`` to whole ``f`` x ``f`` blocks, as (rows, f, cols, f)."""
    r, c = a.shape
    rows, cols = -(-r // f), -(-c // f)
    padded = np.full((rows * f, cols * f), fill, dtype=a.dtype)
    padded[:r, :c] = a
    return padded.reshape(rows, f, cols, f)


def pool_max(a: np.ndarray, f: int) -> np.ndarray:
    """Largest value of each ``f`` x ``f`` block (a boolean: whether any pixel is set)."""
    if f == 1:
        return a
    fill = False if a.dtype == bool else np.iinfo(a.dtype).min
    return _blocks(a, f, fill).max(axis=(1, 3))


def pool_pick(a: np.ndarray, f: int, fill=0) -> np.ndarray:
    """The centre pixel of each ``f`` x ``f`` block (for classes, where a maximum is not)."""
    if f == 1:
        return a
    return _blocks(a, f, fill)[:, f // 2, :, f // 2]


@dataclass(frozen=True)
class _Window:
    """Rows ``r0:r1`` and columns ``c0:c1`` of the raster, drawn pooled by ``f``."""

    r0: int
    r1: int
    c0: int
    c1: int
    f: int = 1

    def crop(self, a: np.ndarray) -> np.ndarray:
        return a[self.r0 : self.r1, self.c0 : self.c1]

    def extent(self, t) -> tuple[float, float, float, float]:
        """left, right, bottom, top of the pooled cells (whole blocks: may pass the edge)."""
        rows = -(-(self.r1 - self.r0) // self.f) * self.f
        cols = -(-(self.c1 - self.c0) // self.f) * self.f
        x0, y0 = t.c + self.c0 * t.a, t.f + self.r0 * t.e
        return (x0, x0 + cols * t.a, y0 + rows * t.e, y0)

    def aspect(self, t) -> float:
        """Height over width on the ground (in the CRS's units)."""
        return ((self.r1 - self.r0) * abs(t.e)) / ((self.c1 - self.c0) * abs(t.a))

    def pooled_for(self, ax) -> _Window:
        """This window pooled so that a cell is at least one pixel of ``ax`` as saved.

        With equal aspect the raster spans at most the box's width or its height: the
        pool is the larger of the pixels per device pixel across and down.
        """
        box = ax.get_position()
        fig = ax.figure
        width = box.width * fig.get_figwidth() * SAVE_DPI
        height = box.height * fig.get_figheight() * SAVE_DPI
        per_pixel = max((self.c1 - self.c0) / width, (self.r1 - self.r0) / height)
        f = math.ceil(per_pixel * CELL_PIXELS)
        return _Window(self.r0, self.r1, self.c0, self.c1, max(1, f))


def _window(loss: LossMap, bounds=None, pad: float = 0.0) -> _Window:
    """The pixels of ``bounds`` (minx, miny, maxx, maxy; padded by ``pad`` of the larger side)."""
    rows, cols = loss.shape
    if bounds is None:
        r0, r1, c0, c1 = 0, rows, 0, cols
    else:
        t = loss.transform
        minx, miny, maxx, maxy = bounds
        margin = pad * max(maxx - minx, maxy - miny)
        minx, maxx, miny, maxy = minx - margin, maxx + margin, miny - margin, maxy + margin
        ca, cb = sorted(((minx - t.c) / t.a, (maxx - t.c) / t.a))
        ra, rb = sorted(((maxy - t.f) / t.e, (miny - t.f) / t.e))
        c0, c1 = max(0, math.floor(ca)), min(cols, math.ceil(cb))
        r0, r1 = max(0, math.floor(ra)), min(rows, math.ceil(rb))
        if r1 <= r0 or c1 <= c0:
            r0, r1, c0, c1 = 0, rows, 0, cols
    return _Window(r0, r1, c0, c1)


# -- drawing ----------------------------------------------------------------------------

#: Layout (inches): the figure's width, each column's width, a map's largest box, the room
#: above a map (its title) and below it (ticks and axis label), and the legends' height.
#: Fixed before anything is drawn, so that the pool of each raster is known.
_WIDTH = 8.0
_LAYOUT = {
    3: {"cols": 3, "box": (2.05, 2.15), "legend": 1.05},
    4: {"cols": 2, "box": (3.15, 2.6), "legend": 0.9},
}
_ABOVE, _BELOW, _LEFT = 0.3, 0.42, 0.45


def _layout(aspects: list[float]):
    """Figure, map axes and legend axes for maps of height/width ``aspects``.

    Each map gets the largest box of its shape within the layout's box, top-aligned in
    its row; the legends of a row start at one line below its tallest map.
    """
    spec = _LAYOUT[len(aspects)]
    cols, (bw, bh), lh = spec["cols"], spec["box"], spec["legend"]
    sizes = []
    for aspect in aspects:
        w = min(bw, bh / aspect)
        sizes.append((w, w * aspect))
    rows = [sizes[i : i + cols] for i in range(0, len(sizes), cols)]
    row_h = [_ABOVE + max(h for _, h in row) + _BELOW + lh for row in rows]
    height = sum(row_h) + 0.05
    fig = plt.figure(figsize=(_WIDTH, height))
    axes, legends = [], []
    col_w = _WIDTH / cols
    for i, (w, h) in enumerate(sizes):
        r, c = divmod(i, cols)
        top = height - sum(row_h[:r]) - _ABOVE
        left = c * col_w + _LEFT
        axes.append(fig.add_axes((left / _WIDTH, (top - h) / height, w / _WIDTH, h / height)))
        tallest = max(hh for _, hh in rows[r])
        bottom = top - tallest - _BELOW - lh
        lax = fig.add_axes(
            ((left - 0.3) / _WIDTH, bottom / height, (col_w - 0.2) / _WIDTH, lh / height)
        )
        lax.set_axis_off()
        legends.append(lax)
    return fig, axes, legends


def _axes_in_crs(ax, loss: LossMap, window: _Window) -> None:
    from pyproj import CRS

    crs = CRS.from_user_input(loss.crs)
    left, right, bottom, top = window.extent(loss.transform)
    ax.set_xlim(min(left, right), max(left, right))
    ax.set_ylim(min(bottom, top), max(bottom, top))
    ax.set_aspect("equal")
    if crs.is_projected:
        factor = crs.axis_info[0].unit_conversion_factor / 1000.0  # km per CRS unit
        fmt = FuncFormatter(lambda v, _: f"{v * factor:,.0f}")
        xlab, ylab = "easting (km)", "northing (km)"
    else:
        fmt = FuncFormatter(lambda v, _: f"{v:.2f}°")
        xlab, ylab = "longitude", "latitude"
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_formatter(fmt)
        axis.set_major_locator(MaxNLocator(4))
    ax.tick_params(labelsize=_FONT - 1, length=2, pad=1.5)
    ax.set_xlabel(xlab, fontsize=_FONT, labelpad=1)
    ax.set_ylabel(ylab, fontsize=_FONT, labelpad=1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    for spine in ax.spines.values():
        spine.set_linewidth(0.5)
        spine.set_color("0.4")


def _imshow(ax, image, loss: LossMap, window: _Window, **kwargs):
    return ax.imshow(
        image,
        extent=window.extent(loss.transform),
        origin="upper",
        interpolation="nearest",
        resample=False,
        **kwargs,
    )


def _background(ax, loss: LossMap, window: _Window) -> None:
    """Forest at the start of the map (any pixel of a block), else no forest."""
    forest = pool_max(window.crop(loss.forest), window.f).astype(np.int8)
    cmap = ListedColormap([NO_FOREST, FOREST])
    _imshow(ax, forest, loss, window, cmap=cmap, vmin=0, vmax=1)


def _outline(ax, boundary: Boundary, key: str) -> Line2D:
    import shapely

    label, colour, style, width = OUTLINES[key]
    for geom in shapely.get_parts(np.asarray(boundary.frame.geometry)):
        for ring in (geom.exterior, *geom.interiors):
            x, y = ring.xy
            ax.plot(x, y, color=colour, ls=style, lw=width, solid_joinstyle="round")
    return Line2D([], [], color=colour, ls=style, lw=width, label=label)


def _legend(lax, handles, ncol: int = 1, top: float = 1.0):
    return lax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(0.0, top),
        ncol=ncol,
        frameon=False,
        fontsize=_FONT - 0.5,
        handlelength=1.5,
        handleheight=0.9,
        columnspacing=1.0,
        labelspacing=0.35,
        borderaxespad=0.0,
        borderpad=0.0,
    )


def _forest_handles() -> list:
    return [
        Patch(facecolor=FOREST, edgecolor="0.6", lw=0.4, label="forest at start"),
        Patch(facecolor=NO_FOREST, edgecolor="0.6", lw=0.4, label="no forest / no data"),
    ]


def _panel_loss(ax, lax, maps: RunMaps, window: _Window) -> dict:
    loss = maps.loss
    window = window.pooled_for(ax)
    _background(ax, loss, window)
    pooled = pool_max(window.crop(loss.loss_year), window.f)
    first, last = loss.years[0], loss.years[-1]
    layer = np.ma.masked_equal(pooled, 0)
    cmap = ListedColormap(plt.get_cmap("YlOrRd")(np.linspace(0.3, 1.0, 256)))
    image = _imshow(ax, layer, loss, window, cmap=cmap, vmin=first, vmax=max(last, first + 1))
    handles = [_outline(ax, maps.boundaries[k], k) for k in OUTLINES if k in maps.boundaries]
    _axes_in_crs(ax, loss, window)
    cax = lax.inset_axes((0.12, 0.86, 0.8, 0.1))
    bar = ax.figure.colorbar(image, cax=cax, orientation="horizontal")
    bar.ax.set_title("year of mapped loss", fontsize=_FONT - 0.5, pad=2)
    bar.ax.tick_params(labelsize=_FONT - 1, length=2, pad=1)
    bar.ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    bar.outline.set_linewidth(0.5)
    _legend(lax, handles + _forest_handles(), ncol=2, top=0.62)
    ax.set_title(f"(a) Mapped loss {first}–{last}", fontsize=_FONT + 1, loc="left")
    return {"loss_cells": int(np.count_nonzero(~np.ma.getmaskarray(layer))), "pool": window.f}


def _panel_strata(ax, lax, maps: RunMaps, window: _Window, labels: dict[str, str]) -> dict:
    loss = maps.loss
    window = window.pooled_for(ax)
    _background(ax, loss, window)
    handles = []
    if maps.strata:
        order = [n for n in labels if n in maps.strata] + sorted(set(maps.strata) - set(labels))
        codes = np.zeros(loss.shape, dtype=np.int16)
        inside = maps.masks["project"] & loss.forest
        for i, name in enumerate(order, start=1):
            codes[maps.strata[name] & inside & (codes == 0)] = i
        colours = [STRATUM_COLOURS[i % len(STRATUM_COLOURS)] for i in range(len(order))]
        picked = np.ma.masked_equal(pool_pick(window.crop(codes), window.f), 0)
        norm = BoundaryNorm(np.arange(0.5, len(order) + 1), len(order))
        _imshow(ax, picked, loss, window, cmap=ListedColormap(colours), norm=norm)
        area = pixel_areas_ha(loss)
        for i, name in enumerate(order, start=1):
            ha = float(np.count_nonzero(codes == i, axis=1) @ area)
            text = labels.get(name) or humanise(name)
            handles.append(
                Patch(
                    facecolor=colours[i - 1],
                    edgecolor="0.5",
                    lw=0.4,
                    label=f"{text}: {ha:,.0f} ha",
                )
            )
    lost = pool_max(window.crop(loss.loss_year > 0), window.f).astype(np.int8)
    cmap = ListedColormap([MAPPED_LOSS])
    _imshow(ax, np.ma.masked_equal(lost, 0), loss, window, cmap=cmap, vmin=0.5, vmax=1.5)
    handles.append(Patch(facecolor=MAPPED_LOSS, label="mapped loss, all years"))
    for key in ("leakage_belt", "project"):
        if key in maps.boundaries:
            handles.append(_outline(ax, maps.boundaries[key], key))
    _axes_in_crs(ax, loss, window)
    _legend(lax, handles, ncol=1 if len(handles) <= 7 else 2)
    title = "(b) Project carbon strata" if maps.strata else "(b) Project and leakage belt"
    ax.set_title(title, fontsize=_FONT + 1, loc="left")
    return {"pool": window.f}


def _panel_sample(ax, lax, maps: RunMaps, window: _Window) -> dict:
    loss = maps.loss
    window = window.pooled_for(ax)
    pts = maps.points
    year = int(pts["year"].max())
    handles = []
    if year in loss.years:
        codes = year_strata(loss, year, maps.buffer_pixels)
        region = maps.masks["reference_region"]
        # drawn with priority loss > buffer > stable forest, so small loss patches survive
        rank = np.choose(np.where(region, codes, 0), [0, 3, 2, 1]).astype(np.int8)
        pooled = np.ma.masked_equal(pool_max(window.crop(rank), window.f), 0)
        colours = [MAP_STRATUM_COLOURS[k] for k in ("stable_forest", "buffer", "loss")]
        norm = BoundaryNorm([0.5, 1.5, 2.5, 3.5], 3)
        _imshow(ax, pooled, loss, window, cmap=ListedColormap(colours), norm=norm)
        handles += [
            Patch(facecolor=MAP_STRATUM_COLOURS["loss"], label=f"map: loss {year}"),
            Patch(facecolor=MAP_STRATUM_COLOURS["buffer"], label="map: buffer"),
            Patch(
                facecolor=MAP_STRATUM_COLOURS["stable_forest"],
                edgecolor="0.6",
                lw=0.4,
                label="map: stable forest",
            ),
        ]
    else:  # a sample of a year the map does not have: the points over the forest
        _background(ax, loss, window)
        handles += _forest_handles()
    of_year = pts["year"] == year
    counts = {}
    for cls in (
        "forest",
        "loss",
        *sorted(set(pts["reference_class"][of_year]) - set(REFERENCE_STYLE)),
    ):
        sel = of_year & (pts["reference_class"] == cls)
        counts[cls] = int(sel.sum())
        if sel.any():
            style = REFERENCE_STYLE.get(cls, REFERENCE_STYLE[""])
            ax.plot(pts["x"][sel], pts["y"][sel], ls="none", markeredgewidth=0.35, **style)
    sel = of_year & (pts["reference_class"] == "")
    if sel.any():
        ax.plot(pts["x"][sel], pts["y"][sel], ls="none", markeredgewidth=0.5, **REFERENCE_STYLE[""])
    others = int(np.sum(of_year & ~np.isin(pts["reference_class"], ["loss", "forest"])))
    points = [
        Line2D(
            [],
            [],
            ls="none",
            markeredgewidth=0.35,
            **REFERENCE_STYLE[c],
            label=f"reference {c} (n = {counts[c]:,})",
        )
        for c in ("loss", "forest")
    ]
    if others:
        points.append(
            Line2D(
                [],
                [],
                ls="none",
                markeredgewidth=0.5,
                **REFERENCE_STYLE[""],
                label=f"not interpreted (n = {others:,})",
            )
        )
    if "reference_region" in maps.boundaries:
        _outline(ax, maps.boundaries["reference_region"], "reference_region")
    _axes_in_crs(ax, loss, window)
    _legend(lax, points + handles, ncol=1 if len(points + handles) <= 5 else 2)
    ax.set_title(f"(c) Accuracy sample {year}", fontsize=_FONT + 1, loc="left")
    return {
        "year": year,
        "n": int(of_year.sum()),
        "loss": counts["loss"],
        "forest": counts["forest"],
        "other": others,
    }


def _panel_risk(ax, lax, maps: RunMaps, window: _Window) -> dict:
    loss = maps.loss
    window = window.pooled_for(ax)
    risk = maps.risk
    valid = ~np.ma.getmaskarray(risk)
    values = np.asarray(risk.filled(0), dtype=np.int64)
    classes = np.unique(values[valid]).tolist()
    index = np.zeros(loss.shape, dtype=np.int16)  # 0 nodata, i the i-th class
    for i, v in enumerate(classes, start=1):
        index[valid & (values == v)] = i
    picked = np.ma.masked_equal(pool_pick(window.crop(index), window.f), 0)
    colours = [plt.get_cmap("YlOrRd")(x) for x in np.linspace(0.08, 0.9, len(classes))]
    norm = BoundaryNorm(np.arange(0.5, len(classes) + 1), len(classes))
    _imshow(ax, picked, loss, window, cmap=ListedColormap(colours), norm=norm)
    handles = [
        Patch(facecolor=c, edgecolor="0.5", lw=0.4, label=f"risk class {v}")
        for c, v in zip(colours, classes, strict=True)
    ]
    for key in ("reference_region", "project"):
        if key in maps.boundaries:
            handles.append(_outline(ax, maps.boundaries[key], key))
    _axes_in_crs(ax, loss, window)
    _legend(lax, handles, ncol=1 if len(handles) <= 5 else 2)
    ax.set_title("(d) Deforestation risk classes", fontsize=_FONT + 1, loc="left")
    return {"classes": [str(c) for c in classes]}


def draw_maps(maps: RunMaps, labels: dict[str, str] | None = None):
    """The maps figure and what its caption states: ``(figure, info)``.

    ``labels``: display name of each carbon stratum, in the run's order
    (:func:`simulator.report.labels.strata_labels`).
    """
    labels = labels or {}
    loss = maps.loss
    panels = 3 + (maps.risk is not None)
    region = _window(loss, maps.boundaries["reference_region"].frame.total_bounds, pad=0.02)
    zoom = [
        maps.boundaries[k].frame.total_bounds
        for k in ("project", "leakage_belt")
        if k in maps.boundaries
    ]
    bounds = (
        min(b[0] for b in zoom),
        min(b[1] for b in zoom),
        max(b[2] for b in zoom),
        max(b[3] for b in zoom),
    )
    near = _window(loss, bounds, pad=0.05)
    windows = [region, near, region, region][:panels]
    fig, axes, legends = _layout([w.aspect(loss.transform) for w in windows])
    info = {"panels": panels}
    info |= _panel_loss(axes[0], legends[0], maps, region)
    zoomed = _panel_strata(axes[1], legends[1], maps, near, labels)
    info["zoom_pool"] = zoomed["pool"]
    if maps.points is not None:
        info["sample"] = _panel_sample(axes[2], legends[2], maps, region)
    else:
        ax, window = axes[2], region.pooled_for(axes[2])
        _background(ax, loss, window)
        _axes_in_crs(ax, loss, window)
        text = ax.text(
            0.5,
            0.5,
            "no accuracy sample given\n([maps] sample)",
            ha="center",
            va="center",
            transform=ax.transAxes,
            fontsize=_FONT,
            color="0.3",
        )
        text.set_path_effects([patheffects.withStroke(linewidth=2.0, foreground="white")])
        ax.set_title("(c) Accuracy sample", fontsize=_FONT + 1, loc="left")
        info["sample"] = None
    if maps.risk is not None:
        info["risk"] = _panel_risk(axes[3], legends[3], maps, region)
    return fig, info


@styled
def fig_maps(path: Path, maps: RunMaps, labels: dict[str, str] | None = None) -> dict:
    """Write ``figures/maps.png``; returns what the caption states (:func:`draw_maps`)."""
    fig, info = draw_maps(maps, labels)
    fig.savefig(path, dpi=SAVE_DPI)
    plt.close(fig)
    return info
