"""llama.cpp's extra weight buffers: off on a CPU with AMX (where llama.cpp's AMX product
crashes), on elsewhere, and the choice reaching the model's load parameters."""

from __future__ import annotations

import importlib.util

import pytest

from dialogue.lm.llama_buffers import ENV, cpu_has_amx, model_params_for, use_extra_buffers

SAPPHIRE = (
    "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8\n"
)
ZEN = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\nbugs\t\t: amx_int8_is_not_a_flag_here\n"  # fmt: skip


@pytest.fixture
def cpu(tmp_path):
    def write(text):
        path = tmp_path / "cpuinfo"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_amx_is_read_off_the_flags_line_only(cpu, tmp_path):
    assert cpu_has_amx(cpu(SAPPHIRE)) is True
    assert cpu_has_amx(cpu(ZEN)) is False
    assert cpu_has_amx(tmp_path / "missing") is False  # not Linux: unknown, so no


def test_the_choice_then_the_environment_then_the_cpu(cpu, monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert use_extra_buffers(None, cpu(SAPPHIRE)) is False
    assert use_extra_buffers(None, cpu(ZEN)) is True
    assert use_extra_buffers(True, cpu(SAPPHIRE)) is True
    monkeypatch.setenv(ENV, "1")
    assert use_extra_buffers(None, cpu(SAPPHIRE)) is True
    assert use_extra_buffers(False, cpu(SAPPHIRE)) is False
    monkeypatch.setenv(ENV, "0")
    assert use_extra_buffers(None, cpu(ZEN)) is False
    monkeypatch.setenv(ENV, "off")
    with pytest.raises(ValueError, match=f"{ENV}='off'; set it to 1"):
        use_extra_buffers(None, cpu(ZEN))


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")
@pytest.mark.parametrize("extra", [False, True])
def test_the_choice_reaches_the_load_parameters_and_is_undone(extra):
    import llama_cpp.llama_cpp as lib

    before = lib.llama_model_default_params
    default = before().use_extra_bufts
    with model_params_for(extra):
        assert lib.llama_model_default_params().use_extra_bufts is extra
    assert lib.llama_model_default_params is before
    assert lib.llama_model_default_params().use_extra_bufts == default
    with pytest.raises(RuntimeError), model_params_for(extra):
        raise RuntimeError("a load that fails")
    assert lib.llama_model_default_params is before
