"""Deterministic backward, equal to a plain accumulation in raster order."""

import numpy as np
import pytest

import golden


def _loop_backward(grad, arg, shape, batch, acc_type):
    n, c, h, w = shape
    g = np.zeros(shape, dtype=acc_type)
    k_n, _, ph_n, pw_n = grad.shape
    for k in range(k_n):
        for ch in range(c):
            for i in range(ph_n):
                for j in range(pw_n):
                    a = arg[k, ch, i, j]
                    if a >= 0:
                        g[batch[k], ch, a // w, a % w] += acc_type(grad[k, ch, i, j])
    return g


@pytest.mark.parametrize("dtype, acc", [(np.float32, np.float32), (np.float64, np.float64), (np.float16, np.float32)])
def test_backward_matches_loop_and_is_deterministic(dtype, acc):
    rng = np.random.default_rng(9)
    x = rng.integers(-2, 3, (2, 3, 7, 9)).astype(dtype)  # many ties, many overlaps
    rois = np.array([[0, 0, 0, 6, 6], [1, 1, 1, 8, 6], [0, 2, 2, 3, 3], [0, 0, 0, 6, 6], [1, 5, 5, 2, 2]], np.float32)
    out, arg = golden.roi_pool(x, rois, 3)
    grad = rng.standard_normal(out.shape).astype(dtype)
    batch = rois[:, 0].astype(int)
    g1 = golden.roi_pool_backward(grad, arg, x.shape, batch)
    g2 = golden.roi_pool_backward(grad, arg, x.shape, batch)
    assert g1.dtype == dtype and g1.tobytes() == g2.tobytes()
    want = _loop_backward(grad, arg, x.shape, batch, acc).astype(dtype)
    assert g1.tobytes() == want.tobytes()
    # Every unit of gradient lands somewhere: nothing is lost or invented.
    # (Within the rounding of one final conversion per input element.)
    moved = grad[arg >= 0].astype(np.float64)
    bound = np.abs(moved).sum() * np.finfo(dtype).eps
    assert abs(g1.astype(np.float64).sum() - moved.sum()) <= bound


def test_backward_rejects_bad_input():
    arg = np.zeros((1, 1, 2, 2), np.int64)
    with pytest.raises(TypeError, match="floating"):
        golden.roi_pool_backward(np.zeros((1, 1, 2, 2), np.int16), arg, (1, 1, 3, 3), [0])
    with pytest.raises(ValueError, match="same shape"):
        golden.roi_pool_backward(np.zeros((1, 1, 2, 3), np.float32), arg, (1, 1, 3, 3), [0])
    with pytest.raises(ValueError, match="argmax values"):
        golden.roi_pool_backward(np.zeros((1, 1, 2, 2), np.float32), arg + 9, (1, 1, 3, 3), [0])
    with pytest.raises(ValueError, match="batch index"):
        golden.roi_pool_backward(np.zeros((1, 1, 2, 2), np.float32), arg, (1, 1, 3, 3), [1])
