"""The local blob store: content-addressed, atomic, and closed to path traversal."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from ingest.blobs import (
    BlobCorruptError,
    BlobNotFoundError,
    BlobStore,
    InvalidBlobKeyError,
    LocalBlobStore,
    blob_key,
)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def test_put_then_get_returns_the_same_bytes(store: LocalBlobStore) -> None:
    key = store.put(b"%PDF-1.7 resume", "application/pdf")
    assert store.get(key) == b"%PDF-1.7 resume"
    assert store.exists(key)


def test_key_is_the_sha256_of_the_content(store: LocalBlobStore) -> None:
    digest = hashlib.sha256(b"resume").hexdigest()
    assert store.put(b"resume", "text/plain") == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"
    assert blob_key(b"resume") == f"sha256/{digest[:2]}/{digest[2:4]}/{digest}"


def test_putting_the_same_bytes_twice_stores_one_file(store: LocalBlobStore) -> None:
    first = store.put(b"same", "text/plain")
    second = store.put(b"same", "application/pdf")
    assert first == second
    files = [p for p in store.root.rglob("*") if p.is_file()]
    assert files == [store.root / first]


def test_no_temporary_files_are_left_behind(store: LocalBlobStore) -> None:
    for n in range(5):
        store.put(f"resume {n}".encode(), "text/plain")
    assert not [p for p in store.root.rglob(".tmp-*")]


def test_missing_blob_is_not_found(store: LocalBlobStore) -> None:
    key = blob_key(b"never stored")
    assert not store.exists(key)
    with pytest.raises(BlobNotFoundError):
        store.get(key)


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "sha256/../../../etc/passwd",
        "sha256/ab/cd/" + "0" * 64,  # the folders do not match the digest
        "sha256/AB/CD/" + "AB" * 32,
        "sha256/ab/cd/" + "ab" * 32 + "/../x",
        "sha256/ab/cd/" + "ab" * 32 + "\0",
        "",
    ],
)
def test_malformed_or_traversing_keys_are_refused(store: LocalBlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        store.get(key)
    with pytest.raises(InvalidBlobKeyError):
        store.exists(key)
    with pytest.raises(InvalidBlobKeyError):
        store.delete(key)


def test_symlink_planted_in_the_store_cannot_lead_outside(
    store: LocalBlobStore, tmp_path: Path
) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"not a resume")
    key = blob_key(b"not a resume")
    path = store.root / key
    path.parent.mkdir(parents=True)
    path.symlink_to(secret)
    with pytest.raises(InvalidBlobKeyError):
        store.get(key)
    with pytest.raises(InvalidBlobKeyError):
        store.delete(key)
    assert secret.read_bytes() == b"not a resume"


def test_delete_removes_the_blob_and_only_that_blob(store: LocalBlobStore) -> None:
    key = store.put(b"erase me", "application/pdf")
    other = store.put(b"keep me", "application/pdf")
    assert store.delete(key)
    assert not store.exists(key)
    with pytest.raises(BlobNotFoundError):
        store.get(key)
    assert store.get(other) == b"keep me"


def test_delete_is_idempotent(store: LocalBlobStore) -> None:
    key = store.put(b"once", "text/plain")
    assert store.delete(key)
    assert not store.delete(key)
    assert not store.delete(blob_key(b"never stored"))


def test_the_same_bytes_can_be_stored_again_after_a_delete(store: LocalBlobStore) -> None:
    key = store.put(b"again", "text/plain")
    store.delete(key)
    assert store.put(b"again", "text/plain") == key
    assert store.get(key) == b"again"


def test_a_folder_in_place_of_a_blob_is_not_deleted(store: LocalBlobStore) -> None:
    key = blob_key(b"folder")
    (store.root / key).mkdir(parents=True)
    assert not store.delete(key)
    assert (store.root / key).is_dir()


def test_bytes_changed_on_disk_are_detected(store: LocalBlobStore) -> None:
    key = store.put(b"original", "text/plain")
    (store.root / key).write_bytes(b"tampered")
    with pytest.raises(BlobCorruptError):
        store.get(key)


def test_local_store_satisfies_the_protocol(store: LocalBlobStore) -> None:
    as_protocol: BlobStore = store
    key = as_protocol.put(b"x", "text/plain")
    assert as_protocol.exists(key)
    assert as_protocol.delete(key) and not as_protocol.exists(key)


def test_storing_the_same_bytes_again_marks_the_blob_as_stored_now(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = store.put(b"the same bytes", "text/plain")
    long_ago = time.time() - 10_000
    os.utime(tmp_path / key, (long_ago, long_ago))
    assert list(store.keys(min_age_s=5_000)) == [key]

    assert store.put(b"the same bytes", "text/plain") == key

    assert list(store.keys(min_age_s=5_000)) == []
    assert store.delete(key, min_age_s=5_000) is False  # a fresh submission keeps it
    assert store.exists(key)
    assert store.delete(key) is True


def test_keys_lists_blobs_but_not_files_of_a_put_under_way(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    keys = {store.put(f"blob {n}".encode(), "text/plain") for n in range(3)}
    (tmp_path / sorted(keys)[0]).parent.joinpath(".tmp-half-written").write_bytes(b"x")

    assert set(store.keys()) == keys
