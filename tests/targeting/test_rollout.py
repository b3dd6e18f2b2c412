"""Rollout bucketing against GrowthBook's published v2 hash vectors, and its statistics."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.targeting.rollout import fnv1a32, hash_v2, in_rollout

_property = settings(max_examples=200, deadline=None, database=None)


class TestHashVectors:
    # GrowthBook's shared SDK test cases ("hash" section, version 2).
    @pytest.mark.parametrize(
        ("seed", "value", "expected"),
        [
            ("seed", "a", 0.0505),
            ("seed", "b", 0.2696),
            ("foo", "ab", 0.2575),
            ("foo", "def", 0.2019),
            ("89123klj", "8952klfjas09ujkasdf", 0.124),
            ("90850943850283058242805", "123", 0.7516),
            ("()**(%$##$%#$#", '___)((*":&', 0.0128),
        ],
    )
    def test_growthbook_v2_vectors(self, seed: str, value: str, expected: float) -> None:
        assert hash_v2(seed, value) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            # The reference FNV-1a 32-bit vectors.
            ("", 0x811C9DC5),
            ("a", 0xE40C292C),
            ("foobar", 0xBF9CF968),
        ],
    )
    def test_fnv1a32_reference_vectors(self, text: str, expected: int) -> None:
        assert fnv1a32(text) == expected

    def test_folds_utf16_code_units_like_javascript(self) -> None:
        # charCodeAt yields whole UTF-16 units: "é" is 0xE9 (not UTF-8's C3 A9), and an
        # emoji is its two surrogates.
        def fold(units: list[int]) -> int:
            value = 0x811C9DC5
            for unit in units:
                value = ((value ^ unit) * 0x01000193) % 2**32
            return value

        assert fnv1a32("é") == fold([0xE9])
        assert fnv1a32("€") == fold([0x20AC])
        assert fnv1a32("a😀") == fold([0x61, 0xD83D, 0xDE00])

    def test_hash_is_in_unit_interval_with_four_decimals(self) -> None:
        for i in range(1000):
            bucket = hash_v2("ann_1", f"user-{i}")
            assert 0 <= bucket < 1
            assert math.isclose(bucket * 10_000, round(bucket * 10_000), abs_tol=1e-6)


class TestInRollout:
    def test_everyone_at_100_and_no_one_at_0(self) -> None:
        keys = [f"user-{i}" for i in range(2000)]
        assert all(in_rollout("ann_1", key, 100) for key in keys)
        assert not any(in_rollout("ann_1", key, 0) for key in keys)

    def test_bucket_below_percent_is_in(self) -> None:
        # hash_v2("seed", "a") is 0.0505: in at 5.06%, out at 5.05%.
        assert in_rollout("see", "da", 5.06)
        assert not in_rollout("see", "da", 5.05)

    @pytest.mark.parametrize("seed", ["ann_01JD3Z8R6Q7WB4T9X2M5N8K1PC", "ann_x", ""])
    def test_thirty_percent_of_ten_thousand_users(self, seed: str) -> None:
        included = sum(in_rollout(seed, f"user-{i}", 30) for i in range(10_000))
        assert 2850 <= included <= 3150

    def test_uniform_across_deciles(self) -> None:
        buckets = [hash_v2("ann_uniform", f"anon-{i:05d}") for i in range(10_000)]
        for decile in range(10):
            count = sum(decile / 10 <= bucket < (decile + 1) / 10 for bucket in buckets)
            assert 850 <= count <= 1150

    def test_seeds_sample_independently(self) -> None:
        users = [f"user-{i}" for i in range(10_000)]
        first = {user for user in users if in_rollout("ann_a", user, 30)}
        second = {user for user in users if in_rollout("ann_b", user, 30)}
        # Independent 30% samples overlap on about 9% of users.
        assert 700 <= len(first & second) <= 1100

    def test_empty_user_key_is_not_sampled(self) -> None:
        assert not in_rollout("ann_1", "", 99.99)
        assert in_rollout("ann_1", "", 100)

    @pytest.mark.parametrize("percent", [-0.1, 100.1, math.nan, math.inf])
    def test_percent_out_of_range(self, percent: float) -> None:
        with pytest.raises(ValueError, match="between 0 and 100"):
            in_rollout("ann_1", "user-1", percent)


@_property
@given(seed=st.text(max_size=20), key=st.text(min_size=1, max_size=20))
def test_stable_across_calls(seed: str, key: str) -> None:
    assert hash_v2(seed, key) == hash_v2(seed, key)
    assert in_rollout(seed, key, 42.5) == in_rollout(seed, key, 42.5)


@_property
@given(
    seed=st.text(max_size=20),
    key=st.text(min_size=1, max_size=20),
    lower=st.floats(0, 100),
    higher=st.floats(0, 100),
)
def test_growing_a_rollout_keeps_everyone_already_in(
    seed: str, key: str, lower: float, higher: float
) -> None:
    lower, higher = sorted((lower, higher))
    if in_rollout(seed, key, lower):
        assert in_rollout(seed, key, higher)
