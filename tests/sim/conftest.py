"""Shared fixtures: the stand-in copier's Verilog and its harness builds (cached in build/sim)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim import toolchain

COPIER_SRC = Path(__file__).with_name("copier.py")


def copier_verilog_path(data_width: int = 128, max_outstanding: int = 4) -> Path:
    """Write (once per copier.py version and parameters) the copier's Verilog."""
    def builder(bdir: Path) -> None:
        from tests.sim.copier import copier_verilog
        (bdir / "copier.v").write_text(copier_verilog(data_width, max_outstanding))

    bdir, _ = toolchain.cached_build(f"copier-v{data_width}",
                                     (COPIER_SRC, data_width, max_outstanding), builder)
    return bdir / "copier.v"


def need_verilator() -> None:
    ok, why = toolchain.verilator_available()
    if not ok:
        pytest.skip(f"Verilator unusable: {why}")


@pytest.fixture(scope="session")
def copier_v() -> Path:
    return copier_verilog_path(128)


@pytest.fixture(scope="session")
def harness_exe(copier_v) -> Path:
    need_verilator()
    from sim.fast_harness import build_harness
    return build_harness(copier_v, "copier")


def make_job(rng: np.random.Generator, length: int, *, beat_bytes: int = 16, base: int = 0x40,
             max_desc: int = 40, slack: int = 4096):
    """Random copy job: memory image, descriptor words (burst lengths - 1) and tlast flags.

    One descriptor per beat is provided (the most the copier can consume);
    tlast is set on every 3rd word.
    """
    memory = rng.integers(0, 256, size=base + length * beat_bytes + slack, dtype=np.uint8)
    desc = rng.integers(0, max_desc, size=length).astype(np.uint32)
    desc |= (rng.integers(0, 1 << 16, size=length).astype(np.uint32) << 8)  # high bits: ignored by the copier, summed in DESC_SUM
    desc_last = (np.arange(length) % 3) == 2
    return memory, desc, desc_last


def expected_beats(memory: bytes, base: int, length: int, beat_bytes: int) -> list[int]:
    """The copier's output: ``{beat index, memory beat}`` per beat."""
    return [(i << (8 * beat_bytes))
            | int.from_bytes(memory[base + i * beat_bytes: base + (i + 1) * beat_bytes], "little")
            for i in range(length)]
