"""The fast implementation equals the loop-by-loop specification, bit for bit."""

import numpy as np
from hypothesis import HealthCheck, given, settings

import golden

from .strategies import problems


def assert_same_bits(a, b):
    out_a, arg_a = a
    out_b, arg_b = b
    assert out_a.dtype == out_b.dtype
    assert out_a.shape == out_b.shape
    assert out_a.tobytes() == out_b.tobytes(), "values differ in their bits"
    assert arg_a.dtype == np.int64 and arg_b.dtype == np.int64
    np.testing.assert_array_equal(arg_a, arg_b)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_fast_equals_reference(problem):
    features, rois, output_size, scale, mode = problem
    fast = golden.roi_pool(features, rois, output_size, scale, bin_mode=mode)
    ref = golden.roi_pool(features, rois, output_size, scale, bin_mode=mode, impl="reference")
    assert_same_bits(fast, ref)


def test_list_of_boxes_equals_batch_column():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 9, 11)).astype(np.float32)
    boxes = [rng.uniform(-2, 12, (3, 4)).astype(np.float32), rng.uniform(-2, 12, (2, 4)).astype(np.float32)]
    rows = np.concatenate([np.c_[np.full(len(b), i, np.float32), b] for i, b in enumerate(boxes)])
    assert_same_bits(golden.roi_pool(x, boxes, 3), golden.roi_pool(x, rows, 3))


def test_semantics_by_hand():
    """A 1x1x4x4 map worked out on paper."""
    x = np.array(
        [[[[1, 5, 5, 0], [2, np.nan, 3, 0], [9, 9, -np.inf, 0], [0, 0, 0, 0]]]], dtype=np.float32
    )
    # RoI covers rows 0..2 and columns 0..2; 2x2 bins in exact mode are
    # rows [0,2) [1,3), columns [0,2) [1,3): the middle row/column is shared.
    out, arg = golden.roi_pool(x, np.array([[0, 0, 0, 2, 2]], np.float32), 2, bin_mode="exact")
    np.testing.assert_array_equal(out[0, 0], [[5, 5], [9, 9]])
    # Ties: 5 at (0,1) and (0,2) -> first in raster order; 9 at (2,0), (2,1).
    np.testing.assert_array_equal(arg[0, 0], [[1, 1], [8, 9]])
    # A RoI entirely outside the map: every bin empty -> 0 and -1.
    out, arg = golden.roi_pool(x, np.array([[0, 10, 10, 12, 12]], np.float32), 2)
    assert not out.any() and (arg == -1).all()
    # A bin of NaN and -inf only outputs -FLT_MAX with argmax -1.
    y = np.full((1, 1, 2, 2), np.nan, np.float32)
    y[0, 0, 1, 1] = -np.inf
    out, arg = golden.roi_pool(y, np.array([[0, 0, 0, 1, 1]], np.float32), 1)
    assert out[0, 0, 0, 0] == np.float32(-golden.FLT_MAX) and arg[0, 0, 0, 0] == -1
    # float16: the sentinel overflows to -inf.
    out, _ = golden.roi_pool(y.astype(np.float16), np.array([[0, 0, 0, 1, 1]], np.float32), 1)
    assert out[0, 0, 0, 0] == -np.inf


def test_negative_zero_keeps_its_sign():
    x = np.array([[[[-0.0, 0.0], [0.0, -1.0]]]], np.float32)
    out, arg = golden.roi_pool(x, np.array([[0, 0, 0, 1, 1]], np.float32), 1)
    assert np.signbit(out[0, 0, 0, 0]) and arg[0, 0, 0, 0] == 0
