"""Benchmark the CUDA kernels (and torchvision's CUDA roi_pool) on the standard workloads.

Usage::

    python -m host.gpu_bench --out reports/data/gpu-<device>.json
    python -m host.gpu_bench --workloads small fast-rcnn-vgg16 --dtypes float32 --repeat 50

For every workload of :mod:`golden.workloads` and data type, on the current
GPU:

* our kernels (``tiled`` and ``simple``; see :mod:`host.cuda`) timed with
  CUDA events around the kernel alone, after warm-up, median (and min/max)
  of ``--repeat`` runs; outputs checked bit for bit against
  :func:`golden.roi_pool`;
* torchvision's CUDA ``roi_pool`` (``torch.ops.torchvision.roi_pool``) the
  same way, when torch is importable with CUDA and the dtype is one it
  supports; its bits are checked against golden in torchvision's own bin
  mode (:func:`golden.torchvision_bin_mode`), and our kernel runs in that
  same mode so the two compute the same thing;
* achieved bandwidth: ``bytes_min / time``, where ``bytes_min`` is what any
  implementation must move -- the output and argmax written once, the RoIs,
  and each RoI's clipped feature window read once (rows ``[hstart_0,
  hend_{PH-1})`` x cols ``[wstart_0, wend_{PW-1})`` x C) -- against the
  peak DRAM bandwidth ``2 * memoryClockRate * memoryBusWidth / 8`` from the
  device attributes.  Reads that hit L2 make the achieved figure an
  *effective* bandwidth, so it can exceed what DRAM alone would allow.

The JSON written records the device, driver and CUDA runtime versions,
CuPy and NVRTC versions, the UTC date, the git commit and every figure.
Without a usable GPU the script prints why, writes nothing and exits 2.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

import golden
from golden.workloads import WORKLOADS, make_workload
from host import cuda

DEFAULT_DTYPES = ("float32", "float16", "int16")
TORCHVISION_DTYPES = ("float32", "float64", "float16")


def _git(*args):
    try:
        res = subprocess.run(["git", *args], capture_output=True, text=True, timeout=30,
                             cwd=Path(__file__).resolve().parent.parent)
    except Exception:
        return None
    return res.stdout.strip() if res.returncode == 0 else None


def device_info() -> dict:
    """Name, versions, memory system and peak bandwidth of the current device."""
    import cupy
    from cupy.cuda import runtime as rt

    dev = cupy.cuda.Device().id
    props = rt.getDeviceProperties(dev)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])

    def attr(a):
        try:
            return int(rt.deviceGetAttribute(getattr(rt, a), dev))
        except Exception:
            return None

    mem_khz = attr("cudaDevAttrMemoryClockRate")
    bus_bits = attr("cudaDevAttrGlobalMemoryBusWidth")
    peak = 2.0 * mem_khz * 1e3 * bus_bits / 8 if mem_khz and bus_bits else None
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc_version = ".".join(map(str, nvrtc.getVersion()))
    except Exception:
        nvrtc_version = None
    return {
        "name": name,
        "compute_capability": f"{props['major']}.{props['minor']}",
        "multiprocessors": attr("cudaDevAttrMultiProcessorCount"),
        "global_memory_bytes": int(props["totalGlobalMem"]),
        "l2_cache_bytes": int(props.get("l2CacheSize", 0)) or None,
        "memory_clock_khz": mem_khz,
        "memory_bus_width_bits": bus_bits,
        "peak_bandwidth_gbs": peak / 1e9 if peak else None,
        "peak_bandwidth_formula": "2 * memoryClockRate * memoryBusWidth / 8",
        "driver_version": rt.driverGetVersion(),
        "runtime_version": rt.runtimeGetVersion(),
        "cupy_version": cupy.__version__,
        "nvrtc_version": nvrtc_version,
    }


def min_bytes(problem, itemsize: int) -> int:
    """Bytes any implementation must move: outputs, RoIs, each RoI's clipped window once."""
    k = problem.num_rois
    _, c, h, w = problem.features.shape
    ph, pw = problem.output_size
    edges = golden.bin_edges(
        np.concatenate([problem.batch[:, None].astype(np.float64), problem.boxes], axis=1),
        problem.output_size, problem.spatial_scale, h, w, bin_mode=problem.bin_mode,
    )
    rows = np.maximum(edges.hend.max(axis=1) - edges.hstart.min(axis=1), 0)
    cols = np.maximum(edges.wend.max(axis=1) - edges.wstart.min(axis=1), 0)
    window = int((rows * cols).sum()) * c * itemsize
    outputs = k * c * ph * pw * (itemsize + 8)
    return window + outputs + k * 5 * problem.boxes.dtype.itemsize


def _stats(times):
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "runs": len(times),
    }


def _mismatches(got, want) -> int:
    if got.dtype.kind in "iu":
        return int(np.count_nonzero(got != want))
    u = np.dtype(f"u{got.dtype.itemsize}")
    return int(np.count_nonzero(got.view(u) != want.view(u)))


def bench_ours(problem, kernel, warmup, repeat, golden_result):
    launch = cuda.ForwardLaunch(cuda.plan_forward(problem, kernel))
    times = launch.time_ms(warmup, repeat)
    launch.run()
    out, argmax = launch.result()
    res = _stats(times)
    res.update(
        kernel=launch.plan.kernel,
        grid=launch.plan.grid,
        block=launch.plan.block,
        shared_mem_bytes=launch.plan.smem,
        out_mismatches=_mismatches(out, golden_result[0]),
        argmax_mismatches=_mismatches(argmax, golden_result[1]),
    )
    res["bit_exact"] = res["out_mismatches"] == 0 and res["argmax_mismatches"] == 0
    return res


def torchvision_status():
    """(torch, reason): torch with CUDA and torchvision's roi_pool op, or None and why not."""
    try:
        import torch
        import torchvision  # noqa: F401  (registers torch.ops.torchvision)
    except Exception as exc:
        return None, f"torch/torchvision not importable: {exc}"
    try:
        if not torch.cuda.is_available():
            return None, "torch.cuda.is_available() is False"
        torch.ops.torchvision.roi_pool  # noqa: B018
    except Exception as exc:
        return None, f"torchvision CUDA roi_pool unavailable: {exc}"
    return torch, f"torch {torch.__version__}, torchvision {torchvision.__version__}, CUDA {torch.version.cuda}"


def bench_torchvision(torch, wl, warmup, repeat, golden_result):
    dt = getattr(torch, golden.dtype_name(wl.features.dtype))
    x = torch.from_numpy(np.ascontiguousarray(wl.features)).to("cuda")
    rois = torch.from_numpy(np.ascontiguousarray(wl.rois)).to("cuda", dtype=dt)  # torchvision: rois in x's dtype
    ph, pw = wl.output_size
    op = torch.ops.torchvision.roi_pool

    def call():
        return op(x, rois, float(wl.spatial_scale), ph, pw)

    for _ in range(warmup):
        call()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeat):
        start.record()
        call()
        end.record()
        end.synchronize()
        times.append(float(start.elapsed_time(end)))
    out, argmax = call()
    torch.cuda.synchronize()
    out = out.cpu().numpy()
    argmax = argmax.cpu().numpy().astype(np.int64)
    res = _stats(times)
    res.update(
        out_mismatches=_mismatches(out, golden_result[0]),
        argmax_mismatches=_mismatches(argmax, golden_result[1]),
    )
    res["bit_exact"] = res["out_mismatches"] == 0 and res["argmax_mismatches"] == 0
    return res


def run(workloads, dtypes, warmup, repeat, log=print) -> dict:
    """Run the benchmark; returns the JSON-ready report."""
    info = device_info()
    torch, tv_reason = torchvision_status()
    peak = info["peak_bandwidth_gbs"]
    rows = []
    for name in workloads:
        for dtype in dtypes:
            wl = make_workload(name, dtype=dtype)
            try:
                mode = golden.torchvision_bin_mode(wl.features.dtype)
            except ValueError:
                mode = "float32"
            problem = golden.validate(*wl.call_args(), mode)
            want = golden.roi_pool(*wl.call_args(), bin_mode=mode)
            itemsize = wl.features.dtype.itemsize
            nbytes = min_bytes(problem, itemsize)
            row = {
                "workload": name,
                "dtype": golden.dtype_name(wl.features.dtype),
                "bin_mode": mode,
                "shape": list(wl.features.shape),
                "num_rois": problem.num_rois,
                "output_size": list(problem.output_size),
                "spatial_scale": problem.spatial_scale,
                "bytes_min": nbytes,
                "ours": {},
            }
            for kernel in ("tiled", "simple"):
                try:
                    r = bench_ours(problem, kernel, warmup, repeat, want)
                except ValueError as exc:  # tiled kernel does not fit
                    row["ours"][kernel] = {"skipped": str(exc)}
                    continue
                r["effective_gbs"] = nbytes / (r["median_ms"] * 1e-3) / 1e9
                r["fraction_of_peak"] = r["effective_gbs"] / peak if peak else None
                row["ours"][kernel] = r
                log(f"{name:20s} {row['dtype']:8s} ours/{kernel:6s} {r['median_ms']:8.4f} ms "
                    f"{r['effective_gbs']:8.1f} GB/s  bit_exact={r['bit_exact']}")
            if torch is not None and row["dtype"] in TORCHVISION_DTYPES:
                r = bench_torchvision(torch, wl, warmup, repeat, want)
                r["effective_gbs"] = nbytes / (r["median_ms"] * 1e-3) / 1e9
                r["fraction_of_peak"] = r["effective_gbs"] / peak if peak else None
                row["torchvision"] = r
                best = min(v["median_ms"] for v in row["ours"].values() if "median_ms" in v)
                row["speedup_vs_torchvision"] = r["median_ms"] / best
                log(f"{name:20s} {row['dtype']:8s} torchvision   {r['median_ms']:8.4f} ms "
                    f"{r['effective_gbs']:8.1f} GB/s  bit_exact={r['bit_exact']}  "
                    f"speedup={row['speedup_vs_torchvision']:.2f}x")
            else:
                row["torchvision"] = {"skipped": tv_reason if torch is None else "dtype not supported by torchvision"}
            rows.append(row)
    commit = _git("rev-parse", "HEAD")
    dirty = _git("status", "--porcelain")
    return {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "git_commit": commit,
        "git_dirty": bool(dirty) if dirty is not None else None,
        "device": info,
        "torchvision": tv_reason,
        "method": {
            "timer": "CUDA events around the kernel launch alone",
            "warmup": warmup,
            "repeat": repeat,
            "statistic": "median",
            "bytes_min": "outputs + argmax (int64) written once, RoIs, each RoI's clipped window x C read once",
            "compile_options": list(cuda.COMPILE_OPTIONS),
        },
        "results": rows,
    }


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m host.gpu_bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="JSON output (default: reports/data/gpu-<device>.json)")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--dtypes", nargs="+", default=list(DEFAULT_DTYPES))
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args(argv)
    if args.repeat < 20:
        parser.error("--repeat must be >= 20")
    ok, reason = cuda.cuda_available()
    if not ok:
        print(f"gpu_bench: {reason}; nothing written", file=sys.stderr)
        return 2
    report = run(args.workloads, args.dtypes, args.warmup, args.repeat)
    out = args.out or Path(__file__).resolve().parent.parent / "reports" / "data" / f"gpu-{_slug(report['device']['name'])}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"gpu_bench: wrote {out}")
    bad = [r for r in report["results"] for v in r["ours"].values() if v.get("bit_exact") is False]
    if bad:
        print(f"gpu_bench: {len(bad)} result(s) NOT bit-exact with golden", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
