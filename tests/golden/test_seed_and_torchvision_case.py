"""The seed's loop transcribed literally, and torchvision's own RoIPool test case."""

import math

import numpy as np
import pytest

import golden


def seed_roipool(X, roi, p):
    """The seed document's loop, word for word (1-based i, j; -inf start)."""
    x0, y0, x1, y1 = roi
    C, H, W = X.shape
    Y = np.empty((C, p, p))
    for c in range(1, C + 1):
        for i in range(1, p + 1):
            for j in range(1, p + 1):
                hstart = math.floor((i - 1) * (y1 - y0 + 1) / p + y0)
                hend = math.ceil(i * (y1 - y0 + 1) / p + y0)
                wstart = math.floor((j - 1) * (x1 - x0 + 1) / p + x0)
                wend = math.ceil(j * (x1 - x0 + 1) / p + x0)
                hstart = max(hstart, 0)
                hend = min(hend, H)
                wstart = max(wstart, 0)
                wend = min(wend, W)
                maxval = -math.inf
                for h in range(hstart, hend):
                    for w in range(wstart, wend):
                        maxval = max(maxval, X[c - 1][h][w])
                Y[c - 1][i - 1][j - 1] = maxval
    return Y


def test_seed_loop_equals_exact_mode_for_integer_rois():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((3, 13, 17))
    checked_empty = 0
    for _ in range(60):
        x0, x1 = sorted(rng.integers(-4, 21, 2))
        y0, y1 = sorted(rng.integers(-4, 17, 2))
        p = int(rng.integers(1, 8))
        want = seed_roipool(X, (x0, y0, x1, y1), p)
        out, _ = golden.roi_pool(X[None], np.array([[0, x0, y0, x1, y1]], np.float64), p, 1.0, bin_mode="exact")
        got = out[0]
        # The one documented difference: an empty bin is -inf in the seed and
        # 0 in Caffe2/torchvision.
        empty = np.isneginf(want)
        checked_empty += int(empty.sum())
        np.testing.assert_array_equal(got[~empty], want[~empty])
        assert (got[empty] == 0).all()
    assert checked_empty > 0, "the cases must include RoIs with empty bins"


def _expected_by_slicing(x, rois, pool_h, pool_w):
    """Max over each bin's slice, the way torchvision's test computes it."""
    k_n, c_n = len(rois), x.shape[1]
    y = np.zeros((k_n, c_n, pool_h, pool_w), dtype=x.dtype)
    for k, roi in enumerate(rois):
        b = int(roi[0])
        x1, y1, x2, y2 = (int(golden.c_round(v)) for v in roi[1:])
        region = x[b, :, y1 : y2 + 1, x1 : x2 + 1]
        rh, rw = region.shape[-2:]
        bh, bw = rh / pool_h, rw / pool_w
        for i in range(pool_h):
            for j in range(pool_w):
                cell = region[:, math.floor(i * bh) : math.ceil((i + 1) * bh), math.floor(j * bw) : math.ceil((j + 1) * bw)]
                if cell.size:
                    y[k, :, i, j] = cell.reshape(c_n, -1).max(axis=1)
    return y


@pytest.mark.parametrize("layout", ["contiguous", "transposed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_torchvision_reference_case(layout, dtype):
    rng = np.random.default_rng(0)
    x = rng.random((2, 50, 10, 10)).astype(dtype)
    if layout == "transposed":
        x = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
        assert not x.flags.c_contiguous
    rois = np.array([[0, 0, 0, 9, 9], [0, 0, 5, 4, 9], [0, 5, 5, 9, 9], [1, 0, 0, 9, 9]], dtype=dtype)
    out, arg = golden.roi_pool(x, rois, (5, 5), 1.0)
    np.testing.assert_array_equal(out, _expected_by_slicing(x, rois, 5, 5))
    # argmax points at the value it reports.
    flat = x.reshape(2, 50, -1)
    b = rois[:, 0].astype(int)
    picked = np.take_along_axis(flat[b], arg.reshape(4, 50, -1), axis=2).reshape(out.shape)
    np.testing.assert_array_equal(picked, out)
