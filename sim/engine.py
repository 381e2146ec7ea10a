"""Engine configurations for simulation: parameters, sizing, cached Verilog.

Parameters are those of :class:`hdl.engine.RoIPoolEngine`; their defaults
are read from its signature (never repeated here), so a changed default in
the gateware is picked up everywhere.

:func:`engine_params` completes a partial dict; :func:`fit_params` raises
the size limits a problem exceeds; :func:`engine_verilog` generates the
Verilog once per configuration and gateware version into
``build/sim/verilog-<hash>/roipool_engine.v`` (with its JSON contract).
"""

from __future__ import annotations

import functools
import inspect
import os
import re
from pathlib import Path

from golden.validate import Problem

from . import toolchain

__all__ = ["TOP", "engine_defaults", "engine_params", "fit_params", "engine_verilog", "hdl_sources",
           "icarus_verilog"]

#: Name of the generated top module.
TOP = "roipool_engine"

#: Size limits a problem can exceed, with the problem quantity each bounds.
_LIMITS = (("max_n", 0), ("max_c", 1), ("max_h", 2), ("max_w", 3))
#: Largest value the gateware accepts for each limit (descriptors carry 16-bit edges).
_LIMIT_MAX = {"max_n": 65535, "max_c": 65535, "max_h": 32767, "max_w": 32767, "max_pooled": 64}


@functools.lru_cache(maxsize=None)
def _defaults() -> tuple:
    from hdl.engine import RoIPoolEngine
    sig = inspect.signature(RoIPoolEngine.__init__)
    return tuple((name, p.default) for name, p in sig.parameters.items()
                 if p.kind is inspect.Parameter.KEYWORD_ONLY)


def engine_defaults() -> dict:
    """``{parameter: default}`` of :class:`hdl.engine.RoIPoolEngine`."""
    return dict(_defaults())


def engine_params(engine: dict | None = None, **overrides) -> dict:
    """A complete, validated engine parameter dict.

    Parameters
    ----------
    engine : dict, optional
        Any subset of :class:`~hdl.engine.RoIPoolEngine`'s parameters.
    **overrides
        Applied after ``engine`` (``None`` values are ignored).

    Raises
    ------
    TypeError, ValueError
        Unknown parameter names, or values the engine rejects.
    """
    params = engine_defaults()
    given = {**(engine or {}), **{k: v for k, v in overrides.items() if v is not None}}
    unknown = sorted(set(given) - set(params))
    if unknown:
        raise TypeError(f"unknown engine parameter(s) {', '.join(unknown)}; known: {', '.join(params)}")
    params.update(given)
    from hdl.engine import RoIPoolEngine
    probe = RoIPoolEngine(**params)     # validates every value; elaboration happens later, if at all
    probe._MustUse__silence = True      # Amaranth's way to say "built on purpose, not elaborated"
    return params


def _pow2_at_least(value: int) -> int:
    return 1 << max(0, int(value) - 1).bit_length()


def fit_params(params: dict, problem: Problem, fixed=()) -> tuple[dict, list[str]]:
    """Raise the limits ``problem`` exceeds; return the new params and what changed.

    A limit the problem exceeds is raised to the next power of two (``max_pooled``
    to ``max(PH, PW)``), capped at what the gateware accepts; limits named in
    ``fixed`` (the caller chose them) are left alone, so the problem is then
    refused with the reason by :meth:`hdl.job.EngineConfig.supports`.
    """
    params = dict(params)
    notes = []
    shape = problem.features.shape
    wanted = [(name, shape[i], _pow2_at_least(shape[i])) for name, i in _LIMITS]
    pooled = max(problem.output_size)
    wanted.append(("max_pooled", pooled, pooled))
    for name, need, new in wanted:
        if need > params[name] and name not in fixed:
            new = min(new, _LIMIT_MAX[name])
            notes.append(f"{name} raised from {params[name]} to {new} for this problem")
            params[name] = new
    return params, notes


def hdl_sources() -> list[Path]:
    """The gateware's source files (their contents key every cached build)."""
    root = toolchain.REPO_ROOT / "hdl"
    return sorted(p for p in root.glob("*.py") if p.name != "job.py")


def engine_verilog(params: dict, *, cache_root: Path | None = None) -> Path:
    """Generate the engine's Verilog for ``params`` once; return its path.

    The cache key covers the parameters, every gateware source file and the
    Amaranth version; ``<path>.json`` beside it holds the configuration and
    register map (:func:`hdl.protocol.config_json`).
    """
    params = engine_params(params)

    def builder(bdir: Path) -> None:
        from hdl.engine import RoIPoolEngine
        from hdl.generate import generate
        generate(RoIPoolEngine(**params), bdir / f"{TOP}.v", name=TOP)

    import amaranth
    parts = (params, *hdl_sources(), getattr(amaranth, "__version__", "?"))
    bdir, _ = toolchain.cached_build("verilog", parts, builder, root=cache_root)
    return bdir / f"{TOP}.v"


# Icarus 11 runs an ``always @*`` block only when one of its inputs changes,
# so whatever a block drives stays X until then, which for a register
# sitting at its reset value is never (a row descriptor then leaves with an
# X slot and the pooler stalls).  Yosys gives multi-statement blocks a dummy
# input initialised to 0 to force a first evaluation, but Icarus applies
# declaration initialisers without an event, and single-statement blocks
# (``always @* w_data[1:0] = i_slot;``) have no such input.  The Icarus copy
# of the Verilog therefore toggles each dummy input at ``#0`` and repeats each
# single assignment in an ``initial #0``.  (``always_comb``, which also runs
# at time 0, makes Icarus slower by orders of magnitude: it is sensitive to
# whole vectors.)
_TIME0_TRIGGER = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\S* ) = 0;$", re.M)
_SINGLE_ASSIGN = re.compile(r"^(\s*)always @\*\n(\s*)([^\n;]+ = [^\n;]+;)$", re.M)


def icarus_verilog(verilog: Path) -> Path:
    """A copy of ``verilog`` whose combinational blocks also evaluate at time 0 on Icarus."""
    verilog = Path(verilog)
    out = verilog.with_name(verilog.stem + ".icarus.v")
    text = _TIME0_TRIGGER.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(2)} = 1'h1;",
                              verilog.read_text())
    patched = _SINGLE_ASSIGN.sub(lambda m: f"{m.group(0)}\n{m.group(1)}initial #0 {m.group(3)}", text)
    if not out.exists() or out.read_text() != patched:
        tmp = out.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(patched)
        tmp.replace(out)
    return out
