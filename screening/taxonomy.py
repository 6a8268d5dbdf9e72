"""The skill taxonomy: canonical skills, their aliases, and a fast matcher over free text.

All aliases are compiled into one regular expression shaped as a character trie, so finding
every skill in a résumé is a single left-to-right scan whatever the size of the taxonomy.
Matches respect word boundaries (``Java`` is not found in ``JavaScript``) and the longest alias
wins (``Spring Boot`` before ``Spring``, ``SQL Server`` before ``SQL``).

Three kinds of alias (see ``data/skills.json``):

* plain aliases match case-insensitively (``postgres``, ``PostgreSQL``, ``psql``);
* ``exact_case`` aliases match only as written or upper-cased (``Excel`` but not "excel at");
* ``in_lists_only`` aliases are ordinary English words (``Go``, ``R``, ``C``, ``Spring``) and
  match only as written *and* in a list-like context ("Python, Go, AWS", "Go developer"),
  never in prose such as "go to market" or "Spring 2019".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

Mode = Literal["any", "exact", "list"]

_SEPARATOR = "\x00"  # a space or hyphen inside an alias; matches runs of spaces/hyphens
_SEP_RE = re.compile(r"[ \t\-_]+")
_WRITTEN_CACHE_SIZE = 50_000
_LEFT_BOUNDARY = r"(?<![\w@])"
_RIGHT_BOUNDARY = r"(?!\w)"

# In-list context for ambiguous words: what may come right before / after them.
_LIST_PREV_CHARS = frozenset(",;/(|:•·*-–—\t[")
_LIST_NEXT_CHARS = frozenset(",;/)|.:(]")
_LIST_PREV_WORDS = frozenset({"and", "or", "in", "with", "using", "of", "&"})
_SKILL_NOUNS = frozenset(
    {"developer", "developers", "programming", "programmer", "language", "lang", "engineer"}
)
_LIST_NEXT_WORDS = frozenset(
    {
        "and",
        "or",
        "developer",
        "developers",
        "development",
        "programming",
        "programmer",
        "language",
        "lang",
        "engineer",
        "framework",
        "code",
        "services",
        "microservices",
        "backend",
        "experience",
    }
)


@dataclass(frozen=True, slots=True)
class Skill:
    """A canonical skill: its name, category and the skills a mention of it also evidences."""

    name: str
    category: str
    implies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SkillMention:
    """One occurrence of a skill in a text: the canonical name and where it was written."""

    skill: str
    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class _Alias:
    skill: str
    mode: Mode
    written: frozenset[str]  # accepted spellings, for the exact/list modes


def normalize_alias(text: str) -> str:
    """The lookup key of an alias or a matched span: lower case, one space between words."""
    return _SEP_RE.sub(" ", text.strip().lower())


class Taxonomy:
    """Skills and aliases, with a single-pass matcher.

    Raises :class:`ValueError` when two skills claim the same alias or an ``implies`` entry
    names an unknown skill.
    """

    def __init__(self, entries: Iterable[dict[str, Any]]) -> None:
        self._skills: dict[str, Skill] = {}
        self._aliases: dict[str, _Alias] = {}
        for entry in entries:
            name = str(entry["name"])
            if name in self._skills:
                raise ValueError(f"duplicate skill {name!r}")
            self._skills[name] = Skill(
                name=name,
                category=str(entry.get("category", "other")),
                implies=tuple(entry.get("implies", ())),
            )
            exact = [str(a) for a in entry.get("exact_case", ())]
            listed = [str(a) for a in entry.get("in_lists_only", ())]
            plain = [str(a) for a in entry.get("aliases", ())]
            if name not in exact and name not in listed:
                plain.append(name)
            for written in plain:
                self._add_alias(written, name, "any")
            for written in exact:
                self._add_alias(written, name, "exact")
            for written in listed:
                self._add_alias(written, name, "list")
        for skill in self._skills.values():
            for implied in skill.implies:
                if implied not in self._skills:
                    raise ValueError(f"{skill.name!r} implies unknown skill {implied!r}")
        self._pattern = _compile_trie(self._aliases)
        self._closure: dict[str, frozenset[str]] = {}
        # Spellings seen in texts -> alias, to skip normalizing the common ones again.
        self._by_written: dict[str, _Alias] = {}

    def _add_alias(self, written: str, skill: str, mode: Mode) -> None:
        key = normalize_alias(written)
        spelling = _SEP_RE.sub(" ", written.strip())
        existing = self._aliases.get(key)
        if existing is None:
            self._aliases[key] = _Alias(skill, mode, frozenset({spelling, spelling.upper()}))
            return
        if existing.skill != skill:
            raise ValueError(f"alias {written!r} claimed by {existing.skill!r} and {skill!r}")
        if existing.mode == "any" or mode == "any":
            self._aliases[key] = _Alias(skill, "any", frozenset())
        else:
            merged = existing.written | {spelling, spelling.upper()}
            self._aliases[key] = _Alias(skill, existing.mode, merged)

    @classmethod
    def from_file(cls, path: Path) -> Taxonomy:
        """Load a taxonomy from a JSON file shaped like ``data/skills.json``."""
        document = json.loads(path.read_text(encoding="utf-8"))
        return cls(document["skills"])

    def __len__(self) -> int:
        return len(self._skills)

    def __contains__(self, name: object) -> bool:
        return name in self._skills

    @property
    def skills(self) -> dict[str, Skill]:
        """Every canonical skill by name."""
        return dict(self._skills)

    def alias_count(self) -> int:
        """How many distinct aliases (canonical names included) the matcher knows."""
        return len(self._aliases)

    def canonical(self, name: str) -> str | None:
        """The canonical skill a name refers to (``"k8s"`` → ``"Kubernetes"``), else None.

        For names typed by people (criteria), so case and context rules are not applied.
        """
        alias = self._aliases.get(normalize_alias(name))
        return alias.skill if alias else None

    def category(self, name: str) -> str:
        """The category of a canonical skill (``"other"`` when unknown)."""
        skill = self._skills.get(name)
        return skill.category if skill else "other"

    def implied(self, name: str) -> frozenset[str]:
        """The skill and everything it implies, transitively (Spring Boot → Spring, Java)."""
        cached = self._closure.get(name)
        if cached is not None:
            return cached
        seen = {name}
        stack = [name]
        while stack:
            skill = self._skills.get(stack.pop())
            for implied in skill.implies if skill else ():
                if implied not in seen:
                    seen.add(implied)
                    stack.append(implied)
        result = frozenset(seen)
        self._closure[name] = result
        return result

    def find(self, text: str) -> list[SkillMention]:
        """Every skill mention in ``text``, left to right, longest alias first."""
        return list(self.iter_mentions(text))

    def iter_mentions(self, text: str) -> Iterator[SkillMention]:
        """Like :meth:`find`, lazily."""
        by_written = self._by_written
        for match in self._pattern.finditer(text):
            written = match.group()
            alias = by_written.get(written)
            if alias is None:
                alias = self._aliases.get(normalize_alias(written))
                if alias is None:
                    continue
                if len(by_written) < _WRITTEN_CACHE_SIZE:
                    by_written[written] = alias
            if alias.mode != "any":
                if _SEP_RE.sub(" ", written) not in alias.written:
                    continue
                if alias.mode == "list" and not _in_list_context(text, match.start(), match.end()):
                    continue
            yield SkillMention(alias.skill, match.start(), match.end(), written)


def _in_list_context(text: str, start: int, end: int) -> bool:
    """Whether an ambiguous word sits in a list ("Java, Go, AWS") rather than in prose."""
    line_end = text.find("\n", end)
    after = text[end : line_end if line_end >= 0 else len(text)].lstrip()
    next_word = after.split(None, 1)[0].lower().rstrip(",;.:)") if after else ""
    if next_word in _SKILL_NOUNS:  # "Go developer", "R programming"
        return True
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start].rstrip()
    if before and before[-1] not in _LIST_PREV_CHARS:
        previous_word = before.rsplit(None, 1)[-1].lower()
        if previous_word not in _LIST_PREV_WORDS:
            return False
    return not after or after[0] in _LIST_NEXT_CHARS or next_word in _LIST_NEXT_WORDS


def _compile_trie(aliases: dict[str, _Alias]) -> re.Pattern[str]:
    """One regex for all aliases, factored as a trie so a scan costs O(text), not O(aliases)."""
    root: dict[str, Any] = {}
    for key in aliases:
        node = root
        for char in key.replace(" ", _SEPARATOR):
            node = node.setdefault(char, {})
        node[""] = True
    body = _trie_regex(root)
    # Checking the first character before entering the trie skips most positions cheaply.
    first = "".join(sorted({key[0] for key in aliases}))
    lookahead = f"(?=[{re.escape(first)}])"
    return re.compile(_LEFT_BOUNDARY + lookahead + body + _RIGHT_BOUNDARY, re.IGNORECASE)


def _trie_regex(node: dict[str, Any]) -> str:
    branches = []
    for char in sorted(k for k in node if k):
        atom = r"[ \t\-_]+" if char == _SEPARATOR else re.escape(char)
        branches.append(atom + _trie_regex(node[char]))
    terminal = "" in node
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if terminal:
        # Greedy optional: try the longer alias first, fall back to ending here.
        return body + "?" if len(branches) == 1 and len(branches[0]) == 1 else f"(?:{body})?"
    return body


@cache
def default_taxonomy() -> Taxonomy:
    """The taxonomy shipped in ``screening/data/skills.json`` (loaded once)."""
    data = resources.files("screening").joinpath("data/skills.json").read_text("utf-8")
    return Taxonomy(json.loads(data)["skills"])
