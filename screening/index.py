"""The occupation and skill index derived from ESCO and O*NET (see ``data/NOTICE``).

Built by ``python -m ops.taxonomy_build`` into ``data/taxonomy.tsv.gz``: gzipped text in named
sections of tab-separated rows (``concepts``, ``skill_phrases``, ``occupations``,
``title_phrases``, ``idf``). Loading keeps each section's rows as strings and parses a row
only when it is used, so the index loads fast and stays small in memory.

Ids are row numbers: a concept id indexes ``concepts``, an occupation id ``occupations``.
"""

from __future__ import annotations

import gzip
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from screening.phrases import PhraseTable

FORMAT = 1
HEADER = "pvara-taxonomy"
SECTION = "#"
DEFAULT_INDEX_PATH = Path(__file__).resolve().parent / "data" / "taxonomy.tsv.gz"

_NO_IDS: tuple[int, ...] = ()


class IndexFormatError(ValueError):
    """The index file is not one this code can read."""


@dataclass(frozen=True, slots=True)
class Concept:
    """A skill, knowledge area, tool or technology, or a group of them."""

    id: int
    label: str
    kind: str  # skill, knowledge, group, tech, tech_group, tool, tool_group
    reuse: str  # ESCO reuse level (transversal, cross-sector, …), "" for O*NET
    broader: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Occupation:
    """An ESCO or O*NET occupation with its ISCO-08 unit group and skills."""

    id: int
    label: str
    code: str  # ISCO-08 unit group ("2411"), "" when unknown
    source: str  # esco | onet
    essential: frozenset[int]
    optional: frozenset[int]


def _rows(sections: dict[str, list[str] | dict[str, str]], name: str) -> list[str]:
    found = sections.get(name)
    if not isinstance(found, list):
        raise IndexFormatError(f"the index has no {name!r} section")
    return found


def _table(sections: dict[str, list[str] | dict[str, str]], name: str) -> dict[str, str]:
    found = sections.get(name)
    if not isinstance(found, dict):
        raise IndexFormatError(f"the index has no {name!r} section")
    return found


def _ids(cell: str) -> tuple[int, ...]:
    return tuple(map(int, cell.split(","))) if cell else _NO_IDS


class TaxonomyIndex:
    """Lookups over the shipped index: phrases → concepts/occupations, hierarchy, idf."""

    def __init__(self, sections: dict[str, list[str] | dict[str, str]]) -> None:
        self._concept_rows = _rows(sections, "concepts")
        self._occupation_rows = _rows(sections, "occupations")
        self._skill_phrases = _table(sections, "skill_phrases")
        self._title_phrases = _table(sections, "title_phrases")
        idf_rows = [row.split("\t") for row in _rows(sections, "idf")]
        self.documents = int(idf_rows[0][1])
        self.unseen_idf = float(idf_rows[0][2])
        self._idf = {stem: float(value) for stem, value in idf_rows[1:]}
        self.skill_table = PhraseTable(self._skill_phrases)
        self.title_table = PhraseTable(self._title_phrases)
        self._concepts: dict[int, Concept] = {}
        self._occupations: dict[int, Occupation] = {}
        self._narrower: dict[int, tuple[int, ...]] | None = None
        self._occupations_of: dict[int, tuple[int, ...]] | None = None
        self._all_keys: str | None = None

    @classmethod
    def load(cls, path: Path = DEFAULT_INDEX_PATH) -> TaxonomyIndex:
        """Read an index file written by ``ops.taxonomy_build``.

        Raises:
            IndexFormatError: when the file is not an index of this format.
        """
        with gzip.open(path, "rt", encoding="utf-8", newline="\n") as lines:
            return cls(parse_sections(lines))

    # ------------------------------------------------------------------------- phrases ---

    @property
    def skill_phrases(self) -> dict[str, str]:
        """Phrase key → comma-separated concept ids (the raw table, for the matcher)."""
        return self._skill_phrases

    @property
    def title_phrases(self) -> dict[str, str]:
        """Phrase key → comma-separated occupation ids."""
        return self._title_phrases

    def skills_for(self, key: str) -> tuple[int, ...]:
        """Concept ids a phrase key names (empty when none)."""
        return _ids(self._skill_phrases.get(key, ""))

    def occupations_for(self, key: str) -> tuple[int, ...]:
        """Occupation ids a title phrase key names (empty when none)."""
        return _ids(self._title_phrases.get(key, ""))

    def skill_keys_containing(self, key: str) -> list[str]:
        """Skill phrase keys holding ``key``'s words as a run ("suppli chain" → "manag suppli
        chain"), found by one scan of all keys joined in a text (built on first use)."""
        if self._all_keys is None:
            self._all_keys = "\n" + "\n".join(self._skill_phrases) + "\n"
        pattern = re.compile(rf"^(?:[^\n]* )?{re.escape(key)}(?: [^\n]*)?$", re.MULTILINE)
        return [m.group() for m in pattern.finditer(self._all_keys) if m.group() != key]

    def idf(self, stem: str) -> float:
        """BM25 idf of a stem over the taxonomy's texts (rare stems weigh most)."""
        return self._idf.get(stem, self.unseen_idf)

    # ---------------------------------------------------------------------- concepts ---

    def concept(self, concept_id: int) -> Concept:
        """The concept with this id."""
        found = self._concepts.get(concept_id)
        if found is None:
            label, kind, reuse, broader = self._concept_rows[concept_id].split("\t")
            found = Concept(concept_id, label, kind, reuse, _ids(broader))
            self._concepts[concept_id] = found
        return found

    def narrower(self, concept_id: int) -> tuple[int, ...]:
        """Concepts whose broader concept is this one."""
        if self._narrower is None:
            children: dict[int, list[int]] = defaultdict(list)
            for index, row in enumerate(self._concept_rows):
                for parent in _ids(row.rsplit("\t", 1)[1]):
                    children[parent].append(index)
            self._narrower = {k: tuple(v) for k, v in children.items()}
        return self._narrower.get(concept_id, _NO_IDS)

    def related(self, concept_id: int) -> dict[int, float]:
        """Concepts near this one in the hierarchy, with how close: broader and narrower
        0.6, siblings (same broader skill or group) 0.4."""
        found: dict[int, float] = {}
        concept = self.concept(concept_id)
        for parent in concept.broader:
            found[parent] = 0.6
            for sibling in self.narrower(parent):
                found.setdefault(sibling, 0.4)
        for child in self.narrower(concept_id):
            found[child] = 0.6
        found.pop(concept_id, None)
        return found

    # ------------------------------------------------------------------- occupations ---

    def occupation(self, occupation_id: int) -> Occupation:
        """The occupation with this id."""
        found = self._occupations.get(occupation_id)
        if found is None:
            label, code, source, essential, optional = self._occupation_rows[occupation_id].split(
                "\t"
            )
            found = Occupation(
                occupation_id,
                label,
                code,
                source,
                frozenset(_ids(essential)),
                frozenset(_ids(optional)),
            )
            self._occupations[occupation_id] = found
        return found

    def occupations_with(self, concept_id: int) -> tuple[int, ...]:
        """Occupations that list the concept as an essential skill."""
        if self._occupations_of is None:
            holders: dict[int, list[int]] = defaultdict(list)
            for index, row in enumerate(self._occupation_rows):
                for skill in _ids(row.split("\t")[3]):
                    holders[skill].append(index)
            self._occupations_of = {k: tuple(v) for k, v in holders.items()}
        return self._occupations_of.get(concept_id, _NO_IDS)

    def __len__(self) -> int:
        return len(self._concept_rows)

    @property
    def occupation_count(self) -> int:
        """How many occupations the index holds."""
        return len(self._occupation_rows)


_TABLES = frozenset({"skill_phrases", "title_phrases"})


def parse_sections(lines: Iterable[str]) -> dict[str, list[str] | dict[str, str]]:
    """The named sections of an index, read line by line (see the module docstring).

    The phrase sections become ``key → ids`` dicts as they are read (no list of rows is
    kept, which would double the memory a worker holds at its peak); the others lists.

    Raises:
        IndexFormatError: on a wrong header, format number or row count.
    """
    stream = iter(lines)
    header = next(stream, "").rstrip("\n")
    if header != f"{HEADER}\t{FORMAT}":
        raise IndexFormatError(f"not a format-{FORMAT} taxonomy index: {header[:60]!r}")
    sections: dict[str, list[str] | dict[str, str]] = {}
    expected: dict[str, int] = {}
    for line in stream:
        if not line.startswith(SECTION):
            raise IndexFormatError(f"expected a section title, got {line[:60]!r}")
        name, _, count = line[1:].rstrip("\n").partition("\t")
        expected[name] = int(count)
        rows = itertools.islice(stream, expected[name])
        if name in _TABLES:
            table = dict(row.rstrip("\n").split("\t", 1) for row in rows)
            sections[name] = table
        else:
            sections[name] = [row.rstrip("\n") for row in rows]
        if len(sections[name]) != expected[name]:
            raise IndexFormatError(f"section {name!r}: {len(sections[name])} rows, not {count}")
    return sections


def merge_ids(groups: Iterable[tuple[int, ...]]) -> frozenset[int]:
    """The union of several id tuples."""
    merged: set[int] = set()
    for group in groups:
        merged.update(group)
    return frozenset(merged)


@cache
def default_index() -> TaxonomyIndex:
    """The shipped index (loaded once per process)."""
    return TaxonomyIndex.load()
