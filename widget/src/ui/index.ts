// The UI chunk (dist/widget-ui.js): imported by the loader on the first open or the first
// auto-show. Draws the feed's items, popovers, banners and modals, and sends the events.
import css from './ui.css';
import { uiStrings } from '../i18n';
import type { Display, Item, Reaction, Shell, TrackedEvent, Ui } from '../types';
import { h } from '../util';
import { renderArticle } from './article';
import { createEventQueue } from './events';
import { createSurfaces } from './surfaces';

/** The panel lists this many at first; "See all" shows the rest. */
const FIRST_PAGE = 10;

export const mountUi = (shell: Shell): Ui => {
  shell.adopt(shell.root, css);
  const strings = () => uiStrings(shell.locale());
  const events = createEventQueue(() => shell.endpoint('events'), shell.who, shell.succeeded);
  const track = (type: TrackedEvent['type'], item?: Item, surface?: Display, value?: Reaction) =>
    events.track(type, { announcement_id: item?.id, surface, value });

  // Impressions: once per item per page view, when at least half of it is visible.
  let impressed = new Set<string>();
  const observed = new WeakMap<Element, [Item, Display]>();
  const intersections = window.IntersectionObserver
    ? new IntersectionObserver(
        (entries) =>
          entries.forEach((entry) => {
            const target = observed.get(entry.target);
            if (target && entry.intersectionRatio >= 0.5) {
              intersections!.unobserve(entry.target);
              if (!impressed.has(target[0].id)) {
                impressed.add(target[0].id);
                track('impression', target[0], target[1]);
              }
            }
          }),
        { threshold: 0.5 },
      )
    : null;
  const forget = (el: Element) => el.querySelectorAll('article').forEach((article) => intersections?.unobserve(article));

  const article = (item: Item, surface: Display, onDismiss?: () => void, onClick?: () => void) => {
    const el = renderArticle({
      item,
      surface,
      strings: strings(),
      locale: shell.locale(),
      level: surface == 'feed' ? 'h3' : 'h2',
      track,
      onDismiss,
      onClick,
    });
    observed.set(el, [item, surface]);
    intersections?.observe(el);
    return el;
  };

  const surfaces = createSurfaces({
    shell,
    article,
    dismissed: (item, surface) => track('dismiss', item, surface),
    forget,
  });

  return {
    fillPanel(list) {
      surfaces.panelOpening();
      const items = shell.items();
      const text = strings();
      const [, , , , empty, , seeAll, changelog] = text;
      const footer = h('div', { class: 'tw-footer' });
      const more = items.length > FIRST_PAGE;
      const showAll = () => {
        list.querySelector('.tw-rest')?.replaceWith(...items.slice(FIRST_PAGE).map((item) => article(item, 'feed')));
        seeAllButton.remove();
        if (!footer.firstChild) footer.remove();
      };
      const seeAllButton = h('button', { class: 'tw-link', click: showAll }, seeAll + ' (' + items.length + ')');
      if (more) footer.append(seeAllButton);
      if (shell.config.changelogUrl)
        footer.append(h('a', { class: 'tw-link', href: shell.config.changelogUrl, target: '_blank', rel: 'noopener' }, changelog));
      list.replaceChildren(
        ...(items.length
          ? items.slice(0, FIRST_PAGE).map((item) => article(item, 'feed'))
          : [h('p', { class: 'tw-empty' }, empty)]),
        ...(more ? [h('div', { class: 'tw-rest' })] : []),
      );
      if (footer.firstChild) list.after(footer);
      track('open');
    },
    update(newView) {
      if (newView) impressed = new Set();
      surfaces.update(newView);
    },
    keydown: surfaces.keydown,
    hideAuto: surfaces.hide,
    flush: () => void events.flush(),
    beacon: events.beacon,
    unobserve: forget,
  };
};
