"""The changelog page's own words in the widget's languages, and which language a reader gets.

The languages are the widget's (widget/src/i18n.ts); the choice follows the widget's
fallback (app/kit/locales.py ``pick_locale``: ``de-AT`` -> ``de``, then the closest tag
of the same language), applied to ``?locale=`` or else to each ``Accept-Language`` tag in
the reader's order of preference.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from app.kit.locales import pick_locale

DEFAULT_LANGUAGE: Final = "en"
MAX_ACCEPTED_TAGS: Final = 6  # more preferences than this are never useful, only costly


@dataclass(frozen=True, slots=True)
class PageWords:
    changelog: str
    all_updates: str
    categories_label: str
    all_categories: str
    newer: str
    older: str
    page_n: str  # {n}, {total}
    pagination_label: str
    subscribe: str
    back_to: str  # {name}
    nothing_yet: str
    nothing_in_category: str
    permalink: str
    months: tuple[str, ...]
    date_pattern: str  # {day}, {month}, {year}
    categories: dict[str, str]


WORDS: Final[dict[str, PageWords]] = {
    "en": PageWords(
        changelog="Changelog",
        all_updates="All updates",
        categories_label="Categories",
        all_categories="All",
        newer="Newer",
        older="Older",
        page_n="Page {n} of {total}",
        pagination_label="Pages",
        subscribe="Subscribe",
        back_to="Back to {name}",
        nothing_yet="Nothing has been published yet.",
        nothing_in_category="Nothing in this category yet.",
        permalink="Link to this update",
        months=(
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        date_pattern="{month} {day}, {year}",
        categories={
            "new": "New",
            "improvement": "Improvement",
            "fix": "Fix",
            "announcement": "Announcement",
        },
    ),
    "de": PageWords(
        changelog="Änderungsprotokoll",
        all_updates="Alle Neuigkeiten",
        categories_label="Kategorien",
        all_categories="Alle",
        newer="Neuer",
        older="Älter",
        page_n="Seite {n} von {total}",
        pagination_label="Seiten",
        subscribe="Abonnieren",
        back_to="Zurück zu {name}",
        nothing_yet="Noch wurde nichts veröffentlicht.",
        nothing_in_category="In dieser Kategorie gibt es noch nichts.",
        permalink="Link zu dieser Neuigkeit",
        months=(
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ),
        date_pattern="{day}. {month} {year}",
        categories={
            "new": "Neu",
            "improvement": "Verbesserung",
            "fix": "Fehlerbehebung",
            "announcement": "Ankündigung",
        },
    ),
    "fr": PageWords(
        changelog="Journal des modifications",
        all_updates="Toutes les nouveautés",
        categories_label="Catégories",
        all_categories="Toutes",
        newer="Plus récentes",
        older="Plus anciennes",
        page_n="Page {n} sur {total}",
        pagination_label="Pages",
        subscribe="S\u2019abonner",
        back_to="Retour à {name}",
        nothing_yet="Rien n\u2019a encore été publié.",
        nothing_in_category="Rien dans cette catégorie pour le moment.",
        permalink="Lien vers cette nouveauté",
        months=(
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        date_pattern="{day} {month} {year}",
        categories={
            "new": "Nouveau",
            "improvement": "Amélioration",
            "fix": "Correctif",
            "announcement": "Annonce",
        },
    ),
    "es": PageWords(
        changelog="Registro de cambios",
        all_updates="Todas las novedades",
        categories_label="Categorías",
        all_categories="Todas",
        newer="Más recientes",
        older="Más antiguas",
        page_n="Página {n} de {total}",
        pagination_label="Páginas",
        subscribe="Suscribirse",
        back_to="Volver a {name}",
        nothing_yet="Todavía no se ha publicado nada.",
        nothing_in_category="Todavía no hay nada en esta categoría.",
        permalink="Enlace a esta novedad",
        months=(
            "enero",
            "febrero",
            "marzo",
            "abril",
            "mayo",
            "junio",
            "julio",
            "agosto",
            "septiembre",
            "octubre",
            "noviembre",
            "diciembre",
        ),
        date_pattern="{day} de {month} de {year}",
        categories={
            "new": "Nuevo",
            "improvement": "Mejora",
            "fix": "Corrección",
            "announcement": "Anuncio",
        },
    ),
    "ja": PageWords(
        changelog="更新履歴",
        all_updates="すべての更新",
        categories_label="カテゴリ",
        all_categories="すべて",
        newer="新しい更新",
        older="以前の更新",
        page_n="{total}ページ中{n}ページ目",
        pagination_label="ページ",
        subscribe="購読",
        back_to="{name}に戻る",
        nothing_yet="まだ公開された更新はありません。",
        nothing_in_category="このカテゴリにはまだ更新がありません。",
        permalink="この更新へのリンク",
        months=tuple(f"{number}月" for number in range(1, 13)),
        date_pattern="{year}年{month}{day}日",
        categories={
            "new": "新機能",
            "improvement": "改善",
            "fix": "修正",
            "announcement": "お知らせ",
        },
    ),
}
LANGUAGES: Final = tuple(WORDS)


def accepted_tags(header: str | None) -> tuple[str, ...]:
    """The tags of an ``Accept-Language`` header, most preferred first (``*`` and q=0 left
    out; a malformed entry is skipped, never an error: browsers send this header)."""
    if not header:
        return ()
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:32]):
        tag, _, parameters = part.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        name, _, value = parameters.strip().partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                continue
        if not tag or tag == "*" or not 0 < quality <= 1:
            continue
        weighted.append((-quality, position, tag))
    weighted.sort()
    return tuple(tag for _, _, tag in weighted[:MAX_ACCEPTED_TAGS])


def first_pick(requested: Sequence[str], available: Iterable[str]) -> str | None:
    """The entry of ``available`` for the first requested tag that has one."""
    options = tuple(available)
    for tag in requested:
        chosen = pick_locale(tag, options)
        if chosen is not None:
            return chosen
    return None


def page_language(requested: Sequence[str]) -> str:
    return first_pick(requested, LANGUAGES) or DEFAULT_LANGUAGE


def format_date(moment: datetime, words: PageWords) -> str:
    return words.date_pattern.format(
        day=moment.day, month=words.months[moment.month - 1], year=moment.year
    )


def category_name(category: str, words: PageWords) -> str:
    return words.categories.get(category) or category.replace("-", " ").replace("_", " ").title()
