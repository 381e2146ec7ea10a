"""The engine in Amaranth's own simulator (pysim): bench and transport.

:class:`Harness` drives every interface of a :class:`hdl.engine.RoIPoolEngine`
from one coroutine per cycle (much faster in pysim than one process per
interface): the descriptor source and the result sink with random valid /
ready, and an AXI4 memory with random ``arready``, read latency and gaps in
``rvalid`` (see :mod:`sim.traffic` for the model).  It also checks the AXI
read rules the engine promises (INCR, full-width ``arsize``, no 4 KiB
crossing, reads only inside the feature map).  The gateware tests
(``tests/hdl``) and :class:`PysimTransport` share it.

pysim runs a few thousand cycles per second: use it for small problems.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hdl import protocol
from hdl.job import EngineJob, EngineRun

from .traffic import Traffic

__all__ = ["R", "RunResult", "Harness", "axil_write", "axil_read", "wait_high", "PysimTransport"]

#: Register offsets by name.
R = {r.name: r.offset for r in protocol.REGISTERS}

#: Cycles an AXI4-Lite handshake may take before the bench gives up.
_AXIL_TIMEOUT = 100


@dataclass
class RunResult:
    """What :meth:`Harness.stream` saw.

    Attributes
    ----------
    beats : list of (int, bool)
        ``(tdata, tlast)`` of each accepted result beat.
    cycles : int
        First descriptor accepted to last result beat accepted, both included.
    counters : dict
        Counter registers by name (after :meth:`Harness.read_counters`).
    status, err : int
        STATUS and ERR_FLAGS (after :meth:`Harness.read_counters`).
    ars : list of (int, int)
        ``(address, beats)`` of each accepted read burst.
    total_cycles : int
        Cycles the streaming loop ran.
    frame_ends : list of int
        Loop cycle of each accepted ``tlast`` beat.
    first : int or None
        Loop cycle of the first accepted descriptor beat.
    """

    beats: list = field(default_factory=list)
    cycles: int = 0
    counters: dict = field(default_factory=dict)
    status: int = 0
    err: int = 0
    ars: list = field(default_factory=list)
    total_cycles: int = 0
    frame_ends: list = field(default_factory=list)
    first: int | None = None


async def wait_high(ctx, flag, *values, timeout, what):
    """Tick until ``flag`` samples high; return ``values`` sampled on that edge.

    Raises ``TimeoutError`` (naming ``what``) after ``timeout`` edges, so a
    handshake the design never completes fails the test instead of hanging it.
    """
    for _ in range(timeout):
        _, _, fired, *sampled = await ctx.tick().sample(flag, *values)
        if fired:
            return sampled
    raise TimeoutError(f"{what}: no handshake in {timeout} cycles")


async def _handshake(ctx, ready, what):
    await wait_high(ctx, ready, timeout=_AXIL_TIMEOUT, what=f"AXI-Lite {what}")


async def axil_write(ctx, dut, addr, value):
    """One AXI4-Lite write (address and data together, as the engine accepts them)."""
    ctx.set(dut.s_axil_awaddr, addr)
    ctx.set(dut.s_axil_wdata, value & 0xFFFFFFFF)
    ctx.set(dut.s_axil_wstrb, 0xF)
    ctx.set(dut.s_axil_awvalid, 1)
    ctx.set(dut.s_axil_wvalid, 1)
    ctx.set(dut.s_axil_bready, 1)
    await _handshake(ctx, dut.s_axil_awready, "write address")
    ctx.set(dut.s_axil_awvalid, 0)
    ctx.set(dut.s_axil_wvalid, 0)
    await _handshake(ctx, dut.s_axil_bvalid, "write response")
    ctx.set(dut.s_axil_bready, 0)


async def axil_read(ctx, dut, addr):
    """One AXI4-Lite read; returns the data."""
    ctx.set(dut.s_axil_araddr, addr)
    ctx.set(dut.s_axil_arvalid, 1)
    ctx.set(dut.s_axil_rready, 1)
    await _handshake(ctx, dut.s_axil_arready, "read address")
    ctx.set(dut.s_axil_arvalid, 0)
    data, = await wait_high(ctx, dut.s_axil_rvalid, dut.s_axil_rdata, timeout=_AXIL_TIMEOUT,
                            what="AXI-Lite read data")
    ctx.set(dut.s_axil_rready, 0)
    return data


class Harness:
    """Memory image, traffic generators and AXI checks for one simulation.

    Parameters
    ----------
    dut : RoIPoolEngine
    memory : bytes
        Feature map image, served at ``base``.
    base : int
        Byte address of ``memory``.
    seed : int
        Seed of the pause and latency draws.
    traffic : Traffic, optional
        Default :meth:`Traffic.random` (this is a test bench first).
    """

    def __init__(self, dut, memory: bytes, base: int, seed: int = 0, traffic: Traffic | None = None):
        self.dut = dut
        self.mem = memory
        self.base = base
        self.rng = np.random.default_rng(seed)
        self.t = traffic or Traffic.random()
        self.beat_bytes = dut.beat_bytes
        self.r_queue = deque()

    async def write_registers(self, ctx, writes):
        """AXI4-Lite writes ``[(offset, value), ...]`` in order."""
        for addr, value in writes:
            await axil_write(ctx, self.dut, addr, value)

    async def configure(self, ctx, *, n, c, h, w, ph, pw, bin_mode, num_rois):
        """Write the run registers (``FEAT_BASE`` from ``base``)."""
        await self.write_registers(ctx, [
            (R[name], val) for name, val in (
                ("FEAT_BASE_LO", self.base & 0xFFFFFFFF), ("FEAT_BASE_HI", self.base >> 32),
                ("N", n), ("C", c), ("H", h), ("W", w), ("PH", ph), ("PW", pw),
                ("BIN_MODE", bin_mode), ("NUM_ROIS", num_rois))])

    async def start(self, ctx):
        await axil_write(ctx, self.dut, R["CTRL"], 1)

    async def stream(self, ctx, frames, expect_beats, *, max_cycles=200_000, stop_after_beats=None):
        """Send ``frames`` (lists of 32-bit beats), collect ``expect_beats`` result beats.

        Raises ``TimeoutError`` if they have not all arrived after ``max_cycles``.
        """
        d, t, rng = self.dut, self.t, self.rng
        res = RunResult()
        words = deque((b, i == len(f) - 1) for f in frames for i, b in enumerate(f))
        r_queue = self.r_queue = deque()     # (due cycle, data, last, resp)
        beat_no = 0
        first = last = None
        limit = len(self.mem)
        lat_lo, lat_hi = t.latency_range
        for cycle in range(max_cycles):
            dv = bool(words) and rng.random() < t.roi_valid
            ctx.set(d.s_axis_roi_tvalid, dv)
            if dv:
                ctx.set(d.s_axis_roi_tdata, words[0][0])
                ctx.set(d.s_axis_roi_tlast, words[0][1])
            ctx.set(d.m_axis_out_tready, rng.random() < t.out_ready)
            ctx.set(d.m_axi_arready, rng.random() < t.arready)
            rv = bool(r_queue) and r_queue[0][0] <= cycle and rng.random() < t.rvalid
            ctx.set(d.m_axi_rvalid, rv)
            if rv:
                _, data, rl, resp = r_queue[0]
                ctx.set(d.m_axi_rdata, data)
                ctx.set(d.m_axi_rlast, rl)
                ctx.set(d.m_axi_rresp, resp)
            (_, _, dready, ov, ordy, od, ol, arv, arr, araddr, arlen, arsize, arburst,
             rr) = await ctx.tick().sample(
                d.s_axis_roi_tready, d.m_axis_out_tvalid, d.m_axis_out_tready,
                d.m_axis_out_tdata, d.m_axis_out_tlast, d.m_axi_arvalid, d.m_axi_arready,
                d.m_axi_araddr, d.m_axi_arlen, d.m_axi_arsize, d.m_axi_arburst, d.m_axi_rready)
            if dv and dready:
                words.popleft()
                if first is None:
                    first = cycle
            if ov and ordy:
                res.beats.append((od, bool(ol)))
                last = cycle
                if ol:
                    res.frame_ends.append(cycle)
            if arv and arr:
                n = arlen + 1
                assert arburst == 1 and (1 << arsize) == self.beat_bytes
                assert araddr % self.beat_bytes == 0
                assert (araddr // 4096) == ((araddr + n * self.beat_bytes - 1) // 4096), "4 KiB crossing"
                assert self.base <= araddr and araddr + n * self.beat_bytes <= self.base + limit, \
                    f"read outside the feature map: {araddr:#x}+{n}"
                res.ars.append((araddr, n))
                # The burst's first beat is due `latency` edges after this one
                # (cycle + lat); reads complete in order.
                lat = int(rng.integers(lat_lo, lat_hi + 1))
                due = max(cycle + lat, r_queue[-1][0] if r_queue else 0)
                for i in range(n):
                    off = araddr - self.base + i * self.beat_bytes
                    data = int.from_bytes(self.mem[off: off + self.beat_bytes], "little")
                    resp = 2 if t.rresp_error_at == beat_no else 0
                    beat_no += 1
                    r_queue.append((due, data, i == n - 1, resp))
            if rv and rr:
                r_queue.popleft()
            # Stop only after this cycle's AR and R handshakes are booked: a
            # burst accepted in the last cycle must still be delivered by
            # drain_reads (the engine counts it as outstanding).
            if len(res.beats) in (expect_beats, stop_after_beats):
                break
        else:
            raise TimeoutError(f"engine stalled: {len(res.beats)}/{expect_beats} result beats, "
                               f"{len(words)} descriptor words left")
        # Idle every handshake the harness stops watching: an AR accepted
        # while nobody books it (e.g. during the AXI-Lite writes that follow)
        # would leave the engine waiting for beats that never come.
        ctx.set(d.m_axis_out_tready, 0)
        ctx.set(d.s_axis_roi_tvalid, 0)
        ctx.set(d.m_axi_rvalid, 0)
        ctx.set(d.m_axi_arready, 0)
        res.cycles = (last - first + 1) if first is not None and last is not None else 0
        res.first = first
        res.total_cycles = cycle + 1
        return res

    async def drain_reads(self, ctx, cycles=200):
        """Deliver what is still queued (e.g. after a soft reset)."""
        d = self.dut
        for _ in range(cycles):
            rv = bool(self.r_queue)
            ctx.set(d.m_axi_rvalid, rv)
            ctx.set(d.m_axi_arready, 1)
            if rv:
                ctx.set(d.m_axi_rdata, self.r_queue[0][1])
                ctx.set(d.m_axi_rlast, self.r_queue[0][2])
                ctx.set(d.m_axi_rresp, 0)
            _, _, rr, arv, arlen = await ctx.tick().sample(d.m_axi_rready, d.m_axi_arvalid, d.m_axi_arlen)
            if arv:
                for i in range(arlen + 1):
                    self.r_queue.append((0, 0, i == arlen, 0))
            if rv and rr:
                self.r_queue.popleft()
        ctx.set(d.m_axi_rvalid, 0)

    async def read_registers(self, ctx, offsets) -> dict:
        """``{offset: value}`` of AXI4-Lite reads, in order."""
        return {a: await axil_read(ctx, self.dut, a) for a in offsets}

    async def read_counters(self, ctx, res: RunResult):
        """Counters, STATUS and ERR_FLAGS into ``res``."""
        from hdl.job import COUNTERS
        regs = await self.read_registers(ctx, [R[n] for n in (*COUNTERS, "STATUS", "ERR_FLAGS")])
        res.counters = {n: regs[R[n]] for n in COUNTERS}
        res.status, res.err = regs[R["STATUS"]], regs[R["ERR_FLAGS"]]


class PysimTransport:
    """Runs :class:`~hdl.job.EngineJob`\\ s on a fresh engine in pysim.

    Parameters
    ----------
    params : dict
        Complete :class:`~hdl.engine.RoIPoolEngine` parameters.
    traffic : Traffic, optional
        Default: no pauses, :data:`~sim.traffic.DEFAULT_READ_LATENCY`.
    vcd : path, optional
        Write a VCD of the run here.
    max_cycles : int
        Give up (``TimeoutError``) after this many streaming cycles.
    """

    name = "pysim"

    def __init__(self, params: dict, traffic: Traffic | None = None, *, vcd: str | Path | None = None,
                 max_cycles: int = 10_000_000):
        self.params = dict(params)
        self.traffic = traffic or Traffic()
        self.vcd = vcd
        self.max_cycles = max_cycles

    def execute(self, job: EngineJob) -> EngineRun:
        from hdl.engine import RoIPoolEngine
        dut = RoIPoolEngine(**self.params)
        hn = Harness(dut, job.memory, job.feat_base, seed=self.traffic.seed, traffic=self.traffic)
        out = {}

        async def tb(ctx):
            await hn.write_registers(ctx, job.reg_writes)
            await hn.write_registers(ctx, [job.start])
            # A run the engine refuses (ERR_FLAGS.SIZE) is DONE at once and
            # takes no descriptor: nothing to stream.
            status = await axil_read(ctx, dut, job.status_offset)
            res = RunResult()
            t0, cpu0 = time.perf_counter(), time.process_time()
            if not status & job.done_mask:
                res = await hn.stream(ctx, job.descriptors, job.expected_beats, max_cycles=self.max_cycles)
                for _ in range(200):           # DONE follows the last beat within a few cycles
                    if await axil_read(ctx, dut, job.status_offset) & job.done_mask:
                        break
            out["stream_s"], out["stream_cpu_s"] = time.perf_counter() - t0, time.process_time() - cpu0
            out["res"] = res
            out["regs"] = await hn.read_registers(ctx, job.readback)

        from amaranth.sim import Simulator
        sim = Simulator(dut)
        sim.add_clock(1e-8)
        sim.add_testbench(tb)
        if self.vcd:
            with sim.write_vcd(str(self.vcd)):
                sim.run()
        else:
            sim.run()
        res, wall = out["res"], out["stream_s"]
        nbytes = dut.out_width // 8
        beats = np.frombuffer(b"".join(int(b).to_bytes(nbytes, "little") for b, _ in res.beats),
                              dtype=np.uint8).reshape(len(res.beats), nbytes)
        last = np.array([tl for _, tl in res.beats], dtype=bool)
        return EngineRun(beats=beats, last=last, regs=out["regs"], cycles=res.cycles,
                         stats={"simulator": self.name, "sim_wall_s": wall, "sim_cycles": res.total_cycles,
                                "cycles_per_s": res.total_cycles / wall if wall else 0.0,
                                "cycles_per_cpu_s": res.total_cycles / max(out["stream_cpu_s"], 1e-9),
                                "roi_end_cycles": np.array([c - res.first + 1 for c in res.frame_ends], np.int64),
                                "waves": str(self.vcd) if self.vcd else None})
