"""``python -m sim [WORKLOAD]`` (``make sim``): run a workload on the engine, cycle-accurately.

Generates the Verilog, builds the simulator (both cached under
``build/sim``), runs the workload, checks the result against the golden
model bit for bit (exit status 1 on any difference) and prints the cycle
count against the bandwidth bound, the projection at the measured ECP5
fmax (when ``reports/data/fpga-default.json`` holds one for this
configuration), the simulation speed and the build time.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time

from golden.workloads import WORKLOADS

from .api import SIMULATORS, measured_fmax, simulate_workload
from .engine import engine_defaults
from .toolchain import fst_available
from .traffic import DEFAULT_READ_LATENCY


def _engine_arg(text: str) -> tuple[str, object]:
    key, sep, value = text.partition("=")
    if not sep or key not in engine_defaults():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE with NAME one of {', '.join(engine_defaults())}")
    try:
        return key, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return key, value


def _rate(v: float) -> str:
    return f"{v / 1e6:.2f} M" if v >= 1e5 else f"{v / 1e3:.1f} k"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sim", description=__doc__.splitlines()[0])
    ap.add_argument("workload", nargs="?", default="fast-rcnn-vgg16", choices=WORKLOADS)
    ap.add_argument("--dtype", default="int16", help="feature type (default int16)")
    ap.add_argument("--lanes", type=int, default=None,
                    help=f"channels per beat (default: the engine's, {engine_defaults()['lanes']})")
    ap.add_argument("--sim", default="verilator", choices=SIMULATORS, help="simulator (default verilator)")
    ap.add_argument("--waves", type=int, default=0, choices=(0, 1), help="1: record a waveform under build/sim/waves")
    ap.add_argument("--wave-cycles", type=int, default=20_000,
                    help="Verilator harness: trace only the first N cycles (0: all; default 20000; "
                         "a VCD of the whole engine takes ~8 KB per cycle)")
    ap.add_argument("--latency", type=int, default=DEFAULT_READ_LATENCY, help="memory read latency in cycles")
    ap.add_argument("--channels", type=int, default=None, help="run a copy with only the first N channels")
    ap.add_argument("--bin-mode", default="float32", help="bin arithmetic (default float32, as torchvision)")
    ap.add_argument("--engine", type=_engine_arg, action="append", default=[], metavar="NAME=VALUE",
                    help="engine parameter (repeatable), e.g. --engine fifo_depth=256")
    a = ap.parse_args(argv)

    label = a.workload + (f"[C={a.channels}]" if a.channels else "")
    if a.waves and a.sim in ("verilator", "cocotb-verilator"):
        fst, why = fst_available()
        if not fst:
            print(f"waves: {why}")
    print(f"{label}, {a.dtype}, {a.sim}: generating Verilog and building the simulator (cached after the first run)")
    t0 = time.perf_counter()
    try:
        r = simulate_workload(a.workload, dtype=a.dtype, simulator=a.sim, lanes=a.lanes, channels=a.channels,
                              bin_mode=a.bin_mode, engine=dict(a.engine), read_latency=a.latency,
                              waves=bool(a.waves), wave_cycles=a.wave_cycles, progress=True)
    except (ValueError, TypeError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    total = time.perf_counter() - t0
    e = r.config["engine"]
    k = r.out.shape[0]
    print(f"engine       lanes={e['lanes']} dtype={e['dtype']} max_n={e['max_n']} max_c={e['max_c']} "
          f"max_h={e['max_h']} max_w={e['max_w']} max_pooled={e['max_pooled']} fifo_depth={e['fifo_depth']}")
    for note in r.config["notes"]:
        print(f"             {note}")
    print(f"memory       read latency {r.config['traffic']['latency']} cycles, no pauses")
    ok = bool(r.bit_exact)
    print(f"bit-exact    {'yes' if ok else 'NO'}: {r.out.size} values and argmax against the golden model "
          f"({k} RoIs x {r.out.shape[1]} channels x {r.out.shape[2]}x{r.out.shape[3]})")
    print(f"cycles       {r.cycles:,} (first descriptor accepted to last result beat; BUSY_CYCLES "
          f"{r.counters.get('BUSY_CYCLES', 0):,})")
    print(f"bound        {r.bound:,} (golden.bandwidth_bound)   cycles/bound {r.efficiency:.3f}")
    print("counters     " + ", ".join(f"{n}={v:,}" for n, v in r.counters.items()))
    fmax, source = measured_fmax(e)
    if fmax is None:
        print(f"fmax         {source}")
    else:
        seconds = r.cycles / (fmax * 1e6)
        print(f"fmax         {fmax:.1f} MHz (ECP5, {source}): {seconds * 1e3:.3f} ms per call, "
              f"{k / seconds:,.0f} RoIs/s")
    cpu = r.stats.get("cycles_per_cpu_s")
    print(f"simulation   {_rate(r.cycles_per_s)} cycles/s"
          + (f" ({_rate(cpu)} per CPU-second)" if cpu else "")
          + f", {r.simulator}, {r.stats.get('sim_cycles', 0):,} cycles simulated")
    print(f"time         {total:.1f} s in all, build {r.build_s:.1f} s (Verilog generation and simulator build)")
    if r.waves_path:
        capped = a.sim == "verilator" and a.wave_cycles and r.stats.get("sim_cycles", 0) > a.wave_cycles
        print(f"waves        {r.waves_path}" + (f" (first {a.wave_cycles:,} cycles)" if capped else ""))
    if not ok:
        print("MISMATCH: the engine's output differs from the golden model", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
