"""llama.cpp's extra weight buffers, and a CPU where they crash.

llama.cpp repacks quantized weights at load into "extra" buffer types for faster CPU kernels:
AMX tiles on Intel CPUs with AMX (Sapphire Rapids and later), interleaved blocks elsewhere. On a
CPU with AMX, a llama.cpp built from source (as pip builds llama-cpp-python) moves Q4_K and Q8_0
weights into its AMX buffer, and the first matrix product there crashes the process with a
segmentation fault: the packaged Gemma-3-270m (Q4_K_M) and the shipped merged model (Q8_0) both
did, on the first token (upstream: ggml-org/llama.cpp#20824, open). With the extra buffers off the
same build runs them on its AVX-512 kernels.

`use_extra_buffers(choice)`: `choice` if given, else `$CCA_LLAMA_EXTRA_BUFFERS` ("0"/"1"), else
off where the CPU has AMX and on elsewhere. `model_params_for(extra)` applies the choice while a
`llama_cpp.Llama` loads (llama-cpp-python has no argument for it), and `serve_main` starts
llama-cpp-python's OpenAI-compatible server with it: `python -m dialogue.lm.llama_buffers ARGS`
takes the arguments of `python -m llama_cpp.server`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

ENV = "CCA_LLAMA_EXTRA_BUFFERS"
_LOCK = threading.Lock()  # one load at a time changes llama-cpp-python's default parameters


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU has AMX int8 tiles (Linux: the amx_int8 flag); False where unknown."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any("amx_int8" in line.split() for line in text.splitlines() if line.startswith("flags"))


def use_extra_buffers(choice: bool | None = None, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """`choice`, else $CCA_LLAMA_EXTRA_BUFFERS, else not on a CPU with AMX (see the module)."""
    if choice is not None:
        return choice
    env = os.environ.get(ENV, "").strip()
    if env in ("0", "1"):
        return env == "1"
    if env:
        raise ValueError(f"{ENV}={env!r}; set it to 1 (llama.cpp's extra buffers on) or 0 (off)")
    return not cpu_has_amx(cpuinfo)


@contextlib.contextmanager
def model_params_for(extra: bool) -> Iterator[None]:
    """While it is open, a `llama_cpp.Llama` being built gets `use_extra_bufts = extra`."""
    import llama_cpp.llama_cpp as lib

    with _LOCK:
        default = lib.llama_model_default_params
        lib.llama_model_default_params = _params_with(default, extra)
        try:
            yield
        finally:
            lib.llama_model_default_params = default


def _params_with(default, extra: bool):
    def params():
        p = default()
        p.use_extra_bufts = extra
        return p

    return params


def serve_main(argv: list[str] | None = None) -> None:
    """llama-cpp-python's OpenAI-compatible server (`python -m llama_cpp.server`'s arguments),
    with the extra buffers chosen as `use_extra_buffers()` does, for this whole process."""
    import llama_cpp.llama_cpp as lib
    from llama_cpp.server.__main__ import main

    extra = use_extra_buffers()
    if not extra:
        lib.llama_model_default_params = _params_with(lib.llama_model_default_params, False)
        logger.warning("llama.cpp's extra weight buffers are off (a CPU with AMX; %s=1 turns them on)", ENV)  # fmt: skip
    sys.argv = ["llama_cpp.server", *(sys.argv[1:] if argv is None else argv)]
    main()


if __name__ == "__main__":
    serve_main()
