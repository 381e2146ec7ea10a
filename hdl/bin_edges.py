"""Exact-mode bin-edge generator, without a divider.

For one dimension of one RoI (rows or columns) it produces, for
``p = 0 .. pooled-1``::

    extent = max(c2 - c1 + 1, 1)
    start[p] = clip(floor(p * extent / pooled) + c1, 0, limit)
    end[p]   = clip(ceil((p + 1) * extent / pooled) + c1, 0, limit)

Hardware: ``p * extent / pooled`` is walked as a quotient/remainder pair.
Stepping the accumulator by ``extent`` and subtracting ``pooled`` until the
remainder is below ``pooled`` would cost ``extent / pooled`` cycles per bin,
unbounded for the int16 coordinate range (a 30000-cell box would take
thousands of cycles), so ``extent = Q * pooled + R`` is first split by a
bit-serial restoring division (one shift-subtract per numerator bit, 17
cycles, one subtractor), after which every bin is one cycle:
``q += Q + c, r += R - c * pooled`` with ``c = (r + R >= pooled)`` (``c``
and ``r + R`` kept one step ahead, so the wide add takes ``c`` from a
flip-flop).
``end`` is ``q_next + (r_next != 0)``.  Total ``1 + 17 + pooled + 2`` cycles
(the origin add and the clip are two pipeline stages after the walk),
overlapped with the previous RoI's streaming, so it never costs throughput.
"""

from __future__ import annotations

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

__all__ = ["BinEdgeGen", "COORD_BITS", "EXTENT_BITS"]

COORD_BITS = 16                  # descriptor coordinates are int16
EXTENT_BITS = COORD_BITS + 1     # x2 - x1 + 1 spans up to 65536


class BinEdgeGen(wiring.Component):
    """Generate the clipped bin edges of one dimension of one RoI.

    Parameters
    ----------
    max_pooled : int
        Largest ``pooled`` value (PH or PW) the generator must handle.
    max_size : int
        Largest ``limit`` (H or W).

    Attributes
    ----------
    start : In(1)
        One-cycle pulse; ``c1``, ``c2``, ``pooled`` and ``limit`` are sampled
        with it.  Ignored while ``busy``.
    c1, c2 : In(signed(16))
        Rounded RoI coordinates (``x1r, x2r`` or ``y1r, y2r``).
    pooled : In(range(max_pooled + 1))
        Number of bins, >= 1.
    limit : In(range(max_size + 1))
        Clip bound (W or H).
    busy : Out(1)
    valid : Out(1)
        One cycle per bin, ``index`` = 0, 1, ... ``pooled - 1`` in order.
    index, edge_start, edge_end : Out
        The bin and its clipped ``[start, end)``.
    last : Out(1)
        With ``valid`` on the last bin.
    """

    def __init__(self, *, max_pooled: int, max_size: int):
        if not isinstance(max_pooled, int) or not isinstance(max_size, int):
            raise TypeError("max_pooled and max_size must be int")
        if max_pooled < 1 or max_size < 1:
            raise ValueError("max_pooled and max_size must be >= 1")
        self.max_pooled = max_pooled
        self.max_size = max_size
        super().__init__({
            "start": In(1),
            "c1": In(signed(COORD_BITS)),
            "c2": In(signed(COORD_BITS)),
            "pooled": In(range(max_pooled + 1)),
            "limit": In(range(max_size + 1)),
            "busy": Out(1),
            "valid": Out(1),
            "last": Out(1),
            "index": Out(range(max_pooled)),
            "edge_start": Out(range(max_size + 1)),
            "edge_end": Out(range(max_size + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        pw = bits_for(self.max_pooled)
        num = Signal(EXTENT_BITS)            # dividend, shifted out MSB first
        quo = Signal(EXTENT_BITS)            # Q
        rem = Signal(pw + 1)                 # division remainder -> R
        count = Signal(range(EXTENT_BITS + 1))
        pooled = Signal.like(self.pooled)
        limit = Signal.like(self.limit)
        origin = Signal(signed(COORD_BITS))
        q = Signal(EXTENT_BITS + 1)          # floor(p * extent / pooled)
        t = Signal(pw + 2)                   # (p * extent) mod pooled, plus R
        c = Signal()                         # t >= pooled: the carry of this bin's step
        rm = Signal(pw + 2)                  # R - pooled (mod 2 ** (pw + 2))
        m.d.sync += rm.eq(rem - pooled)
        p = Signal(range(self.max_pooled + 1))

        def clip(v):
            # v: signed offset + origin; clip to [0, limit] (hardware: two compares).
            return Mux(v < 0, 0, Mux(v > limit, limit, v))

        e1_valid, e1_last, e1_nz = Signal(), Signal(), Signal()
        e1_index = Signal(range(self.max_pooled))
        e1_soff = Signal(EXTENT_BITS + 1)
        e1_eoff = Signal(EXTENT_BITS + 1)
        e2_valid, e2_last = Signal(), Signal()
        e2_index = Signal(range(self.max_pooled))
        e2_s = Signal(signed(EXTENT_BITS + 3))
        e2_e = Signal(signed(EXTENT_BITS + 3))
        m.d.sync += e1_valid.eq(0)
        with m.FSM(name="edge_fsm"):
            with m.State("IDLE"):
                with m.If(self.start):
                    # max(c2 - c1 + 1, 1): the compare runs beside the
                    # subtract (``c2 < c1``) instead of testing its result,
                    # one carry chain deep instead of two in series (the
                    # chain was the critical path of small builds: 21 logic
                    # levels, 9.5 ns).
                    diff = Signal(EXTENT_BITS)
                    m.d.comb += diff.eq(self.c2 - self.c1 + 1)
                    m.d.sync += [
                        num.eq(Mux(self.c2 < self.c1, 1, diff)),
                        quo.eq(0), rem.eq(0), count.eq(EXTENT_BITS),
                        pooled.eq(self.pooled), limit.eq(self.limit), origin.eq(self.c1),
                    ]
                    m.next = "DIVIDE"
            with m.State("DIVIDE"):
                m.d.comb += self.busy.eq(1)
                # One restoring shift-subtract step per cycle.
                trial = Signal(pw + 2)
                m.d.comb += trial.eq((rem << 1) | num[-1])
                fits = trial >= pooled
                m.d.sync += [
                    num.eq(num << 1),
                    rem.eq(Mux(fits, trial - pooled, trial)),
                    quo.eq((quo << 1) | fits),
                    count.eq(count - 1),
                ]
                with m.If(count == 1):
                    # r_0 = 0: t_0 = R (the remainder this step leaves), c_0 = 0 (R < pooled).
                    m.d.sync += [q.eq(0), t.eq(Mux(fits, trial - pooled, trial)), c.eq(0), p.eq(0)]
                    m.next = "WALK"
            with m.State("WALK"):
                m.d.comb += self.busy.eq(1)
                # The carry of each step is registered a step ahead: ``t =
                # r + R`` and ``c = t >= pooled`` are kept for the current
                # bin, so the wide add ``q + Q + c`` takes ``c`` from a
                # flip-flop (the carry chain's carry-in) and the compare
                # runs on the narrow remainder only.  Before, ``r + R``,
                # the compare and the 18-bit add were one path (29 logic
                # levels, 11.6-13.0 ns; 2026-12-03 sweep).  ``t`` steps by
                # ``R`` or ``R - pooled`` (registered, only used once
                # ``c`` can be 1, from the second bin on).
                q_next = Signal(EXTENT_BITS + 1)
                r_next = Signal(pw + 2)
                t_next = Signal(pw + 2)
                m.d.comb += [
                    q_next.eq(q + quo + c),
                    r_next.eq(Mux(c, t - pooled, t)),
                    t_next.eq(t + Mux(c, rm, rem)),
                ]
                # Registered here; the origin add and the clip follow in two
                # pipeline stages (E1, E2) so no cycle chains more than one
                # wide add with a compare.
                m.d.sync += [
                    q.eq(q_next), t.eq(t_next), c.eq(t_next >= pooled), p.eq(p + 1),
                    e1_valid.eq(1), e1_index.eq(p), e1_last.eq(p + 1 == pooled),
                    e1_soff.eq(q), e1_eoff.eq(q_next), e1_nz.eq(r_next != 0),
                ]
                with m.If(p + 1 == pooled):
                    m.next = "IDLE"
        # E1: absolute edges (offset + origin).
        m.d.sync += [
            e2_valid.eq(e1_valid), e2_index.eq(e1_index), e2_last.eq(e1_last),
            e2_s.eq(e1_soff + origin), e2_e.eq(e1_eoff + e1_nz + origin),
        ]
        # E2: clip to [0, limit].
        m.d.sync += [
            self.valid.eq(e2_valid), self.index.eq(e2_index), self.last.eq(e2_last),
            self.edge_start.eq(clip(e2_s)), self.edge_end.eq(clip(e2_e)),
        ]
        return m
