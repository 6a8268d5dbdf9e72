"""S3BlobStore against a real S3-compatible server (s3proxy 2.6.0 from Maven Central, filesystem
backend with at-rest encryption), started here; plus erasure and the grace sweep on it."""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from litestar.testing import TestClient
from pydantic import SecretStr

from api.app import create_app
from core.db import create_pool
from core.queue import create_broker
from core.settings import Settings
from ingest.blobs import (
    BlobCorruptError,
    BlobNotFoundError,
    BlobStore,
    InvalidBlobKeyError,
    LocalBlobStore,
    blob_key,
    open_blob_store,
)
from ingest.s3_blobs import BlobStoreUnavailableError, S3BlobStore, S3Location, s3_client
from ops.processes import free_port
from ops.services.s3proxy import S3ProxyServer
from scheduler.jobs import JobContext, sweep_resume_files
from tests.api.hr import Org, cnic, create_org, insert_application

BUCKET = "pvara-resumes"


@pytest.fixture(scope="module")
def s3proxy(services_up: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    data = tmp_path_factory.mktemp("s3proxy-data")
    with S3ProxyServer(services_up, free_port(), data) as server:
        yield server


@pytest.fixture(scope="module")
def s3_settings(services_up: Settings, s3proxy: S3ProxyServer) -> Settings:
    """The test settings pointed at the s3proxy bucket (a fresh prefix per module)."""
    settings = services_up.model_copy(
        update={
            "blob_url": f"s3://{BUCKET}/t-{uuid.uuid4().hex[:8]}/resumes",
            "s3_endpoint_url": s3proxy.endpoint,
            "s3_access_key_id": s3proxy.access_key,
            "s3_secret_access_key": SecretStr(s3proxy.secret_key),
            "s3_sse": "none",  # s3proxy refuses the header; it encrypts at rest itself
        }
    )
    client = s3_client(settings)
    if BUCKET not in {b["Name"] for b in client.list_buckets()["Buckets"]}:
        client.create_bucket(Bucket=BUCKET)
    return settings


@pytest.fixture
def store(s3_settings: Settings) -> S3BlobStore:
    made = open_blob_store(s3_settings)
    assert isinstance(made, S3BlobStore)
    return made


def _on_disk(s3proxy: S3ProxyServer, store: S3BlobStore, key: str) -> Path:
    """The file s3proxy's filesystem backend keeps the object in (any suffix it adds)."""
    folder = s3proxy.data_dir / store.bucket / Path(store.prefix + key).parent
    (found,) = folder.glob(Path(key).name + "*")
    return found


def _age(s3proxy: S3ProxyServer, store: S3BlobStore, key: str, seconds: float) -> None:
    """Make the object look stored ``seconds`` ago (its LastModified is the file's mtime)."""
    then = time.time() - seconds
    os.utime(_on_disk(s3proxy, store, key), (then, then))


def test_put_then_get_returns_the_bytes_under_the_local_stores_key(store: S3BlobStore) -> None:
    data = f"%PDF-1.7 résumé {uuid.uuid4()}".encode()

    key = store.put(data, "application/pdf")

    assert (
        key
        == blob_key(data)
        == f"sha256/{key[7:9]}/{key[10:12]}/{hashlib.sha256(data).hexdigest()}"
    )
    assert store.get(key) == data
    assert store.exists(key)
    head = store.client.head_object(Bucket=store.bucket, Key=store.prefix + key)
    assert head["ContentType"] == "application/pdf"


def test_the_object_is_encrypted_at_rest(s3proxy: S3ProxyServer, store: S3BlobStore) -> None:
    marker = f"CNIC 35202-1234567-1 {uuid.uuid4()}".encode()
    key = store.put(marker * 20, "text/plain")

    assert marker not in _on_disk(s3proxy, store, key).read_bytes()
    assert store.get(key) == marker * 20


def test_storing_the_same_bytes_again_renews_the_object(
    s3proxy: S3ProxyServer, store: S3BlobStore
) -> None:
    data = f"same bytes {uuid.uuid4()}".encode()
    key = store.put(data, "text/plain")
    _age(s3proxy, store, key, 10_000)
    assert key in set(store.keys(min_age_s=5_000))

    assert store.put(data, "text/plain") == key

    assert key not in set(store.keys(min_age_s=5_000))
    assert store.delete(key, min_age_s=5_000) is False  # a fresh submission keeps it
    assert store.get(key) == data
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix + key)
    assert [o["Key"] for o in listed["Contents"]] == [store.prefix + key]


def test_delete_honours_the_grace_and_is_idempotent(
    s3proxy: S3ProxyServer, store: S3BlobStore
) -> None:
    key = store.put(f"to delete {uuid.uuid4()}".encode(), "text/plain")

    assert store.delete(key, min_age_s=3_600) is False
    _age(s3proxy, store, key, 7_200)
    assert store.delete(key, min_age_s=3_600) is True
    assert not store.exists(key)
    assert store.delete(key) is False
    with pytest.raises(BlobNotFoundError):
        store.get(key)


def test_keys_lists_only_blob_keys_under_the_prefix(
    s3_settings: Settings, s3proxy: S3ProxyServer
) -> None:
    store = S3BlobStore(
        s3_client(s3_settings),
        S3Location.parse(f"s3://{BUCKET}/keys-{uuid.uuid4().hex[:8]}"),
        sse="none",
    )
    keys = {store.put(f"blob {n} {uuid.uuid4()}".encode(), "text/plain") for n in range(3)}
    store.client.put_object(Bucket=BUCKET, Key=store.prefix + "sha256/not-a-blob", Body=b"x")

    assert set(store.keys()) == keys  # the backend's folder entries are not blobs either
    assert set(store.keys(min_age_s=3_600)) == set()


@pytest.mark.parametrize("key", ["../etc/passwd", "sha256/aa/bb/cafe", "sha256/ab/cd/" + "0" * 64])
def test_malformed_keys_are_refused(store: S3BlobStore, key: str) -> None:
    with pytest.raises(InvalidBlobKeyError):
        store.get(key)
    with pytest.raises(InvalidBlobKeyError):
        store.delete(key)


def test_bytes_changed_in_the_bucket_are_detected(store: S3BlobStore) -> None:
    key = store.put(f"original {uuid.uuid4()}".encode(), "text/plain")
    store.client.put_object(Bucket=store.bucket, Key=store.prefix + key, Body=b"tampered")

    with pytest.raises(BlobCorruptError):
        store.get(key)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


@pytest.mark.parametrize(
    ("sse", "kms_key", "headers"),
    [
        ("AES256", "", {"x-amz-server-side-encryption": "AES256"}),
        (
            "aws:kms",
            "alias/pvara",
            {
                "x-amz-server-side-encryption": "aws:kms",
                "x-amz-server-side-encryption-aws-kms-key-id": "alias/pvara",
            },
        ),
    ],
)
def test_uploads_ask_for_server_side_encryption(
    s3_settings: Settings, sse: str, kms_key: str, headers: dict[str, str]
) -> None:
    client = s3_client(s3_settings)
    sent: list[dict[str, str]] = []
    client.meta.events.register(
        "before-send.s3.PutObject",
        lambda request, **_: sent.append({k.lower(): _text(v) for k, v in request.headers.items()}),
    )
    store = S3BlobStore(client, S3Location.parse(s3_settings.blob_url), sse=sse, kms_key_id=kms_key)

    # s3proxy implements no SSE header and says so: the store reports it, never stores plain.
    with pytest.raises(BlobStoreUnavailableError, match="NotImplemented"):
        store.put(f"sse {uuid.uuid4()}".encode(), "text/plain")

    assert len(sent) == 1
    for name, value in headers.items():
        assert sent[0][name] == value


def test_an_unreachable_store_is_a_blob_error(s3_settings: Settings) -> None:
    settings = s3_settings.model_copy(update={"s3_endpoint_url": f"http://127.0.0.1:{free_port()}"})
    store = open_blob_store(settings)

    with pytest.raises(BlobStoreUnavailableError):
        store.exists(blob_key(b"x"))


def test_the_setting_selects_the_store(services_up: Settings, s3_settings: Settings) -> None:
    assert isinstance(open_blob_store(services_up), LocalBlobStore)
    assert isinstance(open_blob_store(s3_settings), S3BlobStore)
    with pytest.raises(ValueError, match="s3://"):
        open_blob_store(services_up.model_copy(update={"blob_url": "ftp://x/y"}))
    assert S3Location.parse("s3://bucket") == S3Location("bucket", "")
    assert S3Location.parse("s3://bucket/a/b/") == S3Location("bucket", "a/b/")


def test_s3_store_satisfies_the_protocol(store: S3BlobStore) -> None:
    as_protocol: BlobStore = store
    key = as_protocol.put(f"protocol {uuid.uuid4()}".encode(), "text/plain")
    assert as_protocol.exists(key)
    assert as_protocol.delete(key) and not as_protocol.exists(key)


# --- erasure and the grace sweep on S3 --------------------------------------------------------


@pytest.fixture
def org(services_up: Settings, db: psycopg.Connection[Any]) -> Org:
    return create_org(services_up, db, roles=["admin", "hr"])


def _application_with_file(
    db: psycopg.Connection[Any], org: Org, key: str, number: str
) -> uuid.UUID:
    app_id = insert_application(db, org, candidate_cnic=number)
    db.execute(
        "UPDATE applications SET resume_blob_key = %s, resume_media_type = 'application/pdf'"
        " WHERE id = %s",
        (key, app_id),
    )
    return app_id


def test_erasure_deletes_the_candidates_file_from_the_bucket(
    s3_settings: Settings,
    s3proxy: S3ProxyServer,
    store: S3BlobStore,
    org: Org,
    db: psycopg.Connection[Any],
) -> None:
    number = cnic()
    key = store.put(f"%PDF erase me {uuid.uuid4()}".encode(), "application/pdf")
    _age(s3proxy, store, key, 2 * 86_400)
    shared = store.put(f"%PDF shared {uuid.uuid4()}".encode(), "application/pdf")
    _age(s3proxy, store, shared, 2 * 86_400)
    _application_with_file(db, org, key, number)
    _application_with_file(db, org, shared, number)
    _application_with_file(db, org, shared, cnic())  # another candidate's, same bytes

    with TestClient(app=create_app(s3_settings)) as client:
        response = client.post(
            "/api/v1/candidates/erasure", headers=org.admin, json={"candidate_cnic": number}
        )

    assert response.status_code == 200, response.text
    assert not store.exists(key)
    assert store.exists(shared)


def test_the_daily_sweep_deletes_only_old_unreferenced_files_from_the_bucket(
    s3_settings: Settings,
    s3proxy: S3ProxyServer,
    store: S3BlobStore,
    org: Org,
    db: psycopg.Connection[Any],
    redis_client: redis.Redis,
) -> None:
    orphan = store.put(f"orphan {uuid.uuid4()}".encode(), "application/pdf")
    _age(s3proxy, store, orphan, 2 * 86_400)
    used = store.put(f"used {uuid.uuid4()}".encode(), "application/pdf")
    _age(s3proxy, store, used, 2 * 86_400)
    _application_with_file(db, org, used, cnic())
    fresh = store.put(f"still in Kafka {uuid.uuid4()}".encode(), "application/pdf")

    pool = create_pool(s3_settings, name="sweep-test", max_size=2)
    ctx = JobContext(
        settings=s3_settings, pool=pool, broker=create_broker(s3_settings), redis=redis_client
    )
    try:
        result = sweep_resume_files(ctx)
    finally:
        pool.close()

    assert result["deleted"] >= 1
    assert not store.exists(orphan)
    assert store.exists(used) and store.exists(fresh)
