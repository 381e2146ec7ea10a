"""The host API: one validation layer, backend registry, cross-check."""

import io

import numpy as np
import pytest

import golden
import host
from host.api import BACKENDS, Backend, register
from host.crosscheck import crosscheck

X = np.random.default_rng(0).standard_normal((1, 4, 9, 9)).astype(np.float32)
ROIS = np.array([[0, 0, 0, 8, 8], [0, 2.5, 1, 6, 7.5]], np.float32)


@pytest.fixture
def spy_backend():
    calls = []

    def run(problem, **options):
        calls.append(problem)
        out, arg = golden.roi_pool(problem.features, np.c_[problem.batch, problem.boxes], problem.output_size,
                                   problem.spatial_scale, bin_mode=problem.bin_mode)
        return out, arg, {"cycles": 123, "host_ms": {"pack": 0.5}}

    register(Backend("spy", run, lambda: (True, "test")))
    yield calls
    BACKENDS.pop("spy")


def test_golden_backend_matches_golden():
    out, arg = host.roi_pool(X, ROIS, 3, 1.0)
    want = golden.roi_pool(X, ROIS, 3, 1.0)
    assert out.tobytes() == want[0].tobytes() and np.array_equal(arg, want[1])


def test_list_of_boxes_is_accepted():
    out, _ = host.roi_pool(X, [ROIS[:, 1:]], (2, 3), 1.0)
    assert out.shape == (2, 4, 2, 3)


def test_validation_runs_before_any_backend(spy_backend):
    with pytest.raises(ValueError, match="batch index 1 out of range"):
        host.run(X, np.array([[1, 0, 0, 1, 1]], np.float32), 2, backend="spy")
    with pytest.raises(ValueError, match="no batch index"):
        host.run(X, ROIS[:, 1:], 2, backend="spy")
    assert spy_backend == []
    r = host.run(X, ROIS, 2, backend="spy")
    assert len(spy_backend) == 1 and r.stats == {"cycles": 123}
    assert set(r.host_ms) == {"validate", "backend", "pack"}


def test_unknown_and_unavailable_backends():
    with pytest.raises(ValueError, match="unknown backend"):
        host.roi_pool(X, ROIS, 2, backend="tpu")
    register(Backend("nowhere", lambda p: None, lambda: (False, "no such device")))
    try:
        with pytest.raises(host.BackendUnavailable, match="no such device"):
            host.roi_pool(X, ROIS, 2, backend="nowhere")
        assert host.available_backends()["nowhere"] == (False, "no such device")
    finally:
        BACKENDS.pop("nowhere")


def test_crosscheck_reports_agreement_and_catches_a_wrong_backend():
    buf = io.StringIO()
    assert crosscheck(["reference"], quick=True, out=buf)
    assert "NO" not in buf.getvalue() and "reference" in buf.getvalue()

    def off_by_one(problem, **options):
        out, arg = golden.roi_pool(problem.features, np.c_[problem.batch, problem.boxes], problem.output_size,
                                   problem.spatial_scale, bin_mode=problem.bin_mode)
        arg = arg.copy()
        arg[arg >= 0] += 1
        return out, arg, {}

    register(Backend("liar", off_by_one, lambda: (True, "test")))
    try:
        buf = io.StringIO()
        assert not crosscheck(["liar"], quick=True, out=buf)
        assert "MISMATCH" in buf.getvalue()
    finally:
        BACKENDS.pop("liar")


def test_unavailable_backend_is_not_counted_as_checked():
    register(Backend("absent", lambda p: None, lambda: (False, "needs a board")))
    try:
        buf = io.StringIO()
        assert crosscheck(["absent"], quick=True, out=buf)
        assert "absent     not checked: needs a board" in buf.getvalue()
        assert "yes" not in buf.getvalue()
    finally:
        BACKENDS.pop("absent")
