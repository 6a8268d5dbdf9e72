"""Build the screener's occupation and skill index from ESCO v1.1.1 and O*NET 29.3.

    .venv/bin/python -m ops.taxonomy_build [--datasets DIR] [--out screening/data/taxonomy.tsv.gz]
    .venv/bin/python -m ops.taxonomy_build --check   # rebuild in memory, compare with the file

Reads the official files in place (``<datasets>/taxonomy/esco-v1.1.1/*.zip`` and
``<datasets>/taxonomy/onet-29.3/*.tsv.gz``) and writes one gzipped, tab-separated text of
named sections with deterministic bytes (sorted ids, no timestamps), so a rebuild can be
compared by hash.

What the index holds (every label reduced by :func:`screening.phrases.phrase_key`):

* ``concepts``: ESCO skills and knowledge, ESCO skill groups, O*NET technology and tool
  examples, and O*NET commodity classes (the groups of those examples); each with its
  broader concepts (the hierarchy used for related-skill credit).
* ``skill_phrases``: every ESCO preferred/alternative label and O*NET example name (with
  vendor-less short forms such as "QuickBooks" for "Intuit QuickBooks") → concept ids.
* ``occupations``: ESCO occupations (ISCO-08 unit group, essential and optional skills) and
  O*NET occupations (SOC code, hot and other technologies), the latter placed in an ISCO
  unit group by a vote of their titles that are also ESCO titles.
* ``title_phrases``: ESCO occupation labels and O*NET titles, alternate and short titles →
  occupation ids.
* ``idf``: inverse document frequency of each stem over the taxonomy's own texts (labels
  and descriptions), for BM25 and for weighting words in partial matches.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import math
import sys
import zipfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.settings import get_settings
from screening.index import DEFAULT_INDEX_PATH, FORMAT, HEADER, SECTION
from screening.phrases import STOPWORDS, phrase_key, stems, words

ESCO_DIR = "taxonomy/esco-v1.1.1"
ONET_DIR = "taxonomy/onet-29.3"
ESCO_CLASSIFICATION = "esco-v1.1.1-classification-en-csv.zip"
ESCO_RELATIONS = "esco-v1.1.1-relations-csv.zip"

MAX_PHRASE_WORDS = 6
MAX_TITLE_OCCUPATIONS = 40  # a title shared by more occupations says little ("manager")

# ESCO's skill types and O*NET's example kinds, as the index names them.
_ESCO_KIND = {"skill/competence": "skill", "knowledge": "knowledge"}


class SourceMissingError(RuntimeError):
    """The taxonomy source files are not where they were looked for."""


@dataclass
class _Concept:
    label: str
    kind: str
    reuse: str = ""  # ESCO reuse level: transversal, cross-sector, sector-/occupation-specific
    broader: set[str] = field(default_factory=set)  # source keys
    phrases: set[str] = field(default_factory=set)  # raw labels


@dataclass
class _Occupation:
    label: str
    code: str  # ISCO unit group (4 digits) or "" when unknown
    source: str
    essential: set[str] = field(default_factory=set)
    optional: set[str] = field(default_factory=set)
    titles: set[str] = field(default_factory=set)


# ------------------------------------------------------------------------------ reading ---


def _csv_rows(archive: zipfile.ZipFile, name: str) -> Iterator[dict[str, str]]:
    with archive.open(name) as raw:
        yield from csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8", newline=""))


def _tsv_rows(path: Path) -> Iterator[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        yield from csv.DictReader(fh, delimiter="\t")


def _labels(*cells: str) -> set[str]:
    found: set[str] = set()
    for cell in cells:
        for label in (cell or "").split("\n"):
            label = label.strip()
            if label:
                found.add(label)
    return found


def _object_of(label: str) -> str:
    """What an ESCO competence acts on, as job ads name it: "perform classroom management"
    → "classroom management", "advise on lesson plans" → "lesson plans" ("" when that is a
    single word, too vague alone: "manage budgets" ↛ "budgets")."""
    parts = label.split()
    rest = parts[1:]
    while rest and rest[0].lower() in STOPWORDS:
        rest = rest[1:]
    return " ".join(rest) if 2 <= len(rest) <= 4 else ""


def _short_forms(name: str, vendors: set[str]) -> set[str]:
    """Everyday names of an O*NET example: "Intuit QuickBooks" → "QuickBooks".

    The vendor is dropped only when what remains is distinctive on its own (several words,
    an inner capital or a digit: "QuickBooks", "AutoCAD"), never for "Microsoft Word".
    """
    forms = set()
    base = name
    for suffix in (" software", " Software"):
        if base.endswith(suffix) and len(base) > len(suffix) + 2:
            base = base[: -len(suffix)]
            forms.add(base)
    parts = base.split()
    if len(parts) >= 2 and parts[0] in vendors:
        rest = " ".join(parts[1:])
        distinctive = len(parts) >= 3 or any(c.isdigit() for c in rest)
        distinctive |= any(c.isupper() for c in rest[1:]) and not rest.isupper()
        distinctive |= rest.isupper() and len(rest) >= 3
        if distinctive:
            forms.add(rest)
    return forms


# ------------------------------------------------------------------------------ building ---


def build(datasets: Path) -> bytes:
    """The index for the sources under ``datasets``, as gzipped bytes.

    Raises:
        SourceMissingError: when a source file is missing.
    """
    esco, onet = datasets / ESCO_DIR, datasets / ONET_DIR
    for path in (
        esco / ESCO_CLASSIFICATION,
        esco / ESCO_RELATIONS,
        onet / "alternate_titles.tsv.gz",
    ):
        if not path.is_file():
            raise SourceMissingError(
                f"taxonomy source {path} not found: set PVARA_DATASETS_DIR to the folder that "
                "holds taxonomy/esco-v1.1.1 and taxonomy/onet-29.3"
            )
    concepts: dict[str, _Concept] = {}
    occupations: dict[str, _Occupation] = {}
    corpus: list[str] = []
    _read_esco(esco, concepts, occupations, corpus)
    _read_onet(onet, concepts, occupations, corpus)
    sections = _assemble(concepts, occupations, corpus)
    parts = [f"{HEADER}\t{FORMAT}\n"]
    for name, rows in sections.items():
        parts.append(f"{SECTION}{name}\t{len(rows)}\n")
        parts.extend(row + "\n" for row in rows)
    text = "".join(parts)
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9, mtime=0, filename="") as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


def _read_esco(
    folder: Path,
    concepts: dict[str, _Concept],
    occupations: dict[str, _Occupation],
    corpus: list[str],
) -> None:
    with zipfile.ZipFile(folder / ESCO_CLASSIFICATION) as archive:
        for row in _csv_rows(archive, "skills_en.csv"):
            if row["status"] != "released":
                continue
            kind = _ESCO_KIND.get(row["skillType"], "skill")
            # Hidden labels are search aids (misspellings, odd senses: "experience" for
            # "think creatively"), not what people write.
            labels = _labels(row["preferredLabel"], row["altLabels"])
            if kind == "skill":
                labels |= {_object_of(label) for label in labels} - {""}
            concepts[row["conceptUri"]] = _Concept(
                row["preferredLabel"], kind, row["reuseLevel"], phrases=labels
            )
            corpus.append(" ".join([*labels, row["description"]]))
        for row in _csv_rows(archive, "skillGroups_en.csv"):
            labels = _labels(row["preferredLabel"], row["altLabels"])
            # A one-word group label ("skills", "knowledge") names no skill in a text.
            named = {label for label in labels if " " in label.strip()}
            concepts[row["conceptUri"]] = _Concept(row["preferredLabel"], "group", phrases=named)
            corpus.append(" ".join([*labels, row["description"]]))
        for row in _csv_rows(archive, "occupations_en.csv"):
            titles = _labels(row["preferredLabel"], row["altLabels"])
            code = row["iscoGroup"][:4]
            occupations[row["conceptUri"]] = _Occupation(
                row["preferredLabel"], code, "esco", titles=titles
            )
            corpus.append(" ".join([*titles, row["description"]]))
    with zipfile.ZipFile(folder / ESCO_RELATIONS) as archive:
        for row in _csv_rows(archive, "broaderRelationsSkillPillar.csv"):
            child = concepts.get(row["conceptUri"])
            if child is not None and row["broaderUri"] in concepts:
                child.broader.add(row["broaderUri"])
        for row in _csv_rows(archive, "occupationSkillRelations.csv"):
            occupation = occupations.get(row["occupationUri"])
            if occupation is None or row["skillUri"] not in concepts:
                continue
            target = (
                occupation.essential if row["relationType"] == "essential" else occupation.optional
            )
            target.add(row["skillUri"])


def _read_onet(
    folder: Path,
    concepts: dict[str, _Concept],
    occupations: dict[str, _Occupation],
    corpus: list[str],
) -> None:
    soc: dict[str, _Occupation] = {}
    for row in _tsv_rows(folder / "occupation_data.tsv.gz"):
        soc[row["O*NET-SOC Code"]] = _Occupation(row["Title"], "", "onet", titles={row["Title"]})
        corpus.append(f"{row['Title']} {row['Description']}")
    for row in _tsv_rows(folder / "alternate_titles.tsv.gz"):
        occupation = soc.get(row["O*NET-SOC Code"])
        if occupation is not None:
            occupation.titles |= _labels(row["Alternate Title"], row["Short Title"])

    tables = (("technology_skills.tsv.gz", "tech"), ("tools_used.tsv.gz", "tool"))
    rows = [(kind, row) for table, kind in tables for row in _tsv_rows(folder / table)]
    # Vendors: capitalised first words that begin several distinct product names.
    names = {row["Example"] for _, row in rows}
    first_words = Counter(name.split()[0] for name in names if " " in name)
    vendors = {w for w, n in first_words.items() if n >= 5 and w[:1].isupper()}

    for kind, row in rows:
        name, code, title = row["Example"], row["Commodity Code"], row["Commodity Title"]
        group_key = f"onet:class:{code}"
        if group_key not in concepts:
            concepts[group_key] = _Concept(title, f"{kind}_group", phrases={title})
        concept_key = f"onet:{kind}:{name.lower()}"
        concept = concepts.get(concept_key)
        if concept is None:
            concept = concepts[concept_key] = _Concept(name, kind, phrases={name})
            concept.phrases |= _short_forms(name, vendors)
        concept.broader.add(group_key)
        occupation = soc.get(row["O*NET-SOC Code"])
        if occupation is not None:
            hot = row.get("Hot Technology") == "Y"
            (occupation.essential if hot else occupation.optional).add(concept_key)

    _place_in_isco(soc, occupations)
    for code, occupation in soc.items():
        occupations[f"onet:{code}"] = occupation


def _place_in_isco(soc: dict[str, _Occupation], esco: dict[str, _Occupation]) -> None:
    """Give each O*NET occupation the ISCO unit group most of its titles have in ESCO."""
    groups_by_title: dict[str, set[str]] = defaultdict(set)
    for occupation in esco.values():
        for title in occupation.titles:
            groups_by_title[phrase_key(title)].add(occupation.code)
    for occupation in soc.values():
        votes: Counter[str] = Counter()
        for title in occupation.titles:
            for code in groups_by_title.get(phrase_key(title), ()):
                votes[code] += 1
        if votes:
            occupation.code = min(votes, key=lambda c: (-votes[c], c))


def _usable_phrase(key: str) -> bool:
    parts = key.split(" ")
    if not key or len(parts) > MAX_PHRASE_WORDS:
        return False
    if parts[0] in STOPWORDS or parts[-1] in STOPWORDS:
        return False
    return not (len(parts) == 1 and len(key) < 3 and not any(c in key for c in "+#"))


def _assemble(
    concepts: dict[str, _Concept], occupations: dict[str, _Occupation], corpus: list[str]
) -> dict[str, list[str]]:
    """The index's sections, each a list of tab-separated rows in a deterministic order."""
    concept_ids = {key: i for i, key in enumerate(sorted(concepts))}
    concept_rows = []
    skill_phrases: dict[str, set[int]] = defaultdict(set)
    for key in sorted(concepts):
        concept = concepts[key]
        broader = sorted(concept_ids[b] for b in concept.broader)
        concept_rows.append(_row(concept.label, concept.kind, concept.reuse, _ids(broader)))
        for label in concept.phrases:
            phrase = phrase_key(label)
            if _usable_phrase(phrase):
                skill_phrases[phrase].add(concept_ids[key])

    occupation_rows = []
    title_phrases: dict[str, set[int]] = defaultdict(set)
    for index, key in enumerate(sorted(occupations)):
        occupation = occupations[key]
        essential = sorted(concept_ids[s] for s in occupation.essential)
        optional = sorted(concept_ids[s] for s in occupation.optional - occupation.essential)
        occupation_rows.append(
            _row(
                occupation.label,
                occupation.code,
                occupation.source,
                _ids(essential),
                _ids(optional),
            )
        )
        for title in occupation.titles:
            phrase = phrase_key(title)
            if _usable_phrase(phrase):
                title_phrases[phrase].add(index)

    documents, unseen, idf = _idf(corpus)
    return {
        "concepts": concept_rows,
        "skill_phrases": [_row(k, _ids(sorted(v))) for k, v in sorted(skill_phrases.items())],
        "occupations": occupation_rows,
        "title_phrases": [
            _row(k, _ids(sorted(v)))
            for k, v in sorted(title_phrases.items())
            if len(v) <= MAX_TITLE_OCCUPATIONS
        ],
        "idf": [_row("", str(documents), f"{unseen:.2f}")]
        + [_row(stem, f"{value:.2f}") for stem, value in idf],
    }


def _row(*cells: str) -> str:
    # No row may start like a section title.
    return "\t".join(" ".join(cell.split()) for cell in cells).lstrip(SECTION)


def _ids(values: Iterable[int]) -> str:
    return ",".join(map(str, values))


def _idf(corpus: Iterable[str]) -> tuple[int, float, list[tuple[str, float]]]:
    """BM25's idf of each stem seen in at least two of the taxonomy's texts."""
    frequency: Counter[str] = Counter()
    documents = 0
    for text in corpus:
        documents += 1
        frequency.update(set(stems(w for w, _, _ in words(text))))

    def idf(df: float) -> float:
        return math.log(1 + (documents - df + 0.5) / (df + 0.5))

    table = [(stem, idf(df)) for stem, df in sorted(frequency.items()) if df >= 2]
    return documents, idf(1), table


# ---------------------------------------------------------------------------------- CLI ---


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=DEFAULT_INDEX_PATH)
    parser.add_argument("--check", action="store_true", help="compare with --out, write nothing")
    args = parser.parse_args(argv)
    datasets = args.datasets or get_settings().effective_datasets_dir
    try:
        data = build(datasets)
    except SourceMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    digest = hashlib.sha256(data).hexdigest()
    if args.check:
        current = args.out.read_bytes() if args.out.is_file() else b""
        same = hashlib.sha256(current).hexdigest() == digest
        print(f"{args.out}: {'up to date' if same else 'DIFFERS from a rebuild'} (sha256 {digest})")
        return 0 if same else 1
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data):,} bytes, sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
