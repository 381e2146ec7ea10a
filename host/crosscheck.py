"""Run every available backend on the same inputs and compare with the golden model.

``python -m host crosscheck`` (or ``make crosscheck``) prints one row per
backend and case: bit-exact yes/no and the time taken, and exits non-zero
if any backend disagrees with the golden model on any case.  A backend that
cannot run here is listed with the reason and counted as *not checked*,
never as a pass.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

import numpy as np

import golden
from golden.workloads import make_workload

from .api import BACKENDS, BackendUnavailable, available_backends, run

__all__ = ["Case", "cases", "crosscheck", "main"]


@dataclass(frozen=True)
class Case:
    """One set of inputs every backend receives."""

    name: str
    features: np.ndarray
    rois: np.ndarray
    output_size: tuple
    spatial_scale: float
    bin_mode: str


def _random_case(seed: int, dtype: str, bin_mode: str) -> Case:
    rng = np.random.default_rng(seed)
    n, c, h, w = 2, 8, int(rng.integers(5, 14)), int(rng.integers(5, 14))
    if dtype.startswith("int"):
        x = rng.integers(-4, 5, (n, c, h, w)).astype(dtype)
    else:
        x = rng.integers(-4, 5, (n, c, h, w)).astype(np.float64)
        x[rng.random(x.shape) < 0.05] = np.nan
        x[rng.random(x.shape) < 0.05] = -np.inf
        x = x.astype(golden.canonical_dtype(dtype))
    k = 12
    pts = rng.integers(-3, max(h, w) * 2 + 3, (k, 4)) + rng.choice([0.0, 0.5], (k, 4))
    rois = np.c_[rng.integers(0, n, k), pts].astype(np.float32)
    return Case(f"random-{dtype}-{bin_mode}-{seed}", x, rois, (3, 4), 0.5, bin_mode)


def cases(quick: bool = False, dtypes=("float32", "int16")) -> list[Case]:
    """The cross-check inputs: random small cases and standard workloads."""
    out = []
    for i, dt in enumerate(dtypes):
        for mode in ("float32", "exact"):
            out.append(_random_case(100 + i, dt, mode))
    names = ["small"] if quick else ["small", "fast-rcnn-vgg16"]
    for name in names:
        for dt in dtypes:
            w = make_workload(name, dtype=dt)
            out.append(Case(f"{name}-{dt}", w.features, w.rois, w.output_size, w.spatial_scale, "float32"))
    return out


def crosscheck(backends=None, quick=False, dtypes=("float32", "int16"), out=sys.stdout) -> bool:
    """Run the comparison; return True when every backend that ran agreed."""
    status = available_backends()
    # The golden model's fast path is the oracle; every other backend,
    # its own loop-by-loop reference included, is checked against it.
    backends = list(backends or [b for b in BACKENDS if b != "golden"])
    ok = True
    print(f"{'backend':<11}{'case':<34}{'bit-exact':>10}{'time':>12}", file=out)
    for case in cases(quick, dtypes):
        want = golden.roi_pool(case.features, case.rois, case.output_size, case.spatial_scale, bin_mode=case.bin_mode)
        for name in backends:
            if name not in status:
                raise ValueError(f"unknown backend {name!r}")
            if not status[name][0]:
                continue
            if name == "reference" and case.features.shape[1] * len(case.rois) > 4096:
                continue  # the loop-by-loop specification is too slow for full workloads
            outputs = len(case.rois) * case.features.shape[1] * case.output_size[0] * case.output_size[1]
            limit = BACKENDS[name].max_outputs
            if limit is not None and outputs > limit:
                print(f"{name:<11}{case.name:<34}{'skipped':>10}{'':>12}  {outputs:,} outputs: too slow "
                      f"a simulator for this size (limit {limit:,})", file=out)
                continue
            t0 = time.perf_counter()
            try:
                r = run(case.features, case.rois, case.output_size, case.spatial_scale, backend=name,
                        bin_mode=case.bin_mode)
            except BackendUnavailable as exc:  # e.g. a dtype this backend does not support
                print(f"{name:<11}{case.name:<34}{'n/a':>10}{'':>12}  {exc}", file=out)
                continue
            dt = time.perf_counter() - t0
            same = r.out.tobytes() == want[0].tobytes() and np.array_equal(r.argmax, want[1])
            ok &= same
            print(f"{name:<11}{case.name:<34}{'yes' if same else 'NO':>10}{dt * 1e3:>10.1f}ms", file=out)
    for name in backends:
        if not status[name][0]:
            print(f"{name:<11}not checked: {status[name][1]}", file=out)
    print("all backends that ran agree with the golden model" if ok else "MISMATCH: see the rows marked NO", file=out)
    return ok


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host crosscheck", description=__doc__.splitlines()[0])
    ap.add_argument("--backend", action="append", help="limit to these backends (repeatable)")
    ap.add_argument("--quick", action="store_true", help="small inputs only")
    args = ap.parse_args(argv)
    return 0 if crosscheck(args.backend, args.quick) else 1
