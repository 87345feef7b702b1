"""The run's progress on stderr: stages, and the simulation's futures with the time left."""

from __future__ import annotations

import io

import numpy as np
import pytest
from rich.console import Console

from simulator.cli import common
from simulator.engine.streaming import BLOCK_SIZE, stream
from tests.conftest import make_inputs


def test_the_simulation_reports_every_chunk_and_the_numbers_do_not_depend_on_it():
    inputs = make_inputs(np.random.default_rng(2), n_post=200)
    n = 3 * BLOCK_SIZE + 1_000
    seen = []
    with_progress = stream(
        inputs, n, 7, chunk_size=BLOCK_SIZE, on_progress=lambda d, t: seen.append((d, t))
    )
    plain = stream(inputs, n, 7, chunk_size=BLOCK_SIZE)
    # the pilot block, then one call per chunk, counting up to the target
    assert seen[0] == (BLOCK_SIZE, n) and seen[-1] == (n, n)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 4  # pilot + 3 chunks
    for q in ("ner", "baseline"):
        assert np.array_equal(with_progress[q].mean, plain[q].mean)
        assert np.array_equal(with_progress[q].quantile(0.05), plain[q].quantile(0.05))


def _terminal(monkeypatch) -> io.StringIO:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120, color_system=None)
    monkeypatch.setattr(common, "err", console)
    return buffer


def test_a_counted_stage_shows_its_count_and_the_others_do_not(monkeypatch):
    buffer = _terminal(monkeypatch)
    with common.Stages(quiet=False) as stages:
        stages("data")
        stages("simulation")
        stages.advance(500_000, 1_000_000)
        stages("report")
    text = buffer.getvalue()
    assert "1,000,000/1,000,000" in text  # finished: the whole count
    data_line = next(line for line in text.splitlines()[::-1] if "data" in line)
    assert "/" not in data_line


def test_quiet_shows_nothing(monkeypatch):
    buffer = _terminal(monkeypatch)
    with common.Stages(quiet=True) as stages:
        stages("simulation")
        stages.advance(1, 2)
    assert buffer.getvalue() == ""


def test_while_a_model_samples_its_chains_table_replaces_the_live_lines(monkeypatch):
    import contextlib

    import models.sampling

    events = []

    @contextlib.contextmanager
    def recording():
        events.append("chains shown")
        yield
        events.append("chains done")

    monkeypatch.setattr(models.sampling, "chain_progress", recording)
    _terminal(monkeypatch)
    with common.Stages(quiet=False) as stages:
        stages("data")
        assert events == []
        stages("sampling biomass")
        assert events == ["chains shown"]
        stages("sampling leakage")
        stages("simulation")
        assert events == ["chains shown", "chains done"] * 2


def test_an_interrupt_c_code_could_not_raise_is_silent_and_stops_the_next_stage(monkeypatch):
    """A signal during a ctypes callback (numba's compiler) makes the interrupt unraisable."""
    import signal
    import sys

    seen = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: seen.append(u.exc_type))
    monkeypatch.setattr(signal, "signal", lambda *a: None)  # the test's own handlers stay
    monkeypatch.setattr(common, "_RECEIVED", [])
    common.catch_interrupts()
    common.catch_interrupts()  # installed once, however often the CLI asks

    class RaisesOnDel:
        def __init__(self, exc):
            self.exc = exc

        def __del__(self):
            raise self.exc

    RaisesOnDel(ValueError("not an interrupt"))  # unraisable: reaches the previous hook
    assert seen == [ValueError]
    try:
        common.interrupt(signal.SIGTERM, None)
    except KeyboardInterrupt as e:
        RaisesOnDel(e)  # as if raised inside a ctypes callback: dropped, not printed
    assert seen == [ValueError]
    with pytest.raises(KeyboardInterrupt):  # the recorded signal stops the next stage
        common.stop_if_interrupted()
