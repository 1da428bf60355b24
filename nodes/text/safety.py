"""Content-safety checks for text, as pure functions: offensive language, personal data, a blocklist.

Shared by the `text.safety_filter` node and the app's chat box (which routes each reply through
`guard_reply`), so a pipeline and its chat apply the same rules.

- Offensive language: alt-profanity-check's packaged model (a linear SVM over a bag of words, trained
  on labelled tweets and Wikipedia comments) gives each text a probability; it works offline.
- Personal data: e-mail addresses (a pattern), phone numbers (Google's libphonenumber port,
  `phonenumbers.PhoneNumberMatcher`, which only accepts numbers valid for their region), payment
  card numbers (13–19 digits that pass python-stdnum's Luhn check) and IPv4/IPv6 addresses (candidates that the
  standard library's `ipaddress` accepts).
- Blocklist: the given words or phrases, as whole words, ignoring case.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from stdnum import luhn

CHECKS = ("offensive", "pii", "blocklist")
PII_KINDS = ("email", "phone", "card", "ip")  # in the order a tie between overlapping findings goes
PLACEHOLDERS = {"email": "[EMAIL]", "phone": "[PHONE]", "card": "[CARD]", "ip": "[IP]", "blocklist": "[BLOCKED]"}
# The offensive model scores a whole text and cannot point at the words: such a text is replaced whole.
WITHHELD = "[WITHHELD]"
DEFAULT_THRESHOLD = 0.5  # the model's own decision boundary (what its predict() uses)
DEFAULT_PHONE_REGION = "US"  # how numbers written without a country code (+1, +44, …) are read

EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}(?![\w-])")
# 13 to 19 digits, optionally grouped by single spaces or hyphens (how cards are printed).
CARD_CANDIDATE = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
IPV4_CANDIDATE = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\d|\.\d)")
IPV6_CANDIDATE = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*(?![\w:])")


@dataclass(frozen=True)
class Finding:
    """A span of a text that a check found: `kind` is a personal-data kind or "blocklist"."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class SafetySettings:
    """What to check and how strictly: the node's parameters, and what the chat guard uses."""

    checks: tuple[str, ...] = ("offensive", "pii")
    blocklist: tuple[str, ...] = ()
    threshold: float = DEFAULT_THRESHOLD
    phone_region: str = DEFAULT_PHONE_REGION


@dataclass(frozen=True)
class Screening:
    """What the checks found in one text."""

    flags: tuple[str, ...]  # "offensive", "blocklist" and the personal-data kinds found, in that order
    findings: tuple[Finding, ...] = ()  # the spans to redact (personal data, blocklisted phrases)
    offensive_score: float | None = None  # None when the offensive check is off
    offensive: bool = False

    @property
    def flagged(self) -> bool:
        return bool(self.flags)


# -- personal data ------------------------------------------------------------------------------


def find_emails(text: str) -> list[Finding]:
    return [Finding("email", match.start(), match.end()) for match in EMAIL.finditer(text)]


def find_cards(text: str) -> list[Finding]:
    return [
        Finding("card", match.start(), match.end())
        for match in CARD_CANDIDATE.finditer(text)
        if luhn.is_valid(re.sub(r"\D", "", match.group()))  # python-stdnum's Luhn checksum
    ]


def find_ip_addresses(text: str) -> list[Finding]:
    found = []
    for match in IPV4_CANDIDATE.finditer(text):
        if _is_address(match.group(), ipaddress.IPv4Address):
            found.append(Finding("ip", match.start(), match.end()))
    for match in IPV6_CANDIDATE.finditer(text):
        candidate = match.group().rstrip(".")  # a sentence's full stop is not part of the address
        # "::" alone is a valid address but in prose it is punctuation: ask for a digit as well
        if any(char.isalnum() for char in candidate) and _is_address(candidate, ipaddress.IPv6Address):
            found.append(Finding("ip", match.start(), match.start() + len(candidate)))
    return found


def _is_address(candidate: str, kind: type[ipaddress.IPv4Address] | type[ipaddress.IPv6Address]) -> bool:
    try:
        kind(candidate)
    except ValueError:
        return False
    return True


def find_phone_numbers(text: str, region: str = DEFAULT_PHONE_REGION) -> list[Finding]:
    import phonenumbers

    return [Finding("phone", match.start, match.end) for match in phonenumbers.PhoneNumberMatcher(text, region)]


def find_personal_data(text: str, phone_region: str = DEFAULT_PHONE_REGION) -> list[Finding]:
    """Every e-mail, phone number, card number and IP address in `text`, without overlaps, in order.

    Where two findings overlap the leftmost-longest wins (ties in PII_KINDS order), so an address's
    IPv4 tail (::ffff:192.0.2.1) or an e-mail's digits are not found twice."""
    candidates = find_emails(text) + find_cards(text) + find_ip_addresses(text) + find_phone_numbers(text, phone_region)
    return _without_overlaps(candidates)


def _without_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    order = {kind: rank for rank, kind in enumerate((*PII_KINDS, "blocklist"))}
    kept: list[Finding] = []
    for finding in sorted(findings, key=lambda f: (f.start, f.start - f.end, order[f.kind])):
        if not kept or finding.start >= kept[-1].end:
            kept.append(finding)
    return kept


# -- blocklist -----------------------------------------------------------------------------------


def blocklist_pattern(phrases: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern for all phrases: whole words, any case, any run of whitespace between words; None when
    there is no phrase. Longer phrases are tried first so "bad word" wins over "bad"."""
    words = sorted({" ".join(phrase.split()) for phrase in phrases if phrase.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(word) for word in phrase.split()) for phrase in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def find_blocklisted(text: str, pattern: re.Pattern[str] | None) -> list[Finding]:
    if pattern is None:
        return []
    return [Finding("blocklist", match.start(), match.end()) for match in pattern.finditer(text)]


# -- offensive language --------------------------------------------------------------------------


def offensive_scores(texts: Sequence[str]) -> list[float]:
    """The packaged model's probability (0–1) that each text is offensive."""
    if not texts:
        return []
    # Imported here: it loads scikit-learn and the model (about a megabyte) on first use.
    from profanity_check import predict_prob

    return [round(float(score), 4) for score in predict_prob(list(texts))]


# -- screening and redaction ---------------------------------------------------------------------


def screen(texts: Sequence[str], settings: SafetySettings) -> list[Screening]:
    """Run the chosen checks on every text."""
    scores: list[float | None] = [*offensive_scores(texts)] if "offensive" in settings.checks else [None] * len(texts)
    pattern = blocklist_pattern(settings.blocklist) if "blocklist" in settings.checks else None
    results = []
    for text, score in zip(texts, scores, strict=True):
        offensive = score is not None and score >= settings.threshold
        blocked = find_blocklisted(text, pattern)
        personal = find_personal_data(text, settings.phone_region) if "pii" in settings.checks else []
        findings = _without_overlaps(blocked + personal)
        kinds = {finding.kind for finding in findings}
        flags = (
            (["offensive"] if offensive else [])
            + (["blocklist"] if "blocklist" in kinds else [])
            + [kind for kind in PII_KINDS if kind in kinds]
        )
        results.append(Screening(tuple(flags), tuple(findings), score, offensive))
    return results


def redact(text: str, screening: Screening) -> str:
    """The text with each finding replaced by its typed placeholder; an offensive text is withheld whole."""
    if screening.offensive:
        return WITHHELD
    for finding in sorted(screening.findings, key=lambda f: f.start, reverse=True):
        text = text[: finding.start] + PLACEHOLDERS[finding.kind] + text[finding.end :]
    return text


# -- the chat guard ------------------------------------------------------------------------------

KIND_NAMES = {
    "email": "e-mail address",
    "phone": "phone number",
    "card": "card number",
    "ip": "IP address",
    "blocklist": "blocklisted phrase",
}


@dataclass(frozen=True)
class GuardedReply:
    text: str  # what the chat shows
    action: Literal["unchanged", "redacted", "withheld"]
    notice: str = ""  # one line telling the reader what the filter did; "" when unchanged
    flags: tuple[str, ...] = ()  # what the checks found (see Screening.flags)


def guard_reply(reply: str, settings: SafetySettings | None = None) -> GuardedReply:
    """A chat reply after the safety checks: withheld when offensive, personal data and blocklisted
    phrases replaced by placeholders, else as it was."""
    settings = settings or SafetySettings()
    screening = screen([reply], settings)[0]
    if screening.offensive:
        return GuardedReply(
            "(reply withheld)",
            "withheld",
            f"Safety filter: reply withheld, the offensive-language model scored it {screening.offensive_score:.2f} "
            f"(threshold {settings.threshold:g}).",
            screening.flags,
        )
    if screening.findings:
        found = ", ".join(KIND_NAMES[kind] for kind in (*PII_KINDS, "blocklist") if kind in screening.flags)
        return GuardedReply(
            redact(reply, screening),
            "redacted",
            f"Safety filter: reply redacted ({found} replaced by placeholders).",
            screening.flags,
        )
    return GuardedReply(reply, "unchanged")
