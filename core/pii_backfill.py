"""Stored identifiers brought up to date: rows written in plaintext (before migration 0008, or
restored from such a backup) become tokens with blind indexes, and tokens of a retired key are
re-encrypted under the active one (``pvara pii rotate``).

Both walk ``applications`` (every attached partition), the partitions archived by retention,
and ``candidates``, in key order and in batches of one transaction each, so they can run while
the system serves and can be interrupted and run again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row, tuple_row

from core.pii_crypto import PiiCipher, is_token

log = logging.getLogger(__name__)

_BATCH = 500


@dataclass(frozen=True)
class _Table:
    """Where identifiers live: the table, its key columns, and value → index columns."""

    schema: str
    name: str
    key: tuple[str, ...]
    fields: dict[str, tuple[str, str | None]]  # column → (field kind, blind-index column)
    erased: str  # the column that is set once the row's personal data is erased

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def index_column(self) -> str:
        cnic = next(col for col, (kind, _) in self.fields.items() if kind == "cnic")
        index = self.fields[cnic][1]
        assert index is not None
        return index


_APPLICATION_FIELDS: dict[str, tuple[str, str | None]] = {
    "candidate_cnic": ("cnic", "candidate_cnic_index"),
    "candidate_email": ("email", "candidate_email_index"),
    "candidate_phone": ("phone", None),
}
_CANDIDATES = _Table(
    "public",
    "candidates",
    ("id",),
    {"cnic": ("cnic", "cnic_index"), "email": ("email", "email_index"), "phone": ("phone", None)},
    "erased_at",
)


def _tables(conn: psycopg.Connection[Any]) -> list[_Table]:
    cur = conn.cursor(row_factory=tuple_row)
    archived = [
        row[0]
        for row in cur.execute("SELECT relname FROM pvara_archived_applications() ORDER BY 1")
    ]
    applications = [("public", "applications"), *(("archive", name) for name in archived)]
    return [
        *(
            _Table(schema, name, ("created_at", "id"), _APPLICATION_FIELDS, "pii_erased_at")
            for schema, name in applications
        ),
        _CANDIDATES,
    ]


@dataclass
class BackfillReport:
    """Rows changed per table, and legacy salts recorded."""

    rows: dict[str, int] = field(default_factory=dict)
    salts: int = 0

    @property
    def total(self) -> int:
        return sum(self.rows.values())

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "salts": self.salts, "total": self.total}


def _batches(
    conn: psycopg.Connection[Any], table: _Table, where: sql.Composable, params: dict[str, Any]
) -> Iterator[list[dict[str, Any]]]:
    """Rows matching ``where`` in key order, one locked batch per yielded list; the caller
    updates them before the next batch is read (each batch is its own transaction)."""
    columns = [*table.key, "organization_id", *table.fields]
    key = sql.SQL(", ").join(sql.Identifier(c) for c in table.key)
    after: tuple[Any, ...] | None = None
    while True:
        condition: sql.Composable = where
        args = dict(params, limit=_BATCH)
        if after is not None:
            placeholders = sql.SQL(", ").join(sql.Placeholder(f"k{i}") for i in range(len(after)))
            condition = sql.SQL("({}) AND ({}) > ({})").format(where, key, placeholders)
            args.update({f"k{i}": value for i, value in enumerate(after)})
        query = sql.SQL(
            "SELECT {columns} FROM {table} WHERE {condition} ORDER BY {key} LIMIT %(limit)s"
            " FOR UPDATE SKIP LOCKED"
        ).format(
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            table=sql.Identifier(table.schema, table.name),
            condition=condition,
            key=key,
        )
        with conn.transaction():
            cur = conn.cursor(row_factory=dict_row)
            rows = cur.execute(query, args).fetchall()
            if not rows:
                return
            yield rows
        if len(rows) < _BATCH:
            return
        after = tuple(rows[-1][c] for c in table.key)


def _update(
    conn: psycopg.Connection[Any], table: _Table, row: dict[str, Any], values: dict[str, Any]
) -> None:
    assignments = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(c)) for c in values
    )
    match = sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(f"key_{c}")) for c in table.key
    )
    conn.execute(
        sql.SQL("UPDATE {} SET {} WHERE {}").format(
            sql.Identifier(table.schema, table.name), assignments, match
        ),
        {**values, **{f"key_{c}": row[c] for c in table.key}},
    )


def convert_plaintext(conn: psycopg.Connection[Any], cipher: PiiCipher) -> BackfillReport:
    """Encrypt identifiers still stored in plaintext and give their rows blind indexes; every
    (organization, CNIC) converted gets the empty (legacy) salt, so its application ids stay.

    A row counts as unconverted while its CNIC blind index is missing and it is not erased.
    """
    report = BackfillReport()
    for table in _tables(conn):
        where = sql.SQL("{} IS NULL AND {} IS NULL").format(
            sql.Identifier(table.index_column), sql.Identifier(table.erased)
        )
        changed = 0
        for rows in _batches(conn, table, where, {}):
            for row in rows:
                org: uuid.UUID = row["organization_id"]
                values: dict[str, Any] = {}
                for column, (kind, index_column) in table.fields.items():
                    stored = row[column]
                    if stored is None:
                        continue
                    plain = cipher.decrypt(stored, org) if is_token(stored) else stored
                    if not is_token(stored):
                        values[column] = cipher.encrypt(plain, org)
                    if index_column is not None:
                        values[index_column] = cipher.blind_index(org, kind, plain)
                _update(conn, table, row, values)
                cur = conn.execute(
                    "INSERT INTO candidate_keys (organization_id, cnic_index, salt)"
                    " VALUES (%s, %s, '') ON CONFLICT DO NOTHING",
                    (org, values[table.index_column]),
                )
                report.salts += cur.rowcount
                changed += 1
        if changed:
            report.rows[table.label] = changed
            log.info("identifiers encrypted", extra={"table": table.label, "rows": changed})
    return report


def rotate(
    conn: psycopg.Connection[Any],
    cipher: PiiCipher,
    organization_id: uuid.UUID | None = None,
) -> BackfillReport:
    """Re-encrypt every token whose key is not the active one (blind indexes do not change);
    only one organization's with ``organization_id``."""
    report = BackfillReport()
    prefix = f"enc:v1:{cipher.active_kid}:"
    for table in _tables(conn):
        where: sql.Composable = sql.SQL(" OR ").join(
            sql.SQL("(starts_with({c}, 'enc:v1:') AND NOT starts_with({c}, %(prefix)s))").format(
                c=sql.Identifier(column)
            )
            for column in table.fields
        )
        if organization_id is not None:
            where = sql.SQL("organization_id = %(org)s AND ({})").format(where)
        changed = 0
        params = {"prefix": prefix, "org": organization_id}
        for rows in _batches(conn, table, where, params):
            for row in rows:
                values = {
                    column: cipher.rotate(row[column], row["organization_id"])
                    for column in table.fields
                    if cipher.needs_rotation(row[column])
                }
                _update(conn, table, row, values)
                changed += 1
        if changed:
            report.rows[table.label] = changed
            log.info("identifiers re-encrypted", extra={"table": table.label, "rows": changed})
    return report


def key_usage(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """How many stored identifiers each key id encrypted (``plaintext`` for unconverted ones)."""
    counts: dict[str, int] = {}
    for table in _tables(conn):
        for column in table.fields:
            query = sql.SQL(
                "SELECT CASE WHEN starts_with({c}, 'enc:v1:') THEN split_part({c}, ':', 3)"
                " ELSE 'plaintext' END AS kid, count(*) AS n FROM {t}"
                " WHERE {c} IS NOT NULL AND {e} IS NULL GROUP BY 1"
            ).format(
                c=sql.Identifier(column),
                t=sql.Identifier(table.schema, table.name),
                e=sql.Identifier(table.erased),
            )
            for kid, n in conn.cursor(row_factory=tuple_row).execute(query):
                counts[kid] = counts.get(kid, 0) + int(n)
    return counts
