"""The customer's language (docs/languages.md): which one a complaint is written in, its
message catalog, and dates, amounts and durations as that locale writes them.

A complaint's language is a language tag (`de`, `de-AT`, `fr`) set at intake: the intake's
`language`, else the customer's profile, else the `Content-Language` of their email; none
means English. The customer's pages take their browser's `Accept-Language` when the
complaint has no language of its own. Only the languages in SHIPPED have catalogs; every
other tag reads English (a tag is kept as given, so shipping its catalog later is enough).

Catalogs are gettext `.po` files under `mail/locale/<lang>/LC_MESSAGES/messages.po`,
compiled in memory on first use (no `.mo` to build or commit). Fuzzy and empty entries are
left out of the compiled catalog, so they read English rather than a wrong guess.
"""

from __future__ import annotations

import gettext
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from babel import Locale

# Babel is imported where it is used: the mail parser's child process (one per inbound
# message) reads Content-Language with this module and never needs it.

ENGLISH = "en"
# The languages with a complete catalog (tests/test_languages.py holds them to it).
SHIPPED = ("en", "de")
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"
_TAG = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,4}")


def N_(message: str) -> str:  # noqa: N802 # gettext's name for "mark for extraction only"
    """Marks a message for the catalog where it is defined; translated where it is used."""
    return message


# What the workflow writes into a customer email itself when it knows no better (a customer
# without a name, a complaint without its agent yet): the renderer translates these values.
WORKFLOW_WORDS = frozenset({N_("customer"), N_("our Customer Care team")})


# The policy's own sentences a customer email quotes (workflows/policies/*.toml): the final
# response's closing text and a regulator's referral rights. A policy's text found in the
# catalog reads in the customer's language; one that is not (a policy written for one
# deployment) reads as written.
POLICY_TEXTS = ("closing_text", "referral_text")


def extract_policy_texts(fileobj: Any, keywords: Any, comment_tags: Any, options: Any
                         ) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel's extractor for a policy file (babel.cfg names it): its POLICY_TEXTS."""
    for lineno, raw in enumerate(fileobj.read().decode("utf-8").splitlines(), 1):
        key = raw.partition("=")[0].strip()
        if key in POLICY_TEXTS:
            yield lineno, None, tomllib.loads(raw)[key], [f"policy: {key}"]


def language_tag(value: str | None) -> str | None:
    """A language tag as a complaint keeps it (`DE-de` -> `de-DE`), or None for none or one
    that is not a tag (`*`, `i-klingon`, a sentence)."""
    value = (value or "").strip().replace("_", "-")
    if not _TAG.fullmatch(value):
        return None
    primary, *rest = value.split("-")
    return "-".join([primary.lower(), *(p.upper() if len(p) == 2 else p for p in rest)])


def shipped(tag: str | None) -> str:
    """The shipped language a tag reads in: its own, its primary language's (`de-AT` ->
    `de`), else English."""
    tag = language_tag(tag)
    if tag is None:
        return ENGLISH
    primary = tag.split("-")[0]
    return primary if primary in SHIPPED else ENGLISH


def first_listed(header: str | None) -> str | None:
    """The first language of a `Content-Language` header (`de-DE, en` -> `de-DE`)."""
    for part in (header or "").split(","):
        tag = language_tag(part)
        if tag is not None:
            return tag
    return None


def from_accept_language(header: str | None) -> str | None:
    """The shipped language a browser's `Accept-Language` prefers most, or None when it
    names none of them (`fr, en;q=0.8` -> `en`; `fr` -> None)."""
    ranked: list[tuple[float, int, str]] = []
    for n, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        normal = language_tag(tag)
        if normal is not None and q > 0:
            ranked.append((-q, n, normal))
    for _, _, tag in sorted(ranked):
        if tag.split("-")[0] in SHIPPED:
            return tag.split("-")[0]
    return None


def described(tag: str | None) -> str:
    """A complaint's language for staff, in English: "German (de-AT)"; and, when no catalog
    ships for it, what the customer reads instead: "French (fr; written to in English)"."""
    from babel import Locale, UnknownLocaleError

    normal = language_tag(tag)
    if normal is None:
        return "English (none given)"
    try:
        name = Locale.parse(normal.replace("-", "_")).get_display_name(ENGLISH) or normal
    except (UnknownLocaleError, ValueError):
        name = normal
    if shipped(normal) == normal.split("-")[0]:
        return f"{name} ({normal})"
    return f"{name} ({normal}; written to in English)"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The compiled catalog of a shipped language (English: the messages as written)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    lang = shipped(language)
    path = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == ENGLISH or not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalog = read_po(po, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog, use_fuzzy=False)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def _locale(language: str) -> Locale:
    from babel import Locale, UnknownLocaleError

    try:
        return Locale.parse(shipped(language).replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse(ENGLISH)


def when(instant: datetime | str | None, time_zone: str | None, language: str) -> str:
    """An instant on the wall clock of `time_zone` as the language writes it, to the minute
    (German: "7. Dezember 2026, 17:00 MEZ": the date, the time, the zone's abbreviation)."""
    from babel.dates import format_date, format_time

    if instant is None:
        return ""
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    zone = ZoneInfo(time_zone) if time_zone else UTC
    local = instant.astimezone(zone)
    loc = _locale(language)
    clock = format_time(local, f"{loc.time_formats['short'].pattern} zzz", locale=loc)
    return f"{format_date(local, 'long', locale=loc)}, {clock}"


def money(amount: Decimal | str | float | None, currency: str | None, language: str) -> str:
    """An amount as the language writes it ("1.234,50 €"); English keeps "1234.50 EUR", as
    every English email always has."""
    from babel.numbers import format_currency

    if amount is None:
        return ""
    if shipped(language) == ENGLISH or not currency:
        return f"{amount} {currency or ''}".strip()
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return f"{amount} {currency}"
    return format_currency(value, currency, locale=_locale(language))


def duration(seconds: float | int | str | None, language: str) -> str:
    """A policy's duration in words ("1 Stunde", "24 Stunden", "5 Tage 4 Stunden"): in days
    from three days on, hours below."""
    from babel.units import format_unit

    if seconds is None:
        return ""
    total = int(float(seconds))
    loc = _locale(language)
    parts = []
    units = (("day", 86400),) if total >= 3 * 86400 else ()
    for unit, size in (*units, ("hour", 3600), ("minute", 60), ("second", 1)):
        n, total = divmod(total, size)
        if n:
            parts.append(format_unit(n, f"duration-{unit}", length="long", locale=loc))
    return " ".join(parts) or format_unit(0, "duration-second", length="long", locale=loc)
