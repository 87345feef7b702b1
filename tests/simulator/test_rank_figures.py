"""Rank histograms of the sampler appendix: their uniformity band, their counts, their panels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from simulator.report.figures import sampling


@pytest.mark.parametrize(("n", "bins"), [(200, 20), (500, 20), (2000, 20), (60, 6)])
def test_the_band_holds_a_bins_binomial_count_with_99_percent_and_is_no_wider(n, bins):
    low, expected, high = sampling.uniform_band(n, bins)
    assert expected == n / bins and low < expected < high
    counts = np.random.default_rng(20260101).binomial(n, 1 / bins, size=400_000)
    mc = 3 * np.sqrt(0.01 * 0.99 / counts.size)  # three Monte Carlo standard errors
    assert np.mean((counts >= low) & (counts <= high)) >= 0.99 - mc
    # each tail outside holds at most 0.5%, and moving an end inwards would exceed it
    assert np.mean(counts < low) <= 0.005 + mc and np.mean(counts <= low) > 0.005 - mc
    assert np.mean(counts > high) <= 0.005 + mc and np.mean(counts >= high) > 0.005 - mc


def test_rank_histograms_count_each_chains_pooled_ranks():
    draws = np.arange(40.0).reshape(4, 10)  # chain 0 holds the ten lowest draws
    counts, edges = sampling.rank_histograms(draws, 4)
    np.testing.assert_array_equal(edges, [0.5, 10.5, 20.5, 30.5, 40.5])
    np.testing.assert_array_equal(counts, 10 * np.eye(4, dtype=int))
    # ties take their average rank: four equal draws share rank 2.5, in the first bin
    counts, _ = sampling.rank_histograms(np.zeros((4, 1)), 2)
    np.testing.assert_array_equal(counts, [[0, 1]] * 4)  # 2.5 ≥ the middle edge 2.5


def test_chains_of_one_distribution_stay_inside_the_band_and_a_shifted_chain_leaves_it():
    gen = np.random.default_rng(7)
    n = 400
    bins = sampling.rank_bins(n)
    low, _, high = sampling.uniform_band(n, bins)
    assert bins == sampling.MAX_BINS and sampling.rank_bins(50) == 5
    inside = []
    for _ in range(300):
        counts, _ = sampling.rank_histograms(gen.normal(size=(4, n)), bins)
        assert (counts.sum(axis=1) == n).all() and (counts.sum(axis=0) == 4 * n / bins).all()
        inside.append((counts >= low) & (counts <= high))
    assert np.mean(inside) >= 0.99
    draws = np.random.default_rng(8).normal(size=(4, n))
    draws[3] += 1.0  # one chain a standard deviation off
    counts, _ = sampling.rank_histograms(draws, bins)
    assert counts[3, 0] < low and counts[3, -1] > high
    assert np.sum((counts[3] < low) | (counts[3] > high)) >= 6


def _tree() -> xr.DataTree:
    gen = np.random.default_rng(3)
    post = xr.Dataset(
        {
            "sigma": (("chain", "draw"), gen.normal(size=(4, 300))),
            "tau": (("chain", "draw", "stratum"), gen.normal(size=(4, 300, 2))),
        },
        coords={"chain": range(4), "draw": range(300), "stratum": ["terra_firme", "bamboo"]},
    )
    return xr.DataTree.from_dict({"m/posterior": post})


def test_each_panel_is_titled_by_its_display_name_with_labelled_axes(tmp_path, monkeypatch):
    tree = _tree()
    titles = sampling.rank_titles({"m": tree["m"]}, {"m": ["sigma", "tau"]}, {"bamboo": "Bamboo"})
    assert titles == {
        "sigma": "σ, process-noise SD (log hazard)",
        "tau[terra_firme]": "τ_s, SD between plots (log), Terra firme",
        "tau[bamboo]": "τ_s, SD between plots (log), Bamboo",
    }
    drawn = []
    monkeypatch.setattr(sampling.plt, "close", drawn.append)  # keep the figure to look at
    del titles["sigma"]  # a panel without a title keeps its code name
    sampling.fig_rank(tmp_path / "rank_m.png", tree["m"], ["sigma", "tau"], titles)
    [fig] = drawn
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [
        ax.get_title().replace("\n", " ").replace("\N{NO-BREAK SPACE}", " ") for ax in axes
    ] == [
        "sigma",
        "τ_s, SD between plots (log), Terra firme",
        "τ_s, SD between plots (log), Bamboo",
    ]
    assert {ax.get_ylabel() for ax in axes} == {"draws per bin"}
    assert {ax.get_xlabel() for ax in axes} == {"rank (all chains pooled)"}
    assert all(ax.get_legend() is None for ax in axes) and len(fig.legends) == 1
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {f"chain {i}" for i in range(1, 5)} <= set(texts)
    # thinned as ArviZ thins (by bulk and tail ESS), then binned and banded for that many
    factor = tree["m"].posterior.to_dataset().azstats.thin_factor()
    kept = len(range(0, 300, factor))
    bins = sampling.rank_bins(kept)
    low, expected, high = sampling.uniform_band(kept, bins)
    for ax in axes:  # the band, the expected count, and one step line per chain
        band, *steps = ax.patches
        assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((low, high))
        assert ax.lines[0].get_ydata()[0] == pytest.approx(expected)
        assert len(steps) == 4
        for step in steps:
            values, edges, _ = step.get_data()
            assert values.sum() == kept and len(values) == bins
            assert (edges[0], edges[-1]) == (0.5, 4 * kept + 0.5)
    sampling.plt.close("all")
    assert (tmp_path / "rank_m.png").stat().st_size > 0


def test_the_child_draws_the_titles_it_is_given(tmp_path, monkeypatch):
    tree = _tree()
    tree.to_netcdf(tmp_path / "posterior.nc", engine="h5netcdf")
    titles = sampling.rank_titles({"m": tree["m"]}, {"m": ["sigma", "tau"]}, {})
    (tmp_path / "here").mkdir()
    (tmp_path / "child").mkdir()
    sampling.fig_rank(tmp_path / "here" / "rank_m.png", tree["m"], ["sigma", "tau"], titles)
    sampling.fig_rank(tmp_path / "here" / "untitled.png", tree["m"], ["sigma", "tau"])
    monkeypatch.chdir(tmp_path)
    gated = {"m": ["sigma", "tau"]}
    with sampling.rank_figures(Path("posterior.nc"), Path("child"), gated, titles) as paths:
        pass
    drawn = paths[0].read_bytes()
    assert drawn == (tmp_path / "here" / "rank_m.png").read_bytes()
    assert drawn != (tmp_path / "here" / "untitled.png").read_bytes()
