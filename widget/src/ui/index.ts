// The UI chunk (dist/widget-ui.js): imported by the loader on the first open or the first
// auto-show. Draws the feed panel and its items, popovers, banners and modals, and sends
// the events.
import frameCss from './frame.css';
import css from './ui.css';
import { adopt } from '../dom';
import { uiStrings } from '../i18n';
import { apiUrl } from '../transport';
import type { Display, Item, Reaction, Shell, TrackedEvent, Ui } from '../types';
import { h, listen } from '../util';
import { createAnchoring } from './anchor';
import { renderArticle } from './article';
import { createEventQueue } from './events';
import { createPanel } from './panel';
import { createPins } from './pins';
import { createSurfaces } from './surfaces';

/** The panel lists this many at first; "See all" shows the rest. */
const FIRST_PAGE = 10;

export const mountUi = (shell: Shell): Ui => {
  adopt(shell.root_, frameCss + css, shell.config_.nonce_);
  const strings = () => uiStrings(shell.locale_());
  const events = createEventQueue(() => apiUrl(shell.config_, 'events'), shell.who_, shell.succeeded_);
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
      locale: shell.locale_(),
      level: surface == 'feed' ? 'h3' : 'h2',
      track,
      onDismiss,
      onClick,
    });
    observed.set(el, [item, surface]);
    intersections?.observe(el);
    return el;
  };

  // Popovers, banners and modals are announced here (a live region must exist before it speaks).
  const live = h('div', { class: 'tw-sr', 'aria-live': 'polite' });
  shell.layer_.append(live);
  const announce = (text: string) => {
    live.textContent = '';
    setTimeout(() => (live.textContent = text), 100);
  };

  const trigger = shell.config_.trigger;
  const anchor = createAnchoring(trigger);
  const surfaces = createSurfaces({
    shell,
    article,
    dismissed: (item, surface) => track('dismiss', item, surface),
    forget,
    anchor,
    announce,
  });

  // Items the user opened the feed on, in case a poll answers before the `open` event lands.
  const seenHere = new Set<string>();
  const fill = (list: HTMLElement) => {
    const items = shell.items_;
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
    const changelogUrl = shell.config_.changelogUrl || shell.feed_!.changelog_url;
    if (changelogUrl)
      footer.append(h('a', { class: 'tw-link', href: changelogUrl, target: '_blank', rel: 'noopener' }, changelog));
    list.replaceChildren(
      ...(items.length
        ? items.slice(0, FIRST_PAGE).map((item) => article(item, 'feed'))
        : [h('p', { class: 'tw-empty' }, empty)]),
      ...(more ? [h('div', { class: 'tw-rest' })] : []),
    );
    if (footer.firstChild) list.after(footer);
    track('open');
    items.forEach((item) => (seenHere.add(item.id), (item.seen = true)));
    shell.setUnread_(0);
  };

  const panel = createPanel({ shell, fill, anchor, opening: surfaces.panelOpening, forget });

  // A new page view: impressions count again, and a surface may show (pages globs).
  let isNewPageView = true;
  let isStopped = false;
  const update = () => {
    if (isStopped) return;
    if (isNewPageView) impressed = new Set();
    panel.sync();
    surfaces.update(isNewPageView);
    isNewPageView = false;
  };
  const routeChanged = () => {
    isNewPageView = true;
    update();
  };
  listen(window, 'popstate', routeChanged);
  const navigation = (window as unknown as { navigation?: EventTarget }).navigation;
  if (navigation) listen(navigation, 'navigatesuccess', routeChanged);
  listen(shell.root_, 'keydown', (event: KeyboardEvent) => {
    if (!surfaces.keydown(event, panel.isOpen()) && event.key == 'Escape') panel.close();
  });
  // A click outside closes the panel (the loader handles the host's trigger).
  listen(
    document,
    'click',
    (event: MouseEvent) => {
      const onTrigger = trigger && (event.target as Element).closest?.(trigger);
      if (panel.isOpen() && !onTrigger && !event.composedPath().includes(shell.root_.host)) panel.close();
    },
    true,
  );
  listen(document, 'visibilitychange', () => isStopped || (document.hidden && events.flush()));
  listen(window, 'pagehide', () => isStopped || events.beacon());

  const pins = trigger && createPins(shell);

  // A request that got no answer, while the server answers a no-cors probe and the same
  // request fails again right after it (not a server that just came back), was refused by
  // CORS: the page's origin is not allowed. Say so once, in words the developer can act on.
  let hasWarned = false;
  const explain = () =>
    hasWarned ||
    fetch(shell.feedUrl_(), { mode: 'no-cors' })
      .then(() =>
        fetch(shell.feedUrl_()).then(
          () => {},
          () => {
            if (!hasWarned) console.warn(`Tidings: ${location.origin} is not in the workspace's allowed_origins`);
            hasWarned = true;
          },
        ),
      )
      .catch(() => {});

  return {
    open_: panel.open,
    close_: panel.close,
    isOpen_: panel.isOpen,
    unread_: (feed) =>
      Math.max(0, feed.unread_count - feed.announcements.filter((i) => !i.seen && seenHere.has(i.id)).length),
    update_: update,
    badge_: () => pins && pins.render(),
    explain_: explain,
    switchUser_() {
      events.flush();
      surfaces.hide();
      isNewPageView = true;
    },
    shutdown_() {
      events.beacon();
      isStopped = true;
      panel.close();
      surfaces.hide();
      pins && pins.remove();
      live.remove();
    },
  };
};
