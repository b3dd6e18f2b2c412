// One announcement as an <article> headed by its title: category pill, date, unread
// marker, image, the server's sanitized body, call to action, reactions.
import { CLOSE_ICON, icon } from '../dom';
import { CATEGORIES } from '../i18n';
import type { Display, Item, Reaction } from '../types';
import { h } from '../util';
import { setBodyHtml } from './trusted';

const REACTIONS: [Reaction, string[]][] = [
  ['positive', ['M8 14a4.5 4.5 0 0 0 8 0']],
  ['neutral', ['M8.5 15h7']],
  ['negative', ['M8 16.5a4.5 4.5 0 0 1 8 0']],
];
// A face: its outline and eyes; the mouth comes from REACTIONS.
const FACE = ['M21 12a9 9 0 1 1-18 0 9 9 0 0 1 18 0', 'M9 9.5h.01M15 9.5h.01'];

let headingSeq = 0;

export interface ArticleOptions {
  item: Item;
  surface: Display;
  strings: string[];
  locale: string;
  /** h2 on a surface of its own, h3 inside the feed panel (under its h2). */
  level: 'h2' | 'h3';
  track(type: 'click' | 'reaction', item: Item, surface: Display, value?: Reaction): void;
  onDismiss?: () => void;
  onClick?: () => void;
}

export const renderArticle = ({ item, surface, strings, locale, level, track, onDismiss, onClick }: ArticleOptions) => {
  const [dismiss, , , , , unreadLabel] = strings;
  const headingId = 'tidings-h' + ++headingSeq;
  const body = h('div', { class: 'tw-body' });
  setBodyHtml(body, item.body_html);
  let date = '';
  try {
    date = new Date(item.published_at).toLocaleDateString(locale, { day: 'numeric', month: 'short', year: 'numeric' });
  } catch {
    // An unknown locale tag or date: no date rather than no item.
  }
  const known = CATEGORIES.indexOf(item.category);
  const isUnread = surface == 'feed' && !item.seen;
  const reactions =
    surface == 'feed' &&
    h(
      'div',
      { class: 'tw-reactions' },
      ...REACTIONS.map(([value, mouth], i) => {
        const button = h('button', {
          class: 'tw-reaction',
          'aria-label': strings[1 + i],
          'aria-pressed': item.reaction == value,
          click: () => {
            item.reaction = value;
            button.parentElement!.querySelectorAll('button').forEach((other) => other.setAttribute('aria-pressed', '' + (other == button)));
            track('reaction', item, surface, value);
          },
        });
        button.append(icon(...FACE, ...mouth));
        return button;
      }),
    );
  return h(
    'article',
    { class: isUnread ? 'tw-item tw-unread' : 'tw-item', 'aria-labelledby': headingId },
    onDismiss && h('button', { class: 'tw-icon-button tw-dismiss', 'aria-label': dismiss, click: onDismiss }, icon(CLOSE_ICON)),
    item.image_url && h('img', { class: 'tw-image', src: item.image_url, alt: '' }),
    h(
      'div',
      { class: 'tw-meta' },
      isUnread && h('span', { class: 'tw-sr' }, unreadLabel),
      item.category &&
        h('span', { class: 'tw-pill', 'data-category': known < 0 ? 'other' : item.category }, known < 0 ? item.category : strings[8 + known]),
      date && h('time', { datetime: item.published_at }, date),
    ),
    h(level, { id: headingId, class: 'tw-title' }, isUnread && h('span', { class: 'tw-dot', 'aria-hidden': 'true' }), item.title),
    body,
    item.cta &&
      h(
        'a',
        {
          class: 'tw-button tw-cta',
          href: item.cta.url,
          // Same tab inside the product; a new one for other sites.
          target: new URL(item.cta.url, location.href).origin == location.origin ? null : '_blank',
          rel: 'noopener noreferrer',
          click: () => {
            track('click', item, surface);
            onClick?.();
          },
        },
        item.cta.label,
      ),
    reactions,
  );
};
