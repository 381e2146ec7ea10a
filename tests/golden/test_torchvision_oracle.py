"""Bit-exact agreement with torchvision on cases the other tests never saw.

torchvision is an optional extra (``pip install -e .[torch]``); without it
these tests are skipped and say so.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import golden

from .strategies import problems

torch = pytest.importorskip("torch", reason="torch extra not installed: no torchvision oracle")
torchvision = pytest.importorskip("torchvision", reason="torchvision not installed: no oracle")


def _tv_dtypes():
    out = []
    for name, tdt in (("float32", torch.float32), ("float64", torch.float64), ("float16", torch.float16)):
        try:
            torch.ops.torchvision.roi_pool(torch.zeros(1, 1, 2, 2, dtype=tdt), torch.zeros(1, 5, dtype=tdt), 1.0, 1, 1)
            out.append(name)
        except RuntimeError:
            pass
    return tuple(out)


TV_DTYPES = _tv_dtypes()


def torchvision_roi_pool(features, rois, output_size, scale):
    x = torch.from_numpy(np.ascontiguousarray(features))
    r = torch.from_numpy(np.asarray(rois, dtype=features.dtype))
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else output_size
    out, arg = torch.ops.torchvision.roi_pool(x, r, float(scale), ph, pw)
    return out.numpy(), arg.numpy().astype(np.int64)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(dtypes=TV_DTYPES, modes=("float32",)))
def test_golden_equals_torchvision(problem):
    features, rois, output_size, scale, _ = problem
    rois = np.asarray(rois).astype(features.dtype)  # torchvision wants one dtype
    mode = golden.torchvision_bin_mode(features.dtype)
    try:
        golden.validate(features, rois, output_size, scale, mode)
    except ValueError:
        return  # e.g. a float16 coordinate out of half range: not a legal call
    want = torchvision_roi_pool(features, rois, output_size, scale)
    got = golden.roi_pool(features, rois, output_size, scale, bin_mode=mode)
    assert got[0].tobytes() == want[0].tobytes()
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("name", ["small", "fast-rcnn-vgg16"])
def test_workloads_equal_torchvision(name):
    from golden.workloads import make_workload

    w = make_workload(name)
    want = torchvision_roi_pool(w.features, w.rois, w.output_size, w.spatial_scale)
    got = golden.roi_pool(*w.call_args())
    assert got[0].tobytes() == want[0].tobytes()
    np.testing.assert_array_equal(got[1], want[1])


def test_backward_equals_torchvision():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 9, 10)).astype(np.float32)
    rois = np.array([[0, 0, 0, 8, 8], [1, 2, 2, 7, 5], [0, 1, 1, 3, 3], [1, 0, 0, 9, 8]], np.float32)
    out, arg = golden.roi_pool(x, rois, 4)
    grad = rng.standard_normal(out.shape).astype(np.float32)
    got = golden.roi_pool_backward(grad, arg, x.shape, rois[:, 0].astype(int))
    tx = torch.from_numpy(x).requires_grad_(True)
    tout = torchvision.ops.roi_pool(tx, torch.from_numpy(rois), 4, 1.0)
    tout.backward(torch.from_numpy(grad))
    assert got.tobytes() == tx.grad.numpy().tobytes()
