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


COMPUTE_TYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def cpu_has_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX-512 BF16 or AMX), where it is ~2x float32."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def compute_dtype(device: torch.device, requested: str = "auto") -> torch.dtype:
    """The dtype activations are computed in: float16 on CUDA, bfloat16 on a CPU that has it,
    else float32; `requested` ("float32", "bfloat16", "float16") wins, and the choice is logged."""
    if requested != "auto":
        if requested not in COMPUTE_TYPES:
            raise ValueError(
                f"compute type {requested!r} not known; choose auto or one of {list(COMPUTE_TYPES)}"
            )
        if device.type == "cpu" and requested == "float16":
            raise ValueError("float16 is for CUDA; on the CPU use bfloat16 or float32")
        logger.info("compute=%s: asked for", requested)
        return COMPUTE_TYPES[requested]
    if device.type == "cuda":
        logger.info("compute=float16: CUDA device")
        return torch.float16
    if cpu_has_bf16():
        logger.info("compute=bfloat16: the CPU has AVX-512 BF16/AMX")
        return torch.bfloat16
    logger.info("compute=float32: the CPU has no native bfloat16")
    return torch.float32
