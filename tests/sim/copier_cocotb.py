"""cocotb tests of the stand-in :mod:`tests.sim.copier` design.

Not collected by pytest (no ``test_`` prefix): :func:`sim.cocotb_runner.run_cocotb`
runs this module inside the simulator.  Inputs come through
``$COCOTB_TEST_ARGS`` (see :func:`sim.cocotb_runner.test_args`):

``npz``
    path of an ``.npz`` with ``memory`` (uint8), ``base``, ``length`` (beats),
    ``desc`` (uint32 descriptor words) and ``desc_last`` (bool).
``pause``
    per-channel probability of a pause cycle: ``src`` (descriptor idle),
    ``sink`` (result back-pressure), ``ar`` (arready low), ``r`` (rvalid gap).
``seed``
    seed of the pause patterns.
``corrupt``
    flip one expected beat, so that the comparison must fail.
``report``
    where to write a JSON summary (cycles, beats) for the pytest side.
"""

from __future__ import annotations

import json
import logging
import random
import warnings

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge, Timer
from cocotb.simtime import get_sim_time
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiRamRead, AxiReadBus, AxiStreamBus,
                           AxiStreamFrame, AxiStreamSink, AxiStreamSource)

from sim.cocotb_runner import quiet, test_args
from tests.sim.copier import ID_VALUE, REG, STATUS_DONE, STATUS_ERR


# cocotbext-axi 0.1.28 uses Event.data, which cocotb 2 deprecates: one warning per transfer.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.")


def _pauses(p: float, rng: random.Random):
    """Endless pause pattern: True (pause) with probability ``p`` per cycle."""
    while True:
        yield rng.random() < p


class Bench:
    """cocotbext-axi models around the copier."""

    @classmethod
    async def create(cls, dut, mem_size: int, pause: dict, seed: int) -> "Bench":
        cls.drive_idle(dut)
        await Timer(1, "ns")       # let the idle values land before the first clock edge
        return cls(dut, mem_size, pause, seed)

    @staticmethod
    def drive_idle(dut) -> None:
        # Drive every handshake input before the first clock edge: Icarus
        # starts undriven inputs at Z (Verilator at 0), and cocotbext-axi's
        # channel sinks sample their own ready at that edge ("Cannot convert
        # Logic('Z') to bool").
        dut.rst.value = 1
        for name in ("m_axi_arready", "m_axi_rvalid", "s_axis_roi_tvalid", "m_axis_out_tready",
                     "s_axil_awvalid", "s_axil_wvalid", "s_axil_bready", "s_axil_arvalid",
                     "s_axil_rready"):
            getattr(dut, name).value = 0

    def __init__(self, dut, mem_size: int, pause: dict, seed: int):
        self.dut = dut
        # The C++ (GPI) clock: much faster than the default Python coroutine clock.
        Clock(dut.clk, 10, unit="ns", impl="gpi").start()
        self.ram = AxiRamRead(AxiReadBus.from_prefix(dut, "m_axi"), dut.clk, dut.rst, size=mem_size)
        # byte_lanes=1: no tkeep, one integer per beat whatever the width.
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis_roi"), dut.clk, dut.rst,
                                   byte_lanes=1)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis_out"), dut.clk, dut.rst,
                                  byte_lanes=1)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        # cocotbext-axi logs every transfer at INFO: far too slow and noisy.
        quiet(self.ram, self.src, self.sink, self.axil, level=logging.WARNING)
        rng = random.Random(seed)
        if pause.get("src"):
            self.src.set_pause_generator(_pauses(pause["src"], rng))
        if pause.get("sink"):
            self.sink.set_pause_generator(_pauses(pause["sink"], rng))
        if pause.get("ar"):
            self.ram.ar_channel.set_pause_generator(_pauses(pause["ar"], rng))
        if pause.get("r"):
            self.ram.r_channel.set_pause_generator(_pauses(pause["r"], rng))

    async def reset(self):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 5)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)

    async def rd(self, name: str) -> int:
        return await self.axil.read_dword(REG[name])

    async def wr(self, name: str, value: int) -> None:
        await self.axil.write_dword(REG[name], value)


@cocotb.test()
async def registers(dut):
    """ID reads back its constant, SCRATCH holds what was written."""
    bench = await Bench.create(dut, 4096, {}, 0)
    await bench.reset()
    assert await bench.rd("ID") == ID_VALUE
    for value in (0xDEADBEEF, 0x12345678, 0):
        await bench.wr("SCRATCH", value)
        assert await bench.rd("SCRATCH") == value
    assert await bench.rd("STATUS") == 0


@cocotb.test()
async def copy_roundtrip(dut):
    """Memory contents come out in order, tlast on the last beat only."""
    args = test_args()
    data = np.load(args["npz"])
    memory = data["memory"].tobytes()
    base, length = int(data["base"]), int(data["length"])
    desc, desc_last = data["desc"].astype(np.uint32), data["desc_last"].astype(bool)
    bench = await Bench.create(dut, len(memory), args.get("pause", {}), int(args.get("seed", 1)))
    bench.ram.write(0, memory)
    await bench.reset()

    await bench.wr("BASE", base)
    await bench.wr("LENGTH", length)
    await bench.wr("CTRL", 1)
    t_start = get_sim_time("ns")

    # Descriptor frames end at each tlast (a trailing frame without one too).
    frame = []
    for word, last in zip(desc.tolist(), desc_last.tolist()):
        frame.append(int(word))
        if last:
            await bench.src.send(AxiStreamFrame(frame))
            frame = []
    if frame:
        await bench.src.send(AxiStreamFrame(frame))

    got = await bench.sink.recv()           # one frame: everything up to tlast
    t_end = get_sim_time("ns")
    beat_bytes = len(dut.m_axi_rdata) // 8
    expected = [(i << (8 * beat_bytes))
                | int.from_bytes(memory[base + i * beat_bytes: base + (i + 1) * beat_bytes], "little")
                for i in range(length)]
    if args.get("corrupt"):
        expected[length // 2] ^= 1
    beats = [int(b) for b in got.tdata]
    assert len(beats) == length, f"{len(beats)} beats, expected {length}"
    bad = [i for i, (g, e) in enumerate(zip(beats, expected)) if g != e]
    assert not bad, f"{len(bad)} wrong beats, first at {bad[0]}: {beats[bad[0]]:#x} != {expected[bad[0]]:#x}"

    for _ in range(200):                     # DONE may trail the last beat by a cycle
        status = await bench.rd("STATUS")
        if status & STATUS_DONE:
            break
        await RisingEdge(dut.clk)
    assert status == STATUS_DONE, f"STATUS {status:#x}"
    assert not status & STATUS_ERR
    assert await bench.rd("DESC_SUM") == int(desc[: await bench.rd("DESC_COUNT")].sum()) & 0xFFFFFFFF
    assert await bench.rd("DESC_LASTS") == int(desc_last[: await bench.rd("DESC_COUNT")].sum())
    assert bench.sink.empty(), "beats after tlast"
    cycles = await bench.rd("CYCLES")
    assert length <= cycles

    if args.get("report"):
        with open(args["report"], "w") as fh:
            json.dump({"beats": len(beats), "cycles": cycles,
                       "sim_ns": t_end - t_start}, fh)
