"""Fast C++ Verilator testbench for any design with the engine's AXI ports.

:func:`build_harness` compiles ``harness.cpp`` together with a Verilog top
module into one executable (``verilator --cc --exe --build``), cached by a
hash of the Verilog text and the options.  :func:`run_harness` writes the
stimulus to a binary file, runs the executable and parses what it wrote back
into a :class:`HarnessResult`.

The top module must have these ports (Amaranth names them so when the
component's signature members carry these names):

* ``clk``, ``rst`` (active high unless ``rst_active_low=True``)
* ``s_axis_roi_tdata/tvalid/tready[/tlast]`` - descriptor words in
* ``m_axis_out_tdata/tvalid/tready[/tlast]`` - results out
* ``m_axi_araddr/arlen/arsize/arburst/arvalid/arready[/arid]`` and
  ``m_axi_rdata/rresp/rlast/rvalid/rready[/rid]`` - read master, served by a
  C++ memory model: accepted ARs go into a FIFO (at most ``max_outstanding``
  in flight), data of a burst may start ``latency`` cycles after its AR, with
  optional random ``arready``/``rvalid`` gaps and random ``m_axis_out_tready``
  back-pressure from seeded generators
* ``s_axil_aw*/w*/b*/ar*/r*`` - AXI4-Lite slave, written and read by the
  C++ register helpers.

Port widths are read from the Verilog (any width; ports wider than 64 bits
are Verilator ``VlWide`` arrays and are handled generically) and passed to
the C++ as a generated ``harness_config.h``.  Nothing engine-specific is
compiled in: register writes, the start sequence and the "done" register
poll are part of each run's input.

Run sequence: reset -> ``reg_writes`` -> (descriptor source enabled here if
``stream_before_start``) -> ``start_sequence`` writes -> descriptor source
enabled -> poll ``done_reg`` every ``poll_interval`` cycles until
``value & done_mask == done_value`` (and at least ``expect_beats`` beats have
arrived) -> ``drain_cycles`` more cycles -> ``final_reads``.

Input file (little endian): ``u32 magic "RPHI"``, ``u32 version``, then
sections ``u32 tag, u32 0, u64 nbytes, payload``: CONFIG (``u64 key, u64
value`` pairs, keys in :data:`CONFIG_KEYS`), MEMORY (``u64 base`` + bytes;
several allowed), CFG_WRITES / START_WRITES (``u32 addr, u32 data`` pairs),
FINAL_READS (``u32 addr``), DESCRIPTORS (``u32 words_per_beat, u32 0``, then
per beat the tdata words, least significant first, and ``u32 flags``, bit 0 =
tlast).  The output file ("RPHO") has SUMMARY (key/value, :data:`SUMMARY_KEYS`),
BEATS (``u32 words_per_beat, u32 0``, then words + ``u32 tlast`` per beat),
REGS (``u32 addr, u32 value``), ARLOG (``u64 cycle, u64 addr, u32 len,
u8 size, u8 burst, u16 id``), MESSAGES (text lines) and FRAME_ENDS (``u64``
cycle of each accepted ``tlast`` beat).
"""

from __future__ import annotations

import json
import os
import platform
import re
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from sim import toolchain

__all__ = [
    "HARNESS_CPP", "REQUIRED_PORTS", "OPTIONAL_PORTS", "CONFIG_KEYS", "SUMMARY_KEYS",
    "HarnessError", "HarnessTimeout", "HarnessResult", "parse_ports", "check_ports",
    "config_header", "header_port_names", "input_latch_wrapper", "build_harness", "run_harness", "pack_input", "parse_output",
]

HARNESS_CPP = Path(__file__).with_name("harness.cpp")

MAGIC_IN, MAGIC_OUT, VERSION = 0x49485052, 0x4F485052, 1
T_CONFIG, T_MEMORY, T_CFG_WRITES, T_START_WRITES, T_FINAL_READS, T_DESCRIPTORS = 1, 2, 3, 4, 5, 6
O_SUMMARY, O_BEATS, O_REGS, O_ARLOG, O_MESSAGES, O_FRAME_ENDS = 1, 2, 3, 4, 5, 6

#: Config keys of the input file (must match ``enum CfgKey`` in harness.cpp).
CONFIG_KEYS = {
    "max_cycles": 1, "seed": 2, "reset_cycles": 3, "lat_min": 4, "lat_max": 5,
    "max_outstanding": 6, "p_arready": 7, "p_rvalid": 8, "p_out_ready": 9,
    "p_roi_valid": 10, "done_reg": 11, "done_mask": 12, "done_value": 13,
    "poll_interval": 14, "expect_beats": 15, "drain_cycles": 16,
    "stream_before_start": 17, "rresp_error_beat": 18, "record_ar": 19,
    "final_read_budget": 20, "progress_interval": 21, "wave_cycles": 22,
}
#: Summary keys of the output file (must match ``enum SumKey`` in harness.cpp).
SUMMARY_KEYS = {
    1: "status", 2: "cycles_total", 3: "first_desc_cycle", 4: "last_out_cycle",
    5: "cycles", 6: "desc_accepted", 7: "beats", 8: "ar_count", 9: "r_beats",
    10: "max_outstanding_seen", 11: "protocol_errors", 12: "bad_reads", 13: "sim_wall_ns",
    14: "polls", 15: "done_cycle", 16: "start_cycle", 17: "sim_cycles_per_s", 18: "sim_cpu_ns",
}
_STATUS = {0: "ok", 1: "timeout", 2: "error"}
_NONE = 2 ** 64 - 1     # "never happened" in the summary

#: Ports the harness drives or reads; all must exist on the top module.
REQUIRED_PORTS = (
    "clk", "rst",
    "s_axis_roi_tdata", "s_axis_roi_tvalid", "s_axis_roi_tready",
    "m_axis_out_tdata", "m_axis_out_tvalid", "m_axis_out_tready",
    "m_axi_araddr", "m_axi_arlen", "m_axi_arsize", "m_axi_arburst", "m_axi_arvalid",
    "m_axi_arready", "m_axi_rdata", "m_axi_rresp", "m_axi_rlast", "m_axi_rvalid",
    "m_axi_rready",
    "s_axil_awaddr", "s_axil_awvalid", "s_axil_awready", "s_axil_wdata", "s_axil_wvalid",
    "s_axil_wready", "s_axil_bresp", "s_axil_bvalid", "s_axil_bready", "s_axil_araddr",
    "s_axil_arvalid", "s_axil_arready", "s_axil_rdata", "s_axil_rresp", "s_axil_rvalid",
    "s_axil_rready",
)
#: Ports used when present (a ``HAS_<NAME>`` define tells the C++).
OPTIONAL_PORTS = ("s_axis_roi_tlast", "m_axis_out_tlast", "m_axi_arid", "m_axi_rid",
                  "s_axil_wstrb")


class HarnessError(RuntimeError):
    """The harness failed (bad exit, protocol errors); ``.result`` may hold what it got."""

    def __init__(self, msg: str, result: "HarnessResult | None" = None):
        super().__init__(msg)
        self.result = result


class HarnessTimeout(HarnessError):
    """``max_cycles`` ran out before the done condition (or the process timed out)."""


# --------------------------------------------------------------------- ports
_PORT_RE = re.compile(
    r"\b(input|output|inout)\b\s+(?:(?:wire|reg|logic|signed|unsigned)\s+)*"
    r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?([A-Za-z_][A-Za-z0-9_$]*)")


def parse_ports(verilog: str, top: str) -> dict[str, tuple[str, int]]:
    """Return ``{name: (direction, width)}`` of module ``top``'s ports.

    Handles both declaration styles Amaranth/Yosys and hand-written Verilog
    use (``input [7:0] a;`` in the body and ANSI ``input wire [7:0] a,``);
    only the first name of a comma-separated declaration list is taken.
    """
    m = re.search(rf"^\s*module\s+{re.escape(top)}\b(.*?)^\s*endmodule", verilog,
                  re.S | re.M)
    if not m:
        raise ValueError(f"module {top!r} not found in the Verilog")
    body = re.sub(r"//[^\n]*|/\*.*?\*/", "", m.group(1), flags=re.S)
    ports: dict[str, tuple[str, int]] = {}
    for d, msb, lsb, name in _PORT_RE.findall(body):
        width = abs(int(msb) - int(lsb)) + 1 if msb else 1
        ports.setdefault(name, (d, width))
    return ports


def check_ports(ports: dict[str, tuple[str, int]]) -> None:
    """Raise ``ValueError`` if a required port is missing or a width is unusable."""
    missing = [p for p in REQUIRED_PORTS if p not in ports]
    if missing:
        raise ValueError("top module lacks harness ports: " + ", ".join(missing))
    if ports["m_axi_rdata"][1] % 8:
        raise ValueError("m_axi_rdata width must be a whole number of bytes")
    if ports["m_axi_araddr"][1] > 64:
        raise ValueError("m_axi_araddr wider than 64 bits")
    for p in ("s_axil_wdata", "s_axil_rdata", "s_axil_awaddr", "s_axil_araddr"):
        if ports[p][1] > 32:
            raise ValueError(f"{p} wider than 32 bits")


def header_port_names(verilog: str, top: str) -> list[str] | None:
    """Return the names in ``top``'s port list, in order, or None if it cannot be read.

    Works for both styles: a non-ANSI list (``module m(a, b);``) holds bare
    names, an ANSI one (``module m(input [7:0] a, b, output c);``) holds
    declarations whose last identifier is the name.  Used to check that
    :func:`parse_ports` saw every port before a wrapper re-declares them.
    """
    m = re.search(rf"^\s*module\s+{re.escape(top)}\b\s*(#\s*\((?:[^()]|\([^()]*\))*\)\s*)?\((.*?)\)\s*;",
                  verilog, re.S | re.M)
    if not m:
        return None
    text = re.sub(r"//[^\n]*|/\*.*?\*/|\(\*.*?\*\)|\[[^\]]*\]", " ", m.group(2), flags=re.S)
    names = []
    for chunk in text.split(","):
        ids = re.findall(r"[A-Za-z_][A-Za-z0-9_$]*", chunk)
        if not ids:
            return None
        names.append(ids[-1])
    return names


def input_latch_wrapper(verilog: str, top: str, ports: dict[str, tuple[str, int]]) -> str | None:
    """Return a Verilog wrapper that registers every input of ``top`` on the rising clock edge.

    Why: each ``eval()`` of a Verilator model first runs its
    input-combinational ("ico") region -- all logic fed by top-level
    inputs -- whether or not an input changed, and a rising edge then runs
    the clocked logic and that same input-fed logic once more.  The plain
    harness evaluates twice per cycle (clk low: the logic settles on the new
    inputs and the outputs are sampled; clk high: registers update), so the
    input-fed logic ran three times per cycle, twice for nothing (27-40 % of
    the instructions per cycle on the RoI engine, depending on the RTL).

    Behind this wrapper the design's inputs are registers written on the
    rising edge, so the logic they feed runs once per cycle, after that
    edge, and the model has no "ico" logic left: the clk-low ``eval()``
    finds nothing to do.  The harness (``HARNESS_INPUT_LATCH`` in
    ``harness.cpp``) then sets the next cycle's inputs *before* the rising
    edge instead of after it: the edge clocks the design with the registers'
    old values (this cycle's inputs, exactly what it used before) and loads
    the new ones, and the model settles on them, which is the state the
    plain harness reached with its clk-low ``eval()``.  An ``initial`` block
    copies the inputs the harness set before its first ``eval()`` into the
    registers, so the first edge sees them too.  The design therefore sees
    the same input values at the same rising edges, cycle for cycle.

    This is exact for designs clocked on the rising edge of ``clk`` only
    (what Amaranth generates for a ``sync`` domain): falling-edge or
    asynchronous logic (an asynchronous reset) would see the inputs change
    at the rising edge instead of half a cycle later; build those with
    ``input_latch=False``.
    Waveform builds do not use the wrapper (the harness then keeps its
    two-phase clock so that the dump shows both edges).

    The wrapper module is named ``<top>__harness`` with the design as its
    instance ``<top>``.  Returns None (no wrapper: the harness drives the
    design directly) when the port list cannot be read completely, holds
    ``inout`` ports or lacks ``clk``.
    """
    names = header_port_names(verilog, top)
    if names is None or sorted(names) != sorted(ports) or "clk" not in ports:
        return None
    if any(d not in ("input", "output") for d, _ in ports.values()):
        return None
    decl = lambda w: f"[{w - 1}:0] " if w > 1 else ""
    lines = ["// generated by sim.fast_harness.input_latch_wrapper - do not edit",
             f"module {top}__harness ({', '.join(names)});"]
    for n in names:
        d, w = ports[n]
        lines.append(f"  {d} {decl(w)}{n};")
    latched = [n for n in names if ports[n][0] == "input" and n != "clk"]
    for n in latched:
        lines.append(f"  reg {decl(ports[n][1])}{n}__q;")
    lines.append("  initial begin")
    lines += [f"    {n}__q = {n};" for n in latched]
    lines.append("  end")
    lines.append("  always @(posedge clk) begin")
    lines += [f"    {n}__q <= {n};" for n in latched]
    lines.append("  end")
    conns = [f".{n}({n}__q)" if n in latched else f".{n}({n})" for n in names]
    lines.append(f"  {top} {top} (" + ", ".join(conns) + ");")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def config_header(ports: dict[str, tuple[str, int]], *, waves: str | None = None,
                  rst_active_low: bool = False, input_latch: bool = False) -> str:
    """Return ``harness_config.h``: port widths and ``HAS_*`` flags as defines.

    ``waves`` is ``None`` (no tracing), ``"fst"`` or ``"vcd"``; ``input_latch``
    says that the top is :func:`input_latch_wrapper`'s wrapper.
    """
    lines = ["// generated by sim.fast_harness.config_header - do not edit", "#pragma once"]
    for name in REQUIRED_PORTS + OPTIONAL_PORTS:
        if name in ports:
            lines.append(f"#define W_{name.upper()} {ports[name][1]}")
    for name in OPTIONAL_PORTS:
        lines.append(f"#define HAS_{name.upper()} {int(name in ports)}")
    lines.append(f"#define RST_ACTIVE {0 if rst_active_low else 1}")
    lines.append(f"#define HARNESS_TRACE {int(bool(waves))}")
    lines.append(f"#define HARNESS_TRACE_FST {int(waves == 'fst')}")
    lines.append(f"#define HARNESS_INPUT_LATCH {int(input_latch)}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------- build
def build_harness(verilog_path: str | os.PathLike, top: str, *, waves: bool | str = False,
                  widths: dict[str, int] | None = None, rst_active_low: bool = False,
                  opt: str = "-O3", cflags: Sequence[str] = (), extra_args: Sequence[str] = (),
                  input_latch: bool = True, jobs: int | None = None,
                  cache_root: Path | None = None, rebuild: bool = False,
                  timeout: float | None = 3600) -> Path:
    """Compile the harness for ``top`` in ``verilog_path``; return the executable.

    Parameters
    ----------
    verilog_path : path
        Verilog source holding ``top`` (and every module it instantiates).
    top : str
        Top module name.
    waves : bool or {"auto", "fst", "vcd"}
        Build with tracing so that ``run_harness(wave=...)`` can dump a
        waveform.  ``True``/``"auto"``: FST (``--trace-fst``) where the lz4
        headers it needs are installed, else VCD (see
        :func:`sim.toolchain.fst_available`).  Tracing slows the model even
        when not dumping, hence a separate build.
    widths : dict, optional
        Port width overrides (``{"m_axis_out_tdata": 384}``); by default all
        widths come from the Verilog port declarations.
    rst_active_low : bool
        Drive ``rst`` low during reset instead of high.
    opt : str
        C++ optimisation level (one flag) for the model and the harness
        (``OPT_FAST``/``OPT_GLOBAL``).  Verilator's default ``-Os`` runs
        slowest; on the RoI engine ``-O3`` ran ~30 % faster than ``-O2``.
    cflags : sequence of str
        More C++ compiler flags (e.g. ``["-march=native"]``).
    extra_args : sequence of str
        More Verilator arguments (part of the cache key).
    input_latch : bool
        Put the design behind :func:`input_latch_wrapper` (inputs registered
        on the rising clock edge, set by the harness before that edge) so
        that Verilator evaluates the logic fed by inputs once per cycle
        instead of three times; same cycles and outputs for any design
        clocked on the rising edge of ``clk`` only.  Not used for waveform
        builds, nor where the port list cannot be read completely.
    jobs : int, optional
        Parallel compile jobs (default: CPU count).
    cache_root : Path, optional
        Build cache root (default ``build/sim``).
    rebuild : bool
        Build even if a cached executable exists.

    Returns
    -------
    Path
        The harness executable; ``<exe>.json`` next to it records the ports.
    """
    ok, why = toolchain.verilator_available()
    if not ok:
        raise RuntimeError(f"cannot build the harness: {why}")
    verilog_path = Path(verilog_path).resolve()
    text = verilog_path.read_text()
    ports = parse_ports(text, top)
    for name, w in (widths or {}).items():
        if name not in ports:
            raise ValueError(f"width override for unknown port {name!r}")
        ports[name] = (ports[name][0], int(w))
    check_ports(ports)
    fmt = toolchain.trace_format(waves) if waves else None
    # Waveform builds keep the plain two-phase clock (see input_latch_wrapper).
    wrapper = input_latch_wrapper(text, top, ports) if input_latch and not fmt else None
    header = config_header(ports, waves=fmt, rst_active_low=rst_active_low,
                           input_latch=wrapper is not None)
    # Verilator's own optimisation (-O3) plus fast X handling: X's are
    # resolved once at build time instead of randomised, which is what we
    # want for speed (Amaranth designs reset every register anyway).
    vargs = ["--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast",
             "--noassert", "-Wno-fatal", "-Wno-lint", "-Wno-style",
             "--top-module", f"{top}__harness" if wrapper else top, "--prefix", "Vtop", "-o", "harness",
             # One make variable per -MAKEFLAGS (Verilator splits the value
             # on blanks); OPT_SLOW only covers run-once construction code.
             "-MAKEFLAGS", f"OPT_FAST={opt}", "-MAKEFLAGS", f"OPT_GLOBAL={opt}",
             "-MAKEFLAGS", "OPT_SLOW=-O1"]
    for flag in cflags:
        vargs += ["-CFLAGS", flag]
    if fmt:
        vargs.append("--trace-fst" if fmt == "fst" else "--trace")
    vargs += list(extra_args)
    # The CPU is part of the key: -march=native objects do not travel.
    key_parts = (text, HARNESS_CPP.read_text(), header, wrapper, vargs, toolchain.verilator_version(), platform.machine(),
                 _cpu_model() if "-march=native" in cflags else "")

    def builder(bdir: Path) -> None:
        (bdir / "harness_config.h").write_text(header)
        sources = [HARNESS_CPP, verilog_path]
        if wrapper:
            (bdir / "harness_wrapper.v").write_text(wrapper)
            sources.append(bdir / "harness_wrapper.v")
        cmd = [toolchain.verilator_bin(), *vargs, "-j", str(jobs or os.cpu_count() or 1),
               "-Mdir", bdir / "obj", "-CFLAGS", f"-I{bdir}", *sources]
        toolchain.run_logged(cmd, cwd=bdir, env=toolchain.verilator_env(),
                             log=bdir / "build.log", timeout=timeout)
        exe = bdir / "obj" / "harness"
        if not exe.exists():
            raise toolchain.BuildError(f"verilator did not produce {exe}")
        (bdir / "obj" / "harness.json").write_text(json.dumps({
            "top": top, "verilog": str(verilog_path), "waves": fmt, "input_latch": bool(wrapper),
            "ports": {k: list(v) for k, v in ports.items()},
            # Inputs the harness does not know stay 0 for the whole run.
            "undriven_inputs": sorted(k for k, (d, _) in ports.items()
                                      if d == "input" and k not in REQUIRED_PORTS + OPTIONAL_PORTS),
        }, indent=1))

    tag = f"harness-{top}" + (f"-{fmt}" if fmt else "")
    bdir, _ = toolchain.cached_build(tag, key_parts, builder, root=cache_root, rebuild=rebuild)
    return bdir / "obj" / "harness"


def _cpu_model() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return "?"


# ----------------------------------------------------------------- results
@dataclass
class HarnessResult:
    """What one harness run produced.

    Attributes
    ----------
    beat_words : numpy.ndarray
        ``(n_beats, words)`` uint32, the ``m_axis_out_tdata`` of each
        accepted beat, least significant word first.
    last : numpy.ndarray
        ``(n_beats,)`` bool, ``m_axis_out_tlast`` of each beat.
    regs : dict
        ``{addr: value}`` of the final register reads (in order).
    cycles : int
        Cycles from the first accepted descriptor to the last output beat,
        both included (0 if either never happened).
    summary : dict
        Every counter the harness reports (see :data:`SUMMARY_KEYS`).
    ar_log : numpy.ndarray
        Structured array (cycle, addr, len, size, burst, id) of accepted ARs.
    messages : list of str
        Protocol violations, bad reads, timeouts (first 32).
    wall_s : float
        Wall time of the whole run seen from Python (process start to parse).
    out_width : int
        Width of ``m_axis_out_tdata`` in bits.
    wave : Path or None
        The waveform file written, if one was requested.
    frame_ends : numpy.ndarray
        Cycle (harness count) of each accepted beat with ``tlast``.
    """
    beat_words: np.ndarray
    last: np.ndarray
    regs: dict
    cycles: int
    summary: dict
    ar_log: np.ndarray
    messages: list = field(default_factory=list)
    wall_s: float = 0.0
    out_width: int = 0
    wave: Path | None = None
    frame_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))

    @property
    def status(self) -> str:
        """``"ok"`` or ``"timeout"``."""
        return _STATUS.get(self.summary.get("status", 2), "error")

    @property
    def beats(self) -> list[int]:
        """Output beats as Python integers (``tdata`` of any width)."""
        return [_words_to_int(row) for row in self.beat_words]

    @property
    def sim_wall_s(self) -> float:
        """Seconds spent in the C++ simulation loop only."""
        return self.summary.get("sim_wall_ns", 0) / 1e9

    @property
    def cycles_per_s(self) -> float:
        """Simulated clock cycles per wall second (simulation loop only)."""
        return self.summary["cycles_total"] / self.sim_wall_s if self.sim_wall_s else 0.0

    @property
    def cycles_per_cpu_s(self) -> float:
        """Simulated clock cycles per CPU second of the harness process (robust to other load)."""
        cpu = self.summary.get("sim_cpu_ns", 0) / 1e9
        return self.summary["cycles_total"] / cpu if cpu else 0.0

    def beat_bytes(self) -> bytes:
        """All beats' ``tdata`` concatenated, each as ``ceil(width/8)`` bytes."""
        nb = (self.out_width + 7) // 8
        return self.beat_words.astype("<u4").view(np.uint8).reshape(len(self.last), -1)[:, :nb].tobytes()

    def frames(self) -> list[list[int]]:
        """Beats split after every ``tlast`` (a trailing unterminated frame included)."""
        frames, cur = [], []
        for b, l in zip(self.beats, self.last):
            cur.append(b)
            if l:
                frames.append(cur)
                cur = []
        if cur:
            frames.append(cur)
        return frames


def _words_to_int(row) -> int:
    v = 0
    for i, w in enumerate(row):
        v |= int(w) << (32 * i)
    return v


def _int_to_words(value: int, nwords: int, width: int) -> list[int]:
    if value < 0 or value >> width:
        raise ValueError(f"descriptor value {value:#x} does not fit in {width} bits")
    return [(value >> (32 * i)) & 0xFFFF_FFFF for i in range(nwords)]


# --------------------------------------------------------------- file codec
def _section(tag: int, payload: bytes) -> bytes:
    return struct.pack("<IIQ", tag, 0, len(payload)) + payload


def _prob(p: float) -> int:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"probability {p} outside [0, 1]")
    return 65536 if p >= 1.0 else int(round(p * 65536))


def pack_input(*, memory, reg_writes, start_sequence, descriptors, roi_width: int,
               final_reads: Iterable[int] = (), config: dict) -> bytes:
    """Encode one run's stimulus in the harness input format (see module doc)."""
    out = [struct.pack("<II", MAGIC_IN, VERSION)]
    cfg = b"".join(struct.pack("<QQ", CONFIG_KEYS[k], int(v)) for k, v in config.items())
    out.append(_section(T_CONFIG, cfg))
    regions = [(0, memory)] if isinstance(memory, (bytes, bytearray, memoryview)) else memory
    for base, data in regions:
        out.append(_section(T_MEMORY, struct.pack("<Q", base) + bytes(data)))
    out.append(_section(T_CFG_WRITES, b"".join(struct.pack("<II", a, d & 0xFFFF_FFFF)
                                               for a, d in reg_writes)))
    out.append(_section(T_START_WRITES, b"".join(struct.pack("<II", a, d & 0xFFFF_FFFF)
                                                 for a, d in start_sequence)))
    out.append(_section(T_FINAL_READS, b"".join(struct.pack("<I", a) for a in final_reads)))
    nw = (roi_width + 31) // 32
    if isinstance(descriptors, tuple) and len(descriptors) == 2 and isinstance(descriptors[0], np.ndarray):
        data, last = descriptors                       # fast path: arrays
        data = np.asarray(data, dtype=np.uint64)
        if nw > 2 or (roi_width < 64 and np.any(data >> np.uint64(roi_width))):
            raise ValueError("array descriptors need s_axis_roi_tdata <= 64 bits and values that fit")
        rec = np.zeros((len(data), nw + 1), dtype="<u4")
        rec[:, 0] = data & np.uint64(0xFFFF_FFFF)
        if nw == 2:
            rec[:, 1] = data >> np.uint64(32)
        rec[:, nw] = np.asarray(last, dtype=bool)
        body = rec.tobytes()
    else:
        parts = []
        for value, last in descriptors:
            words = (_int_to_words(int(value), nw, roi_width) if not isinstance(value, (list, tuple))
                     else list(value))
            if len(words) != nw:
                raise ValueError(f"descriptor has {len(words)} words, expected {nw}")
            parts.append(struct.pack(f"<{nw + 1}I", *words, int(bool(last))))
        body = b"".join(parts)
    out.append(_section(T_DESCRIPTORS, struct.pack("<II", nw, 0) + body))
    return b"".join(out)


_AR_DTYPE = np.dtype([("cycle", "<u8"), ("addr", "<u8"), ("len", "<u4"), ("size", "u1"),
                      ("burst", "u1"), ("id", "<u2")])


def parse_output(blob: bytes, out_width: int) -> HarnessResult:
    """Decode the harness output file into a :class:`HarnessResult`."""
    magic, version = struct.unpack_from("<II", blob, 0)
    if magic != MAGIC_OUT or version != VERSION:
        raise HarnessError("bad harness output file")
    pos, summary, regs, messages = 8, {}, {}, []
    words = np.zeros((0, (out_width + 31) // 32), dtype=np.uint32)
    last = np.zeros(0, dtype=bool)
    ar_log = np.zeros(0, dtype=_AR_DTYPE)
    frame_ends = np.zeros(0, dtype=np.uint64)
    while pos < len(blob):
        tag, _, n = struct.unpack_from("<IIQ", blob, pos)
        pos += 16
        payload = blob[pos:pos + n]
        pos += n
        if tag == O_SUMMARY:
            kv = np.frombuffer(payload, dtype="<u8").reshape(-1, 2)
            summary = {SUMMARY_KEYS.get(int(k), f"key{int(k)}"): int(v) for k, v in kv}
        elif tag == O_BEATS:
            nw = struct.unpack_from("<I", payload, 0)[0]
            rec = np.frombuffer(payload[8:], dtype="<u4").reshape(-1, nw + 1)
            words, last = rec[:, :nw].copy(), rec[:, nw].astype(bool)
        elif tag == O_REGS:
            for a, v in np.frombuffer(payload, dtype="<u4").reshape(-1, 2):
                regs[int(a)] = int(v)
        elif tag == O_ARLOG:
            ar_log = np.frombuffer(payload, dtype=_AR_DTYPE).copy()
        elif tag == O_FRAME_ENDS:
            frame_ends = np.frombuffer(payload, dtype="<u8").copy()
        elif tag == O_MESSAGES:
            messages = payload.decode(errors="replace").splitlines()
    for k in ("first_desc_cycle", "last_out_cycle", "done_cycle"):
        if summary.get(k) == _NONE:
            summary[k] = None
    return HarnessResult(beat_words=words, last=last, regs=regs, cycles=summary.get("cycles", 0),
                         summary=summary, ar_log=ar_log, messages=messages, out_width=out_width,
                         frame_ends=frame_ends)


# --------------------------------------------------------------------- run
def run_harness(binary: str | os.PathLike, memory, reg_writes: Sequence[tuple[int, int]],
                start_sequence: Sequence[tuple[int, int]], done_reg: int,
                descriptors, *, done_mask: int = 0xFFFF_FFFF, done_value: int | None = None,
                final_reads: Iterable[int] = (), latency: int | tuple[int, int] = 1,
                max_outstanding: int = 8, p_arready: float = 1.0, p_rvalid: float = 1.0,
                p_out_ready: float = 1.0, p_roi_valid: float = 1.0, seed: int = 1,
                max_cycles: int = 10_000_000, reset_cycles: int = 8, poll_interval: int = 16,
                expect_beats: int = 0, drain_cycles: int = 0, stream_before_start: bool = False,
                rresp_error_beat: int | None = None, record_ar: bool = True,
                wave: str | os.PathLike | None = None, wave_cycles: int = 0,
                progress=None, progress_interval: int = 1 << 18, timeout: float | None = None,
                workdir: str | os.PathLike | None = None, check: bool = True) -> HarnessResult:
    """Run one simulation on a harness built by :func:`build_harness`.

    Parameters
    ----------
    binary : path
        The executable :func:`build_harness` returned.
    memory : bytes or list of (int, bytes)
        Memory image at address 0, or ``(base, data)`` regions.  Reads
        outside every region answer SLVERR and count as ``bad_reads``.
    reg_writes : sequence of (addr, data)
        AXI4-Lite writes after reset (configuration).
    start_sequence : sequence of (addr, data)
        Writes that start the design (after ``reg_writes``).
    done_reg : int
        Register polled until ``value & done_mask == done_value``.
    descriptors : list of (value, tlast), or (ndarray, ndarray)
        Descriptor beats: ``value`` an int (any width) or a list of 32-bit
        words least significant first; or two arrays (values, tlast flags).
    done_mask, done_value : int
        Done condition (``done_value`` defaults to ``done_mask``: all set).
    final_reads : iterable of int
        Registers read at the end (into ``result.regs``).
    latency : int or (int, int)
        Cycles from AR acceptance to the first possible R beat; a pair draws
        uniformly per burst.
    max_outstanding : int
        Read bursts accepted and not yet completed, at most (arready low beyond).
    p_arready, p_rvalid, p_out_ready, p_roi_valid : float
        Per-cycle probability of ``arready``, of offering the next R beat, of
        ``m_axis_out_tready`` and of offering the next descriptor.
    seed : int
        Seed for all random choices (same seed, same run).
    max_cycles : int
        Cycle budget; running out ends the run with status ``"timeout"``.
    reset_cycles, poll_interval, expect_beats, drain_cycles : int
        See the module docstring for the run sequence.
    stream_before_start : bool
        Offer descriptors already before the start sequence.
    rresp_error_beat : int, optional
        Answer the n-th (1-based) R beat with SLVERR.
    record_ar : bool
        Return the AR log.
    wave : path, optional
        Write a waveform here (harness built with ``waves``); the suffix is
        set to the format the harness was built for (``.fst`` or ``.vcd``)
        and the path actually written is ``result.wave``.
    wave_cycles : int
        Record only the first ``wave_cycles`` cycles (0: all).  A VCD of a
        million-cycle run of the whole engine takes gigabytes.
    progress : callable, optional
        ``progress(cycles, beats)`` is called about every ``progress_interval``
        simulated cycles while the run goes on (e.g. to update a progress bar).
    progress_interval : int
        Cycles between progress calls.
    timeout : float, optional
        Wall-clock limit for the process in seconds.
    workdir : path, optional
        Where the input/output files go (default: a temporary directory).
    check : bool
        Raise :class:`HarnessTimeout` / :class:`HarnessError` on a timeout or
        protocol errors instead of returning the result.

    Returns
    -------
    HarnessResult
    """
    binary = Path(binary)
    meta = json.loads(binary.with_name(binary.name + ".json").read_text())
    ports = meta["ports"]
    if wave is not None:
        if not meta.get("waves"):
            raise ValueError("wave= needs a harness built with waves=True")
        wave = Path(wave).with_suffix("." + meta["waves"]).resolve()
    lat = (latency, latency) if isinstance(latency, int) else tuple(latency)
    if lat[0] < 1 or lat[1] < lat[0]:
        raise ValueError("latency must be >= 1 (min <= max)")
    config = {
        "max_cycles": max_cycles, "seed": seed, "reset_cycles": reset_cycles,
        "lat_min": lat[0], "lat_max": lat[1], "max_outstanding": max_outstanding,
        "p_arready": _prob(p_arready), "p_rvalid": _prob(p_rvalid),
        "p_out_ready": _prob(p_out_ready), "p_roi_valid": _prob(p_roi_valid),
        "done_reg": done_reg, "done_mask": done_mask,
        "done_value": done_mask if done_value is None else done_value,
        "poll_interval": poll_interval, "expect_beats": expect_beats,
        "drain_cycles": drain_cycles, "stream_before_start": int(stream_before_start),
        "rresp_error_beat": rresp_error_beat or 0, "record_ar": int(record_ar),
        "progress_interval": progress_interval if progress else 0, "wave_cycles": wave_cycles,
    }
    if max_outstanding < 1 or p_arready == 0 or p_rvalid == 0 or p_out_ready == 0 or p_roi_valid == 0:
        raise ValueError("max_outstanding must be >= 1 and no probability may be 0")
    blob = pack_input(memory=memory, reg_writes=reg_writes, start_sequence=start_sequence,
                      descriptors=descriptors, roi_width=ports["s_axis_roi_tdata"][1],
                      final_reads=final_reads, config=config)
    out_width = ports["m_axis_out_tdata"][1]
    with tempfile.TemporaryDirectory(prefix="harness-", dir=workdir) as tmp:
        fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
        fin.write_bytes(blob)
        cmd = [str(binary), str(fin), str(fout)] + (["--wave", str(wave)] if wave else [])
        t0 = time.perf_counter()
        rc, stdout, stderr = _run_process(cmd, timeout, progress)
        if rc != 0 or not fout.exists():
            raise HarnessError(f"harness exited with {rc}:\n{stdout[-4000:]}{stderr[-4000:]}")
        result = parse_output(fout.read_bytes(), out_width)
        result.wall_s = time.perf_counter() - t0
        result.wave = wave
    if check:
        if result.status == "timeout":
            raise HarnessTimeout(f"harness timed out after {result.summary['cycles_total']} cycles "
                                 f"({result.summary['beats']} beats out):\n" + "\n".join(result.messages),
                                 result)
        if result.summary.get("protocol_errors"):
            raise HarnessError("AXI protocol errors:\n" + "\n".join(result.messages), result)
    return result


def _run_process(cmd: list, timeout: float | None, progress) -> tuple[int, str, str]:
    """Run the harness; feed its ``progress <cycles> <beats>`` lines to ``progress``."""
    if progress is None:
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise HarnessTimeout(f"harness process exceeded {timeout} s wall clock") from exc
        return proc.returncode, proc.stdout, proc.stderr
    with tempfile.TemporaryFile("w+") as err, subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=err, text=True) as proc:
        timer, killed = None, []
        if timeout:
            import threading

            def kill():
                killed.append(True)
                proc.kill()
            timer = threading.Timer(timeout, kill)
            timer.start()
        other = []
        try:
            for line in proc.stdout:
                parts = line.split()
                if len(parts) == 3 and parts[0] == "progress":
                    progress(int(parts[1]), int(parts[2]))
                else:
                    other.append(line)
            rc = proc.wait()
        finally:
            if timer:
                timer.cancel()
        if killed:
            raise HarnessTimeout(f"harness process exceeded {timeout} s wall clock")
        err.seek(0)
        return rc, "".join(other), err.read()
