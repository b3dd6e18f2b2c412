// UI strings, one `|`-joined line per language (cheaper to ship than objects). The loader
// ships only the launcher's table; the UI chunk the others.

// The launcher's name and its unread count ({n}).
const LAUNCHER: Record<string, string> = {
  en: "What's new|{n} unread",
  de: 'Neuigkeiten|{n} ungelesen',
  fr: 'Nouveautés|{n} non lues',
  es: 'Novedades|{n} sin leer',
  ja: '新着情報|未読{n}件',
};

// The feed panel's close button, its failure state and retry (the UI chunk's).
const PANEL: Record<string, string> = {
  en: "Close|Couldn't load updates \u2014 retrying|Retry",
  de: 'Schließen|Neuigkeiten nicht geladen \u2014 neuer Versuch läuft|Erneut versuchen',
  fr: 'Fermer|Impossible de charger les nouveautés \u2014 nouvel essai en cours|Réessayer',
  es: 'Cerrar|No se pudieron cargar las novedades \u2014 reintentando|Reintentar',
  ja: '閉じる|更新を読み込めませんでした \u2014 再試行中|再試行',
};

// Dismiss, positive, neutral, negative, empty feed, unread, see all, changelog, then the
// four categories the server knows (others are shown as they are).
const UI: Record<string, string> = {
  en: 'Dismiss|Positive|Neutral|Negative|Nothing new yet|Unread|See all|Changelog|New|Improvement|Fix|Announcement',
  de: 'Ausblenden|Positiv|Neutral|Negativ|Noch nichts Neues|Ungelesen|Alle anzeigen|Changelog|Neu|Verbesserung|Fehlerbehebung|Ankündigung',
  fr: 'Ignorer|Positif|Neutre|Négatif|Rien de nouveau pour le moment|Non lu|Tout voir|Journal des modifications|Nouveauté|Amélioration|Correctif|Annonce',
  es: 'Descartar|Positivo|Neutral|Negativo|Nada nuevo por ahora|No leído|Ver todo|Registro de cambios|Novedad|Mejora|Corrección|Anuncio',
  ja: '非表示にする|良い|普通|良くない|新着はありません|未読|すべて表示|変更履歴|新機能|改善|修正|お知らせ',
};
export const CATEGORIES = ['new', 'improvement', 'fix', 'announcement'];

const pick = (table: Record<string, string>, locale: string): string[] =>
  (table[locale.slice(0, 2).toLowerCase()] || table.en).split('|');

/** The launcher's strings for a BCP 47 tag (`de-AT` → German), English when unknown. */
export const launcherStrings = (locale: string): string[] => pick(LAUNCHER, locale);

/** The feed panel's frame (the UI chunk's): name, unread, close, the failure state, retry. */
export const panelStrings = (locale: string): string[] => [...launcherStrings(locale), ...pick(PANEL, locale)];

/** The UI chunk's strings, the same way. */
export const uiStrings = (locale: string): string[] => pick(UI, locale);
