"""Image arrays between their stored form (uint8, channels last) and the nets' (float, channels
first): the one conversion every module uses."""
from __future__ import annotations

import numpy as np
import torch


def to_float_images(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float().div_(255.0)


def images_to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N,H,W,3) uint8 numpy -> (N,3,H,W) uint8 tensor (converted to float per batch, saving memory)."""
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}")
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def float_images(images: np.ndarray) -> torch.Tensor:
    """(N,H,W,3) uint8 numpy -> (N,3,H,W) float tensor in [0, 1]: what every model and probe reads."""
    return to_float_images(images_to_tensor(images))
