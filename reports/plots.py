"""The report's plots (matplotlib, Agg backend, PNG).

Each function draws one figure from report rows, writes it and returns the
provenance lines it printed at the bottom of the figure, so that a PNG
copied out of the report still says what is measured, what is modelled,
where, when and at which commit.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the backend)
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from .provenance import git_state, utc_now  # noqa: E402

DPI = 120
DTYPE_COLOURS = {"int8": "tab:blue", "int16": "tab:orange", "bfloat16": "tab:green", "float32": "tab:red",
                 "float16": "tab:purple"}


def _finish(fig, lines: list[str], top: float = 1.0) -> None:
    """Lay the axes out above a footer of provenance lines (commit and date first)."""
    state = git_state()
    text = [f"commit {state['commit_text']}; drawn {utc_now()}"] + lines
    width = int(fig.get_figwidth() / 0.062)            # characters of 6.5 pt monospace per line (with margin)
    wrapped = "\n".join(textwrap.fill(t, width) for t in text)
    n = wrapped.count("\n") + 1
    footer_in = 0.12 + 0.115 * n                       # 6.5 pt monospace lines
    frac = min(0.5, footer_in / fig.get_figheight())
    fig.tight_layout(rect=(0, frac, 1, top))
    fig.text(0.01, 0.005, wrapped, fontsize=6.5, va="bottom", ha="left", color="0.3", family="monospace")


def _plain_log_ticks(ax, which: str) -> None:
    """Tick labels like 3.5k / 120k / 2M instead of 3.5x10^3 on a log axis."""
    def fmt(v, _pos):
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= div:
                return f"{v / div:.3g}{suffix}"
        return f"{v:.3g}"
    lo, hi = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())   # get_*lim applies autoscaling
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_formatter(FuncFormatter(fmt))
    # Under about a decade and a half there may be no major (power of ten)
    # tick at all: label the minor ticks too.
    narrow = lo > 0 and hi / lo < 30
    axis.set_minor_formatter(FuncFormatter(fmt if narrow else (lambda v, p: "")))


def _save(fig, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def cycles_vs_area(rows: list[dict], path: Path) -> list[str]:
    """Cycles per RoI against clipped RoI area, one panel per workload.

    Per RoI: the cycle model (dots) and the bandwidth bound (line of its
    points); the RTL figure per RoI where the simulation reports one, else
    the RTL workload mean (cycles / RoIs at the mean area, a star).
    """
    n = len(rows)
    cols = 2 if n > 1 else 1
    nrows = -(-n // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(6.4 * cols, 4.4 * nrows + 1.6), squeeze=False)
    notes = []
    for ax, r in zip(axes.flat, rows):
        pr = r["per_roi"]
        area = np.asarray(pr["area"], dtype=float)
        bound = np.asarray(pr["bound"], dtype=float)
        x = np.maximum(area, 0.5)  # empty RoIs (area 0) drawn at 0.5 on the log axis
        order = np.argsort(x, kind="stable")
        ax.plot(x[order], bound[order], "-", color="0.2", lw=1.2, label="bandwidth bound")
        if pr.get("model") and len(pr["model"]) == len(x):
            ax.plot(x, pr["model"], ".", ms=3.5, color="tab:blue", alpha=0.7, label="cycle model (modelled)")
        rtl = r["cycles"]["rtl"]
        if pr.get("rtl") and len(pr["rtl"]) == len(x):
            ax.plot(x, pr["rtl"], "x", ms=4, color="tab:red", label="RTL (measured in simulation)")
        elif rtl.get("status") == "ok":
            # Means of both at the mean area: the bound is convex in A, so the
            # RTL mean must be compared with the bound's mean, not its value there.
            k = r["num_rois"]
            ax.plot([x.mean()], [rtl["cycles"] / k], "*", ms=13, color="tab:red",
                    label=f"RTL, workload mean (measured; {rtl['cycles'] / r['bound']['cycles']:.3f} x bound)")
            ax.plot([x.mean()], [r["bound"]["cycles"] / k], "s", ms=9, mfc="none", mec="0.2",
                    label="bound, workload mean")
        ax.set_xscale("log")
        ax.set_yscale("log")
        s = r["shape"]
        ax.set_title(f"{r['workload']}: C={s['c']}, {s['ph']}x{s['pw']} bins, {r['num_rois']} RoIs, "
                     f"L={r['lanes']}, {r['dtype']}", fontsize=9)
        ax.set_xlabel("clipped RoI area A (feature-map cells; empty RoIs at 0.5)")
        ax.set_ylabel("engine cycles per RoI")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
        _plain_log_ticks(ax, "x")
        _plain_log_ticks(ax, "y")
        if rtl.get("status") != "ok":
            notes.append(f"{r['workload']}: RTL {rtl.get('status')} ({rtl.get('reason', '')})")
        if r["cycles"]["model"].get("status") != "ok":
            notes.append(f"{r['workload']}: model {r['cycles']['model'].get('status')} "
                         f"({r['cycles']['model'].get('reason', '')})")
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("Engine cycles per RoI against clipped RoI area", fontsize=11)
    lines = ["bound: golden.bandwidth_bound (derived); model: sim.cycle_model (modelled); "
             "RTL: cycle-accurate simulation of the generated Verilog (measured)"] + notes
    _finish(fig, lines, top=0.96)
    _save(fig, path)
    return lines


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats: fewer or equal LUTs and higher or equal
    throughput, one of them strictly.  Sorted by LUTs."""
    idx = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -np.inf
    for i in idx:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def throughput_vs_luts(rows: list[dict], path: Path, *, settings_text: str) -> tuple[list[str], list[str]]:
    """Throughput on the reference workload against LUT4s, every routed configuration;
    the Pareto front joined.  Configurations that did not fit are marked at the
    LUT demand nextpnr logged (when it logged one) along the top edge.

    Returns ``(footer lines, labels of the Pareto-optimal configurations)``.
    """
    fig, ax = plt.subplots(figsize=(10.5, 5.8))
    ok = [r for r in rows if r["status"] == "ok" and r.get("throughput") and r["lut4"]]
    pts = [(float(r["lut4"]), r["throughput"]["rois_per_s"]) for r in ok]
    for r, (x, y) in zip(ok, pts):
        ax.scatter([x], [y], s=25 + 6 * r["lanes"], color=DTYPE_COLOURS.get(r["dtype"], "k"), zorder=3,
                   edgecolor="k", linewidth=0.5)
        ax.annotate(f"L{r['lanes']}" + ("*" if r.get("earlier_rtl") else ""), (x, y), textcoords="offset points",
                    xytext=(5, 4), fontsize=7)
    front = pareto_front(pts)
    if front:
        fx, fy = zip(*(pts[i] for i in front))
        ax.plot(fx, fy, "--", color="0.25", lw=1, zorder=2, label="Pareto front (fewer LUTs, more RoIs/s)")
    for dt, colour in DTYPE_COLOURS.items():
        if any(r["dtype"] == dt for r in ok):
            ax.scatter([], [], color=colour, edgecolor="k", linewidth=0.5, label=dt)
    failed = [r for r in rows if r["status"] not in ("ok", "rejected")]
    if failed and pts:
        top = max(y for _, y in pts)
        for r in failed:
            if r.get("lut4"):
                ax.scatter([r["lut4"]], [top], marker="x", s=60, color=DTYPE_COLOURS.get(r["dtype"], "k"), zorder=3)
                ax.annotate(f"L{r['lanes']}{'*' if r.get('earlier_rtl') else ''} {r['dtype']}: {r['status']}",
                            (r["lut4"], top),
                            textcoords="offset points", xytext=(4, -10), fontsize=6.5)
        ax.scatter([], [], marker="x", color="0.3", label="did not place/route (LUT demand; drawn at top)")
    basis = sorted({r["throughput"]["basis"] for r in ok}) or ["-"]
    wl = ok[0]["throughput"]["workload"] if ok else "-"
    projected = any(not r["throughput"]["build_holds_workload"] for r in ok)
    if ok:
        ax.scatter([], [], s=25 + 6 * 4, color="w", edgecolor="k", linewidth=0.5,
                   label="marker size grows with lanes (L = lanes)")
    ax.set_xlabel("LUT4 (before packing, carry LUTs included)")
    ax.set_ylabel(f"throughput on {wl} (RoIs / s)" + (", projected" if projected else ""))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    if ok:
        _plain_log_ticks(ax, "x")
        _plain_log_ticks(ax, "y")
    ax.set_title(f"ECP5 engine configurations: throughput against size ({settings_text})", fontsize=9)
    if ok:
        # Outside the axes: inside, it hid the points of the sweep's corner.
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    else:
        ax.text(0.5, 0.5, "no configuration placed and routed", transform=ax.transAxes, ha="center")
    skipped = [f"{r['label']}: {r['status']} ({r['reason']})" for r in rows if r["status"] == "rejected"]
    lines = ["LUT4 and fmax: Yosys synth_ecp5 + nextpnr-ecp5 (measured; fmax = median over seeds); "
             f"throughput = RoIs x fmax / cycles ({'; '.join(basis)}) (derived)"]
    if projected:
        lines.append(f"projected: some builds' maxima cannot hold {wl}; their throughput is what a build of the "
                     "same lanes, type and fmax would reach")
    if any(r.get("earlier_rtl") for r in ok + failed):
        lines.append("L*: measured on an earlier RTL (row recorded in reports/data/fpga-rows.json; see the report)")
    if skipped:
        lines.append("not built: " + "; ".join(skipped))
    _finish(fig, lines)
    _save(fig, path)
    return lines, [ok[i]["label"] for i in front]


def workload_times(rows: list[dict], path: Path) -> list[str]:
    """Time per workload: FPGA engine, GPU(s), CPU golden, CPU torchvision, log scale.

    A figure that does not exist is drawn as an empty hatched bar labelled
    ``not measured`` / ``not installed``: never as a number.
    """
    series = [("FPGA engine", lambda r: (r["engine"]["time_ms"],
                                         r["engine"].get("status") or r["engine"].get("reason") or "not measured"))]
    devices = sorted({g["device"] for r in rows for g in r["gpu"] if g["device"]})
    if devices:
        for d in devices:
            series.append((f"GPU {d} (ours)", lambda r, d=d: _gpu_ms(r, d, "ours")))
            series.append((f"GPU {d} (torchvision, fp32)", lambda r, d=d: _gpu_ms(r, d, "torchvision")))
    else:
        series.append(("GPU", lambda r: (None, "not measured")))
    series.append(("CPU golden (1 thread)", lambda r: (r["cpu"]["golden"].get("ms"), r["cpu"]["golden"].get("status"))))
    series.append(("CPU torchvision (1 thread, fp32)",
                   lambda r: (r["cpu"]["torchvision"].get("ms"), r["cpu"]["torchvision"].get("status"))))
    fig, ax = plt.subplots(figsize=(max(7.5, 2.4 * len(rows) + 2), 5.6))
    width = 0.8 / len(series)
    known = [v for r in rows for _, f in series for v in [f(r)[0]] if v]
    lo = min(known) / 10 if known else 1e-3
    hi = max(known) * 3 if known else 1.0
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, (label, f) in enumerate(series):
        colour = colours[j % len(colours)]
        for i, r in enumerate(rows):
            v, why = f(r)
            x = i + (j - (len(series) - 1) / 2) * width
            if v:
                ax.bar(x, v, width * 0.92, color=colour)
            else:
                # A short hatched stub on the floor of the axis, with the reason
                # written above it: no height that could be read as a time.
                ax.bar(x, lo * 0.5, width * 0.92, bottom=lo, fill=False, hatch="///", edgecolor=colour)
                ax.text(x, lo * 1.7, _short_status(why), rotation=90, fontsize=6.5, ha="center", va="bottom")
    handles = [Patch(color=colours[j % len(colours)], label=label) for j, (label, _) in enumerate(series)]
    handles.append(Patch(fill=False, hatch="///", edgecolor="0.3", label="no figure (reason written above)"))
    ax.set_yscale("log")
    ax.set_ylim(lo, hi)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([f"{r['workload']}\n({r['num_rois']} RoIs, L{r['lanes']} {r['dtype']})" for r in rows], fontsize=8)
    ax.set_ylabel("time per call (ms, log scale)")
    _plain_log_ticks(ax, "y")
    ax.set_title("RoIPool time per workload: FPGA engine vs GPU vs CPU (hatched: no figure)", fontsize=10)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    ax.legend(handles=handles, fontsize=7, loc="upper left")
    lines = []
    for r in rows:
        e = r["engine"]
        src = r["cycles"]["source"] or "none"
        fm = r["fmax"]
        lines.append(f"{r['workload']}: FPGA = {src} cycles / fmax "
                     + (f"{fm['fmax_mhz']:.1f} MHz of {fm['build']}" + (" (stale)" if fm["stale"] else "")
                        if fm["fmax_mhz"] else f"({fm.get('status', 'not measured')}"
                        + (f": {fm['build']})" if fm.get("build") else ")"))
                     + ("" if e["time_ms"] else " -> no time"))
    lines.append("GPU: reports/data/gpu-*.json from host.gpu_bench (measured) or not measured; "
                 "CPU: timed on this machine (measured)")
    _finish(fig, lines)
    _save(fig, path)
    return lines


def _gpu_ms(r: dict, device: str, which: str):
    for g in r["gpu"]:
        if g["device"] == device:
            e = g[which]
            return e.get("ms"), e.get("status")
    return None, "not measured"


def _short_status(why: str | None) -> str:
    why = why or "not measured"
    for s in ("not installed", "not measured"):
        if s in why:
            return s
    return why[:24]
