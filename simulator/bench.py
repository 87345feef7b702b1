"""Benchmark of the forward simulation: ``python -m simulator.bench [--json] [--quick]``.

Every figure is measured in the same process run on the same machine, so the
ratios compare like with like:

1. kernel throughput (draws/s) at N = 1e6 and 1e7, 30 years x 4 strata, on one
   thread and on all threads (the kernel runs over N in reused buffers of one
   block, as the streaming summaries run it);
2. the ratio to :func:`simulator.engine.reference.simulate_reference`, the plain
   vectorised-NumPy implementation of the same equations (single-threaded, as
   NumPy is), timed on fewer draws and compared per draw;
3. the ratio to the RNG limit: the time NumPy's fastest bit generator takes to
   produce the same number of standard normals (one per draw and year, which is
   what the kernel draws) divided by the kernel's time;
4. peak resident memory of a whole streamed simulation (:func:`simulator.engine.streaming.stream`)
   at 1e7 and 1e8 draws, each in a fresh process;
5. numba compile time (first call with an empty cache, fresh process) and the
   load time from the cache, separately from run time;
6. ``stream_overhead``: the streamed run of 1e8 draws (every summary) over the kernel
   alone on as many draws (its all-thread throughput at 1e7);
7. the end-to-end ``reddsim run runs/los-amigos`` wall time by stage (from the run's
   manifest), cold (an empty posterior cache: every model is sampled, as in a first
   run and in earlier figures) and warm (the same run again, its posteriors cached);
8. ``sweep_vs_single``: a ``reddsim batch`` sweep of the same run over
   ``accounting.buffer_pct`` (members that differ only in accounting, so they share
   one posterior), cold, on one worker, over one cold single run: with posterior
   reuse it costs one sampling plus a simulation and report per member, and the
   members that sampled are counted from their manifests.

No test asserts on these timings; ``benchmarks/RESULTS.md`` records them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numba
import numpy as np

__all__ = ["main", "bench_inputs", "kernel_seconds"]

REPO = Path(__file__).resolve().parents[1]
N_YEARS = 30
N_STRATA = 4


def bench_inputs(n_years: int = N_YEARS, n_strata: int = N_STRATA, n_post: int = 4000):
    """Kernel inputs of Los Amigos magnitudes (fixed seed), ``n_post`` posterior draws."""
    from simulator.engine.kernels import KernelInputs

    gen = np.random.default_rng(20261125)
    area = gen.uniform(5_000, 90_000, n_strata)
    risk = gen.uniform(0.3, 1.5, n_strata)
    return KernelInputs(
        carbon_density=gen.normal(700, 60, (n_post, n_strata)),
        log_rate_mean=np.log(0.0025) + gen.normal(0, 0.1, (n_post, n_years)),
        rate_sigma=gen.uniform(0.02, 0.2, n_post),
        effectiveness=gen.uniform(0.5, 0.95, n_post),
        post_carbon=gen.uniform(5, 30, n_post),
        leakage_fraction=gen.uniform(0.0, 0.25, n_post),
        area=area,
        risk=risk * area.sum() / (risk * area).sum(),
    )


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def kernel_seconds(inputs, n_draws: int, threads: int, buffer: int = 65_536) -> float:
    """Seconds for the kernel to simulate ``n_draws`` into a reused buffer of ``buffer`` draws."""
    from simulator.engine.streaming import kernel_batches

    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        t0 = time.perf_counter()
        for _ in kernel_batches(inputs, 1, 0, n_draws, buffer):
            pass
        return time.perf_counter() - t0
    finally:
        numba.set_num_threads(before)


def _numpy_seconds_per_draw(inputs, n_draws: int) -> float:
    from simulator.engine.reference import simulate_reference

    step = 50_000
    t0 = time.perf_counter()
    for lo in range(0, n_draws, step):
        simulate_reference(inputs, min(step, n_draws - lo), seed=1, draw_start=lo)
    return (time.perf_counter() - t0) / n_draws


def _rng_limit_seconds(n_normals: int) -> tuple[str, float]:
    """Fastest NumPy bit generator's time for ``n_normals`` standard normals (in 1e7 pieces)."""
    best = ("", np.inf)
    for name in ("PCG64", "PCG64DXSM", "SFC64", "Philox", "MT19937"):
        gen = np.random.Generator(getattr(np.random, name)(1))
        out = np.empty(min(n_normals, 10_000_000))

        def draw(gen=gen, out=out):
            left = n_normals
            while left > 0:
                k = min(left, out.size)
                gen.standard_normal(out=out[:k])
                left -= k

        seconds = _best(draw, 2)
        if seconds < best[1]:
            best = (name, seconds)
    return best


_CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    t0 = time.perf_counter()
    from simulator.bench import bench_inputs
    from simulator.engine.streaming import stream
    inputs = bench_inputs(n_years={n_years})
    t1 = time.perf_counter()
    s = stream(inputs, {n_draws}, seed=1, chunk_size=1_048_576)
    t2 = time.perf_counter()
    json.dump({{"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               "import_s": t1 - t0, "run_s": t2 - t1, "n": s.n_draws}}, sys.stdout)
    """
)


def _child(code: str, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _peak_memory(n_draws: int, n_years: int) -> dict:
    return _child(_CHILD.format(n_draws=n_draws, n_years=n_years))


_COMPILE = textwrap.dedent(
    """
    import json, sys, time
    from simulator.bench import bench_inputs
    from simulator.engine.kernels import simulate
    from simulator.engine.streaming import stream
    inputs = bench_inputs()
    t0 = time.perf_counter()
    simulate(inputs, 10, seed=1)
    t1 = time.perf_counter()
    stream(inputs, 1000, seed=1)
    t2 = time.perf_counter()
    simulate(inputs, 10, seed=1)
    t3 = time.perf_counter()
    times = {"kernel_first_s": t1 - t0, "stream_first_s": t2 - t1, "kernel_again_s": t3 - t2}
    json.dump(times, sys.stdout)
    """
)


def _compile_times() -> dict:
    with tempfile.TemporaryDirectory() as cache:
        cold = _child(_COMPILE, {"NUMBA_CACHE_DIR": cache})
        warm = _child(_COMPILE, {"NUMBA_CACHE_DIR": cache})
    return {
        "compile_s": round(cold["kernel_first_s"] + cold["stream_first_s"], 3),
        "compile_kernel_s": round(cold["kernel_first_s"], 3),
        "compile_streaming_s": round(cold["stream_first_s"], 3),
        "cached_load_s": round(warm["kernel_first_s"] + warm["stream_first_s"], 3),
    }


def _end_to_end(run_dir: Path) -> tuple[dict, dict]:
    """The run cold (an empty posterior cache) and warm (again, with that cache)."""
    timings = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REDDSIM_CACHE": str(Path(tmp) / "cache")}
        for i in range(2):
            out = Path(tmp) / f"run{i}"
            t0 = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "simulator", "run", str(run_dir), "--out", str(out), "-q"],
                cwd=REPO,
                env=env,
                check=True,
                capture_output=True,
            )
            wall = time.perf_counter() - t0
            manifest = json.loads((out / "manifest.json").read_text())
            timings.append(
                {"wall_s": round(wall, 2), "n_draws": manifest["n_draws"]}
                | {k: round(v, 2) for k, v in manifest["timings_s"].items()}
            )
    return timings[0], timings[1]


#: Buffer percentages of the ``sweep_vs_single`` sweep (one member each).
SWEEP_BUFFERS = tuple(range(12, 32))


def _sweep_vs_single(run_dir: Path, members: int) -> dict:
    """A cold sweep of ``members`` accounting variants over one cold single run (item 8)."""
    buffers = SWEEP_BUFFERS[:members]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "REDDSIM_CACHE": str(Path(tmp) / "cache-single")}
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "simulator", "run", str(run_dir), "--out", f"{tmp}/one", "-q"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        single = time.perf_counter() - t0
        spec = Path(tmp) / "sweep.toml"
        spec.write_text(
            'schema_version = 1\n[batch]\nname = "sweep"\n[[sweeps]]\nname = "buffer"\n'
            f'config = "{run_dir.resolve()}"\n'
            f'over = {{ "accounting.buffer_pct" = {list(buffers)} }}\n',
            encoding="utf-8",
        )
        env["REDDSIM_CACHE"] = str(Path(tmp) / "cache-sweep")
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "simulator", "batch", str(spec), "--out", f"{tmp}/sweep"]
            + ["--workers", "1", "-q"],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
        )
        sweep = time.perf_counter() - t0
        manifests = sorted(Path(tmp, "sweep").glob("*/*/manifest.json"))
        sampled = sum(not json.loads(m.read_text())["posterior_cache"]["hit"] for m in manifests)
    return {
        "members": len(manifests),
        "single_s": round(single, 2),
        "sweep_s": round(sweep, 2),
        "ratio": round(sweep / single, 2),
        "members_that_sampled": sampled,
    }


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
    }


def run_benchmark(quick: bool = False, end_to_end: bool = True) -> dict:
    """Measure everything; ``quick`` uses 10x fewer draws (a smoke run)."""
    scale = 10 if quick else 1
    inputs = bench_inputs()
    kernel_seconds(inputs, 1000, 1)  # compile / load outside the timings
    threads_all = numba.config.NUMBA_NUM_THREADS
    result: dict = {"machine": _machine(), "n_years": N_YEARS, "n_strata": N_STRATA}
    draws_per_s = {}
    kernel_time = {}
    for n in (1_000_000 // scale, 10_000_000 // scale):
        for threads in sorted({1, threads_all}):
            seconds = _best(lambda n=n, t=threads: kernel_seconds(inputs, n, t), 2)
            draws_per_s[f"{n:.0e}/{threads}t"] = round(n / seconds)
            kernel_time[(n, threads)] = seconds
    result["draws_per_s"] = draws_per_s
    n_ref = 1_000_000 // scale
    numpy_per_draw = _numpy_seconds_per_draw(inputs, 200_000 // scale)
    result["kernel_vs_numpy"] = {
        f"{t}t": round(numpy_per_draw * n_ref / kernel_time[(n_ref, t)], 1)
        for t in sorted({1, threads_all})
    }
    name, rng_s = _rng_limit_seconds(n_ref * N_YEARS)
    result["rng_limit_generator"] = name
    result["kernel_vs_rng_limit"] = {
        f"{t}t": round(rng_s / kernel_time[(n_ref, t)], 2) for t in sorted({1, threads_all})
    }
    result["peak_mem_mb"] = {}
    result["stream_s"] = {}
    for n in (10_000_000 // scale, 100_000_000 // scale):
        mem = _peak_memory(n, N_YEARS)
        result["peak_mem_mb"][f"{n:.0e}"] = round(mem["peak_mb"])
        result["stream_s"][f"{n:.0e}"] = round(mem["run_s"], 2)
    n_big = 100_000_000 // scale
    kernel_big_s = n_big / draws_per_s[f"{10_000_000 // scale:.0e}/{threads_all}t"]
    result["stream_overhead"] = round(result["stream_s"][f"{n_big:.0e}"] / kernel_big_s, 2)
    result.update(_compile_times())
    if end_to_end:
        run_dir = REPO / "runs" / "los-amigos"
        result["end_to_end"], result["end_to_end_warm"] = _end_to_end(run_dir)
        result["sweep_vs_single"] = _sweep_vs_single(run_dir, 4 if quick else 20)
    return result


def _print(result: dict) -> None:
    m = result["machine"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, numba {m['numba']}, numpy {m['numpy']}")
    print(f"kernel: {result['n_years']} years x {result['n_strata']} strata")
    for key, value in result["draws_per_s"].items():
        n, threads = key.split("/")
        print(f"  draws/s at N={n:>6}, {threads:>3}: {value:>14,}")
    for t, v in result["kernel_vs_numpy"].items():
        print(f"  kernel vs vectorised NumPy ({t}): {v:.1f}x   (target >= 5)")
    gen = result["rng_limit_generator"]
    rng_targets = {"1t": 0.7}
    for t, v in result["kernel_vs_rng_limit"].items():
        target = rng_targets.get(t, 1.0)
        print(f"  kernel vs RNG limit ({gen} normals, {t}): {v:.2f}   (target >= {target})")
    for n, mb in result["peak_mem_mb"].items():
        print(f"  streamed run, N={n}: peak memory {mb:,} MB, {result['stream_s'][n]:.1f} s")
    print(
        f"  stream overhead (streamed 1e8 / kernel alone): {result['stream_overhead']:.2f}"
        "   (target <= 1.3)"
    )
    r = result
    print(
        f"  compile: {r['compile_s']:.2f} s (kernel {r['compile_kernel_s']:.2f}, "
        f"streaming {r['compile_streaming_s']:.2f}); from cache {r['cached_load_s']:.2f} s"
    )
    for key, label in (("end_to_end", "cold"), ("end_to_end_warm", "warm")):
        if key not in result:
            continue
        e = result[key]
        stages = ", ".join(f"{k} {v:.2f}" for k, v in e.items() if k not in ("wall_s", "n_draws"))
        print(
            f"end to end, {label} (runs/los-amigos, N={e['n_draws']:,}): {e['wall_s']:.1f} s wall"
            + ("   (target <= 15)" if label == "warm" else "")
        )
        print(f"  by stage (s): {stages}")
    if "sweep_vs_single" in result:
        _print_sweep(result["sweep_vs_single"])


def _print_sweep(r: dict) -> None:
    print(
        f"sweep of {r['members']} accounting variants, cold, 1 worker: {r['sweep_s']:.1f} s, "
        f"{r['ratio']:.2f}x one cold run ({r['single_s']:.1f} s, target <= 2); "
        f"members that sampled: {r['members_that_sampled']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulator.bench", description=__doc__)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quick", action="store_true", help="10x fewer draws (smoke run)")
    parser.add_argument("--no-end-to-end", action="store_true", help="skip the reddsim run")
    args = parser.parse_args(argv)
    result = run_benchmark(quick=args.quick, end_to_end=not args.no_end_to_end)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)


if __name__ == "__main__":
    main()
