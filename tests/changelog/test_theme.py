"""WCAG contrast arithmetic and the dark-mode accent (pure functions)."""

import pytest

from app.changelog.theme import (
    AA_TEXT_CONTRAST,
    DARK_SURFACES,
    LIGHT_SURFACES,
    accent_problem,
    contrast_ratio,
    dark_mode_accent,
)


class TestContrastRatio:
    def test_black_on_white_is_21_and_a_color_on_itself_is_1(self) -> None:
        assert contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
        assert contrast_ratio("#4f46e5", "#4f46e5") == pytest.approx(1.0)

    def test_known_values(self) -> None:
        # Reference values from the WCAG definition (as any contrast checker computes them).
        assert contrast_ratio("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)
        assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)

    def test_order_does_not_matter(self) -> None:
        assert contrast_ratio("#0b5fff", "#ffffff") == contrast_ratio("#ffffff", "#0b5fff")


class TestAccent:
    @pytest.mark.parametrize("accent", ["#4f46e5", "#0b5fff", "#b00020", "#000000", "#1a7f37"])
    def test_dark_enough_accents_pass(self, accent: str) -> None:
        assert accent_problem(accent) is None

    @pytest.mark.parametrize("accent", ["#ffffff", "#ffcc00", "#22c55e", "#777777"])
    def test_pale_accents_are_refused_with_their_ratio(self, accent: str) -> None:
        problem = accent_problem(accent)
        assert problem is not None and ":1" in problem

    @pytest.mark.parametrize("accent", ["#4f46e5", "#000000", "#0b5fff", "#b00020", "#1a7f37"])
    def test_the_dark_mode_shade_reads_on_every_dark_surface(self, accent: str) -> None:
        shade = dark_mode_accent(accent)
        for surface in DARK_SURFACES:
            assert contrast_ratio(shade, surface) >= AA_TEXT_CONTRAST
        assert all(contrast_ratio(accent, s) >= AA_TEXT_CONTRAST for s in LIGHT_SURFACES)
