"""Batches on dask.distributed: bit-identical to serial runs, resumable, validated specs."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from simulator.engine.streaming import BLOCK_SIZE, HISTOGRAMMED, QUANTITIES, stream
from simulator.errors import ConfigError, ReddsimError
from simulator.orchestration.batch import (
    SUMMARY_COLUMNS,
    dask_runner,
    load_batch,
    plan_members,
    run_batch,
)
from simulator.report.tables import TABLE_COLUMNS
from tests.conftest import SMALL_SAMPLER, copy_run, fake_manifest, make_inputs

PS = [0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975]


def _two_worker_client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.fixture(scope="module")
def client():
    """One cluster for the tests that leave its workers alive."""
    yield from _two_worker_client()


@pytest.fixture
def doomed_client():
    """A cluster of its own for a test that kills workers, so no other test waits on restarts."""
    yield from _two_worker_client()


# a nanny restarts a killed worker in seconds, but far slower on a loaded machine
RESTART_TIMEOUT_S = 300


@pytest.fixture(scope="module")
def inputs():
    return make_inputs(np.random.default_rng(11), n_years=8)


def _kill_a_busy_worker(client, pids) -> tuple[str, list]:
    """SIGKILL the process of a worker that has a task in hand; its address and tasks."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        busy = {w: list(keys) for w, keys in client.processing().items() if keys}
        if busy:
            worker, keys = next(iter(busy.items()))
            os.kill(pids[worker], signal.SIGKILL)
            return worker, keys
        time.sleep(0.005)
    raise AssertionError("no worker was busy")


def _identical(a, b):
    """Every statistic a run uses: means and SDs of each quantity, quantiles, convergence."""
    assert a.n_draws == b.n_draws
    for q in QUANTITIES:
        assert np.array_equal(a[q].mean, b[q].mean), q
        assert np.array_equal(a[q].sd, b[q].sd), q
    for q in HISTOGRAMMED:
        assert np.array_equal(a[q].quantile(PS), b[q].quantile(PS)), q
        assert np.array_equal(a[q].quantile_mcse(0.05), b[q].quantile_mcse(0.05)), q
    for key in a.convergence:
        assert np.array_equal(a.convergence[key], b.convergence[key]), key


def _kill_the_holders_of_the_inputs(client, pids) -> list[str]:
    """SIGKILL every worker that holds the kernel inputs the chunks share; their addresses."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        holders = {
            w
            for key, workers in client.who_has().items()
            if "inputs" in str(key).lower()
            for w in workers
        }
        if holders:
            for worker in holders:
                os.kill(pids[worker], signal.SIGKILL)
            return sorted(holders)
        time.sleep(0.005)
    raise AssertionError("no worker held the inputs")


# --------------------------------------------------------------------------- chunks on Dask


def test_chunks_on_two_processes_are_bit_identical_to_serial(client, inputs):
    n = 5 * BLOCK_SIZE + 12_345  # six chunks after the pilot block, the last one partial
    serial = stream(inputs, n, seed=9, chunk_size=BLOCK_SIZE)
    seen = []
    runner = dask_runner(client, max_in_flight=2, on_chunk=lambda d, t: seen.append((d, t)))
    distributed = stream(inputs, n, seed=9, chunk_size=BLOCK_SIZE, runner=runner)
    _identical(serial, distributed)
    assert seen[-1] == (5, 5)  # the pilot block runs on the driver, five chunks on the cluster


def _stream_killing_after_the_first_chunk(client, inputs, n, seed, kill):
    """Serial and Dask streams of the same draws; ``kill(client, pids)`` after the first chunk.

    Returns the two streams and what ``kill`` returned.
    """
    serial = stream(inputs, n, seed=seed, chunk_size=2 * BLOCK_SIZE)
    pids = client.run(os.getpid)
    first_chunk = threading.Event()
    killed = []

    def killer():  # beside the driver, so that the stream goes on meanwhile
        first_chunk.wait(60)
        killed.append(kill(client, pids))

    thread = threading.Thread(target=killer)
    thread.start()
    runner = dask_runner(client, max_in_flight=2, on_chunk=lambda done, total: first_chunk.set())
    distributed = stream(inputs, n, seed=seed, chunk_size=2 * BLOCK_SIZE, runner=runner)
    thread.join()
    assert killed, "nothing was killed"
    return serial, distributed, killed[0]


def test_a_killed_worker_changes_no_number(doomed_client, inputs):
    client = doomed_client
    serial, distributed, (worker, lost) = _stream_killing_after_the_first_chunk(
        client, inputs, 40 * BLOCK_SIZE, 4, _kill_a_busy_worker
    )
    _identical(serial, distributed)
    assert lost, "the killed worker had a chunk in hand"
    client.wait_for_workers(2, timeout=RESTART_TIMEOUT_S)  # the nanny restarted it
    assert worker not in client.scheduler_info()["workers"]


def test_losing_every_worker_that_holds_the_inputs_changes_no_number(doomed_client, inputs):
    """The inputs are scattered again and the cancelled chunks resubmitted, not lost."""
    serial, distributed, holders = _stream_killing_after_the_first_chunk(
        doomed_client, inputs, 24 * BLOCK_SIZE, 5, _kill_the_holders_of_the_inputs
    )
    _identical(serial, distributed)
    assert holders


# --------------------------------------------------------------------------- batch specs


@pytest.fixture
def small(tmp_path) -> Path:
    copy_run(tmp_path / "run", SMALL_SAMPLER)
    return tmp_path


def _spec(where: Path, text: str) -> Path:
    path = where / "batch.toml"
    path.write_text("schema_version = 1\n" + text)
    return path


def test_runs_and_sweeps_expand_with_their_overrides(small):
    path = _spec(
        small,
        """
[[runs]]
name = "base"
config = "run"
seed = 7
set = { "deforestation.effectiveness" = { alpha = 10, beta = 5 }, "project.strata.1.area_ha" = 2e4 }

[[sweeps]]
name = "s"
config = "run/run.toml"
n_draws = 5000
over = { seed = [1, 2], "leakage.displacement.alpha" = [2.0, 3.0] }
""",
    )
    batch = load_batch(path)
    assert batch.name == "batch" and [m.name for m in batch.members] == [
        "base",
        "s-00",
        "s-01",
        "s-02",
        "s-03",
    ]
    base = batch.members[0].spec.config
    assert base.simulation.seed == 7
    assert (base.deforestation.effectiveness.alpha, base.deforestation.effectiveness.beta) == (
        10,
        5,
    )
    assert base.project.strata[1].area_ha == 2e4
    got = [
        (m.spec.config.simulation.seed, m.spec.config.leakage.displacement.alpha)
        for m in batch.members[1:]
    ]
    assert got == [(1, 2.0), (1, 3.0), (2, 2.0), (2, 3.0)]
    assert all(m.spec.config.simulation.n_draws == 5000 for m in batch.members[1:])
    assert len({m.digest for m in batch.members}) == 5


BAD = [
    ('[[runs]]\nnme = "a"\nconfig = "run"\n', "runs.0.nme: unknown key (did you mean 'name'?)"),
    ("[batch]\nretries = 1\n", "a batch needs [[runs]], [[sweeps]] or [huge]"),
    ('[[runs]]\nname = "a"\nconfig = "run"\nseed = -1\n', "runs.0.seed = -1"),
    ('[[runs]]\nname = "a b"\nconfig = "run"\n', "runs.0.name = 'a b'"),
    (
        '[[runs]]\nname = "a"\nconfig = "run"\nset = { "deforestation.efectiveness.alpha" = 3 }\n',
        "no config field 'efectiveness' (did you mean 'effectiveness'?)",
    ),
    (
        '[[runs]]\nname = "a"\nconfig = "run"\n'
        'set = { "deforestation.effectiveness.alpha" = -2 }\n',
        "run.toml: [deforestation.effectiveness].alpha = -2",
    ),
    (
        '[[runs]]\nname = "a"\nconfig = "run"\nset = { "data.plots" = "x.csv" }\n',
        "[data] files cannot be overridden",
    ),
    (
        '[[runs]]\nname = "a"\nconfig = "run"\nset = { "project.strata.9.area_ha" = 1 }\n',
        "'9' is not an index of a 4-item list",
    ),
    ('[[runs]]\nname = "a"\nconfig = "nowhere"\n', "no such run configuration"),
    (
        '[[runs]]\nname = "s-00"\nconfig = "run"\n[[sweeps]]\nname = "s"\nconfig = "run"\n'
        "over = { seed = [1] }\n",
        "member names must be unique, repeated: s-00",
    ),
    ('[[sweeps]]\nname = "s"\nconfig = "run"\nover = { seed = [] }\n', "sweeps.0.over.seed"),
    ('[huge]\nconfig = "run"\nchunk_size = 0\n', "huge.chunk_size = 0"),
    ("schema_version = 2\n", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_batch_specs_give_one_line_errors(small, text, expected):
    path = _spec(small, text)
    with pytest.raises(ConfigError) as info:
        load_batch(path)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert expected in message


def test_cli_bad_spec_exits_2_with_one_line(small):
    path = _spec(small, '[[runs]]\nname = "a"\nconfig = "run"\nseed = -1\n')
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "batch", str(path), "--out", str(small / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "runs.0.seed = -1" in result.stderr and "Traceback" not in result.stderr
    assert not (small / "out").exists()


# --------------------------------------------------------------------------- resume


def _fake_complete_run(member_root: Path, digest: str, run_id: str, ner: float) -> Path:
    """A run directory as the pipeline leaves it, reduced to what a batch reads."""
    run = member_root / run_id
    (run / "tables").mkdir(parents=True)
    manifest = fake_manifest(run_id) | {"config_sha256": digest, "n_draws": 4000}
    (run / "manifest.json").write_text(json.dumps(manifest))
    rows = ["period," + ",".join(TABLE_COLUMNS)]
    rows.append("total," + ",".join(repr(ner + i) for i in range(len(TABLE_COLUMNS))))
    (run / "tables" / "summary.csv").write_text("\n".join(rows) + "\n")
    return run


@pytest.fixture
def three(small) -> Path:
    return _spec(
        small,
        '[[sweeps]]\nname = "s"\nconfig = "run"\nover = { seed = [1, 2, 3] }\n',
    )


def test_resume_skips_complete_members_only(three, tmp_path):
    batch = load_batch(three)
    out = tmp_path / "out"
    s0, s1, s2 = batch.members
    done = _fake_complete_run(out / "s-00", s0.digest, "20260101T000000Z-aaaa", 1.5e6)
    _fake_complete_run(out / "s-01", "0" * 64, "20260101T000000Z-bbbb", 1.0)  # another config
    (out / "s-02" / ".incomplete-20260101T000000Z-cccc-123").mkdir(parents=True)  # killed

    with pytest.raises(ReddsimError, match="already holds a batch.*--resume"):
        plan_members(batch, out, resume=False)
    resumed, todo = plan_members(batch, out, resume=True)
    assert [(r.member.name, r.status, r.run_dir) for r in resumed] == [("s-00", "resumed", done)]
    assert [m.name for m in todo] == ["s-01", "s-02"]
    assert not (out / "s-02").exists()  # the partial run directory is gone


def test_a_recomputed_member_task_returns_its_finished_run(three, tmp_path, monkeypatch):
    """Dask recomputes a finished task whose result died with its worker: no second run."""
    from simulator.orchestration import batch as batch_module
    from simulator.orchestration import pipeline

    def must_not_run(*args, **kwargs):
        raise AssertionError("the pipeline ran again for a member that is complete")

    monkeypatch.setattr(pipeline, "run", must_not_run)
    m = load_batch(three).members[0]
    done = _fake_complete_run(tmp_path / "s-00", m.digest, "20260101T000000Z-aaaa", 1.5e6)
    _fake_complete_run(tmp_path / "s-00", "0" * 64, "20260101T000001Z-bbbb", 1.0)
    outcome = batch_module._execute_member(m.spec, str(tmp_path / "s-00"), m.digest, 1)
    assert outcome == ("done", str(done))
    with pytest.raises(AssertionError, match="ran again"):  # another digest does run
        batch_module._execute_member(m.spec, str(tmp_path / "s-00"), "1" * 64, 1)


def test_cli_resume_of_a_finished_batch_runs_nothing(three, tmp_path):
    batch = load_batch(three)
    out = tmp_path / "out"
    for i, m in enumerate(batch.members):
        _fake_complete_run(out / m.name, m.digest, f"20260101T00000{i}Z-x", 1e6 * (i + 1))
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "batch", str(three), "--out", str(out)]
        + ["--workers", "1", "--resume", "--json", "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert [(r["name"], r["status"]) for r in manifest["members"]] == [
        ("s-00", "resumed"),
        ("s-01", "resumed"),
        ("s-02", "resumed"),
    ]
    lines = (out / "batch_summary.csv").read_text().splitlines()
    assert lines[0] == ",".join(SUMMARY_COLUMNS)
    first = dict(zip(SUMMARY_COLUMNS, lines[1].split(","), strict=False))
    # numbers are copied from the run's own table, digit for digit
    assert first["ner_mean"] == repr(1e6 + TABLE_COLUMNS.index("ner_mean"))
    assert first["credits"] == repr(1e6 + TABLE_COLUMNS.index("credits"))
    assert first["seed"] == "1" and first["confidence"] == "0.9"


# --------------------------------------------------------------------------- whole runs


def _tables(run_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((run_dir / "tables").glob("*.csv"))}


def test_members_with_one_posterior_key_sample_it_once(small, client):
    """Two workers run two members that differ only in accounting: one samples, one reuses."""
    path = _spec(
        small,
        """
[[runs]]
name = "a"
config = "run"
seed = 424242

[[runs]]
name = "b"
config = "run"
seed = 424242
set = { "accounting.buffer_pct" = 20 }
""",
    )
    result = run_batch(load_batch(path), small / "out", client, numba_threads=1)
    assert [r.status for r in result.results] == ["done", "done"]
    records = [
        json.loads((r.run_dir / "manifest.json").read_text())["posterior_cache"]
        for r in result.results
    ]
    assert records[0]["key"] == records[1]["key"]
    assert sorted(r["hit"] for r in records) == [False, True]
    assert records[0]["sha256"] == records[1]["sha256"]


@pytest.mark.slow
def test_batch_on_two_workers_equals_serial_runs_despite_a_killed_worker(small, doomed_client):
    """Four whole runs and a huge run split into chunks, one worker killed mid-run."""
    from simulator.orchestration.pipeline import run

    client = doomed_client
    path = _spec(
        small,
        """
[[runs]]
name = "base"
config = "run"

[[sweeps]]
name = "s"
config = "run"
over = { "leakage.displacement.alpha" = [3.0, 4.0] }

[[runs]]
name = "seed-buffer"
config = "run"
seed = 7
set = { "accounting.buffer_pct" = 20 }

[huge]
config = "run"
n_draws = 200_000
chunk_size = 65_536
""",
    )
    batch = load_batch(path)
    out = small / "batch-out"
    pids = client.run(os.getpid)
    killed = []

    def kill_once(result):
        # after the first member, kill a worker that is running another member
        if not killed:
            killed.append(_kill_a_busy_worker(client, pids))

    result = run_batch(batch, out, client, on_member=kill_once, numba_threads=1)
    assert killed and [r.status for r in result.results] == ["done"] * 5
    for r in result.results:
        # the first sampled afresh (the members' posteriors came from the cache they share);
        # the others reuse that cache, which test_posterior_cache shows is bit-identical
        fresh = r.member.name == "base"
        serial = run(
            r.member.spec, small / "serial" / r.member.name, posterior_cache=not fresh
        ).out_dir
        assert _tables(r.run_dir) == _tables(serial), r.member.name
        assert [p.name for p in (out / r.member.name).iterdir()] == [r.run_dir.name]

    # --resume reruns only the member whose run directory is gone, to the same numbers
    before = (out / "batch_summary.csv").read_text()
    [again_dir] = [r.run_dir for r in result.results if r.member.name == "s-00"]
    tables = _tables(again_dir)
    shutil.rmtree(out / "s-00")
    client.wait_for_workers(2, timeout=RESTART_TIMEOUT_S)
    again = run_batch(batch, out, client, resume=True, numba_threads=1)
    statuses = {r.member.name: r.status for r in again.results}
    assert statuses == {"base": "resumed", "seed-buffer": "resumed", "s-00": "done"} | {
        "s-01": "resumed",
        "huge": "resumed",
    }
    [redone] = [r for r in again.results if r.member.name == "s-00"]
    assert _tables(redone.run_dir) == tables
    after = (out / "batch_summary.csv").read_text()
    assert after.replace("resumed", "done").replace(str(redone.run_dir), "") == (
        before.replace(str(again_dir), "")
    )


@pytest.mark.parametrize("cached", [True, False])
def test_a_member_task_passes_the_cache_choice_to_its_run(three, tmp_path, monkeypatch, cached):
    from simulator.orchestration import batch as batch_module
    from simulator.orchestration import pipeline

    seen = {}

    def recording(spec, out_root, **kwargs):
        seen.update(kwargs)
        raise ReddsimError("stop here")

    monkeypatch.setattr(pipeline, "run", recording)
    m = load_batch(three).members[0]
    status, _ = batch_module._execute_member(m.spec, str(tmp_path / "s-00"), m.digest, 1, cached)
    assert status == "failed: stop here" and seen == {"posterior_cache": cached}


def test_cli_batch_offers_no_cache():
    from typer.testing import CliRunner

    from simulator.cli import app

    result = CliRunner().invoke(app, ["batch", "--help"])
    assert result.exit_code == 0 and "--no-cache" in result.output


def test_a_member_stating_its_rating_replaces_the_base_risk_scores(tmp_path):
    """Los Amigos gives its buffer by NPRT scores (rating 15): a member that sets
    ``buffer_pct`` states its own rating; one that sets scores too must agree with them."""
    from simulator.orchestration.batchspec import load_batch

    copy_run(tmp_path / "run")
    spec = tmp_path / "batch.toml"
    spec.write_text(
        'schema_version = 1\n[batch]\nname = "b"\n'
        '[[runs]]\nname = "base"\nconfig = "run"\n'
        '[[runs]]\nname = "stated"\nconfig = "run"\nset = { "accounting.buffer_pct" = 20 }\n'
    )
    base, stated = load_batch(spec).members
    assert base.spec.config.accounting.risk.rating() == 15
    assert stated.spec.config.accounting.buffer_pct == 20
    assert stated.spec.config.accounting.risk is None
    spec.write_text(
        spec.read_text().replace(
            '"accounting.buffer_pct" = 20 }',
            '"accounting.buffer_pct" = 20, "accounting.risk.internal" = 7 }',
        )
    )
    with pytest.raises(ConfigError, match="risk scores give a rating of 16"):
        load_batch(spec)
