"""Separable max pooling of channel tiles: row, vertical and output stages.

Data arrive as *beats*: one pixel ``(h, w)`` of one channel tile, ``lanes``
channels wide.  A RoI's window is streamed row by row; each element is read
once and compared as few times as the bins that contain it.

Row stage
    ``max_pooled`` row maxima per lane (key, -0.0 flag, flat index).  Every
    beat is compared against all column bins in parallel; bin ``pw``
    updates iff ``wstart[pw] <= w < wend[pw]`` and ``key > acc`` (strict:
    the first element in raster order keeps ties).  The compare looks one
    beat ahead (``acc = g ? p : A``, see the row stage below), so it drives
    one flip-flop per bin and lane and the row's result is complete the
    cycle after its last beat, when it moves to the *pending* FIFO (two
    entries: the next row already streams into the row stage, and the row
    after it may finish before the vertical stage is done with the first).
    The row stage takes a row's last beat on a registered *space* flag
    (fewer than two entries, the push in flight included, at the start of
    the cycle), so its take, and the tag stage's ready behind it, depend on
    flip-flops only, not on the vertical and output stages' state of the
    same cycle.

Vertical stage
    Bin accumulators ``B[bank][ph]`` live in ``max_pooled`` memories, one
    per pw bin, each with one ``lanes``-record entry per ``(bank, ph)`` and
    all at the same address.  For a pending row ``h`` the ph mask
    ``hstart[ph] <= h < hend[ph]`` is walked one set bit per cycle: V0 reads
    ``B[ph]`` (a copy of the row vector travels along, so the pending slot
    frees on the last ph's V0), V1 compares the whole vector in parallel
    (one "row wins" bit per lane and bin) and V2 writes the winner back.
    V0 registers the entry already resolved: the init records on the
    entry's first touch in the tile (no clear pass), V1's value before its
    row when V1 holds the same entry (V1 then compares against both
    candidates of that op's result, so back-to-back rows on one ``ph`` take
    one cycle each), V2's result when V2 writes that entry, else the memory.

Output stage
    When a tile's last row is merged its bank is handed over (``full``) and
    the vertical stage continues in the other bank.  The output stage emits
    ``PH * PW`` beats (ph-major), presenting the *next* beat's address to the
    memory each cycle so that a new ``ph`` costs no bubble.  Empty bins give
    value 0 / argmax -1; a non-empty bin whose accumulator still holds the
    init key (nothing beat the sentinel) gives the sentinel bits / -1.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, ResetInserter, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for, ceil_log2

from .dtypes import DType
from .keys import elem_key, key_to_bits

__all__ = ["Pooler", "row_desc_layout", "edges_layout", "idx_width", "select", "bin_mask"]


def select(m, items, index, name=None):
    """``items[index]`` as a case multiplexer.

    Amaranth lowers a variable index into a wide value to a shifter whose
    every output bit depends on every input bit; a case mux is what the
    hardware should be (and keeps elaboration linear in the width).
    """
    items = list(items)
    shape = items[0].shape() if hasattr(items[0], "shape") else None
    out = Signal(shape if shape is not None else len(items[0]), name=name)
    with m.Switch(index):
        for i, item in enumerate(items):
            with m.Case(i):
                m.d.comb += out.eq(item)
    return out


def bin_mask(starts, ends, x, count=None):
    """Bit ``p`` set iff ``starts[p] <= x < ends[p]`` (and ``p < count`` if given): the bins holding ``x``."""
    bits = [(starts[p] <= x) & (x < ends[p]) for p in range(len(starts))]
    if count is not None:
        bits = [b & (p < count) for p, b in enumerate(bits)]
    return Cat(*bits)


def lowest_set(x, width: int):
    """Index of the lowest set bit of ``x`` (0 if none): a priority encoder of ``width`` bits."""
    out = Const(0, width)
    for i in reversed(range(len(x))):
        out = Mux(x[i], i, out)
    return out


def ph_set_layout(max_pooled: int) -> data.StructLayout:
    """A row's ph bins in the form the vertical stage walks them.

    The stage visits the set bits of the row's ph mask lowest first; with
    the lowest two and the count precomputed, each step's next bin is a
    register (``low2``) instead of a priority encoder behind the mask
    update.
    """
    ph = range(max(max_pooled, 2))
    return data.StructLayout({"low": ph, "low2": ph, "rest": max_pooled, "n": range(max_pooled + 1)})


def ph_set(mask, max_pooled: int):
    """:func:`ph_set_layout` of ph mask ``mask``: lowest, second lowest, the other bits, count."""
    P = max_pooled
    w = len(Const(0, range(max(P, 2))))
    m1 = mask & (mask - 1)[:P]                 # mask without its lowest bit
    return Cat(lowest_set(mask, w), lowest_set(m1, w), m1 & (m1 - 1)[:P], sum(mask[i] for i in range(P))[:bits_for(P)])


def idx_width(max_h: int, max_w: int) -> int:
    """Bits of a flat index ``h * W + w`` (< max_h * max_w)."""
    return bits_for(max_h * max_w - 1)


def edges_layout(max_pooled: int, max_h: int, max_w: int) -> data.StructLayout:
    """Clipped bin edges of one RoI (one entry of the slot table)."""
    return data.StructLayout({
        "hs": data.ArrayLayout(range(max_h + 1), max_pooled),
        "he": data.ArrayLayout(range(max_h + 1), max_pooled),
        "ws": data.ArrayLayout(range(max_w + 1), max_pooled),
        "we": data.ArrayLayout(range(max_w + 1), max_pooled),
    })


def row_desc_layout(slots: int, max_h: int, max_w: int, max_pooled: int) -> data.StructLayout:
    """One window row of one tile (or a data-less *skip* tile)."""
    return data.StructLayout({
        "slot": range(slots),
        "w0": range(max_w + 1),
        "wlast": range(max_w + 1),         # w1 - 1: last column (the pooler's last-beat test is an equality)
        "idx0": bits_for(max_h * max_w),   # h * W + w0, computed by the address generator
        "last_row": 1,                     # last row of the tile: hand the bank over after it
        "last_tile": 1,                    # last tile of the RoI: tlast on its last beat
        "skip": 1,                         # no data (all bins empty / bad RoI): emit zeros
        # Bin masks computed by the producer from its registered copy of the
        # slot's edges, so the pooler's front does not select and compare
        # edges for them: ph bins holding row h (``hs <= h < he``, ``ph <
        # PH``) and pw bins holding the row's first column w0.
        "hm": max_pooled,
        "wm0": max_pooled,
    })


class _PoolSlice(wiring.Component):
    """Tag, row, vertical and output stages of a few lanes, with their own control.

    The lanes of a channel tile never exchange data, only control, so the
    pooler is built from identical slices (:class:`Pooler` instantiates
    ``lanes / slice_lanes`` of them).  Every slice keeps a complete copy of
    the control state (valid bits, ph masks, banks, output counters): all
    copies see the same inputs and therefore move in lockstep, and slice 0's
    copy drives the pooler's handshakes.  On an FPGA this keeps each wide
    enable, select and memory address local to its slice (a few hundred
    loads placed together) instead of one flip-flop driving thousands of
    loads spread over the device, which was the routed critical path.
    Synthesis cannot merge the copies: each depends on its own state.

    Parameters
    ----------
    dtype : DType
    lanes : int
        Lanes of this slice.
    max_pooled : int
    iw : int
        Bits of the argmax flat index (0 without argmax).
    argmax : bool
    slots : int

    Attributes
    ----------
    r0_valid, r0_skip, r0_last_row, r0_last_tile, r0_slot : In
        The front's current row (usable).
    beat_valid, beat, beat_idx : In
        The front's beat register X (this slice's lanes) and its flat index.
    last_beat, w_mask, h_set : In
        Registered for that beat / row by the front (``h_set``: the row's ph
        bins, :func:`ph_set_layout`).
    slot_rne, slot_cne : In
        Non-empty ph / pw bins of every slot.
    ph_count, pw_count : In
        The run's pooled size.
    pw_used : In
        ``pw_used[pw] = pw < pw_count``, registered by the front.
    t_ready : Out(1)
        The tag stage takes an item this cycle if one is offered.
    t_busy : Out(1)
        The tag stage holds an item (keeps the slice's reset copy distinct,
        see :class:`Pooler`).
    out_valid, out_last, values, args, out_ready
        The slice's part of the result stream (all slices move together).
    slot_done : Out(1)
        See :class:`Pooler`.
    """

    def __init__(self, *, dtype: DType, lanes: int, max_pooled: int, iw: int, argmax: bool,
                 slots: int):
        self.dt = dtype
        self.lanes = lanes
        self.max_pooled = max_pooled
        self.argmax = argmax
        self.slots = slots
        self.iw = iw
        self.kw = dtype.key_width
        self.lw = self.kw + 1 + iw                      # lane record: key, -0.0 flag, index
        self.gw = lanes * self.lw                       # one pw group: a B entry / row vector holds P of them
        P = max_pooled
        super().__init__({
            # current row (front's R0) and its next beat
            "r0_valid": In(1), "r0_skip": In(1), "r0_last_row": In(1), "r0_last_tile": In(1),
            "r0_slot": In(range(slots)),
            "beat_valid": In(1), "beat": In(lanes * dtype.width), "beat_idx": In(max(iw, 1)),
            "last_beat": In(1), "w_mask": In(P), "h_set": In(ph_set_layout(P)),
            # non-empty ph / pw bins of every slot (registered by the front)
            "slot_rne": In(data.ArrayLayout(P, slots)), "slot_cne": In(data.ArrayLayout(P, slots)),
            "ph_count": In(range(P + 1)), "pw_count": In(range(P + 1)), "pw_used": In(P),
            "out_ready": In(1),
            "t_ready": Out(1), "t_busy": Out(1),
            "out_valid": Out(1), "out_last": Out(1),
            "values": Out(lanes * dtype.width), "args": Out(lanes * 32 if argmax else 1),
            "slot_done": Out(1),
        })

    def _rec(self, group, lane):
        return group[lane * self.lw: (lane + 1) * self.lw]

    def _pick(self, sel, on, off):
        """Per lane, the record of ``on`` where bit ``sel[lane]`` is set, else that of ``off``."""
        return Cat(*(Mux(sel[lane], self._rec(on, lane), self._rec(off, lane)) for lane in range(self.lanes)))

    def elaborate(self, platform):
        m = Module()
        dt, L, P = self.dt, self.lanes, self.max_pooled
        kw, lw = self.kw, self.lw
        gw = self.gw
        init_rec = Const(dt.init_key, lw)               # key = init, flag 0, index 0
        init_grp = Cat(*([init_rec] * L))
        pbits = max(ceil_log2(P), 0)

        # The bin accumulators, the row accumulators and the pending row
        # vectors are P groups of ``lanes`` records, one per pw bin, and each
        # is kept as its own signal or memory (the memories of one kind share
        # their addresses).  The hardware is the same as one wide vector (a
        # LUT-RAM cell is 4 bits wide either way), but a group of one lane
        # fits a 64-bit word, which Verilator handles natively: one vector
        # of P groups is a multi-word value whose every unaligned record
        # select costs shifts and masks per cycle.
        # V0 reads the bin memories asynchronously (LUT-RAM) and registers
        # the accumulator entry V1 merges into (``v1_acc``), already
        # resolved: the init records on the entry's first touch in the tile,
        # V1's result of this cycle when it writes the same entry (the one
        # write the read cannot see yet), else the memory.  V1's loop is then
        # only compare + select, and the selects' fanout sits in front of a
        # register.  The output stage reads them through a second port.
        wp, rp_v, rp_o = [], [], []
        for pw in range(P):
            mem = Memory(shape=unsigned(gw), depth=2 << pbits, init=[])
            m.submodules[f"bins{pw}"] = mem
            wp.append(mem.write_port())
            rp_v.append(mem.read_port(domain="comb"))
            rp_o.append(mem.read_port(domain="comb"))

        def addr(bank, ph):
            return Cat(ph[:pbits], bank) if pbits else bank

        # ---------------- shared state between the stages -----------------
        pend_valid = Signal()
        # The pending FIFO's row vectors live in a two-entry memory written at
        # ``wptr`` on a push and read at ``rptr`` (the head) by V0: its write
        # enable is the row stage's push (a function of flip-flops) and its
        # read address a flip-flop.  As registers, the head vector needed an
        # enable "head free or freeing", which depends on the output stage's
        # bank state and fanned out to every bit of the vector: the routed
        # critical path of c6706d7 (11 ns of routing on that enable net).
        vec_wp, vec_rp = [], []
        for pw in range(P):
            vec_mem = Memory(shape=unsigned(gw), depth=2, init=[])
            m.submodules[f"pend_vecs{pw}"] = vec_mem
            vec_wp.append(vec_mem.write_port())
            vec_rp.append(vec_mem.read_port(domain="comb"))
        wptr = Signal()
        rptr = Signal()
        # The head row's ph bins not yet merged, as the vertical stage walks
        # them (see :func:`ph_set_layout`): ``low`` the current one (``low_d``
        # its next value), ``low2`` the one after, ``pend_rest`` the others,
        # ``pend_n`` how many in all.  Every next value is a register or a
        # priority encoder of registers, so the bin memory's read address and
        # the V stage's selects computed from ``low_d`` come from a 2:1 mux
        # of flip-flops.  (At 8b16d19 ``low_d`` was the priority encoder of
        # the mask update, and ``low_d`` -> ``v_fwd`` / ``v_first`` /
        # ``pend_one`` were routed paths of 9.3-10.3 ns.)
        pend_n = Signal(range(P + 1))
        # At most one bin left, registered so the ready path back to the
        # FIFOs does not go through a compare (the last ph of the row).
        pend_one = Signal()
        low = Signal(range(max(P, 2)))
        low_d = Signal.like(low)
        low2 = Signal.like(low)
        pend_rest = Signal(P)
        m.d.comb += low_d.eq(low)
        m.d.sync += low.eq(low_d)
        pend_last_row = Signal()
        pend_last_tile = Signal()
        pend_skip = Signal()
        pend_slot = Signal(range(self.slots))
        v_free = Signal()          # V0 consumes the pending row's last ph this cycle
        # Second entry of the pending FIFO (tail, behind the head above).
        tl_valid = Signal()
        tl_set = Signal(ph_set_layout(P))
        tl_last_row = Signal()
        tl_last_tile = Signal()
        tl_skip = Signal()
        tl_slot = Signal(range(self.slots))
        # Fewer than two entries at the start of this cycle: the row stage may
        # hand over a row.  A flip-flop, so the row stage's take does not wait
        # for the head's last vertical op of the same cycle (that op depends
        # on the output stage's bank state, across the slice).
        space = Signal(init=1)

        full = Signal(2)           # bank handed to the output stage
        info_last = [Signal(name=f"info_last{b}") for b in range(2)]
        info_rne = [Signal(P, name=f"info_rne{b}") for b in range(2)]   # ph bins non-empty (0 if skip)
        info_cne = [Signal(P, name=f"info_cne{b}") for b in range(2)]   # pw bins non-empty
        out_clear = Signal(2)

        # ---------------- vertical stage (V0 / V1) ------------------------
        vbank = Signal()
        touched = Signal(P)
        vbank_d = Signal()
        touched_d = Signal(P)
        m.d.comb += [vbank_d.eq(vbank), touched_d.eq(touched)]
        m.d.sync += [vbank.eq(vbank_d), touched.eq(touched_d)]
        v_go = Signal()
        # The bin memories' V0 read address and V1 write address are
        # registers of their own, declared once per pw memory: as ``low`` /
        # ``vbank`` and ``v1_ph`` / ``v1_bank`` they reached every LUT-RAM
        # cell of the slice (63 for 7 bins of one int16 lane), and those nets
        # were routed critical paths (``low`` -> ``v_fwd``, 7.2 ns on
        # ``low[0]``; ``v1_bank`` -> LUT-RAM write address, 12.5 ns on that
        # net; 2026-12-03).  The copies are loaded before every use (V0:
        # whenever ``low`` or ``vbank`` may change, so also with the head
        # that follows a reset; V1: with the op), so they need no reset,
        # which also keeps them apart from the control flip-flops.
        # Synthesis merges flip-flops bit by bit when inputs, enables and
        # initial values match, so each copy is enabled through its own
        # ``pw_en[pw]`` (below; a copy of an unused bin holds, and that
        # bin is never output).  Until 8b16d19 the copies differed only in
        # their power-on values ``pw``, which kept at most two copies of
        # each address bit and one of the bank bit: that one flip-flop
        # reached all 63 LUT-RAM cells, and its net was the routed
        # critical path of two seeds once the paths above were shorter
        # (8.2 and 9.2 ns on the address net, 2026-12-06).
        aw = pbits + 1                 # width of addr(bank, ph)
        v_raddr = [Signal(aw, reset_less=True, name=f"v_raddr{pw}") for pw in range(P)]
        v_waddr = [Signal(aw, reset_less=True, name=f"v_waddr{pw}") for pw in range(P)]
        # ``pw < pw_count``, registered here from the front's registered
        # ``pw_used`` (no compare on the route from the front to the
        # slices): the enable that keeps each bin's copies of the V stage's
        # addresses and selects distinct.
        pw_en = [Signal(name=f"pw_en{pw}") for pw in range(P)]
        m.d.sync += [pw_en[pw].eq(self.pw_used[pw]) for pw in range(P)]
        m.d.comb += [
            v_go.eq(pend_valid & ~full.bit_select(vbank, 1)),
            v_free.eq(v_go & pend_one),
            *(rp.addr.eq(ra) for rp, ra in zip(rp_v, v_raddr)),
        ]
        v1_write = Signal()
        v1_bank = Signal()
        v1_ph = Signal(range(max(P, 2)))
        v1_vec = [Signal(gw, reset_less=True, name=f"v1_vec{pw}") for pw in range(P)]
        v1_tile_end = Signal()
        v1_slot = Signal(range(self.slots))
        v1_last = Signal()
        v1_skip = Signal()
        m.d.sync += [v1_write.eq(0), v1_tile_end.eq(0)]
        v1_acc = [Signal(gw, reset_less=True, name=f"v1_acc{pw}") for pw in range(P)]
        # V1 -> V2 (lookahead, as in the row stage): V1 only compares, and
        # registers one "the row won" bit per lane (``v2_g``) beside the row
        # vector and the accumulator; V2 writes ``g ? row : acc`` into the
        # bin memory, a select from flip-flops.  At a41d1b8 V1 compared and
        # selected in one cycle, and with the row stage's loop gone that
        # loop (``v1_vec`` / ``v1_acc`` -> compare -> 36-bit select -> bin
        # LUT-RAM or ``v1_acc``) was every seed's routed critical path
        # (12.4-14.0 ns, 2026-12-03).  An op on the entry V2 is merging
        # (``v1_fwd``: consecutive rows on the same ph) compares against
        # both candidates of V2's result, ``v2_g ? v2_r : v1_acc`` (V0 then
        # loaded ``v1_acc`` with V2's accumulator), so the chain of merges
        # into one entry still takes one cycle per row.
        v2_write = Signal()
        v2_tile_end = Signal()
        v2_bank = Signal()
        v2_r = [Signal(gw, reset_less=True, name=f"v2_r{pw}") for pw in range(P)]
        v2_acc = [Signal(gw, reset_less=True, name=f"v2_acc{pw}") for pw in range(P)]
        v2_g = [Signal(L, reset_less=True, name=f"v2_g{pw}") for pw in range(P)]
        # The selects of v1_acc / V1's compare come in one copy per pw
        # group (see ``pw_en``).
        v1_fwd = [Signal(reset_less=True, name=f"v1_fwd{pw}") for pw in range(P)]
        v_first = [Signal(name=f"v_first{pw}") for pw in range(P)]
        v_fwd = [Signal(name=f"v_fwd{pw}") for pw in range(P)]
        v_fwd2 = [Signal(name=f"v_fwd2{pw}") for pw in range(P)]
        v1_g, v1_eff, v2_data = [], [], []
        for pw in range(P):
            chain = Cat(*(v1_fwd[pw] & v2_g[pw][lane] for lane in range(L)))
            wins = []
            for lane in range(L):
                r = self._rec(v1_vec[pw], lane)[:kw]
                wins.append(Mux(chain[lane], r > self._rec(v2_r[pw], lane)[:kw],
                                r > self._rec(v1_acc[pw], lane)[:kw]))   # strict: earlier rows keep ties
            v1_g.append(Cat(*wins))
            v1_eff.append(self._pick(chain, v2_r[pw], v1_acc[pw]))      # the entry before V1's row (from flip-flops)
            v2_data.append(self._pick(v2_g[pw], v2_r[pw], v2_acc[pw]))  # the entry after V2's row (from flip-flops)
        m.d.sync += [
            v2_write.eq(v1_write), v2_tile_end.eq(v1_tile_end), v2_bank.eq(v1_bank),
            *(r.eq(v) for r, v in zip(v2_r, v1_vec)), *(a.eq(e) for a, e in zip(v2_acc, v1_eff)),
            *(g.eq(w) for g, w in zip(v2_g, v1_g)),
        ]
        with m.If(v1_write):
            for pw, wa in enumerate(v_waddr):
                with m.If(pw_en[pw]):
                    m.d.sync += wa.eq(addr(v1_bank, v1_ph))
        for pw in range(P):
            m.d.comb += [wp[pw].addr.eq(v_waddr[pw]), wp[pw].data.eq(v2_data[pw]), wp[pw].en.eq(v2_write)]
        # The selects of v1_acc drive every bit of it, so they come from
        # registers, computed a cycle ahead from the next state: ``first``
        # (the entry V0 reads has not been touched in this tile), ``fwd``
        # (V1 holds an op on the same entry: take its value before its row,
        # V1 then compares against both candidates) and ``fwd2`` (V2 writes
        # the entry in this cycle, which the memory read cannot see yet).
        v_op = Signal()
        m.d.comb += v_op.eq(v_go & (pend_n != 0))
        # One copy of each select per pw group: a single flip-flop reaching
        # all P groups of the slice (252 bits at int16) was every seed's
        # routed critical path at 8b67e38 (``v_fwd`` / ``v_fwd2`` ->
        # ``v1_acc``, 11.9-12.2 ns, 10.4-10.8 ns on that one net; at float32
        # 13.0 ns on one net).  Copies computed from the same inputs would
        # be merged back by synthesis, so each copy is enabled by its own
        # ``pw_en[pw]``: distinct enables, distinct flip-flops.  A copy of
        # an unused bin (``pw >= pw_count``) holds, and that bin's
        # accumulator is never read.
        nxt_first = ~touched_d.bit_select(low_d, 1)
        nxt_fwd = v_op & (vbank_d == vbank) & (low_d == low)
        nxt_fwd2 = v1_write & (vbank_d == v1_bank) & (low_d == v1_ph)
        for pw in range(P):
            with m.If(pw_en[pw]):
                m.d.sync += [v_first[pw].eq(nxt_first), v_fwd[pw].eq(nxt_fwd), v_fwd2[pw].eq(nxt_fwd2),
                             v1_fwd[pw].eq(v_fwd[pw])]
        m.d.sync += [
            # Loaded every cycle (only used after an op): no enable on these 2 x P groups of flip-flops.
            *(v1_vec[pw].eq(vec_rp[pw].data) for pw in range(P)),
            *(v1_acc[pw].eq(Mux(v_first[pw], init_grp,
                                Mux(v_fwd[pw], v1_eff[pw], Mux(v_fwd2[pw], v2_data[pw], rp_v[pw].data))))
              for pw in range(P)),
        ]
        with m.If(v_go):
            m.d.comb += low_d.eq(low2)
            m.d.sync += [low2.eq(lowest_set(pend_rest, len(low))), pend_rest.eq(pend_rest & (pend_rest - 1)[:P]),
                         pend_one.eq(pend_n <= 2), v1_bank.eq(vbank)]
            with m.If(pend_n != 0):
                m.d.comb += touched_d.eq(touched | (Const(1, P) << low))
                m.d.sync += [v1_write.eq(1), v1_ph.eq(low), pend_n.eq(pend_n - 1)]
            with m.If(pend_one):
                m.d.sync += pend_valid.eq(0)
                with m.If(pend_last_row):
                    # Tile complete after this op: next rows go to the other bank.
                    m.d.sync += [
                        v1_tile_end.eq(1), v1_slot.eq(pend_slot), v1_last.eq(pend_last_tile),
                        v1_skip.eq(pend_skip),
                    ]
                    m.d.comb += [vbank_d.eq(~vbank), touched_d.eq(0)]
        # Non-empty row / column bins of the finished tile's RoI, registered
        # at V1 (the bank is not the output stage's until ``full``, set
        # after V2's last write), so the output stage does not compare edges.
        v1_rne = self.slot_rne[v1_slot]
        v1_cne = self.slot_cne[v1_slot]
        for b in range(2):
            with m.If(v1_tile_end & (v1_bank == b)):
                m.d.sync += [info_last[b].eq(v1_last), info_rne[b].eq(Mux(v1_skip, 0, v1_rne)), info_cne[b].eq(v1_cne)]
        m.d.sync += full.eq((full & ~out_clear) | Mux(v2_tile_end, Const(1, 2) << v2_bank, 0))

        # ---------------- tag stage (T) -----------------------------------
        # One register stage in front of the row stage: it takes the beats,
        # turns each into lane records (key, -0.0 flag, index) and registers
        # them with the beat's column-bin membership mask, so the row stage's
        # accumulate loop is only compare + select.  Its ready is
        # pass-through (``~t_valid | r_take``): no bubble, one cycle latency;
        # ``r_take`` is a function of flip-flops (T's and ``space``).
        # (One copy of the records per pw bin, each loaded only when the
        # beat is in that bin, was tried on 2026-12-03 to place each copy
        # with its bin: it multiplied the fanout of the front's beat and
        # index broadcast by P, and that broadcast became the routed
        # critical path, 14.2 ns of routing on one index bit.)
        head_free = Signal()       # the head entry is empty or frees this cycle
        m.d.comb += head_free.eq(~pend_valid | v_free)
        lane_keys = []
        for lane in range(L):
            key, nz = elem_key(dt, self.beat[lane * dt.width: (lane + 1) * dt.width])
            lane_keys.append(Cat(key, nz, self.beat_idx[: self.iw]))

        t_valid = Signal()
        m.d.comb += self.t_busy.eq(t_valid)
        t_skip = Signal(reset_less=True)
        t_recs = Signal(gw, reset_less=True)
        t_wmask = Signal(P, reset_less=True)
        t_last = Signal(reset_less=True)
        t_hset = Signal(ph_set_layout(P), reset_less=True)
        t_last_row = Signal(reset_less=True)
        t_last_tile = Signal(reset_less=True)
        t_slot = Signal(range(self.slots), reset_less=True)
        r_take = Signal()
        t_ready = Signal()
        m.d.comb += [t_ready.eq(~t_valid | r_take), self.t_ready.eq(t_ready)]
        # T's fields load whenever T can take an item (``t_ready``), valid
        # or not: the row stage reads them only under ``t_valid``.  So the
        # enable of the slice's ~300 tag flip-flops is ``t_ready`` alone (a
        # function of T's own flip-flops), not ``t_ready`` gated by the
        # front's broadcast ``r0_valid`` / ``r0_skip`` / ``beat_valid``:
        # ``r0_skip`` -> the far slice's tag enables was a routed critical
        # path at 8b67e38 (11.0 ns, 4 LUTs).  A skip token is ``skip`` and
        # ``last`` at once.
        t_load = Signal()
        m.d.comb += t_load.eq(t_ready & self.r0_valid & (self.r0_skip | self.beat_valid))
        m.d.sync += t_valid.eq(t_load | (t_valid & ~r_take))
        with m.If(t_ready):
            m.d.sync += [
                t_skip.eq(self.r0_skip), t_recs.eq(Cat(*lane_keys)), t_wmask.eq(self.w_mask),
                t_last.eq(self.r0_skip | self.last_beat), t_hset.eq(self.h_set),
                t_last_row.eq(self.r0_last_row), t_last_tile.eq(self.r0_last_tile), t_slot.eq(self.r0_slot),
            ]

        # ---------------- row stage (R) -----------------------------------
        # Lookahead compare.  Bin ``pw``'s running maximum of the row, per
        # lane, is ``acc = g ? p : A``: ``p`` holds the previous beat's
        # records (one copy per lane, shared by the bins), ``A`` the maximum
        # before that beat, ``g`` one bit per bin and lane, "that beat won
        # in this bin".  A new beat ``e`` compares against both candidates at
        # once, ``g' = in_bin & (first ? e > init : g ? e > p : e > A)``
        # (``e > p`` is one comparator per lane, shared by the bins), and
        # ``A`` loads ``first ? init : p`` only where ``g`` is set.  The
        # compare thus drives one flip-flop per bin and lane; before, a
        # ``lanes * lw``-bit select fed by the compare wrote the accumulators
        # and the pending LUT-RAM in the same cycle, every slice's routed
        # critical path at a41d1b8 (12.3-14.9 ns; 2026-12-03 sweep).  Ties
        # keep the earlier element (strict ``>``), as before.
        # The row's result is complete the cycle after its last beat: the
        # push into the pending FIFO is registered (``r_push``), the only
        # cycle effect (``StageTiming.pend_to_vertical`` 2), and ``space``
        # counts the push in flight as an entry, so the take rule is the
        # same as before.  ``A``, ``p`` and ``g`` need no reset: ``first``
        # (reset to 1) ignores them, and a push follows a last beat, which
        # has written them.
        r_first = Signal(init=1)
        r_p = Signal(gw, reset_less=True)
        r_a = [Signal(gw, reset_less=True, name=f"racc{pw}") for pw in range(P)]
        r_g = [Signal(L, reset_less=True, name=f"rwin{pw}") for pw in range(P)]
        r_beat = Signal()          # the row stage takes a beat this cycle
        push = Signal()            # a row (or skip token) enters the pending FIFO
        m.d.sync += push.eq(0)
        e_keys = [self._rec(t_recs, lane)[:kw] for lane in range(L)]
        e_gt_init = [ek > dt.init_key for ek in e_keys]
        e_gt_p = [ek > self._rec(r_p, lane)[:kw] for lane, ek in enumerate(e_keys)]
        with m.If(r_beat):
            m.d.sync += [r_p.eq(t_recs), r_first.eq(t_last)]
            for pw in range(P):
                wins = []
                for lane in range(L):
                    e_gt_a = e_keys[lane] > self._rec(r_a[pw], lane)[:kw]
                    wins.append(t_wmask[pw] & Mux(r_first, e_gt_init[lane],
                                                  Mux(r_g[pw][lane], e_gt_p[lane], e_gt_a)))
                    # One enable per bin and lane, from flip-flops: the
                    # accumulator only changes when the previous beat won.
                    with m.If(r_first | r_g[pw][lane]):
                        m.d.sync += self._rec(r_a[pw], lane).eq(Mux(r_first, init_rec, self._rec(r_p, lane)))
                m.d.sync += r_g[pw].eq(Cat(*wins))
        r_acc = [self._pick(r_g[pw], r_p, r_a[pw]) for pw in range(P)]

        # The pushed row's fields, registered with the take of its last beat
        # (the tag register holds the next item by the time of the push).
        p_set = Signal(ph_set_layout(P))
        p_last_row = Signal()
        p_last_tile = Signal()
        p_skip = Signal()
        p_slot = Signal(range(self.slots))
        with m.If(t_valid & (t_skip | t_last)):
            with m.If(space):
                m.d.comb += r_take.eq(1)
                m.d.sync += [push.eq(1), p_set.eq(Mux(t_skip, 0, t_hset.as_value())), p_last_row.eq(t_last_row),
                             p_last_tile.eq(t_last_tile), p_skip.eq(t_skip), p_slot.eq(t_slot)]
        with m.Elif(t_valid):
            m.d.comb += r_take.eq(1)
        m.d.comb += r_beat.eq(r_take & ~t_skip)
        # Entries leave in the order they came, so entry k's vector is at k mod 2.
        for pw in range(P):
            m.d.comb += [vec_wp[pw].addr.eq(wptr), vec_wp[pw].data.eq(r_acc[pw]), vec_wp[pw].en.eq(push),
                         vec_rp[pw].addr.eq(rptr)]
        with m.If(push):
            m.d.sync += wptr.eq(~wptr)
        with m.If(v_free):
            m.d.sync += rptr.eq(~rptr)

        def load_head(hset, last_row, last_tile, skip, slot):
            m.d.sync += [
                pend_valid.eq(1), pend_n.eq(hset.n), pend_one.eq(hset.n <= 1), low2.eq(hset.low2),
                pend_rest.eq(hset.rest), pend_last_row.eq(last_row), pend_last_tile.eq(last_tile),
                pend_skip.eq(skip), pend_slot.eq(slot),
            ]
            m.d.comb += low_d.eq(hset.low)

        # The tail is only valid while the head is (it moves up when the head
        # frees), and ``space`` stops a push while both are, so a push goes
        # to the head if it is free or freeing and to the tail otherwise.
        with m.If(head_free):
            with m.If(tl_valid):
                load_head(tl_set, tl_last_row, tl_last_tile, tl_skip, tl_slot)
                m.d.sync += tl_valid.eq(0)
            with m.Elif(push):
                load_head(p_set, p_last_row, p_last_tile, p_skip, p_slot)
        with m.Elif(push):
            m.d.sync += [
                tl_valid.eq(1), tl_set.eq(p_set), tl_last_row.eq(p_last_row),
                tl_last_tile.eq(p_last_tile), tl_skip.eq(p_skip), tl_slot.eq(p_slot),
            ]
        # Entries after this cycle, plus the push this cycle's take starts,
        # fewer than two.  (Head, tail and a push in flight are never all
        # three present: the take waits for ``space``.)
        next_push = t_valid & (t_skip | t_last) & space
        m.d.sync += space.eq(Mux(head_free, ~((tl_valid | push) & next_push), ~(tl_valid | push | next_push)))
        with m.If(v_go | (head_free & (tl_valid | push))):
            for pw, ra in enumerate(v_raddr):
                with m.If(pw_en[pw]):
                    m.d.sync += ra.eq(addr(vbank_d, low_d))

        # ---------------- output stage ------------------------------------
        # O1 and O2 are plain pipeline registers (no stall): O1 holds the
        # whole entry (every pw group) read from the LUT-RAMs (address
        # registered the cycle before: P memories, so nothing else in that
        # cycle), O2 the selected pw group (P:1 mux); O3's logic (key to
        # bits, empty-bin and argmax selects) writes the result into a small
        # queue whose head is the slice's output.  A beat is loaded only while fewer than
        # ``OUT_QUEUE`` beats are loaded and not yet accepted (``occ``), so
        # the queue never overflows and nothing waits on the sink's ready in
        # the same cycle: the sink's ``tready`` only counts ``occ`` down.
        # Before, O1-O3 each passed ready through, and the chain from
        # ``tready`` through the three stages to the load, the bank hand-back
        # and the memory address was the routed critical path (2026-12-03).
        # With the sink always ready a beat is accepted 3 cycles after its
        # load (``occ`` stays at 3 < OUT_QUEUE), one beat per cycle.
        OUT_QUEUE = 4
        obank = Signal()
        oph = Signal(range(max(P, 2)))
        opw = Signal(range(max(P, 2)))
        occ = Signal(range(OUT_QUEUE + 1))
        e_valid = Signal()
        e_entry = [Signal(gw, reset_less=True, name=f"e_entry{pw}") for pw in range(P)]
        e_pw = Signal.like(opw, reset_less=True)
        e_nonempty = Signal(reset_less=True)
        e_last = Signal(reset_less=True)
        g_valid = Signal()
        g_group = Signal(L * lw, reset_less=True)
        g_nonempty = Signal(reset_less=True)
        g_last = Signal(reset_less=True)
        queue = m.submodules.out_queue = SyncFIFO(width=len(self.values) + len(self.args) + 1, depth=OUT_QUEUE)
        m.d.comb += [
            self.out_valid.eq(queue.r_rdy),
            Cat(self.values, self.args, self.out_last).eq(queue.r_data),
            queue.r_en.eq(self.out_ready),
        ]
        cur_last = Mux(obank, info_last[1], info_last[0])
        load = Signal()
        m.d.comb += load.eq(full.bit_select(obank, 1) & (occ != OUT_QUEUE))
        m.d.sync += occ.eq(occ + load - (queue.r_rdy & self.out_ready))
        # ``opw + 1 == pw_count`` and ``oph + 1 == ph_count``, registered from
        # the next counters: the run's bin counts come from the PW / PH
        # registers, whose nets reach every slice, and register -> compare ->
        # next counters -> output-memory read address was a routed critical
        # path (10.9 ns, 6 logic levels, 2026-12-06).  Exact in every cycle
        # but the first after a reset or a PW / PH write, and the output
        # stage loads nothing then (the counts are fixed during a run).
        last_pw = Signal()
        last_ph = Signal()
        last_bin = last_pw & last_ph
        n_bank = Signal()
        n_ph = Signal.like(oph)
        n_pw = Signal.like(opw)
        m.d.comb += [n_bank.eq(obank), n_ph.eq(oph), n_pw.eq(opw)]
        with m.If(load):
            with m.If(last_bin):
                m.d.comb += [n_bank.eq(~obank), n_ph.eq(0), n_pw.eq(0), out_clear.eq(Const(1, 2) << obank)]
            with m.Elif(last_pw):
                m.d.comb += [n_ph.eq(oph + 1), n_pw.eq(0)]
            with m.Else():
                m.d.comb += n_pw.eq(opw + 1)
        m.d.sync += [obank.eq(n_bank), oph.eq(n_ph), opw.eq(n_pw),
                     last_pw.eq(n_pw + 1 == self.pw_count), last_ph.eq(n_ph + 1 == self.ph_count)]
        # The entry for the beat loaded next cycle: its address is
        # registered this cycle and read asynchronously in the next (a write
        # of this cycle is then already in the memory, as with a transparent
        # synchronous port, without its bypass compare and mux).  One
        # address register per pw memory, kept apart by ``pw_en`` as the V
        # stage's selects are: as one register per slice (what synthesis
        # makes of P synchronous ports with one address) it reached every
        # LUT-RAM cell of the slice, a routed critical path of 8b16d19 (10.9
        # ns, 10.0 of it on that net).  A copy of an unused bin holds; that
        # group is never output.
        o_raddr = [Signal(aw, reset_less=True, name=f"o_raddr{pw}") for pw in range(P)]
        for pw, rp in enumerate(rp_o):
            with m.If(pw_en[pw]):
                m.d.sync += o_raddr[pw].eq(addr(n_bank, n_ph))
            m.d.comb += rp.addr.eq(o_raddr[pw])

        # O1: the load reads the bank for the last time for this bin, so the
        # bank and the RoI's slot are released here (``out_clear``,
        # ``slot_done``: the slot's edges are not used past this point).
        # The data registers load every cycle (no enable): the memory's
        # output is the entry at (obank, oph), the loaded beat's if any.
        row_ne = Mux(obank, info_rne[1], info_rne[0]).bit_select(oph, 1)
        col_ne = Mux(obank, info_cne[1], info_cne[0]).bit_select(opw, 1)
        m.d.sync += [e_valid.eq(load), e_pw.eq(opw), e_nonempty.eq(row_ne & col_ne), e_last.eq(cur_last & last_bin),
                     *(e.eq(rp.data) for e, rp in zip(e_entry, rp_o))]
        with m.If(load):
            m.d.comb += self.slot_done.eq(cur_last & last_bin)

        # O2: pw select as a case mux (a variable shifter of the whole entry
        # would be an O(width^2) barrel shifter in netlist form).
        group = select(m, e_entry, e_pw, name="group")
        m.d.sync += [g_valid.eq(e_valid), g_group.eq(group), g_nonempty.eq(e_nonempty), g_last.eq(e_last)]

        # O3: element bits, empty bins and argmax, into the queue.
        values, args = [], []
        for lane in range(L):
            rec = g_group[lane * lw: (lane + 1) * lw]
            key, nz, ix = rec[:kw], rec[kw], rec[kw + 1:]
            values.append(Mux(g_nonempty, key_to_bits(dt, key, nz), 0))
            if self.argmax:
                won = g_nonempty & (key != dt.init_key)
                args.append(Mux(won, ix.as_unsigned(), Const(-1, 32)))
        m.d.comb += [
            queue.w_data.eq(Cat(*values, *(args or [Const(0, len(self.args))]), g_last)),
            queue.w_en.eq(g_valid),
        ]
        return m


class Pooler(wiring.Component):
    """Row, vertical and output stages of the engine.

    A *front* registers each row descriptor (R0) and computes what every
    lane shares (column / row bin masks, flat index, last-beat test); the
    lanes are processed by ``lanes / slice_lanes`` identical slices
    (:class:`_PoolSlice`), each with its own copy of the control.

    Parameters
    ----------
    dtype : DType
    lanes : int
    max_pooled, max_h, max_w : int
    argmax : bool
    slots : int
        Entries of the RoI slot table (``edges`` port).
    slice_lanes : int
        Lanes per slice (a divisor of ``lanes``).  Smaller slices replicate
        the control more often and keep its nets shorter on an FPGA; the
        results and cycle counts do not depend on it.

    Attributes
    ----------
    rows : In(stream.Signature(row_desc_layout))
        Row descriptors, in the order the beats arrive.
    beats : In(stream.Signature(lanes * width))
        Feature data, ``w1 - w0`` beats per non-skip row.
    edges : In(ArrayLayout(edges_layout, slots))
        Slot table; an entry must stay stable from the cycle after it is
        written until its RoI's ``slot_done``.
    ph_count, pw_count : In
        PH and PW of the run.
    out : Out(stream.Signature({data, last}))
        Result beats (format in :mod:`hdl.protocol`).
    slot_done : Out(1)
        Pulse: the last result beat of a RoI left the memory; its slot is free.
    in_stall : Out(1)
        A data row is ready but its beat is not.
    beat_taken : Out(1)
        A beat left the pooler's beat register for the tag stages (the
        engine's read credit is returned here, not at the FIFO pop).
    soft_rst : In(1)
        Soft reset (one cycle or more): the front resets in the same cycle,
        each slice through its own reset register a cycle later (see
        :meth:`elaborate`); the pooler's outputs are masked until the slices
        are out of reset.
    """

    def __init__(self, *, dtype: DType, lanes: int, max_pooled: int, max_h: int, max_w: int,
                 argmax: bool, slots: int, slice_lanes: int = 1):
        if not isinstance(slice_lanes, int) or slice_lanes < 1 or lanes % slice_lanes:
            self._MustUse__silence = True   # a rejected pooler is not an unused one
            raise ValueError(f"slice_lanes must be a positive divisor of lanes={lanes}, not {slice_lanes!r}")
        self.dt = dtype
        self.lanes = lanes
        self.max_pooled = max_pooled
        self.max_h = max_h
        self.max_w = max_w
        self.argmax = argmax
        self.slots = slots
        self.slice_lanes = slice_lanes
        self.iw = idx_width(max_h, max_w) if argmax else 0
        self.out_width = lanes * dtype.width + (lanes * 32 if argmax else 0)
        super().__init__({
            "rows": In(stream.Signature(row_desc_layout(slots, max_h, max_w, max_pooled))),
            "beats": In(stream.Signature(lanes * dtype.width)),
            "edges": In(data.ArrayLayout(edges_layout(max_pooled, max_h, max_w), slots)),
            "ph_count": In(range(max_pooled + 1)),
            "pw_count": In(range(max_pooled + 1)),
            "out": Out(stream.Signature(data.StructLayout({"data": self.out_width, "last": 1}))),
            "slot_done": Out(1),
            "in_stall": Out(1),
            "beat_taken": Out(1),
            "soft_rst": In(1),
        })

    def elaborate(self, platform):
        top = Module()
        m = Module()               # the front, reset by soft_rst
        top.submodules.front = ResetInserter(self.soft_rst)(m)
        dt, P, SL = self.dt, self.max_pooled, self.slice_lanes
        # Reset tree: one soft-reset net reaching the control flip-flops of
        # every slice spans the device (9.8 ns of routing, the critical path
        # of 4952016), so each slice is reset from its own register
        # ``rst_k``, placed with the slice, one cycle after ``soft_rst``.
        # The copies must stay distinct (synthesis merges identical
        # flip-flops back into one): ``rst_k`` holds while its slice's tag
        # stage is busy, which a reset slice never is, so it drops after one
        # or two cycles.  Until slice 0's copy drops, the slices' outputs to
        # the engine are masked (their state is stale or being reset).
        slices, slice_rst = [], []
        for k in range(self.lanes // SL):
            s = _PoolSlice(dtype=dt, lanes=SL, max_pooled=P, iw=self.iw, argmax=self.argmax,
                           slots=self.slots)
            rst_k = Signal(init=1, name=f"slice{k}_rst")
            top.d.sync += rst_k.eq(self.soft_rst | (rst_k & s.t_busy))
            top.submodules[f"slice{k}"] = ResetInserter(rst_k)(s)
            slices.append(s)
            slice_rst.append(rst_k)
        held = slice_rst[0]

        # ---------------- row registers (RA, R0) ---------------------------
        # The row FIFO's data come straight out of a block RAM (5.6 ns clock
        # to out on an ECP5 at speed grade 6, most of a 150 MHz cycle), so
        # they go into flip-flops with no logic in between: RA holds the
        # next row descriptor (its last column ``wlast`` and its first
        # column's and row's bin masks come precomputed by the address
        # generator).  In the cycle after, its slot's column edges are
        # selected from the registered slot, and the row moves into R0 (the
        # current row) when R0 is empty or its last beat / skip token goes to
        # the tag stage that cycle.  The move loads, besides the fields and
        # the column edges, the column after the row's next beat ``tn`` and
        # that beat's flat index ``tidx`` (counters: no ``w0 + count`` adder
        # per beat), and,
        # already registered for that beat, its column-bin mask ``wm``, its
        # last-beat flag ``lb`` and the row's ph bins ``hset`` (mask ``hm``
        # in :func:`ph_set_layout` form): what the slices'
        # tag stages load comes straight from flip-flops, and the wide
        # fan-out to the slices is the only thing in that cycle.  (Selecting
        # the edges and comparing them for ``hm`` here was the routed
        # critical path of bbb0555.)  Each beat taken steps the
        # counters and recomputes ``wm`` / ``lb`` for the next column.  A row
        # is usable the cycle after its move; RA prefetches the next one, so
        # rows follow each other without a bubble.
        rd = self.rows.payload
        elay = edges_layout(P, self.max_h, self.max_w)
        a_valid = Signal()
        a_hm = Signal(P, reset_less=True)
        a_wm0 = Signal(P, reset_less=True)
        a_w0 = Signal(range(self.max_w + 1), reset_less=True)
        a_wlast = Signal(range(self.max_w + 1), reset_less=True)
        a_idx0 = Signal.like(rd.idx0, reset_less=True)
        a_last_row = Signal()
        a_last_tile = Signal()
        a_skip = Signal()
        a_slot = Signal(range(self.slots))
        r0_valid = Signal()
        r0_ws = Signal(elay.members["ws"], reset_less=True)
        r0_we = Signal(elay.members["we"], reset_less=True)
        r0_wlast = Signal(range(self.max_w + 1), reset_less=True)
        r0_last_row = Signal()
        r0_last_tile = Signal()
        r0_skip = Signal()
        r0_slot = Signal(range(self.slots))
        r0_cne = Signal(P, reset_less=True)
        tn = Signal(range(self.max_w + 2), reset_less=True)
        tidx = Signal(bits_for(self.max_h * self.max_w), reset_less=True)
        wm = Signal(P, reset_less=True)
        lb = Signal(reset_less=True)
        hset = Signal(ph_set_layout(P), reset_less=True)
        r0_take = Signal()
        a_load = Signal()
        a_move = Signal()
        m.d.comb += [
            a_move.eq(a_valid & (~r0_valid | r0_take)),
            self.rows.ready.eq(~a_valid | a_move),
            a_load.eq(self.rows.valid & self.rows.ready),
        ]
        m.d.sync += [a_valid.eq(a_load | (a_valid & ~a_move)), r0_valid.eq(a_move | (r0_valid & ~r0_take))]
        with m.If(a_load):
            m.d.sync += [
                a_hm.eq(rd.hm), a_wm0.eq(rd.wm0), a_w0.eq(rd.w0), a_wlast.eq(rd.wlast), a_idx0.eq(rd.idx0),
                a_last_row.eq(rd.last_row), a_last_tile.eq(rd.last_tile), a_skip.eq(rd.skip),
                a_slot.eq(rd.slot),
            ]

        ws_a = select(m, (self.edges[i].ws for i in range(self.slots)), a_slot, name="ws_a")
        we_a = select(m, (self.edges[i].we for i in range(self.slots)), a_slot, name="we_a")
        # Non-empty bins of every slot, registered: a slot's edges are stable
        # from the cycle after its commit until its slot_done, and a slice
        # reads these masks only at a tile's end, several pipeline stages
        # (FIFO, R0, T, pending, V0, V1) after the commit.
        slot_rne = Signal(data.ArrayLayout(P, self.slots), reset_less=True)
        slot_cne = Signal(data.ArrayLayout(P, self.slots), reset_less=True)
        for i in range(self.slots):
            e = self.edges[i]
            m.d.sync += [slot_rne[i].eq(Cat(*(e.hs[p] < e.he[p] for p in range(P)))),
                         slot_cne[i].eq(Cat(*(e.ws[p] < e.we[p] for p in range(P))))]
        cne_a = select(m, (slot_cne[i] for i in range(self.slots)), a_slot, name="cne_a")

        # The next column's bin mask is stepped, not compared: columns go up
        # by one, so bin p holds column ``tn`` iff it held ``tn - 1`` and
        # ``tn`` is not its end, or ``tn`` is its start; ``r0_cne`` keeps
        # empty bins (start >= end) out.  Two equality tests per bin (no
        # carry chain) on the registered next column ``tn`` replace the
        # adder and the two magnitude compares that were the routed critical
        # path of 8b16d19 (15 levels, 10.5 ns).
        x_take = Signal()
        with m.If(a_move):
            m.d.sync += [
                r0_ws.eq(ws_a), r0_we.eq(we_a), r0_cne.eq(cne_a), r0_wlast.eq(a_wlast),
                r0_last_row.eq(a_last_row), r0_last_tile.eq(a_last_tile), r0_skip.eq(a_skip),
                r0_slot.eq(a_slot),
                tn.eq(a_w0 + 1), tidx.eq(a_idx0), wm.eq(a_wm0), lb.eq(a_w0 == a_wlast), hset.eq(ph_set(a_hm, P)),
            ]
        with m.Elif(x_take):
            m.d.sync += [tn.eq(tn + 1), tidx.eq(tidx + 1), lb.eq(tn == r0_wlast),
                         wm.eq(Cat(*(((wm[p] | (tn == r0_ws[p])) & (tn != r0_we[p]) & r0_cne[p])
                                     for p in range(P))))]

        # ---------------- beat register (X) --------------------------------
        # Same reason as R0: the beat FIFO's block-RAM output goes straight
        # into flip-flops, and the key logic and the route out to the slices
        # start from X.  X is a skid buffer (main register + one spare), so
        # the FIFO's read enable is a flip-flop (``~s_valid``) instead of the
        # end of the ready chain through slice 0's tag, row and vertical
        # stages.  A beat reaches the main register 1 cycle after its pop,
        # or when the main register's beat is taken; the spare only lets
        # the FIFO pop one beat early, which changes no tag-stage time (see
        # the cycle model).  ``beat_taken`` (X -> tag stages) is what frees
        # the engine's FIFO credit: FIFO plus X never hold more than the
        # credit window.
        # The data registers of X and of the spare are enabled per slice,
        # each slice's part by that slice's own ``t_ready`` copy (all copies
        # are equal): one enable net of 2 x 128 flip-flops across the
        # device, from slice 0's tag stage, reached its last loads at 9.1-9.9
        # ns in 8b16d19's routed build.
        x_valid = Signal()
        x_data = Signal(self.lanes * dt.width, reset_less=True)
        s_valid = Signal()
        s_data = Signal.like(x_data)
        pop = self.beats.valid & self.beats.ready
        m.d.comb += [self.beats.ready.eq(~s_valid), self.beat_taken.eq(x_take)]
        with m.If(x_take | ~x_valid):
            with m.If(s_valid):
                m.d.sync += s_valid.eq(0)
            with m.Else():
                m.d.sync += x_valid.eq(pop)
        with m.Elif(pop):
            m.d.sync += s_valid.eq(1)
        bw = SL * dt.width
        x_shares = r0_valid & ~r0_skip & x_valid
        for k, s in enumerate(slices):
            part = slice(k * bw, (k + 1) * bw)
            with m.If((x_shares & s.t_ready) | ~x_valid):
                m.d.sync += x_data[part].eq(Mux(s_valid, s_data[part], self.beats.payload[part]))
            with m.Elif(pop):
                m.d.sync += s_data[part].eq(self.beats.payload[part])

        # Slice 0's tag stage decides the pops; every slice loads the same
        # beat in the same cycle (identical control copies).
        # (Not masked by ``held``: the front is reset and empty while it is up.)
        t_ready = slices[0].t_ready
        with m.If(r0_valid & r0_skip):
            with m.If(t_ready):
                m.d.comb += r0_take.eq(1)
        with m.Elif(r0_valid):
            m.d.comb += self.in_stall.eq(~x_valid)
            with m.If(x_valid & t_ready):
                m.d.comb += x_take.eq(1)
                with m.If(lb):
                    m.d.comb += r0_take.eq(1)

        # ``pw < pw_count`` per bin, registered once here (the slices register
        # it again): the compare stays out of the routes to the slices.
        pw_used = Signal(P, reset_less=True)
        m.d.sync += pw_used.eq(Cat(*(self.pw_count > pw for pw in range(P))))
        for k, s in enumerate(slices):
            m.d.comb += [
                s.r0_valid.eq(r0_valid), s.r0_skip.eq(r0_skip), s.r0_last_row.eq(r0_last_row),
                s.r0_last_tile.eq(r0_last_tile), s.r0_slot.eq(r0_slot),
                s.beat_valid.eq(x_valid), s.beat.eq(x_data[k * bw: (k + 1) * bw]),
                s.beat_idx.eq(tidx[: len(s.beat_idx)]), s.last_beat.eq(lb),
                s.w_mask.eq(wm), s.h_set.eq(hset),
                s.slot_rne.eq(slot_rne), s.slot_cne.eq(slot_cne),
                s.ph_count.eq(self.ph_count), s.pw_count.eq(self.pw_count), s.pw_used.eq(pw_used),
                s.out_ready.eq(self.out.ready),
            ]
        values = Cat(*(s.values for s in slices))
        args = Cat(*(s.args for s in slices)) if self.argmax else Cat()
        m.d.comb += [
            self.out.valid.eq(slices[0].out_valid & ~held),
            self.out.payload.last.eq(slices[0].out_last),
            self.out.payload.data.eq(Cat(values, args)),
            self.slot_done.eq(slices[0].slot_done & ~held),
        ]
        return top
