"""A workspace's accent color on the changelog page: WCAG contrast, and its dark-mode shade.

The page shows the accent as link text and as the background of white button text, on its
light surfaces; the check at write time is against those (WCAG 2.x AA: 4.5:1 for normal
text). Dark mode needs a lighter shade of the same hue: it is derived here, mixing the
accent with white until it reads on the dark surfaces, so an author sets one color.
"""

import re
from typing import Final

AA_TEXT_CONTRAST: Final = 4.5
DEFAULT_ACCENT: Final = "#4f46e5"
# Keep in step with the surfaces of static/changelog.css (--page and --card).
LIGHT_SURFACES: Final = ("#ffffff", "#f6f7f9")
DARK_SURFACES: Final = ("#14161b", "#1c1f26")

HEX_COLOR: Final = re.compile(r"#[0-9a-fA-F]{6}")

RGB = tuple[int, int, int]


def parse_hex(color: str) -> RGB:
    if not HEX_COLOR.fullmatch(color):
        raise ValueError("must be a color written #rrggbb, such as #4f46e5")
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def to_hex(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def relative_luminance(rgb: RGB) -> float:
    """WCAG 2.x relative luminance of an sRGB color."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    lighter, darker = sorted(
        (relative_luminance(parse_hex(first)), relative_luminance(parse_hex(second))),
        reverse=True,
    )
    return (lighter + 0.05) / (darker + 0.05)


def accent_contrast(accent: str) -> float:
    """The accent's contrast on the light surface where it reads worst."""
    return min(contrast_ratio(accent, surface) for surface in LIGHT_SURFACES)


def accent_problem(accent: str) -> str | None:
    """Why ``accent`` cannot be the page's accent (for a 422), or None when it can."""
    ratio = accent_contrast(accent)
    if ratio >= AA_TEXT_CONTRAST:
        return None
    # Rounded down, so the message never claims a ratio the color does not reach.
    shown = int(ratio * 100) / 100
    return (
        f"has a contrast ratio of {shown:.2f}:1 against the changelog page's light "
        f"background; WCAG AA asks for at least {AA_TEXT_CONTRAST}:1 for text, so pick a "
        "darker shade"
    )


def dark_mode_accent(accent: str) -> str:
    """The accent mixed with white, in 5% steps, until it reads on every dark surface."""
    red, green, blue = parse_hex(accent)
    for percent in range(0, 101, 5):
        mixed = tuple(round(c + (255 - c) * percent / 100) for c in (red, green, blue))
        candidate = to_hex((mixed[0], mixed[1], mixed[2]))
        if all(contrast_ratio(candidate, s) >= AA_TEXT_CONTRAST for s in DARK_SURFACES):
            return candidate
    return "#ffffff"
