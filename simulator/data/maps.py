"""Activity data from maps: a loss-year raster and the boundaries it is counted in.

An analyst's deforestation activity data are a map of the year each pixel lost its
forest (a loss-year GeoTIFF such as Hansen et al. 2013's ``lossyear`` or a national
monitoring system's annual loss maps) and the boundaries of the project, the reference
region and the leakage belt (GeoPackage, GeoJSON or Shapefile). This module reads them
with rasterio and geopandas/pyogrio and counts, for each year of the map, the area of
its three sampling strata inside a boundary (Olofsson et al. 2014, §5.1 and Fig. 3:
stratified random sampling with the map classes as strata, plus a buffer stratum of
stable forest around mapped loss where omitted loss concentrates):

* ``loss``: pixels mapped as lost that year;
* ``buffer``: pixels still forest at the start of the year, not mapped lost that year,
  within ``buffer_pixels`` pixels (king's-move distance) of a pixel mapped lost that year;
* ``stable_forest``: the rest of the forest at the start of the year.

Raster values: ``nodata`` is no forest at the start of the map (or outside it), 0 is
forest never mapped lost, and ``v > 0`` is loss in year ``year_base + v`` (0 for maps
that store the calendar year, 2000 for Hansen's ``lossyear``). A pixel is forest at the
start of year ``y`` if it is 0 or mapped lost in ``y`` or later. A pixel belongs to a
boundary if its centre lies inside it (GDAL's rasterisation rule).

Pixel areas (:func:`pixel_areas_ha`) are planar for a projected CRS and, for a geographic
one, the exact area on the CRS's ellipsoid of each cell between two parallels and two
meridians. Nothing is reprojected: a boundary in another CRS
than the raster is an error, as are a raster without nodata, a boundary that is not a
polygon, a boundary that covers no pixel of the raster.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simulator.errors import DataError

__all__ = [
    "MAP_STRATA",
    "LossMap",
    "Boundary",
    "read_loss_map",
    "read_boundary",
    "boundary_mask",
    "pixel_areas_ha",
    "ellipsoid_cell_area_m2",
    "year_strata",
    "stratum_codes",
    "map_area_rows",
    "file_sha256",
    "stratum_masks",
    "read_class_raster",
    "forest_at_start",
    "format_ha",
    "area_method",
    "MapsImport",
    "import_maps",
]

#: The map strata of each year, in the order their codes number them (1, 2, 3).
MAP_STRATA = ("loss", "buffer", "stable_forest")

#: Geometry types a boundary may hold.
_POLYGONS = {"Polygon", "MultiPolygon"}


@dataclass(frozen=True)
class LossMap:
    """A loss-year raster read whole: the year of loss of every pixel and its grid."""

    path: Path
    loss_year: np.ndarray  # int32 (rows, cols): 0 never lost, else the calendar year
    forest: np.ndarray  # bool (rows, cols): forest at the start of the map (not nodata)
    transform: object  # affine.Affine
    crs: object  # rasterio.crs.CRS
    years: tuple[int, ...]  # every year from the first to the last mapped loss

    @property
    def shape(self) -> tuple[int, int]:
        return self.loss_year.shape


@dataclass(frozen=True)
class Boundary:
    """A boundary's polygons (a GeoDataFrame in the loss raster's CRS) and its file."""

    path: Path
    what: str  # "project", "reference region", ... (named in messages)
    frame: object  # geopandas.GeoDataFrame


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (recorded beside what was read from it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_loss_map(path: Path, year_base: int = 0, years: tuple[int, int] | None = None) -> LossMap:
    """Read a single-band loss-year raster whole, checking its values.

    Parameters
    ----------
    path
        A GeoTIFF (or any raster GDAL reads) of integer loss years with a nodata value.
    year_base
        Added to every positive value: 0 when the raster stores calendar years, 2000
        for Hansen's ``lossyear`` (1 = 2001).
    years
        First and last year of the series (default: the first and last mapped loss).

    Raises
    ------
    DataError
        Not a raster, more than one band, not integers, no nodata value, no CRS, rotated
        pixels, a loss year outside ``years``, or no loss at all.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise DataError(f"{path}: {src.count} bands; a loss-year raster has one")
            dtype = np.dtype(src.dtypes[0])
            if dtype.kind not in "iu":
                raise DataError(f"{path}: band 1 is {dtype}; loss years are integers")
            if src.nodata is None:
                raise DataError(
                    f"{path}: no nodata value; set one (e.g. gdal_edit.py -a_nodata 255) so "
                    "that pixels without forest at the start are not read as forest"
                )
            if src.crs is None:
                raise DataError(f"{path}: no coordinate reference system")
            t = src.transform
            if t.b != 0 or t.d != 0:
                raise DataError(f"{path}: rotated pixels (geotransform {tuple(t)[:6]})")
            band = src.read(1, masked=True)
            crs, transform = src.crs, t
    except RasterioIOError as err:
        raise DataError(f"{path}: not a raster GDAL can read ({err})") from err
    forest = ~np.ma.getmaskarray(band)
    values = np.where(forest, band.filled(0), 0).astype(np.int64)
    if np.any(values < 0):
        raise DataError(f"{path}: band 1 = {int(values.min())}: negative loss year")
    lost = values > 0
    loss_year = np.where(lost, values + year_base, 0).astype(np.int32)
    if not lost.any():
        raise DataError(f"{path}: no pixel is mapped as lost")
    first, last = int(loss_year[lost].min()), int(loss_year[lost].max())
    if years is not None:
        if first < years[0] or last > years[1]:
            bad = first if first < years[0] else last
            raise DataError(
                f"{path}: loss year {bad} (value {bad - year_base}, year base {year_base}) "
                f"is outside the years {years[0]}-{years[1]}"
            )
        first, last = years
    return LossMap(
        path=Path(path),
        loss_year=loss_year,
        forest=forest,
        transform=transform,
        crs=crs,
        years=tuple(range(first, last + 1)),
    )


def read_boundary(path: Path, crs, what: str) -> Boundary:
    """A vector file's polygons, checked to be polygons in the raster's CRS.

    ``what`` names the boundary in messages (``"reference region"``).

    Raises
    ------
    DataError
        Unreadable, empty, a geometry that is not a (multi)polygon, an invalid polygon,
        or another CRS than ``crs`` (nothing is reprojected).
    """
    import geopandas as gpd
    from pyogrio.errors import DataSourceError

    try:
        frame = gpd.read_file(path, engine="pyogrio")
    except (DataSourceError, ValueError) as err:
        raise DataError(f"{path}: not a vector file GDAL can read ({err})") from err
    if frame.empty:
        raise DataError(f"{path}: the {what} has no features")
    types = sorted(set(frame.geom_type.dropna()) - _POLYGONS)
    if types or frame.geometry.isna().any():
        kind = types[0] if types else "empty geometry"
        raise DataError(f"{path}: the {what} holds a {kind}; a boundary is a polygon")
    if frame.crs is None:
        raise DataError(f"{path}: the {what} has no coordinate reference system")
    if not _same_crs(frame.crs, crs):
        raise DataError(
            f"{path}: the {what} is in {_crs_name(frame.crs)}, the loss raster in "
            f"{_crs_name(crs)}; reproject one of them (reddsim does not)"
        )
    invalid = np.flatnonzero(~frame.geometry.is_valid.to_numpy())
    if invalid.size:
        from shapely.validation import explain_validity

        i = int(invalid[0])
        raise DataError(
            f"{path}: the {what}'s feature {i}: invalid polygon "
            f"({explain_validity(frame.geometry.iloc[i])})"
        )
    return Boundary(path=Path(path), what=what, frame=frame)


def _same_crs(a, b) -> bool:
    from pyproj import CRS

    return CRS.from_user_input(a).equals(CRS.from_user_input(b), ignore_axis_order=True)


def _crs_name(crs) -> str:
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    epsg = c.to_epsg()
    return f"EPSG:{epsg}" if epsg else c.name


def boundary_mask(boundary: Boundary, loss_map: LossMap) -> np.ndarray:
    """Pixels of ``loss_map`` whose centre lies inside ``boundary``.

    Raises
    ------
    DataError
        If the boundary covers no pixel centre of the raster (no overlap).
    """
    from rasterio.features import geometry_mask

    inside = geometry_mask(
        list(boundary.frame.geometry),
        out_shape=loss_map.shape,
        transform=loss_map.transform,
        invert=True,
    )
    if not inside.any():
        raise DataError(
            f"{boundary.path}: the {boundary.what} does not overlap the loss raster "
            f"{loss_map.path} (no pixel centre inside it)"
        )
    return inside


def pixel_areas_ha(loss_map: LossMap) -> np.ndarray:
    """Area of one pixel of each raster row, in hectares.

    Projected CRS: |a·e| (the geotransform's pixel width times height) in the CRS's
    linear unit, converted to metres. Geographic CRS: the area on the CRS's ellipsoid of
    the cell between the row's two parallels and one pixel's two meridians,
    :func:`ellipsoid_cell_area_m2`; it depends on the row alone.
    """
    from pyproj import CRS

    t = loss_map.transform
    rows = loss_map.shape[0]
    crs = CRS.from_user_input(loss_map.crs)
    if crs.is_projected:
        factor = crs.axis_info[0].unit_conversion_factor  # metres per CRS unit
        area_m2 = abs(t.a * t.e) * factor**2
        return np.full(rows, area_m2 / 1e4)
    if not crs.is_geographic:
        raise DataError(
            f"{loss_map.path}: CRS {_crs_name(crs)} is neither projected nor geographic"
        )
    ellipsoid = crs.ellipsoid
    edges = t.f + t.e * np.arange(rows + 1)  # latitudes of the rows' edges (degrees)
    return (
        ellipsoid_cell_area_m2(
            edges[:-1], edges[1:], abs(t.a), ellipsoid.semi_major_metre, ellipsoid.semi_minor_metre
        )
        / 1e4
    )


def ellipsoid_cell_area_m2(lat0, lat1, dlon_deg: float, a: float, b: float) -> np.ndarray:
    """Area (m²) on an ellipsoid of the cell between parallels ``lat0``, ``lat1`` (degrees).

    ``dlon_deg`` degrees of longitude wide; ``a``, ``b`` the semi-axes (m). The area from
    the equator to latitude φ per radian of longitude is a² q(φ) / 2 with the authalic
    function q(φ) = (1 − e²) [sin φ / (1 − e² sin² φ) − 1/(2e) ln((1 − e sin φ)/(1 + e sin φ))]
    (Snyder 1987, *Map Projections: A Working Manual*, USGS PP 1395, Eq. 3-12); for a
    sphere (e = 0) q = 2 sin φ.
    """
    e2 = 1.0 - (b / a) ** 2
    e = math.sqrt(e2)

    def q(lat):
        s = np.sin(np.radians(lat))
        if e == 0.0:
            return 2.0 * s
        return (1.0 - e2) * (
            s / (1.0 - e2 * s * s) - np.log((1.0 - e * s) / (1.0 + e * s)) / (2 * e)
        )

    return (
        np.abs(q(np.asarray(lat1, float)) - q(np.asarray(lat0, float)))
        * a
        * a
        / 2.0
        * np.radians(dlon_deg)
    )


def year_strata(loss_map: LossMap, year: int, buffer_pixels: int) -> np.ndarray:
    """Map stratum of every pixel for ``year``: 0 not forest, 1 loss, 2 buffer, 3 stable.

    Forest at the start of ``year``: forest at the start of the map and not mapped lost
    before ``year``. The buffer is forest, not lost in ``year``, within ``buffer_pixels``
    (king's moves) of a pixel lost in ``year``.
    """
    from scipy.ndimage import binary_dilation

    loss_year = loss_map.loss_year
    forest = loss_map.forest & ((loss_year == 0) | (loss_year >= year))
    lost = loss_year == year
    codes = np.zeros(loss_map.shape, dtype=np.int8)
    codes[forest] = 3
    if buffer_pixels > 0 and lost.any():
        near = binary_dilation(
            lost, structure=np.ones((3, 3), dtype=bool), iterations=buffer_pixels
        )
        codes[near & forest] = 2
    codes[lost & forest] = 1
    return codes


def stratum_codes() -> dict[str, int]:
    """Code of each map stratum in :func:`year_strata`'s output."""
    return {name: i + 1 for i, name in enumerate(MAP_STRATA)}


def map_area_rows(
    loss_map: LossMap, inside: np.ndarray, buffer_pixels: int
) -> list[tuple[int, str, float, int]]:
    """``(year, stratum, area_ha, pixels)`` of every year and map stratum inside a boundary.

    Rows are sorted by year and stratum name, as ``map_areas.csv`` is.
    """
    row_area = pixel_areas_ha(loss_map)
    rows = []
    for year in loss_map.years:
        codes = np.where(inside, year_strata(loss_map, year, buffer_pixels), 0)
        for name, code in sorted(stratum_codes().items()):
            per_row = np.count_nonzero(codes == code, axis=1)
            rows.append((year, name, float(per_row @ row_area), int(per_row.sum())))
    return rows


def stratum_masks(path: Path, loss_map: LossMap, project: np.ndarray) -> dict[str, np.ndarray]:
    """Pixels of each carbon stratum: from polygons with a ``stratum`` column, or a raster.

    A vector file's features carry the stratum name in the column ``stratum``; a raster
    (``.tif``) on the loss raster's grid holds an integer class per pixel, named by its
    value. Every forest pixel of the project must lie in exactly one stratum.

    Raises
    ------
    DataError
        No ``stratum`` column, overlapping strata, a raster on another grid, or project
        forest pixels in no stratum.
    """
    path = Path(path)
    if path.suffix.lower() in (".tif", ".tiff"):
        masks = _raster_strata(path, loss_map)
    else:
        boundary = read_boundary(path, loss_map.crs, "strata")
        frame = boundary.frame
        if "stratum" not in frame.columns:
            raise DataError(f"{path}: no column 'stratum' naming each feature's stratum")
        from rasterio.features import geometry_mask

        masks = {}
        for name, group in frame.groupby(frame["stratum"].astype(str), sort=True):
            masks[name] = geometry_mask(
                list(group.geometry),
                out_shape=loss_map.shape,
                transform=loss_map.transform,
                invert=True,
            )
        overlap = np.sum([m.astype(np.int16) for m in masks.values()], axis=0) > 1
        if np.any(overlap & project):
            r, c = np.argwhere(overlap & project)[0]
            raise DataError(f"{path}: strata overlap (pixel row {r}, column {c} is in two)")
    forest = project & loss_map.forest
    covered = np.any([m for m in masks.values()], axis=0)
    missing = int(np.count_nonzero(forest & ~covered))
    if missing:
        raise DataError(
            f"{path}: {missing:,} forest pixels of the project lie in no stratum; every "
            "project pixel needs one"
        )
    return masks


def _raster_strata(path: Path, loss_map: LossMap) -> dict[str, np.ndarray]:
    valid, values = read_class_raster(path, loss_map, "strata")
    return {str(v): valid & (values == v) for v in np.unique(values[valid]).tolist()}


def read_class_raster(
    path: Path, loss_map: LossMap, what: str, require_nodata: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """A one-band raster of integer classes on ``loss_map``'s grid: ``(valid, values)``.

    ``valid`` is False at nodata; ``values`` (int64) is 0 there. ``what`` names the
    raster in messages (``"strata"``, ``"risk"``).

    Raises
    ------
    DataError
        Not a raster, more than one band, not integers, no nodata value (with
        ``require_nodata``), another grid (size or geotransform) or CRS than ``loss_map``.
    """
    import rasterio
    from rasterio.errors import RasterioIOError

    try:
        with rasterio.open(path) as src:
            if src.count != 1:
                raise DataError(f"{path}: {src.count} bands; a {what} raster has one")
            dtype = np.dtype(src.dtypes[0])
            if dtype.kind not in "iu":
                raise DataError(f"{path}: band 1 is {dtype}; {what} classes are integers")
            if require_nodata and src.nodata is None:
                raise DataError(
                    f"{path}: no nodata value; set one (e.g. gdal_edit.py -a_nodata 0) so that "
                    f"pixels outside the {what} classes are not read as a class"
                )
            if (src.height, src.width) != loss_map.shape or src.transform != loss_map.transform:
                raise DataError(
                    f"{path}: grid {src.width}x{src.height} at {tuple(src.transform)[:6]} is "
                    f"not the loss raster's ({loss_map.shape[1]}x{loss_map.shape[0]} at "
                    f"{tuple(loss_map.transform)[:6]})"
                )
            if src.crs is None or not _same_crs(src.crs, loss_map.crs):
                name = _crs_name(src.crs) if src.crs is not None else "no CRS"
                raise DataError(
                    f"{path}: CRS {name} is not the loss raster's {_crs_name(loss_map.crs)}"
                )
            band = src.read(1, masked=True)
    except RasterioIOError as err:
        raise DataError(f"{path}: not a raster GDAL can read ({err})") from err
    valid = ~np.ma.getmaskarray(band)
    values = np.where(valid, band.filled(0), 0).astype(np.int64)
    return valid, values


def forest_at_start(loss_map: LossMap, mask: np.ndarray, year: int) -> tuple[float, int]:
    """Forest area (ha) and pixels within ``mask`` at the start of ``year``."""
    forest = mask & loss_map.forest & ((loss_map.loss_year == 0) | (loss_map.loss_year >= year))
    per_row = np.count_nonzero(forest, axis=1)
    return float(per_row @ pixel_areas_ha(loss_map)), int(per_row.sum())


def format_ha(value: float) -> str:
    """Hectares as written: to the square metre (4 decimals), trailing zeros dropped to one."""
    text = f"{value:.4f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


def area_method(loss_map: LossMap) -> str:
    """How :func:`pixel_areas_ha` measures this raster's pixels (recorded with the areas)."""
    from pyproj import CRS

    crs = CRS.from_user_input(loss_map.crs)
    if crs.is_projected:
        return f"planar, {_crs_name(crs)} ({crs.axis_info[0].unit_name})"
    return f"on the {crs.ellipsoid.name} ellipsoid, cell by cell ({_crs_name(crs)})"


@dataclass(frozen=True)
class MapsImport:
    """What :func:`import_maps` wrote."""

    out_dir: Path
    years: tuple[int, ...]
    files: tuple[str, ...]
    area_method: str
    forest_start_ha: float  # reference region, start of the first year


def import_maps(
    loss: Path,
    project: Path,
    reference_region: Path,
    out_dir: Path,
    belt: Path | None = None,
    strata: Path | None = None,
    year_base: int = 0,
    years: tuple[int, int] | None = None,
    buffer_pixels: int = 2,
) -> MapsImport:
    """Count a loss-year raster inside the boundaries and write the run's map tables.

    Writes, in ``out_dir`` (created whole or not at all):

    * ``map_areas.csv`` -- ``year,stratum,mapped_area_ha`` of the reference region, the
      ``[data] map_areas`` table of a run (the three strata of each year sum to the
      forest at its start);
    * ``forest_areas.csv`` -- ``boundary,stratum,year,forest_area_ha``: the forest of the
      reference region, the project (and each carbon stratum given by ``strata``) and the
      belt at the start of the first year and of the year after the last;
    * ``belt_map_areas.csv`` -- with ``belt``, the belt's map strata as in map_areas.csv;
    * ``maps.json`` -- the inputs' SHA-256, CRS, pixel size, area method, year base,
      buffer width and every count in pixels.

    Raises
    ------
    DataError
        Any bad map (see :func:`read_loss_map`, :func:`read_boundary`,
        :func:`boundary_mask`, :func:`stratum_masks`).
    FileExistsError
        If ``out_dir`` exists and is not empty.
    """
    import json
    import shutil
    import tempfile

    from simulator.files import install_directory

    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir}: exists and is not empty")
    if buffer_pixels < 0:
        raise DataError(f"--buffer-pixels = {buffer_pixels}: must be 0 or more")
    loss_map = read_loss_map(loss, year_base, years)
    boundaries = {
        "reference_region": read_boundary(reference_region, loss_map.crs, "reference region")
    }
    boundaries["project"] = read_boundary(project, loss_map.crs, "project")
    if belt is not None:
        boundaries["leakage_belt"] = read_boundary(belt, loss_map.crs, "leakage belt")
    masks = {name: boundary_mask(b, loss_map) for name, b in boundaries.items()}
    carbon = stratum_masks(strata, loss_map, masks["project"]) if strata is not None else {}

    region_rows = map_area_rows(loss_map, masks["reference_region"], buffer_pixels)
    belt_rows = (
        map_area_rows(loss_map, masks["leakage_belt"], buffer_pixels) if belt is not None else []
    )
    first, after = loss_map.years[0], loss_map.years[-1] + 1
    forest_rows = []
    for name in boundaries:
        groups = {"all": masks[name]}
        if name == "project":
            groups |= {s: masks[name] & m for s, m in carbon.items()}
        for stratum, mask in groups.items():
            for year in (first, after):
                forest_rows.append((name, stratum, year, *forest_at_start(loss_map, mask, year)))

    pixel = pixel_areas_ha(loss_map)
    record = {
        "loss_raster": {
            "path": str(Path(loss)),
            "sha256": file_sha256(loss),
            "crs": _crs_name(loss_map.crs),
            "shape": list(loss_map.shape),
            "geotransform": list(tuple(loss_map.transform)[:6]),
            "year_base": year_base,
        },
        "boundaries": {
            name: {"path": str(b.path), "sha256": file_sha256(b.path), "features": len(b.frame)}
            for name, b in boundaries.items()
        },
        "strata": (
            {"path": str(strata), "sha256": file_sha256(strata), "names": sorted(carbon)}
            if strata is not None
            else None
        ),
        "years": [first, loss_map.years[-1]],
        "buffer_pixels": buffer_pixels,
        "area_method": area_method(loss_map),
        "pixel_area_ha": {"min": float(pixel.min()), "max": float(pixel.max())},
        "pixels": {
            "reference_region": {f"{y}/{s}": n for y, s, _, n in region_rows},
            **({"leakage_belt": {f"{y}/{s}": n for y, s, _, n in belt_rows}} if belt_rows else {}),
        },
    }
    files = ["map_areas.csv", "forest_areas.csv"] + (["belt_map_areas.csv"] if belt_rows else [])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        _write_map_areas(tmp / "map_areas.csv", region_rows)
        if belt_rows:
            _write_map_areas(tmp / "belt_map_areas.csv", belt_rows)
        lines = ["boundary,stratum,year,forest_area_ha"] + [
            f"{b},{s},{y},{format_ha(a)}" for b, s, y, a, _ in forest_rows
        ]
        (tmp / "forest_areas.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (tmp / "maps.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        install_directory(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    region_start = next(
        a for b, s, y, a, _ in forest_rows if b == "reference_region" and y == first
    )
    return MapsImport(
        out_dir=out_dir,
        years=loss_map.years,
        files=tuple(files + ["maps.json"]),
        area_method=record["area_method"],
        forest_start_ha=region_start,
    )


def _write_map_areas(path: Path, rows) -> None:
    lines = ["year,stratum,mapped_area_ha"] + [f"{y},{s},{format_ha(a)}" for y, s, a, _ in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
