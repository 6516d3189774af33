"""Protected domains: no category may record opinions, religion, ethnicity, health, sexual life,
union membership, social connections or online speech.

A category is refused when its ``domain`` is one of ``schema.PROTECTED_DOMAINS``, or when its code,
name, Chinese name, domain or legal basis mentions one of the keywords below. The check reads the
raw TOML data, so a protected category is reported even when the rest of the file is invalid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from socialcredit.policy.checks import Problem
from socialcredit.policy.schema import PROTECTED_DOMAINS

# Keywords by protected domain. English is matched as whole words (so "health" does not match
# "healthy" nor "wealth"); Chinese, which has no spaces, as substrings.
PROTECTED_KEYWORDS: Mapping[str, tuple[str, ...]] = {
    "political_opinion": ("political", "politics", "opinion", "政治"),
    "religion": ("religion", "religions", "religious", "faith", "宗教", "信仰"),
    "ethnicity": ("ethnic", "ethnicity", "race", "民族", "种族"),
    "health": ("health", "medical", "disease", "diseases", "健康", "疾病", "医疗记录"),
    "sexual_life": ("sexual", "sex life", "性生活"),
    "union_membership": ("union membership", "trade union", "trade unions", "工会"),
    "social_connections": (
        "social connection",
        "social connections",
        "social ties",
        "relatives",
        "friends",
        "社会关系",
        "亲友",
    ),
    "online_speech": (
        "online speech",
        "speech",
        "internet comments",
        "posts",
        "网络言论",
        "言论",
    ),
}
# Legal phrases that contain a keyword without touching its domain: "good faith" is the civil-law
# principle of honesty (诚信), the very subject of a credit system.
_BENIGN_PHRASES = re.compile(r"\b(good|bad) faith\b")
_SCANNED_FIELDS = ("code", "name", "name_zh", "domain", "legal_basis")


def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    if keyword.isascii():
        return re.compile(r"\b" + r"\s+".join(map(re.escape, keyword.split())) + r"\b")
    return re.compile(re.escape(keyword))


_PATTERNS: tuple[tuple[str, str, re.Pattern[str]], ...] = tuple(
    (domain, keyword, _keyword_pattern(keyword))
    for domain, keywords in PROTECTED_KEYWORDS.items()
    for keyword in keywords
)


def protected_domain_of(text: str) -> tuple[str, str] | None:
    """The (domain, keyword) a text touches, if any. Codes and domains count as words:
    ``religious_affairs`` and ``faith.group`` are read as "religious affairs", "faith group"."""
    plain = _BENIGN_PHRASES.sub(" ", re.sub(r"[_.\-/]", " ", text.lower()))
    for domain, keyword, pattern in _PATTERNS:
        if pattern.search(plain):
            return domain, keyword
    return None


def protected_problems(data: Mapping[str, Any]) -> list[Problem]:
    """Categories in a protected domain, read from the raw TOML data so they are reported even
    when the rest of the file does not validate."""
    items = data.get("categories")
    if not isinstance(items, list):
        return []
    problems = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            continue
        code = item.get("code")
        named = f"category {code!r}" if isinstance(code, str) else "this category"
        domain = item.get("domain")
        if isinstance(domain, str) and domain in PROTECTED_DOMAINS:
            problems.append(
                Problem(
                    ("categories", index, "domain"),
                    f"{named} is in a protected domain ({domain}): no category may record it",
                )
            )
            continue
        for field in _SCANNED_FIELDS:
            value = item.get(field)
            hit = protected_domain_of(value) if isinstance(value, str) else None
            if hit:
                problems.append(
                    Problem(
                        ("categories", index, field),
                        f"{named} is in a protected domain ({hit[0]}): no category may record it "
                        f"(its {field} mentions {hit[1]!r})",
                    )
                )
                break
    return problems
