"""Tests of the CUDA path (host/cuda.py, host/kernels/roi_pool.cu).

Three layers:

* NVRTC -> PTX for every instantiation, and ``ptxas`` for sm_80 / sm_90:
  need no GPU, run everywhere.
* Host-side behaviour without a GPU: validation happens before any device
  check, and the missing device is reported clearly.
* ``@pytest.mark.gpu``: bit-exactness against the golden model on a real
  device (random cases with ties, NaN, +-inf, -0.0, malformed and
  out-of-image RoIs, .5 coordinates; every dtype, bin mode and kernel) and
  the deterministic backward.  Skipped with "no CUDA device: ..." here.

The same cases also run on the host emulation of the kernels
(``test_cuda_emulation.py``), which is how the kernel logic is checked
without a GPU.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

import golden
from host import cuda

DTYPES = ("float32", "float64", "float16", "bfloat16", "int8", "int16", "int32")
MODES = ("exact", "float32", "float64", "float16")
SCALES = (1.0, 0.5, 0.25, 1 / 16, 0.3)


# ---------------------------------------------------------------------------
# Random cases (shared with test_cuda_emulation.py)
# ---------------------------------------------------------------------------

def make_features(rng, dtype, shape, specials=True):
    """Features with many ties and, for floats, NaN / +-inf / -0.0 / -FLT_MAX."""
    dt = golden.canonical_dtype(dtype)
    if golden.dtype_name(dt).startswith("int"):
        info = np.iinfo(dt)
        x = rng.integers(-2, 3, shape).astype(dt)  # small range: ties
        if specials:
            mask = rng.random(shape)
            x[mask < 0.05] = info.min
            x[mask > 0.95] = info.max
        return x
    x = rng.integers(-3, 4, shape).astype(np.float64)  # integral values: ties
    if specials:
        mask = rng.random(shape)
        x[mask < 0.04] = np.nan
        x[(mask >= 0.04) & (mask < 0.07)] = -np.inf
        x[(mask >= 0.07) & (mask < 0.09)] = np.inf
        x[(mask >= 0.09) & (mask < 0.12)] = -0.0
        x[(mask >= 0.12) & (mask < 0.14)] = -golden.FLT_MAX
        if dt == np.float64:
            x[(mask >= 0.14) & (mask < 0.16)] = -1e300  # below the float64 sentinel
    with np.errstate(over="ignore"):
        return x.astype(dt)


def make_rois(rng, k, n, h, w, scale):
    """RoIs [b, x1, y1, x2, y2] in image coordinates: normal, malformed,
    out-of-image and .5-after-scaling coordinates."""
    img_h, img_w = h / scale, w / scale
    rows = []
    for _ in range(k):
        kind = rng.integers(0, 5)
        b = rng.integers(0, n)
        if kind == 0:  # ordinary box inside the image
            x1, x2 = np.sort(rng.uniform(0, img_w, 2))
            y1, y2 = np.sort(rng.uniform(0, img_h, 2))
        elif kind == 1:  # malformed: x2 < x1 and/or y2 < y1
            x1, x2 = rng.uniform(0, img_w, 2)
            y1, y2 = rng.uniform(0, img_h, 2)
            x1, x2 = max(x1, x2), min(x1, x2)
        elif kind == 2:  # partly or wholly outside the image
            x1 = rng.uniform(-img_w, img_w * 1.5)
            y1 = rng.uniform(-img_h, img_h * 1.5)
            x2 = x1 + rng.uniform(0, img_w)
            y2 = y1 + rng.uniform(0, img_h)
        elif kind == 3:  # scaled coordinates land on .5 (C round: away from zero)
            halves = (rng.integers(-4, 2 * max(h, w) + 4, 4) + 0.5) / scale
            x1, y1, x2, y2 = halves
        else:  # integral cells, tiny boxes (1x1, 1xn)
            x1 = rng.integers(-1, w + 1) / scale
            y1 = rng.integers(-1, h + 1) / scale
            x2 = x1 + rng.integers(0, 3) / scale
            y2 = y1 + rng.integers(0, 3) / scale
        rows.append([b, x1, y1, x2, y2])
    return np.array(rows, dtype=np.float64).reshape(k, 5)


def make_case(seed, dtype, *, specials=True):
    """One random problem: (features, rois, output_size, scale)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3))
    c = int(rng.integers(1, 5))
    h = int(rng.integers(1, 14))
    w = int(rng.integers(1, 14))
    k = int(rng.integers(1, 9))
    ph, pw = int(rng.integers(1, 8)), int(rng.integers(1, 8))
    scale = float(SCALES[rng.integers(0, len(SCALES))])
    features = make_features(rng, dtype, (n, c, h, w), specials)
    rois = make_rois(rng, k, n, h, w, scale)
    rois_dtype = np.float32 if rng.random() < 0.5 else np.float64
    return features, rois.astype(rois_dtype), (ph, pw), scale


def assert_bit_equal(got, want, what=""):
    """Equal shapes, dtypes and bits (so -0.0 != 0.0 and NaN payloads count)."""
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    if got.dtype.kind in "iu":
        bad = np.flatnonzero(got.reshape(-1) != want.reshape(-1))
    else:
        u = np.dtype(f"u{got.dtype.itemsize}")
        bad = np.flatnonzero(got.reshape(-1).view(u) != want.reshape(-1).view(u))
    assert bad.size == 0, (
        f"{what}: {bad.size} of {got.size} elements differ; first at flat {bad[0]}:"
        f" got {got.reshape(-1)[bad[0]]!r}, want {want.reshape(-1)[bad[0]]!r}"
    )


# ---------------------------------------------------------------------------
# (a) NVRTC -> PTX, no GPU needed
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ptx_by_arch():
    """PTX and lowered names for compute_80 and compute_90 (compiled once)."""
    try:
        return {arch: cuda.compile_ptx(arch, return_lowered=True) for arch in ("compute_80", "compute_90")}
    except RuntimeError as exc:
        if "not available" in str(exc) or "could not be loaded" in str(exc):
            pytest.skip(f"NVRTC unavailable: {exc}")
        raise


def test_every_instantiation_is_named():
    names = cuda.all_kernel_names()
    assert len(names) == len(set(names)) == len(DTYPES) * len(MODES) * 2 + 4
    assert cuda.forward_kernel_name("float32", "float32") == "roi_pool_forward_tiled<roi_f32, 1>"
    assert cuda.forward_kernel_name(np.float16, "exact", "simple") == "roi_pool_forward_simple<roi_f16, 0>"
    assert cuda.backward_kernel_name("float64") == "roi_pool_backward_segments<roi_f64>"
    with pytest.raises(TypeError):
        cuda.backward_kernel_name("int16")
    with pytest.raises(ValueError):
        cuda.forward_kernel_name("float32", "float8")


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
def test_ptx_has_every_entry_point(ptx_by_arch, arch):
    ptx, lowered = ptx_by_arch[arch]
    assert set(lowered) == set(cuda.all_kernel_names())
    entries = set(re.findall(r"\.entry\s+([A-Za-z0-9_]+)\s*\(", ptx))
    for name, mangled in lowered.items():
        assert mangled in entries, f"{name} ({mangled}) has no .entry in the PTX"
    assert len(entries) == len(lowered)
    target = re.search(r"^\.target\s+(\S+)", ptx, re.M)
    assert target and target.group(1) == "sm_" + arch.split("_")[1]


def test_ptx_has_no_fused_multiply_add(ptx_by_arch):
    """-fmad=false and the _rn intrinsics: no floating-point FMA anywhere, so
    no bin edge can be computed with a contracted p * bin_size."""
    ptx, _ = ptx_by_arch["compute_80"]
    assert not re.search(r"\bfma\.", ptx)
    assert re.search(r"\bdiv\.rn\.f32\b", ptx) and re.search(r"\bmul\.rn\.f64\b", ptx)


def test_compile_error_is_reported():
    with pytest.raises(RuntimeError, match="NVRTC failed"):
        cuda.compile_ptx("compute_80", names=["roi_pool_forward_tiled<roi_nonexistent, 1>"])


# ---------------------------------------------------------------------------
# (b) ptxas, when present
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("sm", ["sm_80", "sm_90"])
def test_ptxas_accepts_ptx(ptx_by_arch, tmp_path, sm):
    ptxas = shutil.which("ptxas")
    if ptxas is None:
        pytest.skip("ptxas not on PATH")
    ptx, lowered = ptx_by_arch["compute_" + sm.split("_")[1]]
    src = tmp_path / f"roi_pool_{sm}.ptx"
    src.write_text(ptx)
    res = subprocess.run(
        [ptxas, f"-arch={sm}", "-v", str(src), "-o", str(tmp_path / f"roi_pool_{sm}.cubin")],
        capture_output=True, text=True, timeout=600,
    )
    assert res.returncode == 0, res.stderr[-4000:]
    # no kernel may spill to local memory (performance cliff)
    spills = re.findall(r"(\d+) bytes spill stores", res.stderr)
    assert spills and all(int(s) == 0 for s in spills), res.stderr[-2000:]


# ---------------------------------------------------------------------------
# Host behaviour without a device
# ---------------------------------------------------------------------------

def test_cuda_available_reports_a_reason():
    ok, reason = cuda.cuda_available()
    assert isinstance(ok, bool) and isinstance(reason, str) and reason
    if not ok:
        assert reason.startswith("no CUDA device: ")


def test_validation_runs_before_device_work():
    """Bad input gets golden's error whether or not a GPU is present."""
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"rois must have shape \(K, 5\)"):
        cuda.roi_pool_cuda(x, np.zeros((3, 4), np.float32), 2)
    with pytest.raises(ValueError, match="out of range"):
        cuda.roi_pool_cuda(x, np.array([[1, 0, 0, 1, 1]], np.float32), 2)
    with pytest.raises(ValueError, match="bin_mode"):
        cuda.roi_pool_cuda(x, np.array([[0, 0, 0, 1, 1]], np.float32), 2, bin_mode="float8")
    with pytest.raises(TypeError, match="unsupported feature dtype"):
        cuda.roi_pool_cuda(x.astype(np.complex64), np.array([[0, 0, 0, 1, 1]], np.float32), 2)
    with pytest.raises(TypeError, match="floating-point"):
        cuda.roi_pool_backward_cuda(np.zeros((1, 2, 2, 2), np.int16), np.zeros((1, 2, 2, 2), np.int64),
                                    (1, 2, 4, 4), np.zeros(1, np.int64))
    with pytest.raises(ValueError, match="argmax values"):
        cuda.roi_pool_backward_cuda(np.zeros((1, 2, 2, 2), np.float32), np.full((1, 2, 2, 2), 16),
                                    (1, 2, 4, 4), np.zeros(1, np.int64))


def test_missing_device_is_a_clear_error():
    ok, _ = cuda.cuda_available()
    if ok:
        pytest.skip("a CUDA device is present")
    x = np.zeros((1, 2, 4, 4), np.float32)
    with pytest.raises(RuntimeError, match="^no CUDA device: "):
        cuda.roi_pool_cuda(x, np.array([[0, 0, 0, 3, 3]], np.float32), 2)


def test_plan_picks_kernel_by_shared_memory():
    x = np.zeros((1, 1, 8, 10_000), np.float32)
    rois = np.array([[0, 0, 0, 5, 5]], np.float32)
    small = cuda.plan_forward(golden.validate(x[..., :50], rois, 7))
    assert small.kernel == "tiled" and small.smem == 7 * 50 * 8
    big = cuda.plan_forward(golden.validate(x, rois, 7))
    assert big.kernel == "simple" and big.smem == 0
    with pytest.raises(ValueError, match="shared memory"):
        cuda.plan_forward(golden.validate(x, rois, 7), "tiled")


def test_plan_coordinates_follow_the_bin_mode():
    x = np.zeros((1, 1, 4, 4), np.float16)
    rois = np.array([[0, 0.1, 0.2, 2.7, 3.3]], np.float64)
    for mode, dt in (("exact", np.float32), ("float32", np.float32), ("float64", np.float64),
                     ("float16", np.float16)):
        plan = cuda.plan_forward(golden.validate(x, rois, 2, 1.0, mode))
        want = rois[:, 1:].astype(dt)
        got = plan.boxes.view(dt) if dt == np.float16 else plan.boxes
        assert got.dtype == want.dtype and np.array_equal(got, want)
        assert plan.x.dtype == np.uint16  # half travels as raw bits


# ---------------------------------------------------------------------------
# (c) On a GPU
# ---------------------------------------------------------------------------

def _gpu_or_skip():
    ok, reason = cuda.cuda_available()
    if not ok:
        pytest.skip(reason)


gpu = pytest.mark.gpu


@gpu
@pytest.mark.parametrize("kernel", ["tiled", "simple"])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_forward_bit_exact(dtype, mode, kernel):
    _gpu_or_skip()
    for seed in range(12):
        features, rois, size, scale = make_case(seed, dtype)
        want_out, want_arg = golden.roi_pool(features, rois, size, scale, bin_mode=mode)
        out, arg = cuda.roi_pool_cuda(features, rois, size, scale, bin_mode=mode, kernel=kernel)
        assert_bit_equal(arg, want_arg, f"argmax seed={seed}")
        assert_bit_equal(out, want_out, f"out seed={seed}")


@gpu
@pytest.mark.parametrize("dtype", ["float32", "int16", "float16"])
def test_gpu_forward_workload_small(dtype):
    _gpu_or_skip()
    from golden.workloads import make_workload

    wl = make_workload("small", dtype=dtype)
    mode = "float32"
    want = golden.roi_pool(*wl.call_args(), bin_mode=mode)
    got = cuda.roi_pool_cuda(*wl.call_args(), bin_mode=mode)
    assert_bit_equal(got[1], want[1], "argmax")
    assert_bit_equal(got[0], want[0], "out")


@gpu
def test_gpu_forward_timing_and_empty():
    _gpu_or_skip()
    features, rois, size, scale = make_case(1, "float32")
    out, arg, ms = cuda.roi_pool_cuda(features, rois, size, scale, return_timing=True, repeat=5)
    assert ms > 0
    want = golden.roi_pool(features, rois, size, scale)
    assert_bit_equal(out, want[0], "out")
    out, arg = cuda.roi_pool_cuda(features, np.zeros((0, 5), np.float32), size, scale)
    assert out.shape == (0, features.shape[1]) + size and arg.shape == out.shape


@gpu
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_gpu_backward_equals_golden_and_is_deterministic(dtype):
    _gpu_or_skip()
    for seed in range(8):
        features, rois, size, scale = make_case(seed, dtype, specials=False)
        # small RoIs on a small map: many bins share an argmax (real collisions)
        _, argmax = golden.roi_pool(features, rois, size, scale)
        rng = np.random.default_rng(seed)
        grad = rng.standard_normal(argmax.shape).astype(features.dtype)
        batch = rois[:, 0].astype(np.int64)
        want = golden.roi_pool_backward(grad, argmax, features.shape, batch)
        first = cuda.roi_pool_backward_cuda(grad, argmax, features.shape, batch)
        assert_bit_equal(first, want, f"grad_input seed={seed}")
        for _ in range(3):
            assert_bit_equal(cuda.roi_pool_backward_cuda(grad, argmax, features.shape, batch), first, "rerun")


# ---------------------------------------------------------------------------
# Benchmark script
# ---------------------------------------------------------------------------

def test_gpu_bench_without_device_writes_nothing(tmp_path, capsys):
    from host import gpu_bench

    ok, _ = cuda.cuda_available()
    if ok:
        pytest.skip("a CUDA device is present")
    out = tmp_path / "gpu.json"
    assert gpu_bench.main(["--out", str(out), "--workloads", "small"]) == 2
    assert not out.exists()
    assert "no CUDA device" in capsys.readouterr().err


def test_gpu_bench_min_bytes_counts_outputs_and_windows():
    from golden.workloads import make_workload
    from host import gpu_bench

    wl = make_workload("small", dtype="float32")
    problem = golden.validate(*wl.call_args())
    k, c = problem.num_rois, wl.features.shape[1]
    ph, pw = problem.output_size
    nbytes = gpu_bench.min_bytes(problem, 4)
    outputs = k * c * ph * pw * 12
    assert outputs < nbytes <= outputs + k * wl.features[0].size * 4 + k * 5 * 4
    # one RoI covering the whole map reads the whole plane stack once
    x = np.zeros((1, 3, 5, 6), np.float32)
    whole = golden.validate(x, np.array([[0, 0, 0, 5, 4]], np.float32), 2)
    assert gpu_bench.min_bytes(whole, 4) == 3 * 30 * 4 + 3 * 4 * 12 + 5 * 4
