"""Host side: the torchvision-shaped API over every backend, the engine driver and the CUDA path.

>>> import host
>>> out, argmax = host.roi_pool(features, rois, 7, 1 / 16, backend="golden")
"""

from .api import BACKENDS, Backend, BackendUnavailable, Result, available_backends, register, roi_pool, run

__all__ = ["BACKENDS", "Backend", "BackendUnavailable", "Result", "available_backends", "register", "roi_pool", "run"]
