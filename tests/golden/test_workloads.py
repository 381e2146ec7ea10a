"""The standard workloads are deterministic and shaped as documented."""

import numpy as np
import pytest

import golden
from golden.workloads import WORKLOADS, load_workload, make_workload

SHAPES = {
    "fast-rcnn-vgg16": ((1, 512, 38, 50), 7, 1 / 16, 300),
    "faster-rcnn-r50-c4": ((1, 1024, 38, 50), 14, 1 / 16, 300),
    "fpn-p2": ((1, 256, 200, 272), 7, 1 / 4, 1000),
    "small": ((2, 16, 20, 24), 7, 1 / 4, 32),
}


@pytest.mark.parametrize("name", WORKLOADS)
def test_workload_shape(name):
    shape, pooled, scale, k = SHAPES[name]
    w = make_workload(name, dtype="int16" if name != "small" else "float32")
    assert w.features.shape == shape
    assert w.output_size == (pooled, pooled) and w.spatial_scale == scale
    assert w.rois.shape == (k, 5) and w.rois.dtype == np.float32
    golden.validate(*w.call_args())


def test_workload_is_deterministic_and_seeded():
    a, b = make_workload("small"), make_workload("small")
    assert a.features.tobytes() == b.features.tobytes() and a.rois.tobytes() == b.rois.tobytes()
    c = make_workload("small", seed=1)
    assert c.rois.tobytes() != a.rois.tobytes()


def test_workload_contains_edge_cases():
    w = make_workload("small")
    x1, y1, x2, y2 = w.rois[:, 1:].T
    assert ((x2 < x1) & (y2 < y1)).any(), "malformed RoIs"
    assert ((x1 == x2) & (y1 == y2)).any(), "one-pixel RoIs"
    assert ((x1 == 0) | (y1 == 0)).any(), "RoIs on the border"
    assert set(np.unique(w.rois[:, 0])) == {0.0, 1.0}
    e = golden.bin_edges(w.rois, w.output_size, w.spatial_scale, 20, 24)
    # The one-pixel box on the bottom border rounds to row H, just off the
    # map: an all-empty RoI, the case that must output zeros.
    assert (e.clipped_area == 0).any()


def test_int16_variant_and_unknown_name():
    w = make_workload("small", dtype="int16")
    assert w.features.dtype == np.int16 and w.features.min() < -10000
    with pytest.raises(ValueError, match="unknown workload"):
        make_workload("resnet")


def test_load_workload_from_npy(tmp_path):
    w = make_workload("small")
    np.save(tmp_path / "f.npy", w.features)
    np.save(tmp_path / "r.npy", w.rois)
    u = load_workload(tmp_path / "f.npy", tmp_path / "r.npy", 7, 0.25)
    assert u.features.tobytes() == w.features.tobytes() and u.output_size == (7, 7)
    np.save(tmp_path / "bad.npy", w.rois[:, 1:])
    with pytest.raises(ValueError, match="no batch index"):
        load_workload(tmp_path / "f.npy", tmp_path / "bad.npy", 7, 0.25)
