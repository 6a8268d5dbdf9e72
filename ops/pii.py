"""``pvara pii status|rotate|new-key``: the keys protecting personal data.

Rotation: put a new key first in ``PVARA_PII_KEYS`` (``pvara pii new-key k2`` makes one), keep
the old ones after it, restart the processes, run ``pvara pii rotate`` (identifiers in every
table and partition, then the résumé files), check ``pvara pii status`` shows only the new key,
then drop the old key from the setting.
"""

from __future__ import annotations

import argparse
import json

import psycopg

from core.pii_backfill import convert_plaintext, key_usage, rotate
from core.pii_crypto import PiiCipher
from core.pii_keys import new_key_line
from core.settings import Settings
from ingest.blob_crypto import EncryptingBlobStore, encrypted_blob_store, reencrypt_blobs


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "new-key":
        print(new_key_line(args.kid or "k1"))
        return 0
    cipher = PiiCipher.from_settings(settings)
    with psycopg.connect(settings.effective_database_url, autocommit=True) as conn:
        if args.action == "status":
            print(
                json.dumps(
                    {
                        "active_key": cipher.active_kid,
                        "keys": list(cipher.keys.encryption),
                        "values_by_key": key_usage(conn),
                    },
                    indent=2,
                )
            )
            return 0
        converted = convert_plaintext(conn, cipher)
        rotated = rotate(conn, cipher)
        store: EncryptingBlobStore = encrypted_blob_store(settings, cipher)
        files = reencrypt_blobs(conn, store, settings.blob_grace_s)
    print(
        json.dumps(
            {
                "active_key": cipher.active_kid,
                "plaintext_converted": converted.as_dict(),
                "re_encrypted": rotated.as_dict(),
                "files": files.as_dict(),
            },
            indent=2,
        )
    )
    return 0
