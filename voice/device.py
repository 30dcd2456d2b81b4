"""Where models run: CUDA with half precision when a GPU is present, else the CPU."""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)


def choose_device(requested: str | None = None) -> torch.device:
    """The device to run on; `requested` ("cpu", "cuda", "cuda:1", None for automatic) wins.

    The choice and its reason are logged, so a slow run on the CPU is never a mystery.
    """
    if requested:
        device = torch.device(requested)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(
                f"device={requested!r} was asked for, but torch finds no CUDA device "
                f"(torch {torch.__version__}, CUDA build: {torch.version.cuda}); "
                "pass --device cpu or install a CUDA build of torch"
            )
        logger.info("device=%s: asked for", device)
        return device
    if torch.cuda.is_available():
        device = torch.device("cuda")
        logger.info("device=cuda: found %s", torch.cuda.get_device_name(0))
        return device
    logger.info("device=cpu: no CUDA device found")
    return torch.device("cpu")


def half_precision(device: torch.device) -> bool:
    """Whether to run in float16: on CUDA yes, on the CPU no (slower and less exact there)."""
    return device.type == "cuda"
