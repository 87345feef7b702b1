"""A corpus of bad inputs (tests/data/bad/cases.toml) and a property test over random CSV edits.

Every bad input must stop with a ReddsimError whose message is one line naming the
file and the offending field or value; nothing else may escape (no traceback).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.config import load_config
from simulator.data import load_data
from simulator.errors import ReddsimError
from tests.conftest import LOS_AMIGOS, SERIES_INPUT, copy_run

CASES = tomllib.loads((Path(__file__).parent / "data" / "bad" / "cases.toml").read_text())["case"]


def apply(run: Path, case: dict) -> Path:
    path = run / case["file"]
    if "write" in case:
        path.write_text(case["write"])
    elif "bytes_suffix" in case:
        path.write_bytes(path.read_bytes() + bytes.fromhex(case["bytes_suffix"]))
    elif "append" in case:
        path.write_text(path.read_text() + case["append"])
    else:
        text = path.read_text()
        assert case["find"] in text, case["id"]
        path.write_text(text.replace(case["find"], case["replace"], 1))
    return path


def test_corpus_is_large_and_unique():
    ids = [c["id"] for c in CASES]
    assert len(ids) >= 70 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_gives_one_line_naming_the_file(tmp_path, case):
    run = copy_run(tmp_path / "run", SERIES_INPUT if case.get("series_input") else None)
    path = apply(run, case)
    with pytest.raises(ReddsimError) as info:
        load_data(load_config(run))
    message = str(info.value)
    assert "\n" not in message
    assert case["expect"] in message
    assert str(path) in message or str(run / "run.toml") in message


CSV_FILES = ["plots.csv", "trees.csv", "map_areas.csv", "accuracy_sample.csv", "leakage_belt.csv"]
junk = st.sampled_from(
    ["", "-1", "0", "nan", "inf", "1e308", "abc", "2001.5", " ", "é", "-0"]
    # hostile: a denormal, an overflow, control characters, a quoted newline, markup
    + ["5e-324", "1e309", "\x00", "\x1b[31m", '"a\nerror: x"', "#panic()", "\u202e"]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(file=st.sampled_from(CSV_FILES), row=st.integers(1, 8), col=st.integers(0, 6), value=junk)
def test_random_cell_edits_never_escape_as_tracebacks(tmp_path_factory, file, row, col, value):
    run = copy_run(tmp_path_factory.mktemp("prop") / "run")
    path = run / "data" / file
    lines = path.read_text().splitlines()
    cells = lines[row % len(lines)].split(",")
    cells[col % len(cells)] = value
    lines[row % len(lines)] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    try:
        data = load_data(load_config(run))
    except ReddsimError as err:
        assert str(err).isprintable() and str(run) in str(err)
    else:  # accepted edits keep every number finite
        for table in (data.plots, data.trees, data.leakage_belt, data.deforestation):
            for values in table.values():
                if values.dtype.kind == "f":
                    assert not np.any(np.isinf(values))


def test_los_amigos_itself_is_good():
    load_data(load_config(LOS_AMIGOS))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(file=st.sampled_from(CSV_FILES), col=st.integers(0, 6), value=junk, copy=st.booleans())
def test_random_header_edits_never_escape_as_tracebacks(tmp_path_factory, file, col, value, copy):
    """A header cell replaced by junk or by another column's name (a duplicated column)."""
    run = copy_run(tmp_path_factory.mktemp("prop") / "run")
    path = run / "data" / file
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    header[col % len(header)] = header[(col + 1) % len(header)] if copy else value
    lines[0] = ",".join(header)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReddsimError) as info:
        load_data(load_config(run))
    assert str(info.value).isprintable() and str(path) in str(info.value)


@pytest.mark.parametrize("kind", ["toml-nested-100000-deep", "symlink-loop", "fifo", "huge-toml"])
def test_hostile_files_give_one_line(tmp_path, kind):
    import os

    run = copy_run(tmp_path / "run")
    belt = run / "data" / "leakage_belt.csv"
    if kind == "toml-nested-100000-deep":
        (run / "run.toml").write_text("x = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "huge-toml":
        (run / "run.toml").write_text("# " + "x" * (2 * 2**20) + "\n")
    elif kind == "symlink-loop":
        belt.unlink()
        belt.symlink_to(belt)
    else:
        belt.unlink()
        os.mkfifo(belt)  # reading it would block forever
    with pytest.raises(ReddsimError) as info:
        load_data(load_config(run))
    message = str(info.value)
    assert message.isprintable() and (str(belt) in message or str(run / "run.toml") in message)
