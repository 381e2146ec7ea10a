"""Command line: run the golden model on a standard workload.

``python -m golden WORKLOAD [--dtype D] [--bin-mode M] [--seed S]`` runs the
fast implementation, prints what it computed and how long it took, and
(with ``--check``) confirms it against the loop-by-loop reference on a
channel-reduced copy.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time

import numpy as np

from . import BIN_MODES, bin_edges, roi_pool
from .workloads import WORKLOADS, make_workload


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m golden", description=__doc__.splitlines()[0])
    ap.add_argument("workload", nargs="?", default="fast-rcnn-vgg16", choices=WORKLOADS)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--bin-mode", default="float32", choices=BIN_MODES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--check", action="store_true", help="also compare with the reference on 4 channels")
    args = ap.parse_args(argv)

    w = make_workload(args.workload, dtype=args.dtype, seed=args.seed)
    n, c, h, wd = w.features.shape
    ph, pw = w.output_size
    print(f"workload {w.name}: features {n}x{c}x{h}x{wd} {w.features.dtype}, {len(w.rois)} RoIs, "
          f"output {ph}x{pw}, scale 1/{1 / w.spatial_scale:g}, bin mode {args.bin_mode}")
    roi_pool(*w.call_args(), bin_mode=args.bin_mode)  # load the compiled kernel
    t0 = time.perf_counter()
    out, argmax = roi_pool(*w.call_args(), bin_mode=args.bin_mode)
    dt = time.perf_counter() - t0
    edges = bin_edges(w.rois, w.output_size, w.spatial_scale, h, wd, bin_mode=args.bin_mode)
    empty_bins = int(edges.empty.sum())
    lost = int(((argmax == -1).sum(axis=1) > 0).sum()) - empty_bins
    digest = hashlib.sha256(out.tobytes() + argmax.tobytes()).hexdigest()[:16]
    print(f"  output {out.shape} {out.dtype}, argmax {argmax.dtype}")
    print(f"  clipped RoI area: {int(edges.clipped_area.sum())} cells; empty bins {empty_bins} of {edges.empty.size}"
          f"; bins with a channel where nothing won: {max(lost, 0)}")
    print(f"  golden (fast) time: {dt * 1e3:.1f} ms; result digest {digest}")
    if args.check:
        small = w.scaled(min(c, 4))
        a = roi_pool(*small.call_args(), bin_mode=args.bin_mode)
        b = roi_pool(*small.call_args(), bin_mode=args.bin_mode, impl="reference")
        same = a[0].tobytes() == b[0].tobytes() and np.array_equal(a[1], b[1])
        print(f"  fast == reference on {small.name}: {'yes' if same else 'NO'}")
        if not same:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
