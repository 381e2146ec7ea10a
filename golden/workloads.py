"""The standard workloads: deterministic, seeded detector-like RoIPool calls.

=====================  =  ====  =========  =====  =====  ====  ========
name                   N  C     H x W      PH=PW  scale  RoIs  image
=====================  =  ====  =========  =====  =====  ====  ========
fast-rcnn-vgg16        1  512   38 x 50    7      1/16   300   600x800
faster-rcnn-r50-c4     1  1024  38 x 50    14     1/16   300   600x800
fpn-p2                 1  256   200 x 272  7      1/4    1000  800x1088
small (for CI)         2  16    20 x 24    7      1/4    32    80x96
=====================  =  ====  =========  =====  =====  ====  ========

RoIs are spread the way a region proposal network spreads them: side
lengths log-uniform between the workload's bounds, aspect ratios
log-uniform in [0.5, 2], centres uniform over the image, boxes clipped to
it; a few deliberate edge cases are mixed in (boxes touching each border,
one-pixel boxes, malformed boxes with x2 < x1 or y2 < y1).  Features are
seeded random values in the workload's dtype: standard normal for floats,
uniform over the full range for integers (so ties occur, as they do in
quantised activations).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dtypes import canonical_dtype, is_float
from .validate import validate

__all__ = ["Workload", "WORKLOADS", "make_workload", "load_workload", "workload_names"]


@dataclass(frozen=True)
class _Shape:
    n: int
    c: int
    h: int
    w: int
    pooled: int
    scale: float
    num_rois: int
    image_h: int
    image_w: int
    min_size: float
    max_size: float


_SHAPES = {
    "fast-rcnn-vgg16": _Shape(1, 512, 38, 50, 7, 1 / 16, 300, 600, 800, 16, 512),
    "faster-rcnn-r50-c4": _Shape(1, 1024, 38, 50, 14, 1 / 16, 300, 600, 800, 16, 512),
    "fpn-p2": _Shape(1, 256, 200, 272, 7, 1 / 4, 1000, 800, 1088, 16, 512),
    "small": _Shape(2, 16, 20, 24, 7, 1 / 4, 32, 80, 96, 4, 64),
}

#: Names of the standard workloads.
WORKLOADS = tuple(_SHAPES)


def workload_names() -> tuple:
    return WORKLOADS


@dataclass(frozen=True)
class Workload:
    """One RoIPool call: inputs plus the parameters that define it.

    Attributes
    ----------
    name : str
    features : ndarray ``(N, C, H, W)``
    rois : ndarray ``(K, 5)`` float32, ``[batch, x1, y1, x2, y2]``
    output_size : tuple ``(PH, PW)``
    spatial_scale : float
    seed : int
    """

    name: str
    features: np.ndarray
    rois: np.ndarray
    output_size: tuple
    spatial_scale: float
    seed: int = 0
    meta: dict = field(default_factory=dict)

    def call_args(self):
        """``(features, rois, output_size, spatial_scale)`` for ``roi_pool``."""
        return self.features, self.rois, self.output_size, self.spatial_scale

    def scaled(self, channels: int) -> "Workload":
        """The same RoIs on the first ``channels`` channels (a smaller copy)."""
        return Workload(
            f"{self.name}[C={channels}]",
            np.ascontiguousarray(self.features[:, :channels]),
            self.rois,
            self.output_size,
            self.spatial_scale,
            self.seed,
            dict(self.meta, scaled_from=self.features.shape[1]),
        )


def _edge_cases(s: _Shape, rng: np.random.Generator) -> np.ndarray:
    """Deliberate edge-case boxes ``[x1, y1, x2, y2]`` in image coordinates."""
    w, h = s.image_w - 1, s.image_h - 1
    m = s.min_size
    return np.array(
        [
            [0, 0, 2 * m, 2 * m],  # touches the top-left corner
            [w - 2 * m, h - 2 * m, w, h],  # touches the bottom-right corner
            [0, 0, w, h],  # the whole image
            [w / 2, h / 2, w / 2, h / 2],  # one pixel
            [0, h, 0, h],  # one pixel on the border
            [w / 2, h / 2, w / 2 - m, h / 2 - m],  # malformed: x2 < x1, y2 < y1
            [w - m, 0, w + 4 * m, 2 * m],  # runs off the right edge
        ],
        dtype=np.float64,
    )


def _proposals(s: _Shape, rng: np.random.Generator) -> np.ndarray:
    extra = _edge_cases(s, rng)
    k = s.num_rois - len(extra)
    size = np.exp(rng.uniform(np.log(s.min_size), np.log(s.max_size), k))
    aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0), k))
    bw, bh = size * np.sqrt(aspect), size / np.sqrt(aspect)
    cx, cy = rng.uniform(0, s.image_w, k), rng.uniform(0, s.image_h, k)
    boxes = np.stack(
        [
            np.clip(cx - bw / 2, 0, s.image_w - 1),
            np.clip(cy - bh / 2, 0, s.image_h - 1),
            np.clip(cx + bw / 2, 0, s.image_w - 1),
            np.clip(cy + bh / 2, 0, s.image_h - 1),
        ],
        axis=1,
    )
    boxes = np.concatenate([boxes, extra])
    order = rng.permutation(len(boxes))
    boxes = boxes[order]
    batch = rng.integers(0, s.n, len(boxes)).astype(np.float64)
    # Boxes are float32, as a detector hands them over; rounding them here
    # keeps the stored workload identical to what a float32 kernel sees.
    return np.concatenate([batch[:, None], boxes], axis=1).astype(np.float32)


def _features(s: _Shape, dtype: np.dtype, rng: np.random.Generator) -> np.ndarray:
    shape = (s.n, s.c, s.h, s.w)
    if is_float(dtype):
        return rng.standard_normal(shape, dtype=np.float32).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, int(info.max) + 1, shape, dtype=dtype)


def make_workload(name: str, dtype="float32", seed: int = 0) -> Workload:
    """Build a standard workload deterministically.

    Parameters
    ----------
    name : str
        One of :data:`WORKLOADS`.
    dtype : str or dtype
        Feature type; ``"float32"`` and ``"int16"`` are the standard
        variants, any supported type works.
    seed : int
        Seed of the RoI and feature generators.
    """
    if name not in _SHAPES:
        raise ValueError(f"unknown workload {name!r}; known: {', '.join(WORKLOADS)}")
    dt = canonical_dtype(dtype)
    s = _SHAPES[name]
    rng = np.random.default_rng([seed, s.c, s.h, s.w, s.num_rois])
    rois = _proposals(s, rng)
    features = _features(s, dt, rng)
    return Workload(
        name=name,
        features=features,
        rois=rois,
        output_size=(s.pooled, s.pooled),
        spatial_scale=s.scale,
        seed=seed,
        meta={"image": (s.image_h, s.image_w), "dtype": str(dt)},
    )


def load_workload(features_path, rois_path, output_size, spatial_scale, name="user") -> Workload:
    """A workload from user-supplied ``.npy`` files, validated on load.

    Parameters
    ----------
    features_path, rois_path : path-like
        ``.npy`` files holding ``(N, C, H, W)`` features and ``(K, 5)`` RoIs.
    output_size : int or (int, int)
    spatial_scale : float
    """
    features = np.load(Path(features_path), allow_pickle=False)
    rois = np.load(Path(rois_path), allow_pickle=False)
    problem = validate(features, rois, output_size, spatial_scale)
    return Workload(name, features, rois, problem.output_size, problem.spatial_scale)
