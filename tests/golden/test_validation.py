"""Bad input gets a clear error naming the argument, never a wrong answer."""

import numpy as np
import pytest

import golden

X = np.zeros((2, 3, 8, 8), np.float32)
GOOD = np.array([[0, 0, 0, 4, 4]], np.float32)


@pytest.mark.parametrize(
    "kwargs, exc, words",
    [
        (dict(features=np.zeros((3, 8, 8), np.float32)), ValueError, "features must have shape"),
        (dict(features=np.zeros((0, 3, 8, 8), np.float32)), ValueError, "non-empty"),
        (dict(features=np.zeros((1, 1, 2, 2), np.complex64)), TypeError, "unsupported feature dtype"),
        (dict(features=np.zeros((1, 1, 2, 2), np.uint8)), TypeError, "unsupported feature dtype"),
        (dict(features="not an array"), TypeError, "features"),
        (dict(rois=np.zeros((2, 4), np.float32)), ValueError, "no batch index"),
        (dict(rois=np.zeros((5,), np.float32)), ValueError, "rois must have shape (K, 5)"),
        (dict(rois=np.array([[2, 0, 0, 1, 1]], np.float32)), ValueError, "batch index 2 out of range"),
        (dict(rois=np.array([[-1, 0, 0, 1, 1]], np.float32)), ValueError, "out of range"),
        (dict(rois=np.array([[0.5, 0, 0, 1, 1]], np.float32)), ValueError, "integral"),
        (dict(rois=np.array([[0, np.nan, 0, 1, 1]], np.float32)), ValueError, "NaN or inf"),
        (dict(rois=np.array([[0, 0, np.inf, 1, 1]], np.float32)), ValueError, "NaN or inf"),
        (dict(rois=np.array([[np.nan, 0, 0, 1, 1]], np.float32)), ValueError, "batch index"),
        (dict(rois=np.array([[0, 0, 0, 1e9, 1]], np.float32)), ValueError, "exceeds"),
        (dict(rois=np.array([["a", "b", "c", "d", "e"]])), TypeError, "numeric"),
        (dict(rois=[np.zeros((1, 4))] * 3), ValueError, "list of 3"),
        (dict(rois=[np.zeros((1, 5))]), ValueError, "rois[0] must have shape (Ki, 4)"),
        (dict(output_size=0), ValueError, "output_size must be >= 1"),
        (dict(output_size=(3, 0)), ValueError, "output_size"),
        (dict(output_size=2.5), TypeError, "output_size"),
        (dict(output_size=(1, 2, 3)), TypeError, "output_size"),
        (dict(output_size=True), TypeError, "output_size"),
        (dict(spatial_scale=0.0), ValueError, "spatial_scale"),
        (dict(spatial_scale=-1.0), ValueError, "spatial_scale"),
        (dict(spatial_scale=float("nan")), ValueError, "spatial_scale"),
        (dict(spatial_scale=float("inf")), ValueError, "spatial_scale"),
        (dict(spatial_scale="1"), TypeError, "spatial_scale"),
        (dict(bin_mode="round"), ValueError, "bin_mode"),
    ],
)
def test_bad_input_is_rejected(kwargs, exc, words):
    args = dict(features=X, rois=GOOD, output_size=2, spatial_scale=1.0, bin_mode="float32")
    args.update(kwargs)
    with pytest.raises(exc) as info:
        golden.roi_pool(args["features"], args["rois"], args["output_size"], args["spatial_scale"], bin_mode=args["bin_mode"])
    assert words in str(info.value)


def test_float16_mode_rejects_coordinates_beyond_half_range():
    with pytest.raises(ValueError, match="float16"):
        golden.roi_pool(X, np.array([[0, 0, 0, 40000, 1]], np.float32), 2, bin_mode="float16")


def test_coordinates_outside_the_image_are_legal():
    out, arg = golden.roi_pool(X, np.array([[1, -100, -100, 100, 100]], np.float32), 2)
    assert out.shape == (1, 3, 2, 2)


def test_no_rois_gives_empty_outputs():
    out, arg = golden.roi_pool(X, np.zeros((0, 5), np.float32), (2, 3))
    assert out.shape == (0, 3, 2, 3) and arg.shape == (0, 3, 2, 3) and arg.dtype == np.int64


def test_unknown_impl_is_rejected():
    with pytest.raises(ValueError, match="impl"):
        golden.roi_pool(X, GOOD, 2, impl="gpu")


def test_torchvision_bin_mode():
    assert golden.torchvision_bin_mode(np.float32) == "float32"
    assert golden.torchvision_bin_mode("float64") == "float64"
    assert golden.torchvision_bin_mode(np.float16) == "float16"
    with pytest.raises(ValueError, match="no kernel"):
        golden.torchvision_bin_mode("int16")
    with pytest.raises(TypeError):
        golden.torchvision_bin_mode(np.uint16)
