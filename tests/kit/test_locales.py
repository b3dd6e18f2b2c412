import re
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.kit.locales import MAX_LOCALE_LENGTH, normalize_locale, pick_locale

LONGEST_TAG = "en-abcdefgh-bcdefghi-cdefghij-defgh"


class TestNormalizeLocale:
    def test_longest_tag_is_at_the_limit(self) -> None:
        assert len(LONGEST_TAG) == MAX_LOCALE_LENGTH

    @pytest.mark.parametrize(
        ("tag", "expected"),
        [
            # language only: 2-3 letters, and the rarely used 4 and 5-8 letter forms
            ("en", "en"),
            ("EN", "en"),
            ("fil", "fil"),
            ("abcd", "abcd"),
            ("abcdefgh", "abcdefgh"),
            # region: 2 letters or 3 digits
            ("en-us", "en-US"),
            ("EN-US", "en-US"),
            ("es-419", "es-419"),
            # script
            ("zh-hant-tw", "zh-Hant-TW"),
            ("ZH-HANS", "zh-Hans"),
            ("sr-LATN-rs", "sr-Latn-RS"),
            # extended language subtags
            ("zh-yue-hk", "zh-yue-HK"),
            ("zh-YUE-abc-def", "zh-yue-abc-def"),
            # variants
            ("de-ch-1901", "de-CH-1901"),
            ("sl-ROZAJ-biske", "sl-rozaj-biske"),
            ("hy-latn-it-AREVELA", "hy-Latn-IT-arevela"),
            ("en-1abc", "en-1abc"),
            # extensions keep every subtag lower case, even region- or script-shaped ones
            ("en-US-u-CA-gregory", "en-US-u-ca-gregory"),
            ("en-a-BC-b-DEFG", "en-a-bc-b-defg"),
            # private use
            ("en-x-TWAIN", "en-x-twain"),
            ("de-CH-x-phonebk", "de-CH-x-phonebk"),
            ("x-Pirate", "x-pirate"),
            ("X-a-b", "x-a-b"),
            # "_" is read as "-"
            ("en_us", "en-US"),
            ("zh_Hant_TW", "zh-Hant-TW"),
            ("pt_BR-x_a", "pt-BR-x-a"),
            # exactly at the length limit
            (LONGEST_TAG.upper(), LONGEST_TAG),
        ],
    )
    def test_accepts_and_normalizes_case(self, tag: str, expected: str) -> None:
        assert normalize_locale(tag) == expected

    @pytest.mark.parametrize("tag", ["en-US", "zh-Hant-TW", "es-419", "en-US-u-ca-gregory"])
    def test_is_idempotent(self, tag: str) -> None:
        assert normalize_locale(normalize_locale(tag.lower())) == normalize_locale(tag)

    @pytest.mark.parametrize(
        ("tag", "reason"),
        [
            ("", "must not be empty"),
            ("e", "language subtag 'e' must be 2 to 8 letters"),
            ("123", "language subtag '123' must be 2 to 8 letters"),
            ("e1", "language subtag 'e1' must be 2 to 8 letters"),
            ("abcdefghi", "subtag 'abcdefghi' is not 1 to 8 ASCII letters or digits"),
            ("en-", "empty subtag"),
            ("-en", "empty subtag"),
            ("en--US", "empty subtag"),
            ("en-US-", "empty subtag"),
            ("en US", "not 1 to 8 ASCII letters or digits"),
            (" en", "not 1 to 8 ASCII letters or digits"),
            ("en-US\n", "not 1 to 8 ASCII letters or digits"),
            ("en.US", "not 1 to 8 ASCII letters or digits"),
            ("en@US", "not 1 to 8 ASCII letters or digits"),
            ("ü", "not 1 to 8 ASCII letters or digits"),
            ("de-٣٣٣", "not 1 to 8 ASCII letters or digits"),
            ("en-US-Latn", "subtag 'Latn' is not expected"),
            ("en-US-GB", "subtag 'GB' is not expected"),
            ("en-12", "subtag '12' is not expected"),
            ("en-1234567890", "not 1 to 8 ASCII letters or digits"),
            ("en-abcd-efgh", "subtag 'efgh' is not expected"),
            ("english-abc", "subtag 'abc' is not expected"),
            ("zh-abc-def-ghi-jkl", "at most three extended language subtags"),
            ("en-a", "extension 'a' needs at least one 2-8 character subtag"),
            ("en-a-b-cc", "extension 'a' needs at least one 2-8 character subtag"),
            ("en-a-bc-a-de", "extension 'a' is repeated"),
            ("de-1901-1901", "variant '1901' is repeated"),
            ("en-x", "private use 'x' needs at least one subtag"),
            ("x", "private use 'x' needs at least one subtag"),
            ("en-x-abcdefghi", "not 1 to 8 ASCII letters or digits"),
            ("i-klingon", "language subtag 'i' must be 2 to 8 letters"),
            (LONGEST_TAG + "i", f"longer than {MAX_LOCALE_LENGTH}"),
        ],
    )
    def test_rejects_malformed_tags_with_a_reason(self, tag: str, reason: str) -> None:
        with pytest.raises(ValueError, match=re.escape(reason)):
            normalize_locale(tag)

    def test_error_quotes_only_the_start_of_a_huge_input(self) -> None:
        with pytest.raises(ValueError) as raised:
            normalize_locale("a" * 100_000)
        assert len(str(raised.value)) < 200


class TestPickLocale:
    @pytest.mark.parametrize(
        ("requested", "available", "expected"),
        [
            # nothing asked, nothing offered
            (None, ["en", "de"], None),
            ("de", [], None),
            # exact match, case- and separator-insensitive, answering in the stored spelling
            ("de-AT", ["de", "de-AT"], "de-AT"),
            ("de-at", ["de-AT"], "de-AT"),
            ("DE_AT", ["de-AT"], "de-AT"),
            ("de-AT", ["de_at"], "de_at"),
            # the language alone before a sibling region
            ("de-AT", ["de-DE", "de"], "de"),
            ("de-AT", ["en", "de-DE"], "de-DE"),
            ("de", ["de-DE", "de-CH"], "de-DE"),
            # shorter forms of the request, longest first (RFC 4647 lookup)
            ("zh-Hant-TW", ["zh", "zh-Hant"], "zh-Hant"),
            ("de-CH-1901", ["de", "de-CH"], "de-CH"),
            ("de-AT-x-old", ["de-AT"], "de-AT"),
            ("en-US-u-ca-gregory", ["en-US"], "en-US"),
            # among same-language tags: script outweighs region, ties keep the given order
            ("zh-Hant-HK", ["zh-Hans-HK", "zh-Hant-TW"], "zh-Hant-TW"),
            ("zh-TW", ["zh-Hans-CN", "zh-Hant-TW"], "zh-Hant-TW"),
            ("pt-BR", ["pt-PT", "pt-AO"], "pt-PT"),
            ("pt-BR", ["pt-AO", "pt-PT"], "pt-AO"),
            # no language in common
            ("fr-CA", ["en", "de-DE"], None),
            ("sr", ["hr", "bs"], None),
            # private use never falls back to a "language x"
            ("x-pirate", ["x-pirate"], "x-pirate"),
            ("x-pirate", ["x-klingon"], None),
            ("en-x-pirate", ["en-GB"], "en-GB"),
            # malformed input is ignored, not fatal: serving falls back to default content
            ("not a tag", ["en"], None),
            ("", ["en"], None),
            ("de-AT", ["de_", "bad tag", "de-DE"], "de-DE"),
        ],
    )
    def test_picks_the_closest_available_translation(
        self, requested: str | None, available: list[str], expected: str | None
    ) -> None:
        assert pick_locale(requested, available) == expected

    def test_reads_available_only_once(self) -> None:
        def tags() -> Iterator[str]:
            yield "de-DE"
            yield "de"

        assert pick_locale("de-AT", tags()) == "de"

    def test_accepts_dict_keys(self) -> None:
        translations = {"fr": {"title": "Nouveau"}, "de-DE": {"title": "Neu"}}
        assert pick_locale("de-CH", translations.keys()) == "de-DE"


PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, database=None)

_letters = st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_digits = st.sampled_from("0123456789")
_alphanumerics = st.one_of(_letters, _digits)


def _subtag(characters: st.SearchStrategy[str], size: int) -> st.SearchStrategy[str]:
    return st.lists(characters, min_size=size, max_size=size).map("".join)


# Well-formed tags straight from the RFC 5646 grammar, in random case and separators.
_well_formed_tags = st.builds(
    lambda language, script, region, variant, private, separator: separator.join(
        part for part in (language, script, region, variant, private) if part
    ),
    st.integers(2, 3).flatmap(lambda size: _subtag(_letters, size)),
    st.one_of(st.just(""), _subtag(_letters, 4)),
    st.one_of(st.just(""), _subtag(_letters, 2), _subtag(_digits, 3)),
    st.one_of(st.just(""), st.integers(5, 8).flatmap(lambda size: _subtag(_alphanumerics, size))),
    st.one_of(st.just(""), _subtag(_alphanumerics, 3).map(lambda value: f"x-{value}")),
    st.sampled_from(["-", "_"]),
)


class TestProperties:
    @PROPERTY_SETTINGS
    @given(_well_formed_tags)
    def test_well_formed_tags_are_accepted_and_normalization_is_stable(self, tag: str) -> None:
        normalized = normalize_locale(tag)
        assert normalized.lower() == tag.replace("_", "-").lower()
        assert normalize_locale(normalized) == normalized
        assert normalize_locale(tag.swapcase()) == normalized

    @PROPERTY_SETTINGS
    @given(st.text(max_size=40))
    def test_any_text_is_either_refused_or_normalized_stably(self, tag: str) -> None:
        try:
            normalized = normalize_locale(tag)
        except ValueError:
            # A refused tag never matches, not even itself.
            assert pick_locale(tag, [tag, "en"]) is None
            return
        assert normalize_locale(normalized) == normalized
        assert pick_locale(tag, ["zz", normalized]) == normalized
