"""Coordinate rounding and bin arithmetic, against facts worked out by hand."""

import math

import numpy as np
import pytest

import golden
from golden.bins import bin_offsets, c_round
from golden.reference import bin_range


@pytest.mark.parametrize(
    "value, expected",
    [(2.5, 3), (-0.5, -1), (-2.5, -3), (0.5, 1), (1.49999, 1), (0.49999997, 0), (-0.49999997, 0),
     (0.49999999999999994, 0), (3.0, 3), (-7.5, -8), (1e7 + 0.5, 10000001)],
)
def test_c_round_is_half_away_from_zero(value, expected):
    assert int(c_round(np.float64(value))) == expected


def test_c_round_differs_from_numpy_round():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5])
    assert list(c_round(x)) == [1, 2, 3, -1, -2]
    assert list(np.round(x).astype(int)) == [0, 2, 2, 0, -2]  # half to even: the wrong rule


def test_coordinate_product_is_float32():
    # 45 * 0.7 is 31.5 once the product is rounded to float32 (C round: 32),
    # but 31.499999999999996 in double (31): the mode's float type matters.
    boxes = np.array([[45, 45, 45, 45]], np.float64)
    assert golden.scale_coordinates(boxes, 0.7, "float32")[0, 0] == 32
    assert golden.scale_coordinates(boxes, 0.7, "exact")[0, 0] == 32
    assert golden.scale_coordinates(boxes, 0.7, "float64")[0, 0] == 31


def _edges_all(mode, r_max=2048, p_max=32):
    out = {}
    r = np.arange(1, r_max + 1)
    for p in range(1, p_max + 1):
        out[p] = bin_offsets(r, p, mode)
    return out


def _count_differences(mode_a, mode_b):
    a, b = _edges_all(mode_a), _edges_all(mode_b)
    total = differ = 0
    for p in a:
        sa, ea = a[p]
        sb, eb = b[p]
        differ += int(((sa != sb) | (ea != eb)).sum())
        total += sa.size
    return differ, total


def test_float32_and_exact_disagree_on_known_count():
    # For r <= 2048 and p <= 32 the float32 arithmetic of Caffe2/torchvision
    # gives a different bin on exactly 2,298 of the 1,081,344 (r, p, ph).
    assert _count_differences("float32", "exact") == (2298, 1081344)


def test_float64_and_float32_disagree_on_known_count():
    assert _count_differences("float64", "float32") == (4561, 1081344)


def test_float16_differs_from_exact_often():
    differ, total = _count_differences("float16", "exact")
    assert 0.25 < differ / total < 0.27


def test_spec_examples():
    # r=57, p=7 in float32: the last bin ends at 58, one row past the RoI.
    s, e = bin_offsets(np.array([57]), 7, "float32")
    assert e[0, -1] == 58
    s, e = bin_offsets(np.array([57]), 7, "exact")
    assert e[0, -1] == 57
    # r=3, p=21, ph=20: (2, 4) in float32, (2, 3) exact.
    s, e = bin_offsets(np.array([3]), 21, "float32")
    assert (s[0, 20], e[0, 20]) == (2, 4)
    s, e = bin_offsets(np.array([3]), 21, "exact")
    assert (s[0, 20], e[0, 20]) == (2, 3)


@pytest.mark.parametrize("mode", golden.BIN_MODES)
def test_vectorised_edges_equal_scalar_edges(mode):
    rng = np.random.default_rng(7)
    extents = rng.integers(1, 300, 200)
    origins = rng.integers(-40, 80, 200)
    for pooled in (1, 2, 3, 7, 14, 17):
        s, e = bin_offsets(extents, pooled, mode)
        for i in range(len(extents)):
            for p in range(pooled):
                want = bin_range(p, int(origins[i]), int(extents[i]), pooled, 60, mode)
                got = (min(max(s[i, p] + origins[i], 0), 60), min(max(e[i, p] + origins[i], 0), 60))
                assert got == want


def test_exact_mode_is_integer_floor_ceil():
    for r in range(1, 60):
        for p in range(1, 15):
            s, e = bin_offsets(np.array([r]), p, "exact")
            for ph in range(p):
                assert s[0, ph] == math.floor(ph * r / p)
                assert e[0, ph] == math.ceil((ph + 1) * r / p)


def test_bins_tile_the_roi_without_gaps():
    for mode in golden.BIN_MODES:
        for p in (1, 5, 7, 14):
            s, e = bin_offsets(np.arange(1, 400), p, mode)
            assert (e > s).all(), "an unclipped bin is never empty"
            assert (e[:, :-1] >= s[:, 1:]).all(), "consecutive bins leave no gap"
            assert (np.diff(s, axis=1) >= 0).all() and (np.diff(e, axis=1) >= 0).all()


def test_bin_edges_api_clips_to_the_image():
    rois = np.array([[0, -40, -40, 400, 8], [0, 3, 3, 1, 1]], np.float32)
    e = golden.bin_edges(rois, 4, 0.25, 10, 12, bin_mode="exact")
    assert e.hstart.min() >= 0 and e.hend.max() <= 10
    assert e.wstart.min() >= 0 and e.wend.max() <= 12
    # The malformed second RoI is forced to a single cell at (x1r, y1r).
    assert (e.hstart[1] == 1).all() and (e.hend[1] == 2).all()
    # Rows [-10, 3) clip to [0, 3), columns [-10, 101) to [0, 12).
    np.testing.assert_array_equal(e.clipped_area, [3 * 12, 1])


def test_roi_area_and_bandwidth_bound():
    rois = np.array(
        [[0, 0, 0, 3, 1], [0, -5, -5, 1, 1], [0, 50, 50, 60, 60], [0, 4, 4, 2, 2], [0, 0, 0, 56, 0]], np.float32
    )
    e = golden.bin_edges(rois, 7, 1.0, 10, 12, bin_mode="float32")
    # 4x2; clipped to 2x2; outside; malformed -> 1x1; 57x1 clipped to 12x1.
    np.testing.assert_array_equal(e.roi_area, [8, 4, 0, 1, 12])
    bound = golden.bandwidth_bound(e, channels=16, lanes=8)
    # Output needs 49 * 16 / 8 = 98 cycles; reading never exceeds that here.
    np.testing.assert_array_equal(bound, [98] * 5)
    big = golden.bin_edges(np.array([[0, 0, 0, 99, 99]], np.float32), 7, 1.0, 200, 200)
    assert golden.bandwidth_bound(big, 16, 8)[0] == 100 * 100 * 2
    # float32 bins of a 57-row RoI reach one row past it; A does not.
    tall = golden.bin_edges(np.array([[0, 0, 0, 0, 56]], np.float32), 7, 1.0, 100, 10)
    assert tall.roi_area[0] == 57 and tall.clipped_area[0] == 58
    with pytest.raises(ValueError):
        golden.bandwidth_bound(e, 16, 0)
