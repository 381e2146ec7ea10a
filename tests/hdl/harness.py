"""Cycle-level testbench for :class:`hdl.engine.RoIPoolEngine`.

One coroutine drives every interface each cycle (faster in pysim than one
process per interface): the descriptor source and result sink with random
valid / ready, and an AXI4 memory model with random ``arready``, random read
latency and random gaps in ``rvalid``.  It also checks the AXI read rules
the engine promises (INCR, arsize, no 4 KiB crossing, <= 256 beats, reads
only inside the feature map).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from hdl import protocol
from hdl.engine import RoIPoolEngine
from tests.hdl.models import values_to_bits

R = {r.name: r.offset for r in protocol.REGISTERS}


def pack_features(engine: RoIPoolEngine, features: np.ndarray) -> bytes:
    """Host packing: nChw{L}c, padded channels zero, little-endian elements."""
    n, c, h, w = features.shape
    L = engine.lanes
    cb = -(-c // L)
    bits = values_to_bits(engine.dt, features.reshape(-1)).reshape(features.shape)
    padded = np.zeros((n, cb * L, h, w), dtype=np.int64)
    padded[:, :c] = bits
    blocked = padded.reshape(n, cb, L, h, w).transpose(0, 1, 3, 4, 2)  # n, cb, h, w, lane
    dtype = {8: "<u1", 16: "<u2", 32: "<u4"}[engine.dt.width]
    return blocked.astype(dtype).tobytes()


@dataclass
class Traffic:
    """Randomness knobs (probabilities per cycle)."""
    roi_valid: float = 0.8
    out_ready: float = 0.8
    arready: float = 0.7
    rvalid: float = 0.8
    latency: tuple = (1, 12)
    rresp_error_at: int | None = None      # beat number that gets SLVERR


@dataclass
class RunResult:
    beats: list = field(default_factory=list)       # (tdata, tlast)
    cycles: int = 0                                 # first descriptor accepted -> last result beat
    counters: dict = field(default_factory=dict)
    status: int = 0
    err: int = 0
    ars: list = field(default_factory=list)


async def axil_write(ctx, dut, addr, value):
    ctx.set(dut.s_axil_awaddr, addr)
    ctx.set(dut.s_axil_wdata, value & 0xFFFFFFFF)
    ctx.set(dut.s_axil_wstrb, 0xF)
    ctx.set(dut.s_axil_awvalid, 1)
    ctx.set(dut.s_axil_wvalid, 1)
    ctx.set(dut.s_axil_bready, 1)
    for _ in range(100):
        _, _, aw = await ctx.tick().sample(dut.s_axil_awready)
        if aw:
            break
    else:
        raise TimeoutError("AXI-Lite write address not accepted")
    ctx.set(dut.s_axil_awvalid, 0)
    ctx.set(dut.s_axil_wvalid, 0)
    for _ in range(100):
        _, _, b = await ctx.tick().sample(dut.s_axil_bvalid)
        if b:
            break
    ctx.set(dut.s_axil_bready, 0)


async def axil_read(ctx, dut, addr):
    ctx.set(dut.s_axil_araddr, addr)
    ctx.set(dut.s_axil_arvalid, 1)
    ctx.set(dut.s_axil_rready, 1)
    for _ in range(100):
        _, _, a = await ctx.tick().sample(dut.s_axil_arready)
        if a:
            break
    ctx.set(dut.s_axil_arvalid, 0)
    for _ in range(100):
        _, _, v, d = await ctx.tick().sample(dut.s_axil_rvalid, dut.s_axil_rdata)
        if v:
            ctx.set(dut.s_axil_rready, 0)
            return d
    raise TimeoutError("AXI-Lite read")


class Harness:
    """Holds the memory image and the random generators for one simulation."""

    def __init__(self, dut: RoIPoolEngine, memory: bytes, base: int, seed: int = 0,
                 traffic: Traffic | None = None):
        self.dut = dut
        self.mem = memory
        self.base = base
        self.rng = np.random.default_rng(seed)
        self.t = traffic or Traffic()
        self.beat_bytes = dut.beat_bytes

    async def configure(self, ctx, *, n, c, h, w, ph, pw, bin_mode, num_rois):
        d = self.dut
        for name, val in (("FEAT_BASE_LO", self.base & 0xFFFFFFFF), ("FEAT_BASE_HI", self.base >> 32),
                          ("N", n), ("C", c), ("H", h), ("W", w), ("PH", ph), ("PW", pw),
                          ("BIN_MODE", bin_mode), ("NUM_ROIS", num_rois)):
            await axil_write(ctx, d, R[name], val)

    async def start(self, ctx):
        await axil_write(ctx, self.dut, R["CTRL"], 1)

    async def stream(self, ctx, frames, expect_beats, *, max_cycles=200_000, stop_after_beats=None):
        """Send ``frames`` (lists of 32-bit beats), collect ``expect_beats`` result beats."""
        d, t, rng = self.dut, self.t, self.rng
        res = RunResult()
        words = deque((b, i == len(f) - 1) for f in frames for i, b in enumerate(f))
        ar_pending = deque()     # (ready_cycle, addr, beats)
        r_queue = deque()        # (ready_cycle, data, last, resp)
        beat_no = 0
        first = last = None
        limit = len(self.mem)
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
                if len(res.beats) == expect_beats or len(res.beats) == stop_after_beats:
                    break
            if arv and arr:
                n = arlen + 1
                assert arburst == 1 and (1 << arsize) == self.beat_bytes
                assert araddr % self.beat_bytes == 0
                assert (araddr // 4096) == ((araddr + n * self.beat_bytes - 1) // 4096), "4 KiB crossing"
                assert self.base <= araddr and araddr + n * self.beat_bytes <= self.base + limit, \
                    f"read outside the feature map: {araddr:#x}+{n}"
                res.ars.append((araddr, n))
                lat = int(rng.integers(t.latency[0], t.latency[1] + 1))
                ready = max(cycle + lat, r_queue[-1][0] if r_queue else 0)
                for i in range(n):
                    off = araddr - self.base + i * self.beat_bytes
                    data = int.from_bytes(self.mem[off: off + self.beat_bytes], "little")
                    resp = 2 if t.rresp_error_at == beat_no else 0
                    beat_no += 1
                    r_queue.append((ready, data, i == n - 1, resp))
            if rv and rr:
                r_queue.popleft()
        else:
            raise TimeoutError(f"engine stalled: {len(res.beats)}/{expect_beats} result beats, "
                               f"{len(words)} descriptor words left")
        ctx.set(d.m_axis_out_tready, 0)
        ctx.set(d.s_axis_roi_tvalid, 0)
        ctx.set(d.m_axi_rvalid, 0)
        res.cycles = (last - first + 1) if first is not None and last is not None else 0
        self.r_queue = r_queue
        return res

    async def drain_reads(self, ctx, cycles=200):
        """Deliver what is still queued (e.g. after a soft reset)."""
        d = self.dut
        for cycle in range(cycles):
            rv = bool(self.r_queue)
            ctx.set(d.m_axi_rvalid, rv)
            ctx.set(d.m_axi_arready, 1)
            if rv:
                ctx.set(d.m_axi_rdata, self.r_queue[0][1])
                ctx.set(d.m_axi_rlast, self.r_queue[0][2])
                ctx.set(d.m_axi_rresp, 0)
            _, _, rr, arv, araddr, arlen = await ctx.tick().sample(
                d.m_axi_rready, d.m_axi_arvalid, d.m_axi_araddr, d.m_axi_arlen)
            if arv:
                for i in range(arlen + 1):
                    self.r_queue.append((0, 0, i == arlen, 0))
            if rv and rr:
                self.r_queue.popleft()
        ctx.set(d.m_axi_rvalid, 0)

    async def read_counters(self, ctx, res: RunResult):
        for name in ("BUSY_CYCLES", "BEATS_READ", "BEATS_WRITTEN", "IN_STALL_CYCLES",
                     "OUT_STALL_CYCLES", "ROIS_DONE"):
            res.counters[name] = await axil_read(ctx, self.dut, R[name])
        res.status = await axil_read(ctx, self.dut, R["STATUS"])
        res.err = await axil_read(ctx, self.dut, R["ERR_FLAGS"])


def decode(engine: RoIPoolEngine, beats, k, c, ph, pw):
    """Result beats -> (values bits (K, C, PH, PW) int64, argmax (K, C, PH, PW), tlast list)."""
    L = engine.lanes
    cb = -(-c // L)
    vals = np.zeros((k, cb * L, ph, pw), dtype=np.int64)
    args = np.zeros((k, cb * L, ph, pw), dtype=np.int64)
    i = 0
    lasts = []
    for r in range(k):
        for t in range(cb):
            for y in range(ph):
                for x in range(pw):
                    tdata, tl = beats[i]
                    i += 1
                    v, a = protocol.split_result_beat(tdata, L, engine.dt.width, engine.argmax)
                    vals[r, t * L:(t + 1) * L, y, x] = v
                    if engine.argmax:
                        args[r, t * L:(t + 1) * L, y, x] = a
                    lasts.append(tl)
    return vals[:, :c], args[:, :c], lasts
