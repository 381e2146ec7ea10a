"""``make bench``: speed figures measured side by side in one run.

Benchmarks, not tests: these machines are shared and noisy, so every figure
is a median of several runs and every comparison is a ratio of figures
taken in the same process, one after the other.  Results are printed and
written to ``reports/out/bench.json`` with the machine, date and commit.

Sections
--------
golden
    The fast golden model against the loop-by-loop reference and, when the
    ``torch`` extra is installed, torchvision's CPU ``roi_pool`` with one
    thread, on ``fast-rcnn-vgg16`` and ``faster-rcnn-r50-c4``; plus the
    peak resident memory of a process running ``fpn-p2``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import golden
from golden.workloads import make_workload

OUT_DIR = Path(__file__).resolve().parent / "out"


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def provenance() -> dict:
    """Where and when a figure was measured."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)",
        "python": platform.python_version(),
        "numpy": np.__version__,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": commit,
    }


def _torchvision_cpu():
    try:
        import torch
        import torchvision  # noqa: F401  (registers torch.ops.torchvision)
    except ImportError:
        return None
    torch.set_num_threads(1)

    def run(w):
        x = torch.from_numpy(w.features)
        r = torch.from_numpy(w.rois)
        return torch.ops.torchvision.roi_pool(x, r, w.spatial_scale, *w.output_size)

    return run


def bench_golden(runs: int = 5) -> dict:
    """Fast golden model vs reference vs torchvision CPU (1 thread)."""
    tv = _torchvision_cpu()
    results = {}
    for name in ("fast-rcnn-vgg16", "faster-rcnn-r50-c4"):
        w = make_workload(name)
        args = w.call_args()
        golden.roi_pool(*args)  # warm-up: loads the compiled kernel
        row = {"fast_ms": _median_ms(lambda: golden.roi_pool(*args), runs)}
        row["reference_ms"] = _median_ms(lambda: golden.roi_pool(*args, impl="reference"), 1)
        if tv is not None:
            tv(w)
            row["torchvision_cpu_1thread_ms"] = _median_ms(lambda: tv(w), runs)
            tout, targ = tv(w)
            gout, garg = golden.roi_pool(*args)
            row["bit_exact_vs_torchvision"] = bool(
                tout.numpy().tobytes() == gout.tobytes() and np.array_equal(targ.numpy(), garg)
            )
            row["speedup_vs_torchvision"] = row["torchvision_cpu_1thread_ms"] / row["fast_ms"]
        row["speedup_vs_reference"] = row["reference_ms"] / row["fast_ms"]
        results[name] = row
    results["fpn-p2_peak_rss_mb"] = _peak_rss_mb("fpn-p2")
    return results


def _peak_rss_mb(name: str) -> float:
    """Peak resident memory of a fresh process that runs one workload.

    Read from ``VmHWM``, which belongs to the new process image; the
    ``ru_maxrss`` of a forked child would start from this (large) process.
    """
    code = (
        "import golden; from golden.workloads import make_workload;"
        f"w = make_workload({name!r}); golden.roi_pool(*w.call_args());"
        "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def _print_golden(res: dict) -> None:
    print("\n== golden model (CPU, one thread) ==")
    print(f"{'workload':<22}{'fast ms':>10}{'reference ms':>14}{'torchvision ms':>16}{'fast vs tv':>12}{'bit-exact':>11}")
    for name, row in res.items():
        if not isinstance(row, dict):
            continue
        tv = row.get("torchvision_cpu_1thread_ms")
        tv_text = f"{tv:.1f}" if tv else "not installed"
        ratio = f"{row['speedup_vs_torchvision']:.2f}x" if tv else "-"
        exact = str(row.get("bit_exact_vs_torchvision", "-"))
        print(f"{name:<22}{row['fast_ms']:>10.1f}{row['reference_ms']:>14.0f}{tv_text:>16}{ratio:>12}{exact:>11}")
    print(f"fpn-p2 peak resident memory of the whole process: {res['fpn-p2_peak_rss_mb']:.0f} MB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.bench", description="speed figures, side by side")
    ap.add_argument("--runs", type=int, default=5, help="runs per median")
    ap.add_argument("--out", type=Path, default=OUT_DIR / "bench.json")
    args = ap.parse_args(argv)
    report = {"provenance": provenance(), "golden": bench_golden(args.runs)}
    _print_golden(report["golden"])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
