"""The engine driver: what a board's driver does, apart from how bytes move.

The *protocol* (this module) turns a validated RoIPool call into an
:class:`EngineJob` (the feature map packed in the engine's memory layout,
register writes, the descriptor stream) and decodes an :class:`EngineRun`
(result beats, counters) back into ``(out, argmax)``.  A *transport* only
moves those bytes: the Amaranth simulator, Verilator, Icarus or, on a
board, memory-mapped registers plus a DMA engine.  Every transport
implements ``execute(job) -> EngineRun``; nothing in this module knows
which one it talks to.

Everything about registers, descriptors and result beats comes from
:mod:`hdl.protocol`, the single definition shared with the gateware.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

import golden
from golden.validate import Problem
from hdl import protocol as proto
from hdl.dtypes import DTYPES

__all__ = [
    "EngineConfig", "EngineJob", "EngineRun", "EngineError", "Transport",
    "pack_features", "build_job", "decode_results", "check_errors", "run_engine",
]


class EngineError(RuntimeError):
    """The engine flagged an error (the message names the ERR_FLAGS bits)."""

    def __init__(self, flags: int, message: str):
        super().__init__(message)
        self.flags = flags


@dataclass(frozen=True)
class EngineConfig:
    """Build-time configuration of one engine instance.

    Attributes
    ----------
    lanes, dtype, max_n, max_c, max_h, max_w, max_pooled, argmax
        As given to :class:`hdl.engine.RoIPoolEngine`.
    """

    lanes: int
    dtype: str
    max_n: int
    max_c: int
    max_h: int
    max_w: int
    max_pooled: int
    argmax: bool = True

    @property
    def elem_bytes(self) -> int:
        return DTYPES[self.dtype].nbytes

    @property
    def beat_bytes(self) -> int:
        """Bytes per AXI read beat (``lanes`` elements)."""
        return self.lanes * self.elem_bytes

    @property
    def result_bytes(self) -> int:
        """Bytes per result beat (values, then int32 argmax fields)."""
        return proto.result_beat_width(self.lanes, DTYPES[self.dtype].width, self.argmax) // 8

    def supports(self, problem: Problem) -> tuple[bool, str]:
        """Whether this engine can run ``problem`` (and why not)."""
        n, c, h, w = problem.features.shape
        ph, pw = problem.output_size
        if golden.dtype_name(problem.features.dtype) != self.dtype:
            return False, f"engine is built for {self.dtype}, features are {golden.dtype_name(problem.features.dtype)}"
        limits = [("N", n, self.max_n), ("C", c, self.max_c), ("H", h, self.max_h), ("W", w, self.max_w),
                  ("PH", ph, self.max_pooled), ("PW", pw, self.max_pooled)]
        for name, value, limit in limits:
            if value > limit:
                return False, f"{name}={value} exceeds the engine's maximum {limit}"
        return True, "ok"


@dataclass
class EngineJob:
    """Everything a transport must do for one run.

    Attributes
    ----------
    memory : bytes
        Feature map image, to be placed at ``feat_base``.
    feat_base : int
        Byte address of the image (beat aligned).
    reg_writes : list of (offset, value)
        Run registers, written in order before START.
    descriptors : list of list of int
        One frame of 32-bit beats per RoI (``tlast`` on each frame's last).
    expected_beats : int
        Result beats the run must produce.
    num_rois : int
    """

    memory: bytes
    feat_base: int
    reg_writes: list
    descriptors: list
    expected_beats: int
    num_rois: int
    start: tuple = (proto.reg("CTRL").offset, 1)
    status_offset: int = proto.reg("STATUS").offset
    done_mask: int = 1 << 1
    readback: tuple = tuple(r.offset for r in proto.REGISTERS if r.access in ("ro", "w1c"))


@dataclass
class EngineRun:
    """What a transport brings back.

    Attributes
    ----------
    beats : ndarray of uint8, shape ``(n_beats, result_bytes)``
        Result ``tdata``, little-endian, in arrival order.
    last : ndarray of bool, shape ``(n_beats,)``
        ``tlast`` of each beat.
    regs : dict
        Register offset -> value, read after DONE.
    cycles : int
        First descriptor accepted to last result beat.
    stats : dict
        Transport figures (simulation speed, wall time, ...).
    """

    beats: np.ndarray
    last: np.ndarray
    regs: dict
    cycles: int
    stats: dict = field(default_factory=dict)


class Transport(Protocol):
    """Moves an :class:`EngineJob` through an engine and returns the run."""

    def execute(self, job: EngineJob) -> EngineRun:  # pragma: no cover - interface
        ...


def _element_bits(features: np.ndarray) -> np.ndarray:
    """The raw bit patterns of the features as unsigned integers."""
    return features.view(np.dtype(f"u{features.dtype.itemsize}"))


def pack_features(features: np.ndarray, lanes: int) -> bytes:
    """Pack ``(N, C, H, W)`` features in the engine's nChw{L}c layout.

    Element ``(n, c, h, w)`` goes to element offset
    ``((n * CB + c // L) * H + h) * W * L + w * L + c % L`` with
    ``CB = ceil(C / L)``; the padding channels are zero.  One AXI beat is
    then ``L`` channels of one pixel, and a RoI row within a channel block is
    one contiguous burst.
    """
    n, c, h, w = features.shape
    cb = -(-c // lanes)
    padded = np.zeros((n, cb * lanes, h, w), dtype=features.dtype)
    padded[:, :c] = features
    blocked = padded.reshape(n, cb, lanes, h, w).transpose(0, 1, 3, 4, 2)
    bits = _element_bits(np.ascontiguousarray(blocked))
    return bits.astype(f"<u{features.itemsize}", copy=False).tobytes()


def _descriptor_frames(problem: Problem) -> tuple[int, list]:
    """Bin mode register value and one descriptor frame per RoI.

    ``exact`` mode sends rounded coordinates and lets the engine generate
    the edges, unless a coordinate does not fit the descriptor's int16; the
    float modes (torchvision's arithmetic) send explicit edges.
    """
    _, _, h, w = problem.features.shape
    edges = golden.bin_edges(np.c_[problem.batch, problem.boxes], problem.output_size, problem.spatial_scale, h, w,
                             bin_mode=problem.bin_mode)
    fits = edges.coords.size == 0 or (edges.coords.min() >= -0x8000 and edges.coords.max() <= 0x7FFF)
    if problem.bin_mode == "exact" and fits:
        frames = [proto.exact_descriptor(b, *xy) for b, xy in zip(edges.batch, edges.coords)]
        return proto.BIN_MODE_EXACT, frames
    frames = [
        proto.edges_descriptor(edges.batch[k], edges.hstart[k], edges.hend[k], edges.wstart[k], edges.wend[k])
        for k in range(problem.num_rois)
    ]
    return proto.BIN_MODE_EDGES, frames


def build_job(problem: Problem, config: EngineConfig, feat_base: int = 0) -> EngineJob:
    """Turn a validated call into an :class:`EngineJob` for ``config``."""
    ok, why = config.supports(problem)
    if not ok:
        raise ValueError(why)
    if feat_base % config.beat_bytes:
        raise ValueError(f"feat_base 0x{feat_base:x} is not aligned to a {config.beat_bytes}-byte beat")
    n, c, h, w = problem.features.shape
    ph, pw = problem.output_size
    mode, frames = _descriptor_frames(problem)
    regs = [
        ("FEAT_BASE_LO", feat_base & 0xFFFFFFFF), ("FEAT_BASE_HI", feat_base >> 32),
        ("N", n), ("C", c), ("H", h), ("W", w), ("PH", ph), ("PW", pw),
        ("BIN_MODE", mode), ("NUM_ROIS", problem.num_rois),
    ]
    tiles = -(-c // config.lanes)
    return EngineJob(
        memory=pack_features(problem.features, config.lanes),
        feat_base=feat_base,
        reg_writes=[(proto.reg(name).offset, value) for name, value in regs],
        descriptors=frames,
        expected_beats=problem.num_rois * tiles * ph * pw,
        num_rois=problem.num_rois,
    )


def check_errors(run: EngineRun) -> None:
    """Raise :class:`EngineError` naming every ERR_FLAGS bit the run set."""
    flags = run.regs.get(proto.reg("ERR_FLAGS").offset, 0)
    if flags:
        names = [name for name, bit in proto.ERR.items() if flags >> bit & 1]
        raise EngineError(flags, f"engine reported ERR_FLAGS=0x{flags:x}: {', '.join(names)}")


def decode_results(run: EngineRun, problem: Problem, config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Result beats -> ``(out, argmax)`` in the golden model's shapes."""
    n, c, h, w = problem.features.shape
    ph, pw = problem.output_size
    k = problem.num_rois
    tiles = -(-c // config.lanes)
    want = k * tiles * ph * pw
    if run.beats.shape[0] != want:
        raise EngineError(0, f"engine produced {run.beats.shape[0]} result beats, expected {want}")
    last = np.zeros(want, dtype=bool)
    last[tiles * ph * pw - 1 :: tiles * ph * pw] = True
    if not np.array_equal(run.last, last):
        raise EngineError(0, "tlast does not mark the last beat of each RoI")
    lanes, eb = config.lanes, config.elem_bytes
    raw = np.ascontiguousarray(run.beats)
    values = raw[:, : lanes * eb].copy().view(problem.features.dtype).reshape(k, tiles, ph, pw, lanes)
    out = values.transpose(0, 1, 4, 2, 3).reshape(k, tiles * lanes, ph, pw)[:, :c]
    if config.argmax:
        arg = raw[:, lanes * eb : lanes * eb + 4 * lanes].copy().view("<i4").reshape(k, tiles, ph, pw, lanes)
        argmax = arg.transpose(0, 1, 4, 2, 3).reshape(k, tiles * lanes, ph, pw)[:, :c].astype(np.int64)
    else:
        argmax = np.full(out.shape, -1, dtype=np.int64)
    return np.ascontiguousarray(out), np.ascontiguousarray(argmax)


def run_engine(problem: Problem, config: EngineConfig, transport: Transport, feat_base: int = 0):
    """Run a validated call on an engine; return ``(out, argmax, stats)``."""
    job = build_job(problem, config, feat_base)
    if problem.num_rois == 0:
        shape = (0, problem.features.shape[1], *problem.output_size)
        return np.zeros(shape, problem.features.dtype), np.zeros(shape, np.int64), {"cycles": 0}
    run = transport.execute(job)
    check_errors(run)
    out, argmax = decode_results(run, problem, config)
    counters = {r.name.lower(): run.regs[r.offset] for r in proto.REGISTERS
                if r.offset in run.regs and r.name in ("BUSY_CYCLES", "BEATS_READ", "BEATS_WRITTEN",
                                                       "IN_STALL_CYCLES", "OUT_STALL_CYCLES", "ROIS_DONE")}
    stats = {"cycles": run.cycles, "counters": counters, **run.stats}
    return out, argmax, stats
