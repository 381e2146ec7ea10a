"""The torchvision-shaped ``roi_pool`` over every backend.

Every call goes through the same two steps:

1. :func:`golden.validate` checks and canonicalises the arguments (the one
   validation layer shared with the golden model), before any backend runs;
2. the chosen backend computes ``(out, argmax)`` from the validated problem.

Backends register themselves in :data:`BACKENDS`; each says whether it can
run here and, if not, why.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

import golden
from golden.fast import roi_pool_fast
from golden.reference import roi_pool_reference

__all__ = ["Backend", "BACKENDS", "Result", "BackendUnavailable", "available_backends", "register", "roi_pool", "run"]


class BackendUnavailable(RuntimeError):
    """The backend cannot run on this machine (the message says why)."""


@dataclass
class Result:
    """What one backend computed, with its statistics.

    Attributes
    ----------
    out : ndarray ``(K, C, PH, PW)``
    argmax : ndarray of int64, same shape
    backend : str
    stats : dict
        Backend figures: ``cycles`` and engine counters for the RTL
        backends, ``kernel_ms`` for CUDA.
    host_ms : dict
        Host-side time, kept apart from the backend's own: ``validate``,
        ``backend`` (everything the backend did, packing included) and
        any finer split the backend reports (``pack``, ``unpack``, ...).
    """

    out: np.ndarray
    argmax: np.ndarray
    backend: str
    stats: dict = field(default_factory=dict)
    host_ms: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Backend:
    """A way of computing RoIPool.

    Attributes
    ----------
    name : str
    run : callable
        ``run(problem, **options) -> (out, argmax, stats)``.
    probe : callable
        ``probe() -> (available, reason)``.
    description : str
    max_outputs : int, optional
        Largest problem (``K * C * PH * PW`` outputs) worth giving this
        backend in a cross-check; slow simulators set it.
    """

    name: str
    run: Callable
    probe: Callable
    description: str = ""
    max_outputs: int | None = None


BACKENDS: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    """Add (or replace) a backend in :data:`BACKENDS`."""
    BACKENDS[backend.name] = backend
    return backend


def available_backends() -> dict[str, tuple[bool, str]]:
    """``{name: (available, reason)}`` for every registered backend."""
    return {name: b.probe() for name, b in BACKENDS.items()}


def run(features, rois, output_size, spatial_scale=1.0, *, backend="golden", bin_mode="float32", **options) -> Result:
    """Validate, then run one backend; return outputs with the backend's stats.

    Raises
    ------
    TypeError, ValueError
        From the shared validation, before any backend runs.
    BackendUnavailable
        If the backend cannot run here.
    """
    t0 = time.perf_counter()
    problem = golden.validate(features, rois, output_size, spatial_scale, bin_mode)
    t1 = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}")
    b = BACKENDS[backend]
    ok, reason = b.probe()
    if not ok:
        raise BackendUnavailable(f"backend {backend!r} is not available: {reason}")
    out, argmax, stats = b.run(problem, **options)
    t2 = time.perf_counter()
    host_ms = {"validate": (t1 - t0) * 1e3, "backend": (t2 - t1) * 1e3}
    host_ms.update(stats.pop("host_ms", {}))
    return Result(out=out, argmax=argmax, backend=backend, stats=stats, host_ms=host_ms)


def roi_pool(features, rois, output_size, spatial_scale=1.0, *, backend="golden", bin_mode="float32", **options):
    """RoIPool forward on any backend, shaped like ``torchvision.ops.roi_pool``.

    Parameters
    ----------
    features : ndarray ``(N, C, H, W)``
    rois : ndarray ``(K, 5)`` or list of ``(Ki, 4)`` arrays
    output_size : int or (int, int)
    spatial_scale : float
    backend : str
        ``"golden"``, ``"pysim"``, ``"verilator"``, ``"icarus"`` or ``"cuda"``
        (see :func:`available_backends`).
    bin_mode : str
        See :data:`golden.BIN_MODES`.

    Returns
    -------
    out, argmax : ndarray
    """
    r = run(features, rois, output_size, spatial_scale, backend=backend, bin_mode=bin_mode, **options)
    return r.out, r.argmax


def _golden_run(problem, **options):
    out, argmax = roi_pool_fast(problem)
    return out, argmax, {}


def _reference_run(problem, **options):
    out, argmax = roi_pool_reference(problem)
    return out, argmax, {}


def _always():
    return True, "always available"


def _rtl_backend(simulator: str):
    """``run``/``probe`` of the engine in a simulator (:mod:`sim`).

    The engine configuration is chosen from the problem: the gateware's
    default build (:class:`hdl.engine.RoIPoolEngine` defaults) with the
    features' element type, and any size limit the problem exceeds raised
    to fit (:func:`sim.engine.fit_params`); ``engine={...}`` and ``lanes=``
    options override it.  Each configuration is built once and cached.
    Options: ``engine``, ``lanes``, ``traffic`` / ``read_latency`` (see
    :mod:`sim.traffic`), ``waves``.
    """

    def run_(problem, *, engine=None, lanes=None, traffic=None, read_latency=None, waves=False):
        from sim.api import make_transport
        from sim.engine import engine_params, fit_params
        from sim.traffic import DEFAULT_READ_LATENCY, Traffic

        from .driver import EngineConfig, run_engine

        given = dict(engine or {})
        dtype = golden.dtype_name(problem.features.dtype)
        try:
            params = engine_params(given, lanes=lanes, dtype=dtype)
        except ValueError as exc:
            raise BackendUnavailable(f"the engine cannot be built for {dtype} features: {exc}") from exc
        params, notes = fit_params(params, problem, set(given) | ({"lanes"} if lanes else set()))
        if traffic is None:
            traffic = Traffic(latency=read_latency or DEFAULT_READ_LATENCY)
        transport = make_transport(simulator, params, traffic, waves=waves)
        t0 = time.perf_counter()
        build_s = transport.build() if hasattr(transport, "build") else 0.0
        out, argmax, stats = run_engine(problem, EngineConfig.from_params(params), transport)
        stats.update(engine=params, engine_notes=notes, build_s=build_s,
                     host_ms={"build": build_s * 1e3, "simulate": (time.perf_counter() - t0 - build_s) * 1e3})
        return out, argmax, stats

    def probe():
        from sim.api import simulator_available
        return simulator_available(simulator)

    return run_, probe


def _cuda_run(problem, **options):
    from . import cuda

    return cuda.run_backend(problem, **options)


def _cuda_probe():
    from . import cuda

    return cuda.cuda_available()


register(Backend("golden", _golden_run, _always, "golden model, compiled fast path (the oracle)"))
register(Backend("reference", _reference_run, _always, "golden model, loop-by-loop specification (slow)"))
register(Backend("cuda", _cuda_run, _cuda_probe, "CuPy kernel (host/kernels/roi_pool.cu)"))
register(Backend("verilator", *_rtl_backend("verilator"), "the engine's Verilog in the C++ Verilator harness"))
register(Backend("icarus", *_rtl_backend("icarus"), "the engine's Verilog in Icarus, cocotbext-axi testbench",
                 max_outputs=60_000))
register(Backend("pysim", *_rtl_backend("pysim"), "the engine in Amaranth's simulator (slow: small problems)",
                 max_outputs=2_000))
