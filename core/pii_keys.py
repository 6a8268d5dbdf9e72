"""Where the keys protecting personal data come from.

Encryption keys (``PVARA_PII_KEYS`` or the file ``PVARA_PII_KEYS_FILE``) are a list of
``kid:base64(32 bytes)``; the first encrypts, every one decrypts, so a key is rotated by putting
a new one first, running ``pvara pii rotate`` and then dropping the old one. The blind-index key
(``PVARA_BLIND_INDEX_KEY`` or ``PVARA_BLIND_INDEX_KEY_FILE``) is separate: it keys the HMACs
that equality lookups use, and never decrypts anything.

With neither set (development, tests) both are generated once under ``<home>/keys`` with mode
0600, like the development JWT key. Keys never come from the repository.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings

KEY_BYTES = 32  # AES-256
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_SEPARATORS = re.compile(r"[,\s]+")


class PiiKeyError(ValueError):
    """A configured key is malformed (bad id, not base64, not 32 bytes, duplicated)."""


@dataclass(frozen=True)
class PiiKeys:
    """Encryption keys by id (``active_kid`` encrypts) and the blind-index key."""

    encryption: dict[str, bytes]
    active_kid: str
    blind_index: bytes


def parse_encryption_keys(text: str) -> dict[str, bytes]:
    """``"k2:BASE64,k1:BASE64"`` (commas or new lines) → ``{"k2": key, "k1": key}``, in order."""
    keys: dict[str, bytes] = {}
    for item in _SEPARATORS.split(text.strip()):
        if not item:
            continue
        kid, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID.match(kid):
            raise PiiKeyError("each PII key is `kid:base64`, kid of letters, digits, - and _")
        if kid in keys:
            raise PiiKeyError(f"PII key id {kid!r} appears twice")
        keys[kid] = _decode_key(encoded, f"PII key {kid!r}")
    if not keys:
        raise PiiKeyError("no PII encryption key configured")
    return keys


def _decode_key(encoded: str, what: str) -> bytes:
    try:
        key = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PiiKeyError(f"{what} is not base64") from exc
    if len(key) != KEY_BYTES:
        raise PiiKeyError(f"{what} must be {KEY_BYTES} bytes, not {len(key)}")
    return key


def new_key_line(kid: str) -> str:
    """A fresh ``kid:base64`` entry (what ``pvara pii new-key`` prints)."""
    if not _KEY_ID.match(kid):
        raise PiiKeyError("kid: letters, digits, - and _, at most 32")
    return f"{kid}:{base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()}"


def load_keys(settings: Settings) -> PiiKeys:
    """The configured keys: environment first, then the secret files, then the dev files."""
    keys_dir = settings.home / "keys"
    text = settings.pii_keys.get_secret_value().strip()
    if not text and settings.pii_keys_file is not None:
        text = settings.pii_keys_file.read_text().strip()
    if not text:
        text = dev_secret(
            keys_dir / "pii.keys", lambda: new_key_line(f"dev-{secrets.token_hex(4)}")
        )
    encryption = parse_encryption_keys(text)
    index_text = settings.blind_index_key.get_secret_value().strip()
    if not index_text and settings.blind_index_key_file is not None:
        index_text = settings.blind_index_key_file.read_text().strip()
    if not index_text:
        index_text = dev_secret(
            keys_dir / "blind-index.key",
            lambda: base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode(),
        )
    blind = _decode_key(index_text, "the blind-index key")
    if blind in encryption.values():
        raise PiiKeyError("the blind-index key must differ from every encryption key")
    return PiiKeys(encryption, next(iter(encryption)), blind)


def dev_secret(path: Path, make: Callable[[], str]) -> str:
    """Read a development secret, creating it (mode 0600) the first time.

    The file appears whole or not at all (written aside, then hard-linked into place), so a
    process racing this one reads either nothing or the complete secret, never half of it.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(value + "\n")
        os.link(tmp, path)
    except FileExistsError:  # another process won the race: use its secret
        return path.read_text().strip()
    finally:
        os.unlink(tmp)
    return value
