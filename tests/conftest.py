"""Fixtures: tiny random models built from configs, and audio made in the test."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

# `$CCA_LM` may make `cca chat`, `cca demo` and `cca phone` answer with a dialogue model; the
# tests of those commands run on templates unless they ask for a model
os.environ["CCA_LM"] = "none"

ROOT = Path(__file__).resolve().parents[1]
SHARED = (
    ROOT.parent / "shared"
)  # real public data beside the checkout; only weights/slow tests use it

# Whisper keeps n_audio_ctx=1500 and n_vocab=51865 (multilingual tokenizer); the rest is tiny.
TINY_DIMS = dict(
    n_mels=80, n_audio_ctx=1500, n_audio_state=64, n_audio_head=2, n_audio_layer=2,
    n_vocab=51865, n_text_ctx=448, n_text_state=64, n_text_head=2, n_text_layer=2,
)  # fmt: skip


def tiny_whisper(seed: int = 0, **overrides):
    """A 3-million-parameter Whisper with random weights (no file, no download)."""
    import whisper

    torch.manual_seed(seed)
    model = whisper.model.Whisper(whisper.model.ModelDimensions(**{**TINY_DIMS, **overrides}))
    with torch.no_grad():  # decoder.positional_embedding starts as torch.empty: make it finite
        model.decoder.positional_embedding.normal_(0, 0.02)
    return model.eval()


@pytest.fixture(scope="session")
def tiny_model():
    return tiny_whisper()


def tone(seconds: float, freq: float = 220.0, sr: int = 16_000, amp: float = 0.3) -> np.ndarray:
    """A voiced-like signal: a tone with harmonics, float32 mono."""
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * freq * k * t) / k for k in (1, 2, 3))
    return (amp * x / 1.8).astype(np.float32)


def write_wav(path: Path, samples: np.ndarray, sr: int = 16_000) -> Path:
    """16-bit PCM WAV; `samples` is (n,) or (n, channels) float in [-1, 1]."""
    x = np.asarray(samples, dtype=np.float32)
    channels = 1 if x.ndim == 1 else x.shape[1]
    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())
    return path


def ffmpeg_convert(src: Path, dst: Path, *args: str) -> Path:
    """Re-encode with the ffmpeg program (e.g. to mp3, opus, 8 kHz mu-law)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), *args, str(dst)], check=True
    )
    return dst


requires_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="needs the ffmpeg program"
)
requires_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng")


@pytest.fixture
def speechlike(tmp_path) -> Path:
    """4 s: 1 s tone, 1 s silence, 1.5 s tone, 0.5 s silence, as a 16 kHz WAV."""
    sr = 16_000
    x = np.concatenate([tone(1.0), np.zeros(sr), tone(1.5, 330.0), np.zeros(sr // 2)])
    return write_wav(tmp_path / "speechlike.wav", x)


TINY_TOKENIZER_SPECIALS = ["<|im_start|>", "<|im_end|>", "<image>", "<pad>"]


@functools.cache
def tiny_tokenizer():
    """A real Hugging Face fast tokenizer (byte-level BPE, 400 tokens) trained in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from fusion.fuse import CHATML

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=TINY_TOKENIZER_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    corpus = ["hello customer, your order refund is on its way. 您好，您的订单退款已处理。"] * 20
    tok.train_from_iterator(corpus, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<pad>",
        additional_special_tokens=["<image>"],
        chat_template=CHATML,
    )


def tiny_llama(vocab_size: int, hidden: int = 32, seed: int = 0):
    """A two-layer Llama with random weights, for shapes and gradient flow."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
        max_position_embeddings=4096,
    )  # fmt: skip
    return LlamaForCausalLM(config)


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    return str(versions[-1]) if versions else None


class PostgresCluster:
    """A throwaway PostgreSQL cluster (initdb/pg_ctl, Debian package postgresql) in a temporary
    folder, on a free port; `stop()` and `start()` it again (a database that goes down and
    comes back). Runs as the `postgres` user when the tests run as root (PostgreSQL refuses
    root). Raises pytest's skip when there is no PostgreSQL here."""

    def __init__(self):
        import os
        import socket
        import tempfile

        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            pytest.skip("no PostgreSQL: apt-get install postgresql, or set CCA_TEST_POSTGRES_URL")
        # not under pytest's tmp_path: its parents are private to root, and the server may run as postgres
        self.folder = Path(tempfile.mkdtemp(prefix="cca-pg-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            import pwd

            try:
                pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user to run the server")
            shutil.chown(self.folder, "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.data = self.folder / "data"
        subprocess.run(
            [*self.as_user, initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.start()

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-o", opts, "-l", str(self.folder / "log"), "-w", "start"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def stop(self) -> None:
        subprocess.run(
            [*self.as_user, self.pg_ctl, "-D", str(self.data), "-m", "fast", "stop"],
            capture_output=True, timeout=60,
        )  # fmt: skip

    def processes(self) -> list[int]:
        """The server's processes: the postmaster (postmaster.pid) first, then its children
        (none when it is stopped)."""
        pid_file = self.data / "postmaster.pid"
        if not pid_file.exists():
            return []
        pid = int(pid_file.read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:  # pid (comm) state ppid ...: the name may hold spaces, the ")" ends it
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            if ppid == pid:
                children.append(int(stat.parent.name))
        return [pid, *sorted(set(children) - {os.getpid()})]

    def pause(self) -> None:
        """SIGSTOP every process of the server: it is silent, refusing nothing (as behind a dead
        network link or on a hung host); connections and new ones wait, not fail."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):  # a backend that just ended
                os.kill(pid, signal.SIGSTOP)

    def resume(self) -> None:
        for pid in reversed(self.processes()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        self.resume()  # a paused server would not stop
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session: CCA_TEST_POSTGRES_URL if set, else a throwaway
    `PostgresCluster`, else skip."""
    import os

    url = os.environ.get("CCA_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    cluster = PostgresCluster()
    try:
        yield cluster.url
    finally:
        cluster.remove()


@pytest.fixture
def office(tmp_path):
    """The small retail back office of tests/retail_fixture.py, loaded into a fresh SQLite file
    (test files that need another one define their own `office`)."""
    from domains.retail.backoffice import BackOffice
    from tests.retail_fixture import write_dataset

    office = BackOffice.open(f"sqlite:///{tmp_path / 'retail.db'}")
    office.load_retail(write_dataset(tmp_path / "data"), progress=False)
    yield office
    office.close()


def tiny_vits(seed: int = 0):
    """A Coqui VITS with random weights, small enough to build in a second: (model, config)."""
    import torch
    from TTS.tts.configs.vits_config import VitsArgs, VitsConfig
    from TTS.tts.models.vits import Vits

    torch.manual_seed(seed)
    args = VitsArgs(
        hidden_channels=16, hidden_channels_ffn_text_encoder=32, num_heads_text_encoder=2,
        num_layers_text_encoder=1, num_layers_flow=1, num_layers_posterior_encoder=1,
        resblock_kernel_sizes_decoder=[3], resblock_dilation_sizes_decoder=[[1, 3, 5]],
        upsample_rates_decoder=[8, 8, 4], upsample_initial_channel_decoder=16,
        upsample_kernel_sizes_decoder=[16, 16, 8],
    )  # fmt: skip
    config = VitsConfig(model_args=args, use_phonemes=False, text_cleaner="basic_cleaners")
    model = Vits(config).eval()  # builds its tokenizer from the config
    return model, config
