"""cocotb testbench of the RoI-pool engine (run by :class:`sim.transports.CocotbTransport`).

Runs inside the simulator (Verilator or Icarus) through cocotb's Python
runner; it is not a pytest module.  Models, all from cocotbext-axi:

* ``AxiStreamSource`` on ``s_axis_roi`` sends one frame per RoI;
* ``AxiStreamSink`` on ``m_axis_out`` collects the result frames;
* ``AxiRamRead`` (the read half of ``AxiRam``) serves the feature map on
  ``m_axi_ar``/``m_axi_r``, with a read latency added (:class:`LatencyRam`);
* ``AxiLiteMaster`` on ``s_axil`` writes and reads the registers.

Pause generators on the four streaming channels insert idle cycles and
back-pressure (:class:`sim.traffic.Traffic`).

Inputs (``$COCOTB_TEST_ARGS``, see :func:`sim.cocotb_runner.test_args`):
``npz`` (the jobs: see :func:`sim.transports.CocotbTransport.run_phases`),
``out`` (where the results go), ``phases`` (per job: ``abort_after``, a
result beat count after which ``rst`` is asserted mid-run), ``traffic``,
``poll`` (cycles between STATUS polls), ``max_cycles`` per job and
``progress`` (a file that receives the beat count while running).

Per job the bench writes the registers, starts the engine, streams the
descriptors, waits for ``STATUS.DONE``, reads the registers back and
compares the result beats with the expected ones where given (the
scoreboard; padding lanes excluded).  ``cycles`` is counted as the spec
counts it: from the clock edge on which the first descriptor beat is
accepted to the edge on which the last result beat is accepted, both
included.
"""

from __future__ import annotations

import gc
import logging
import os
import random
import time
import warnings

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.queue import Queue
from cocotb.simtime import convert, get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiRamRead, AxiReadBus, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from sim.cocotb_runner import quiet, test_args

# cocotbext-axi 0.1.28 uses Event.data, which cocotb 2 deprecates: one warning per transfer.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.")

#: Clock period in ps (the value only scales simulated time).
PERIOD = 10_000


def _pauses(p: float, rng: random.Random):
    """Endless pause pattern: True (pause) with probability ``p`` per cycle."""
    while True:
        yield rng.random() < p


class _StampedQueue(Queue):
    """The AR channel's queue: records the edge on which each address was accepted."""

    def put_nowait(self, item):
        item.accepted_ps = get_sim_time("ps")
        super().put_nowait(item)


class LatencyRam(AxiRamRead):
    """``AxiRamRead`` with a read latency, range checking and SLVERR injection.

    The first beat of a burst accepted at edge ``t`` is handed to the R
    channel model half a cycle before edge ``t + (latency-1)*T``, on which
    the model presents it, so its handshake completes on edge
    ``t + latency*T`` at the earliest (latency >= 2).  ``arready`` is high
    except in pauses: any number of bursts may be outstanding.
    """

    def __init__(self, bus, clock, reset, *, size: int, latency: tuple, rng: random.Random,
                 error_beat: int | None):
        super().__init__(bus, clock, reset, size=size)
        self.latency, self.rng, self.error_beat = latency, rng, error_beat
        self.ar_channel.queue = _StampedQueue()
        self.ar_channel.queue_occupancy_limit = -1
        self._recv_ar = self.ar_channel.recv
        self.ar_channel.recv = self._recv_timed
        self._due = None
        self.lo = self.hi = 0
        self.beats = 0
        self.bad_reads = 0

    def load(self, base: int, image: bytes) -> None:
        """Place a job's feature map; reads outside it answer SLVERR."""
        self.write(base, image)
        self.lo, self.hi = base, base + len(image)
        self.bad_reads = 0

    async def _recv_timed(self):
        ar = await self._recv_ar()
        lat = self.rng.randint(*self.latency)
        self._due = int(ar.accepted_ps) + (lat - 1) * PERIOD - PERIOD // 2
        return ar

    async def _read(self, address, length):
        if self._due is not None:
            wait, self._due = self._due - int(get_sim_time("ps")), None
            if wait > 0:
                await Timer(wait, "ps")
        beat, self.beats = self.beats, self.beats + 1
        if not (self.lo <= address and address + length <= self.hi):
            self.bad_reads += 1
            raise IndexError(f"read outside the feature map at 0x{address:x}")    # -> SLVERR
        if beat == self.error_beat:
            raise IOError("injected SLVERR")
        return await super()._read(address, length)


class Bench:
    """The engine with its cocotbext-axi surroundings (built while ``rst`` is high)."""

    def __init__(self, dut, traffic: dict, rng: random.Random, mem_size: int):
        self.dut = dut
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_roi"), dut.clk, dut.rst, byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_out"), dut.clk, dut.rst, byte_lanes=1)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.ram = LatencyRam(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=mem_size,
                              latency=tuple(traffic["latency"]), rng=rng, error_beat=traffic["rresp_error_at"])
        quiet(self.src, self.sink, self.axil)
        quiet(self.ram, level=logging.ERROR)      # its SLVERR warnings are counted, not logged
        for obj, key in ((self.src, "roi_valid"), (self.sink, "out_ready"),
                         (self.ram.ar_channel, "arready"), (self.ram.r_channel, "rvalid")):
            if traffic[key] < 1:
                obj.set_pause_generator(_pauses(1 - traffic[key], rng))

    async def reset(self, cycles: int = 8):
        """Pulse ``rst``; every model drops what it holds."""
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        # Empty the queues while the models are held in reset: once it is
        # released the source would start on the next queued frame.
        self.src.clear()
        self.sink.clear()
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)


async def _first_accept(dut) -> int:
    """Time of the first edge on which a descriptor beat is accepted."""
    while True:
        await RisingEdge(dut.clk)
        if dut.s_axis_roi_tvalid.value and dut.s_axis_roi_tready.value:
            return get_sim_time("ps")


def _progress(path, beats: int) -> None:
    if path:
        tmp = path + ".tmp"
        with open(tmp, "w") as fh:
            fh.write(str(beats))
        os.replace(tmp, path)


async def _run_job(bench: Bench, data, i: int, phase: dict, args: dict, out: dict) -> None:
    dut = bench.dut
    g = lambda name: data[f"{name}{i}"]  # noqa: E731
    bench.ram.load(int(g("base")), g("mem").tobytes())
    for addr, value in g("regs").tolist():
        await bench.axil.write_dword(addr, value)
    first = cocotb.start_soon(_first_accept(dut))
    start_addr, start_value = g("start").tolist()
    await bench.axil.write_dword(start_addr, start_value)
    frame = []
    for w, tl in zip(g("desc").tolist(), g("desc_last").tolist()):
        frame.append(w)
        if tl:
            bench.src.send_nowait(AxiStreamFrame(frame))
            frame = []
    status_addr, done_mask = int(g("status")), int(g("done_mask"))
    poll, limit = int(args["poll"]), int(args["max_cycles"])
    frames, beats, waited, aborted = [], 0, 0, False
    while True:
        await Timer(poll * PERIOD, "ps")     # one callback, not one per edge (ClockCycles)
        waited += poll
        # DONE is set once the last RoI's last beat was accepted, so the
        # frames collected after reading it are all of them (a refused run,
        # ERR_FLAGS.SIZE, is DONE at once without any).
        done = await bench.axil.read_dword(status_addr) & done_mask
        while not bench.sink.empty():
            f = bench.sink.recv_nowait()
            frames.append(f)
            beats += len(f.tdata)
        if phase.get("abort_after") is not None and beats >= phase["abort_after"]:
            await bench.reset()
            aborted = True
            break
        if done:
            break
        if waited >= limit:
            raise TimeoutError(f"job {i}: engine stalled after {waited} cycles, {beats} result beats")
        if waited % (64 * poll) == 0:
            _progress(args.get("progress"), beats)
    _progress(args.get("progress"), beats)
    regs = [(addr, await bench.axil.read_dword(addr)) for addr in g("readback").tolist()]
    nb = int(args["result_bytes"])
    raw = b"".join(int(v).to_bytes(nb, "little") for f in frames for v in f.tdata)
    got = np.frombuffer(raw, dtype=np.uint8).reshape(-1, nb)
    last = np.array([j == len(f.tdata) - 1 for f in frames for j in range(len(f.tdata))], dtype=bool)
    cycles, ends = 0, []
    if not aborted and frames and first.done():
        ends = [int(round((convert(f.sim_time_end, "step", to="ps") - first.result()) / PERIOD)) + 1
                for f in frames]
        cycles = ends[-1]
    if not first.done():
        first.cancel()
    out.update({f"beats{i}": got, f"last{i}": last, f"regs{i}": np.array(regs, dtype=np.uint32).reshape(-1, 2),
                f"cycles{i}": cycles, f"roi_ends{i}": np.array(ends, dtype=np.int64),
                f"bad_reads{i}": bench.ram.bad_reads, f"aborted{i}": aborted})
    if not bench.src.idle():
        # A refused run leaves descriptors in the source (one of them on the
        # bus, tvalid high): reset before the next job, as a driver would.
        await bench.reset()


def _scoreboard(data, i: int, out: dict) -> str | None:
    """First mismatch against the expected beats (padding lanes excluded), or None."""
    if f"exp{i}" not in data.files:
        return None
    exp, care, got = data[f"exp{i}"], data[f"care{i}"], out[f"beats{i}"]
    if got.shape != exp.shape:
        return f"job {i}: {got.shape[0]} result beats, expected {exp.shape[0]}"
    bad = np.nonzero(((got ^ exp) & care.astype(np.uint8) * 0xFF).any(axis=1))[0]
    if bad.size:
        return (f"job {i}: {bad.size} result beats differ from the golden model, first at beat {bad[0]}: "
                f"{got[bad[0]].tobytes().hex()} != {exp[bad[0]].tobytes().hex()}")
    return None


@cocotb.test()
async def run_phases(dut):
    """Run every job of the input file in order; write the results; check the scoreboard."""
    # Every cycle allocates a few short-lived objects (handshake samples,
    # transactions); with the default thresholds the cyclic collector then
    # spends ~15 % of the run re-scanning the long-lived ones (queued frames).
    gc.collect()
    gc.freeze()
    gc.set_threshold(200_000, 50, 50)
    args = test_args()
    data = np.load(args["npz"])
    rng = random.Random(int(args["traffic"]["seed"]))
    Clock(dut.clk, PERIOD, unit="ps", impl="gpi").start()
    # Drive every input before the first edge (Icarus starts undriven inputs
    # at Z), and create the models only after a few reset cycles: they sample
    # the engine's outputs from their first edge on, and Icarus leaves
    # combinational outputs X until some input of theirs has changed.
    dut.rst.value = 1
    for name in ("m_axi_arready", "m_axi_rvalid", "s_axis_roi_tvalid", "m_axis_out_tready", "s_axil_awvalid",
                 "s_axil_wvalid", "s_axil_bready", "s_axil_arvalid", "s_axil_rready"):
        getattr(dut, name).value = 0
    await ClockCycles(dut.clk, 4)
    bench = Bench(dut, args["traffic"], rng, int(args["mem_size"]))
    await bench.reset()
    out = {}
    problems = []
    # Simulation speed is measured over the jobs only (not the start-up).
    t0, cpu0, c0 = time.perf_counter(), time.process_time(), get_sim_time("ps") // PERIOD
    for i, phase in enumerate(args["phases"]):
        await _run_job(bench, data, i, phase, args, out)
        if not out[f"aborted{i}"]:
            problems.append(_scoreboard(data, i, out))
    out["run_wall_s"] = time.perf_counter() - t0
    out["run_cpu_s"] = time.process_time() - cpu0
    out["run_cycles"] = get_sim_time("ps") // PERIOD - c0
    out["sim_cycles"] = get_sim_time("ps") // PERIOD
    np.savez(args["out"], **out)
    problems = [p for p in problems if p]
    assert not problems, "; ".join(problems)
