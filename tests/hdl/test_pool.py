"""Pooler (row, vertical and output stages) against the raster-scan model."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hdl.dtypes import DTYPES
from hdl.pool import Pooler, ph_set, ph_set_layout
from tests.hdl.models import pool_bin, random_values, values_to_bits
from tests.hdl.util import simulate

L, P, MH, MW = 4, 7, 12, 12


def exact_edges(c1, c2, pooled, limit):
    extent = max(c2 - c1 + 1, 1)
    s = [min(max((p * extent) // pooled + c1, 0), limit) for p in range(pooled)]
    e = [min(max(-((-(p + 1) * extent) // pooled) + c1, 0), limit) for p in range(pooled)]
    return s, e


def window(s, e):
    ne = [(a, b) for a, b in zip(s, e) if b > a]
    if not ne:
        return None
    return min(a for a, _ in ne), max(b for _, b in ne)


@pytest.mark.parametrize("name,seed,slice_lanes,argmax", [
    ("float16", 0, 1, True), ("int8", 1, 1, True), ("float32", 2, 1, True), ("bfloat16", 3, 1, True),
    ("int16", 4, 1, True),
    # Wider slices (fewer control copies): same results.
    ("int16", 5, 2, True), ("float32", 6, 4, True),
    # Value-only results (the result beat has no argmax words).
    ("int16", 7, 1, False),
])
def test_pooler_random_rois(name, seed, slice_lanes, argmax):
    dt = DTYPES[name]
    rng = np.random.default_rng(seed)
    H, W = int(rng.integers(3, MH + 1)), int(rng.integers(3, MW + 1))
    PH, PW = int(rng.choice([2, 3, 7])), int(rng.choice([2, 3, 7]))
    tiles = 2
    planes = random_values(dt, rng, (tiles, L, H, W))
    pbits = values_to_bits(dt, planes)
    rois = []
    for k in range(4):
        x1, y1 = int(rng.integers(-3, W)), int(rng.integers(-3, H))
        x2, y2 = x1 + int(rng.integers(-2, W)), y1 + int(rng.integers(-2, H))
        if k == 3:
            x1, x2 = W + 2, W + 5          # fully outside: every bin empty
        hs, he = exact_edges(y1, y2, PH, H)
        ws, we = exact_edges(x1, x2, PW, W)
        rois.append((hs, he, ws, we))

    dut = Pooler(dtype=dt, lanes=L, max_pooled=P, max_h=MH, max_w=MW, argmax=argmax, slots=4,
                 slice_lanes=slice_lanes)
    rows, beats, expect = [], [], []
    for k, (hs, he, ws, we) in enumerate(rois):
        hw, ww = window(hs, he), window(ws, we)
        for t in range(tiles):
            last_tile = t == tiles - 1
            if hw is None or ww is None:
                rows.append(dict(slot=k, hm=0, wm0=0, w0=0, wlast=0, idx0=0, last_row=1, last_tile=last_tile,
                                 skip=1))
            else:
                # The producer's bin masks (the engine's address generator computes them).
                wm0 = sum(1 << pw for pw in range(PW) if ws[pw] <= ww[0] < we[pw])
                for h in range(*hw):
                    hm = sum(1 << ph for ph in range(PH) if hs[ph] <= h < he[ph])
                    rows.append(dict(slot=k, hm=hm, wm0=wm0, w0=ww[0], wlast=ww[1] - 1, idx0=h * W + ww[0],
                                     last_row=h == hw[1] - 1, last_tile=last_tile, skip=0))
                    for w in range(*ww):
                        beats.append(sum(int(pbits[t, lane, h, w]) << (lane * dt.width) for lane in range(L)))
            for ph in range(PH):
                for pw in range(PW):
                    vals, args = [], []
                    for lane in range(L):
                        v, a = pool_bin(dt, planes[t, lane], hs[ph], he[ph], ws[pw], we[pw])
                        vals.append(v)
                        args.append(a)
                    expect.append((vals, args, last_tile and ph == PH - 1 and pw == PW - 1))

    got = []

    async def tb(ctx):
        ctx.set(dut.ph_count, PH)
        ctx.set(dut.pw_count, PW)
        for k, (hs, he, ws, we) in enumerate(rois):
            for p in range(PH):
                ctx.set(dut.edges[k].hs[p], hs[p])
                ctx.set(dut.edges[k].he[p], he[p])
            for p in range(PW):
                ctx.set(dut.edges[k].ws[p], ws[p])
                ctx.set(dut.edges[k].we[p], we[p])
        ri = bi = 0
        cycles = 0
        while len(got) < len(expect):
            cycles += 1
            assert cycles < 20000, (ri, len(rows), bi, len(beats), len(got), len(expect))
            rv = ri < len(rows) and rng.random() < 0.9
            bv = bi < len(beats) and rng.random() < 0.8
            ctx.set(dut.rows.valid, rv)
            if rv:
                for f, v in rows[ri].items():
                    ctx.set(getattr(dut.rows.payload, f), int(v))
            ctx.set(dut.beats.valid, bv)
            if bv:
                ctx.set(dut.beats.payload, beats[bi])
            ctx.set(dut.out.ready, rng.random() < 0.85)
            _, _, rr, br, ov, ordy, od, ol = await ctx.tick().sample(
                dut.rows.ready, dut.beats.ready, dut.out.valid, dut.out.ready,
                dut.out.payload.data, dut.out.payload.last)
            ri += bool(rv and rr)
            bi += bool(bv and br)
            if ov and ordy:
                vals = [(od >> (lane * dt.width)) & dt.mask for lane in range(L)]
                args = None
                if argmax:
                    args = []
                    for lane in range(L):
                        a = (od >> (L * dt.width + 32 * lane)) & 0xFFFFFFFF
                        args.append(a - (1 << 32) if a >> 31 else a)
                got.append((vals, args, bool(ol)))
        assert bi == len(beats) and ri == len(rows)

    simulate(dut, tb)
    assert len(dut.out.payload.data) == L * dt.width + (32 * L if argmax else 0)
    for i, (g, e) in enumerate(zip(got, expect)):
        if not argmax:
            e = (e[0], None, e[2])
        assert g == e, f"beat {i}: got {g}, expected {e}"


@pytest.mark.parametrize("bad", [0, 3, 8, 2.0])
def test_pooler_rejects_bad_slice_lanes(bad):
    with pytest.raises(ValueError, match="slice_lanes must be a positive divisor of lanes=4"):
        Pooler(dtype=DTYPES["int16"], lanes=L, max_pooled=P, max_h=MH, max_w=MW, argmax=True, slots=4,
               slice_lanes=bad)


@pytest.mark.parametrize("pooled", [1, 2, 7])
def test_ph_set_every_mask(pooled):
    """The vertical stage's walk of a row's ph bins: lowest, second lowest, the rest and the count."""
    m = Module()
    mask = Signal(pooled)
    out = Signal(ph_set_layout(pooled))
    m.d.comb += out.eq(ph_set(mask, pooled))
    sim = Simulator(m)

    async def tb(ctx):
        for x in range(1 << pooled):
            ctx.set(mask, x)
            bits = [i for i in range(pooled) if x >> i & 1]
            got = (ctx.get(out.low), ctx.get(out.low2), ctx.get(out.rest), ctx.get(out.n))
            rest = sum(1 << i for i in bits[2:])
            assert got == ((bits + [0, 0])[0], (bits[1:] + [0])[0], rest, len(bits)), (x, got)

    sim.add_testbench(tb)
    sim.run()
