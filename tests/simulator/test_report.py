"""Rebuilding a run's appendix from its stored source (``reddsim report``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.errors import OutputError
from simulator.report import rebuild_appendix
from tests.conftest import fake_manifest

#: A stand-in for a run's stored template: the rebuild must use it, not the package's.
TYP = '#let d = json("appendix.json")\n= #d.project\nCredits: #d.credits\n'


def _run_dir(tmp_path: Path, doc: dict | None = None) -> Path:
    out = tmp_path / "run"
    out.mkdir()
    (out / "manifest.json").write_text(json.dumps(fake_manifest()))
    (out / "appendix.typ").write_text(TYP)
    (out / "appendix.json").write_text(json.dumps(doc or {"project": "P", "credits": "1,234"}))
    return out


def test_rebuild_uses_the_stored_source(tmp_path):
    out = _run_dir(tmp_path)
    pdf = rebuild_appendix(out)
    assert pdf == out / "appendix.pdf" and pdf.read_bytes().startswith(b"%PDF")
    assert sorted(p.name for p in out.iterdir()) == [
        "appendix.json",
        "appendix.pdf",
        "appendix.typ",
        "manifest.json",
    ]


@pytest.mark.parametrize(
    ("setup", "fragment"),
    [
        (lambda d: d / "nowhere", "no such run directory"),
        (lambda d: (d / "manifest.json").unlink() or d, "not a reddsim run directory"),
        (lambda d: (d / "appendix.typ").unlink() or d, "appendix.typ: missing"),
        (lambda d: (d / "appendix.json").unlink() or d, "appendix.json: missing"),
        (lambda d: (d / "appendix.json").write_text("{nope") and d, "not readable JSON"),
    ],
)
def test_rebuild_errors_are_one_line(tmp_path, setup, fragment):
    target = setup(_run_dir(tmp_path))
    with pytest.raises(OutputError) as info:
        rebuild_appendix(target)
    assert fragment in str(info.value) and "\n" not in str(info.value)


def test_a_failed_compile_keeps_the_old_pdf(tmp_path):
    out = _run_dir(tmp_path)
    old = rebuild_appendix(out).read_bytes()
    (out / "appendix.typ").write_text(TYP + '#image("figures/missing.png")\n')
    with pytest.raises(OutputError, match="typst cannot compile it"):
        rebuild_appendix(out)
    assert (out / "appendix.pdf").read_bytes() == old
    assert not list(out.glob(".appendix*"))


def test_failed_gates_without_override_are_refused(tmp_path):
    doc = {"project": "P", "credits": "1", "gates": {"passed": False, "override": ""}}
    with pytest.raises(OutputError, match="gates failed and were not overridden"):
        rebuild_appendix(_run_dir(tmp_path, doc))
    overridden = tmp_path / "overridden"
    overridden.mkdir()
    doc["gates"]["override"] = "--allow-unconverged"
    assert rebuild_appendix(_run_dir(overridden, doc)).is_file()


def _config_from_stocks():
    """The Los Amigos configuration, its biomass from stated carbon stocks instead of plots."""
    from simulator.config import load_config, validate_config
    from tests.conftest import LOS_AMIGOS

    raw = load_config(LOS_AMIGOS).config.model_dump(mode="json")
    raw["data"].update(plots=None, trees=None, carbon_stocks="data/carbon_stocks.csv")
    return validate_config(raw, LOS_AMIGOS / "run.toml")


def test_priors_are_listed_under_their_own_model_for_a_stock_run():
    """A run from carbon stocks has fewer biomass priors: none shifts to another model."""
    from simulator.report.appendix import _priors

    rows = {r["name"]: r["model"] for r in _priors(_config_from_stocks())}
    assert rows["log-hazard intercept a"] == "deforestation"
    assert rows["process noise σ (marginal SD)"] == "deforestation"
    assert rows["effectiveness e (vs the regional hazard)"] == "deforestation"
    assert rows["post-conversion carbon (tCO2e/ha)"] == "deforestation"
    assert rows["leakage displacement λ"] == "leakage"
    assert rows["belt counterfactual error log κ"] == "leakage"
    assert [m for m in rows.values()].count("biomass") == 2  # the stock and CF rows


def test_importing_the_report_leaves_matplotlib_alone():
    """A notebook that imports the report keeps its backend and rcParams."""
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); before = dict(matplotlib.rcParams)\n"
        "import simulator.report.writer, simulator.report.figures.simulation\n"
        "after = dict(matplotlib.rcParams)\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "assert before == after, {k for k in before if before[k] != after[k]}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_appendix_names_the_whole_period_row_by_its_years():
    """Its deduction is not the sum of the years': it is not shown as a 'total'."""
    import xarray as xr

    from simulator.report.appendix import period_name

    summary = xr.Dataset(coords={"period": ["2026", "2027", "2028", "total"]})
    assert period_name("2027", summary) == "2027"
    assert period_name("total", summary) == "2026–2028 (whole period)"


def test_every_figure_legend_names_its_place():
    """``loc="best"`` times its own search and warns when it takes over a second, so a figure
    drawn on a loaded machine warns (an error under the test suite) where the same figure on an
    idle one does not; every legend the appendix draws is placed explicitly."""
    import ast

    import simulator.report.figures as figures

    unplaced = []
    for path in sorted(Path(figures.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "legend"
                and not any(k.arg == "loc" for k in node.keywords)
            ):
                unplaced.append(f"{path.name}:{node.lineno}")
    assert unplaced == []


def _small_tree(seed: int = 0):
    import numpy as np
    import xarray as xr

    gen = np.random.default_rng(seed)
    post = xr.Dataset(
        {
            "a": (("chain", "draw"), gen.normal(size=(4, 200))),
            "b": (("chain", "draw", "k"), gen.normal(size=(4, 200, 2))),
        },
        coords={"chain": range(4), "draw": range(200), "k": ["x", "y"]},
    )
    return xr.DataTree.from_dict({"m/posterior": post})


def test_rank_figures_drawn_by_the_child_are_those_drawn_here(tmp_path, monkeypatch):
    from simulator.report.figures.sampling import fig_rank, rank_figures

    tree = _small_tree()
    tree.to_netcdf(tmp_path / "posterior.nc", engine="h5netcdf")
    (tmp_path / "here").mkdir()
    (tmp_path / "child").mkdir()
    fig_rank(tmp_path / "here" / "rank_m.png", tree["m"], ["a", "b"])
    monkeypatch.chdir(tmp_path)  # paths relative to this process's directory
    with rank_figures(Path("posterior.nc"), Path("child"), {"m": ["a", "b"]}) as paths:
        pass
    assert paths == [Path("child") / "rank_m.png"]
    assert paths[0].read_bytes() == (tmp_path / "here" / "rank_m.png").read_bytes()


def test_a_failing_rank_figure_process_is_an_error_with_its_message(tmp_path):
    from simulator.report.figures.sampling import rank_figures

    _small_tree().to_netcdf(tmp_path / "posterior.nc", engine="h5netcdf")
    with pytest.raises(RuntimeError, match=r"rank figures: .*no_such_variable"):
        with rank_figures(tmp_path / "posterior.nc", tmp_path, {"m": ["no_such_variable"]}):
            pass
    assert not (tmp_path / "rank_m.png").exists()


def test_the_rank_figure_process_is_stopped_when_the_run_fails(tmp_path, monkeypatch):
    import subprocess

    from simulator.report.figures import sampling

    started = []
    popen = subprocess.Popen

    def spy(*args, **kwargs):
        started.append(popen(*args, **kwargs))
        return started[-1]

    monkeypatch.setattr(sampling.subprocess, "Popen", spy)
    _small_tree().to_netcdf(tmp_path / "posterior.nc", engine="h5netcdf")
    with pytest.raises(KeyboardInterrupt):
        with sampling.rank_figures(tmp_path / "posterior.nc", tmp_path, {"m": ["a"]}):
            raise KeyboardInterrupt
    assert started[0].returncode is not None  # killed and reaped, not left running
    assert not (tmp_path / "rank_m.png").exists()


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_the_rank_figure_process_dies_with_a_killed_run(tmp_path):
    """SIGKILL cannot be caught: the child notices its parent is gone and writes nothing."""
    import signal
    import subprocess
    import sys
    import time

    _small_tree().to_netcdf(tmp_path / "posterior.nc", engine="h5netcdf")
    code = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from simulator.report.figures.sampling import rank_figures\n"
        "with rank_figures(Path(sys.argv[1]), Path(sys.argv[2]), {'m': ['a', 'b']}):\n"
        "    print('started', flush=True)\n"
        "    time.sleep(600)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "posterior.nc"), str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout.readline().strip() == "started"
    [child] = _children(parent.pid)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    parent.stdout.close()
    deadline = time.monotonic() + 60
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(child), "the rank-figure process outlived its run"
    time.sleep(1)
    assert not (tmp_path / "rank_m.png").exists()
