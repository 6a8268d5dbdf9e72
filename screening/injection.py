"""Detect prompt-injection attempts in résumé text.

A résumé is data. Text that addresses the model instead of the reader ("ignore previous
instructions", "you are now…", fake ``SYSTEM:`` turns, "score this candidate 100") never
changes the local score, but it is worth a flag: the result then goes to a human, and the
router can keep such a résumé away from paid models.

The patterns are deliberately narrow (few false positives on real CVs: "AI engineer",
"system design" and "prompt engineering" are fine); obfuscation with zero-width or
full-width characters is undone by :func:`normalize_text` before matching.
"""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")

_TARGETS = (
    r"(?:instructions?|prompts?|directions?|rules|guidelines|messages?|context|criteria"
    r"|requirements|commands?)"
)
# (first characters a match can start with, pattern): the first-character check lets the
# scan skip a pattern at once instead of trying it at every word.
_PATTERNS: list[tuple[str, str]] = [
    # "ignore all previous instructions", "disregard the above", "forget your rules"
    (
        "idfob",
        rf"\b(?:ignore|disregard|forget|override|bypass)\s+(?:(?:all|any|the|your|these|those|my|of)"
        rf"\s+)*(?:(?:previous|prior|above|earlier|preceding|former|other|existing|system|original"
        rf"|screening|job)\s+)*{_TARGETS}\b",
    ),
    ("id", r"\b(?:ignore|disregard)\s+(?:everything|all)\s+(?:above|before|previously)\b"),
    # role hijacking
    ("y", r"\byou\s+are\s+(?:now|no\s+longer)\b"),
    ("f", r"\bfrom\s+now\s+on\s*,?\s+(?:you|the\s+(?:ai|model|assistant))\b"),
    ("a", r"\bact\s+as\s+(?:an?\s+)?(?:ai|llm|assistant|system|different\s+model)\b"),
    ("p", r"\bpretend\s+(?:to\s+be|you\s+are)\b"),
    ("nurah", r"\b(?:new|updated|real|actual|hidden)\s+(?:system\s+)?instructions?\s*:"),
    (
        "rpsionu",
        r"\b(?:reveal|print|show|repeat|ignore|override|new|updated)\s+(?:the\s+|your\s+)?system\s+"
        r"(?:prompt|message)\b",
    ),
    ("s", r"\bsystem\s+(?:prompt|message)\s*:"),
    # chat-template and role markers pretending to be a conversation turn
    ("sa", r"(?<![^\s#>])(?-i:SYSTEM|ASSISTANT)\s*(?:MESSAGE)?\s*:"),
    (
        "sa",
        r"(?<![^\s#>])(?:system|assistant)\s*:.*\b(?:you|ignore|instructions?|score|rate"
        r"|candidate|applicant)\b",
    ),
    ("[", r"\[\s*/?\s*(?:system|inst|sys)\s*\]"),
    ("<", r"<\s*/?\s*\|?\s*(?:system|im_start|im_end|endoftext|assistant)\s*\|?\s*>"),
    ("<", r"<<\s*/?\s*sys\s*>>"),
    ("#", r"#{2,}\s*(?:system|instructions?)\b"),
    # score manipulation
    (
        "srgme",
        r"\b(?:score|rate|rank|grade|mark|evaluate)\s+(?:(?:this|the|my|me|him|her|our)\s+)?"
        r"(?:(?:candidate|applicant|resume|résumé|cv|profile|application)\s+)?(?:(?:as|at|with|a)\s+)*"
        r"(?:score\s+of\s+)?(?:100|one\s+hundred)\b",
    ),
    (
        "ga",
        r"\b(?:give|assign|award)\s+(?:(?:this|the)\s+)?(?:candidate|applicant|me|him|her|them)\s+"
        r"(?:an?\s+)?(?:score\s+of\s+)?(?:100|perfect|maximum|max|top|highest|full)\b",
    ),
    ("pmh", r"\b(?:perfect|maximum|highest)\s+(?:possible\s+)?score\b"),
    ("1", r"\b100\s*(?:/|out\s+of)\s*100\b"),
    ("\"'s", r"[\"']?\bscore[\"']?\s*[:=]\s*100\b"),
    ("\"'r", r"[\"']?\brecommendation[\"']?\s*[:=]\s*[\"']?advance\b"),
    (
        "ypa",
        r"\b(?:you\s+must|you\s+should|please|always)\s+(?:recommend|advance|shortlist|hire|select"
        r"|approve|pass)\s+(?:this|the)\s+(?:candidate|applicant|resume|résumé|cv)\b",
    ),
    # addressing the model
    (
        "a",
        r"\bas\s+an?\s+(?:ai|llm|(?:large\s+)?language\s+model)(?:\s+(?:language\s+model|model"
        r"|assistant|screener|recruiter))?\s*[,:]",
    ),
    ("a", r"\bas\s+an?\s+(?:ai\s+)?(?:large\s+)?language\s+model\b"),
    ("a", r"\bas\s+an?\s+ai\s+(?:assistant|screener|recruiter|model)\b"),
    (
        "nmi",
        r"\b(?:note|message|instructions?)\s+(?:to|for)\s+(?:the\s+|any\s+)?(?:ai|llm|model|screener"
        r"|gpt|chatgpt|claude|assistant|bot|automated\s+(?:screener|system))\b",
    ),
    (
        "hda",
        r"\b(?:hey|hi|hello|dear|attention)\s*,?\s+(?:chatgpt|gpt(?:-?\d\w*)?|claude|gemini|llama"
        r"|ai|llm|assistant|screener|bot)\b",
    ),
    ("jd", r"\b(?:jailbreak|developer\s+mode|dan\s+mode)\b"),
    ("d", r"\bdo\s+not\s+(?:mention|reveal|flag|report|disclose)\s+(?:this|these|that)\b"),
]
_INJECTION_RE = re.compile(
    r"(?:(?<![a-z0-9])(?=[a-z1\"'])|(?=[\[<#]))(?:"
    + "|".join(f"(?=[{re.escape(first)}])(?:{pattern})" for first, pattern in _PATTERNS)
    + ")",
    re.IGNORECASE,
)


def normalize_text(text: str) -> str:
    """NFKC-normalize and drop zero-width characters (idempotent).

    Offsets returned by :func:`injection_spans` refer to this normalized text.
    """
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _ZERO_WIDTH_RE.sub("", text)


def injection_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each injection-like phrase in ``normalize_text(text)``."""
    return [m.span() for m in _INJECTION_RE.finditer(normalize_text(text))]


def find_injection(text: str) -> list[str]:
    """The injection-like phrases found in ``text`` (distinct, in order; empty when clean)."""
    normalized = normalize_text(text)
    found: list[str] = []
    seen: set[str] = set()
    for match in _INJECTION_RE.finditer(normalized):
        phrase = " ".join(match.group().split())[:120]
        if phrase.lower() not in seen:
            seen.add(phrase.lower())
            found.append(phrase)
    return found
