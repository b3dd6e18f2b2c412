// UI strings, one `|`-joined line per language (cheaper to ship than objects).
// Order: name, unread ({n}), dismiss, positive, neutral, negative, empty feed.
const STRINGS: Record<string, string> = {
  en: "What's new|{n} unread|Dismiss|Positive|Neutral|Negative|Nothing new yet",
  de: 'Neuigkeiten|{n} ungelesen|Ausblenden|Positiv|Neutral|Negativ|Noch nichts Neues',
  fr: 'Nouveautés|{n} non lues|Ignorer|Positif|Neutre|Négatif|Rien de nouveau pour le moment',
  es: 'Novedades|{n} sin leer|Descartar|Positivo|Neutral|Negativo|Nada nuevo por ahora',
  ja: '新着情報|未読{n}件|閉じる|良い|普通|良くない|新着はありません',
};

/** The UI strings for a BCP 47 tag (`de-AT` → German), English when unknown. */
export const uiStrings = (locale: string): string[] =>
  (STRINGS[locale.slice(0, 2).toLowerCase()] || STRINGS.en).split('|');
