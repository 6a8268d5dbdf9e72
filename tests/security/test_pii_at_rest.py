"""Personal identifiers encrypted at rest: no table, partition, Kafka record, Redis marker or
résumé file holds a candidate's CNIC, e-mail or phone in plaintext; HR still reads them; rows
written before encryption are converted by the migration; keys rotate value by value and come
from the environment or a mounted file, never the repository."""

from __future__ import annotations

import base64
import secrets
import subprocess
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from litestar.testing import TestClient
from psycopg import sql
from pydantic import SecretStr

from core.domain import Role
from core.ids import application_id
from core.migrate import migrate
from core.pii_backfill import rotate
from core.pii_crypto import PiiCipher, PiiDecryptError, default_cipher, key_id_of
from core.pii_keys import PiiKeyError, PiiKeys, load_keys, new_key_line
from core.settings import Settings
from ingest.blob_crypto import encrypted_blob_store, reencrypt_blobs
from tests.api.hr import Org, cnic, create_org
from tests.security.pii import read_back, submit_and_store


def _candidate() -> dict[str, str]:
    number = cnic()
    return {
        "candidate_cnic": number,
        "candidate_name": "Ayesha Khan",
        "candidate_email": f"ayesha.{uuid.uuid4().hex[:10]}@example.com",
        "phone": f"+92300{secrets.randbelow(10**7):07d}",
    }


def _needles(fields: dict[str, str]) -> list[str]:
    number = fields["candidate_cnic"]
    return [number, number.replace("-", ""), fields["candidate_email"], fields["phone"]]


def _tables(db: psycopg.Connection[Any]) -> list[tuple[str, str]]:
    return [
        (row["table_schema"], row["table_name"])
        for row in db.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('public', 'archive') AND table_type = 'BASE TABLE'"
        )
    ]


def _found_in_tables(db: psycopg.Connection[Any], needles: list[str]) -> list[str]:
    """``schema.table: needle`` for every raw row (as text) that contains a needle."""
    found = []
    for schema, table in _tables(db):
        for needle in needles:
            hit = db.execute(
                sql.SQL("SELECT 1 FROM {} t WHERE strpos(t::text, %s) > 0 LIMIT 1").format(
                    sql.Identifier(schema, table)
                ),
                (needle,),
            ).fetchone()
            if hit:
                found.append(f"{schema}.{table}: {needle}")
    return found


def test_no_raw_table_kafka_record_marker_or_file_holds_a_plaintext_identifier(
    client: TestClient[Any],
    org_a: Org,
    services_up: Settings,
    db: psycopg.Connection[Any],
    redis_client: redis.Redis,
) -> None:
    as_json, as_form = _candidate(), _candidate()
    marker = f"Résumé-marker-{uuid.uuid4().hex}"
    first, sent_json = submit_and_store(
        client,
        services_up,
        org_a.job_id,
        json={**as_json, "resume_text": "Python developer since 2018."},
    )
    second, sent_form = submit_and_store(
        client,
        services_up,
        org_a.job_id,
        data=as_form,
        files={"resume": ("cv.txt", f"{marker}\nPostgreSQL and Python.".encode(), "text/plain")},
    )
    needles = _needles(as_json) + _needles(as_form)
    assert (
        db.execute(
            "SELECT count(*) AS n FROM applications WHERE id = ANY(%s)",
            ([first.json()["application_id"], second.json()["application_id"]],),
        ).fetchone()["n"]
        == 2
    )
    assert not _found_in_tables(db, needles)
    for record in sent_json + sent_form:
        value = read_back(services_up, record).decode()
        assert not [n for n in needles if n in value], "plaintext in the Kafka record"
    for answer in (first, second):
        marker_value = redis_client.get(f"pvara:accepted:{answer.json()['application_id']}")
        assert marker_value is not None
        assert not [n for n in needles if n.encode() in marker_value]
    key = db.execute(
        "SELECT resume_blob_key FROM applications WHERE id = %s",
        (second.json()["application_id"],),
    ).fetchone()["resume_blob_key"]
    stored = (services_up.effective_blob_dir / key).read_bytes()
    assert marker.encode() not in stored and stored.startswith(b"PVARA-ENC1")
    assert marker.encode() in encrypted_blob_store(services_up).get(key)


def test_hr_reads_the_identifiers_decrypted(
    client: TestClient[Any], org_a: Org, services_up: Settings
) -> None:
    fields = _candidate()
    created, _ = submit_and_store(
        client, services_up, org_a.job_id, json={**fields, "resume_text": "Go developer."}
    )
    details = client.get(
        f"/api/v1/applications/{created.json()['application_id']}/details", headers=org_a.hr
    ).json()
    assert details["candidate_email"] == fields["candidate_email"]
    assert details["candidate_phone"] == fields["phone"]
    assert details["candidate_cnic_masked"] == "*****-*******-" + fields["candidate_cnic"][-1]


def test_rows_written_in_plaintext_are_converted_by_the_migration_and_keep_their_ids(
    client: TestClient[Any],
    org_b: Org,
    services_up: Settings,
    db: psycopg.Connection[Any],
) -> None:
    fields = _candidate()
    number, email = fields["candidate_cnic"], fields["candidate_email"]
    legacy_id = application_id(
        services_up.id_secret.get_secret_value().encode(), org_b.id, org_b.job_id, number
    )
    # As a writer before migration 0008 left them: plaintext, no blind index, no salt.
    candidate = db.execute(
        "INSERT INTO candidates (organization_id, cnic, name, email, phone)"
        " VALUES (%s, %s, 'Old Row', %s, %s) RETURNING id",
        (org_b.id, number, email, fields["phone"]),
    ).fetchone()["id"]
    db.execute(
        "INSERT INTO application_index (id, organization_id, job_id, created_at)"
        " VALUES (%s, %s, %s, now())",
        (legacy_id, org_b.id, org_b.job_id),
    )
    db.execute(
        "INSERT INTO applications (id, organization_id, job_id, candidate_id, candidate_cnic,"
        " candidate_email, candidate_phone, candidate_name, status, created_at)"
        " SELECT id, organization_id, job_id, %s, %s, %s, %s, 'Old Row', 'screened', created_at"
        " FROM application_index WHERE id = %s",
        (candidate, number, email, fields["phone"], legacy_id),
    )
    assert _found_in_tables(db, _needles(fields))

    migrate(services_up)

    assert not _found_in_tables(db, _needles(fields))
    row = db.execute(
        "SELECT candidate_cnic, candidate_email, candidate_cnic_index FROM applications"
        " WHERE id = %s",
        (legacy_id,),
    ).fetchone()
    assert default_cipher().decrypt(row["candidate_email"], org_b.id) == email
    assert row["candidate_cnic_index"] == default_cipher().blind_index(org_b.id, "cnic", number)
    again = client.post(
        f"/api/v1/jobs/{org_b.job_id}/applications",
        json={**fields, "resume_text": "Resubmitted."},
    )
    assert again.status_code == 200, again.text  # the same application, found by blind index
    assert again.json()["application_id"] == str(legacy_id)


def test_keys_rotate_value_by_value_and_files_follow(
    client: TestClient[Any], services_up: Settings, db: psycopg.Connection[Any]
) -> None:
    org = create_org(services_up, db, roles=[Role.ADMIN])
    fields = _candidate()
    created, _ = submit_and_store(
        client,
        services_up,
        org.job_id,
        data=fields,
        files={"resume": ("cv.txt", b"Rust and Python engineer", "text/plain")},
    )
    app_id = created.json()["application_id"]
    old = default_cipher()
    new_key = base64.b64decode(new_key_line("k-rotated").split(":", 1)[1])
    forward = PiiCipher(
        PiiKeys({"k-rotated": new_key, **old.keys.encryption}, "k-rotated", old.keys.blind_index)
    )
    back = PiiCipher(
        PiiKeys({**old.keys.encryption, "k-rotated": new_key}, old.active_kid, old.keys.blind_index)
    )

    def stored() -> dict[str, Any]:
        row: dict[str, Any] = db.execute(
            "SELECT candidate_cnic, candidate_email, candidate_phone, candidate_cnic_index,"
            " resume_blob_key FROM applications WHERE id = %s",
            (app_id,),
        ).fetchone()
        return row

    before = stored()
    with psycopg.connect(services_up.effective_database_url, autocommit=True) as conn:
        report = rotate(conn, forward, organization_id=org.id)
        files = reencrypt_blobs(
            conn, encrypted_blob_store(services_up, forward), 0.0, organization_id=org.id
        )
    rotated = stored()
    assert report.rows["public.applications"] == 1 and files.sealed == 1
    assert {key_id_of(rotated[c]) for c in ("candidate_cnic", "candidate_email")} == {"k-rotated"}
    assert forward.decrypt(rotated["candidate_email"], org.id) == fields["candidate_email"]
    assert rotated["candidate_cnic_index"] == before["candidate_cnic_index"]
    assert rotated["resume_blob_key"] != before["resume_blob_key"]
    with pytest.raises(PiiDecryptError):
        old.decrypt(rotated["candidate_email"], org.id)  # the retired key set cannot
    with psycopg.connect(services_up.effective_database_url, autocommit=True) as conn:
        rotate(conn, back, organization_id=org.id)
        reencrypt_blobs(conn, encrypted_blob_store(services_up, back), 0.0, organization_id=org.id)
    restored = stored()
    assert old.decrypt(restored["candidate_email"], org.id) == fields["candidate_email"]
    text = encrypted_blob_store(services_up).get(restored["resume_blob_key"])
    assert text == b"Rust and Python engineer"


def test_a_value_moved_to_another_organization_or_tampered_does_not_decrypt(
    org_a: Org, org_b: Org
) -> None:
    cipher = default_cipher()
    token = cipher.encrypt("ayesha@example.com", org_a.id)
    assert cipher.decrypt(token, org_a.id) == "ayesha@example.com"
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(token, org_b.id)
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(flipped, org_a.id)
    assert cipher.encrypt("ayesha@example.com", org_a.id) != token  # a fresh nonce each time
    assert cipher.blind_index(org_a.id, "email", "Ayesha@Example.com ") == cipher.blind_index(
        org_a.id, "email", "ayesha@example.com"
    )
    assert cipher.blind_index(org_a.id, "email", "a@b.co") != cipher.blind_index(
        org_b.id, "email", "a@b.co"
    )


def test_keys_come_from_the_environment_or_a_mounted_file(
    services_up: Settings, tmp_path: Path
) -> None:
    line = new_key_line("prod-2026")
    index_key = base64.b64encode(secrets.token_bytes(32)).decode()
    env = services_up.model_copy(
        update={
            "home": tmp_path / "home",
            "pii_keys": SecretStr(f"{line},{new_key_line('prod-2025')}"),
            "blind_index_key": SecretStr(index_key),
        }
    )
    keys = load_keys(env)
    assert keys.active_kid == "prod-2026" and list(keys.encryption) == ["prod-2026", "prod-2025"]
    assert not (tmp_path / "home").exists()  # no development key was written
    mounted = tmp_path / "secret"
    mounted.write_text(line + "\n")
    (tmp_path / "index").write_text(index_key)
    from_files = services_up.model_copy(
        update={
            "home": tmp_path / "home",
            "pii_keys": SecretStr(""),
            "pii_keys_file": mounted,
            "blind_index_key": SecretStr(""),
            "blind_index_key_file": tmp_path / "index",
        }
    )
    assert load_keys(from_files).encryption == {"prod-2026": keys.encryption["prod-2026"]}
    for bad in (
        "nokid",
        "k1:not-base64!",
        "k1:" + base64.b64encode(b"short").decode(),
        f"{line},{line}",
    ):
        with pytest.raises(PiiKeyError):
            load_keys(env.model_copy(update={"pii_keys": SecretStr(bad)}))
    same = base64.b64encode(keys.encryption["prod-2026"]).decode()
    with pytest.raises(PiiKeyError):
        load_keys(env.model_copy(update={"blind_index_key": SecretStr(same)}))


def test_development_keys_live_under_pvara_home_which_git_ignores(services_up: Settings) -> None:
    load_keys(services_up)
    for name in ("pii.keys", "blind-index.key"):
        path = services_up.home / "keys" / name
        assert path.is_file() and path.stat().st_mode & 0o077 == 0, path
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", str(path)], cwd=Path(__file__).resolve().parents[2]
        )
        assert ignored.returncode == 0, f"{path} would be committed"
