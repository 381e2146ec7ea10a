"""One entry point for cycle-accurate simulation of the engine: :func:`simulate`.

>>> import sim
>>> r = sim.simulate_workload("fast-rcnn-vgg16", dtype="int16")          # Verilator harness
>>> r.bit_exact, r.cycles, r.bound, r.cycles / r.bound, r.cycles_per_s

Steps: the arguments are validated by :func:`golden.validate` before
anything else; the engine configuration is the gateware's defaults, with the
features' type, ``lanes`` and ``engine`` applied, and any size limit the
problem exceeds raised to fit (unless ``engine`` fixes it); the Verilog is
generated and the simulator built once per configuration (cached under
``build/sim``); the host protocol (:mod:`hdl.job`) packs the job and decodes
the result beats; the result is compared with the golden model bit for bit.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import golden
from golden.fast import roi_pool_fast
from golden.workloads import make_workload
from hdl.job import (COUNTERS, EngineConfig, ProtocolError, build_job, decode_results, encode_results, error_names,
                     named_registers)

from . import toolchain
from .engine import engine_params, engine_verilog, fit_params
from .traffic import DEFAULT_READ_LATENCY, Traffic

__all__ = ["SIMULATORS", "SimResult", "simulate", "simulate_workload", "make_transport", "simulator_available",
           "measured_fmax", "FMAX_FILE"]

#: Simulator names: the C++ Verilator harness, cocotb on Verilator, cocotb on Icarus, Amaranth's pysim.
SIMULATORS = ("verilator", "cocotb-verilator", "icarus", "pysim")

#: The ECP5 place-and-route result of the default build, written by ``make report``.
FMAX_FILE = toolchain.REPO_ROOT / "reports" / "data" / "fpga-default.json"


@dataclass
class SimResult:
    """One simulated run.

    Attributes
    ----------
    out, argmax : ndarray
        The engine's output, decoded to the golden model's shapes.
    cycles : int
        First descriptor accepted to last result beat accepted, both included.
    counters : dict
        The engine's counter registers after the run (``BUSY_CYCLES``:
        START to DONE, ``BEATS_READ``, ``BEATS_WRITTEN``, stall counts,
        ``ROIS_DONE``).
    bound : int
        :func:`golden.bandwidth_bound` summed over the RoIs.
    bit_exact : bool or None
        Output and argmax equal the golden model's (None: not checked).
    wall_s : float
        Seconds for the whole call (validation, build, run, decode).
    build_s : float
        Seconds spent generating Verilog and building (near 0 when cached).
    cycles_per_s : float
        Simulated clock cycles per second of simulation.
    simulator : str
    config : dict
        Engine parameters, sizing notes, traffic.
    waves_path : Path or None
    stats : dict
        Everything else the transport measured (``sim_cycles``, ...).
    per_roi : ndarray of int64
        Cycles between one RoI's last result beat and the next's (the first
        counted from the first descriptor): what each RoI added to ``cycles``.
    """

    out: np.ndarray
    argmax: np.ndarray
    cycles: int
    counters: dict
    bound: int
    bit_exact: bool | None
    wall_s: float
    build_s: float
    cycles_per_s: float
    simulator: str
    config: dict
    waves_path: Path | None = None
    stats: dict = field(default_factory=dict)
    per_roi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def efficiency(self) -> float:
        """``cycles / bound`` (1.0 is the bandwidth limit)."""
        return self.cycles / self.bound if self.bound else float("nan")


def simulator_available(simulator: str) -> tuple[bool, str]:
    """Whether ``simulator`` can run here, and why not."""
    if simulator not in SIMULATORS:
        return False, f"unknown simulator {simulator!r}; known: {', '.join(SIMULATORS)}"
    if simulator == "pysim":
        return True, "Amaranth simulator (always available)"
    if simulator == "icarus":
        ok, why = toolchain.icarus_available()
        return ok, why or f"{toolchain.icarus_version()} with cocotb"
    ok, why = toolchain.verilator_available()
    how = "C++ harness" if simulator == "verilator" else "cocotb"
    return ok, why or f"Verilator {toolchain.verilator_version()} ({how})"


def make_transport(simulator: str, params: dict, traffic: Traffic | None = None, *, waves: bool = False,
                   wave_path: Path | None = None, wave_cycles: int = 0, progress=None):
    """The transport (``execute(job) -> EngineRun``) of ``simulator`` for an engine.

    ``progress(cycles or None, beats)`` is called while a run goes on (not on pysim).
    """
    ok, why = simulator_available(simulator)
    if not ok:
        raise RuntimeError(f"simulator {simulator!r} is not usable here: {why}")
    if simulator == "verilator":
        from .transports import HarnessTransport
        return HarnessTransport(params, traffic, waves=waves, wave_path=wave_path, wave_cycles=wave_cycles,
                                progress=progress)
    if simulator == "pysim":
        from .pysim import PysimTransport
        return PysimTransport(params, traffic, vcd=wave_path if waves else None)
    from .transports import CocotbTransport
    return CocotbTransport(params, "icarus" if simulator == "icarus" else "verilator", traffic, waves=waves,
                           progress=progress)


def simulate(features, rois, output_size, spatial_scale=1.0, *, bin_mode="float32", simulator="verilator",
             lanes: int | None = None, engine: dict | None = None, read_latency: int | tuple | None = None,
             traffic: Traffic | None = None, waves: bool = False, wave_cycles: int = 20_000,
             progress: bool = False, check: bool = True, name: str = "run") -> SimResult:
    """Run one RoIPool call on the engine in a cycle-accurate simulator.

    Parameters
    ----------
    features, rois, output_size, spatial_scale, bin_mode
        As for :func:`golden.roi_pool`.
    simulator : str
        One of :data:`SIMULATORS`: ``"verilator"`` (C++ harness, fast),
        ``"cocotb-verilator"``, ``"icarus"`` (cocotbext-axi testbench) or
        ``"pysim"`` (Amaranth's simulator, small problems only).
    lanes : int, optional
        Channels per beat (default: the engine's default).
    engine : dict, optional
        :class:`~hdl.engine.RoIPoolEngine` parameters; the rest are its
        defaults, ``dtype`` is the features' type, and limits the problem
        exceeds are raised to fit unless given here.
    read_latency : int or (int, int), optional
        Memory read latency in cycles (default
        :data:`~sim.traffic.DEFAULT_READ_LATENCY`; see :mod:`sim.traffic`).
    traffic : Traffic, optional
        Pauses and latency of the surroundings (default: none, ``read_latency``).
    waves : bool
        Record a waveform (FST on Verilator where it builds, else VCD; VCD on
        Icarus and pysim) under ``build/sim``.
    wave_cycles : int
        On the Verilator harness, trace only the first ``wave_cycles`` cycles
        (0: all; a VCD of the whole engine takes about 8 KB per cycle).
    progress : bool
        Show a tqdm progress bar (result beats) for runs longer than a second.
    check : bool
        Compare with the golden model (``bit_exact``); on the cocotb
        simulators the bench's scoreboard also checks every beat.
    name : str
        Used in waveform file names.

    Returns
    -------
    SimResult

    Raises
    ------
    TypeError, ValueError
        Invalid arguments (from :func:`golden.validate`), or an engine
        configuration that cannot hold the problem.
    RuntimeError
        The simulator is not usable here, or the engine set an error flag /
        broke the result protocol.
    """
    t0 = time.perf_counter()
    problem = golden.validate(features, rois, output_size, spatial_scale, bin_mode)
    given = dict(engine or {})
    params = engine_params(given, lanes=lanes, dtype=golden.dtype_name(problem.features.dtype))
    fixed = set(given) | ({"lanes"} if lanes is not None else set())
    params, notes = fit_params(params, problem, fixed)
    config = EngineConfig.from_params(params)
    ok, why = config.supports(problem)
    if not ok:
        raise ValueError(f"the engine cannot run this problem: {why}")
    if traffic is None:
        traffic = Traffic(latency=read_latency if read_latency is not None else DEFAULT_READ_LATENCY)
    elif read_latency is not None:
        traffic = replace(traffic, latency=read_latency)
    wave_path = None
    if waves:
        ext = "vcd" if simulator in ("pysim", "icarus") else toolchain.trace_format(True)
        wave_path = toolchain.BUILD_ROOT / "waves" / f"{name}-{simulator}.{ext}"
        wave_path.parent.mkdir(parents=True, exist_ok=True)
    job = build_job(problem, config)
    transport = make_transport(simulator, params, traffic, waves=waves, wave_path=wave_path,
                               wave_cycles=wave_cycles)
    build_s = transport.build() if hasattr(transport, "build") else 0.0
    want = roi_pool_fast(problem) if check else None
    bar = _Bar(job.expected_beats) if progress and hasattr(transport, "progress") else None
    if bar:
        transport.progress = bar.update_to
    try:
        if want is not None and simulator in ("cocotb-verilator", "icarus"):
            run = transport.execute(job, expected=encode_results(*want, config))
        else:
            run = transport.execute(job)
    finally:
        if bar:
            bar.close()
    regs = named_registers(run.regs)
    flags = regs.get("ERR_FLAGS", 0)
    if flags:
        raise ProtocolError(f"the engine set ERR_FLAGS=0x{flags:x} ({', '.join(error_names(flags))}) "
                            "on a validated problem")
    out, argmax = decode_results(run, problem, config)
    _, _, h, w = problem.features.shape
    edges = golden.bin_edges(np.c_[problem.batch, problem.boxes], problem.output_size, problem.spatial_scale, h, w,
                             bin_mode=problem.bin_mode)
    bound = int(golden.bandwidth_bound(edges, problem.features.shape[1], config.lanes).sum())
    exact = None if want is None else bool(out.tobytes() == want[0].tobytes() and np.array_equal(argmax, want[1]))
    stats = dict(run.stats)
    waves_out = stats.pop("waves", None)
    ends = np.asarray(stats.pop("roi_end_cycles", np.zeros(0)), dtype=np.int64)
    return SimResult(
        out=out, argmax=argmax, cycles=run.cycles, counters={n: regs[n] for n in COUNTERS if n in regs},
        bound=bound, bit_exact=exact, wall_s=time.perf_counter() - t0, build_s=build_s,
        cycles_per_s=float(stats.get("cycles_per_s", 0.0)), simulator=simulator,
        config={"engine": params, "notes": notes, "traffic": dict(traffic.__dict__), "bin_mode": problem.bin_mode,
                "verilog": str(engine_verilog(params)) if simulator != "pysim" else None},
        waves_path=Path(waves_out) if waves_out else None, stats=stats, per_roi=np.diff(ends, prepend=0))


def simulate_workload(name: str, dtype="int16", simulator: str = "verilator", lanes: int | None = None, *,
                      channels: int | None = None, seed: int = 0, bin_mode: str = "float32", **kwargs) -> SimResult:
    """:func:`simulate` on a standard workload (:mod:`golden.workloads`).

    ``channels`` runs a copy restricted to the first ``channels`` channels
    (same RoIs), for the slower simulators.
    """
    w = make_workload(name, dtype=dtype, seed=seed)
    if channels is not None:
        w = w.scaled(channels)
    return simulate(*w.call_args(), bin_mode=bin_mode, simulator=simulator, lanes=lanes, name=name, **kwargs)


def measured_fmax(params: dict, path: Path = FMAX_FILE) -> tuple[float | None, str]:
    """The ECP5 fmax measured for this engine configuration, if there is one.

    Read as data from ``reports/data/fpga-default.json`` (written by the
    reports): used only if it holds an engine configuration (``config`` or
    ``engine``) equal to ``params`` on every key both have and, where it
    records ``verilog_sha256``, the same Verilog.  The figure is its
    ``fmax_mhz_median`` (or ``fmax_mhz``).

    Returns
    -------
    (float or None, str)
        MHz and where it came from, or None and why not.
    """
    path = Path(path)
    shown = path.relative_to(toolchain.REPO_ROOT) if path.is_relative_to(toolchain.REPO_ROOT) else path
    if not path.exists():
        return None, f"fmax not measured yet ({shown} does not exist)"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return None, f"fmax not measured yet ({path.name} unreadable: {exc})"
    recorded = data.get("config") or data.get("engine")
    if not isinstance(recorded, dict):
        return None, f"fmax not measured yet for this configuration ({path.name} records no engine configuration)"
    differ = sorted(k for k in set(recorded) & set(params) if recorded[k] != params[k])
    if differ:
        return None, ("fmax not measured yet for this configuration (" + path.name + " is for "
                      + ", ".join(f"{k}={recorded[k]}" for k in differ) + ")")
    digest = data.get("verilog_sha256")
    if digest and digest != hashlib.sha256(engine_verilog(params).read_bytes()).hexdigest():
        return None, f"fmax not measured yet for this RTL version ({path.name} is for other Verilog)"
    fmax = data.get("fmax_mhz_median", data.get("fmax_mhz"))
    if not isinstance(fmax, (int, float)):
        return None, f"fmax not measured yet ({path.name} holds no fmax figure)"
    return float(fmax), str(shown)


class _Bar:
    """tqdm over result beats, fed from the transport's progress callbacks."""

    def __init__(self, total: int):
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="beat", unit_scale=True, delay=1.0, desc="simulating", leave=False)

    def update_to(self, cycles, beats: int) -> None:
        self.bar.update(max(0, beats - self.bar.n))
        if cycles is not None:
            self.bar.set_postfix_str(f"{cycles / 1e6:.1f} M cycles", refresh=False)

    def close(self) -> None:
        self.bar.close()

