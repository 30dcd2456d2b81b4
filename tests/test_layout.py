"""The layout is the data path: imports flow one way, and web/UI packages stay in demo/."""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

from demo.cli import COMMANDS, main

PACKAGES = ("voice", "vision", "fusion", "dialogue", "demo")
# package -> the project packages it may import (besides itself)
ALLOWED = {
    "voice": set(),
    "vision": set(),
    "fusion": {"voice", "vision"},
    "dialogue": {"voice", "vision", "fusion"},
    "demo": {"voice", "vision", "fusion", "dialogue"},
}
WEB_PACKAGES = {"gradio", "websockets", "fastapi", "uvicorn", "starlette", "aiohttp", "playwright"}


def imported_modules(source: str, module: str) -> set[str]:
    """Every absolute module name `source` imports, at any depth (relative ones resolved)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # from .x import y, inside package module a.b.c
                base = module.split(".")[: -node.level]
                found.add(".".join([*base, node.module] if node.module else base))
            else:
                found.add(node.module)
    return found


def project_files() -> dict[str, set[str]]:
    """module name -> top-level names of what it imports, for every .py of the packages."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            if parts[-1] == "__init__":
                module += ".__init__"  # so that relative imports resolve inside the package
            names = imported_modules(path.read_text(encoding="utf-8"), module)
            out[module.removesuffix(".__init__")] = {n.split(".")[0] for n in names if n}
    return out


def test_the_import_walker_sees_every_kind_of_import():
    source = """
import os, voice.audio
from fusion import fuse
from . import sibling
from ..vision.encoder import Encoder

def later():
    import gradio as gr
    from demo.cli import main
"""
    got = imported_modules(source, "dialogue.agent.policy")
    assert got == {
        "os", "voice.audio", "fusion", "dialogue.agent", "dialogue.vision.encoder", "gradio",
        "demo.cli",
    }  # fmt: skip


def test_the_walker_reads_the_project():
    files = project_files()
    assert {"voice.audio", "voice.batch", "demo.cli", "vision", "fusion", "dialogue"} <= set(files)
    assert {"voice", "numpy"} <= files["voice.batch"]
    assert "whisper" in files["voice.whisper_asr"]  # imports inside functions are seen too


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_flow_one_way(package):
    files = project_files()
    bad = {
        module: sorted((names & set(PACKAGES)) - ALLOWED[package] - {package})
        for module, names in files.items()
        if module.split(".")[0] == package
    }
    assert {m: b for m, b in bad.items() if b} == {}, (
        f"{package} may import only {ALLOWED[package]}"
    )


def test_nothing_imports_demo():
    files = project_files()
    assert [m for m, names in files.items() if "demo" in names and not m.startswith("demo")] == []


def test_web_packages_only_under_demo():
    files = project_files()
    outside = {m: sorted(n & WEB_PACKAGES) for m, n in files.items() if not m.startswith("demo")}
    assert {m: n for m, n in outside.items() if n} == {}


# demo.cli


@pytest.mark.parametrize("argv", [[], ["--help"], ["-h"], ["help"]])
def test_cli_usage(argv, capsys):
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: cca COMMAND")
    assert "transcribe" in out and COMMANDS["transcribe"][1] in out


def test_cli_unknown_command(capsys):
    assert main(["transcibe", "x.wav"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown command 'transcibe'" in captured.err
    assert f"available commands = {list(COMMANDS)}" in captured.err
