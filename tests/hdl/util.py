"""Shared helpers for the Amaranth testbenches (async ``ctx`` style)."""

from __future__ import annotations

from amaranth.sim import Simulator

from sim.pysim import wait_high

__all__ = ["simulate", "stream_put", "stream_get"]


def simulate(dut, *testbenches, deadline_s=None, vcd=None):
    """Run ``testbenches`` (async functions of ``ctx``) on ``dut`` at 100 MHz."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    for tb in testbenches:
        sim.add_testbench(tb)
    if vcd:
        with sim.write_vcd(vcd):
            sim.run()
    elif deadline_s is not None:
        sim.run_until(deadline_s)
    else:
        sim.run()


async def stream_put(ctx, stream, payload, *, timeout=10_000):
    """Drive one beat on a ``lib.stream`` interface (valid before ready)."""
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await wait_high(ctx, stream.ready, timeout=timeout, what="stream_put")
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, timeout=10_000):
    """Accept one beat from a ``lib.stream`` interface and return its payload."""
    ctx.set(stream.ready, 1)
    payload, = await wait_high(ctx, stream.valid, stream.payload, timeout=timeout, what="stream_get")
    ctx.set(stream.ready, 0)
    return payload
