"""Words and phrases as the taxonomy index sees them: tokens, stems, and n-gram lookup.

One normalisation serves both the index build and the screener, so a phrase written in ESCO
("bookkeeping", "manage budgets") and the same words in a résumé ("Bookkeeping", "managed the
budget") meet on the same key: lower case, word characters only, each word reduced to its
Snowball English stem, joined by single spaces.

Finding phrases is a token n-gram lookup into a dict (no regex per phrase): for every word
that starts some phrase, the longest run of following words that is a key wins.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable
from dataclasses import dataclass
from functools import cache

import Stemmer

# Words, keeping "c++", "c#" and "f#" whole; an apostrophe's "s" is dropped.
_WORD_RE = re.compile(r"[^\W_]+(?:\+\+|#)?", re.UNICODE)
_POSSESSIVE = frozenset({"s"})

#: Function words: never a phrase on their own, never the first or last word of one.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "all",
        "also",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "being",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "during",
        "each",
        "etc",
        "for",
        "from",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)


_AGENT_ENDINGS = ("er", "ers", "or", "ors", "ant", "ants")


@cache
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english", 100_000)


def words(text: str) -> list[tuple[str, int, int]]:
    """``(lower-case word, start, end)`` for every word of ``text``."""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters grow when lower-cased: keep offsets
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in text)
    found = [(m.group(), m.start(), m.end()) for m in _WORD_RE.finditer(lowered)]
    if any(w == "s" for w, _, _ in found):
        found = [
            item
            for item in found
            if not (item[0] == "s" and item[1] > 0 and text[item[1] - 1] in "'’")
        ]
    return found


def stems(tokens: Iterable[str]) -> list[str]:
    """The Snowball English stem of each lower-case word.

    Agent nouns ("-er", "-or", "-ant") keep their own stem, only their plural dropped:
    Snowball would make a "manager" "management", an "installer" an "installation" and an
    "accountant" an "account", and a screener must tell a job title from an activity.
    """
    words_ = list(tokens)
    result: list[str] = _stemmer().stemWords(words_)
    for i, word in enumerate(words_):
        if len(word) >= 5 and word.endswith(_AGENT_ENDINGS):
            result[i] = word.removesuffix("s")
    return result


def light(word: str) -> str:
    """A lower-case word without its plural ending ("companies" → "company")."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def phrase_key(text: str) -> str:
    """The lookup key of a phrase: its words' stems joined by single spaces; a single word
    only loses its plural ending (alone, a stem conflates too much: Snowball makes
    "experience" and "experiment" one word)."""
    found = [w for w, _, _ in words(text)]
    if len(found) == 1:
        return light(found[0])
    return " ".join(stems(found))


# Word -> (stem, plural-less form): most words of a résumé were seen before.
_FORMS: dict[str, tuple[str, str]] = {}
_MAX_FORMS = 200_000


@dataclass(frozen=True, slots=True)
class Tokens:
    """A text cut into words: stems and where each word was written."""

    stems: list[str]
    lights: list[str]  # the words without plural endings (one-word phrase keys)
    starts: list[int]
    ends: list[int]

    @classmethod
    def of(cls, text: str) -> Tokens:
        """Tokenise ``text``."""
        found = words(text)
        lowered = [w for w, _, _ in found]
        forms = _FORMS
        missing = [w for w in dict.fromkeys(lowered) if w not in forms]
        if missing:
            if len(forms) + len(missing) > _MAX_FORMS:
                forms.clear()
            for word, stem in zip(missing, stems(missing), strict=True):
                forms[word] = (stem, light(word))
        pairs = [forms[w] for w in lowered]
        return cls(
            [p[0] for p in pairs],
            [p[1] for p in pairs],
            [s for _, s, _ in found],
            [e for *_, e in found],
        )

    def __len__(self) -> int:
        return len(self.stems)


@dataclass(frozen=True, slots=True)
class PhraseHit:
    """A phrase found in a text: its key, the words it spans and the characters."""

    key: str
    first: int  # index of the first word
    last: int  # index past the last word
    start: int
    end: int


class PhraseTable:
    """Longest-match lookup of phrase keys (see :func:`phrase_key`) over a tokenised text.

    Args:
        keys: the phrase keys.
    """

    def __init__(self, keys: Iterable[str]) -> None:
        longest: dict[str, int] = {}
        pairs: set[str] = set()
        for key in keys:
            parts = key.split(" ", 2)
            if len(parts) == 1:
                continue
            pairs.add(f"{parts[0]} {parts[1]}")
            size = key.count(" ") + 1
            if size > longest.get(parts[0], 0):
                longest[parts[0]] = size
        # Longer phrases by their first stem, and the first two stems of each: most words
        # start none, so most positions cost one lookup.
        self._longest = longest
        self._pairs = pairs

    def find(self, tokens: Tokens, table: Container[str]) -> list[PhraseHit]:
        """Non-overlapping hits of ``table``'s keys in ``tokens``, left to right, longest first."""
        stems_, lights, longest, pairs = tokens.stems, tokens.lights, self._longest, self._pairs
        count = len(stems_)
        hits: list[PhraseHit] = []
        i = 0
        while i < count:
            most = longest.get(stems_[i], 0)
            if most and i + 1 < count and f"{stems_[i]} {stems_[i + 1]}" in pairs:
                for length in range(min(most, count - i), 1, -1):
                    key = " ".join(stems_[i : i + length])
                    if key in table:
                        last = i + length
                        hits.append(
                            PhraseHit(key, i, last, tokens.starts[i], tokens.ends[last - 1])
                        )
                        i = last
                        break
                else:
                    most = 0
                if most:
                    continue
            if lights[i] in table:
                hits.append(PhraseHit(lights[i], i, i + 1, tokens.starts[i], tokens.ends[i]))
            i += 1
        return hits
