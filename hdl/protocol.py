"""The engine's contract with the host: registers, descriptors, results.

Everything the driver needs is defined here once, in plain Python (this
module imports nothing, so the host can use it without Amaranth), and
:func:`config_json` exports it together with one engine configuration.

Register file (AXI4-Lite, 32-bit words, byte addresses)
-------------------------------------------------------
See :data:`REGISTERS`; :func:`register_table` renders it as text.

Descriptor stream (``s_axis_roi``, 32-bit beats, one frame per RoI)
-----------------------------------------------------------------
beat 0: batch index (uint32).
``BIN_MODE = EXACT``: beat 1 = ``x1r`` (int16, bits 15:0) | ``y1r`` (int16,
bits 31:16); beat 2 = ``x2r | y2r``.  The engine generates the bin edges.
``BIN_MODE = EDGES``: beats 1..PH = ``hstart`` (uint16, 15:0) | ``hend``
(31:16), then PW beats ``wstart | wend``; the host computed them (any bin
arithmetic, e.g. torchvision's float32) and clipped them to ``[0, H]`` /
``[0, W]`` (the engine clips again, so a bad edge can never address outside
the feature plane).  Edges must be non-decreasing in the bin index, as every
RoIPool formula produces them.
``tlast`` marks the frame's last beat.  A frame of the wrong length sets
``ERR_FLAGS.FRAMING``; the engine resynchronises on ``tlast`` and emits the
RoI as all-empty (zeros, argmax -1) so the result stream stays aligned.

Result stream (``m_axis_out``)
------------------------------
One beat per (tile, ph, pw), order tile-major then ph, then pw; lane ``i`` of
tile ``t`` is channel ``t * lanes + i``.  ``tdata`` = ``lanes`` values (lane
``i`` at bits ``[i*W, (i+1)*W)``, ``W`` the element width), and when argmax
is configured, ``lanes`` 32-bit two's-complement argmax fields above them
(``h * W_map + w`` in the RoI's (b, c) plane, -1 for none).  ``tlast`` on the
last beat of each RoI.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

__all__ = [
    "MAGIC", "VERSION", "BIN_MODE_EXACT", "BIN_MODE_EDGES", "ERR", "REGISTERS",
    "Register", "Field", "reg", "register_table", "config_dict", "config_json",
    "exact_descriptor", "edges_descriptor", "result_beat_width", "split_result_beat",
]

MAGIC = 0x524F4950          # "ROIP"
VERSION = 0x0001_0000       # 1.0

BIN_MODE_EXACT = 0          # engine generates edges from rounded coordinates
BIN_MODE_EDGES = 1          # host sends explicit clipped edges

#: ERR_FLAGS bit positions (sticky, write 1 to clear).
ERR = {
    "BATCH": 0,     # descriptor batch index >= N: RoI emitted as zeros
    "SIZE": 1,      # start with N/C/H/W/PH/PW zero or over the maxima, or FEAT_BASE not beat aligned
    "FRAMING": 2,   # descriptor frame of the wrong length
    "AXI_READ": 3,  # rresp != OKAY on some read beat
}


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    doc: str = ""


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    access: str          # "ro", "rw", "w1c", "wo" (self-clearing)
    doc: str
    fields: tuple = field(default_factory=tuple)


REGISTERS: tuple[Register, ...] = (
    Register("ID", 0x00, "ro", f"magic 0x{MAGIC:08X} ('ROIP')"),
    Register("VERSION", 0x04, "ro", "major * 65536 + minor"),
    Register("CONFIG", 0x08, "ro", "build-time configuration", (
        Field("LANES", 0, 8, "channels per beat L"),
        Field("DTYPE", 8, 4, "element type code (hdl.dtypes)"),
        Field("ARGMAX", 12, 1, "argmax fields present in results"),
        Field("BEAT_BYTES_LOG2", 13, 3, "log2 bytes per AXI data beat (= arsize)"),
        Field("MAX_POOLED", 16, 8, "largest PH / PW"),
    )),
    Register("MAX_NC", 0x0C, "ro", "maxima", (Field("MAX_N", 0, 16), Field("MAX_C", 16, 16))),
    Register("MAX_HW", 0x10, "ro", "maxima", (Field("MAX_H", 0, 16), Field("MAX_W", 16, 16))),
    Register("CTRL", 0x14, "wo", "write 1 to act; reads 0", (
        Field("START", 0, 1, "latch the run registers and process NUM_ROIS descriptors"),
        Field("SOFT_RESET", 1, 1, "abandon the run; outstanding reads are drained, then idle"),
    )),
    Register("STATUS", 0x18, "ro", "state", (
        Field("BUSY", 0, 1, "a run or a post-reset drain is in progress; START is ignored"),
        Field("DONE", 1, 1, "the last run finished (cleared by START)"),
        Field("ERROR", 2, 1, "ERR_FLAGS != 0"),
    )),
    Register("ERR_FLAGS", 0x1C, "w1c", "sticky error flags", tuple(
        Field(n, b, 1) for n, b in ERR.items())),
    Register("FEAT_BASE_LO", 0x20, "rw", "feature map byte address, bits 31:0 (beat aligned)"),
    Register("FEAT_BASE_HI", 0x24, "rw", "feature map byte address, bits 63:32"),
    Register("N", 0x28, "rw", "batch size"),
    Register("C", 0x2C, "rw", "channels"),
    Register("H", 0x30, "rw", "feature map height"),
    Register("W", 0x34, "rw", "feature map width"),
    Register("PH", 0x38, "rw", "pooled height"),
    Register("PW", 0x3C, "rw", "pooled width"),
    Register("BIN_MODE", 0x40, "rw", f"{BIN_MODE_EXACT}: EXACT (coords), {BIN_MODE_EDGES}: EDGES (explicit edges)"),
    Register("NUM_ROIS", 0x44, "rw", "descriptors in the run"),
    Register("BUSY_CYCLES", 0x48, "ro", "cycles from START to DONE (last run)"),
    Register("BEATS_READ", 0x4C, "ro", "AXI read data beats accepted"),
    Register("BEATS_WRITTEN", 0x50, "ro", "result beats accepted downstream"),
    Register("IN_STALL_CYCLES", 0x54, "ro", "cycles the pooler waited for read data"),
    Register("OUT_STALL_CYCLES", 0x58, "ro", "cycles a result beat was valid but not ready"),
    Register("ROIS_DONE", 0x5C, "ro", "RoIs whose last result beat was accepted"),
)

_BY_NAME = {r.name: r for r in REGISTERS}


def reg(name: str) -> Register:
    """The register called ``name`` (``KeyError`` if none)."""
    return _BY_NAME[name]


def register_table() -> str:
    """The register map as a Markdown table."""
    lines = ["| offset | name | access | description |", "|---|---|---|---|"]
    for r in REGISTERS:
        desc = r.doc
        if r.fields:
            desc += "; " + ", ".join(
                f"{f.name}[{f.lsb + f.width - 1}:{f.lsb}]" if f.width > 1 else f"{f.name}[{f.lsb}]"
                for f in r.fields)
        lines.append(f"| 0x{r.offset:02X} | {r.name} | {r.access} | {desc} |")
    return "\n".join(lines)


def result_beat_width(lanes: int, elem_width: int, argmax: bool) -> int:
    """Bits of ``m_axis_out_tdata``."""
    return lanes * elem_width + (lanes * 32 if argmax else 0)


def split_result_beat(tdata: int, lanes: int, elem_width: int, argmax: bool):
    """Decode one result beat into ``(values, argmaxes)`` lists (argmax signed)."""
    mask = (1 << elem_width) - 1
    values = [(tdata >> (i * elem_width)) & mask for i in range(lanes)]
    arg = []
    if argmax:
        base = lanes * elem_width
        for i in range(lanes):
            a = (tdata >> (base + 32 * i)) & 0xFFFFFFFF
            arg.append(a - (1 << 32) if a & 0x80000000 else a)
    return values, arg


def _u16(v: int) -> int:
    return int(v) & 0xFFFF


def exact_descriptor(batch: int, x1: int, y1: int, x2: int, y2: int) -> list[int]:
    """Beats of an EXACT-mode frame (rounded feature-map coordinates, int16)."""
    for v in (x1, y1, x2, y2):
        if not -0x8000 <= int(v) <= 0x7FFF:
            raise ValueError(f"coordinate {v} does not fit int16")
    return [int(batch) & 0xFFFFFFFF, _u16(x1) | _u16(y1) << 16, _u16(x2) | _u16(y2) << 16]


def edges_descriptor(batch: int, hstart, hend, wstart, wend) -> list[int]:
    """Beats of an EDGES-mode frame (clipped edges, uint16)."""
    beats = [int(batch) & 0xFFFFFFFF]
    beats += [_u16(s) | _u16(e) << 16 for s, e in zip(hstart, hend)]
    beats += [_u16(s) | _u16(e) << 16 for s, e in zip(wstart, wend)]
    return beats


def config_dict(**engine_config) -> dict:
    """Register map plus one engine configuration, as plain data."""
    return {
        "magic": MAGIC,
        "version": VERSION,
        "config": dict(engine_config),
        "bin_modes": {"EXACT": BIN_MODE_EXACT, "EDGES": BIN_MODE_EDGES},
        "err_flags": dict(ERR),
        "registers": [
            {"name": r.name, "offset": r.offset, "access": r.access, "doc": r.doc,
             "fields": [{"name": f.name, "lsb": f.lsb, "width": f.width, "doc": f.doc} for f in r.fields]}
            for r in REGISTERS
        ],
        "descriptor": {
            "beat_bits": 32,
            "exact": ["batch", "x1r[15:0] | y1r[31:16] (int16)", "x2r[15:0] | y2r[31:16] (int16)"],
            "edges": ["batch", "PH x hstart[15:0] | hend[31:16]", "PW x wstart[15:0] | wend[31:16]"],
        },
        "result": {
            "order": "tile, ph, pw; lane i = channel tile*lanes + i; tlast on each RoI's last beat",
            "values": "lane i at bits [i*W, (i+1)*W)",
            "argmax": "if enabled: lane i int32 at bits [lanes*W + 32*i, lanes*W + 32*(i+1))",
        },
        "memory_layout": "nChw{L}c: element (n,c,h,w) at ((n*CB + c//L)*H + h)*W*L + w*L + c%L, CB=ceil(C/L), pad channels 0",
    }


def config_json(**engine_config) -> str:
    """:func:`config_dict` as indented JSON."""
    return json.dumps(config_dict(**engine_config), indent=2)
