"""The CUDA kernels, compiled as C++ for the host and run against the golden model.

``host/kernels/host_emulation.cpp`` includes ``roi_pool.cu`` unchanged and
supplies the CUDA built-ins (each block runs as real threads meeting at a
barrier), so the kernels' logic -- geometry in every bin mode, the tiled
kernel's two phases and tie-breaking, grid-stride loops with small grids
and odd block sizes, the backward's segmented sums -- is checked bit for bit
on a machine without a GPU.  The launch plans and backward keys are the
very ones :mod:`host.cuda` hands to CuPy.  Needs ``g++`` (C++20); skipped
otherwise.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import ml_dtypes
import numpy as np
import pytest

import golden
from golden.bins import bin_offsets, scale_coordinates
from host import cuda
from tests.host.test_cuda import DTYPES, MODES, assert_bit_equal, make_case

_DT_CODE = {name: i for i, name in enumerate(
    ("float32", "float64", "float16", "bfloat16", "int8", "int16", "int32"))}


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    gxx = shutil.which("g++")
    if gxx is None:
        pytest.skip("g++ not on PATH: cannot build the host emulation of the kernels")
    out = tmp_path_factory.mktemp("emu") / "libroi_emu.so"
    src = cuda.KERNEL_PATH.with_name("host_emulation.cpp")
    res = subprocess.run(
        [gxx, "-std=c++20", "-O1", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-pthread",
         "-Wall", "-Werror", "-Wno-unused-function", str(src), "-o", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    if res.returncode != 0 and "barrier" in res.stderr and "No such file" in res.stderr:
        pytest.skip("g++ lacks C++20 <barrier>")
    assert res.returncode == 0, res.stderr[-4000:]
    lib = ctypes.CDLL(str(out))
    p, i, ll, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_longlong, ctypes.c_double
    lib.emu_forward.argtypes = [i, i, i, i, i, p, p, p, d, i, i, i, i, i, i, p, p]
    lib.emu_forward.restype = i
    lib.emu_backward.argtypes = [i, i, i, p, ll, ll, p, p]
    lib.emu_backward.restype = i
    lib.emu_smem_bytes.restype = ll
    lib.emu_half_to_float.argtypes = [ctypes.c_ushort]
    lib.emu_half_to_float.restype = ctypes.c_float
    lib.emu_float_to_half.argtypes = [ctypes.c_float]
    lib.emu_float_to_half.restype = ctypes.c_ushort
    lib.emu_float_to_bf16.argtypes = [ctypes.c_float]
    lib.emu_float_to_bf16.restype = ctypes.c_ushort
    lib.emu_f16_key.argtypes = [ctypes.c_ushort, i]
    lib.emu_f16_key.restype = i
    lib.emu_bin_range.argtypes = [i, i, i, i, i, i, ctypes.POINTER(i), ctypes.POINTER(i)]
    lib.emu_scale_round.argtypes = [i, p, d]
    lib.emu_scale_round.restype = i
    return lib


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def emulate_forward(lib, features, rois, size, scale, mode, kernel, *, block=None, max_grid=cuda.MAX_GRID):
    """roi_pool_cuda, with the kernel run by the emulator instead of CuPy."""
    problem = golden.validate(features, rois, size, scale, mode)
    plan = cuda.plan_forward(problem, kernel, block=block, max_grid=max_grid)
    assert plan.smem <= lib.emu_smem_bytes()
    # garbage-filled outputs: every element must be written by the kernel
    out = np.frombuffer(np.full(int(np.prod(plan.out_shape)) * plan.storage.itemsize, 0x5A, np.uint8),
                        dtype=plan.storage).reshape(plan.out_shape).copy()
    argmax = np.full(plan.out_shape, 0x5A5A5A5A5A5A5A5A, np.int64)
    k, c, h, w, ph, pw = plan.dims
    if k:
        rc = lib.emu_forward(_DT_CODE[golden.dtype_name(plan.dtype)], cuda._MODES[problem.bin_mode],
                             int(plan.kernel == "tiled"), plan.grid, plan.block, _ptr(plan.x), _ptr(plan.batch),
                             _ptr(plan.boxes), plan.scale, k, c, h, w, ph, pw, _ptr(out), _ptr(argmax))
        assert rc == 0
    return out.view(plan.dtype), argmax


def emulate_backward(lib, grad, argmax, shape, batch, *, block=64, max_grid=cuda.MAX_GRID):
    grad_out, argmax, batch, shape = cuda._validate_backward(grad, argmax, shape, batch)
    n, c, h, w = shape
    dt = golden.canonical_dtype(grad_out.dtype)
    storage = cuda._TRAITS[golden.dtype_name(dt)][1]
    keys, m = cuda._backward_keys(np, np.asarray(argmax, np.int64), np.asarray(batch, np.int64), c, h * w)
    keys = np.ascontiguousarray(keys, dtype=np.int64)
    g = np.ascontiguousarray(grad_out).view(storage).reshape(-1)
    gin = np.zeros(n * c * h * w, storage)
    if keys.size:
        grid = max(1, min((keys.size + block - 1) // block, max_grid))
        assert lib.emu_backward(_DT_CODE[golden.dtype_name(dt)], grid, block, _ptr(keys), keys.size, m,
                                _ptr(g), _ptr(gin)) == 0
    return gin.view(dt).reshape(shape)


# ---------------------------------------------------------------------------
# Scalar helpers, exhaustively or densely
# ---------------------------------------------------------------------------

def test_half_to_float_all_65536(emu):
    bits = np.arange(65536, dtype=np.uint16)
    want = bits.view(np.float16).astype(np.float32)
    got = np.array([emu.emu_half_to_float(int(b)) for b in bits], np.float32)
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan)
    assert np.array_equal(got[~nan].view(np.uint32), want[~nan].view(np.uint32))


def test_float_to_half_and_bf16_round_to_nearest_even(emu):
    rng = np.random.default_rng(0)
    u = rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32)
    # dense around the half range, subnormals, the overflow threshold and ties
    edges = np.array([0x477fe000, 0x477fefff, 0x477ff000, 0x477ff001, 0x38800000, 0x387fffff, 0x33000000,
                      0x33000001, 0x32ffffff, 0x7f800000, 0, 0x80000000, 0x3f801000, 0x3f803000], np.uint32)
    near = (rng.integers(0x30000000, 0x48000000, 200_000, dtype=np.uint64)).astype(np.uint32)
    # every multiple of half a subnormal ulp (2^-25): ties in the subnormal range
    sub_ties = (np.arange(0, 4096, dtype=np.float32) * np.float32(2.0**-25)).view(np.uint32)
    # every multiple of half a normal ulp between 1 and 2 (ties for RNE) and near 2^15
    ties = np.concatenate([(np.float32(1) + np.arange(2048, dtype=np.float32) / 2048).view(np.uint32),
                           (np.float32(2.0**15) + np.arange(2048, dtype=np.float32) * 16).view(np.uint32)])
    u = np.concatenate([u, edges, edges | 0x80000000, near, sub_ties, sub_ties | 0x80000000, ties])
    u = u.astype(np.uint32)
    f = u.view(np.float32)
    f = f[~np.isnan(f)]
    with np.errstate(over="ignore"):
        want_h = f.astype(np.float16).view(np.uint16)
        want_b = f.astype(ml_dtypes.bfloat16).view(np.uint16)
    got_h = np.array([emu.emu_float_to_half(float(v)) for v in f], np.uint16)
    got_b = np.array([emu.emu_float_to_bf16(float(v)) for v in f], np.uint16)
    assert np.array_equal(got_h, want_h), f[got_h != want_h][:5]
    assert np.array_equal(got_b, want_b), f[got_b != want_b][:5]


@pytest.mark.parametrize("bf16", [0, 1])
def test_16bit_keys_preserve_order(emu, bf16):
    bits = np.arange(65536, dtype=np.uint16)
    vals = (bits.view(ml_dtypes.bfloat16) if bf16 else bits.view(np.float16)).astype(np.float32)
    keys = np.array([emu.emu_f16_key(int(b), bf16) for b in bits], np.int64)
    ok = ~np.isnan(vals)
    order = np.argsort(vals[ok], kind="stable")
    v, kk = vals[ok][order], keys[ok][order]
    assert np.all(np.diff(kk)[np.diff(v) > 0] > 0) and np.all(np.diff(kk)[np.diff(v) == 0] == 0)
    assert np.all(keys[~ok] == np.iinfo(np.int32).min)


@pytest.mark.parametrize("mode", MODES)
def test_bin_edges_match_golden(emu, mode):
    rng = np.random.default_rng(1)
    extents = np.concatenate([np.arange(1, 200), rng.integers(200, 2**15, 300)])
    s, e = ctypes.c_int(), ctypes.c_int()
    for pooled in (1, 2, 3, 5, 6, 7, 9, 13, 14, 16, 49):
        want_s, want_e = bin_offsets(extents, pooled, mode)
        for idx, extent in enumerate(extents):
            origin, limit = int(rng.integers(-40, 40)), int(rng.integers(1, 2**15))
            for p in range(pooled):
                emu.emu_bin_range(cuda._MODES[mode], p, origin, int(extent), pooled, limit, s, e)
                ws = min(max(int(want_s[idx, p]) + origin, 0), limit)
                we = min(max(int(want_e[idx, p]) + origin, 0), limit)
                assert (s.value, e.value) == (ws, we), (mode, extent, pooled, p)


@pytest.mark.parametrize("mode", MODES)
def test_scaled_coordinates_match_golden(emu, mode):
    rng = np.random.default_rng(2)
    limit = 2**13 if mode == "float16" else 2**20
    for scale in (1.0, 0.5, 0.25, 1 / 16, 0.3, 1 / 3, 0.0625, 2.0):
        coords = np.concatenate([
            rng.uniform(-limit, limit, 300),
            (rng.integers(-2000, 2000, 300) + 0.5) / scale,  # .5 after scaling
            rng.integers(-2000, 2000, 100) / scale,
            [0.0, -0.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997],
        ])
        want = scale_coordinates(coords, scale, mode)
        ct = cuda._COORD_DTYPE[mode]
        typed = coords.astype(ct)
        for i, v in enumerate(typed):
            one = np.array([v], ct)
            if ct == np.float16:
                one = one.view(np.uint16)
            got = emu.emu_scale_round(cuda._MODES[mode], _ptr(one), scale)
            assert got == want[i], (mode, scale, coords[i], got, want[i])


# ---------------------------------------------------------------------------
# Forward and backward kernels, bit for bit
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kernel", ["tiled", "simple"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_forward_matches_golden(emu, dtype, mode, kernel):
    for seed in range(6):
        features, rois, size, scale = make_case(seed * 7 + 3, dtype)
        want_out, want_arg = golden.roi_pool(features, rois, size, scale, bin_mode=mode)
        # odd block sizes and a capped grid exercise the strided loops
        block = (33, 7, None)[seed % 3]
        out, arg = emulate_forward(emu, features, rois, size, scale, mode, kernel, block=block,
                                   max_grid=(3 if seed % 2 else cuda.MAX_GRID))
        assert_bit_equal(arg, want_arg, f"argmax seed={seed}")
        assert_bit_equal(out, want_out, f"out seed={seed}")


def test_forward_ties_pick_first_in_raster_order(emu):
    """A bin whose maximum appears at (row 1, col 2) and (row 2, col 0): the
    tiled kernel's column candidates are (col 0, row 2) and (col 2, row 1);
    raster order wants row 1."""
    x = np.zeros((1, 1, 4, 4), np.float32)
    x[0, 0, 2, 0] = 5.0
    x[0, 0, 1, 2] = 5.0
    x[0, 0, 3, 3] = -0.0
    rois = np.array([[0, 0, 0, 3, 3]], np.float32)
    for kernel in ("tiled", "simple"):
        out, arg = emulate_forward(emu, x, rois, 1, 1.0, "float32", kernel)
        assert arg[0, 0, 0, 0] == 1 * 4 + 2 and out[0, 0, 0, 0] == 5.0
    # -0.0 vs 0.0 tie: the first (0.0 at (0, 0)) wins, with its sign bit
    y = np.full((1, 1, 2, 2), -0.0, np.float32)
    y[0, 0, 1, 1] = 0.0
    for kernel in ("tiled", "simple"):
        out, arg = emulate_forward(emu, y, np.array([[0, 0, 0, 1, 1]], np.float32), 1, 1.0, "float32", kernel)
        assert arg[0, 0, 0, 0] == 0 and np.signbit(out[0, 0, 0, 0])


def test_forward_all_nan_bin_gives_sentinel(emu):
    x = np.full((1, 2, 3, 3), np.nan, np.float32)
    x[0, 1] = -np.inf
    for kernel in ("tiled", "simple"):
        out, arg = emulate_forward(emu, x, np.array([[0, 0, 0, 2, 2]], np.float32), 2, 1.0, "float32", kernel)
        assert np.all(arg == -1) and np.all(out == -golden.FLT_MAX)


@pytest.mark.parametrize("dtype", ["float32", "int16"])
def test_forward_small_workload(emu, dtype):
    from golden.workloads import make_workload

    wl = make_workload("small", dtype=dtype)
    want = golden.roi_pool(*wl.call_args())
    for kernel in ("tiled", "simple"):
        got = emulate_forward(emu, *wl.call_args(), "float32", kernel, max_grid=16)
        assert_bit_equal(got[1], want[1], f"{kernel} argmax")
        assert_bit_equal(got[0], want[0], f"{kernel} out")


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_backward_matches_golden(emu, dtype):
    collisions = 0
    for seed in range(10):
        features, rois, size, scale = make_case(seed, dtype, specials=False)
        _, argmax = golden.roi_pool(features, rois, size, scale)
        rng = np.random.default_rng(seed)
        grad = (rng.standard_normal(argmax.shape) * 10.0 ** rng.integers(-3, 4, argmax.shape)).astype(features.dtype)
        batch = rois[:, 0].astype(np.int64)
        want = golden.roi_pool_backward(grad, argmax, features.shape, batch)
        got = emulate_backward(emu, grad, argmax, features.shape, batch, block=(64, 5)[seed % 2],
                               max_grid=(2 if seed % 3 == 0 else cuda.MAX_GRID))
        assert_bit_equal(got, want, f"grad_input seed={seed}")
        keys, m = cuda._backward_keys(np, argmax, batch, features.shape[1], features.shape[2] * features.shape[3])
        collisions += int(keys.size - np.unique(keys // m).size)
    assert collisions > 0, "the cases never summed two contributions into one element"


def test_backward_order_matters_and_is_respected(emu):
    """Three float32 contributions to one element whose sum depends on order:
    (1e8 + 1) - 1e8 != 1e8 + (1 - 1e8) in float32; golden's raster order wins."""
    grad = np.array([1e8, 1.0, -1e8], np.float32).reshape(3, 1, 1, 1)
    argmax = np.zeros((3, 1, 1, 1), np.int64)
    batch = np.zeros(3, np.int64)
    want = golden.roi_pool_backward(grad, argmax, (1, 1, 2, 2), batch)
    got = emulate_backward(emu, grad, argmax, (1, 1, 2, 2), batch)
    assert_bit_equal(got, want, "grad_input")
    assert got[0, 0, 0, 0] == np.float32(np.float32(1e8) + np.float32(1.0)) - np.float32(1e8)


# ---------------------------------------------------------------------------
# The CuPy host path itself, with a stand-in for CuPy whose kernels are the
# emulator: checks host/cuda.py's uploads, launch arguments, output views,
# timing loop and backward key pipeline exactly as they will run on a GPU.
# ---------------------------------------------------------------------------

class _FakeArray(np.ndarray):
    def get(self):
        return np.array(self, copy=True).view(np.ndarray)


def _fake(a):
    return np.asarray(a).view(_FakeArray)


class _FakeKernel:
    def __init__(self, lib, name):
        self.lib, self.name = lib, name

    def __call__(self, grid, block, args, shared_mem=0):
        import re as _re

        (grid,), (block,) = grid, block
        assert shared_mem <= self.lib.emu_smem_bytes()
        m = _re.fullmatch(r"roi_pool_forward_(tiled|simple)<roi_(\w+), (\d)>", self.name)
        codes = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3, "i8": 4, "i16": 5, "i32": 6}
        if m:
            x, batch, boxes, scale, k, c, h, w, ph, pw, out, argmax = args
            assert isinstance(scale, np.float64) and all(isinstance(v, np.int32) for v in (k, c, h, w, ph, pw))
            assert batch.dtype == np.int64 and argmax.dtype == np.int64
            if m.group(1) == "tiled":
                assert shared_mem == cuda._tiled_smem_bytes(x.dtype.itemsize, int(ph), int(w))
            rc = self.lib.emu_forward(codes[m.group(2)], int(m.group(3)), int(m.group(1) == "tiled"), grid, block,
                                      _ptr(x), _ptr(batch), _ptr(boxes), float(scale), int(k), int(c), int(h),
                                      int(w), int(ph), int(pw), _ptr(out), _ptr(argmax))
        else:
            m = _re.fullmatch(r"roi_pool_backward_segments<roi_(\w+)>", self.name)
            keys, n_keys, mm, g, gin = args
            assert keys.dtype == np.int64 and keys.flags.c_contiguous
            rc = self.lib.emu_backward(codes[m.group(1)], grid, block, _ptr(keys), int(n_keys), int(mm),
                                       _ptr(g), _ptr(gin))
        assert rc == 0


@pytest.fixture
def fake_cupy(emu, monkeypatch):
    import sys
    import types

    class Module:
        def __init__(self, code, options, name_expressions):
            assert "-fmad=false" in options and code == cuda.kernel_source()
            self.names = set(name_expressions)

        def get_function(self, name):
            assert name in self.names
            return _FakeKernel(emu, name)

    class Event:
        def record(self):
            pass

        def synchronize(self):
            pass

    def empty(shape, dtype):
        a = np.empty(shape, dtype)
        a.view(np.uint8)[...] = 0x5A  # garbage: every element must be written
        return _fake(a)

    fake = types.SimpleNamespace(
        asarray=lambda a, dtype=None: _fake(np.array(a, dtype=dtype, copy=True)),
        empty=empty,
        zeros=lambda shape, dtype: _fake(np.zeros(shape, dtype)),
        nonzero=np.nonzero, sort=np.sort, int64=np.int64,
        RawModule=Module,
        cuda=types.SimpleNamespace(
            Event=Event, get_elapsed_time=lambda s, e: 0.25,
            get_current_stream=lambda: types.SimpleNamespace(synchronize=lambda: None)),
    )
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(cuda, "cuda_available", lambda: (True, "fake device"))
    monkeypatch.setattr(cuda, "_MODULES", {})
    return fake


@pytest.mark.parametrize("dtype", DTYPES)
def test_cupy_host_path_forward(fake_cupy, dtype):
    for seed, mode in enumerate(MODES):
        features, rois, size, scale = make_case(100 + seed, dtype)
        want = golden.roi_pool(features, rois, size, scale, bin_mode=mode)
        for kernel in ("auto", "simple"):
            out, arg = cuda.roi_pool_cuda(features, rois, size, scale, bin_mode=mode, kernel=kernel)
            assert_bit_equal(arg, want[1], f"{kernel} argmax")
            assert_bit_equal(out, want[0], f"{kernel} out")
    out, arg, ms = cuda.roi_pool_cuda(features, rois, size, scale, return_timing=True, repeat=4)
    assert ms == 0.25
    problem = golden.validate(features, rois, size, scale)
    out2, arg2, stats = cuda.run_backend(problem, timing=True)
    assert_bit_equal(out2, out, "run_backend") and stats["kernel_ms"] == 0.25 and stats["kernel"] == "tiled"
    empty = cuda.roi_pool_cuda(features, np.zeros((0, 5), np.float32), size, scale)
    assert empty[0].shape == (0, features.shape[1], *size) and empty[0].dtype == features.dtype


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_cupy_host_path_backward(fake_cupy, dtype):
    features, rois, size, scale = make_case(5, dtype, specials=False)
    _, argmax = golden.roi_pool(features, rois, size, scale)
    grad = np.random.default_rng(5).standard_normal(argmax.shape).astype(features.dtype)
    batch = rois[:, 0].astype(np.int64)
    want = golden.roi_pool_backward(grad, argmax, features.shape, batch)
    assert_bit_equal(cuda.roi_pool_backward_cuda(grad, argmax, features.shape, batch), want, "grad_input")
    got, ms = cuda.roi_pool_backward_cuda(grad, argmax, features.shape, batch, return_timing=True, repeat=3)
    assert_bit_equal(got, want, "grad_input (timed)") and ms == 0.25
