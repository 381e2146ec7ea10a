"""A small real design with the engine's port names, to test ``sim/`` on.

:class:`Copier` is an AXI "memory-to-stream copier": software writes BASE
and LENGTH (in data beats) over AXI4-Lite and then CTRL.START; for every
descriptor word it accepts on ``s_axis_roi`` the copier issues one INCR read
burst of ``(word & 0xFF) + 1`` beats (clipped to what is left and to the next
4 KiB boundary), with up to ``max_outstanding`` bursts in flight, and streams
the returned beats out on ``m_axis_out``.  Each output beat is
``{beat_index[31:0], rdata}`` (so the result is wider than the memory bus and
not a multiple of 64 bits: 160 bits for a 128-bit bus), ``tlast`` marks the
last beat.  STATUS.DONE rises when the last beat has left.

Register map (32-bit, byte addresses)::

    0x00 ID          ro   0x00C0B1E5
    0x04 CTRL        wo   bit 0: START (ignored while busy)
    0x08 STATUS      ro   bit 0 BUSY, bit 1 DONE, bit 2 RRESP error (cleared by START)
    0x0C BASE        rw   byte address of beat 0 (beat aligned)
    0x10 LENGTH      rw   beats to copy
    0x14 CYCLES      ro   cycles spent busy in the last run
    0x18 DESC_SUM    ro   sum of the descriptor words consumed since START
    0x1C DESC_COUNT  ro   descriptor words consumed since START
    0x20 SCRATCH     rw
    0x24 DESC_LASTS  ro   descriptor words with tlast consumed since START

This module lives in ``tests/`` on purpose: it stands in for the engine
while that is written, and nothing in ``sim/`` may depend on it.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

ID_VALUE = 0x00C0B1E5
REG = {"ID": 0x00, "CTRL": 0x04, "STATUS": 0x08, "BASE": 0x0C, "LENGTH": 0x10,
       "CYCLES": 0x14, "DESC_SUM": 0x18, "DESC_COUNT": 0x1C, "SCRATCH": 0x20,
       "DESC_LASTS": 0x24}
STATUS_BUSY, STATUS_DONE, STATUS_ERR = 1, 2, 4


class Copier(wiring.Component):
    """Memory-to-stream copier with the engine's AXI port names.

    Parameters
    ----------
    data_width : int
        AXI read data width in bits (power of two, >= 32).
    max_outstanding : int
        Read bursts that may be in flight at once.
    """

    def __init__(self, data_width: int = 128, max_outstanding: int = 4):
        assert data_width >= 32 and data_width & (data_width - 1) == 0
        self.data_width = data_width
        self.beat_bytes = data_width // 8
        self.out_width = data_width + 32
        self.max_outstanding = max_outstanding
        super().__init__({
            "s_axis_roi_tdata": In(32), "s_axis_roi_tvalid": In(1),
            "s_axis_roi_tready": Out(1), "s_axis_roi_tlast": In(1),
            "m_axis_out_tdata": Out(self.out_width), "m_axis_out_tvalid": Out(1),
            "m_axis_out_tready": In(1), "m_axis_out_tlast": Out(1),
            "m_axi_araddr": Out(32), "m_axi_arlen": Out(8), "m_axi_arsize": Out(3),
            "m_axi_arburst": Out(2), "m_axi_arvalid": Out(1), "m_axi_arready": In(1),
            "m_axi_arid": Out(1),
            "m_axi_rdata": In(data_width), "m_axi_rresp": In(2), "m_axi_rlast": In(1),
            "m_axi_rvalid": In(1), "m_axi_rready": Out(1), "m_axi_rid": In(1),
            "s_axil_awaddr": In(8), "s_axil_awvalid": In(1), "s_axil_awready": Out(1),
            "s_axil_wdata": In(32), "s_axil_wstrb": In(4), "s_axil_wvalid": In(1),
            "s_axil_wready": Out(1),
            "s_axil_bresp": Out(2), "s_axil_bvalid": Out(1), "s_axil_bready": In(1),
            "s_axil_araddr": In(8), "s_axil_arvalid": In(1), "s_axil_arready": Out(1),
            "s_axil_rdata": Out(32), "s_axil_rresp": Out(2), "s_axil_rvalid": Out(1),
            "s_axil_rready": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        bb_log2 = (self.beat_bytes - 1).bit_length()

        base = Signal(32)
        length = Signal(32)
        scratch = Signal(32)
        busy = Signal()
        done = Signal()
        err = Signal()
        cycles = Signal(32)
        desc_sum = Signal(32)
        desc_count = Signal(32)
        desc_lasts = Signal(32)

        next_addr = Signal(32)
        to_issue = Signal(32)        # beats not yet requested
        beats_out = Signal(32)       # beats sent on m_axis_out
        outstanding = Signal(range(self.max_outstanding + 1))
        ar_pending = Signal()
        start = Signal()

        # ---- AXI4-Lite slave: write (AW and W taken together) --------------
        wr_go = Signal()
        m.d.comb += [
            wr_go.eq(self.s_axil_awvalid & self.s_axil_wvalid & ~self.s_axil_bvalid),
            self.s_axil_awready.eq(wr_go),
            self.s_axil_wready.eq(wr_go),
            self.s_axil_bresp.eq(0),
        ]
        with m.If(self.s_axil_bvalid & self.s_axil_bready):
            m.d.sync += self.s_axil_bvalid.eq(0)
        with m.If(wr_go):
            m.d.sync += self.s_axil_bvalid.eq(1)
            with m.Switch(self.s_axil_awaddr):
                with m.Case(REG["CTRL"]):
                    m.d.comb += start.eq(self.s_axil_wdata[0] & ~busy)
                with m.Case(REG["BASE"]):
                    m.d.sync += base.eq(self.s_axil_wdata)
                with m.Case(REG["LENGTH"]):
                    m.d.sync += length.eq(self.s_axil_wdata)
                with m.Case(REG["SCRATCH"]):
                    m.d.sync += scratch.eq(self.s_axil_wdata)

        # ---- AXI4-Lite slave: read -------------------------------------------
        m.d.comb += [self.s_axil_arready.eq(~self.s_axil_rvalid), self.s_axil_rresp.eq(0)]
        with m.If(self.s_axil_rvalid & self.s_axil_rready):
            m.d.sync += self.s_axil_rvalid.eq(0)
        with m.If(self.s_axil_arvalid & self.s_axil_arready):
            m.d.sync += self.s_axil_rvalid.eq(1)
            with m.Switch(self.s_axil_araddr):
                for name, value in [("ID", Const(ID_VALUE, 32)),
                                    ("STATUS", Cat(busy, done, err)),
                                    ("BASE", base), ("LENGTH", length), ("CYCLES", cycles),
                                    ("DESC_SUM", desc_sum), ("DESC_COUNT", desc_count),
                                    ("SCRATCH", scratch), ("DESC_LASTS", desc_lasts)]:
                    with m.Case(REG[name]):
                        m.d.sync += self.s_axil_rdata.eq(value)
                with m.Default():
                    m.d.sync += self.s_axil_rdata.eq(0)

        # ---- descriptors -> read bursts -----------------------------------
        to_boundary = Signal(32)     # beats up to the next 4 KiB boundary
        want = Signal(32)
        burst = Signal(32)
        m.d.comb += [
            to_boundary.eq((0x1000 - next_addr[:12]) >> bb_log2),
            want.eq(self.s_axis_roi_tdata[:8] + 1),
            burst.eq(Mux(want < to_issue, want, to_issue)),
        ]
        burst_c = Signal(32)
        m.d.comb += burst_c.eq(Mux(burst < to_boundary, burst, to_boundary))

        desc_ok = Signal()
        m.d.comb += [
            desc_ok.eq(busy & (to_issue != 0) & ~ar_pending
                       & (outstanding < self.max_outstanding)),
            self.s_axis_roi_tready.eq(desc_ok),
            self.m_axi_arvalid.eq(ar_pending),
            self.m_axi_arsize.eq(bb_log2),
            self.m_axi_arburst.eq(1),        # INCR
            self.m_axi_arid.eq(0),
        ]
        took_desc = self.s_axis_roi_tvalid & desc_ok
        with m.If(took_desc):
            m.d.sync += [
                ar_pending.eq(1),
                self.m_axi_araddr.eq(next_addr),
                self.m_axi_arlen.eq(burst_c - 1),
                next_addr.eq(next_addr + (burst_c << bb_log2)),
                to_issue.eq(to_issue - burst_c),
                desc_sum.eq(desc_sum + self.s_axis_roi_tdata),
                desc_count.eq(desc_count + 1),
                desc_lasts.eq(desc_lasts + self.s_axis_roi_tlast),
            ]
        with m.If(self.m_axi_arvalid & self.m_axi_arready):
            m.d.sync += ar_pending.eq(0)

        # ---- read data -> output stream (combinational pass-through) -------
        last_beat = Signal()
        m.d.comb += [
            last_beat.eq(beats_out + 1 == length),
            self.m_axis_out_tvalid.eq(self.m_axi_rvalid & busy),
            self.m_axis_out_tdata.eq(Cat(self.m_axi_rdata, beats_out)),
            self.m_axis_out_tlast.eq(last_beat),
            self.m_axi_rready.eq(self.m_axis_out_tready & busy),
        ]
        r_fire = self.m_axi_rvalid & self.m_axi_rready
        burst_done = r_fire & self.m_axi_rlast
        with m.If(took_desc & ~burst_done):
            m.d.sync += outstanding.eq(outstanding + 1)
        with m.Elif(~took_desc & burst_done):
            m.d.sync += outstanding.eq(outstanding - 1)
        with m.If(r_fire):
            m.d.sync += beats_out.eq(beats_out + 1)
            with m.If(self.m_axi_rresp != 0):
                m.d.sync += err.eq(1)
            with m.If(last_beat):
                m.d.sync += [busy.eq(0), done.eq(1)]

        with m.If(busy):
            m.d.sync += cycles.eq(cycles + 1)

        # START last so that it wins over everything above.
        with m.If(start):
            m.d.sync += [
                busy.eq(length != 0), done.eq(length == 0), err.eq(0), cycles.eq(0),
                next_addr.eq(base), to_issue.eq(length), beats_out.eq(0),
                desc_sum.eq(0), desc_count.eq(0), desc_lasts.eq(0),
                outstanding.eq(0), ar_pending.eq(0),
            ]
        return m


def copier_verilog(data_width: int = 128, max_outstanding: int = 4, name: str = "copier") -> str:
    """Return the Verilog text of a :class:`Copier` with top module ``name``."""
    return verilog.convert(Copier(data_width, max_outstanding), name=name,
                           emit_src=False)
