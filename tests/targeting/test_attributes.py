"""Built-in attributes, the device heuristic, and the limits on identified attributes."""

from typing import Any

import pytest

from app.errors import InvalidInput
from app.targeting.attributes import (
    builtin_attributes,
    device_from_user_agent,
    merge_attributes,
    validate_user_attributes,
)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1"
)
ANDROID_PHONE = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)
ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)
MAC_SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Safari/605.1.15"
)
WINDOWS_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
)


class TestDevice:
    @pytest.mark.parametrize(
        ("user_agent", "device"),
        [
            (IPHONE, "mobile"),
            (IPAD, "tablet"),
            (ANDROID_PHONE, "mobile"),
            (ANDROID_TABLET, "tablet"),
            (MAC_SAFARI, "desktop"),
            (WINDOWS_CHROME, "desktop"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0", "desktop"),
            # Firefox on Android says "Mobile" or "Tablet" itself.
            ("Mozilla/5.0 (Android 14; Mobile; rv:125.0) Gecko/125.0 Firefox/125.0", "mobile"),
            ("Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0", "tablet"),
            (
                "Mozilla/5.0 (iPod touch; CPU iPhone OS 15_0 like Mac OS X) AppleWebKit/605.1.15 "
                "(KHTML, like Gecko) Version/15.0 Mobile/15E148 Safari/604.1",
                "mobile",
            ),
            (
                "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Silk/124.2.1 like Chrome/124.0.6367.179 Safari/537.36",
                "tablet",
            ),
            ("Opera/9.80 (J2ME/MIDP; Opera Mini/9.80 (S60; SymbOS; Opera Mobi/23.348)", "mobile"),
            # Case does not matter.
            ("SOMEPHONE MOBI BROWSER", "mobile"),
            ("curl/8.5.0", "desktop"),
            ("", "desktop"),
        ],
    )
    def test_device_from_user_agent(self, user_agent: str, device: str) -> None:
        assert device_from_user_agent(user_agent) == device


class TestBuiltins:
    def test_identified_user(self) -> None:
        assert builtin_attributes("u_42", "anon-1", "de-at", IPHONE) == {
            "id": "u_42",
            "anonymous": False,
            "locale": "de-AT",
            "device": "mobile",
        }

    def test_anonymous_visitor_is_known_by_the_anonymous_id(self) -> None:
        assert builtin_attributes(None, "anon-1", None, WINDOWS_CHROME) == {
            "id": "anon-1",
            "anonymous": True,
            "device": "desktop",
        }

    def test_what_cannot_be_known_is_left_out(self) -> None:
        # Left out, a built-in reads as null/missing in conditions.
        assert builtin_attributes(None, None, "not a locale!", None) == {"anonymous": True}
        assert "device" not in builtin_attributes("u", None, None, "   ")

    def test_posix_locales_are_read_as_bcp47(self) -> None:
        assert builtin_attributes("u", None, "pt_BR", None)["locale"] == "pt-BR"


class TestMerge:
    def test_the_builtins_always_win(self) -> None:
        builtins = builtin_attributes("u_42", None, "en", IPAD)
        own = {"device": "tv", "id": "vip-1", "anonymous": True, "locale": "fr", "plan": "pro"}
        assert merge_attributes(own, builtins) == {
            "id": "u_42",
            "anonymous": False,
            "locale": "en",
            "device": "tablet",
            "plan": "pro",
        }

    def test_a_builtin_tidings_cannot_know_is_not_taken_from_the_user(self) -> None:
        builtins = builtin_attributes(None, "visitor-1", None, None)  # no locale, no UA
        own = {"id": "vip-1", "anonymous": False, "locale": "de", "device": "tv"}
        assert merge_attributes(own, builtins) == {"id": "visitor-1", "anonymous": True}

    def test_inputs_are_not_changed(self) -> None:
        own = {"plan": "pro"}
        builtins = {"id": "u"}
        merge_attributes(own, builtins)
        assert own == {"plan": "pro"} and builtins == {"id": "u"}


def _invalid_field(attributes: object, **kwargs: Any) -> tuple[str, str]:
    with pytest.raises(InvalidInput) as caught:
        validate_user_attributes(attributes, **kwargs)
    (error,) = caught.value.errors
    return error["field"], error["message"]


class TestLimits:
    def test_fifty_keys_pass_and_fifty_one_fail(self) -> None:
        fifty = {f"k{i}": i for i in range(50)}
        assert validate_user_attributes(fifty) == fifty
        field, message = _invalid_field({**fifty, "one_more": True})
        assert field == "attributes"
        assert "51" in message and "50" in message

    def test_eight_kilobytes_of_json_pass_and_one_byte_more_fails(self) -> None:
        # {"k":""} is 8 bytes of JSON, so 8184 characters make exactly 8192.
        exactly = {"k": "x" * 8184}
        assert validate_user_attributes(exactly) == exactly
        field, message = _invalid_field({"k": "x" * 8185})
        assert field == "attributes" and "8193" in message

    def test_size_counts_utf8_bytes(self) -> None:
        # "é" is two bytes in UTF-8: 4100 of them are 8200 bytes.
        assert _invalid_field({"k": "é" * 4100})[0] == "attributes"

    def test_nested_keys_do_not_count_towards_the_key_limit(self) -> None:
        nested = {"company": {f"k{i}": i for i in range(100)}}
        assert validate_user_attributes(nested) == nested

    @pytest.mark.parametrize("attributes", [[1, 2], "plan=pro", None, 42])
    def test_must_be_an_object(self, attributes: object) -> None:
        assert _invalid_field(attributes)[0] == "attributes"

    @pytest.mark.parametrize("attributes", [{"when": object()}, {1: "x"}, {"tags": {1, 2}}])
    def test_must_be_json(self, attributes: object) -> None:
        assert _invalid_field(attributes)[0] == "attributes"

    def test_field_name_can_be_chosen(self) -> None:
        assert _invalid_field([], field="user.attributes")[0] == "user.attributes"
