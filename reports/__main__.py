"""``make report`` (``python -m reports``): how big and how fast the engine is.

Builds ``reports/out/report.md``, ``report.html``, ``report.json`` (every
figure, each with its provenance) and three PNG plots:

1. ECP5 size and speed of the LANES x dtype sweep (:mod:`reports.sweep`),
   and of builds sized for the workloads the default build cannot hold;
2. cycles, time and RoIs/s of every standard workload on the engine, beside
   a GPU (files from ``host.gpu_bench``) and a CPU (:mod:`reports.comparison`);
3. provenance of every figure: measured, modelled or derived; where; when;
   which commit (flagged when the tree has uncommitted changes).

A full run also writes ``reports/data/fpga-default.json`` (the default
configuration's figures, which ``make sim`` reads).  Everything slow is
cached (place and route by Verilog content and options, RTL simulations and
CPU timings by sources, versions and machine), so a second run is fast.

``--quick`` (``make report QUICK=1``): two small configurations, one seed,
the RTL only for workloads within a small cycle budget; for CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tqdm import tqdm

from golden.workloads import WORKLOADS
from sim import SIMULATORS

from . import comparison, plots, sweep
from .document import Document
from .provenance import REPO_ROOT, git_state, machine, stamp
from .sweep import FpgaSettings

REPORT_SCHEMA = 1
OUT_DIR = REPO_ROOT / "reports" / "out"
DATA_DIR = REPO_ROOT / "reports" / "data"
PLOT_FILES = {"throughput": "throughput_vs_luts.png", "cycles": "cycles_vs_area.png",
              "times": "workload_times.png"}


@dataclass
class Options:
    """What one report run covers; :func:`full_options` and :func:`quick_options` are the presets."""

    mode: str
    lanes: tuple
    dtypes: tuple
    sizes: dict
    fpga: FpgaSettings
    workloads: tuple = WORKLOADS
    engine_lanes: int = 8
    engine_dtype: str = "int16"
    reference: str = "fast-rcnn-vgg16"
    rtl_max_cycles: float = 1e8
    simulator: str = "verilator"
    cpu_runs: int = 5
    workload_builds: bool = True
    write_data: bool = True
    refresh: bool = False
    out_dir: Path = OUT_DIR
    data_dir: Path = DATA_DIR
    progress: bool | None = None
    extra: dict = field(default_factory=dict)
    #: The command line that ran the report, for its captions (``None``:
    #: ``make report``, with ``QUICK=1`` in quick mode).
    command: str | None = None
    #: ``(lanes, dtype)`` pairs to sweep instead of ``lanes`` x ``dtypes`` (a
    #: partial sweep, e.g. the configurations measured so far); ``None``: all.
    pairs: tuple | None = None
    #: Show a configuration whose current Verilog was never placed and routed
    #: with its row recorded for an earlier RTL, marked (reports/sweep.py),
    #: instead of hours of tools; never for the default configuration.
    earlier_rtl: bool = False

    def sweep_pairs(self) -> list[tuple[int, str]]:
        """The configurations of the sweep, in table order (dtype-major)."""
        return list(self.pairs) if self.pairs else [(lanes, dt) for dt in self.dtypes for lanes in self.lanes]


def full_options(**kw) -> Options:
    """The whole sweep, three seeds, workload builds, ``fpga-default.json``."""
    return replace(Options(mode="full", lanes=sweep.SWEEP_LANES, dtypes=sweep.SWEEP_DTYPES, sizes={},
                           fpga=FpgaSettings(seeds=(1, 2, 3)), earlier_rtl=True), **kw)


def quick_options(**kw) -> Options:
    """CI: two small configurations, one seed, small RTL budget, nothing written to reports/data."""
    return replace(Options(mode="quick", lanes=sweep.QUICK_LANES, dtypes=sweep.QUICK_DTYPES,
                           sizes=dict(sweep.QUICK_SIZES), fpga=FpgaSettings(seeds=(1,)), reference="small",
                           rtl_max_cycles=1e5, cpu_runs=3, workload_builds=False, write_data=False), **kw)


# --------------------------------------------------------------------------
# building the figures
# --------------------------------------------------------------------------

def _workload_problem(name: str, dtype: str):
    """The validated problem of a standard workload in ``dtype``."""
    from golden.workloads import make_workload
    return comparison.workload_problem(make_workload(name, dtype=dtype))


def _sized_for(lanes: int, dtype: str, problem) -> dict:
    """The default-size build on ``lanes`` x ``dtype``, with the maxima raised
    where ``problem`` needs it (the build the simulator sizes for it,
    :func:`sim.engine.fit_params`; unchanged where it holds the problem)."""
    from sim.engine import fit_params
    return fit_params(sweep.engine_kwargs(lanes, dtype), problem)[0]


def _row_of(rows: list[dict], kwargs: dict) -> dict | None:
    """The sweep row of the build ``kwargs`` (its engine record holds every parameter given)."""
    return next((r for r in rows if all(r["engine"].get(k) == v for k, v in kwargs.items())), None)


def workload_engines(opts: Options, configs: list[dict], sweep_rows: list[dict]) -> tuple[list[dict], dict]:
    """Place and route the builds the workloads need and choose each one's engine.

    A workload runs on the default lanes and type with the maxima raised
    where it needs it (:func:`_sized_for`).  Where that build does not fit
    the device, it runs on the widest narrower lane count of the sweep whose
    build, sized the same way, places and routes (a hardware engineer's next
    move: half the lanes, half the comparator slices); where none does, it
    stays on the default lanes and its note lists the builds tried.

    Returns
    -------
    builds : list of dict
        Sweep rows of the builds placed and routed here (the default build
        and the sized ones, those already in ``configs`` excepted).
    engines : dict
        ``{workload: {"lanes": int, "note": str or None, "brief": str or
        None}}``; the note says why a workload left the default lanes, or
        which narrower builds failed and why; ``brief`` says it in a few
        words (the README excerpt's caption).
    """
    dtype = opts.engine_dtype
    engines = {name: {"lanes": opts.engine_lanes, "note": None, "brief": None} for name in opts.workloads}
    if not opts.workload_builds:
        return [], engines
    earlier_rtl = earlier_rtl_rule(opts)
    problems = {name: _workload_problem(name, dtype) for name in opts.workloads}
    wanted = [sweep.engine_kwargs(opts.engine_lanes, dtype)]
    for problem in problems.values():
        kwargs = _sized_for(opts.engine_lanes, dtype, problem)
        if kwargs not in wanted:
            wanted.append(kwargs)
    builds = sweep.run_sweep([c for c in wanted if c not in configs], opts.fpga, progress=opts.progress,
                             desc="ECP5 workload builds", earlier_rtl=earlier_rtl)
    known = list(sweep_rows) + builds

    def row_for(kwargs: dict) -> dict:
        row = _row_of(known, kwargs)
        if row is None:
            (row,) = sweep.run_sweep([kwargs], opts.fpga, progress=opts.progress, desc="ECP5 workload builds",
                                     earlier_rtl=earlier_rtl)
            builds.append(row)
            known.append(row)
        return row

    narrower = sorted((n for n in set(sweep.SWEEP_LANES) if n < opts.engine_lanes), reverse=True)
    for name, problem in problems.items():
        row = _row_of(known, _sized_for(opts.engine_lanes, dtype, problem))
        if row is None or row["status"] != "does not fit":
            continue
        why = f"its build {row['label']} does not fit the device ({row.get('reason')})"
        failed, brief = [], []
        for fewer in narrower:
            other = row_for(_sized_for(fewer, dtype, problem))
            if other["status"] == "ok":
                engines[name] = {"lanes": fewer, "note": f"runs on L{fewer} {dtype}, as {why}",
                                 "brief": f"on L{fewer} {dtype} ({row['label']} does not fit)"}
                break
            failed.append(f"{other['label']}: {other['status']} ({other.get('reason')})")
            brief.append(f"{other['label']}: {other['status']}")
        else:
            engines[name].update(note=f"{why}, and no narrower build placed either: " + "; ".join(failed),
                                 brief=f"{row['label']} does not fit; " + "; ".join(brief))
    return builds, engines


def earlier_rtl_rule(opts: Options):
    """Which configurations may show a row recorded for an earlier RTL
    (``sweep.run_sweep``'s ``earlier_rtl``): with ``opts.earlier_rtl``, all
    but the default configuration, whose fmax is the engine's headline
    figure and so is always measured on the current Verilog."""
    default_kwargs = sweep.engine_kwargs(opts.engine_lanes, opts.engine_dtype)
    return lambda kwargs: opts.earlier_rtl and kwargs != default_kwargs


def build_report(opts: Options) -> dict:
    """Measure (or fetch from the caches) every figure and write the report files.

    Returns the report as written to ``report.json``.
    """
    t_start = time.perf_counter()
    # The run's git state before this run writes reports/data/ (which would
    # otherwise make every full run look like one on uncommitted sources).
    run = stamp("derived", f"python -m reports ({opts.mode}) on {machine()}")
    steps = {}
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    # 1. the sweep
    t0 = time.perf_counter()
    configs = [sweep.engine_kwargs(lanes, dt, opts.sizes) for lanes, dt in opts.sweep_pairs()]
    default_kwargs = sweep.engine_kwargs(opts.engine_lanes, opts.engine_dtype)
    earlier_rtl = earlier_rtl_rule(opts)
    rows = sweep.run_sweep(configs, opts.fpga, progress=opts.progress, desc="ECP5 sweep", earlier_rtl=earlier_rtl)
    steps["fpga_sweep_s"] = time.perf_counter() - t0

    # 2. the default configuration and builds sized for the workloads
    t0 = time.perf_counter()
    extra_rows, engines = workload_engines(opts, configs, rows)
    steps["fpga_workload_builds_s"] = time.perf_counter() - t0
    builds = rows + extra_rows
    default_row = _row_of(builds, default_kwargs)
    # reports/data/ is written at the end (see below), so that the
    # provenance of every figure of this run sees the git state it ran on.
    default_path = Path(opts.data_dir) / sweep.DEFAULT_RECORD.name
    write_default = opts.write_data and default_row is not None and default_row["status"] == "ok"
    default_rec = None if default_row is not None else sweep.read_default_record(default_path)

    # 3. throughput of every routed configuration on the reference workload
    t0 = time.perf_counter()
    model_cache: dict = {}
    comparison.reference_throughput(opts.reference, builds, cache=model_cache)
    steps["throughput_s"] = time.perf_counter() - t0

    # 4. workloads: cycles, engine time, GPU, CPU
    t0 = time.perf_counter()
    gpu_files = comparison.read_gpu_files(opts.data_dir)
    show = sys.stderr.isatty() if opts.progress is None else opts.progress
    wrows = []
    for name in tqdm(opts.workloads, desc="workloads (cycles, CPU timing)", unit="workload", disable=not show):
        row = comparison.workload_row(
            name, lanes=engines[name]["lanes"], dtype=opts.engine_dtype, builds=builds, default_record=default_rec,
            gpu_files=gpu_files, rtl_max_cycles=opts.rtl_max_cycles, cpu_runs=opts.cpu_runs,
            simulator=opts.simulator, refresh=opts.refresh, progress=show)
        wrows.append({**row, "engine_note": engines[name]["note"], "engine_brief": engines[name]["brief"]})
    steps["workloads_s"] = time.perf_counter() - t0

    # 5. plots
    t0 = time.perf_counter()
    plot_entries = []
    p = out_dir / PLOT_FILES["throughput"]
    lines, pareto = plots.throughput_vs_luts(builds, p, settings_text=opts.fpga.describe())
    plot_entries.append({"file": p.name, "title": "Throughput against LUT4 across the sweep (Pareto front marked)",
                         "provenance": lines})
    p = out_dir / PLOT_FILES["cycles"]
    lines = plots.cycles_vs_area(wrows, p)
    plot_entries.append({"file": p.name, "title": "Cycles per RoI against clipped RoI area (RTL, model, bound)",
                         "provenance": lines})
    p = out_dir / PLOT_FILES["times"]
    lines = plots.workload_times(wrows, p)
    plot_entries.append({"file": p.name, "title": "FPGA vs GPU vs CPU per workload (log scale)",
                         "provenance": lines})
    steps["plots_s"] = time.perf_counter() - t0

    report = {
        "schema": REPORT_SCHEMA,
        "mode": opts.mode,
        "command": opts.command or f"make report{' QUICK=1' if opts.mode == 'quick' else ''}",
        "run": run,
        "settings": _settings(opts),
        "fpga": {"configs": rows, "workload_builds": extra_rows, "pareto": pareto,
                 "default_label": None if default_row is None else default_row["label"],
                 "default_record_written": str(default_path) if write_default else None, "archive_written": None,
                 "default_record_used": None if default_rec is None else
                 {k: default_rec[k] for k in ("source", "stale", "fmax_mhz", "hdl_sha256")}},
        "workloads": wrows,
        "gpu_files": [{k: v for k, v in f.items() if k != "rows"} for f in gpu_files],
        "plots": plot_entries,
    }
    if opts.write_data:
        path = sweep.archive_rows(builds, opts.fpga)
        report["fpga"]["archive_written"] = None if path is None else str(path)
    if write_default:
        default_path.parent.mkdir(parents=True, exist_ok=True)
        default_path.write_text(json.dumps(sweep.default_record(default_row, opts.fpga), indent=2) + "\n")
    steps["total_s"] = time.perf_counter() - t_start
    report["timing"] = {k: round(v, 2) for k, v in steps.items()}
    doc = render(report)
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out_dir / "report.md").write_text(doc.markdown())
    (out_dir / "report.html").write_text(doc.html())
    (out_dir / "readme-excerpt.md").write_text(excerpt(report).markdown())
    return report


def _settings(opts: Options) -> dict:
    d = asdict(opts)
    d["fpga"] = {**asdict(opts.fpga), "part": opts.fpga.part}
    return json.loads(json.dumps(d, default=str))


# --------------------------------------------------------------------------
# rendering
# --------------------------------------------------------------------------

def _num(v, fmt="{:,}", none="-"):
    return none if v is None else fmt.format(v)


def _ms(v):
    if v is None:
        return None
    return f"{v:.3g}" if v < 100 else f"{v:,.0f}"


def _engine_ms(r):
    """A workload's FPGA time, or why it has none (``does not fit``, ``not measured``)."""
    return _ms(r["engine"]["time_ms"]) or r["engine"].get("status", "not measured")


def _rate(v):
    return "-" if v is None else f"{v:,.0f}"


def _fmax_cell(r):
    if r["fmax_mhz_median"] is None:
        return "-"
    known = [v for v in r["fmax_mhz_per_seed"] if v is not None]
    spread = f" [{r['fmax_mhz_min']:.1f}-{r['fmax_mhz_max']:.1f}]" if len(known) > 1 else ""
    return f"{r['fmax_mhz_median']:.1f}{spread}"


def _config_table(doc: Document, rows: list[dict], settings: FpgaSettings) -> None:
    header = ["configuration", "status", "bus bits"] + [t for _, t in sweep.RESOURCE_FIELDS] + [
        "fmax MHz (median [min-max])", "RoIs/s (reference)", "tool time s", "measured"]
    body = []
    for r in rows:
        demand = " (demand)" if r.get("figures_are") else ""
        res = [_num(r[k]) + (demand if r[k] is not None else "") for k, _ in sweep.RESOURCE_FIELDS]
        tp = r.get("throughput")
        body.append([r["label"], r["status"] + (f": {r['reason']}" if r["reason"] else "") + _earlier_text(r),
                     r["data_bits"], *res,
                     _fmax_cell(r), _rate(tp["rois_per_s"]) if tp else "-",
                     _num(r.get("runtime_s"), "{:,.0f}"), r["provenance"]["when"][:10]])
    avail = {}
    for r in rows:
        avail.update({bel: v["available"] for bel, v in (r.get("utilisation") or {}).items()})
    note = (f"{settings.part} has {avail.get('TRELLIS_COMB', '?')} LUT4 sites, {avail.get('TRELLIS_FF', '?')} FFs, "
            f"{avail.get('DP16KD', '?')} DP16KD, {avail.get('MULT18X18D', '?')} MULT18X18D, "
            f"{avail.get('TRELLIS_RAMW', '?')} RAMW. " if avail else "")
    if any(r.get("earlier_rtl") for r in rows):
        note += ("'earlier RTL': the current sources generate other Verilog for this configuration, which has not "
                 "been placed and routed; the row is the one recorded in reports/data/fpga-rows.json at the named "
                 "commit (`python -m reports --no-earlier-rtl` measures it again). ")
    doc.table(header, body, note=note + "LUT4 counts logic LUTs plus two per carry cell, before packing; "
                                        "'(demand)' marks what nextpnr logged for a design it could not place.")


def _earlier_text(r: dict) -> str:
    """``"; earlier RTL (commit abc1234)"`` for a row recorded for an earlier RTL, else ``""``."""
    e = r.get("earlier_rtl")
    return f"; earlier RTL (commit {(e['commit'] or '?')[:7]})" if e else ""


def median_seed(r: dict) -> int | None:
    """Index of the seed whose fmax is the row's median (the lower one of an even count), or ``None``."""
    known = sorted((f, i) for i, f in enumerate(r.get("fmax_mhz_per_seed") or []) if f is not None)
    return known[(len(known) - 1) // 2][1] if known else None


def _critical_path_table(doc: Document, rows: list[dict]) -> None:
    """What limits each routed configuration: nextpnr's critical path on its median seed."""
    body = []
    for r in rows:
        i = median_seed(r)
        path = None if i is None else r["critical_path_per_seed"][i]
        if path is None:
            continue
        net = path.get("longest_net") or {}
        span = (f" ({net['from_loc'][0]},{net['from_loc'][1]}) -> ({net['to_loc'][0]},{net['to_loc'][1]})"
                if net.get("from_loc") and net.get("to_loc") else "")
        body.append([r["label"] + _earlier_text(r), r["seeds"][i], f"{r['fmax_mhz_per_seed'][i]:.1f}",
                     f"`{path['start_signal']}` -> `{path['end_signal']}`", f"{path['delay_ns']:.1f}",
                     f"{path['routing_ns']:.1f}", path["logic_levels"],
                     f"`{net.get('net', '?')}` {net['ns']:.1f} ns{span}" if net else "-"])
    if body:
        doc.para("What limits fmax: nextpnr's critical path on each configuration's median seed (start and end "
                 "register as the design names them; routing = the path's interconnect delay).")
        doc.table(["configuration", "seed", "fmax MHz", "critical path", "ns", "routing ns", "logic levels",
                   "longest net (tiles)"], body)


def render(report: dict) -> Document:
    """The report as a :class:`Document` (written as Markdown and HTML)."""
    st = report["settings"]
    fs = FpgaSettings(**{k: (tuple(v) if k == "seeds" else v) for k, v in st["fpga"].items() if k != "part"})
    run = report["run"]
    doc = Document("RoIPool engine report")
    doc.para(f"`{report['command']}` ({report['mode']} mode), "
             f"{run['when']}, commit {run['commit_text']}, on {machine()}. Every figure carries its provenance "
             f"(measured / modelled / derived, where, when, commit) in `report.json`; the table at the end lists them.")
    if run["dirty"]:
        doc.para("The working tree had uncommitted changes: the commit alone does not identify the sources "
                 "these figures were measured on (see the hdl/Verilog hashes in report.json).", note=True)

    # ---- FPGA
    doc.heading("Size and speed on an ECP5")
    seeds = ", ".join(str(s) for s in fs.seeds)
    doc.para(f"Yosys `synth_ecp5` and nextpnr-ecp5 (YoWASP builds) on {fs.describe()}; seeds {seeds}, fmax is the "
             f"median post-route figure of the seeds that routed. Out of context: the engine's AXI ports are "
             f"wider than the package has pads, so no I/O buffers are placed and the clock is not promoted to "
             f"a global net. Engine sizes: {_sizes_text(st)}. Throughput is on `{st['reference']}` "
             f"(its RoIs x fmax / cycles).")
    _config_table(doc, report["fpga"]["configs"], fs)
    _critical_path_table(doc, report["fpga"]["configs"] + report["fpga"]["workload_builds"])
    if report["fpga"]["pareto"]:
        doc.para("Pareto-optimal (fewest LUTs for their throughput): " + ", ".join(report["fpga"]["pareto"]) + ".")
    doc.image(PLOT_FILES["throughput"], "throughput against LUT4 across the sweep")
    if report["fpga"]["workload_builds"]:
        doc.heading("Builds for the workloads", 3)
        doc.para(f"The default L{st['engine_lanes']} {st['engine_dtype']} build, and builds with the maxima raised "
                 "for the workloads it cannot hold (on fewer lanes where such a build does not fit the device); "
                 "their fmax projects those workloads' cycles to time.")
        _config_table(doc, report["fpga"]["workload_builds"], fs)
    if report["fpga"]["default_record_written"]:
        doc.para(f"Wrote `{Path(report['fpga']['default_record_written']).name}` (the default configuration's "
                 "figures, read by `make sim`).", note=True)
    used = report["fpga"]["default_record_used"]
    if used:
        doc.para(f"fmax of the default build taken from `{used['source']}` ({used['fmax_mhz']:.1f} MHz"
                 + ("; STALE: hdl/ changed since it was measured" if used["stale"] else "") + ").", note=True)

    # ---- workloads
    w = report["workloads"]
    doc.heading("Standard workloads on the engine")
    doc.para(f"L{st['engine_lanes']} {st['engine_dtype']} engine; bin edges in the default `{comparison.BIN_MODE}` mode "
             f"(torchvision's arithmetic; the host sends them as EDGES descriptors). "
             f"Cycles from the RTL (cycle-accurate simulation with {st['simulator']}) where the workload's bound "
             f"is within {st['rtl_max_cycles']:,.0f} cycles, else from the cycle model; the model is shown beside "
             f"the RTL. Time = cycles / fmax of a routed build that holds the workload. A workload whose "
             f"build does not fit the device runs on fewer lanes where such a build places and routes "
             f"(noted below the table).")
    body = []
    for r in w:
        c = r["cycles"]
        m = c["model"]
        rtl = c["rtl"]
        ratio = f"{c['cycles'] / r['bound']['cycles']:.3f}" if c["cycles"] else "-"
        mvr = (f"{m['cycles'] / rtl['cycles']:.3f}" if m.get("status") == "ok" and rtl.get("status") == "ok" else "-")
        fm = r["fmax"]
        body.append([r["workload"], r["num_rois"], _num(c["cycles"]), c["source"] or "none",
                     _num(r["bound"]["cycles"]), ratio,
                     _num(m.get("cycles")) if m.get("status") == "ok" else m.get("status"), mvr,
                     (f"{fm['fmax_mhz']:.1f} ({fm['build']}{', stale' if fm['stale'] else ''})"
                      if fm["fmax_mhz"] else fm.get("status", "not measured")),
                     _ms(r["engine"]["time_ms"]) or "-", _rate(r["engine"]["rois_per_s"])])
    doc.table(["workload", "RoIs", "cycles", "from", "bound", "cycles/bound", "model cycles", "model/RTL",
               "fmax MHz (build)", "time ms", "RoIs/s"], body)
    notes = []
    for r in w:
        if r.get("engine_note"):
            notes.append(f"`{r['workload']}`: {r['engine_note']}")
        rtl = r["cycles"]["rtl"]
        if rtl.get("status") != "ok":
            notes.append(f"`{r['workload']}` RTL: {rtl['status']} ({rtl.get('reason', '')})")
        if r["cycles"]["model"].get("status") != "ok":
            notes.append(f"`{r['workload']}` model: {r['cycles']['model'].get('reason')}")
        if not r["fmax"]["fmax_mhz"]:
            notes.append(f"`{r['workload']}` fmax: {r['fmax'].get('reason')}")
    if notes:
        doc.bullets(notes)
    doc.image(PLOT_FILES["cycles"], "cycles per RoI against clipped RoI area")

    # ---- engine vs GPU vs CPU
    doc.heading("Engine vs GPU vs CPU")
    devices = sorted({g["device"] for r in w for g in r["gpu"] if g["device"]})
    header = ["workload", f"FPGA ms ({st['engine_dtype']})"]
    for d in devices or [None]:
        header += [f"GPU {d or ''} ours ms ({st['engine_dtype']})".replace("  ", " "),
                   f"GPU {d or ''} torchvision ms (fp32)".replace("  ", " ")]
    header += [f"CPU golden ms ({st['engine_dtype']})", "CPU torchvision ms (fp32)"]
    header += [f"FPGA speed-up vs GPU {d}" for d in devices] + ["vs CPU golden", "vs CPU torchvision"]
    body = []
    for r in w:
        row = [r["workload"], _engine_ms(r)]
        for d in devices or [None]:
            g = next((g for g in r["gpu"] if g["device"] == d), None)
            for which in ("ours", "torchvision"):
                e = (g or {}).get(which) or {"status": "not measured"}
                row.append(_ms(e.get("ms")) or e["status"])
        for which in ("golden", "torchvision"):
            e = r["cpu"][which]
            row.append(_ms(e.get("ms")) or e["status"])
        sp = r["speedup"]
        row += [_x(sp.get(f"gpu:{d}")) for d in devices]
        row += [_x(sp.get("cpu_golden")), _x(sp.get("cpu_torchvision"))]
        body.append(row)
    doc.table(header, body, note="Speed-up = other time / FPGA time (above 1: the engine is faster), from the "
                                 "figures of this run. GPU figures come only from reports/data/gpu-*.json "
                                 "(python -m host.gpu_bench on a machine with a GPU); without one they read "
                                 "'not measured'. torchvision has no int16 kernel: its figures are float32.")
    doc.image(PLOT_FILES["times"], "time per workload: FPGA vs GPU vs CPU")

    # ---- provenance
    doc.heading("Provenance")
    doc.para("Every distinct provenance record in report.json: `measured` = produced by a tool, a simulator or a "
             "timer; `modelled` = the analytical cycle model; `derived` = arithmetic on figures that carry "
             "their own records.")
    groups: dict = {}
    for p in _walk_provenance(report):
        groups.setdefault((p["kind"], p["where"], p["commit_text"]), []).append(p["when"])
    rows = []
    for (kind, where, commit), whens in groups.items():
        first, last = min(whens), max(whens)
        rows.append([kind, where, first if first == last else f"{first} .. {last}", commit])
    doc.table(["kind", "where", "when (UTC)", "commit"], rows)
    for pe in report["plots"]:
        doc.para(f"`{pe['file']}`: " + " / ".join(pe["provenance"]), note=True)
    t = report["timing"]
    doc.para("Run time: " + ", ".join(f"{k[:-2].replace('_', ' ')} {v:.1f} s" for k, v in t.items()) + ".", note=True)
    return doc


def excerpt(report: dict) -> Document:
    """A short Markdown fragment for the README: the default build and the workload table."""
    st = report["settings"]
    doc = Document(None)
    rows = report["fpga"]["configs"] + report["fpga"]["workload_builds"]
    d = next((r for r in rows if r["label"] == report["fpga"]["default_label"]), None)
    run = report["run"]
    if d is not None and d["status"] == "ok":
        doc.para(f"Default engine ({d['label']}) on {st['fpga']['part']} {st['fpga']['package']}, out of context: "
                 f"{_num(d['lut4'])} LUT4, {_num(d['ff'])} FF, {_num(d['bram_dp16kd'])} DP16KD, "
                 f"{_num(d['dsp_mult18'])} MULT18X18D, fmax {_fmax_cell(d)} MHz (median of "
                 f"{len(d['seeds'])} seeds; {d['tools']['nextpnr']}).")
    body = []
    for r in report["workloads"]:
        g = r["gpu"][0]
        gpu = (f"{_ms(g['ours']['ms'])} ({g['device']})" if g["ours"].get("ms") else g["ours"]["status"])
        c = r["cycles"]
        body.append([f"`{r['workload']}`", _num(c["cycles"]) + (f" ({c['source']})" if c["source"] else ""),
                     f"{c['cycles'] / r['bound']['cycles']:.2f}" if c["cycles"] else "-",
                     _engine_ms(r), _rate(r["engine"]["rois_per_s"]), gpu,
                     _ms(r["cpu"]["golden"].get("ms")) or r["cpu"]["golden"]["status"],
                     _ms(r["cpu"]["torchvision"].get("ms")) or r["cpu"]["torchvision"]["status"]])
    doc.table(["workload", "engine cycles", "cycles / bound", "engine ms", "RoIs/s", f"GPU ms ({st['engine_dtype']})",
               f"CPU golden ms ({st['engine_dtype']})", "CPU torchvision ms (fp32)"], body,
              note=f"`{report['command']}`, {run['when'][:10]}, commit {run['commit_text']}; "
                   f"L{st['engine_lanes']} {st['engine_dtype']} engine"
                   + "".join(f"; `{r['workload']}`: {r['engine_brief']}" for r in report["workloads"]
                             if r.get("engine_brief"))
                   + f"; plot: `reports/out/{PLOT_FILES['times']}`.")
    return doc


def _x(v):
    return "-" if v is None else f"{v:.3g}x"


def _sizes_text(st: dict) -> str:
    if not st["sizes"]:
        return "the defaults (" + ", ".join(f"{k}={v}" for k, v in sweep.engine_defaults().items()
                                           if k not in ("lanes", "dtype")) + ")"
    return ", ".join(f"{k}={v}" for k, v in st["sizes"].items()) + " (others default)"


def _walk_provenance(obj):
    """Every provenance record in a report (dicts under a ``provenance`` key)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in ("provenance", "run") and isinstance(v, dict) and "kind" in v:
                yield v
            else:
                yield from _walk_provenance(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk_provenance(v)


# --------------------------------------------------------------------------
# command line
# --------------------------------------------------------------------------

def _pair(text: str) -> tuple[int, str]:
    """``"8:int16"`` -> ``(8, "int16")`` (argparse type of ``--configs``)."""
    lanes, sep, dtype = text.partition(":")
    if not sep or not lanes.isdigit() or not dtype:
        raise argparse.ArgumentTypeError(f"expected LANES:DTYPE such as 8:int16, not {text!r}")
    return int(lanes), dtype


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="CI preset: two small configurations, one seed")
    ap.add_argument("--lanes", type=int, nargs="+", help="sweep lanes (default 4 8 16 32)")
    ap.add_argument("--dtypes", nargs="+", help="sweep types (default int8 int16 bfloat16 float32)")
    ap.add_argument("--configs", nargs="+", metavar="LANES:DTYPE", type=_pair,
                    help="sweep exactly these configurations, e.g. 4:int8 8:int16 (instead of --lanes x --dtypes)")
    ap.add_argument("--seeds", type=int, nargs="+", help="placement seeds (default 1 2 3; quick: 1)")
    ap.add_argument("--jobs", type=int, default=1, help="configurations placed and routed at once (default 1)")
    ap.add_argument("--freq", type=float, default=150.0, help="nextpnr target MHz (default 150, the required fmax)")
    ap.add_argument("--workloads", nargs="+", choices=WORKLOADS, help="standard workloads (default all)")
    ap.add_argument("--reference", choices=WORKLOADS, help="workload of the sweep's throughput axis")
    ap.add_argument("--rtl-max-cycles", type=float,
                    help="simulate the RTL for workloads whose bound is at most this many cycles "
                         "(default 1e8: every standard workload; quick: 1e5); others use the cycle model")
    ap.add_argument("--simulator", default="verilator", choices=SIMULATORS,
                    help="RTL simulator (default verilator: the C++ harness)")
    ap.add_argument("--cpu-runs", type=int, help="CPU timing runs per median (default 5; quick: 3)")
    ap.add_argument("--no-workload-builds", action="store_true",
                    help="do not place and route builds sized for workloads the default build cannot hold")
    ap.add_argument("--no-write-data", action="store_true", help="do not write reports/data/fpga-default.json")
    ap.add_argument("--remeasure", action="store_true", help="re-run RTL simulations and CPU timings (not the cache)")
    ap.add_argument("--no-earlier-rtl", action="store_true",
                    help="place and route every configuration whose current Verilog has no result, instead of "
                         "showing its row recorded for an earlier RTL (reports/data/fpga-rows.json)")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output folder (default reports/out)")
    ap.add_argument("--data", type=Path, default=DATA_DIR,
                    help="folder of gpu-*.json and fpga-default.json (default reports/data)")
    ap.add_argument("--no-progress", action="store_true")
    a = ap.parse_args(argv)
    opts = quick_options() if a.quick else full_options()
    over = {}
    if a.lanes:
        over["lanes"] = tuple(a.lanes)
    if a.dtypes:
        over["dtypes"] = tuple(a.dtypes)
    if a.configs:
        if a.lanes or a.dtypes:
            ap.error("--configs replaces --lanes and --dtypes")
        over["pairs"] = tuple(a.configs)
    if a.workloads:
        over["workloads"] = tuple(a.workloads)
    if a.reference:
        over["reference"] = a.reference
    if a.rtl_max_cycles is not None:
        over["rtl_max_cycles"] = a.rtl_max_cycles
    if a.cpu_runs:
        over["cpu_runs"] = a.cpu_runs
    if a.no_workload_builds:
        over["workload_builds"] = False
    if a.no_write_data:
        over["write_data"] = False
    if a.no_earlier_rtl:
        over["earlier_rtl"] = False
    fpga_settings = replace(opts.fpga, jobs=a.jobs, freq_mhz=a.freq,
                            **({"seeds": tuple(a.seeds)} if a.seeds else {}))
    args = sys.argv[1:] if argv is None else list(argv)
    over["command"] = " ".join(["python -m reports", *args]) if args else None
    opts = replace(opts, fpga=fpga_settings, simulator=a.simulator, refresh=a.remeasure, out_dir=a.out,
                   data_dir=a.data, progress=False if a.no_progress else None, **over)
    report = build_report(opts)
    out = Path(opts.out_dir)
    print(f"wrote {out / 'report.md'}, report.html, report.json and {len(report['plots'])} plots "
          f"in {report['timing']['total_s']:.1f} s (commit {git_state()['commit_text']})")
    for r in report["fpga"]["configs"] + report["fpga"]["workload_builds"]:
        print(f"  {r['label']:<60} {r['status']:<16} LUT4 {_num(r['lut4']):>8}  fmax {_fmax_cell(r)}")
    for r in report["workloads"]:
        print(f"  {r['workload']:<20} {_num(r['cycles']['cycles']):>12} cycles ({r['cycles']['source']}), "
              + (f"{_ms(r['engine']['time_ms'])} ms" if r["engine"]["time_ms"]
                 else f"no FPGA time ({r['engine'].get('status') or 'no build'})"))
    if report["fpga"]["default_record_written"]:
        print(f"wrote {report['fpga']['default_record_written']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
