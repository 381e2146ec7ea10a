"""Verilog and JSON generation: ``python -m hdl --lanes 8 --dtype int16 -o build/roipool_engine.v``."""

from __future__ import annotations

import argparse
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
    ap = argparse.ArgumentParser(prog="python -m hdl", description=__doc__)
    ap.add_argument("--lanes", type=int, default=8)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="int16")
    ap.add_argument("--max-n", type=int, default=4)
    ap.add_argument("--max-c", type=int, default=512)
    ap.add_argument("--max-h", type=int, default=64)
    ap.add_argument("--max-w", type=int, default=64)
    ap.add_argument("--max-pooled", type=int, default=7)
    ap.add_argument("--no-argmax", action="store_true")
    ap.add_argument("--addr-width", type=int, default=32)
    ap.add_argument("--id-width", type=int, default=1)
    ap.add_argument("--fifo-depth", type=int, default=512)
    ap.add_argument("--name", default="roipool_engine")
    ap.add_argument("-o", "--output", default="build/roipool_engine.v")
    a = ap.parse_args(argv)
    engine = RoIPoolEngine(lanes=a.lanes, dtype=a.dtype, max_n=a.max_n, max_c=a.max_c, max_h=a.max_h,
                           max_w=a.max_w, max_pooled=a.max_pooled, argmax=not a.no_argmax,
                           addr_width=a.addr_width, id_width=a.id_width, fifo_depth=a.fifo_depth)
    v, j = generate(engine, a.output, name=a.name)
    print(f"wrote {v} and {j}")
    return 0
