"""Top level: :class:`RoIPoolEngine`, an AXI-attached RoIPool engine.

Block diagram (data flows left to right)::

    s_axis_roi -> descriptor parser -+-> BinEdgeGen (rows)  -+-> slot table (4 RoIs)
                                     +-> BinEdgeGen (cols)  -+        |
                                                                      v
    m_axi_ar  <- AR register slice <- address generator (bursts, credits) -> row FIFO --+
    m_axi_r   -> (drain after soft reset) -> beat FIFO ---------------------------------+
                                                                                        v
    m_axis_out <------------- output stage <- bin memory (2 banks) <- vertical <- row stage

The address generator walks RoI -> tile (``lanes`` channels) -> window row
and issues one INCR burst per row (split at 256 beats / 4 KiB).  It only
issues a burst when the beat FIFO has room reserved for all of it (credit
counter), so ``rready`` never has to drop and any read latency is hidden by
as many outstanding bursts as the FIFO holds.  A row descriptor per row
travels in a FIFO beside the data, telling the pooler where each beat
belongs (reads complete in order: one ARID).

Soft reset (``CTRL.SOFT_RESET``) resets everything in :class:`_Core`; the
AR register slice and the outstanding-beat counter live outside it, so a
pending AR still completes its handshake and the data of every outstanding
burst is drained (``rready`` high, beats dropped) before ``STATUS.BUSY``
falls.  The result stream is part of the core: soft reset deasserts
``m_axis_out_tvalid`` (reset the downstream sink with it).
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Elaboratable, Module, Mux, ResetInserter, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2, exact_log2

from . import protocol
from .bin_edges import COORD_BITS, BinEdgeGen
from .dtypes import DType, dtype_by_name
from .pool import Pooler, bin_mask, edges_layout, idx_width, row_desc_layout, select

__all__ = ["RoIPoolEngine"]

AXIL_ADDR_BITS = 8
MAX_BEAT_BYTES = 128      # AXI4 arsize 0b111: 1024-bit data bus


def _check_int(name, value, lo, hi=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < lo or (hi is not None and value > hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise ValueError(f"{name} must be {rng}, got {value}")


class _Core(Elaboratable):
    """Everything that soft reset clears: parser, slots, address generator, FIFOs, pooler."""

    def __init__(self, e: "RoIPoolEngine"):
        self.e = e
        dt, L = e.dt, e.lanes
        self.cfg_base = Signal(e.addr_width)
        self.cfg_n = Signal(range(e.max_n + 1))
        self.cfg_c = Signal(range(e.max_c + 1))
        self.cfg_h = Signal(range(e.max_h + 1))
        self.cfg_w = Signal(range(e.max_w + 1))
        self.cfg_ph = Signal(range(e.max_pooled + 1))
        self.cfg_pw = Signal(range(e.max_pooled + 1))
        self.cfg_edges = Signal()         # BIN_MODE == EDGES
        self.cfg_rois = Signal(32)
        self.start = Signal()             # pulse, config valid
        self.active = Signal()            # run in progress (descriptors may be accepted)
        # descriptor stream
        self.d_data = Signal(32)
        self.d_valid = Signal()
        self.d_ready = Signal()
        self.d_last = Signal()
        # AR requests towards the register slice
        self.ar_addr = Signal(e.addr_width)
        self.ar_len = Signal(8)
        self.ar_valid = Signal()
        self.ar_ready = Signal()
        # R data (already filtered by the drain logic)
        self.r_data = Signal(e.data_width)
        self.r_valid = Signal()
        self.r_ready = Signal()
        # results
        self.o_data = Signal(e.out_width)
        self.o_last = Signal()
        self.o_valid = Signal()
        self.o_ready = Signal()
        # events
        self.err_batch = Signal()
        self.err_framing = Signal()
        self.in_stall = Signal()
        self.soft_rst = Signal()          # soft reset (the engine's core_rst register)

    def elaborate(self, platform):
        m = Module()
        e = self.e
        L, P, S = e.lanes, e.max_pooled, e.slots
        bbl = e.beat_bytes_log2
        aw = e.addr_width

        # ---------------- derived run configuration ----------------------
        # Computed once per run (two multiplies), never per RoI on the data path.
        cb = Signal(range(e.max_cb + 1))          # channel tiles
        row_stride = Signal(aw)
        tile_stride = Signal(aw)
        batch_stride = Signal(aw)
        hw = Signal(bits_for(e.max_h * e.max_w))
        setup = Signal(2)
        m.d.sync += setup.eq(Cat(self.start, setup[0]))
        # The pooler's copy of the bin counts, latched at START: its nets
        # reach every slice, and with the PH / PW registers themselves
        # pulled towards the slices, the AXI4-Lite side's size checks on
        # them were a routed critical path (10.6 ns of routing, 2026-12-06).
        pool_ph = Signal.like(self.cfg_ph)
        pool_pw = Signal.like(self.cfg_pw)
        with m.If(self.start):
            m.d.sync += [
                cb.eq((self.cfg_c + (L - 1)) >> exact_log2(L)),
                row_stride.eq(self.cfg_w << bbl),
                hw.eq(self.cfg_h * self.cfg_w),
                pool_ph.eq(self.cfg_ph), pool_pw.eq(self.cfg_pw),
            ]
        with m.If(setup[0]):
            m.d.sync += tile_stride.eq(hw << bbl)
        with m.If(setup[1]):
            m.d.sync += batch_stride.eq(cb * tile_stride)
        running = Signal()                        # derived config valid
        with m.If(setup[1]):
            m.d.sync += running.eq(1)
        with m.If(~self.active):
            m.d.sync += running.eq(0)

        # ---------------- descriptor parser + bin-edge generation --------
        ge_h = m.submodules.edges_h = BinEdgeGen(max_pooled=P, max_size=e.max_h)
        ge_w = m.submodules.edges_w = BinEdgeGen(max_pooled=P, max_size=e.max_w)
        elay = edges_layout(P, e.max_h, e.max_w)
        # Data registers written before they are read are reset-less: soft
        # reset only goes to control state (a shorter reset net).
        st = Signal(elay, reset_less=True)        # staging edges of the RoI being parsed
        st_batch = Signal(32, reset_less=True)
        x1, y1, x2, y2 = (Signal(signed(COORD_BITS), name=n, reset_less=True) for n in ("x1", "y1", "x2", "y2"))
        bad_frame = Signal()
        beat = Signal(range(2 * P + 3))
        # Frames still to accept in this run, and whether any is left, both
        # registered: the descriptor port's ready is then a flip-flop AND, not
        # a 32-bit compare in front of the whole parser (a routed critical
        # path: it also gates every staging register's enable).
        left = Signal(32)
        more = Signal()
        for g, c1, c2, n, lim in ((ge_h, y1, y2, self.cfg_ph, self.cfg_h), (ge_w, x1, x2, self.cfg_pw, self.cfg_w)):
            m.d.comb += [g.c1.eq(c1), g.c2.eq(c2), g.pooled.eq(n), g.limit.eq(lim)]
        gen_done = Signal(2)
        gen_started = Signal()

        # Window of the non-empty bins (min start / max end), accumulated one
        # edge pair per cycle as the edges are produced (EXACT) or received
        # (EDGES), instead of a PH-deep compare/mux chain in one cycle.  The
        # edge pairs pass through a register (ev_*) first so the clip
        # comparators of EDGES mode and the window comparators sit in
        # different cycles; LAND waits for the last pair to land.  The
        # staging edges ``st`` are written from the same registers, with the
        # pair's bin as a registered one-hot (``ev_hsel`` / ``ev_wsel``): each
        # staging register then loads a register through one enable LUT,
        # instead of the end of a clip compare or of the parser's beat and
        # state decode (both routed critical paths, 12.7-12.9 ns, 2026-12-03).
        wmax = max(e.max_h, e.max_w)
        ev_h, ev_w = Signal(), Signal()
        ev_hs, ev_he, ev_ws, ev_we = (Signal(range(wmax + 1), name=n) for n in ("ev_hs", "ev_he", "ev_ws", "ev_we"))
        ev_hsel, ev_wsel = Signal(P), Signal(P)
        m.d.sync += [ev_h.eq(0), ev_w.eq(0)]
        for g, v, s_, e_, sel in ((ge_h, ev_h, ev_hs, ev_he, ev_hsel), (ge_w, ev_w, ev_ws, ev_we, ev_wsel)):
            with m.If(g.valid):
                m.d.sync += [v.eq(1), s_.eq(g.edge_start), e_.eq(g.edge_end), sel.eq(Const(1, P) << g.index)]
        for p in range(P):
            with m.If(ev_h & ev_hsel[p]):
                m.d.sync += [st.hs[p].eq(ev_hs), st.he[p].eq(ev_he)]
            with m.If(ev_w & ev_wsel[p]):
                m.d.sync += [st.ws[p].eq(ev_ws), st.we[p].eq(ev_we)]
        win_clear = Signal()

        def window(valid, start, end, name):
            lo = Signal(range(wmax + 1), init=wmax, name=f"{name}_lo")
            hi = Signal(range(wmax + 1), name=f"{name}_hi")
            ok = valid & (end > start)                 # empty bins do not count
            with m.If(ok & (start < lo)):
                m.d.sync += lo.eq(start)
            with m.If(ok & (end > hi)):
                m.d.sync += hi.eq(end)
            with m.If(win_clear):
                m.d.sync += [lo.eq(wmax), hi.eq(0)]
            return lo, hi, hi > lo

        h0c, h1c, hany = window(ev_h, ev_hs, ev_he, "win_h")
        w0c, w1c, wany = window(ev_w, ev_ws, ev_we, "win_w")

        info_lay = data.StructLayout({
            "base": aw,
            "idx_base": bits_for(e.max_h * e.max_w),
            "h0": range(e.max_h + 1), "h1": range(e.max_h + 1),
            "w0": range(e.max_w + 1),
            # Window width and last column, registered by the parser so the
            # address generator's take and row end copy them (no subtracts).
            "wn": range(e.max_w + 1), "wlast": range(e.max_w + 1),
            # pw bins holding the first column, computed in SUM: the address
            # generator only needs the row edges (``hs``/``he``) per row.
            "wm0": P,
            "skip": 1,
        })
        slot_edges = Signal(data.ArrayLayout(elay, S), reset_less=True)
        slot_info = Signal(data.ArrayLayout(info_lay, S), reset_less=True)
        # The slot written at the next commit, one-hot, and the commit itself
        # registered a cycle ahead (``commit_r``, ``wen``): each slot's write
        # enable is then a flip-flop, not ``commit_ptr`` decoded and ANDed
        # with the parser state and ``alloc != S`` in front of its ~400
        # flip-flops (a routed critical path: 12.8 ns, 6.8 ns on the decoded
        # enable; 2026-12-06).
        # Two copies of the enable: ``wen`` for the slot's info, ``wen_e``
        # for its edges, which sit by their readers (the pooler's front and
        # the issue select) far from the info: one enable flip-flop reaching
        # all ~400 flip-flops of a slot was a routed critical path at
        # 957c986 (13.5 ns, all of it the enable net).  ``wen_e`` has no
        # reset, so synthesis cannot merge the two (in the reset cycle it
        # may rewrite a slot's edges, and after a reset no slot is in use).
        commit_oh = Signal(S, init=1)
        commit_r = Signal()
        wen = Signal(S)
        wen_e = Signal(S, reset_less=True)
        issue_ptr = Signal(range(S))
        alloc = Signal(range(S + 1))              # slots holding a RoI not yet fully output
        queued = Signal(range(S + 1))             # committed slots not yet taken by the issuer
        commit = Signal()
        fill = Signal()                           # a committed slot is copied into the next-RoI register
        take = Signal()                           # the address generator takes the next RoI
        slot_done = Signal()
        m.d.sync += [
            alloc.eq(alloc + commit - slot_done),
            queued.eq(queued + commit - fill),
        ]

        nb = bits_for(e.max_n - 1) if e.max_n > 1 else 1
        prod_b = Signal(aw, reset_less=True)
        prod_h = Signal(aw, reset_less=True)
        prod_i = Signal(bits_for(e.max_h * e.max_w), reset_less=True)
        sum_a = Signal(aw, reset_less=True)
        sum_b = Signal(aw, reset_less=True)
        idx_b = Signal(bits_for(e.max_h * e.max_w), reset_less=True)
        w_h0, w_h1, w_w0, w_w1, w_wn, w_wlast = (
            Signal(range(max(e.max_h, e.max_w) + 1), name=n) for n in ("w_h0", "w_h1", "w_w0", "w_w1", "w_wn", "w_wlast"))
        w_skip = Signal()
        w_wm0 = Signal(P)
        # Frame length and its last beat index, registered from the run
        # configuration (stable for the whole run; the parser starts 3 cycles
        # after START) so the tlast checks are plain compares.
        expected = Signal(range(2 * P + 2))
        expected_last = Signal(range(2 * P + 2))
        m.d.sync += [
            expected.eq(Mux(self.cfg_edges, 1 + self.cfg_ph + self.cfg_pw, 3)),
            expected_last.eq(Mux(self.cfg_edges, self.cfg_ph + self.cfg_pw, 2)),
        ]
        # Beat index of each pw edge pair in an EDGES frame (``1 + PH + p``),
        # registered the same way: the staging registers' enables are then
        # equalities of two registers, not an adder in front of a compare
        # per bin (``cfg_ph`` -> adder -> compare -> staging enable was a
        # routed critical path, 12.9 ns, 2026-12-03).
        w_beat = [Signal(range(2 * P + 2), name=f"w_beat{p}") for p in range(P)]
        m.d.sync += [w_beat[p].eq(1 + p + self.cfg_ph) for p in range(P)]
        dv = self.d_data
        # Batch check registered: ``st_batch`` is loaded at a frame's first
        # beat, at least two cycles before WINDOW reads this flag.  Before,
        # the 32-bit compare fed WINDOW's clear of every staging edge
        # register (a routed critical path, 12.9 ns).
        bad_batch = Signal()
        m.d.sync += bad_batch.eq(st_batch >= self.cfg_n)

        def clip16(v, lim):
            return Mux(v > lim, lim, v)

        with m.FSM(name="parser") as parser:
            with m.State("RECV"):
                m.d.comb += self.d_ready.eq(running & more)
                with m.If(self.d_valid & self.d_ready):
                    m.d.sync += beat.eq(Mux(beat == 2 * P + 2, beat, beat + 1))
                    with m.If(beat == 0):
                        m.d.sync += st_batch.eq(dv)
                    with m.If(beat >= expected):
                        m.d.sync += bad_frame.eq(1)
                    with m.If(~self.cfg_edges):
                        with m.If(beat == 1):
                            m.d.sync += [x1.eq(dv[:16]), y1.eq(dv[16:])]
                        with m.If(beat == 2):
                            m.d.sync += [x2.eq(dv[:16]), y2.eq(dv[16:])]
                    with m.Else():
                        hs_c, he_c = clip16(dv[:16], self.cfg_h), clip16(dv[16:], self.cfg_h)
                        ws_c, we_c = clip16(dv[:16], self.cfg_w), clip16(dv[16:], self.cfg_w)
                        with m.If((beat >= 1) & (beat <= self.cfg_ph)):
                            m.d.sync += [ev_h.eq(1), ev_hs.eq(hs_c), ev_he.eq(he_c),
                                         ev_hsel.eq(Cat(*(beat == 1 + p for p in range(P))))]
                        with m.If((beat >= w_beat[0]) & (beat <= expected_last)):
                            m.d.sync += [ev_w.eq(1), ev_ws.eq(ws_c), ev_we.eq(we_c),
                                         ev_wsel.eq(Cat(*(beat == w_beat[p] for p in range(P))))]
                    with m.If(self.d_last):
                        short = beat != expected_last
                        with m.If(short | bad_frame | (beat >= expected)):
                            m.d.sync += bad_frame.eq(1)
                            m.next = "LAND"
                        with m.Elif(~self.cfg_edges):
                            m.next = "EDGES"
                        with m.Else():
                            m.next = "LAND"
            with m.State("EDGES"):
                # Both generators run in parallel: 18 + max(PH, PW) cycles.
                m.d.comb += [ge_h.start.eq(~gen_started), ge_w.start.eq(~gen_started)]
                m.d.sync += gen_started.eq(1)
                now = gen_done | Cat(ge_h.valid & ge_h.last, ge_w.valid & ge_w.last)
                m.d.sync += gen_done.eq(now)
                with m.If(now == 0b11):
                    m.next = "LAND"
            with m.State("LAND"):
                # The last edge pair is in ev_*; it reaches the window this cycle.
                m.next = "WINDOW"
            with m.State("WINDOW"):
                # Registered: window, skip decision and the address products
                # (operands straight from registers, products registered).
                m.d.comb += win_clear.eq(1)
                m.d.sync += [
                    gen_done.eq(0), gen_started.eq(0),
                    w_h0.eq(h0c), w_h1.eq(h1c), w_w0.eq(w0c), w_w1.eq(w1c),
                    w_skip.eq(bad_frame | bad_batch | ~hany | ~wany),
                    prod_b.eq(st_batch[:nb] * batch_stride),
                    prod_h.eq(h0c * row_stride),
                    prod_i.eq(h0c * self.cfg_w),
                ]
                m.d.comb += [self.err_framing.eq(bad_frame), self.err_batch.eq(~bad_frame & bad_batch)]
                # A bad RoI is a skip RoI (``w_skip``): the pooler marks every
                # bin of a skip tile empty, so it is emitted as zeros / -1
                # whatever its staging edges hold.  (Clearing the edges here
                # was one enable net over all of them, a routed critical path:
                # 11.5 ns on that net, 2026-12-03.)
                m.next = "SUM"
            with m.State("SUM"):
                # Base address as two registered adds (one 3-input add per cycle would not close).
                m.d.sync += [
                    sum_a.eq(self.cfg_base + prod_b),
                    sum_b.eq(prod_h + (w_w0 << bbl)),
                    idx_b.eq(prod_i + w_w0),
                    w_wn.eq(w_w1 - w_w0), w_wlast.eq(w_w1 - 1),
                    w_wm0.eq(bin_mask(st.ws, st.we, w_w0)),
                ]
                m.next = "COMMIT"
            with m.State("COMMIT"):
                # Waits here while every slot holds a RoI (``commit_r`` is
                # ``alloc != S`` one cycle ahead, see below).
                with m.If(commit_r):
                    m.d.comb += commit.eq(1)
                    m.d.sync += [
                        commit_oh.eq(Cat(commit_oh[-1], commit_oh[:-1])),
                        left.eq(left - 1), more.eq(left != 1),
                        beat.eq(0), bad_frame.eq(0),
                    ]
                    m.next = "RECV"
        for i in range(S):
            with m.If(wen_e[i]):
                m.d.sync += slot_edges[i].eq(st)
            with m.If(wen[i]):
                si = slot_info[i]
                m.d.sync += [
                    si.base.eq(sum_a + sum_b),
                    si.idx_base.eq(idx_b), si.h0.eq(w_h0), si.h1.eq(w_h1),
                    si.w0.eq(w_w0), si.skip.eq(w_skip),
                    si.wn.eq(w_wn), si.wlast.eq(w_wlast), si.wm0.eq(w_wm0),
                ]
        # The parser is in COMMIT next cycle without having committed (from
        # SUM, or still waiting): it commits then iff a slot is free then.
        # ``alloc`` only falls in such a cycle (no commit), so the free test
        # of the next cycle is ``alloc != S`` or a slot done now.
        arm = parser.ongoing("SUM") | (parser.ongoing("COMMIT") & ~commit_r)
        commit_next = arm & ((alloc != S) | slot_done)
        m.d.sync += [commit_r.eq(commit_next), wen.eq(Mux(commit_next, commit_oh, 0)),
                     wen_e.eq(Mux(commit_next, commit_oh, 0))]
        with m.If(self.start):
            m.d.sync += [left.eq(self.cfg_rois), more.eq(self.cfg_rois != 0)]

        # ---------------- address generator ------------------------------
        depth = e.fifo_depth
        beat_fifo = m.submodules.beat_fifo = SyncFIFOBuffered(width=e.data_width, depth=depth)
        rlay = row_desc_layout(S, e.max_h, e.max_w, P)
        row_fifo = m.submodules.row_fifo = SyncFIFOBuffered(width=rlay.size, depth=e.row_fifo_depth)
        row_in = data.View(rlay, row_fifo.w_data)

        # FIFO credit: beats that may still be requested (fifo_depth minus the
        # beats issued and not yet taken by the pooler).  Kept as the room
        # itself so the request check is one compare (``blen <= space``).
        space = Signal(range(depth + 1), init=depth)
        popped = Signal()
        granted = Signal(9)
        m.d.sync += space.eq(space - granted + popped)

        # The next RoI to issue, copied from its slot ahead of the take
        # (``nx_valid``): the take then loads the address generator's
        # registers from flip-flops, not through the slot select.  Before,
        # ``issue_ptr`` -> 4:1 select of the slot (about 500 bits) -> the
        # take's registers was the routed critical path (14.9 ns, 12.7 of
        # it routing).  Cost: one cycle from commit to take
        # (``StageTiming.commit_to_take``), hidden while the generator is
        # busy with the RoI before.
        nx = Signal(info_lay, reset_less=True)
        hlay = data.StructLayout({"hs": elay.members["hs"], "he": elay.members["he"]})
        nx_e = Signal(hlay, reset_less=True)
        nx_valid = Signal()
        nx_slot = Signal(range(S))
        m.d.sync += nx_valid.eq(Mux(take, 0, nx_valid))
        with m.If((queued != 0) & (~nx_valid | take)):
            m.d.comb += fill.eq(1)
            m.d.sync += [
                nx.eq(select(m, (slot_info[i] for i in range(S)), issue_ptr, name="ci")),
                nx_e.eq(select(m, (Cat(slot_edges[i].hs, slot_edges[i].he) for i in range(S)), issue_ptr, name="ce")),
                nx_slot.eq(issue_ptr), nx_valid.eq(1),
                issue_ptr.eq(Mux(issue_ptr == S - 1, 0, issue_ptr + 1)),
            ]
        cur = Signal(info_lay, reset_less=True)
        # The RoI's row edges, registered at the take: each row's ph mask is
        # computed here (in CALC, from registers) and travels in the row
        # descriptor with the first column's pw mask (from the slot, computed
        # in SUM), instead of behind a slot select in the pooler's front.
        # Only ``hs``/``he`` pass the issue select: half the edges, half the
        # loads of ``issue_ptr`` (whose net was a routed critical path,
        # 14.2 ns of 15.7, 2026-12-06).
        cur_e = Signal(hlay, reset_less=True)
        c_hm = Signal(P)
        c_wm0 = Signal(P)
        i_slot = Signal(range(S))
        tile = Signal(range(e.max_cb + 1))
        h = Signal(range(e.max_h + 1))
        # h + 1 as a counter of its own: the last-row test is an equality of
        # registers.  As ``h + 1 == h1`` it was a routed critical path (11.7
        # ns, 7 levels, 2026-12-06): ``h`` also feeds the row's ph-mask
        # compares, and its net is long.
        h_next = Signal(range(e.max_h + 2))
        tile_addr = Signal(aw)
        row_addr = Signal(aw)
        addr = Signal(aw)
        idx_row = Signal(bits_for(e.max_h * e.max_w))
        rem = Signal(range(e.max_w + 1))
        first = Signal()
        max_burst = min(256, depth, 4096 >> bbl)
        to_4k = Signal(14)
        m.d.comb += to_4k.eq((Const(4096, 14) - addr[:12]) >> bbl)
        # This burst's length min(row rest, 256, to 4 KiB), registered in
        # CALC so the 4 KiB subtract/compares and the credit check and address
        # add are in different cycles.  Free in throughput: the AR register
        # slice accepts one request every other cycle anyway.
        blen = Signal(9)
        # Registered in CALC with blen (h, tile and rem do not change before
        # the request): the request's enables then come from flip-flops.
        row_end = Signal()        # this burst ends the row (rem == blen)
        c_last_row = Signal()
        c_last_tile = Signal()
        # Credit check registered: ``fits`` says the burst fits in the FIFO
        # room of the cycle before (CALC: ``min(to_4k, rem, max_burst) <=
        # space`` as three parallel compares; ROW: ``blen <= space``).  The
        # room only grows while a burst waits (the grant is the request
        # itself), so the flag is exact one cycle late; the request's enable
        # is then a function of flip-flops.  Before, the credit compare fed
        # the AR handshake and every register the request updates (a routed
        # critical path, 12.8 ns).  Cost: a burst waiting for credit leaves
        # one cycle later (``StageTiming.credit_register``).
        fits = Signal()
        bl0 = Signal(9)
        m.d.comb += bl0.eq(Mux(rem < max_burst, rem, max_burst))
        last_row = h_next == cur.h1
        last_tile = tile + 1 == cb
        m.d.comb += [
            row_in.slot.eq(i_slot), row_in.hm.eq(c_hm), row_in.wm0.eq(c_wm0),
            row_in.w0.eq(cur.w0), row_in.wlast.eq(cur.wlast),
            row_in.idx0.eq(idx_row), row_in.last_row.eq(c_last_row), row_in.last_tile.eq(c_last_tile),
            row_in.skip.eq(0),
            self.ar_addr.eq(addr), self.ar_len.eq(blen - 1),
        ]
        with m.FSM(name="agen"):
            with m.State("IDLE"):
                with m.If(nx_valid):
                    m.d.comb += take.eq(1)
                    m.d.sync += [
                        cur.eq(nx), cur_e.eq(nx_e), i_slot.eq(nx_slot), tile.eq(0), h.eq(nx.h0), h_next.eq(nx.h0 + 1),
                        tile_addr.eq(nx.base), addr.eq(nx.base), row_addr.eq(nx.base),
                        idx_row.eq(nx.idx_base), rem.eq(nx.wn), first.eq(1),
                    ]
                    with m.If(nx.skip):
                        m.next = "SKIP"
                    with m.Else():
                        m.next = "CALC"
            with m.State("SKIP"):
                # One data-less token per tile keeps the output order.
                m.d.comb += [row_in.skip.eq(1), row_in.last_row.eq(1), row_in.last_tile.eq(last_tile),
                             row_fifo.w_en.eq(1)]
                with m.If(row_fifo.w_rdy):
                    m.d.sync += tile.eq(tile + 1)
                    with m.If(last_tile):
                        m.next = "IDLE"
            with m.State("CALC"):
                m.d.sync += [
                    blen.eq(Mux(to_4k < bl0, to_4k, bl0)),
                    row_end.eq((rem <= max_burst) & (rem <= to_4k)),
                    c_last_row.eq(last_row), c_last_tile.eq(last_tile),
                    c_hm.eq(bin_mask(cur_e.hs, cur_e.he, h, self.cfg_ph)),
                    c_wm0.eq(cur.wm0),
                    fits.eq((to_4k <= space) | (rem <= space) | (space >= max_burst)),
                ]
                m.next = "ROW"
            with m.State("ROW"):
                m.d.sync += fits.eq(blen <= space)
                room = fits & (~first | row_fifo.w_rdy)
                m.d.comb += self.ar_valid.eq(room)
                with m.If(self.ar_valid & self.ar_ready):
                    m.d.comb += [granted.eq(blen), row_fifo.w_en.eq(first)]
                    m.d.sync += [rem.eq(rem - blen), addr.eq(addr + (blen << bbl)), first.eq(0)]
                    m.next = "CALC"
                    with m.If(row_end):
                        # Row complete: next row, next tile or next RoI (CALC overlaps the AR slice's busy cycle).
                        m.d.sync += [first.eq(1), rem.eq(cur.wn)]
                        with m.If(c_last_row):
                            m.d.sync += [h.eq(cur.h0), h_next.eq(cur.h0 + 1), idx_row.eq(cur.idx_base),
                                         tile.eq(tile + 1),
                                         tile_addr.eq(tile_addr + tile_stride),
                                         row_addr.eq(tile_addr + tile_stride),
                                         addr.eq(tile_addr + tile_stride)]
                            with m.If(c_last_tile):
                                m.next = "IDLE"
                        with m.Else():
                            m.d.sync += [h.eq(h_next), h_next.eq(h_next + 1), idx_row.eq(idx_row + self.cfg_w),
                                         row_addr.eq(row_addr + row_stride),
                                         addr.eq(row_addr + row_stride)]

        # ---------------- read data and pooling --------------------------
        m.d.comb += [
            beat_fifo.w_data.eq(self.r_data),
            beat_fifo.w_en.eq(self.r_valid),
            self.r_ready.eq(beat_fifo.w_rdy),
        ]
        pool = Pooler(dtype=e.dt, lanes=L, max_pooled=P, max_h=e.max_h, max_w=e.max_w, argmax=e.argmax, slots=S)
        m.d.comb += [
            pool.rows.payload.eq(row_fifo.r_data),
            pool.rows.valid.eq(row_fifo.r_rdy),
            row_fifo.r_en.eq(pool.rows.ready),
            pool.beats.payload.eq(beat_fifo.r_data),
            pool.beats.valid.eq(beat_fifo.r_rdy),
            beat_fifo.r_en.eq(pool.beats.ready),
            popped.eq(pool.beat_taken),
            pool.edges.eq(slot_edges),
            pool.ph_count.eq(pool_ph),
            pool.pw_count.eq(pool_pw),
            slot_done.eq(pool.slot_done),
            self.o_data.eq(pool.out.payload.data),
            self.o_last.eq(pool.out.payload.last),
            self.o_valid.eq(pool.out.valid),
            pool.out.ready.eq(self.o_ready),
            self.in_stall.eq(pool.in_stall),
            pool.soft_rst.eq(self.soft_rst),
        ]
        # Soft reset: everything here in the same cycle, the pooler through
        # its own reset tree (see Pooler).
        top = Module()
        top.submodules.body = ResetInserter(self.soft_rst)(m)
        top.submodules.pool = pool
        return top


class RoIPoolEngine(wiring.Component):
    """RoIPool engine with AXI4 read master, AXI4-Lite registers and AXI-Stream ports.

    Parameters
    ----------
    lanes : int
        Channels per AXI data beat, ``L``; a power of two in [1, 64] with
        ``lanes * element bits <= 1024`` (AXI4's widest ``arsize``).
    dtype : str
        ``"int8"``, ``"int16"``, ``"float16"``, ``"bfloat16"`` or ``"float32"``.
    max_n, max_c, max_h, max_w : int
        Largest batch, channel count and feature-map size (``max_h`` and
        ``max_w`` at most 32767: descriptors carry 16-bit edges).  The
        defaults (C 2048, 512 x 512) hold every standard workload's map,
        including fpn-p2's 200 x 272; they size counters, edges and the
        argmax index (``bits_for(max_h * max_w - 1)`` = 18 bits per lane).
    max_pooled : int
        Largest PH and PW, in [1, 64].  Default 7 (Fast R-CNN, FPN heads);
        the bin memory and the row stage grow with it, so a 14 x 14 head
        (faster-rcnn-r50-c4) is a ``max_pooled=14`` build.
    argmax : bool
        Emit 32-bit argmax fields beside the values.
    addr_width : int
        AXI address bits, in [12, 64].
    id_width : int
        AXI ID bits (the engine uses ID 0 only), in [1, 16].
    fifo_depth : int
        Read-data FIFO depth in beats (power of two, >= 16): bounds the
        outstanding read beats, i.e. the memory latency that is hidden.
    slots : int
        RoIs in flight between parser and output stage (>= 2).

    Notes
    -----
    Ports carry AXI names (``m_axi_*``, ``s_axil_*``, ``s_axis_roi_*``,
    ``m_axis_out_*``) so vendor tools infer the interfaces; see
    :mod:`hdl.protocol` for formats and the register map.
    """

    def __init__(self, *, lanes: int = 8, dtype: str = "int16", max_n: int = 4, max_c: int = 2048,
                 max_h: int = 512, max_w: int = 512, max_pooled: int = 7, argmax: bool = True,
                 addr_width: int = 32, id_width: int = 1, fifo_depth: int = 512, slots: int = 4):
        try:
            self._validate(lanes, dtype, max_n, max_c, max_h, max_w, max_pooled, argmax,
                           addr_width, id_width, fifo_depth, slots)
        except (TypeError, ValueError):
            self._MustUse__silence = True   # a rejected engine is not an unused one
            raise
        self.lanes = lanes
        self.dt: DType = dtype_by_name(dtype)
        self.dtype = dtype
        self.max_n, self.max_c, self.max_h, self.max_w = max_n, max_c, max_h, max_w
        self.max_pooled = max_pooled
        self.argmax = argmax
        self.addr_width = addr_width
        self.id_width = id_width
        self.fifo_depth = fifo_depth
        self.row_fifo_depth = max(16, fifo_depth // 4)
        self.slots = slots
        self.max_cb = -(-max_c // lanes)
        self.data_width = lanes * self.dt.width
        self.beat_bytes = self.data_width // 8 if self.data_width >= 8 else 1
        self.beat_bytes_log2 = exact_log2(self.beat_bytes)
        self.out_width = protocol.result_beat_width(lanes, self.dt.width, argmax)
        super().__init__({
            "s_axis_roi_tdata": In(32), "s_axis_roi_tvalid": In(1),
            "s_axis_roi_tready": Out(1), "s_axis_roi_tlast": In(1),
            "m_axis_out_tdata": Out(self.out_width), "m_axis_out_tvalid": Out(1),
            "m_axis_out_tready": In(1), "m_axis_out_tlast": Out(1),
            "m_axi_araddr": Out(addr_width), "m_axi_arlen": Out(8), "m_axi_arsize": Out(3),
            "m_axi_arburst": Out(2), "m_axi_arvalid": Out(1), "m_axi_arready": In(1),
            "m_axi_arid": Out(id_width),
            "m_axi_rdata": In(self.data_width), "m_axi_rresp": In(2), "m_axi_rlast": In(1),
            "m_axi_rvalid": In(1), "m_axi_rready": Out(1), "m_axi_rid": In(id_width),
            "s_axil_awaddr": In(AXIL_ADDR_BITS), "s_axil_awvalid": In(1), "s_axil_awready": Out(1),
            "s_axil_wdata": In(32), "s_axil_wstrb": In(4), "s_axil_wvalid": In(1), "s_axil_wready": Out(1),
            "s_axil_bresp": Out(2), "s_axil_bvalid": Out(1), "s_axil_bready": In(1),
            "s_axil_araddr": In(AXIL_ADDR_BITS), "s_axil_arvalid": In(1), "s_axil_arready": Out(1),
            "s_axil_rdata": Out(32), "s_axil_rresp": Out(2), "s_axil_rvalid": Out(1), "s_axil_rready": In(1),
        })

    @staticmethod
    def _validate(lanes, dtype, max_n, max_c, max_h, max_w, max_pooled, argmax,
                  addr_width, id_width, fifo_depth, slots):
        _check_int("lanes", lanes, 1, 64)
        if lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, got {lanes}")
        dt = dtype_by_name(dtype)
        if lanes * dt.width > MAX_BEAT_BYTES * 8:
            raise ValueError(f"lanes * {dt.width} bits exceeds the 1024-bit AXI4 data bus "
                             f"(at most {MAX_BEAT_BYTES * 8 // dt.width} lanes of {dtype})")
        _check_int("max_n", max_n, 1, 65535)
        _check_int("max_c", max_c, 1, 65535)
        _check_int("max_h", max_h, 1, 32767)
        _check_int("max_w", max_w, 1, 32767)
        _check_int("max_pooled", max_pooled, 1, 64)
        if not isinstance(argmax, bool):
            raise TypeError(f"argmax must be a bool, got {type(argmax).__name__}")
        _check_int("addr_width", addr_width, 12, 64)
        _check_int("id_width", id_width, 1, 16)
        _check_int("fifo_depth", fifo_depth, 16, 1 << 16)
        if fifo_depth & (fifo_depth - 1):
            raise ValueError(f"fifo_depth must be a power of two, got {fifo_depth}")
        _check_int("slots", slots, 2, 16)


    def config(self) -> dict:
        """The build-time configuration (exported with the register map)."""
        return {
            "lanes": self.lanes, "dtype": self.dtype, "dtype_code": self.dt.code,
            "element_bits": self.dt.width, "max_n": self.max_n, "max_c": self.max_c,
            "max_h": self.max_h, "max_w": self.max_w, "max_pooled": self.max_pooled,
            "argmax": self.argmax, "addr_width": self.addr_width, "id_width": self.id_width,
            "fifo_depth": self.fifo_depth, "slots": self.slots,
            "beat_bytes": self.beat_bytes, "data_width": self.data_width, "result_width": self.out_width,
        }

    def config_json(self) -> str:
        return protocol.config_json(**self.config())

    def elaborate(self, platform):
        m = Module()
        R = {r.name: r.offset for r in protocol.REGISTERS}
        soft_reset = Signal()
        # The core is reset one cycle after the CTRL write, from a register:
        # the reset net reaches every control flip-flop of the core, so it
        # must start at a flip-flop, not behind the AXI-Lite decode.  In the
        # cycle between (``core_rst``) the core's handshakes are masked, so
        # nothing is accepted or emitted by a core that is about to reset.
        core_rst = Signal()
        m.d.sync += core_rst.eq(soft_reset)
        core = _Core(self)
        m.submodules.core = core
        m.d.comb += core.soft_rst.eq(core_rst)

        # ---------------- registers --------------------------------------
        regs = {n: Signal(32, name=f"reg_{n.lower()}") for n in
                ("FEAT_BASE_LO", "FEAT_BASE_HI", "N", "C", "H", "W", "PH", "PW", "BIN_MODE", "NUM_ROIS")}
        counters = {n: Signal(32, name=f"cnt_{n.lower()}") for n in
                    ("BUSY_CYCLES", "BEATS_READ", "BEATS_WRITTEN", "IN_STALL_CYCLES", "OUT_STALL_CYCLES", "ROIS_DONE")}
        err = Signal(len(protocol.ERR))
        running = Signal()
        done = Signal()
        flush = Signal()
        start = Signal()
        err_set = Signal(len(protocol.ERR))
        err_clr = Signal(len(protocol.ERR))
        m.d.sync += err.eq((err & ~err_clr) | err_set)

        cfgw = Cat(Const(self.lanes, 8), Const(self.dt.code, 4), Const(int(self.argmax), 1),
                   Const(self.beat_bytes_log2, 3), Const(self.max_pooled, 8))
        ro = {
            "ID": Const(protocol.MAGIC, 32), "VERSION": Const(protocol.VERSION, 32), "CONFIG": cfgw,
            "MAX_NC": Const(self.max_n | self.max_c << 16, 32),
            "MAX_HW": Const(self.max_h | self.max_w << 16, 32),
            "STATUS": Cat(running | flush, done, err != 0),
            "ERR_FLAGS": err,
            **counters, **regs,
        }

        # AXI4-Lite write: accept address and data together, answer OKAY.
        bvalid = Signal()
        m.d.comb += [self.s_axil_bvalid.eq(bvalid), self.s_axil_bresp.eq(0), self.s_axil_rresp.eq(0)]
        wfire = self.s_axil_awvalid & self.s_axil_wvalid & ~bvalid
        m.d.comb += [self.s_axil_awready.eq(wfire), self.s_axil_wready.eq(wfire)]
        with m.If(wfire):
            m.d.sync += bvalid.eq(1)
            waddr = self.s_axil_awaddr[2:]
            wd = self.s_axil_wdata
            for name, sig in regs.items():
                with m.If(waddr == R[name] >> 2):
                    for b in range(4):
                        with m.If(self.s_axil_wstrb[b]):
                            m.d.sync += sig[8 * b: 8 * b + 8].eq(wd[8 * b: 8 * b + 8])
            with m.If(waddr == R["CTRL"] >> 2):
                m.d.comb += [start.eq(wd[0] & ~running & ~flush), soft_reset.eq(wd[1])]
            with m.If(waddr == R["ERR_FLAGS"] >> 2):
                m.d.comb += err_clr.eq(wd)
        with m.Elif(bvalid & self.s_axil_bready):
            m.d.sync += bvalid.eq(0)
        rvalid = Signal()
        m.d.comb += [self.s_axil_rvalid.eq(rvalid), self.s_axil_arready.eq(~rvalid)]
        with m.If(self.s_axil_arvalid & ~rvalid):
            m.d.sync += [rvalid.eq(1), self.s_axil_rdata.eq(0)]
            with m.Switch(self.s_axil_araddr[2:]):
                for name, val in ro.items():
                    with m.Case(R[name] >> 2):
                        m.d.sync += self.s_axil_rdata.eq(val)
        with m.Elif(rvalid & self.s_axil_rready):
            m.d.sync += rvalid.eq(0)

        # ---------------- run control ------------------------------------
        aw = self.addr_width
        base64 = Cat(regs["FEAT_BASE_LO"], regs["FEAT_BASE_HI"])
        # The size checks (32-bit compares of every size register) are
        # registered: register -> checks -> START's error flag was a routed
        # critical path (12.8 ns, 8 logic levels, 2026-12-06).  Exact at
        # START: AXI4-Lite writes here are at least two cycles apart (a
        # write waits for the previous one's response), so the checks have
        # seen every register write before the CTRL write that starts.
        size_ok = Signal()
        m.d.sync += size_ok.eq(
            (regs["N"] >= 1) & (regs["N"] <= self.max_n) & (regs["C"] >= 1) & (regs["C"] <= self.max_c)
            & (regs["H"] >= 1) & (regs["H"] <= self.max_h) & (regs["W"] >= 1) & (regs["W"] <= self.max_w)
            & (regs["PH"] >= 1) & (regs["PH"] <= self.max_pooled)
            & (regs["PW"] >= 1) & (regs["PW"] <= self.max_pooled)
            & (regs["BIN_MODE"] <= 1)
            & (base64[:self.beat_bytes_log2] == 0) & (base64[aw:] == 0 if aw < 64 else Const(1))
        )
        m.d.comb += [
            core.cfg_base.eq(regs["FEAT_BASE_LO"] if aw <= 32 else base64[:aw]),
            core.cfg_n.eq(regs["N"]), core.cfg_c.eq(regs["C"]), core.cfg_h.eq(regs["H"]),
            core.cfg_w.eq(regs["W"]), core.cfg_ph.eq(regs["PH"]), core.cfg_pw.eq(regs["PW"]),
            core.cfg_edges.eq(regs["BIN_MODE"][0]), core.cfg_rois.eq(regs["NUM_ROIS"]),
            core.active.eq(running),
        ]
        # Registers written during a run are not re-latched: the run uses
        # the values present at START (the host must not change them; the
        # core reads them live to save 200 flip-flops).
        # The core starts the cycle after START, from a register: its start
        # enables the run-configuration registers and counters of the core,
        # and the size checks in front of it are 32-bit compares.
        core_start = Signal()
        m.d.sync += core_start.eq(0)
        m.d.comb += core.start.eq(core_start)
        with m.If(start):
            for c in counters.values():
                m.d.sync += c.eq(0)
            m.d.sync += done.eq(0)
            with m.If(size_ok):
                m.d.sync += [running.eq(1), core_start.eq(1)]
            with m.Else():
                m.d.sync += done.eq(1)
                m.d.comb += err_set[protocol.ERR["SIZE"]].eq(1)
        with m.If(running & (counters["ROIS_DONE"] == regs["NUM_ROIS"])):
            m.d.sync += [running.eq(0), done.eq(1)]
        with m.If(soft_reset):
            m.d.sync += [running.eq(0), done.eq(0), flush.eq(1)]

        # ---------------- AXI read address: register slice (survives soft reset)
        ar_valid = Signal()
        m.d.comb += [
            self.m_axi_arvalid.eq(ar_valid), self.m_axi_arsize.eq(self.beat_bytes_log2),
            self.m_axi_arburst.eq(0b01), self.m_axi_arid.eq(0),
            core.ar_ready.eq(~ar_valid & ~soft_reset & ~core_rst),
        ]
        with m.If(core.ar_valid & core.ar_ready):
            m.d.sync += [ar_valid.eq(1), self.m_axi_araddr.eq(core.ar_addr), self.m_axi_arlen.eq(core.ar_len)]
        with m.Elif(self.m_axi_arready):
            m.d.sync += ar_valid.eq(0)
        outstanding = Signal(range(self.fifo_depth + 257))
        ar_fire = ar_valid & self.m_axi_arready
        r_fire = self.m_axi_rvalid & self.m_axi_rready
        m.d.sync += outstanding.eq(outstanding + Mux(ar_fire, self.m_axi_arlen + 1, 0) - r_fire)
        with m.If(flush & ~ar_valid & (outstanding == 0) & ~soft_reset):
            m.d.sync += flush.eq(0)

        # ---------------- read data --------------------------------------
        m.d.comb += [
            core.r_data.eq(self.m_axi_rdata),
            core.r_valid.eq(self.m_axi_rvalid & ~flush),
            self.m_axi_rready.eq(flush | core.r_ready),
        ]
        with m.If(r_fire & ~flush & (self.m_axi_rresp != 0)):
            m.d.comb += err_set[protocol.ERR["AXI_READ"]].eq(1)

        # ---------------- descriptors and results ------------------------
        m.d.comb += [
            core.d_data.eq(self.s_axis_roi_tdata), core.d_valid.eq(self.s_axis_roi_tvalid & ~core_rst),
            core.d_last.eq(self.s_axis_roi_tlast), self.s_axis_roi_tready.eq(core.d_ready & ~core_rst),
            self.m_axis_out_tdata.eq(core.o_data), self.m_axis_out_tlast.eq(core.o_last),
            self.m_axis_out_tvalid.eq(core.o_valid & ~core_rst), core.o_ready.eq(self.m_axis_out_tready & ~core_rst),
        ]
        with m.If(core.err_batch & ~core_rst):
            m.d.comb += err_set[protocol.ERR["BATCH"]].eq(1)
        with m.If(core.err_framing & ~core_rst):
            m.d.comb += err_set[protocol.ERR["FRAMING"]].eq(1)

        # ---------------- performance counters ---------------------------
        # Each event is registered before its counter adds it: the events
        # are handshakes masked by ``core_rst`` (a net that reaches every
        # control flip-flop of the core), and ``core_rst`` -> output
        # handshake -> a 32-bit carry chain was a routed critical path at
        # 957c986 (13.2 ns).  So a counter lags its event by one cycle, and
        # DONE (``ROIS_DONE == NUM_ROIS``) comes one cycle after the last
        # result beat's count; every count is final when DONE rises
        # (``BUSY_CYCLES`` adds ``running``, a flip-flop, directly).
        out_fire = self.m_axis_out_tvalid & self.m_axis_out_tready
        events = {
            "BEATS_READ": r_fire & ~flush,
            "BEATS_WRITTEN": out_fire,
            "IN_STALL_CYCLES": running & core.in_stall,
            "OUT_STALL_CYCLES": self.m_axis_out_tvalid & ~self.m_axis_out_tready,
            "ROIS_DONE": out_fire & self.m_axis_out_tlast,
        }
        event_r = {n: Signal(name=f"ev_{n.lower()}") for n in events}
        m.d.sync += [event_r[n].eq(v) for n, v in events.items()]
        m.d.sync += [counters[n].eq(counters[n] + event_r[n]) for n in events]
        m.d.sync += counters["BUSY_CYCLES"].eq(counters["BUSY_CYCLES"] + running)
        with m.If(start):  # a fresh run restarts the counters (overrides the increments)
            for c in (*counters.values(), *event_r.values()):
                m.d.sync += c.eq(0)
        return m
