"""BinEdgeGen against the integer formula (exact bin mode)."""

import random

from hdl.bin_edges import BinEdgeGen
from tests.hdl.util import simulate


def model(c1, c2, pooled, limit):
    extent = max(c2 - c1 + 1, 1)
    out = []
    for p in range(pooled):
        s = (p * extent) // pooled + c1
        e = -((-(p + 1) * extent) // pooled) + c1
        out.append((min(max(s, 0), limit), min(max(e, 0), limit)))
    return out


def cases():
    rng = random.Random(1)
    fixed = [
        (0, 0, 7, 12), (3, 3, 1, 12), (5, 2, 3, 12), (-4, 20, 7, 12), (-32768, 32767, 7, 64),
        (32767, -32768, 7, 64), (0, 65, 7, 64), (10, 11, 7, 12), (0, 11, 3, 12), (-3, -1, 2, 12),
        (60, 70, 7, 64), (0, 6, 7, 7), (1, 13, 6, 12),
    ]
    out = list(fixed)
    for _ in range(60):
        limit = rng.choice([1, 5, 12, 38, 64])
        pooled = rng.randint(1, 7)
        if rng.random() < 0.2:
            c1, c2 = rng.randint(-32768, 32767), rng.randint(-32768, 32767)
        else:
            c1 = rng.randint(-10, limit + 10)
            c2 = c1 + rng.randint(-3, limit + 5)
        out.append((c1, c2, pooled, limit))
    return out


def test_bin_edges_match_formula():
    dut = BinEdgeGen(max_pooled=7, max_size=64)
    todo = cases()

    async def tb(ctx):
        for c1, c2, pooled, limit in todo:
            ctx.set(dut.c1, c1)
            ctx.set(dut.c2, c2)
            ctx.set(dut.pooled, pooled)
            ctx.set(dut.limit, limit)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            got = []
            cycles = 0
            while True:
                _, _, valid, idx, s, e, last = await ctx.tick().sample(
                    dut.valid, dut.index, dut.edge_start, dut.edge_end, dut.last)
                cycles += 1
                assert cycles < 40
                if valid:
                    assert idx == len(got)
                    got.append((s, e))
                    if last:
                        break
            assert got == model(c1, c2, pooled, limit), (c1, c2, pooled, limit)
            # 1 set-up + 17 division + pooled walk cycles + 2 output pipeline stages (origin add, clip).
            assert cycles == 18 + pooled + 2

    simulate(dut, tb)
