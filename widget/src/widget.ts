// One running widget, as the loader sees it: who the user is, the feed and its polling,
// the launcher and its badge, the theme, and the UI chunk (the feed panel, items, the
// badges pinned to a host's trigger, popovers, banners, modals, events), imported from
// /widget/<its hash>.js on the first open or the first auto-show.
//
// Polling honours `poll_after_s` and the ETag, pauses while the tab is hidden, backs off
// with jitter on errors, and returns to its normal schedule as soon as any request gets
// through. It lives in the same closure as the rest (not behind an interface of its own):
// the first load is what every host page pays for.
import css from './widget.css';
import { spacer } from './dom';
import { launcherStrings } from './i18n';
import { apiUrl } from './transport';
import type { Config, Feed, Identity, Shell, Ui } from './types';
import { guard, listen, setAttributes, store, uuid } from './util';

/** The UI chunk's content hash, built in. */
declare const UI_VERSION: string;

/** The bell, both strokes in one path. */
const BELL = 'M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0';

/** The public API's commands for one widget's lifetime (see index.ts). */
export type Commands = Record<string, (...args: any[]) => unknown>;

export const startWidget = (
  config: Config,
  identity: Identity | undefined,
  unreadListeners: ((count: number) => void)[],
  /** Starts afresh: `identify` after a shutdown (a logout, then a login). */
  restart: (identity: Identity) => void,
): Commands => {
  const anonymousId: string = store('aid') || store('aid', uuid())!;

  let user = identity;
  let isStopped = false;
  let ui: Ui | undefined;

  // Push mode, top: the space the banner took on this page last time (or on every page,
  // when it shows on all), reserved at once, but only before <body> exists (a synchronous
  // script in <head>: before the first paint): the banner later takes it without moving
  // anything. Run later, reserving would move painted content: the banner lies over it.
  const banner = config.banner!;
  const spaces: Record<string, number> = ((!document.body && /push/.test(banner) && !/bottom/.test(banner) && store('push')) || {});
  const reservedHeight = spaces[location.pathname] || spaces['*'];

  const host = document.createElement('tidings-widget');
  const root = host.attachShadow({ mode: 'open' });
  // A new root: its sheet is the only one (the chunk's `adopt` adds its own after it).
  if (root.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [sheet];
  } else root.append(Object.assign(document.createElement('style'), { nonce: config.nonce_, textContent: css }));
  // data-position: bottom-right (also when absent: /top/ never matches "undefined").
  const position = config.position!;
  const layer = root.appendChild(
    setAttributes(document.createElement('div'), {
      class: `tw-layer ${/top/.test(position) ? 'tw-top' : 'tw-bottom'} ${/left/.test(position) ? 'tw-left' : 'tw-right'}`,
    }),
  );
  const toggle = () => (ui?.isOpen_() ? close() : open());
  // With data-trigger the host's element takes the launcher's place, and the badges
  // pinned to it are the UI chunk's (fetched once there is a count to pin).
  const badge = setAttributes(document.createElement('span'), { class: 'tw-badge', 'aria-hidden': 'true' });
  let launcher: HTMLElement | undefined;
  if (!config.trigger) {
    const svg = 'http://www.w3.org/2000/svg';
    // 24 px wide (widget.css) and drawn on a 24-unit grid: no viewBox needed.
    const bell = setAttributes(document.createElementNS(svg, 'svg'), { 'aria-hidden': 'true' });
    bell.append(setAttributes(document.createElementNS(svg, 'path'), { d: BELL }));
    launcher = setAttributes(document.createElement('button'), {
      class: 'tw-launcher tw-fixed',
      'aria-haspopup': 'dialog',
      'aria-expanded': 'false',
    });
    launcher.append(bell, badge);
    listen(launcher, 'click', toggle);
    layer.append(launcher);
  }

  const locale = () => user?.locale || config.locale || navigator.language || 'en';
  // A user_id as the server wants it: a string ('' and none: anonymous).
  const who = (id = '' + (user?.user_id ?? '')): Record<string, unknown> =>
    id ? { user_id: id, user_hash: user!.user_hash } : { anonymous_id: anonymousId };

  // The badge: a count on the launcher (or the trigger), and the host's listeners.
  const setUnread = (count: number, always?: boolean) => {
    if (count != shell.unread_ || always) {
      shell.unread_ = count;
      unreadListeners.forEach((listener) => listener(count));
    }
    if (!host.isConnected) document.body.append(host);
    host.lang = locale();
    const [name, unreadLabel] = launcherStrings(locale());
    badge.textContent = count > 9 ? '9+' : ((count || '') as string);
    badge.hidden = !count || config.badge == 'none';
    launcher?.setAttribute('aria-label', name + (count ? ', ' + unreadLabel.replace('{n}', '' + count) : ''));
    if (config.trigger && config.badge != 'none' && (ui || count)) withUi((loaded) => loaded.badge_());
  };

  // The theme: the host's choice (`light`, `dark`), or `auto`, which the styles resolve
  // with prefers-color-scheme (no script has to follow the OS's changes).
  const applyTheme = () => host.setAttribute('theme', config.theme || 'auto');
  applyTheme();

  // The poller's state.
  let etag = '';
  let pollAfterS = 60;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let sequence = 0;
  // The next poll came due while the tab was hidden: it runs when the tab shows again.
  let isDue = false;

  const schedule = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(() => (document.hidden ? (isDue = true) : refresh()), ms);
  };

  /** Asks for the feed now: `identify` POSTs the user's attributes (answered with the feed). */
  const refresh = async (identify?: boolean): Promise<void> => {
    if (isStopped) return;
    const mine = ++sequence;
    isDue = false;
    // Unset when the request got no answer at all (down, or refused by CORS).
    let response: Response | undefined;
    let delayS: number;
    clearTimeout(timer);
    try {
      response = await fetch(
        identify ? apiUrl(config, 'identify') : shell.feedUrl_(),
        identify
          ? {
              method: 'POST',
              body: JSON.stringify({ ...who(), anonymous_id: anonymousId, locale: locale(), attributes: user!.attributes }),
            }
          : { headers: etag ? { 'If-None-Match': etag } : {} },
      );
      if (response.status != 304) {
        if (!response.ok) throw 0;
        const feed: Feed = await response.json();
        if (mine != sequence || isStopped) return;
        etag = response.headers.get('ETag') || '';
        pollAfterS = feed.poll_after_s || pollAfterS;
        const first = !shell.feed_;
        const items = (shell.items_ = (shell.feed_ = feed).announcements);
        shell.isFailing_ = false;
        setUnread(ui ? ui.unread_(feed) : feed.unread_count, first);
        // Popovers, banners, modals: the chunk decides, once something could show (the
        // server never sets auto_show on a feed item: docs/widget-api.md).
        ui ? ui.update_() : items.some((i) => i.auto_show && !i.dismissed) ? withUi((loaded) => loaded.update_()) : release(true);
      }
      failures = 0;
      // Never more often than every 5 s.
      delayS = Math.max(5, pollAfterS);
    } catch {
      // Down, refused or garbled: back off (5 s doubling to 5 min) with jitter, quietly (the
      // panel's "retrying" asks every 5 s itself while it shows).
      delayS = Math.min(300, 5 * 2 ** failures++) * (0.5 + Math.random());
      if (mine == sequence && !isStopped) {
        shell.isFailing_ = true;
        // A dead server leaves the page as it was.
        release();
        ui?.update_();
        // The chunk tells a server that is down from one that refuses this origin.
        if (!response) withUi((loaded) => loaded.explain_());
      }
    }
    if (mine == sequence) schedule(delayS * 1000);
  };

  // What the UI chunk shares: the state and a few services.
  const shell: Shell = {
    root_: root,
    layer_: layer,
    config_: config,
    items_: [],
    unread_: 0,
    isFailing_: false,
    opener_: launcher,
    reserved_: reservedHeight ? spacer(reservedHeight) : null,
    locale_: locale,
    who_: who,
    feedUrl_: () => apiUrl(config, 'announcements', { ...who(), locale: locale() }),
    // The failure state stays up while asking again: it already says "retrying".
    retry_: () => refresh(!!user),
    setUnread_: setUnread,
    // Another request got through: if the feed was failing, ask again now.
    succeeded_() {
      if (failures) {
        failures = 0;
        refresh();
      }
    },
  };

  /** Gives the reserved space back (no banner is coming to take it); `forget`: for good. */
  const release = (forget?: boolean) => {
    if (shell.reserved_) {
      shell.reserved_.remove();
      shell.reserved_ = null;
      if (forget) store('push', {});
    }
  };

  // The UI chunk, imported once (from /widget/<hash>.js?0); after a failure, again on the
  // next use, from another URL (?1, ?2 ...: a browser may remember a failed module fetch). `import()` inherits the loader's nonce
  // under 'strict-dynamic'.
  let loading: Promise<Ui | null> | undefined;
  let chunkFailures = 0;
  /** Runs `then` with the UI, importing it first if need be (never after a shutdown). */
  const withUi = (then: (ui: Ui) => void) =>
    (loading ||= import(config.base_ + '/widget/' + UI_VERSION + '.js?' + chunkFailures).then(
      (chunk: { mountUi(shell: Shell): Ui }) => chunk.mountUi(shell),
      () => {
        chunkFailures++;
        loading = undefined;
        return null;
      },
    )).then(guard((loaded: Ui | null) => isStopped || (loaded ? then((ui = loaded)) : release())));

  // The feed panel is the chunk's. A close while the chunk is on its way wins (opening
  // twice opens once).
  let wantsOpen = false;
  const open = () => {
    wantsOpen = true;
    isStopped || withUi((loaded) => wantsOpen && loaded.open_());
  };
  const close = () => {
    wantsOpen = false;
    ui?.close_();
  };

  // Capture phase: the host's own handlers cannot stop it from seeing its trigger clicked.
  listen(
    document,
    'click',
    (event: MouseEvent) => {
      const hit = !isStopped && config.trigger && (event.target as Element).closest?.(config.trigger);
      if (hit) {
        event.preventDefault();
        shell.opener_ = hit as HTMLElement;
        toggle();
      }
    },
    true,
  );
  // Not while the tab is hidden; at once (if due) when it shows again.
  listen(document, 'visibilitychange', () => isDue && !document.hidden && refresh());

  // After the loader's script has run (its queued commands replayed, `identify` first, so
  // that the first request already carries the user), or once there is a <body>.
  const begin = () => {
    if (isStopped) return;
    setUnread(0);
    refresh(!!user);
  };
  document.body ? queueMicrotask(guard(begin)) : listen(document, 'DOMContentLoaded', begin);

  return {
    identify(next: Identity) {
      if (isStopped) return restart(next);
      if (next.user_id != user?.user_id) ui?.switchUser_();
      user = next;
      etag = '';
      // Before the widget began, its first request will carry the user.
      if (sequence) refresh(true);
    },
    open,
    close,
    // Told the count at once if it is known. A listener that is not a function throws
    // inside `guard`, each time, harmlessly.
    on: (event: string, listener: (count: number) => void) =>
      event == 'unread' &&
      (unreadListeners.push((listener = guard(listener))), !isStopped && shell.feed_ && listener(shell.unread_)),
    theme: (theme: string) => /^(light|dark|auto)$/.test(theme) && ((config.theme = theme), applyTheme()),
    shutdown() {
      if (isStopped) return;
      ui?.shutdown_();
      isStopped = true;
      host.remove();
      release();
    },
  };
};
