"""Transports that run :class:`~hdl.job.EngineJob`\\ s on the generated Verilog.

Each implements ``execute(job) -> EngineRun`` (the driver's interface,
:class:`host.driver.Transport`) and ``build() -> seconds``:

* :class:`HarnessTransport` (``"verilator"``): the C++ harness of
  :mod:`sim.fast_harness`; Python only writes the memory image, registers and
  descriptors into its input file, starts it and reads the results back.
* :class:`CocotbTransport` (``"cocotb-verilator"``, ``"icarus"``): the
  cocotbext-axi testbench :mod:`sim.cocotb_tb` through cocotb's Python
  runner; it can also check the beats against expected ones (scoreboard)
  and run several jobs in a row, resetting the engine mid-run.

Builds are cached (:func:`sim.toolchain.cached_build`): the first run of a
configuration pays for them, later runs start at once.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hdl import protocol as proto
from hdl.job import EngineConfig, EngineJob, EngineRun, descriptor_beats

from . import cocotb_runner, toolchain
from .engine import TOP, engine_params, engine_verilog, icarus_verilog
from .traffic import Traffic

__all__ = ["HarnessTransport", "CocotbTransport", "Phase", "max_cycles_for"]

#: Cycles between polls of STATUS.DONE (reading it costs the engine nothing).
POLL_CYCLES = 64


def max_cycles_for(job: EngineJob, traffic: Traffic, beat_bytes: int) -> int:
    """A cycle budget no healthy run can exhaust (a stall detector, not a limit).

    Every result beat, every descriptor beat and every read beat (at most a
    whole image per RoI) costs at most a few cycles, divided by the busiest
    pause probability, plus the latency of every RoI.
    """
    n = max(1, dict(job.reg_writes).get(proto.reg("N").offset, 1))
    image_beats = len(job.memory) // max(1, beat_bytes) // n
    work = job.expected_beats + sum(map(len, job.descriptors)) + job.num_rois * image_beats
    p = min(traffic.roi_valid, traffic.out_ready, traffic.arready, traffic.rvalid)
    return int(4 * work / p + job.num_rois * 4 * traffic.latency_range[1] + 100_000)


def _run_stats(name: str, **figures) -> dict:
    return {"simulator": name, **figures}


def _since(ends, first) -> np.ndarray:
    """Cycles from the first descriptor accepted to each RoI's last beat, both included."""
    ends = np.asarray(ends, dtype=np.int64)
    return ends - int(first) + 1 if first is not None else np.zeros(0, np.int64)


class HarnessTransport:
    """The engine in the C++ Verilator harness.

    Parameters
    ----------
    params : dict
        :class:`~hdl.engine.RoIPoolEngine` parameters (completed with the defaults).
    traffic : Traffic, optional
        Default: no pauses, the default read latency.
    waves : bool
        Build with tracing and dump a waveform (FST where Verilator's FST
        writer builds here, else VCD) to ``wave_path``.
    wave_path : path, optional
        Default ``build/sim/waves/roipool_engine-verilator.<fmt>``.
    wave_cycles : int
        Cap on the traced cycles (0: all).
    progress : callable, optional
        ``progress(cycles, beats)`` while a run goes on.
    native : bool
        Compile the model for this machine's CPU (``-march=native``).
    """

    name = "verilator"

    def __init__(self, params: dict, traffic: Traffic | None = None, *, waves: bool = False,
                 wave_path: str | Path | None = None, wave_cycles: int = 0, progress=None, native: bool = True):
        self.params = engine_params(params)
        self.config = EngineConfig.from_params(self.params)
        self.traffic = traffic or Traffic()
        self.waves = waves
        self.wave_path = Path(wave_path) if wave_path else toolchain.BUILD_ROOT / "waves" / f"{TOP}-verilator.fst"
        self.wave_cycles = wave_cycles
        self.progress = progress
        self.cflags = ("-march=native",) if native else ()
        self.exe = None

    def build(self) -> float:
        """Generate the Verilog and compile the harness (both cached); return the seconds taken."""
        from .fast_harness import build_harness
        t0 = time.perf_counter()
        self.exe = build_harness(engine_verilog(self.params), TOP, waves=self.waves, cflags=self.cflags)
        return time.perf_counter() - t0

    def execute(self, job: EngineJob) -> EngineRun:
        from .fast_harness import run_harness
        if self.exe is None:
            self.build()
        t = self.traffic
        wave = None
        if self.waves:
            self.wave_path.parent.mkdir(parents=True, exist_ok=True)
            wave = self.wave_path
        res = run_harness(
            self.exe, [(job.feat_base, job.memory)], job.reg_writes, [job.start], job.status_offset,
            descriptor_beats(job), done_mask=job.done_mask, final_reads=job.readback,
            latency=t.latency_range, max_outstanding=1 << 30, p_arready=t.arready, p_rvalid=t.rvalid,
            p_out_ready=t.out_ready, p_roi_valid=t.roi_valid, seed=t.seed, poll_interval=POLL_CYCLES,
            rresp_error_beat=None if t.rresp_error_at is None else t.rresp_error_at + 1, record_ar=False,
            max_cycles=max_cycles_for(job, t, self.config.beat_bytes), wave=wave, wave_cycles=self.wave_cycles,
            progress=self.progress)
        words = np.ascontiguousarray(res.beat_words, dtype="<u4")        # (beats, 32-bit words)
        beats = words.view(np.uint8)[:, :self.config.result_bytes]
        return EngineRun(beats=np.ascontiguousarray(beats), last=res.last, regs=res.regs, cycles=res.cycles,
                         stats=_run_stats(self.name, sim_cycles=res.summary["cycles_total"],
                                          sim_wall_s=res.sim_wall_s, cycles_per_s=res.cycles_per_s,
                                          cycles_per_cpu_s=res.cycles_per_cpu_s,
                                          bad_reads=res.summary["bad_reads"],
                                          roi_end_cycles=_since(res.frame_ends, res.summary["first_desc_cycle"]),
                                          waves=str(res.wave) if res.wave else None))


@dataclass
class Phase:
    """One job of a :meth:`CocotbTransport.run_phases` sequence.

    Attributes
    ----------
    job : EngineJob
    abort_after : int, optional
        Assert ``rst`` once this many result beats have arrived (the run is
        abandoned mid-RoI; the next phase must run cleanly).
    expected : (beats, care), optional
        :func:`hdl.job.encode_results` of the golden output: the bench's
        scoreboard compares every beat with it.
    """

    job: EngineJob
    abort_after: int | None = None
    expected: tuple | None = None


class CocotbTransport:
    """The engine in a cocotbext-axi testbench on Verilator or Icarus.

    Parameters
    ----------
    params : dict
        :class:`~hdl.engine.RoIPoolEngine` parameters.
    simulator : {"verilator", "icarus"}
    traffic : Traffic, optional
        Default: no pauses, the default read latency (at least 2 here).
    waves : bool
        Record a waveform (FST/VCD on Verilator, VCD on Icarus) into the run
        directory under ``build/sim``; its path is in ``run.stats["waves"]``.
    progress : callable, optional
        ``progress(None, beats)`` about every second while a run goes on.
    timeout : float, optional
        Wall-clock limit of the simulator process in seconds.
    """

    def __init__(self, params: dict, simulator: str = "verilator", traffic: Traffic | None = None, *,
                 waves: bool = False, progress=None, timeout: float | None = None):
        if simulator not in ("verilator", "icarus"):
            raise ValueError(f"simulator must be 'verilator' or 'icarus', not {simulator!r}")
        self.params = engine_params(params)
        self.config = EngineConfig.from_params(self.params)
        self.simulator = simulator
        self.name = "icarus" if simulator == "icarus" else "cocotb-verilator"
        self.traffic = traffic or Traffic()
        if self.traffic.latency_range[0] < 2:
            raise ValueError("the cocotb memory model needs a read latency of at least 2 cycles")
        self.waves = waves
        self.progress = progress
        self.timeout = timeout
        self.verilog = None

    def build(self) -> float:
        """Generate the Verilog and build the simulation model (both cached); return the seconds."""
        t0 = time.perf_counter()
        self.verilog = engine_verilog(self.params)
        if self.simulator == "icarus":
            self.verilog = icarus_verilog(self.verilog)
        cocotb_runner.build_cocotb(self.verilog, TOP, simulator=self.simulator, waves=self.waves)
        return time.perf_counter() - t0

    def execute(self, job: EngineJob, expected: tuple | None = None) -> EngineRun:
        return self.run_phases([Phase(job, expected=expected)])[0]

    def run_phases(self, phases: list[Phase]) -> list[EngineRun]:
        """Run jobs one after the other in one simulation; one :class:`EngineRun` each."""
        if self.verilog is None:
            self.build()
        t = self.traffic
        arrays = {}
        for i, ph in enumerate(phases):
            j = ph.job
            words, last = descriptor_beats(j)
            arrays.update({
                f"mem{i}": np.frombuffer(j.memory, np.uint8), f"base{i}": j.feat_base,
                f"regs{i}": np.array(j.reg_writes, np.uint32).reshape(-1, 2), f"start{i}": np.array(j.start),
                f"desc{i}": words, f"desc_last{i}": last, f"status{i}": j.status_offset,
                f"done_mask{i}": j.done_mask, f"readback{i}": np.array(j.readback, np.uint32),
            })
            if ph.expected is not None:
                arrays[f"exp{i}"], arrays[f"care{i}"] = ph.expected
        top = max(p.job.feat_base + len(p.job.memory) for p in phases)
        with tempfile.TemporaryDirectory(prefix="cocotb-job-", dir=_scratch()) as tmp:
            tmp = Path(tmp)
            np.savez(tmp / "in.npz", **arrays)
            args = {
                "npz": str(tmp / "in.npz"), "out": str(tmp / "out.npz"),
                "phases": [{"abort_after": p.abort_after} for p in phases],
                "traffic": {"roi_valid": t.roi_valid, "out_ready": t.out_ready, "arready": t.arready,
                            "rvalid": t.rvalid, "latency": list(t.latency_range),
                            "rresp_error_at": t.rresp_error_at, "seed": t.seed},
                "poll": POLL_CYCLES, "result_bytes": self.config.result_bytes,
                "max_cycles": max(max_cycles_for(p.job, t, self.config.beat_bytes) for p in phases),
                "mem_size": 1 << max(12, (top - 1).bit_length()),
                "progress": str(tmp / "progress") if self.progress else None,
            }
            t0 = time.perf_counter()
            with _Watcher(tmp / "progress", self.progress):
                result = cocotb_runner.run_cocotb(
                    self.verilog, TOP, "sim.cocotb_tb", simulator=self.simulator, test_args=args,
                    waves=self.waves, timeout=self.timeout, check=False)
            wall = time.perf_counter() - t0
            out = np.load(tmp / "out.npz") if (tmp / "out.npz").exists() else None
            if out is None:
                raise cocotb_runner.CocotbFailure(
                    f"{self.name}: the testbench wrote no results; last lines of {result.log}:\n"
                    + toolchain.log_tail(result.log), result)
            runs = []
            total, run_wall = int(out["sim_cycles"]), float(out["run_wall_s"])
            for i in range(len(phases)):
                regs = {int(a): int(v) for a, v in out[f"regs{i}"]}
                runs.append(EngineRun(
                    beats=out[f"beats{i}"], last=out[f"last{i}"], regs=regs, cycles=int(out[f"cycles{i}"]),
                    # cycles/s over the jobs; the process also spends a few seconds starting up
                    stats=_run_stats(self.name, sim_cycles=total, sim_wall_s=run_wall, process_wall_s=wall,
                                     cycles_per_s=int(out["run_cycles"]) / run_wall if run_wall else 0.0,
                                     cycles_per_cpu_s=int(out["run_cycles"]) / max(float(out["run_cpu_s"]), 1e-9),
                                     bad_reads=int(out[f"bad_reads{i}"]), aborted=bool(out[f"aborted{i}"]),
                                     roi_end_cycles=out[f"roi_ends{i}"].astype(np.int64),
                                     waves=str(result.waves) if result.waves else None)))
            if result.failed:
                case = next((c for c in result.cases if c["status"] == "failed"), {})
                raise cocotb_runner.CocotbFailure(f"{self.name}: scoreboard: {case.get('message', '?')}", result)
        return runs


def _scratch() -> Path:
    d = toolchain.BUILD_ROOT / "tmp"
    d.mkdir(parents=True, exist_ok=True)
    return d


class _Watcher:
    """Feeds the bench's progress file to a callback from a thread while the simulator runs."""

    def __init__(self, path: Path, callback):
        self.path, self.callback = path, callback
        self.stop = threading.Event()
        self.thread = None

    def _loop(self):
        while not self.stop.wait(1.0):
            try:
                self.callback(None, int(self.path.read_text()))
            except (OSError, ValueError):
                pass

    def __enter__(self):
        if self.callback:
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        if self.thread:
            self.thread.join()
