// One running widget: talks to the widget API, renders into an open shadow root.
import css from './widget.css';
import { createEventQueue } from './events';
import { uiStrings } from './i18n';
import { matchesPages } from './pages';
import type { Display, Feed, Identity, Item, Reaction, TrackedEvent } from './types';
import { h, listen, load, save, uuid } from './util';

export interface Config {
  key: string;
  /** The API's origin: where the script itself came from. */
  base: string;
  trigger: string;
  position: string;
  locale: string;
  nonce: string;
}

export interface Widget {
  identify(identity: Identity): void;
  open(): void;
  close(): void;
  onUnread(listener: (count: number) => void): void;
  shutdown(): void;
}

const BELL =
  '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0"/></svg>';
const REACTIONS: Reaction[] = ['positive', 'neutral', 'negative'];
const FACES = ['\u{1F600}', '\u{1F610}', '\u{1F61E}'];
const MIN_POLL_S = 5;

export const startWidget = (config: Config, identity: Identity | null): Widget => {
  const { key, base, trigger } = config;
  const anonymousId: string = load('aid', '') || uuid();
  save('aid', anonymousId);

  const asUser = (identity: Identity): Identity => ({
    user_id: identity.user_id == null ? undefined : '' + identity.user_id,
    user_hash: identity.user_hash,
    locale: identity.locale,
    attributes: identity.attributes || {},
  });
  let user: Identity | null = identity && asUser(identity);
  let items: Item[] = [];
  let unread = 0;
  let loaded = false;
  let started = false;
  let stopped = false;
  let wantOpen = false;
  // Polling state: the feed's ETag, when to ask next, consecutive failures.
  let etag = '';
  let pollAfterS = 60;
  let nextPollAt = 0;
  let pollTimer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let requestSeq = 0;
  // Per page view: items whose impression was counted, and whether something auto-showed.
  let impressed = new Set<string>();
  let autoShown = false;
  // Items the user opened the feed on, in case a poll answers before the `open` event lands.
  const seenHere = new Set<string>();
  const unreadListeners: ((count: number) => void)[] = [];

  const locale = () => user?.locale || config.locale || navigator.language || 'en';
  const who = (): Record<string, unknown> =>
    user?.user_id ? { user_id: user.user_id, user_hash: user.user_hash } : { anonymous_id: anonymousId };
  const dismissedKey = () => 'dismissed:' + (user?.user_id ? 'u' + user.user_id : anonymousId);
  const url = (path: string, params?: Record<string, unknown>) => {
    const u = new URL('/v1/widget/' + path, base);
    const all: Record<string, unknown> = { key, ...params };
    for (const name in all) if (all[name] != null) u.searchParams.set(name, all[name] as string);
    return u.href;
  };
  const events = createEventQueue(() => url('events'), who);
  const track = (type: TrackedEvent['type'], item?: Item, surface?: Display, value?: Reaction) =>
    events.track(type, { announcement_id: item?.id, surface, value });

  // ---- DOM: <tidings-widget> with an open shadow root, styles adopted or nonce'd ----------
  const shadowHost = (tag: string, className: string) => {
    const el = document.createElement(tag);
    const root = el.attachShadow({ mode: 'open' });
    const inner = h('div', { class: className });
    if (root.adoptedStyleSheets) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      root.adoptedStyleSheets = [sheet];
    } else root.append(h('style', { nonce: config.nonce }, css));
    root.append(inner);
    return [el, root, inner] as const;
  };
  const [host, root, wrap] = shadowHost('tidings-widget', 'w');
  const position = config.position.split('-');
  wrap.classList.add(position[0] == 'top' ? 'T' : 'B', position[1] == 'left' ? 'L' : 'R');

  const badge = h('span', { class: 'b', 'aria-hidden': 'true' });
  const launcher = trigger
    ? null
    : h('button', { class: 'l p', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', click: () => toggle() });
  if (launcher) {
    launcher.innerHTML = BELL;
    launcher.append(badge);
    wrap.append(launcher);
  }
  // With data-trigger, the host's own element (found when clicked, so it may render late)
  // gets a badge of its own, isolated in its own shadow root.
  let opener: HTMLElement | null = launcher;
  const triggerBadges = new Map<Element, HTMLElement>();

  let feedPanel: HTMLElement | null = null;
  let autoEl: HTMLElement | null = null;
  let autoDismiss: (() => void) | null = null;
  let autoItem: Item | null = null;
  let isModal = false;
  let headingSeq = 0;

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
  const observed = new WeakMap<Element, [Item, Display]>();
  const unobserve = (el: Element) =>
    el.querySelectorAll('article').forEach((article) => intersections?.unobserve(article));

  const t = () => uiStrings(locale());

  const render = () => {
    const [name, unreadLabel] = t();
    if (!host.isConnected) document.body.append(host);
    host.setAttribute('lang', locale());
    const count = unread > 9 ? '9+' : unread ? '' + unread : '';
    const label = name + (unread ? ', ' + unreadLabel.replace('{n}', '' + unread) : '');
    badge.textContent = count;
    badge.hidden = !count;
    launcher?.setAttribute('aria-label', label);
    if (trigger) {
      document.querySelectorAll(trigger).forEach((el) => {
        let b = triggerBadges.get(el);
        if (!b) {
          const [badgeHost, , inner] = shadowHost('tidings-badge', 'w g');
          triggerBadges.set(el, (b = inner));
          el.append(badgeHost);
        }
        b.replaceChildren(...(count ? [h('span', { class: 'b', 'aria-hidden': 'true' }, count)] : []));
        // Part of the host button's accessible name: "What's new, 3 unread".
        if (unread) b.append(h('span', { class: 'v' }, ', ' + unreadLabel.replace('{n}', '' + unread)));
      });
    }
  };

  const setUnread = (count: number, always?: boolean) => {
    if (count != unread || always) {
      unread = count;
      unreadListeners.forEach((listener) => listener(count));
    }
    render();
  };

  const dismissedHere = (): string[] => load(dismissedKey(), []);

  // ---- One announcement as an <article> headed by its title --------------------------------
  const article = (item: Item, surface: Display, onDismiss?: () => void, onClick?: () => void) => {
    const [, , dismiss, ...reactionLabels] = t();
    const headingId = 'h' + ++headingSeq;
    const body = h('div', { class: 'y' });
    body.innerHTML = item.body_html; // sanitized by the server (allowlist) at write time
    let date = '';
    try {
      date = new Date(item.published_at).toLocaleDateString(locale(), { dateStyle: 'medium' });
    } catch {
      // An unknown locale tag or date: no date rather than no item.
    }
    const reactions =
      surface == 'feed' &&
      h(
        'div',
        { class: 'r' },
        ...REACTIONS.map((value, i) =>
          h(
            'button',
            {
              'aria-label': reactionLabels[i],
              'aria-pressed': item.reaction == value,
              click: (event: Event) => {
                item.reaction = value;
                (event.currentTarget as Element).parentElement!.querySelectorAll('button').forEach((b, j) =>
                  b.setAttribute('aria-pressed', '' + (j == i)),
                );
                track('reaction', item, surface, value);
              },
            },
            FACES[i],
          ),
        ),
      );
    const el = h(
      'article',
      { class: surface == 'feed' && !item.seen ? 'i n' : 'i', 'aria-labelledby': headingId },
      onDismiss && h('button', { class: 'x', 'aria-label': dismiss, click: onDismiss }, '\u00d7'),
      item.image_url && h('img', { src: item.image_url, alt: '' }),
      h('div', { class: 'k' }, h('span', 0, item.category), h('time', { datetime: item.published_at }, date)),
      h('h3', { id: headingId }, item.title),
      body,
      item.cta &&
        h(
          'a',
          {
            class: 'c',
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
    observed.set(el, [item, surface]);
    intersections?.observe(el);
    return el;
  };

  // ---- Focus: into what opens, back to the launcher (or the host's trigger) ----------------
  const focusables = (el: Element) => [...el.querySelectorAll<HTMLElement>('a[href],button')];
  // Remove a panel; if the focus was in it, hand it back to the launcher (or trigger).
  const remove = (el: HTMLElement) => {
    unobserve(el);
    const hadFocus = el.contains(root.activeElement);
    el.remove();
    if (hadFocus) opener?.focus();
  };

  // ---- The feed panel ----------------------------------------------------------------------
  const open = () => {
    if (feedPanel || stopped) return;
    if (!loaded) {
      wantOpen = true;
      return;
    }
    // The feed opens in the popover's corner, and lists that item anyway.
    if (autoItem?.display == 'popover') hideAuto();
    const [name, , dismiss, , , , empty] = t();
    feedPanel = h(
      'div',
      { class: 'o p f', role: 'dialog', 'aria-label': name, tabindex: -1 },
      h('div', { class: 'h' }, h('h2', 0, name), h('button', { class: 'x', 'aria-label': dismiss, click: () => close() }, '\u00d7')),
      h('div', { class: 's' }, ...(items.length ? items.map((item) => article(item, 'feed')) : [h('p', { class: 'e' }, empty)])),
    );
    wrap.append(feedPanel);
    feedPanel.focus();
    setExpanded(true);
    track('open');
    items.forEach((item) => seenHere.add(item.id));
    items.forEach((item) => (item.seen = true));
    setUnread(0);
  };

  const close = () => {
    wantOpen = false;
    if (!feedPanel) return;
    remove(feedPanel);
    feedPanel = null;
    setExpanded(false);
  };

  const toggle = () => (feedPanel ? close() : open());

  const setExpanded = (expanded: boolean) => {
    opener?.setAttribute('aria-expanded', '' + expanded);
  };

  // ---- Popover, banner, modal: auto-shown once per page view -------------------------------
  const hideAuto = () => {
    if (!autoEl) return;
    remove(autoEl);
    autoEl = autoDismiss = autoItem = null;
    isModal = false;
  };

  const autoShow = () => {
    if (autoShown || !loaded) return;
    const dismissed = dismissedHere();
    const item = items.find(
      (i) =>
        i.display != 'feed' &&
        i.auto_show &&
        !i.dismissed &&
        !dismissed.includes(i.id) &&
        matchesPages(i.pages, location.pathname),
    );
    if (!item) return;
    autoShown = true;
    autoItem = item;
    const surface = item.display;
    autoDismiss = () => {
      item.dismissed = true;
      // Remembered here too, so it cannot flash back before the server has the event.
      save(dismissedKey(), [item.id, ...dismissedHere()].slice(0, 100));
      track('dismiss', item, surface);
      hideAuto();
    };
    const el = article(item, surface, autoDismiss, hideAuto);
    isModal = surface == 'modal';
    autoEl = isModal
      ? h('div', { class: 'd' }, h('div', { class: 'm', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'h' + headingSeq }, el))
      : h('div', { class: surface == 'banner' ? 'u' : 'o p' }, el);
    wrap.append(autoEl);
    if (isModal) focusables(autoEl)[0].focus();
  };

  // ---- Talking to the API ------------------------------------------------------------------
  const schedule = (ms: number) => {
    nextPollAt = Date.now() + ms;
    clearTimeout(pollTimer);
    if (!stopped && !document.hidden) pollTimer = setTimeout(refresh, ms);
  };

  const refresh = async (identify?: boolean) => {
    const seq = ++requestSeq;
    clearTimeout(pollTimer);
    let delayS: number;
    try {
      const response = await (identify
        ? fetch(url('identify'), {
            method: 'POST',
            body: JSON.stringify({
              ...who(),
              anonymous_id: anonymousId,
              locale: locale(),
              attributes: user!.attributes,
            }),
          })
        : fetch(url('announcements', { ...who(), locale: locale() }), {
            headers: etag ? { 'If-None-Match': etag } : {},
          }));
      if (response.status != 304) {
        if (!response.ok) throw 0;
        const feed: Feed = await response.json();
        if (seq != requestSeq || stopped) return;
        etag = response.headers.get('ETag') || '';
        apply(feed);
      }
      failures = 0;
      delayS = Math.max(MIN_POLL_S, pollAfterS);
    } catch {
      // Down, refused or garbled: back off (5 s doubling to 5 min) with jitter, quietly.
      delayS = Math.min(300, 5 * 2 ** failures++) * (0.5 + Math.random());
    }
    if (seq == requestSeq) schedule(delayS * 1000);
  };

  const apply = (feed: Feed) => {
    const first = !loaded;
    items = feed.announcements;
    pollAfterS = feed.poll_after_s || pollAfterS;
    loaded = true;
    setUnread(Math.max(0, feed.unread_count - items.filter((i) => !i.seen && seenHere.has(i.id)).length), first);
    if (wantOpen) {
      wantOpen = false;
      open();
    }
    autoShow();
  };

  // ---- Browser events ----------------------------------------------------------------------
  listen(root, 'keydown', (event: KeyboardEvent) => {
    if (event.key == 'Escape') {
      if (isModal) autoDismiss!();
      else if (feedPanel) close();
      else if (autoEl?.contains(root.activeElement)) autoDismiss!();
    } else if (event.key == 'Tab' && isModal) {
      // Focus stays inside a modal: wrap around at both ends.
      const all = focusables(autoEl!);
      const index = all.indexOf(root.activeElement as HTMLElement);
      const next = event.shiftKey ? (index <= 0 ? all.length - 1 : -1) : index == all.length - 1 ? 0 : -1;
      if (next >= 0) {
        event.preventDefault();
        all[next].focus();
      }
    }
  });
  // Capture phase: the host's own handlers cannot stop it from seeing its trigger clicked.
  listen(document, 'click', (event: MouseEvent) => {
    if (stopped) return;
    const hit = trigger && (event.target as Element).closest?.(trigger);
    if (hit) {
      event.preventDefault();
      opener = hit as HTMLElement;
      toggle();
    } else if (feedPanel && !event.composedPath().includes(host)) close();
  }, true);
  listen(document, 'visibilitychange', () => {
    if (stopped) return;
    if (document.hidden) {
      clearTimeout(pollTimer);
      events.flush();
    } else schedule(Math.max(0, nextPollAt - Date.now()));
  });
  listen(window, 'pagehide', () => stopped || events.beacon());
  // Single-page apps: a new route is a new page view (pages globs, impressions).
  const routeChanged = () => {
    if (stopped) return;
    impressed = new Set();
    if (autoItem && !matchesPages(autoItem.pages, location.pathname)) hideAuto();
    autoShown = !!autoEl;
    autoShow();
  };
  listen(window, 'popstate', routeChanged);
  const navigation = (window as unknown as { navigation?: EventTarget }).navigation;
  if (navigation) listen(navigation, 'navigatesuccess', routeChanged);

  // ---- Start -------------------------------------------------------------------------------
  const begin = () => {
    started = true;
    render();
    refresh(!!user);
  };
  document.body ? begin() : listen(document, 'DOMContentLoaded', begin);

  return {
    identify(identity) {
      const next = asUser(identity);
      const changed = next.user_id != user?.user_id;
      if (changed) events.flush();
      user = next;
      etag = '';
      if (started) refresh(true);
      if (changed) {
        hideAuto();
        autoShown = false;
      }
    },
    open,
    close,
    onUnread(listener) {
      unreadListeners.push(listener);
      if (loaded) listener(unread);
    },
    shutdown() {
      events.beacon();
      stopped = true;
      clearTimeout(pollTimer);
      close();
      hideAuto();
      host.remove();
      triggerBadges.forEach((b) => (b.getRootNode() as ShadowRoot).host.remove());
    },
  };
};
