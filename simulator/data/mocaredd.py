"""Import a FAO mocaredd workbook into a reddsim run directory.

mocaredd (Open Foris, MIT) estimates REDD+ emission reductions and their
uncertainty by Monte Carlo from a spreadsheet template: activity data per land-use
transition (``AD_lu_transitions``) times emission factors from carbon-stock
differences (``c_stocks``), over reference and monitoring periods
(``time_periods``), with options in ``user_inputs``. :func:`import_mocaredd` maps
that onto a reddsim run: forest classes that are deforested become strata with
``carbon_stocks.csv``, the reference period's deforestation becomes the
``deforestation.csv`` series, monitoring periods become ``monitoring.csv``, and
the post-deforestation classes give ``C_post``. What has no equivalent is refused
with a one-line error or listed as ignored in the import notes; ``docs/mocaredd.md``
gives the whole mapping.

The workbook is read with openpyxl in read-only, data-only mode: cached cell
values only, nothing in the file is executed. The run directory is written beside
its final place and renamed into it when complete.

References
----------
FAO Open Foris mocaredd, ``R/fct_make_mcs.R``, ``R/fct_combine_mcs_cpools.R``,
``R/fct_make_formula.R``, ``R/fct_combine_mcs_E.R``, ``R/fct_combine_mcs_P.R``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import shutil
import tomllib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from models.allometry import CO2_PER_C
from simulator.config.load import validate_config
from simulator.data.tables import SCHEMAS, read_bytes, read_table
from simulator.errors import DataError, describe_os_error, one_line
from simulator.files import install_directory

__all__ = [
    "REQUIRED",
    "MAX_WORKBOOK_BYTES",
    "MAX_ROWS",
    "MAX_COLUMNS",
    "MAX_CELL_CHARS",
    "ImportResult",
    "read_workbook",
    "import_mocaredd",
    "import_mocaredd_mode",
    "read_mocaredd_inputs",
    "MocareddInputs",
    "MocareddSettings",
    "MocareddPeriod",
    "MocareddTransition",
    "MocareddElement",
    "Pdf",
]

#: Sheets and the columns reddsim reads from each (other columns are labels).
REQUIRED = {
    "user_inputs": (
        "trunc_pdf",
        "n_iter",
        "ran_seed",
        "c_unit",
        "c_fraction",
        "c_fraction_se",
        "c_fraction_pdf",
        "dg_ext",
        "dg_pool",
        "ad_annual",
        "conf_level",
    ),
    "time_periods": ("period_no", "year_start", "year_end", "period_type"),
    "AD_lu_transitions": (
        "trans_id",
        "trans_period",
        "lu_initial_id",
        "lu_final_id",
        "trans_area",
        "trans_se",
        "trans_pdf",
        "redd_activity",
    ),
    "c_stocks": ("c_period", "c_element", "c_lu_id", "c_value", "c_se", "c_pdf"),
}
ELEMENTS = ("AGB", "BGB", "RS", "DW", "LI", "SOC", "ALL", "DG_ratio")

_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")

#: Bounds of what is read from a workbook, checked before the sheets are parsed: a
#: mocaredd workbook is a few hundred rows of a few dozen columns, a few kilobytes each.
MAX_WORKBOOK_BYTES = 64 * 2**20  # uncompressed size of every part of the .xlsx together
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MAX_CELL_CHARS = 10_000


@dataclass
class Cell:
    """A cell value with where it came from (for error messages)."""

    value: object
    where: str  # e.g. "sheet c_stocks, cell G5 (c_value)"

    def fail(self, why: str) -> DataError:
        return DataError(f"{self.where} = {self.value!r}: {why}")

    @property
    def missing(self) -> bool:
        v = self.value
        return v is None or (isinstance(v, str) and v.strip() in ("", "NA"))

    def number(self, lo: float = -math.inf, hi: float = math.inf) -> float:
        v = self.value
        if isinstance(v, bool) or not isinstance(v, int | float):
            if isinstance(v, str):
                try:
                    v = float(v.strip())
                except ValueError:
                    raise self.fail("not a number") from None
            else:
                raise self.fail("not a number" if v is not None else "empty, a number is needed")
        v = float(v)
        if not math.isfinite(v):
            raise self.fail("must be finite")
        if v < lo:
            raise self.fail(f"must be >= {lo:g}" if lo != 0 else "must not be negative")
        if v > hi:
            raise self.fail(f"must be <= {hi:g}")
        return v

    def integer(self) -> int:
        v = self.number()
        if v != int(v):
            raise self.fail("not a whole number")
        return int(v)

    def text(self) -> str:
        if self.missing:
            raise self.fail("empty, a value is needed")
        return str(self.value).strip()

    def boolean(self) -> bool:
        v = self.value
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.strip().upper() in ("TRUE", "FALSE"):
            return v.strip().upper() == "TRUE"
        raise self.fail("must be TRUE or FALSE")


Row = dict[str, Cell]


def _check_archive(path: Path) -> None:
    """Refuse an .xlsx whose parts would decompress beyond :data:`MAX_WORKBOOK_BYTES`."""
    try:
        with zipfile.ZipFile(path) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile, ValueError) as err:
        raise DataError(f"{path}: not a readable .xlsx workbook ({type(err).__name__})") from err
    if total > MAX_WORKBOOK_BYTES:
        raise DataError(
            f"{path}: its parts decompress to {total:,} bytes; a mocaredd workbook is at "
            f"most {MAX_WORKBOOK_BYTES:,}"
        )


def read_workbook(path: Path) -> dict[str, list[Row]]:
    """The four mocaredd sheets as rows of :class:`Cell` (header in row 1, blank rows skipped).

    The archive's decompressed size, each sheet's declared range and each cell's
    length are bounded (:data:`MAX_WORKBOOK_BYTES`, :data:`MAX_ROWS`,
    :data:`MAX_COLUMNS`, :data:`MAX_CELL_CHARS`); the XML is parsed by defusedxml
    (openpyxl uses it when installed), which refuses entity declarations.

    Raises
    ------
    DataError
        Unreadable file, missing sheet or missing column, a bound exceeded, XML that
        declares entities.
    """
    import openpyxl  # the spreadsheet reader only when importing

    path = Path(path)
    _check_archive(path)
    # The file is opened here and closed here: an error in the middle of a sheet (the
    # sheets are parsed lazily) must not leave the archive open.
    with open(path, "rb") as fh:
        try:
            # read_only + data_only: cached values only; formulas and macros are never run.
            wb = openpyxl.load_workbook(fh, read_only=True, data_only=True)
        except Exception as err:  # openpyxl raises many types for a bad file
            raise DataError(f"{path}: not a readable .xlsx workbook ({_reason(err)})") from err
        try:
            return {n: _read_sheet(path, wb, n, columns) for n, columns in REQUIRED.items()}
        except DataError:
            raise
        except Exception as err:  # the sheets are parsed while iterating
            raise DataError(f"{path}: not a readable .xlsx workbook ({_reason(err)})") from err
        finally:
            wb.close()


def _reason(err: Exception) -> str:
    text = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def _read_sheet(path: Path, wb, name: str, columns) -> list[Row]:
    if name not in wb.sheetnames:
        raise DataError(
            f"{path}: missing sheet {name!r} (a mocaredd workbook has "
            f"{', '.join(REQUIRED)}; found {', '.join(map(repr, wb.sheetnames))})"
        )
    ws = wb[name]
    if (ws.max_row or 0) > MAX_ROWS or (ws.max_column or 0) > MAX_COLUMNS:
        raise DataError(
            f"{path}: sheet {name} declares {ws.max_row:,} rows x {ws.max_column:,} columns; "
            f"at most {MAX_ROWS:,} x {MAX_COLUMNS} are read"
        )
    rows = []
    cells = ws.iter_rows(values_only=True)
    try:
        for r, values in enumerate(cells, start=1):
            if r > MAX_ROWS or len(values) > MAX_COLUMNS:
                raise DataError(
                    f"{path}: sheet {name}: more than {MAX_ROWS:,} rows or {MAX_COLUMNS} columns"
                )
            for j, v in enumerate(values):
                if isinstance(v, str) and len(v) > MAX_CELL_CHARS:
                    raise DataError(
                        f"{path}: sheet {name}, cell {_letter(j)}{r}: {len(v):,} characters; "
                        f"a cell holds at most {MAX_CELL_CHARS:,}"
                    )
            rows.append(values)
    finally:
        cells.close()  # an early error must not leave the archive member open
    header = [str(h).strip() if h is not None else "" for h in (rows[0] if rows else [])]
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}: sheet {name}, row 1: missing column(s) {', '.join(missing)}")
    out = []
    for r, values in enumerate(rows[1:], start=2):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        row = {}
        for j, col in enumerate(header):
            if col:
                value = values[j] if j < len(values) else None
                where = f"{path}: sheet {name}, cell {_letter(j)}{r} ({col})"
                row[col] = Cell(value, where)
        out.append(row)
    return out


def _letter(j: int) -> str:
    """0 -> A, 25 -> Z, 26 -> AA."""
    s = ""
    j += 1
    while j:
        j, r = divmod(j - 1, 26)
        s = chr(65 + r) + s
    return s


@dataclass
class ImportResult:
    """The run directory written and what the import ignored or approximated."""

    run_dir: Path
    strata: list[str]
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Period:
    name: str
    first: int
    last: int
    kind: str  # "REF" or "MON..."

    @property
    def years(self) -> list[int]:
        return list(range(self.first, self.last + 1))


def _moments_product(m1, v1, m2, v2):
    """Mean and variance of X * Y for independent X, Y (Goodman 1960, exact)."""
    return m1 * m2, m1**2 * v2 + m2**2 * v1 + v1 * v2


def _land_use_moments(pools: dict[str, tuple[float, float]], unit: str, cf) -> tuple[float, float]:
    """Mean and variance (tC/ha) of a land use's total stock, pools independent.

    The same formula as :func:`models.biomass.stock_carbon_tc` (mocaredd's
    ``(AGB + BGB) * CF + DW + LI + SOC``, BGB = AGB * RS), in moments.
    """
    if "ALL" in pools:
        m, sd = pools["ALL"]
        return m, sd**2
    m, v = pools["AGB"][0], pools["AGB"][1] ** 2
    if "BGB" in pools:
        m, v = m + pools["BGB"][0], v + pools["BGB"][1] ** 2
    elif "RS" in pools:
        m, v = _moments_product(m, v, 1.0 + pools["RS"][0], pools["RS"][1] ** 2)
    if unit == "DM":
        m, v = _moments_product(m, v, cf[0], cf[1] ** 2)
    for pool in ("DW", "LI", "SOC"):
        if pool in pools:
            m, v = m + pools[pool][0], v + pools[pool][1] ** 2
    return m, v


def import_mocaredd(
    workbook: Path,
    out: Path,
    areas: dict[str, float],
    leakage_belt: Path,
    buffer_pct: float,
    standard: str = "VM0007-1.8",
    start_year: int | None = None,
    years: int = 10,
    seed: int | None = None,
) -> ImportResult:
    """Write a reddsim run directory from a mocaredd workbook.

    Parameters
    ----------
    workbook : Path
        The mocaredd ``.xlsx`` (sheets ``user_inputs``, ``time_periods``,
        ``AD_lu_transitions``, ``c_stocks``).
    out : Path
        Run directory to create (must not exist).
    areas : dict of str to float
        Forest area (ha) of each deforested land-use class at the start of the
        crediting period: mocaredd has no class areas, reddsim's simulation needs them.
    leakage_belt : Path
        ``leakage_belt.csv`` (mocaredd has no leakage data), copied into the run.
    buffer_pct : float
        Non-permanence risk rating (%), ``[accounting].buffer_pct``.
    standard : str
        ``[accounting].standard``.
    start_year : int, optional
        First crediting year; default the year after the workbook's last period.
    years : int
        Length of the crediting period.
    seed : int, optional
        Overrides ``user_inputs.ran_seed`` (needed when that is NA).

    Returns
    -------
    ImportResult

    Raises
    ------
    DataError
        One line naming the sheet, cell, column and value; nothing is written.
    """
    workbook, out = Path(workbook), Path(out)
    if out.exists():
        raise DataError(f"{out}: already exists; choose a new run directory")
    sheets = read_workbook(workbook)
    notes: list[str] = []

    usr = _user_inputs(sheets["user_inputs"], seed, notes)
    periods = _periods(sheets["time_periods"])
    stocks = _stocks(sheets["c_stocks"], usr, notes)
    df = _transitions(sheets["AD_lu_transitions"], periods, stocks, notes)

    ref = [p for p in periods.values() if p.kind == "REF"]
    ref_df = [t for t in df if periods[t["period"]].kind == "REF"]
    strata = list(dict.fromkeys(t["initial"] for t in ref_df))
    if not strata:
        raise DataError(
            f"{workbook}: sheet AD_lu_transitions: no DF (deforestation) transition in a REF "
            "period; reddsim's baseline needs the reference period's deforestation"
        )
    for name in strata:
        if not _NAME.match(name):
            raise DataError(
                f"{workbook}: sheet AD_lu_transitions, column lu_initial_id = {name!r}: reddsim "
                "stratum names may hold only letters, digits, _ and -"
            )
    missing = [s for s in strata if s not in areas]
    unknown = [s for s in areas if s not in strata]
    if missing or unknown:
        parts = [f"give --area {s}=HA" for s in missing]
        parts += [f"--area {s}: not a deforested class of the workbook" for s in unknown]
        raise DataError(
            f"{workbook}: forest area per class is not in a mocaredd workbook: "
            + "; ".join(parts)
            + f" (classes: {', '.join(strata)})"
        )
    for s in strata:
        if not 0 < areas[s] <= 1e9:
            raise DataError(f"--area {s}={areas[s]:g}: must be > 0 and <= 1e9 ha")

    stock_rows = _stratum_stocks(workbook, strata, stocks, usr)
    post = _post_conversion(workbook, ref_df, stocks, usr, notes)
    series = _loss_series(workbook, ref, ref_df, usr["ad_annual"], sum(areas.values()), notes)
    monitoring = _monitoring(periods, df, series, usr["ad_annual"], notes)
    last_year = max(p.last for p in periods.values())
    start = start_year if start_year is not None else last_year + 1

    # Everything is built and validated in memory; the directory is written only then.
    files = {
        "data/carbon_stocks.csv": _csv_bytes(SCHEMAS["carbon_stocks"], stock_rows),
        "data/deforestation.csv": _csv_bytes(SCHEMAS["deforestation"], series),
        "data/leakage_belt.csv": read_bytes(Path(leakage_belt)),
    }
    if monitoring:
        files["data/monitoring.csv"] = _csv_bytes(SCHEMAS["project_monitoring"], monitoring)
    toml = _run_toml(
        workbook, strata, areas, usr, post, start, years, standard, buffer_pct, monitoring
    )
    files["run.toml"] = toml.encode("utf-8")
    files["IMPORT.md"] = _notes_md(workbook, notes).encode("utf-8")
    config = validate_config(tomllib.loads(toml), out / "run.toml", "as imported")
    for name, rel in config.data.files().items():
        read_table(out / rel, SCHEMAS[name], files[rel.as_posix()])

    tmp = out.parent / f".{out.name}.incomplete-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        (tmp / "data").mkdir()
        for rel, content in files.items():
            (tmp / rel).write_bytes(content)
        install_directory(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(
            f"{out}: cannot write the run directory ({describe_os_error(err)})"
        ) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportResult(out, strata, notes)


# --------------------------------------------------------------------------- sheets


def _user_inputs(rows: list[Row], seed: int | None, notes: list[str]) -> dict:
    if len(rows) != 1:
        where = f"sheet user_inputs: {len(rows)} data rows"
        raise DataError(f"{where}; the template has exactly one (row 2)")
    r = rows[0]
    unit = r["c_unit"].text()
    if unit not in ("C", "DM"):
        raise r["c_unit"].fail("must be C or DM")
    usr = {
        "trunc_pdf": r["trunc_pdf"].boolean(),
        "n_iter": r["n_iter"].integer(),
        "c_unit": unit,
        "ad_annual": r["ad_annual"].boolean(),
        "conf_level": r["conf_level"].number(0, 1),
        "cf": None,
    }
    if usr["n_iter"] < 100:
        raise r["n_iter"].fail("reddsim simulates at least 100 draws")
    if seed is not None:
        usr["seed"] = seed
        notes.append(f"user_inputs.ran_seed replaced by --seed {seed}.")
    elif r["ran_seed"].missing:
        raise r["ran_seed"].fail("NA: reddsim runs are reproducible, give --seed")
    else:
        usr["seed"] = r["ran_seed"].integer()
    if unit == "DM":
        pdf = r["c_fraction_pdf"].text()
        if pdf != "normal":
            raise r["c_fraction_pdf"].fail("reddsim's carbon fraction is normal only")
        usr["cf"] = (r["c_fraction"].number(0, 1), r["c_fraction_se"].number(0, 1))
        if usr["cf"][1] == 0:
            raise r["c_fraction_se"].fail("must be > 0 (reddsim samples the carbon fraction)")
    elif not r["c_fraction"].missing:
        notes.append("user_inputs.c_fraction ignored: c_unit is C.")
    notes.append(
        "user_inputs.trunc_pdf = "
        f"{str(usr['trunc_pdf']).upper()}: reddsim always truncates carbon stocks at zero "
        "(a normal truncated at 0; mocaredd's TRUE sets negative draws to 0, FALSE keeps them)."
    )
    notes.append(
        f"user_inputs.conf_level = {usr['conf_level']:g} not used: the confidence level is the "
        "standard's ([accounting].standard)."
    )
    for key in ("dg_ext", "dg_pool"):
        if not r[key].missing:
            notes.append(f"user_inputs.{key} ignored: reddsim does not model degradation.")
    return usr


def _periods(rows: list[Row]) -> dict[str, _Period]:
    periods: dict[str, _Period] = {}
    for r in rows:
        name = r["period_no"].text()
        if name in periods:
            raise r["period_no"].fail("period listed twice")
        first, last = r["year_start"].integer(), r["year_end"].integer()
        if not 1900 <= first <= 2100:
            raise r["year_start"].fail("must be a year between 1900 and 2100")
        if not first <= last <= 2100:
            raise r["year_end"].fail(f"must be a year from year_start ({first}) to 2100")
        kind = r["period_type"].text()
        if kind != "REF" and not kind.startswith("MON"):
            raise r["period_type"].fail("must be REF or MON... (e.g. MON1)")
        periods[name] = _Period(name, first, last, kind)
    if not any(p.kind == "REF" for p in periods.values()):
        raise DataError("sheet time_periods, column period_type: no REF period")
    return periods


def _stocks(rows: list[Row], usr: dict, notes: list[str]) -> dict:
    """Stocks by land use: {lu: {element: (mean, sd, row)}}."""
    stocks: dict[str, dict] = {}
    for r in rows:
        lu = r["c_lu_id"].text()
        element = r["c_element"].text()
        if element not in ELEMENTS:
            raise r["c_element"].fail(f"must be one of {', '.join(ELEMENTS)}")
        if element == "DG_ratio":
            notes.append(f"c_stocks DG_ratio of {lu} ignored: reddsim does not model degradation.")
            stocks.setdefault(lu, {})[element] = None
            continue
        if r["c_value"].missing:
            notes.append(f"{r['c_value'].where}: NA, pool {element} of {lu} not counted.")
            continue
        period = r["c_period"].text()
        if period != "ALL":
            raise r["c_period"].fail(
                "stocks per time period have no reddsim equivalent (one stock per class); use ALL"
            )
        pdf = r["c_pdf"].text()
        if pdf != "normal":
            raise r["c_pdf"].fail("reddsim takes carbon stocks as normal (mean, SD) only")
        hi = 10.0 if element == "RS" else 1e4
        mean, sd = r["c_value"].number(0, hi), r["c_se"].number(0, hi)
        entry = stocks.setdefault(lu, {})
        if element in entry:
            raise r["c_element"].fail(f"land use {lu} lists it twice")
        entry[element] = (mean, sd, r)
    return stocks


def _transition_keys(r: Row, periods, land_uses) -> tuple[str, str, str]:
    """A transition row's period and land uses, each checked against its sheet."""
    period = r["trans_period"].text()
    if period not in periods:
        raise r["trans_period"].fail(
            f"not a period_no of sheet time_periods ({', '.join(periods)})"
        )
    initial, final = r["lu_initial_id"].text(), r["lu_final_id"].text()
    for key, lu in (("lu_initial_id", initial), ("lu_final_id", final)):
        if lu not in land_uses:
            raise r[key].fail("no carbon stock for this land use in sheet c_stocks (c_lu_id)")
    return period, initial, final


def _transitions(rows: list[Row], periods: dict, stocks: dict, notes: list[str]) -> list[dict]:
    """DF transitions (validated); other REDD+ activities are reported as ignored."""
    out, ignored = [], {}
    for r in rows:
        period, initial, final = _transition_keys(r, periods, stocks)
        area, se = r["trans_area"].number(0), r["trans_se"].number(0)
        activity = r["redd_activity"].text()
        if activity != "DF":
            n, a = ignored.get(activity, (0, 0.0))
            ignored[activity] = (n + 1, a + area)
            continue
        pdf = r["trans_pdf"].text()
        if pdf != "normal":
            raise r["trans_pdf"].fail("reddsim takes activity data as normal (area, SE) only")
        out.append({"period": period, "initial": initial, "final": final, "area": area, "se": se})
    for activity, (n, a) in sorted(ignored.items()):
        notes.append(
            f"AD_lu_transitions: {n} {activity} transitions ({a:,.0f} ha) ignored: reddsim "
            "models deforestation (DF) only."
        )
    return out


# --------------------------------------------------------------------------- mapping


def _stratum_stocks(workbook: Path, strata: list[str], stocks: dict, usr: dict) -> list[dict]:
    rows = []
    for name in strata:
        pools = stocks[name]
        if "ALL" in pools:
            raise pools["ALL"][2]["c_element"].fail(
                f"forest class {name} needs its pools (AGB, BGB or RS, DW, LI, SOC), not a total"
            )
        if "AGB" not in pools:
            raise DataError(f"{workbook}: sheet c_stocks: no AGB row for forest class {name}")
        for element in ("AGB", "BGB", "RS", "DW", "LI", "SOC"):
            if element not in pools:
                continue
            mean, sd, r = pools[element]
            if mean == 0 and sd == 0:
                continue  # a pool of zero adds nothing (mocaredd adds 0 too)
            if sd == 0:
                raise r["c_se"].fail(
                    "a stock without uncertainty: reddsim samples every stock (give its SE)"
                )
            if mean == 0:
                raise r["c_value"].fail("zero mean with a positive SE: reddsim needs mean > 0")
            unit = "ratio" if element == "RS" else "tC/ha"
            if usr["c_unit"] == "DM" and element in ("AGB", "BGB"):
                unit = "tDM/ha"
            rows.append({"stratum": name, "pool": element, "unit": unit, "mean": mean, "sd": sd})
    return rows


def _post_conversion(workbook: Path, ref_df: list[dict], stocks: dict, usr: dict, notes):
    """C_post (tCO2e/ha): post-deforestation stocks weighted by reference-period DF area."""
    weights: dict[str, float] = {}
    for t in ref_df:
        weights[t["final"]] = weights.get(t["final"], 0.0) + t["area"]
    total = sum(weights.values())
    if total <= 0:
        raise DataError(
            f"{workbook}: sheet AD_lu_transitions, column trans_area: the REF period's DF areas "
            "sum to 0"
        )
    mean = sd = 0.0
    for lu, w in weights.items():
        pools = {k: v[:2] for k, v in stocks[lu].items() if v is not None}
        if "ALL" not in pools and "AGB" not in pools:
            raise DataError(
                f"{workbook}: sheet c_stocks: land use {lu} has neither ALL nor AGB rows"
            )
        m, v = _land_use_moments(pools, usr["c_unit"], usr["cf"])
        mean += w / total * m
        sd += w / total * math.sqrt(v)  # fully correlated across classes: the larger SD
    if mean <= 0 or sd <= 0:
        raise DataError(
            f"{workbook}: sheet c_stocks: post-deforestation stock {mean:g} ± {sd:g} tC/ha; "
            "reddsim's C_post needs a positive mean and SD"
        )
    notes.append(
        f"C_post = {mean * CO2_PER_C:.2f} ± {sd * CO2_PER_C:.2f} tCO2e/ha: the post-deforestation "
        f"stocks of {', '.join(weights)} weighted by their REF-period DF area (one C_post for "
        "all strata in reddsim; SDs added as fully correlated, the conservative choice)."
    )
    return mean * CO2_PER_C, sd * CO2_PER_C


def _annual(transitions: list[dict], period: _Period, ad_annual: bool) -> tuple[float, float]:
    """Annual loss and the SE of one year's figure, from a period's transitions.

    mocaredd's period figure is an annual mean (``ad_annual``) or a period total. Spread
    over the n years of the period as n annual observations, each with SE x sqrt(n): their
    mean then carries exactly the workbook's SE, no more information than it states.
    """
    n = len(period.years)
    loss = sum(t["area"] for t in transitions)
    se = math.sqrt(sum(t["se"] ** 2 for t in transitions))  # independent, as mocaredd samples
    if not ad_annual:
        loss, se = loss / n, se / n
    return loss, se * math.sqrt(n)


def _loss_series(workbook, ref, ref_df, ad_annual, forest_now, notes) -> list[dict]:
    rows = []
    for p in sorted(ref, key=lambda p: p.first):
        loss, se = _annual([t for t in ref_df if t["period"] == p.name], p, ad_annual)
        if se <= 0:
            raise DataError(
                f"{workbook}: sheet AD_lu_transitions, column trans_se: period {p.name}: the DF "
                "areas have zero SE; reddsim's rate model needs a positive SE"
            )
        rows += [{"year": y, "loss_ha": loss, "loss_se_ha": se} for y in p.years]
        if len(p.years) > 1:
            notes.append(
                f"REF period {p.name} ({p.first}-{p.last}): {loss:,.1f} ha/yr spread over "
                f"{len(p.years)} years, each with SE × √{len(p.years)} = {se:,.1f} ha (no "
                "year-to-year information in the workbook)."
            )
    years = [r["year"] for r in rows]
    if years != list(range(years[0], years[0] + len(years))):
        raise DataError(
            f"{workbook}: sheet time_periods: REF periods cover {years[0]}-{years[-1]} with gaps "
            "or overlaps; reddsim's loss series needs consecutive years"
        )
    # Forest at the start of each reference year: today's forest plus the later reference
    # losses (losses between the reference period and the crediting start are not known).
    remaining = forest_now
    for r in reversed(rows):
        remaining += r["loss_ha"]
        r["forest_area_ha"] = remaining
    notes.append(
        "forest_area_ha of the reference years = the --area total plus the reference losses "
        "after that year (mocaredd has no forest area; losses after the reference period are "
        "not added, so the reference rate is slightly overstated)."
    )
    return rows


def _monitoring(periods, df, series, ad_annual, notes) -> list[dict]:
    """Monitoring-period DF loss against the reference mean: updates the effectiveness."""
    expected = sum(r["loss_ha"] for r in series) / len(series)
    rows = []
    for p in sorted((p for p in periods.values() if p.kind != "REF"), key=lambda p: p.first):
        loss, se = _annual([t for t in df if t["period"] == p.name], p, ad_annual)
        if se <= 0:
            raise DataError(
                f"sheet AD_lu_transitions, column trans_se: period {p.name}: the DF areas have "
                "zero SE; reddsim's monitoring needs a positive SE"
            )
        rows += [
            {
                "year": y,
                "expected_loss_ha": expected,
                "observed_loss_ha": loss,
                "observed_se_ha": se,
            }
            for y in p.years
        ]
    if rows:
        years = [r["year"] for r in rows]
        if years != list(range(years[0], years[0] + len(years))):
            notes.append(
                f"monitoring years {years} are not consecutive: reddsim needs consecutive "
                "years, so the monitoring periods are not imported."
            )
            return []
        notes.append(
            f"MON periods → monitoring.csv: observed DF loss per year against the REF mean "
            f"({expected:,.1f} ha/yr, its uncertainty not carried), which updates the "
            "effectiveness e (mocaredd's ER = E_REF - E_MON)."
        )
    return rows


# --------------------------------------------------------------------------- writing


def _csv_bytes(schema: dict, rows: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(list(schema))
    for row in rows:
        writer.writerow([_fmt(row[c]) for c in schema])
    return buf.getvalue().encode("utf-8")


def _toml(value) -> str:
    """``value`` as a TOML value, written by tomli-w (strings quoted and escaped)."""
    return tomli_w.dumps({"v": value})[len("v = ") :].rstrip("\n")


def _fmt(v) -> str:
    if isinstance(v, float):
        return repr(round(v, 6))
    return str(v)


def _run_toml(
    workbook, strata, areas, usr, post, start, years, standard, buffer_pct, monitoring
) -> str:
    lines = [
        "# Imported from a mocaredd workbook by `reddsim import mocaredd` (IMPORT.md names it).",
        "# IMPORT.md lists what was mapped, approximated and ignored. Lines marked REVIEW are",
        "# not in the workbook: reddsim's defaults or command-line options.",
        "schema_version = 1",
        "",
        "[project]",
        f"name = {_toml(workbook.stem)}",
        f"description = {_toml(f'imported from mocaredd workbook {workbook.name}')}",
        "",
    ]
    for s in strata:
        lines += [
            "[[project.strata]]",
            f"name = {_toml(s)}",
            f"area_ha = {_toml(float(areas[s]))}"
            "  # REVIEW: --area (forest area at the crediting start)",
            "relative_risk = 1.0  # REVIEW: not in the workbook",
            "",
        ]
    lines += [
        "[crediting]",
        f"start_year = {start}",
        f"years = {years}",
        "",
        "[data]",
        'carbon_stocks = "data/carbon_stocks.csv"',
        'deforestation = "data/deforestation.csv"',
        'leakage_belt = "data/leakage_belt.csv"  # REVIEW: --leakage-belt, not in the workbook',
    ]
    if monitoring:
        lines.append('project_monitoring = "data/monitoring.csv"')
    lines += [""]
    if usr["cf"] is not None:
        lines += [
            "[biomass]",
            f"carbon_fraction = {{ mean = {usr['cf'][0]!r}, sd = {usr['cf'][1]!r} }}",
            "",
        ]
    lines += [
        "[deforestation]",
        "# REVIEW: no highway covariate in mocaredd; paving after every modelled year: h_t = 0",
        "highway_paving = [2100, 2100]",
        'projection = "constant"',
        "effectiveness = { alpha = 1, beta = 1 }  # REVIEW: uniform prior"
        + ("; updated by monitoring.csv" if monitoring else ""),
        "post_conversion_tco2e_ha = "
        f"{{ mean = {round(post[0], 4)!r}, sd = {round(post[1], 4)!r} }}",
        "",
        "[leakage]",
        "displacement = { alpha = 1, beta = 1 }  # REVIEW: uniform prior",
        "",
        "[simulation]",
        f"n_draws = {usr['n_iter']}  # user_inputs.n_iter",
        f"seed = {usr['seed']}  # user_inputs.ran_seed",
        "",
        "[accounting]",
        f"standard = {_toml(standard)}  # REVIEW",
        f"buffer_pct = {_toml(float(buffer_pct))}  # REVIEW: --buffer-pct",
        "",
    ]
    return "\n".join(lines)


def _notes_md(workbook: Path, notes: list[str]) -> str:
    sha = hashlib.sha256(Path(workbook).read_bytes()).hexdigest()
    body = "\n".join(f"- {one_line(n)}" for n in notes)
    return (
        f"# Imported from mocaredd\n\nSource: `{one_line(workbook.name)}` (SHA-256 `{sha}`).\n"
        "Mapping of every sheet and column: docs/mocaredd.md in the reddsim repository.\n\n"
        f"## Ignored or approximated\n\n{body}\n"
    )


# --------------------------------------------------------------------------- exact inputs
#
# What mocaredd itself simulates, read without re-modelling: every transition (all REDD+
# activities), every carbon element (DG_ratio included), normal and beta pdfs. The
# accounting that reproduces mocaredd is simulator.accounting.mocaredd.

PDFS = ("normal", "beta")


@dataclass(frozen=True)
class Pdf:
    """One input mocaredd draws (``fct_make_mcs``): ``normal(mean, se)`` or ``beta(a, b)``."""

    pdf: str
    mean: float = math.nan
    se: float = math.nan
    a: float = math.nan
    b: float = math.nan


@dataclass(frozen=True)
class MocareddSettings:
    """``user_inputs`` as mocaredd reads it."""

    n_iter: int
    seed: int | None
    trunc_pdf: bool
    c_unit: str  # "C" or "DM"
    c_fraction: Pdf | None  # drawn only with c_unit DM and a numeric c_fraction
    dg_ext: str | None
    dg_pool: str | None
    ad_annual: bool
    conf_level: float


@dataclass(frozen=True)
class MocareddPeriod:
    period_no: str
    year_start: int
    year_end: int
    period_type: str

    @property
    def nb_years(self) -> int:
        """``year_end - year_start + 1`` (``R/mod_tool_server.R``, before the simulations)."""
        return self.year_end - self.year_start + 1


@dataclass(frozen=True)
class MocareddTransition:
    trans_id: str
    period: str
    initial: str
    final: str
    activity: str
    area: Pdf


@dataclass(frozen=True)
class MocareddElement:
    lu: str
    element: str
    value: Pdf


@dataclass(frozen=True)
class MocareddInputs:
    """A workbook's four sheets, as mocaredd's ``fct_combine_mcs_E`` uses them."""

    settings: MocareddSettings
    periods: tuple[MocareddPeriod, ...]
    transitions: tuple[MocareddTransition, ...]
    elements: tuple[MocareddElement, ...]
    sha256: str = ""


def _pdf(row: Row, pdf_col: str, mean_col: str, se_col: str, prefix: str, hi: float) -> Pdf:
    pdf = row[pdf_col].text()
    if pdf not in PDFS:
        raise row[pdf_col].fail("mocaredd draws normal or beta only")
    if pdf == "normal":
        return Pdf("normal", row[mean_col].number(0, hi), row[se_col].number(0, hi))
    a, b = row.get(f"{prefix}_pdf_a"), row.get(f"{prefix}_pdf_b")
    if a is None or b is None:
        raise row[pdf_col].fail(f"beta needs columns {prefix}_pdf_a and {prefix}_pdf_b")
    shape_a, shape_b = a.number(0, 1e6), b.number(0, 1e6)
    # fct_make_mcs rounds the shapes to 3 decimals before drawing
    for cell, v in ((a, shape_a), (b, shape_b)):
        if round(v, 3) <= 0:
            raise cell.fail("a beta shape must be > 0 (at 3 decimals)")
    return Pdf("beta", a=shape_a, b=shape_b)


def read_mocaredd_inputs(workbook: Path) -> MocareddInputs:
    """Read a workbook as mocaredd simulates it (``R/fct_combine_mcs_E.R``).

    Rows are kept as mocaredd keeps them: an ``AD_lu_transitions`` row unless both
    ``trans_area`` and ``trans_pdf_a`` are NA. Only what mocaredd itself cannot compute
    is refused: a ``c_stocks`` row with both ``c_value`` and ``c_pdf_a`` NA (mocaredd
    drops its draws but keeps the element in the land use's formula, so the stock would
    be NA), carbon stocks per time period (``c_period`` other than ``ALL``: "not yet implemented" in
    ``fct_combine_mcs_E``), pdfs other than normal and beta, land uses without stocks,
    transitions in unknown periods, more than one ``REF`` period type.

    Raises
    ------
    DataError
        One line naming the sheet, cell, column and value.
    """
    workbook = Path(workbook)
    sheets = read_workbook(workbook)
    usr_rows = sheets["user_inputs"]
    if len(usr_rows) != 1:
        raise DataError(
            f"{workbook}: sheet user_inputs: {len(usr_rows)} data rows; the template has exactly "
            "one (row 2)"
        )
    u = usr_rows[0]
    unit = u["c_unit"].text()
    if unit not in ("C", "DM"):
        raise u["c_unit"].fail("must be C or DM")
    cf = None
    # fct_combine_mcs_E: CF is drawn when c_fraction is numeric and c_unit is DM
    if unit == "DM" and not u["c_fraction"].missing:
        pdf = u["c_fraction_pdf"].text()
        if pdf != "normal":
            raise u["c_fraction_pdf"].fail("mocaredd draws the carbon fraction as normal")
        cf = Pdf("normal", u["c_fraction"].number(0, 1), u["c_fraction_se"].number(0, 1))
    n_iter = u["n_iter"].integer()
    if not 100 <= n_iter <= 10**8:
        raise u["n_iter"].fail("must be from 100 to 1e8")
    conf = u["conf_level"].number(0, 1)
    if not 0 < conf < 1:
        raise u["conf_level"].fail("must be between 0 and 1")
    settings = MocareddSettings(
        n_iter=n_iter,
        seed=None if u["ran_seed"].missing else u["ran_seed"].integer(),
        trunc_pdf=u["trunc_pdf"].boolean(),
        c_unit=unit,
        c_fraction=cf,
        dg_ext=None if u["dg_ext"].missing else u["dg_ext"].text(),
        dg_pool=None if u["dg_pool"].missing else u["dg_pool"].text(),
        ad_annual=u["ad_annual"].boolean(),
        conf_level=conf,
    )

    periods: dict[str, MocareddPeriod] = {}
    for r in sheets["time_periods"]:
        name = r["period_no"].text()
        if name in periods:
            raise r["period_no"].fail("period listed twice")
        first, last = r["year_start"].integer(), r["year_end"].integer()
        if not first <= last:
            raise r["year_end"].fail(f"must not be before year_start ({first})")
        periods[name] = MocareddPeriod(name, first, last, r["period_type"].text())
    ref_types = {p.period_type for p in periods.values() if "REF" in p.period_type}
    if len(ref_types) != 1:
        raise DataError(
            f"{workbook}: sheet time_periods, column period_type: {len(ref_types)} reference "
            "types (containing REF); mocaredd's ER joins exactly one"
        )

    elements: list[MocareddElement] = []
    seen = set()
    for r in sheets["c_stocks"]:
        if r["c_value"].missing and (r.get("c_pdf_a") is None or r["c_pdf_a"].missing):
            # fct_combine_mcs_E drops the row from the draws but builds each land use's
            # formula (and dg_pool's excluded pools) from the unfiltered sheet: the pool
            # would enter the stock as NA
            raise r["c_value"].fail(
                "NA: mocaredd's stock formula would still include this element (the land "
                "use's stock would be NA); give a value or delete the row"
            )
        if r["c_period"].text() != "ALL":
            raise r["c_period"].fail(
                "mocaredd computes stocks for c_period ALL only (fct_combine_mcs_E)"
            )
        lu, element = r["c_lu_id"].text(), r["c_element"].text()
        if element not in ELEMENTS:
            raise r["c_element"].fail(f"must be one of {', '.join(ELEMENTS)}")
        if (lu, element) in seen:
            raise r["c_element"].fail(f"land use {lu} lists it twice")
        seen.add((lu, element))
        elements.append(MocareddElement(lu, element, _pdf(r, "c_pdf", "c_value", "c_se", "c", 1e6)))
    lus = {e.lu for e in elements}

    transitions = []
    for r in sheets["AD_lu_transitions"]:
        if r["trans_area"].missing and (r.get("trans_pdf_a") is None or r["trans_pdf_a"].missing):
            continue
        period, initial, final = _transition_keys(r, periods, lus)
        transitions.append(
            MocareddTransition(
                r["trans_id"].text(),
                period,
                initial,
                final,
                r["redd_activity"].text(),
                _pdf(r, "trans_pdf", "trans_area", "trans_se", "trans", 1e10),
            )
        )
    if not transitions:
        raise DataError(f"{workbook}: sheet AD_lu_transitions: no transition with an area")
    sha = hashlib.sha256(workbook.read_bytes()).hexdigest()
    return MocareddInputs(
        settings, tuple(periods.values()), tuple(transitions), tuple(elements), sha
    )


def import_mocaredd_mode(workbook: Path, out: Path, seed: int | None = None) -> ImportResult:
    """Write a mocaredd-mode run directory: the workbook as mocaredd computes it.

    What ``reddsim import mocaredd WORKBOOK --out DIR`` writes when no forest areas,
    leakage belt or buffer are given: ``data/workbook.xlsx`` (a byte copy),
    ``run.toml`` with ``[accounting] mode = "mocaredd"``
    (:mod:`simulator.config.mocaredd`), ``n_draws = user_inputs.n_iter``,
    ``seed = user_inputs.ran_seed`` (or ``seed``), and ``IMPORT.md``. The workbook is
    checked by :func:`read_mocaredd_inputs` first: nothing is written for a workbook
    mocaredd itself could not compute.

    Raises
    ------
    DataError
        One line naming the sheet, cell, column and value; nothing is written.
    """
    workbook, out = Path(workbook), Path(out)
    if out.exists():
        raise DataError(f"{out}: already exists; choose a new run directory")
    inputs = read_mocaredd_inputs(workbook)
    s = inputs.settings
    notes = []
    if seed is None:
        if s.seed is None:
            raise DataError(
                f"{workbook}: sheet user_inputs, column ran_seed = NA: reddsim runs are "
                "reproducible, give --seed"
            )
        seed = s.seed
    else:
        notes.append(f"user_inputs.ran_seed replaced by --seed {seed}.")
    if not 0 <= seed < 2**63:
        raise DataError(f"seed {seed}: must be from 0 to 2^63 - 1")
    types = list(dict.fromkeys(p.period_type for p in inputs.periods))
    activities = sorted({t.activity for t in inputs.transitions})
    notes += [
        f"mocaredd mode: every transition ({len(inputs.transitions)}, activities "
        f"{', '.join(activities)}) and carbon element ({len(inputs.elements)}) simulated as "
        "mocaredd simulates them; no forest areas, leakage or buffer.",
        f"period types {', '.join(types)}; confidence level {s.conf_level:g} "
        f"(user_inputs.conf_level), trunc_pdf = {str(s.trunc_pdf).upper()}, ad_annual = "
        f"{str(s.ad_annual).upper()}, c_unit = {s.c_unit}.",
        "draws are NumPy PCG64, not R's Mersenne Twister: the numbers agree with mocaredd's "
        "within Monte Carlo error, not draw for draw.",
    ]
    toml = "\n".join(
        [
            "# Imported from a mocaredd workbook by `reddsim import mocaredd` (IMPORT.md names"
            " it).",
            "# mocaredd mode: `reddsim run` computes the workbook's REF, MON and ER as mocaredd",
            "# does (docs/mocaredd.md). The workbook's other settings are read from it.",
            "schema_version = 1",
            "",
            "[project]",
            f"name = {_toml(workbook.stem)}",
            f"description = {_toml(f'mocaredd workbook {workbook.name}, as mocaredd computes it')}",
            "",
            "[data]",
            'workbook = "data/workbook.xlsx"',
            "",
            "[simulation]",
            f"n_draws = {s.n_iter}  # user_inputs.n_iter",
            f"seed = {seed}  # user_inputs.ran_seed",
            "",
            "[accounting]",
            'mode = "mocaredd"',
            "",
        ]
    )
    from simulator.config.load import validate_mocaredd_config

    validate_mocaredd_config(tomllib.loads(toml), out / "run.toml", "as imported")
    tmp = out.parent / f".{out.name}.incomplete-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
        (tmp / "data").mkdir()
        (tmp / "data" / "workbook.xlsx").write_bytes(workbook.read_bytes())
        (tmp / "run.toml").write_text(toml, encoding="utf-8")
        (tmp / "IMPORT.md").write_text(_notes_md(workbook, notes), encoding="utf-8")
        install_directory(tmp, out)
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(
            f"{out}: cannot write the run directory ({describe_os_error(err)})"
        ) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ImportResult(out, [], notes)
