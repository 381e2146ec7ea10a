"""Whole-engine tests: random cases against the golden model, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

import golden
from hdl import protocol
from hdl.engine import RoIPoolEngine
from tests.hdl.harness import Harness, Traffic, decode, pack_features
from tests.hdl.models import random_values, values_to_bits
from tests.hdl.util import simulate

MAXS = 12
BASE = 0x1000_0000 - 0x140     # not 4 KiB aligned: bursts must split at the boundary


def make_engine(dtype, lanes, **kw):
    args = dict(lanes=lanes, dtype=dtype, max_n=2, max_c=2 * lanes, max_h=MAXS, max_w=MAXS,
                max_pooled=7, argmax=True, fifo_depth=32)
    args.update(kw)
    return RoIPoolEngine(**args)


def random_problem(rng, dt, lanes, bin_mode):
    n = int(rng.integers(1, 3))
    c = int(rng.integers(1, 2 * lanes + 1))
    h, w = int(rng.integers(2, MAXS + 1)), int(rng.integers(2, MAXS + 1))
    ph, pw = int(rng.choice([2, 3, 7])), int(rng.choice([2, 3, 7]))
    k = int(rng.integers(3, 7))
    feats = random_values(dt, rng, (n, c, h, w))
    scale = 1.0 if bin_mode == "exact" else float(rng.choice([0.5, 0.25, 1.0]))
    rois = []
    for i in range(k):
        b = int(rng.integers(0, n))
        kind = i % 4
        if kind == 0:        # ordinary, possibly partly outside
            x1, y1 = rng.uniform(-2, w) / scale, rng.uniform(-2, h) / scale
            x2, y2 = x1 + rng.uniform(0, w) / scale, y1 + rng.uniform(0, h) / scale
        elif kind == 1:      # one pixel
            x1 = x2 = float(rng.integers(0, w)) / scale
            y1 = y2 = float(rng.integers(0, h)) / scale
        elif kind == 2:      # malformed (x2 < x1) or far outside
            x1, y1 = rng.uniform(0, w) / scale, rng.uniform(0, h) / scale
            x2, y2 = x1 - 3 / scale, y1 + rng.uniform(-3, 3) / scale
            if rng.random() < 0.5:
                x1, x2 = (w + 3) / scale, (w + 6) / scale
        else:                # whole map
            x1, y1, x2, y2 = -1.0, -1.0, (w + 1) / scale, (h + 1) / scale
        if bin_mode == "exact":
            x1, y1, x2, y2 = (float(np.round(v)) for v in (x1, y1, x2, y2))
        rois.append([b, x1, y1, x2, y2])
    return feats, np.array(rois, dtype=np.float64), (ph, pw), scale


def frames_for(rois, out_size, scale, h, w, bin_mode, bad_batch_rows, n):
    gmode = "exact" if bin_mode == "exact" else "float32"
    good = np.array(rois, dtype=np.float64)
    good[:, 0] = np.minimum(good[:, 0], n - 1)   # golden validates batch indices
    edges = golden.bin_edges(good, out_size, scale, h, w, bin_mode=gmode)
    frames = []
    for i, r in enumerate(rois):
        b = n + 5 if i in bad_batch_rows else int(r[0])
        if bin_mode == "exact":
            x1, y1, x2, y2 = (int(v) for v in edges.coords[i])
            frames.append(protocol.exact_descriptor(b, x1, y1, x2, y2))
        else:
            frames.append(protocol.edges_descriptor(b, edges.hstart[i], edges.hend[i],
                                                    edges.wstart[i], edges.wend[i]))
    return frames, gmode


class Case:
    """A random problem, its descriptor frames and the expected result beats."""

    def __init__(self, dut, bin_mode, seed, *, bad_batch_rows=(), bad_frame_rows=(), problem=None):
        rng = np.random.default_rng(seed)
        dt = dut.dt
        lanes = dut.lanes
        feats, rois, (ph, pw), scale = problem or random_problem(rng, dt, lanes, bin_mode)
        n, c, h, w = feats.shape
        frames, gmode = frames_for(rois, (ph, pw), scale, h, w, bin_mode, bad_batch_rows, n)
        for i in bad_frame_rows:
            frames[i] = frames[i][:-1] if i % 2 == 0 else frames[i] + [0xDEAD]
        clamped = np.where(np.arange(5) == 0, np.minimum(rois, n - 1), rois)
        out, arg = golden.roi_pool(feats, clamped, (ph, pw), scale, bin_mode=gmode)
        exp_bits = values_to_bits(dt, out.reshape(-1)).reshape(out.shape)
        for i in list(bad_batch_rows) + list(bad_frame_rows):
            exp_bits[i] = 0
            arg[i] = -1
        self.__dict__.update(dut=dut, feats=feats, rois=rois, ph=ph, pw=pw, scale=scale, gmode=gmode,
                             frames=frames, exp_bits=exp_bits, exp_arg=arg, n=n, c=c, h=h, w=w,
                             k=len(rois), cb=-(-c // lanes), mem=pack_features(dut, feats),
                             edges=golden.bin_edges(clamped, (ph, pw), scale, h, w, bin_mode=gmode),
                             mode=protocol.BIN_MODE_EXACT if bin_mode == "exact" else protocol.BIN_MODE_EDGES)
        self.nbeats = self.k * self.cb * ph * pw

    async def configure(self, ctx, hn):
        await hn.configure(ctx, n=self.n, c=self.c, h=self.h, w=self.w, ph=self.ph, pw=self.pw,
                           bin_mode=self.mode, num_rois=self.k)

    def check(self, r):
        dut = self.dut
        vals, args, lasts = decode(dut, r.beats, self.k, self.c, self.ph, self.pw)
        assert len(r.beats) == self.nbeats
        for i in range(self.k):
            np.testing.assert_array_equal(vals[i], self.exp_bits[i], err_msg=f"values of RoI {i} {self.rois[i]}")
            np.testing.assert_array_equal(args[i], self.exp_arg[i], err_msg=f"argmax of RoI {i} {self.rois[i]}")
        per = self.cb * self.ph * self.pw
        assert lasts == [(j % per) == per - 1 for j in range(self.nbeats)]
        assert r.counters["ROIS_DONE"] == self.k and r.counters["BEATS_WRITTEN"] == self.nbeats
        assert r.status & 0b011 == 0b010, f"STATUS {r.status:#x}"          # done, not busy
        assert r.counters["BEATS_READ"] == sum(n for _, n in r.ars)

    def bound(self):
        """sum over RoIs of max(ceil(A*C/L), ceil(PH*PW*C/L)), A = clipped area."""
        L = self.dut.lanes
        area = self.edges.clipped_area
        return int(sum(max(-(-int(a) * self.c // L), -(-self.ph * self.pw * self.c // L)) for a in area))


async def run_problem(ctx, hn, case):
    """Configure, start, stream every frame of ``case`` and read the counters at the end."""
    await case.configure(ctx, hn)
    await hn.start(ctx)
    r = await hn.stream(ctx, case.frames, case.nbeats)
    for _ in range(5):     # let the last counter updates land before reading them
        await ctx.tick()
    await hn.read_counters(ctx, r)
    return r


def run_case(dtype, lanes, bin_mode, seed, *, traffic=None, bad_batch_rows=(), bad_frame_rows=(),
             engine=None, problem=None):
    dut = engine or make_engine(dtype, lanes)
    case = Case(dut, bin_mode, seed, bad_batch_rows=bad_batch_rows, bad_frame_rows=bad_frame_rows,
                problem=problem)
    hn = Harness(dut, case.mem, BASE, seed=seed, traffic=traffic)
    res = {}

    async def tb(ctx):
        res["r"] = await run_problem(ctx, hn, case)

    simulate(dut, tb)
    case.check(res["r"])
    case.result = res["r"]
    return case


DTYPES = ["int8", "int16", "float16", "bfloat16", "float32"]


@pytest.mark.parametrize("bin_mode", ["exact", "edges"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_engine_matches_golden(dtype, bin_mode):
    seed = DTYPES.index(dtype) * 10 + (bin_mode == "edges")
    case = run_case(dtype, 4, bin_mode, seed)
    assert case.result.err == 0


@pytest.mark.parametrize("lanes,dtype,seed", [(1, "float32", 7), (8, "int8", 8), (2, "bfloat16", 9)])
def test_engine_other_lane_counts(lanes, dtype, seed):
    run_case(dtype, lanes, "exact", seed)


ERRBIT = {k: 1 << v for k, v in protocol.ERR.items()}


def test_bad_batch_and_framing_emit_zeros():
    case = run_case("float16", 4, "exact", 21, bad_batch_rows=(1,), bad_frame_rows=(2, 3))
    assert case.result.err == ERRBIT["BATCH"] | ERRBIT["FRAMING"]
    assert case.result.status & 0b100


def test_edges_mode_bad_frame_and_batch():
    case = run_case("int16", 4, "edges", 22, bad_batch_rows=(0,), bad_frame_rows=(1,))
    assert case.result.err == ERRBIT["BATCH"] | ERRBIT["FRAMING"]


def test_read_error_flagged():
    case = run_case("int8", 4, "exact", 23, traffic=Traffic(rresp_error_at=2))
    assert case.result.err == ERRBIT["AXI_READ"]


def test_size_error_then_recovery_and_reset_mid_roi():
    """PH=0 / oversize starts: error + done, no hang.  Soft reset mid-RoI, then a clean run."""
    dut = make_engine("bfloat16", 4)
    first = Case(dut, "exact", 31)
    second = Case(dut, "edges", 32)
    assert first.mem == first.mem and len(first.mem) > 0
    hn1 = Harness(dut, first.mem, BASE, seed=1, traffic=Traffic(latency=(10, 30)))
    hn2 = Harness(dut, second.mem, BASE, seed=2)
    res = {}

    async def tb(ctx):
        from tests.hdl.harness import R, axil_read, axil_write
        for bad in (dict(ph=0), dict(w=MAXS + 1), dict(n=3)):
            args = dict(n=first.n, c=first.c, h=first.h, w=first.w, ph=first.ph, pw=first.pw,
                        bin_mode=first.mode, num_rois=first.k)
            args.update(bad)
            await hn1.configure(ctx, **args)
            await hn1.start(ctx)
            for _ in range(3):
                await ctx.tick()
            st = await axil_read(ctx, dut, R["STATUS"])
            assert st == 0b110, f"{bad}: STATUS {st:#x}"
            assert await axil_read(ctx, dut, R["ERR_FLAGS"]) == ERRBIT["SIZE"]
            await axil_write(ctx, dut, R["ERR_FLAGS"], 0xF)
            assert await axil_read(ctx, dut, R["ERR_FLAGS"]) == 0
        # Register identity.
        assert await axil_read(ctx, dut, R["ID"]) == protocol.MAGIC
        cfg = await axil_read(ctx, dut, R["CONFIG"])
        assert cfg & 0xFF == 4 and (cfg >> 8) & 0xF == dut.dt.code and (cfg >> 16) & 0xFF == 7
        # Start the first problem, abandon it mid-RoI with reads outstanding.
        await first.configure(ctx, hn1)
        await hn1.start(ctx)
        r = await hn1.stream(ctx, first.frames, first.nbeats, stop_after_beats=first.ph * first.pw + 1)
        assert len(r.beats) == first.ph * first.pw + 1
        await axil_write(ctx, dut, R["CTRL"], 2)
        await hn1.drain_reads(ctx, 300)
        assert await axil_read(ctx, dut, R["STATUS"]) & 1 == 0
        # A clean second run on another map.
        hn2.base = BASE
        res["r"] = await run_problem(ctx, hn2, second)

    simulate(dut, tb)
    second.check(res["r"])
    assert res["r"].err == 0


def _cycle_problem(rng, dt, *, c, h, w, p, k):
    feats = random_values(dt, rng, (1, c, h, w), specials=False)
    rois = []
    for i in range(k):
        x1, y1 = int(rng.integers(0, w - 2)), int(rng.integers(0, h - 2))
        rois.append([0, x1, y1, int(rng.integers(x1, w)), int(rng.integers(y1, h))])
    return feats, np.array(rois, dtype=np.float64), (p, p), 1.0


@pytest.mark.parametrize("p,label", [(7, "output-bound"), (2, "read-bound")])
def test_cycles_against_bound(p, label):
    """Back-to-back RoIs, no backpressure, fixed 20-cycle read latency."""
    dut = make_engine("int16", 4, fifo_depth=64, max_h=16, max_w=16, max_c=16)
    rng = np.random.default_rng(40 + p)
    problem = _cycle_problem(rng, dut.dt, c=16, h=16, w=16, p=p, k=8)
    traffic = Traffic(roi_valid=1.0, out_ready=1.0, arready=1.0, rvalid=1.0, latency=(20, 20))
    case = run_case("int16", 4, "exact", 40 + p, engine=dut, problem=problem, traffic=traffic)
    bound = case.bound()
    ratio = case.result.cycles / bound
    print(f"\n[{label}] engine cycles {case.result.cycles}, bound {bound}, ratio {ratio:.3f}, "
          f"in-stall {case.result.counters['IN_STALL_CYCLES']}, busy {case.result.counters['BUSY_CYCLES']}")
    assert ratio <= 1.25
