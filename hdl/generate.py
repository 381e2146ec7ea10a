"""Verilog and JSON generation: ``python -m hdl --lanes 8 --dtype int16 -o build/roipool_engine.v``."""

from __future__ import annotations

import argparse
import inspect
import pathlib

from amaranth.back import verilog

from .dtypes import DTYPES
from .engine import RoIPoolEngine

__all__ = ["generate", "main"]


def generate(engine: RoIPoolEngine, out: str | pathlib.Path, *, name: str = "roipool_engine") -> tuple[pathlib.Path, pathlib.Path]:
    """Write ``out`` (Verilog) and the same path with ``.json`` (config + register map)."""
    out = pathlib.Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = verilog.convert(engine, name=name, emit_src=False)
    out.write_text(text)
    js = out.with_suffix(".json")
    js.write_text(engine.config_json() + "\n")
    return out, js


def main(argv=None) -> int:
    # Defaults are the engine's own keyword defaults (one source: ``make
    # verilog`` with no variables builds the default configuration, the one
    # the reports place and route and the simulators run).
    d = {k: p.default for k, p in inspect.signature(RoIPoolEngine).parameters.items()}
    ap = argparse.ArgumentParser(prog="python -m hdl", description=__doc__)
    ap.add_argument("--lanes", type=int, default=d["lanes"])
    ap.add_argument("--dtype", choices=sorted(DTYPES), default=d["dtype"])
    for name in ("max_n", "max_c", "max_h", "max_w", "max_pooled", "addr_width", "id_width", "fifo_depth", "slots"):
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=d[name], help=f"default {d[name]}")
    ap.add_argument("--no-argmax", action="store_true", help=f"argmax output off (default {'on' if d['argmax'] else 'off'})")
    ap.add_argument("--name", default="roipool_engine")
    ap.add_argument("-o", "--output", default="build/roipool_engine.v")
    a = ap.parse_args(argv)
    engine = RoIPoolEngine(lanes=a.lanes, dtype=a.dtype, max_n=a.max_n, max_c=a.max_c, max_h=a.max_h,
                           max_w=a.max_w, max_pooled=a.max_pooled, argmax=not a.no_argmax,
                           addr_width=a.addr_width, id_width=a.id_width, fifo_depth=a.fifo_depth, slots=a.slots)
    v, j = generate(engine, a.output, name=a.name)
    print(f"wrote {v} and {j}")
    return 0
