"""``reddsim import maps``, ``sample-design``, ``import sample`` and ``allocate``: maps.

A loss-year raster and its boundaries into a run's map tables; its accuracy sample; and a
risk map's allocation of a jurisdiction's loss to the project (``[deforestation.allocation]``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from simulator.cli.common import USER_ERRORS, app, err, fail, out
from simulator.cli.imports import import_app

__all__ = ["import_maps", "import_sample", "sample_design", "allocate"]


def _years(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    first, sep, last = text.partition("-")
    try:
        if not sep:
            raise ValueError
        a, b = int(first), int(last)
        if a > b:
            raise ValueError
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected FIRST-LAST, e.g. 2001-2020") from None
    return a, b


@import_app.command("maps")
def import_maps(
    loss: Annotated[
        Path, typer.Option("--loss", help="Loss-year raster (GeoTIFF; nodata = no forest).")
    ],
    project: Annotated[Path, typer.Option("--project", help="Project boundary (polygons).")],
    reference_region: Annotated[
        Path, typer.Option("--reference-region", help="Reference-region boundary (polygons).")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to write (must not exist or be empty).")
    ],
    belt: Annotated[
        Path | None, typer.Option("--belt", help="Leakage-belt boundary (polygons).")
    ] = None,
    strata: Annotated[
        Path | None,
        typer.Option(
            "--strata",
            help="Carbon strata of the project: polygons with a 'stratum' column, or a .tif "
            "of integer classes on the loss raster's grid.",
        ),
    ] = None,
    year_base: Annotated[
        int,
        typer.Option(
            "--year-base",
            help="Added to the raster's loss values: 0 if they are calendar years, 2000 for "
            "Hansen's lossyear (1 = 2001).",
        ),
    ] = 0,
    years: Annotated[
        str | None,
        typer.Option("--years", help="FIRST-LAST years of the series (default: the map's)."),
    ] = None,
    buffer_pixels: Annotated[
        int,
        typer.Option(
            "--buffer-pixels", help="Width of the buffer stratum around each year's loss."
        ),
    ] = 2,
) -> None:
    """Write map_areas.csv (and the forest areas) from a loss raster and boundaries.

    Each year's map strata -- loss, a buffer of stable forest around it, and stable
    forest -- are counted inside the reference region (pixel centres inside), in the
    raster's CRS (geodesic areas for a geographic CRS). Nothing is reprojected.
    """
    from simulator.data.maps import import_maps as run_import

    span = _years(years)
    try:
        result = run_import(
            loss,
            project,
            reference_region,
            out_dir,
            belt=belt,
            strata=strata,
            year_base=year_base,
            years=span,
            buffer_pixels=buffer_pixels,
        )
    except USER_ERRORS as e:
        fail(e)
    out.print(
        escape(
            f"imported: {result.out_dir} ({result.years[0]}-{result.years[-1]}, "
            f"{', '.join(result.files)})"
        ),
        highlight=False,
        soft_wrap=True,
    )
    err.print(
        f"areas: {result.area_method}; reference-region forest at the start of "
        f"{result.years[0]}: {result.forest_start_ha:,.1f} ha",
        highlight=False,
        soft_wrap=True,
    )
    err.print(
        escape(f"next: point [data] map_areas of a run.toml at {result.out_dir / 'map_areas.csv'}"),
        highlight=False,
        soft_wrap=True,
    )


@import_app.command("sample")
def import_sample(
    points: Annotated[
        Path, typer.Argument(help="Interpreted points: points.csv or a GeoPackage of points.")
    ],
    loss: Annotated[Path, typer.Option("--loss", help="The loss raster the sample was drawn on.")],
    reference_region: Annotated[
        Path, typer.Option("--reference-region", help="Reference-region boundary (polygons).")
    ],
    out_csv: Annotated[Path, typer.Option("--out", help="accuracy_sample.csv to write.")],
    year_base: Annotated[int, typer.Option("--year-base", help="As for import maps.")] = 0,
    years: Annotated[str | None, typer.Option("--years", help="FIRST-LAST years.")] = None,
    buffer_pixels: Annotated[
        int, typer.Option("--buffer-pixels", help="The buffer width the sample was drawn with.")
    ] = 2,
) -> None:
    """Count interpreted sample points into accuracy_sample.csv.

    Every point must lie inside the reference region, in the map stratum it names in its
    year, and carry a reference class (loss or forest).
    """
    from simulator.data.sample_design import import_sample as run_import

    span = _years(years)
    try:
        counts = run_import(
            points,
            loss,
            reference_region,
            out_csv,
            year_base=year_base,
            years=span,
            buffer_pixels=buffer_pixels,
        )
    except USER_ERRORS as e:
        fail(e)
    out.print(
        escape(f"imported: {out_csv} ({sum(counts.values())} points)"),
        highlight=False,
        soft_wrap=True,
    )


def _sizes(text: str) -> dict[str, int]:
    sizes = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep or int(value) < 0:
                raise ValueError
            sizes[name.strip()] = int(value)
        except ValueError:
            raise typer.BadParameter(
                f"{text!r}: expected STRATUM=N,..., e.g. loss=100,buffer=100,stable_forest=200"
            ) from None
    return sizes


@app.command("sample-design")
def sample_design(
    loss: Annotated[
        Path, typer.Option("--loss", help="Loss-year raster (GeoTIFF; nodata = no forest).")
    ],
    reference_region: Annotated[
        Path, typer.Option("--reference-region", help="Reference-region boundary (polygons).")
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to write (must not exist or be empty).")
    ],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the sample.")],
    sizes: Annotated[
        str,
        typer.Option(
            "--sizes",
            help="Points per map stratum and year, STRATUM=N,... (see "
            "simulator.data.sample_design.olofsson_sample_size and allocate).",
        ),
    ] = "loss=100,buffer=100,stable_forest=200",
    year_base: Annotated[int, typer.Option("--year-base", help="As for import maps.")] = 0,
    years: Annotated[str | None, typer.Option("--years", help="FIRST-LAST years.")] = None,
    buffer_pixels: Annotated[
        int, typer.Option("--buffer-pixels", help="Width of the buffer stratum.")
    ] = 2,
) -> None:
    """Draw each year's stratified random sample of the map strata for interpretation.

    Writes points.csv and points.gpkg (pixel centres, reference_class empty) and
    design.json (seed, sizes, inputs' SHA-256). Olofsson et al. 2014, §5.1.
    """
    from simulator.data.sample_design import design_sample

    wanted = _sizes(sizes)
    span = _years(years)
    try:
        result = design_sample(
            loss,
            reference_region,
            out_dir,
            wanted,
            seed,
            year_base=year_base,
            years=span,
            buffer_pixels=buffer_pixels,
        )
    except USER_ERRORS as e:
        fail(e)
    out.print(
        escape(
            f"sample: {result.out_dir} ({result.n_points} points, "
            f"{result.years[0]}-{result.years[-1]})"
        ),
        highlight=False,
        soft_wrap=True,
    )


def _mean_sd(text: str) -> tuple[float, float]:
    from simulator.errors import DataError

    mean, sep, sd = text.partition(",")
    try:
        if not sep:
            raise ValueError
        return float(mean), float(sd)
    except ValueError:
        fail(DataError(f"--jurisdiction-loss {text!r}: expected MEAN,SD in ha/yr, e.g. 18000,1000"))


@app.command("allocate")
def allocate(
    risk: Annotated[
        Path,
        typer.Option(
            "--risk",
            help="Risk-class raster (integers 1..K, nodata elsewhere) on the loss raster's grid.",
        ),
    ],
    loss: Annotated[
        Path, typer.Option("--loss", help="Loss-year raster (GeoTIFF; nodata = no forest).")
    ],
    jurisdiction: Annotated[
        Path, typer.Option("--jurisdiction", help="Jurisdiction boundary (polygons).")
    ],
    project: Annotated[Path, typer.Option("--project", help="Project boundary (polygons).")],
    years: Annotated[
        str,
        typer.Option(
            "--years",
            help="FIRST-LAST historical reference period, whose loss calibrates each class.",
        ),
    ],
    jurisdiction_loss: Annotated[
        str,
        typer.Option(
            "--jurisdiction-loss",
            help="MEAN,SD of the jurisdiction's projected annual loss (ha/yr).",
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", help="Directory to write (must not exist or be empty).")
    ],
    year_base: Annotated[int, typer.Option("--year-base", help="As for import maps.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the share's draws.")] = 20_240_601,
    draws: Annotated[int, typer.Option("--draws", help="Draws of the share.")] = 4000,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print allocation.json on stdout.")
    ] = False,
) -> None:
    """Allocate the jurisdiction's projected loss over a risk map: the project's risk share.

    Each class's relative frequency of loss in the historical period, times the pixel
    area, is scaled to the jurisdiction's expected loss, each pixel capped at its area
    (Clark Labs' UDef-ARP, the tool of Verra's VT0007). The project's share comes with
    its uncertainty from the classes' pixel counts. Writes allocation.toml (a
    [deforestation.allocation] table), allocation.csv and allocation.json.
    """
    import json

    from simulator.data.risk_map import allocate as run_allocate

    span = _years(years)
    mean_sd = _mean_sd(jurisdiction_loss)
    try:
        result = run_allocate(
            risk,
            loss,
            jurisdiction,
            project,
            out_dir,
            span,
            mean_sd,
            year_base=year_base,
            seed=seed,
            draws=draws,
        )
    except USER_ERRORS as e:
        fail(e)
    if as_json:
        out.print_json(json.dumps({"out_dir": str(result.out_dir), **result.record}))
        return
    lo, hi = result.share_interval
    out.print(
        escape(
            f"allocated: {result.out_dir} ({result.classes} classes, "
            f"{result.years[0]}-{result.years[1]}, {', '.join(result.files)})"
        ),
        highlight=False,
        soft_wrap=True,
    )
    out.print(
        f"risk share: {result.share:.4g} of the map; {result.share_mean:.4g} "
        f"(sd {result.share_sd:.2g}, 90% {lo:.4g}-{hi:.4g}) over {draws} draws = "
        f"Beta({result.alpha:.4g}, {result.beta:.4g}); the project's baseline "
        f"{result.project_ha_yr:,.1f} ha/yr at the jurisdiction's mean",
        highlight=False,
        soft_wrap=True,
    )
    err.print(
        escape(
            f"next: copy {result.out_dir / 'allocation.toml'}'s [deforestation.allocation] into "
            'a run.toml with baseline = "allocated"'
        ),
        highlight=False,
        soft_wrap=True,
    )
