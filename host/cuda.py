"""RoIPool on an NVIDIA GPU through CuPy: the CUDA cross-check of the golden model.

The kernels live in ``host/kernels/roi_pool.cu`` and are compiled at run
time with NVRTC (``cupy.RawModule``), one instantiation per (data type, bin
mode).  Every entry point validates its input with the golden model's
validation layer (:func:`golden.validate`) before anything reaches the GPU,
so bad input fails with the same message as in every other backend.

Forward
-------
Two kernels, bit-exact with :func:`golden.roi_pool` for every supported
dtype (float32, float64, float16, bfloat16, int8, int16, int32) and bin
mode (``exact``, ``float32``, ``float64``, ``float16``):

``tiled`` (default)
    One block per (RoI, channel) plane.  Phase 1: consecutive threads take
    consecutive columns of the RoI, so each row segment of the NCHW plane
    is read with one coalesced access and every element once per row band;
    each thread keeps the column's maximum and its first row (shared
    memory).  Phase 2: consecutive threads take consecutive output bins,
    so the stores of ``out`` and ``argmax`` are contiguous; a bin picks its
    best column candidate, ties going to the smaller ``h * W + w`` -- which
    is exactly the first maximum in raster order.
``simple``
    One thread per output element (torchvision's decomposition): the
    obviously-right baseline, the fallback when the tiled kernel's shared
    memory (``PH * W`` values and row indices) exceeds 48 KiB, and a
    cross-check of the tiled kernel in the tests.

The RoI geometry is computed in the kernel with explicit round-to-nearest
intrinsics (no FMA contraction, no re-association; ``-fmad=false`` as a
second guard), in the bin mode's float type, exactly as torchvision's
kernels do.

Backward
--------
Deterministic by construction, with no floating-point atomics: the host
turns every contribution (``argmax >= 0``) into the unique key
``target * M + pos`` (``target``: flat index into ``grad_input``;
``pos``: raster position in ``grad_out``; ``M = grad_out.size``) and sorts
the keys, which puts each input element's contributions next to each other
in raster order; one thread per run then sums them sequentially from 0
(float32 for float32/half/bfloat16 grads, float64 for float64) and rounds
once.  That is the order and precision of :func:`golden.roi_pool_backward`,
so the result is the same bits on every run and equal to the golden model.

Functions
---------
cuda_available()
    ``(bool, reason)``: can kernels run here?
compile_ptx(arch="compute_80", ...)
    NVRTC to PTX; needs no device (used by the tests on GPU-less CI).
roi_pool_cuda(features, rois, output_size, spatial_scale=1.0, *, bin_mode="float32", ...)
    Forward; NumPy ``(out, argmax)`` (and kernel milliseconds on request).
roi_pool_backward_cuda(grad_out, argmax, input_shape, batch, ...)
    Backward; NumPy ``grad_input``.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import golden

__all__ = [
    "COMPILE_OPTIONS",
    "KERNEL_PATH",
    "all_kernel_names",
    "backward_kernel_name",
    "compile_ptx",
    "cuda_available",
    "forward_kernel_name",
    "kernel_source",
    "prepare_forward",
    "roi_pool_backward_cuda",
    "roi_pool_cuda",
    "run_backend",
]

#: The CUDA source of all kernels.
KERNEL_PATH = Path(__file__).resolve().parent / "kernels" / "roi_pool.cu"

#: NVRTC options.  ``-fmad=false`` forbids contracting a multiply and an add
#: into an FMA anywhere (the geometry uses ``__f*_rn`` intrinsics as well,
#: which are never contracted); a contracted ``p * bin_size`` could move a
#: bin edge by one cell.
COMPILE_OPTIONS = ("-std=c++17", "-fmad=false")

#: Bin mode -> ``MODE`` template argument (``ROI_MODE_*`` in the source).
_MODES = {"exact": 0, "float32": 1, "float64": 2, "float16": 3}

#: Data type name -> (traits struct in the source, storage dtype on the device).
_TRAITS = {
    "float32": ("roi_f32", np.dtype(np.float32)),
    "float64": ("roi_f64", np.dtype(np.float64)),
    "float16": ("roi_f16", np.dtype(np.uint16)),   # raw half bits
    "bfloat16": ("roi_bf16", np.dtype(np.uint16)),  # raw bfloat16 bits
    "int8": ("roi_i8", np.dtype(np.int8)),
    "int16": ("roi_i16", np.dtype(np.int16)),
    "int32": ("roi_i32", np.dtype(np.int32)),
}

#: Data types the backward accepts (golden: floating-point grads only).
_BACKWARD_DTYPES = ("float32", "float64", "float16", "bfloat16")

#: Coordinate type the kernel reads for each bin mode: the type torchvision's
#: kernel sees (it requires the RoI tensor in the input's dtype), which is the
#: type golden.bins.scale_coordinates multiplies in.
_COORD_DTYPE = {
    "exact": np.dtype(np.float32),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    "float16": np.dtype(np.float16),
}

SIMPLE_BLOCK = 256
TILED_BLOCK = 128
BACKWARD_BLOCK = 256
#: Largest dynamic shared memory the tiled kernel may use without opting in
#: to more (every CUDA GPU grants 48 KiB per block).
MAX_TILED_SMEM = 48 * 1024
#: Grid cap; the kernels use grid-stride loops, so any grid is correct.
MAX_GRID = 2**31 - 1


# ---------------------------------------------------------------------------
# Source, names, compilation
# ---------------------------------------------------------------------------

def kernel_source() -> str:
    """The CUDA C++ source of the kernels (``host/kernels/roi_pool.cu``)."""
    return KERNEL_PATH.read_text(encoding="utf-8")


def forward_kernel_name(dtype, bin_mode: str, kernel: str = "tiled") -> str:
    """Template name expression of one forward instantiation.

    Parameters
    ----------
    dtype : str or dtype
        A supported feature dtype (see :data:`golden.SUPPORTED_DTYPES`).
    bin_mode : str
        One of :data:`golden.BIN_MODES`.
    kernel : {"tiled", "simple"}

    Returns
    -------
    str, e.g. ``"roi_pool_forward_tiled<roi_f32, 1>"``.
    """
    if kernel not in ("tiled", "simple"):
        raise ValueError(f"kernel must be 'tiled' or 'simple', got {kernel!r}")
    if bin_mode not in _MODES:
        raise ValueError(f"bin_mode must be one of {tuple(_MODES)}, got {bin_mode!r}")
    traits = _TRAITS[golden.dtype_name(dtype)][0]
    return f"roi_pool_forward_{kernel}<{traits}, {_MODES[bin_mode]}>"


def backward_kernel_name(dtype) -> str:
    """Template name expression of the backward instantiation for a grad dtype."""
    name = golden.dtype_name(dtype)
    if name not in _BACKWARD_DTYPES:
        raise TypeError(f"grad_out must be a floating-point array, got {name}")
    return f"roi_pool_backward_segments<{_TRAITS[name][0]}>"


def all_kernel_names() -> list:
    """Every instantiation the host can launch (forward: 7 dtypes x 4 modes x 2 kernels)."""
    names = [
        forward_kernel_name(dt, mode, kernel)
        for dt in _TRAITS
        for mode in _MODES
        for kernel in ("simple", "tiled")
    ]
    names += [backward_kernel_name(dt) for dt in _BACKWARD_DTYPES]
    return names


def compile_ptx(arch: str = "compute_80", names=None, options=COMPILE_OPTIONS, *, return_lowered=False):
    """Compile the kernels to PTX with NVRTC; no GPU needed.

    Parameters
    ----------
    arch : str
        Virtual architecture, e.g. ``"compute_80"`` (A100) or ``"compute_90"``
        (H100).
    names : list of str, optional
        Template instantiations to emit (default: :func:`all_kernel_names`).
    options : tuple of str
        NVRTC options besides ``-arch``.
    return_lowered : bool
        Also return ``{name expression: mangled entry name}``.

    Returns
    -------
    ptx : str
        (and the name map when ``return_lowered``)

    Raises
    ------
    RuntimeError
        With NVRTC's log, if compilation fails or NVRTC cannot be loaded.
    """
    try:
        from cupy_backends.cuda.libs import nvrtc
    except Exception as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(f"NVRTC is not available through CuPy: {exc}") from exc
    names = list(all_kernel_names() if names is None else names)
    try:
        prog = nvrtc.createProgram(kernel_source(), "roi_pool.cu", [], [])
    except Exception as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(f"NVRTC could not be loaded or create a program: {exc}") from exc
    try:
        for name in names:
            nvrtc.addNameExpression(prog, name)
        opts = [f"-arch={arch}", *options]
        try:
            nvrtc.compileProgram(prog, opts)
        except Exception as exc:
            log = nvrtc.getProgramLog(prog)
            raise RuntimeError(f"NVRTC failed ({' '.join(opts)}):\n{log}") from exc
        ptx = nvrtc.getPTX(prog)
        if isinstance(ptx, bytes):
            ptx = ptx.decode("utf-8")
        ptx = ptx.rstrip("\x00")
        lowered = {name: nvrtc.getLoweredName(prog, name) for name in names}
    finally:
        nvrtc.destroyProgram(prog)
    return (ptx, lowered) if return_lowered else ptx


def cuda_available():
    """Whether the CUDA path can run here.

    Returns
    -------
    (bool, str)
        ``(True, device description)`` or ``(False, "no CUDA device: ...")``.
    """
    try:
        import cupy
    except Exception as exc:
        return False, f"no CUDA device: CuPy cannot be imported ({exc})"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        return False, f"no CUDA device: {type(exc).__name__}: {exc}"
    if count < 1:
        return False, "no CUDA device: the CUDA runtime reports 0 devices"
    try:
        if not cupy.is_available():
            return False, "no CUDA device: cupy.is_available() is False"
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    except Exception as exc:
        return False, f"no CUDA device: {type(exc).__name__}: {exc}"
    return True, f"{name} (compute capability {props['major']}.{props['minor']})"


_MODULES: dict = {}


def _module(names: tuple):
    """A cached ``cupy.RawModule`` holding the given instantiations."""
    import cupy

    mod = _MODULES.get(names)
    if mod is None:
        mod = cupy.RawModule(code=kernel_source(), options=COMPILE_OPTIONS, name_expressions=list(names))
        _MODULES[names] = mod
    return mod


def _require_cuda():
    ok, reason = cuda_available()
    if not ok:
        raise RuntimeError(reason)


# ---------------------------------------------------------------------------
# Launch plans (backend-agnostic: executed by CuPy here, by the host
# emulation harness in the tests)
# ---------------------------------------------------------------------------

def _tiled_smem_bytes(itemsize: int, ph: int, width: int) -> int:
    """Dynamic shared memory of the tiled kernel: PH*W values (8-aligned), PH*W ints."""
    cells = ph * width
    return ((cells * itemsize + 7) // 8) * 8 + cells * 4


@dataclass(frozen=True)
class ForwardPlan:
    """Everything a forward launch needs, as host arrays and scalars.

    Attributes
    ----------
    kernel : str
        ``"tiled"`` or ``"simple"``.
    name : str
        Template name expression of the instantiation.
    grid, block, smem : int
        Launch configuration (1-D) and dynamic shared memory in bytes.
    x : ndarray
        Features, contiguous, in the storage dtype (16-bit floats as uint16).
    batch : ndarray of int64, shape ``(K,)``
    boxes : ndarray, shape ``(K, 4)``
        In the mode's coordinate type (half as uint16 bits).
    scale : float
    dims : tuple of int
        ``(K, C, H, W, PH, PW)``.
    out_shape : tuple
    dtype : numpy.dtype
        The features' dtype (what ``out`` is viewed as on return).
    storage : numpy.dtype
    """

    kernel: str
    name: str
    grid: int
    block: int
    smem: int
    x: np.ndarray
    batch: np.ndarray
    boxes: np.ndarray
    scale: float
    dims: tuple
    out_shape: tuple
    dtype: np.dtype
    storage: np.dtype


def plan_forward(problem, kernel: str = "auto", *, block=None, max_grid=MAX_GRID) -> ForwardPlan:
    """Launch plan for a validated problem (see :func:`golden.validate`).

    Parameters
    ----------
    problem : golden.Problem
    kernel : {"auto", "tiled", "simple"}
        ``auto``: tiled unless its shared memory exceeds :data:`MAX_TILED_SMEM`.
    block : int, optional
        Threads per block (default per kernel); any value >= 1 is correct.
    max_grid : int
        Cap on blocks; the kernels loop, so a small cap only serialises work.
    """
    x = problem.features
    n, c, h, w = x.shape
    ph, pw = problem.output_size
    k = problem.num_rois
    name_dt = golden.dtype_name(x.dtype)
    storage = _TRAITS[name_dt][1]
    smem = _tiled_smem_bytes(storage.itemsize, ph, w)
    if kernel == "auto":
        kernel = "tiled" if smem <= MAX_TILED_SMEM else "simple"
    if kernel not in ("tiled", "simple"):
        raise ValueError(f"kernel must be 'auto', 'tiled' or 'simple', got {kernel!r}")
    if kernel == "tiled" and smem > MAX_TILED_SMEM:
        raise ValueError(f"tiled kernel needs {smem} bytes of shared memory (> {MAX_TILED_SMEM}); use 'simple'")
    for label, v in (("K*C", k * c), ("PH*W", ph * w), ("PH*PW", ph * pw)):
        if v >= 2**31:
            raise ValueError(f"{label} = {v} exceeds the kernels' int32 range")
    if kernel == "simple":
        block = SIMPLE_BLOCK if block is None else int(block)
        work = k * c * ph * pw
        smem = 0
    else:
        block = TILED_BLOCK if block is None else int(block)
        work_blocks = k * c
    grid = (work + block - 1) // block if kernel == "simple" else work_blocks
    grid = max(1, min(grid, int(max_grid)))
    coord_dt = _COORD_DTYPE[problem.bin_mode]
    boxes = np.ascontiguousarray(np.asarray(problem.boxes).astype(coord_dt))
    if coord_dt == np.float16:
        boxes = boxes.view(np.uint16)
    return ForwardPlan(
        kernel=kernel,
        name=forward_kernel_name(x.dtype, problem.bin_mode, kernel),
        grid=grid,
        block=block,
        smem=smem,
        x=np.ascontiguousarray(x).view(storage),
        batch=np.ascontiguousarray(problem.batch, dtype=np.int64),
        boxes=boxes.reshape(k, 4),
        scale=float(problem.spatial_scale),
        dims=(k, c, h, w, ph, pw),
        out_shape=(k, c, ph, pw),
        dtype=x.dtype,
        storage=storage,
    )


def _backward_keys(xp, argmax, batch, channels: int, plane: int):
    """Sorted unique keys ``target * M + pos`` of every contribution.

    Works with ``xp`` = numpy or cupy.  ``pos`` ascends in the raster order
    of ``grad_out``; ``target = (batch[k] * C + c) * H * W + argmax``.  The
    keys are unique, so the sort's stability does not matter.
    """
    flat = argmax.reshape(-1)
    m = int(flat.size)
    bins = int(argmax.shape[2] * argmax.shape[3])
    pos = xp.nonzero(flat >= 0)[0].astype(xp.int64)
    k = pos // (channels * bins)
    c = (pos // bins) % channels
    target = (batch[k] * channels + c) * plane + flat[pos]
    return xp.sort(target * m + pos), m


def _validate_backward(grad_out, argmax, input_shape, batch):
    """golden's shared backward checks, plus the limits of this kernel."""
    grad_out, argmax, batch, shape = golden.validate_backward(grad_out, argmax, input_shape, batch)
    if golden.dtype_name(grad_out.dtype) not in _BACKWARD_DTYPES:
        raise TypeError(f"the CUDA backward supports {', '.join(_BACKWARD_DTYPES)}, got {grad_out.dtype}")
    n, c, h, w = shape
    if n * c * h * w * max(grad_out.size, 1) >= 2**63:
        raise ValueError("problem too large for the backward's 64-bit sort keys")
    return grad_out, argmax, batch, shape


# ---------------------------------------------------------------------------
# Forward
# ---------------------------------------------------------------------------

class ForwardLaunch:
    """A forward call resident on the GPU: inputs uploaded, outputs allocated.

    ``run()`` launches the kernel (asynchronously); ``result()`` copies
    ``(out, argmax)`` back as NumPy.  Used by :func:`roi_pool_cuda` and by the
    benchmark, which times ``run()`` alone.
    """

    def __init__(self, plan: ForwardPlan):
        import cupy

        self.plan = plan
        self._fn = _module((plan.name,)).get_function(plan.name)
        self.x = cupy.asarray(plan.x)
        self.batch = cupy.asarray(plan.batch)
        self.boxes = cupy.asarray(plan.boxes)
        self.out = cupy.empty(plan.out_shape, dtype=plan.storage)
        self.argmax = cupy.empty(plan.out_shape, dtype=np.int64)
        k, c, h, w, ph, pw = plan.dims
        i32 = np.int32
        self._args = (
            self.x, self.batch, self.boxes, np.float64(plan.scale),
            i32(k), i32(c), i32(h), i32(w), i32(ph), i32(pw), self.out, self.argmax,
        )

    def run(self):
        if self.plan.out_shape[0] == 0:
            return
        self._fn((self.plan.grid,), (self.plan.block,), self._args, shared_mem=self.plan.smem)

    def time_ms(self, warmup: int = 3, repeat: int = 20) -> list:
        """Kernel times in milliseconds (CUDA events), after ``warmup`` runs."""
        import cupy

        for _ in range(warmup):
            self.run()
        cupy.cuda.get_current_stream().synchronize()
        times = []
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        for _ in range(repeat):
            start.record()
            self.run()
            end.record()
            end.synchronize()
            times.append(float(cupy.cuda.get_elapsed_time(start, end)))
        return times

    def result(self):
        out = self.out.get().view(self.plan.dtype)
        return out, self.argmax.get()


def prepare_forward(features, rois, output_size, spatial_scale=1.0, *, bin_mode="float32", kernel="auto"):
    """Validate, plan and upload a forward call; returns a :class:`ForwardLaunch`."""
    problem = golden.validate(features, rois, output_size, spatial_scale, bin_mode)
    _require_cuda()
    return ForwardLaunch(plan_forward(problem, kernel))


def run_backend(problem, *, kernel="auto", timing=False, warmup=3, repeat=20):
    """Backend hook for :mod:`host.api`: ``run(problem) -> (out, argmax, stats)``.

    Parameters
    ----------
    problem : golden.Problem
        Already validated by :func:`golden.validate`.
    kernel : {"auto", "tiled", "simple"}
    timing : bool
        Put the median kernel time in ``stats["kernel_ms"]``.

    Register with ``register(Backend("cuda", cuda.run_backend, cuda.cuda_available, ...))``.
    """
    _require_cuda()
    launch = ForwardLaunch(plan_forward(problem, kernel))
    stats = {"kernel": launch.plan.kernel, "grid": launch.plan.grid, "block": launch.plan.block}
    if timing and launch.plan.out_shape[0]:
        stats["kernel_ms"] = statistics.median(launch.time_ms(warmup, repeat))
    launch.run()
    out, argmax = launch.result()
    return out, argmax, stats


def roi_pool_cuda(
    features,
    rois,
    output_size,
    spatial_scale=1.0,
    *,
    bin_mode="float32",
    return_timing=False,
    kernel="auto",
    warmup=3,
    repeat=20,
):
    """RoIPool forward on the GPU, bit-exact with :func:`golden.roi_pool`.

    Parameters
    ----------
    features, rois, output_size, spatial_scale, bin_mode
        As :func:`golden.roi_pool` (validated by :func:`golden.validate`).
    return_timing : bool
        Also return the median kernel time in milliseconds (CUDA events,
        ``repeat`` runs after ``warmup``).
    kernel : {"auto", "tiled", "simple"}

    Returns
    -------
    out : ndarray ``(K, C, PH, PW)``, the features' dtype
    argmax : ndarray of int64, same shape
    ms : float
        Only with ``return_timing``.

    Raises
    ------
    TypeError, ValueError
        From validation, before any device work.
    RuntimeError
        ``"no CUDA device: ..."`` when no GPU can be used.
    """
    launch = prepare_forward(features, rois, output_size, spatial_scale, bin_mode=bin_mode, kernel=kernel)
    ms = None
    if return_timing and launch.plan.out_shape[0]:
        ms = statistics.median(launch.time_ms(warmup, repeat))
    launch.run()
    out, argmax = launch.result()
    if return_timing:
        return out, argmax, (ms if ms is not None else 0.0)
    return out, argmax


# ---------------------------------------------------------------------------
# Backward
# ---------------------------------------------------------------------------

def roi_pool_backward_cuda(grad_out, argmax, input_shape, batch, *, return_timing=False, warmup=3, repeat=20):
    """Deterministic RoIPool backward on the GPU, bit-exact with golden.

    Parameters
    ----------
    grad_out : ndarray ``(K, C, PH, PW)``
        float32, float64, float16 or bfloat16.
    argmax : ndarray of int, same shape
        From the forward pass (-1: no contribution).
    input_shape : tuple ``(N, C, H, W)``
    batch : ndarray ``(K,)``
        Image index of each RoI (``rois[:, 0]``).
    return_timing : bool
        Also return the median milliseconds of the device work (key build,
        sort and segmented sums), by CUDA events.

    Returns
    -------
    grad_input : ndarray ``input_shape``, dtype of ``grad_out``
    ms : float
        Only with ``return_timing``.
    """
    grad_out, argmax, batch, shape = _validate_backward(grad_out, argmax, input_shape, batch)
    grad_out = np.asarray(grad_out)
    argmax = np.asarray(argmax, dtype=np.int64)
    batch = np.asarray(batch, dtype=np.int64)
    _require_cuda()
    import cupy

    dt = golden.canonical_dtype(grad_out.dtype)
    storage = _TRAITS[golden.dtype_name(dt)][1]
    name = backward_kernel_name(dt)
    fn = _module((name,)).get_function(name)
    n, c, h, w = shape
    g_d = cupy.asarray(np.ascontiguousarray(grad_out).view(storage).reshape(-1))
    a_d = cupy.asarray(np.ascontiguousarray(argmax))
    b_d = cupy.asarray(batch)
    gin = cupy.zeros(n * c * h * w, dtype=storage)

    def once():
        gin.fill(0)
        keys, m = _backward_keys(cupy, a_d, b_d, c, h * w)
        n_keys = int(keys.size)
        if n_keys:
            grid = max(1, min((n_keys + BACKWARD_BLOCK - 1) // BACKWARD_BLOCK, MAX_GRID))
            fn((grid,), (BACKWARD_BLOCK,), (keys, np.int64(n_keys), np.int64(m), g_d, gin))

    ms = None
    if return_timing:
        for _ in range(warmup):
            once()
        times = []
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        for _ in range(repeat):
            start.record()
            once()
            end.record()
            end.synchronize()
            times.append(float(cupy.cuda.get_elapsed_time(start, end)))
        ms = statistics.median(times)
    once()
    result = gin.get().view(dt).reshape(n, c, h, w)
    return (result, ms) if return_timing else result
