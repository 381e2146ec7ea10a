"""The engine protocol as data: a validated RoIPool call <-> what crosses the engine's ports.

:func:`build_job` turns a validated call (:class:`golden.Problem`) into an
:class:`EngineJob`: the feature map packed in the engine's ``nChw{L}c``
memory layout, the register writes, the descriptor frames and the number of
result beats to expect.  Whatever moves a job through an engine (the
Amaranth simulator, Verilator, Icarus, a board's driver) returns an
:class:`EngineRun` (result beats, ``tlast`` flags, registers read after the
run, cycles), and :func:`decode_results` turns it back into ``(out,
argmax)`` in the golden model's shapes.  :func:`encode_results` is the
inverse, for scoreboards that compare beats.

Pure NumPy: no Amaranth, so the simulators (``sim``) and the host driver
(``host``) share it without elaborating anything.  Every format detail comes
from :mod:`hdl.protocol`, the single definition shared with the gateware.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import golden
from golden.validate import Problem

from . import protocol as proto
from .dtypes import DTYPES

__all__ = [
    "EngineConfig", "EngineJob", "EngineRun", "ProtocolError", "COUNTERS",
    "pack_features", "descriptor_frames", "build_job", "descriptor_beats",
    "unpack_results", "decode_results", "encode_results", "error_names", "named_registers",
]

#: Performance counter registers, in register-map order.
COUNTERS = ("BUSY_CYCLES", "BEATS_READ", "BEATS_WRITTEN", "IN_STALL_CYCLES", "OUT_STALL_CYCLES", "ROIS_DONE")


class ProtocolError(RuntimeError):
    """The result stream does not have the shape the protocol promises."""


@dataclass(frozen=True)
class EngineConfig:
    """Build-time configuration of one engine instance (what the host must know).

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

    @classmethod
    def from_params(cls, params: dict) -> "EngineConfig":
        """The host's view of a full :class:`~hdl.engine.RoIPoolEngine` parameter dict."""
        return cls(**{k: params[k] for k in cls.__dataclass_fields__})

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
        over = [f"{name}={value} exceeds the engine's maximum {limit}"
                for name, value, limit in limits if value > limit]
        return (False, "; ".join(over)) if over else (True, "ok")


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
        Register writes before START, in order: clear the sticky error
        flags, then the run registers.
    descriptors : list of list of int
        One frame of 32-bit beats per RoI (``tlast`` on each frame's last).
    expected_beats : int
        Result beats the run must produce.
    num_rois : int
    start : (offset, value)
        The register write that starts the run.
    status_offset, done_mask : int
        Poll ``status_offset`` until ``value & done_mask`` is set.
    readback : tuple of int
        Registers to read after the run (status, error flags, counters).
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
        First descriptor accepted to last result beat accepted, both included.
    stats : dict
        Transport figures (simulation speed, wall time, ...).
    """

    beats: np.ndarray
    last: np.ndarray
    regs: dict
    cycles: int
    stats: dict = field(default_factory=dict)


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
    blocked = np.ascontiguousarray(padded.reshape(n, cb, lanes, h, w).transpose(0, 1, 3, 4, 2))
    bits = blocked.view(np.dtype(f"u{features.dtype.itemsize}"))
    return bits.astype(f"<u{features.itemsize}", copy=False).tobytes()


def descriptor_frames(problem: Problem) -> tuple[int, list]:
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
    mode, frames = descriptor_frames(problem)
    regs = [
        ("ERR_FLAGS", (1 << len(proto.ERR)) - 1),      # sticky flags of an earlier run: write 1 to clear
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


def descriptor_beats(job: EngineJob) -> tuple[np.ndarray, np.ndarray]:
    """The descriptor stream flattened: ``(words uint32, tlast bool)``, one entry per beat."""
    lengths = np.array([len(f) for f in job.descriptors], dtype=np.int64)
    words = np.array([b for f in job.descriptors for b in f], dtype=np.uint32)
    last = np.zeros(len(words), dtype=bool)
    last[np.cumsum(lengths) - 1] = True
    return words, last


def _tile_major(arr: np.ndarray, k: int, tiles: int, lanes: int, c: int, ph: int, pw: int) -> np.ndarray:
    """``(beats, lanes)`` in stream order -> ``(K, C, PH, PW)`` (padding lanes dropped)."""
    return arr.reshape(k, tiles, ph, pw, lanes).transpose(0, 1, 4, 2, 3).reshape(k, tiles * lanes, ph, pw)[:, :c]


def unpack_results(beats: np.ndarray, num_rois: int, channels: int, output_size: tuple,
                   config: EngineConfig, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Result beats ``(K*CB*PH*PW, result_bytes)`` uint8 -> ``(out, argmax)``.

    ``out`` is ``(K, C, PH, PW)`` in ``dtype``; ``argmax`` int64 (all -1 for
    a build without argmax).  The caller checks the beat count.
    """
    ph, pw = output_size
    tiles = -(-channels // config.lanes)
    lanes, eb = config.lanes, config.elem_bytes
    raw = np.ascontiguousarray(beats)
    values = raw[:, : lanes * eb].copy().view(np.dtype(dtype))
    out = _tile_major(values, num_rois, tiles, lanes, channels, ph, pw)
    if config.argmax:
        arg = raw[:, lanes * eb : lanes * eb + 4 * lanes].copy().view("<i4")
        argmax = _tile_major(arg, num_rois, tiles, lanes, channels, ph, pw).astype(np.int64)
    else:
        argmax = np.full(out.shape, -1, dtype=np.int64)
    return np.ascontiguousarray(out), np.ascontiguousarray(argmax)


def decode_results(run: EngineRun, problem: Problem, config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """Result beats -> ``(out, argmax)`` in the golden model's shapes.

    Raises
    ------
    ProtocolError
        Wrong number of beats, or ``tlast`` not on each RoI's last beat.
    """
    c = problem.features.shape[1]
    ph, pw = problem.output_size
    k = problem.num_rois
    per_roi = -(-c // config.lanes) * ph * pw
    want = k * per_roi
    if run.beats.shape[0] != want:
        raise ProtocolError(f"engine produced {run.beats.shape[0]} result beats, expected {want}")
    last = np.zeros(want, dtype=bool)
    last[per_roi - 1 :: per_roi] = True
    if not np.array_equal(run.last, last):
        raise ProtocolError("tlast does not mark the last beat of each RoI")
    return unpack_results(run.beats, k, c, (ph, pw), config, problem.features.dtype)


def encode_results(out: np.ndarray, argmax: np.ndarray, config: EngineConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(out, argmax)`` -> the result beats the engine must send, and which bytes matter.

    Returns
    -------
    beats : ndarray of uint8, ``(K*CB*PH*PW, result_bytes)``
    care : ndarray of bool, same shape
        False on the bytes of padding lanes (channels ``>= C``), whose
        contents the protocol leaves open.
    """
    k, c, ph, pw = out.shape
    lanes, eb = config.lanes, config.elem_bytes
    tiles = -(-c // lanes)

    def stream_order(a, fill):
        padded = np.full((k, tiles * lanes, ph, pw), fill, dtype=a.dtype)
        padded[:, :c] = a
        return padded.reshape(k, tiles, lanes, ph, pw).transpose(0, 1, 3, 4, 2).reshape(-1, lanes)

    vals = np.ascontiguousarray(stream_order(out, 0)).view(np.uint8).reshape(-1, lanes * eb)
    lane_ok = stream_order(np.ones(out.shape, bool), False)
    parts, care = [vals], [np.repeat(lane_ok, eb, axis=1)]
    if config.argmax:
        arg = np.ascontiguousarray(stream_order(argmax.astype("<i4"), -1))
        parts.append(arg.view(np.uint8).reshape(-1, 4 * lanes))
        care.append(np.repeat(lane_ok, 4, axis=1))
    return np.concatenate(parts, axis=1), np.concatenate(care, axis=1)


def error_names(flags: int) -> list[str]:
    """Names of the ERR_FLAGS bits set in ``flags``."""
    return [name for name, bit in proto.ERR.items() if flags >> bit & 1]


def named_registers(regs: dict) -> dict:
    """``{offset: value}`` read back after a run -> ``{register name: value}``."""
    return {r.name: regs[r.offset] for r in proto.REGISTERS if r.offset in regs}
