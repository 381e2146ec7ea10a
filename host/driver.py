"""The engine driver: what a board's driver does, apart from how bytes move.

The *protocol* (:mod:`hdl.job`, re-exported here) turns a validated RoIPool
call into an :class:`EngineJob` (the feature map packed in the engine's
memory layout, register writes, the descriptor stream) and decodes an
:class:`EngineRun` (result beats, counters) back into ``(out, argmax)``.  A
*transport* only moves those bytes: the Amaranth simulator, Verilator,
Icarus (all in :mod:`sim`) or, on a board, memory-mapped registers plus a
DMA engine.  Every transport implements ``execute(job) -> EngineRun``;
nothing in this module knows which one it talks to.

This module adds what a driver adds to the protocol: turning the engine's
error flags into :class:`EngineError` and the run into the API's
``(out, argmax, stats)``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from golden.validate import Problem
from hdl import protocol as proto
from hdl.job import (COUNTERS, EngineConfig, EngineJob, EngineRun, ProtocolError, build_job, decode_results,
                     error_names, named_registers, pack_features)

__all__ = [
    "EngineConfig", "EngineJob", "EngineRun", "EngineError", "Transport",
    "pack_features", "build_job", "decode_results", "check_errors", "run_engine",
]


class EngineError(ProtocolError):
    """The engine flagged an error (the message names the ERR_FLAGS bits) or broke the protocol."""

    def __init__(self, flags: int, message: str):
        super().__init__(message)
        self.flags = flags


class Transport(Protocol):
    """Moves an :class:`EngineJob` through an engine and returns the run."""

    def execute(self, job: EngineJob) -> EngineRun:  # pragma: no cover - interface
        ...


def check_errors(run: EngineRun) -> None:
    """Raise :class:`EngineError` naming every ERR_FLAGS bit the run set."""
    flags = run.regs.get(proto.reg("ERR_FLAGS").offset, 0)
    if flags:
        raise EngineError(flags, f"engine reported ERR_FLAGS=0x{flags:x}: {', '.join(error_names(flags))}")


def run_engine(problem: Problem, config: EngineConfig, transport: Transport, feat_base: int = 0):
    """Run a validated call on an engine; return ``(out, argmax, stats)``.

    ``stats`` holds ``cycles`` (first descriptor accepted to last result beat
    accepted), ``counters`` (the engine's counter registers by lower-case
    name) and whatever the transport reports.

    Raises
    ------
    EngineError
        The engine set an error flag, or its result stream broke the protocol.
    """
    job = build_job(problem, config, feat_base)
    if problem.num_rois == 0:
        shape = (0, problem.features.shape[1], *problem.output_size)
        return np.zeros(shape, problem.features.dtype), np.zeros(shape, np.int64), {"cycles": 0, "counters": {}}
    run = transport.execute(job)
    check_errors(run)
    try:
        out, argmax = decode_results(run, problem, config)
    except ProtocolError as exc:
        raise EngineError(0, str(exc)) from exc
    regs = named_registers(run.regs)
    counters = {name.lower(): regs[name] for name in COUNTERS if name in regs}
    stats = {"cycles": run.cycles, "counters": counters, **run.stats}
    return out, argmax, stats
