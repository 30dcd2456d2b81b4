"""Authenticated encryption of records at rest (AES-256-GCM), with key ids for rotation.

Keys come from the environment, read where `Keyring.from_env` is called:

- `CCA_RECORDS_KEY`: one or more keys, comma-separated, each 32 bytes in URL-safe base64
  (`cca privacy new-key` prints one). The first encrypts; the others only decrypt, so that a
  rotation can read what the old key wrote (`cca privacy rotate-key`).
- `CCA_RECORDS_KEY_FILE`: a file with the same, one key a line, when `CCA_RECORDS_KEY` is unset.

A ciphertext is b"CCA1" + the key id (8 bytes, from a SHA-256 of the key) + a 12-byte nonce +
the AES-GCM output. The associated data names the field ("turns.transcript"), so a value copied
to another column does not decrypt there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV_KEY = "CCA_RECORDS_KEY"
ENV_KEY_FILE = "CCA_RECORDS_KEY_FILE"
MAGIC = b"CCA1"
_ID_LEN, _NONCE_LEN = 8, 12


class RecordsKeyError(ValueError):
    """A records key is missing, malformed or does not fit."""


class MissingKeyError(RecordsKeyError):
    """No records key is configured."""


class WrongKeyError(RecordsKeyError):
    """A ciphertext does not decrypt with the keys given."""


def new_key() -> str:
    """A fresh random key, as `CCA_RECORDS_KEY` takes it."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"cca-records-key-id" + key).digest()[:_ID_LEN]


def _decode(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (ValueError, TypeError) as e:
        raise RecordsKeyError(
            f"{where}: a key must be 32 bytes in URL-safe base64 ({e}); make one with `cca privacy new-key`"
        ) from e
    if len(key) != 32:
        raise RecordsKeyError(
            f"{where}: a key must be 32 bytes in URL-safe base64, got {len(key)} bytes; make one with `cca privacy new-key`"
        )
    return key


@dataclass(frozen=True)
class Keyring:
    """The current key (first) and older keys that may still decrypt."""

    keys: tuple[bytes, ...]
    _by_id: dict[bytes, AESGCM] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if not self.keys:
            raise MissingKeyError(f"a keyring needs at least one key; set {ENV_KEY}")
        for k in self.keys:
            if len(k) != 32:
                raise RecordsKeyError(f"a key must be 32 bytes, got {len(k)}")
            self._by_id.setdefault(key_id(k), AESGCM(k))

    @classmethod
    def from_strings(cls, keys: Sequence[str], where: str = "key") -> Keyring:
        return cls(tuple(_decode(k, where) for k in keys if k.strip()))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Keyring:
        """The keys of `CCA_RECORDS_KEY`, else of the file `CCA_RECORDS_KEY_FILE`."""
        env = os.environ if environ is None else environ
        if env.get(ENV_KEY, "").strip():
            return cls.from_strings(env[ENV_KEY].split(","), ENV_KEY)
        path = env.get(ENV_KEY_FILE, "").strip()
        if path:
            return cls.from_file(Path(path))
        raise MissingKeyError(
            f"no records key: set {ENV_KEY} to a key from `cca privacy new-key` (several "
            f"comma-separated while rotating, the new one first), or {ENV_KEY_FILE} to a file "
            "holding them one a line"
        )

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        try:
            lines = Path(path).read_text(encoding="utf-8").split()
        except OSError as e:
            raise MissingKeyError(f"cannot read the key file {path} ({ENV_KEY_FILE}): {e}") from e
        if not lines:
            raise MissingKeyError(f"the key file {path} ({ENV_KEY_FILE}) holds no key")
        return cls.from_strings(lines, str(path))

    @property
    def current_id(self) -> bytes:
        return key_id(self.keys[0])

    def encrypt(self, plaintext: bytes, purpose: str) -> bytes:
        nonce = secrets.token_bytes(_NONCE_LEN)
        aead = self._by_id[self.current_id]
        return MAGIC + self.current_id + nonce + aead.encrypt(nonce, plaintext, purpose.encode())

    def decrypt(self, blob: bytes, purpose: str) -> bytes:
        if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + _ID_LEN + _NONCE_LEN + 16:
            raise WrongKeyError(f"{purpose}: not a records ciphertext (bad header or too short)")
        kid = blob[len(MAGIC) : len(MAGIC) + _ID_LEN]
        aead = self._by_id.get(kid)
        if aead is None:
            raise WrongKeyError(
                f"{purpose}: encrypted with key id {kid.hex()}, which is not among the keys of "
                f"{ENV_KEY} ({', '.join(key_id(k).hex() for k in self.keys)}); add the old key "
                "after the new one, comma-separated, to read or rotate it"
            )
        start = len(MAGIC) + _ID_LEN
        nonce, body = blob[start : start + _NONCE_LEN], blob[start + _NONCE_LEN :]
        try:
            return aead.decrypt(nonce, body, purpose.encode())
        except InvalidTag as e:
            raise WrongKeyError(
                f"{purpose}: authentication failed for key id {kid.hex()}: the data was changed, "
                "or belongs to another field"
            ) from e

    def blob_key_id(self, blob: bytes) -> bytes:
        return blob[len(MAGIC) : len(MAGIC) + _ID_LEN]

    def encrypt_text(self, text: str | None, purpose: str) -> bytes | None:
        return None if text is None else self.encrypt(text.encode("utf-8"), purpose)

    def decrypt_text(self, blob: bytes | None, purpose: str) -> str | None:
        return None if blob is None else self.decrypt(bytes(blob), purpose).decode("utf-8")
