"""BCP 47 language tags (RFC 5646): validation, canonical case, and picking a translation.

Only well-formedness is checked (the RFC's ABNF plus its two cheap validity rules: no
repeated variant, no repeated extension singleton); subtags are not looked up in the IANA
registry, so ``qq-QQ`` is accepted. Grandfathered tags (``i-klingon``, ``zh-min-nan``...)
are not supported.

``_`` is accepted as a separator and rewritten to ``-`` because POSIX locales (``de_AT``),
Java, Android and many i18n libraries spell tags that way, and a product team passing
``pt_BR`` through means exactly ``pt-BR``.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

MAX_LOCALE_LENGTH: Final = 35

# Explicit ASCII classes: str.isalpha() and \w would let "ü" or Arabic digits through.
_SUBTAG_SYNTAX: Final = re.compile(r"[A-Za-z0-9]{1,8}")
_ALPHA: Final = re.compile(r"[A-Za-z]+")
_DIGITS: Final = re.compile(r"[0-9]+")
_PRIVATE_USE_SINGLETON: Final = "x"


@dataclass(frozen=True, slots=True)
class _LanguageTag:
    language: str | None  # None for a private-use-only tag such as "x-pirate"
    script: str | None
    region: str | None
    subtags: tuple[str, ...]  # every subtag, in canonical case

    @property
    def normalized(self) -> str:
        return "-".join(self.subtags)


def _is_alpha(subtag: str, min_length: int, max_length: int) -> bool:
    return min_length <= len(subtag) <= max_length and _ALPHA.fullmatch(subtag) is not None


def _is_variant(subtag: str) -> bool:
    # 5-8 alphanumerics, or a digit followed by 3 alphanumerics ("1996").
    return 5 <= len(subtag) <= 8 or (len(subtag) == 4 and subtag[0].isdigit())


def _parse(tag: str) -> _LanguageTag:
    def invalid(reason: str) -> ValueError:
        # The input may be huge; quote no more of it than a valid tag could hold.
        shown = tag if len(tag) <= MAX_LOCALE_LENGTH else tag[:MAX_LOCALE_LENGTH] + "..."
        return ValueError(f"{shown!r} is not a valid BCP 47 language tag: {reason}")

    if not tag:
        raise ValueError("a language tag must not be empty")
    if len(tag) > MAX_LOCALE_LENGTH:
        raise invalid(f"it is longer than {MAX_LOCALE_LENGTH} characters")
    raw_subtags = tag.replace("_", "-").split("-")
    for raw in raw_subtags:
        if not _SUBTAG_SYNTAX.fullmatch(raw):
            raise invalid(
                f"subtag {raw!r} is not 1 to 8 ASCII letters or digits"
                if raw
                else "it has an empty subtag (leading, trailing or doubled separator)"
            )
    # Working in lower case lets the grammar below ignore case; canonical case is
    # re-applied to the few subtag kinds that have one (RFC 5646, section 2.1.1).
    lowered = [raw.lower() for raw in raw_subtags]
    position = 0
    out: list[str] = []

    def current() -> str | None:
        return lowered[position] if position < len(lowered) else None

    language: str | None = None
    script: str | None = None
    region: str | None = None

    if lowered[0] != _PRIVATE_USE_SINGLETON:
        language = lowered[0]
        if not _is_alpha(language, 2, 8):
            raise invalid(f"the language subtag {raw_subtags[0]!r} must be 2 to 8 letters")
        out.append(language)
        position = 1
        # Extended language subtags only follow a 2-3 letter language ("zh-yue").
        if len(language) <= 3:
            extlang_count = 0
            while (subtag := current()) is not None and _is_alpha(subtag, 3, 3):
                extlang_count += 1
                if extlang_count > 3:
                    raise invalid("at most three extended language subtags are allowed")
                out.append(subtag)
                position += 1
        if (subtag := current()) is not None and _is_alpha(subtag, 4, 4):
            script = subtag.title()
            out.append(script)
            position += 1
        if (subtag := current()) is not None and (
            _is_alpha(subtag, 2, 2) or (len(subtag) == 3 and _DIGITS.fullmatch(subtag))
        ):
            region = subtag.upper()
            out.append(region)
            position += 1
        seen_variants: set[str] = set()
        while (subtag := current()) is not None and _is_variant(subtag):
            if subtag in seen_variants:
                raise invalid(f"variant {subtag!r} is repeated")
            seen_variants.add(subtag)
            out.append(subtag)
            position += 1
        seen_singletons: set[str] = set()
        while (subtag := current()) is not None and (
            len(subtag) == 1 and subtag != _PRIVATE_USE_SINGLETON
        ):
            if subtag in seen_singletons:
                raise invalid(f"extension {subtag!r} is repeated")
            seen_singletons.add(subtag)
            out.append(subtag)
            position += 1
            extension_length = 0
            while (subtag := current()) is not None and 2 <= len(subtag) <= 8:
                out.append(subtag)
                position += 1
                extension_length += 1
            if extension_length == 0:
                raise invalid(f"extension {out[-1]!r} needs at least one 2-8 character subtag")

    if current() == _PRIVATE_USE_SINGLETON:
        out.append(_PRIVATE_USE_SINGLETON)
        position += 1
        if current() is None:
            raise invalid("private use 'x' needs at least one subtag after it")
        # Anything 1-8 alphanumerics goes after "x", which the syntax check already ensured.
        out.extend(lowered[position:])
        position = len(lowered)

    if position < len(lowered):
        raise invalid(f"subtag {raw_subtags[position]!r} is not expected at this position")
    return _LanguageTag(language=language, script=script, region=region, subtags=tuple(out))


def normalize_locale(tag: str) -> str:
    """Validate a BCP 47 tag and return it in canonical case (``zh-hant-tw`` -> ``zh-Hant-TW``).

    Raises ``ValueError`` with a message fit for an API error if the tag is malformed.
    """
    return _parse(tag).normalized


def _lookup_fallbacks(tag: _LanguageTag) -> list[str]:
    # RFC 4647 "Lookup": drop subtags from the end, also dropping a singleton left dangling
    # at the end, so "de-AT-x-old" tries "de-AT-x-old", "de-AT", "de".
    fallbacks: list[str] = []
    for length in range(len(tag.subtags), 0, -1):
        prefix = tag.subtags[:length]
        if len(prefix[-1]) > 1:
            fallbacks.append("-".join(prefix))
    return fallbacks


def pick_locale(requested: str | None, available: Iterable[str]) -> str | None:
    """The entry of ``available`` to show to a reader of ``requested``, or None.

    The tag itself, then its shorter forms (``de-AT`` -> ``de``), then the closest tag of
    the same language (``de-AT`` -> ``de-DE``; a matching script outweighs a matching
    region, so ``zh-Hant-HK`` prefers ``zh-Hant-TW`` over ``zh-Hans-HK``); ties go to the
    earliest in ``available``. Comparison ignores case and treats ``_`` as ``-``. A
    malformed request or entry never matches rather than raising: this runs when serving,
    and None already means "use the default content".
    """
    if requested is None:
        return None
    try:
        wanted = _parse(requested)
    except ValueError:
        return None
    candidates: list[tuple[str, _LanguageTag]] = []
    for original in available:
        try:
            candidates.append((original, _parse(original)))
        except ValueError:
            continue
    by_normalized: dict[str, str] = {}
    for original, parsed in candidates:
        by_normalized.setdefault(parsed.normalized, original)
    for fallback in _lookup_fallbacks(wanted):
        if fallback in by_normalized:
            return by_normalized[fallback]
    if wanted.language is None:
        return None
    same_language = [
        (orig, parsed) for orig, parsed in candidates if parsed.language == wanted.language
    ]
    if not same_language:
        return None

    def closeness(candidate: tuple[str, _LanguageTag]) -> tuple[bool, bool]:
        parsed = candidate[1]
        return (
            wanted.script is not None and parsed.script == wanted.script,
            wanted.region is not None and parsed.region == wanted.region,
        )

    # max() keeps the first of equally close candidates, which makes ties deterministic.
    return max(same_language, key=closeness)[0]
