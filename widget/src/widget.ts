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
import { adopt, spacer } from './dom';
import { launcherStrings } from './i18n';
import { apiUrl } from './transport';
import type { Config, Feed, Identity, Shell, Ui } from './types';
import { guard, listen, load, save, setAttributes, uuid } from './util';

/** The UI chunk's content hash, built in. */
declare const UI_VERSION: string;

/** The bell, both strokes in one path. */
const BELL = 'M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9M10.3 21a1.94 1.94 0 0 0 3.4 0';
const MIN_POLL_S = 5;

export interface Widget {
  identify_(identity: Identity): void;
  open_(): void;
  close_(): void;
  /** A listener joined: tell it the count now if it is known. */
  onUnread_(listener: (count: number) => void): void;
  /** data-theme or tidings('theme') changed. */
  theme_(): void;
  shutdown_(): void;
}

const asUser = (identity: Identity | null): Identity | null =>
  identity && {
    ...identity,
    user_id: identity.user_id == null ? undefined : '' + identity.user_id,
    attributes: identity.attributes || {},
  };

export const startWidget = (
  config: Config,
  identity: Identity | null,
  unreadListeners: ((count: number) => void)[],
): Widget => {
  const anonymousId: string = load('aid', '') || uuid();
  save('aid', anonymousId);

  let user = asUser(identity);
  let isStarted = false;
  let isStopped = false;
  let ui: Ui | null = null;
  // Items the user opened the feed on, in case a poll answers before the `open` event lands.
  const seenHere = new Set<string>();

  // Push mode, top: the space the banner took on this page last time (or on every page,
  // when it shows on all), reserved at once. Run before the first paint (a synchronous
  // script in <head>), the banner later takes it without moving anything.
  const banner = config.banner || '';
  const spaces: Record<string, number> = /push/.test(banner) && !/bottom/.test(banner) ? load('push', {}) : {};
  const reservedHeight = spaces[location.pathname] || spaces['*'];

  const host = document.createElement('tidings-widget');
  const root = host.attachShadow({ mode: 'open' });
  adopt(root, css, config.nonce_);
  const [vertical, horizontal] = (config.position || 'bottom-right').split('-');
  const layer = root.appendChild(
    setAttributes(document.createElement('div'), {
      class: `tw-layer ${vertical == 'top' ? 'tw-top' : 'tw-bottom'} ${horizontal == 'left' ? 'tw-left' : 'tw-right'}`,
    }),
  );
  const toggle = () => (ui?.isOpen_() ? close() : open());
  // With data-trigger the host's element takes the launcher's place, and the badges
  // pinned to it are the UI chunk's (fetched once there is a count to pin).
  const badge = setAttributes(document.createElement('span'), { class: 'tw-badge', 'aria-hidden': 'true' });
  let launcher: HTMLElement | undefined;
  if (!config.trigger) {
    const svg = 'http://www.w3.org/2000/svg';
    const bell = setAttributes(document.createElementNS(svg, 'svg'), { viewBox: '0 0 24 24', 'aria-hidden': 'true' });
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
  const pinsBadges = config.trigger && config.badge != 'none';

  const locale = () => user?.locale || config.locale || navigator.language || 'en';
  const who = (): Record<string, unknown> =>
    user?.user_id ? { user_id: user.user_id, user_hash: user.user_hash } : { anonymous_id: anonymousId };

  // The badge: a count on the launcher (or the trigger), and the host's listeners.
  const setUnread = (count: number, always?: boolean) => {
    if (count != shell.unread_ || always) {
      shell.unread_ = count;
      unreadListeners.forEach((listener) => listener(count));
    }
    count = shell.unread_;
    if (!host.isConnected) document.body.append(host);
    host.setAttribute('lang', locale());
    const [name, unreadLabel] = launcherStrings(locale());
    badge.textContent = count > 9 ? '9+' : ((count || '') as string);
    badge.hidden = !count || config.badge == 'none';
    launcher?.setAttribute('aria-label', name + (count ? ', ' + unreadLabel.replace('{n}', '' + count) : ''));
    if (pinsBadges && (ui || count)) withUi((loaded) => loaded.badge_());
  };

  // The theme: the host's choice, or the OS's.
  const darkScheme = matchMedia('(prefers-color-scheme: dark)');
  const applyTheme = () =>
    host.setAttribute('theme', config.theme == 'dark' || (config.theme != 'light' && darkScheme.matches) ? 'dark' : 'light');
  listen(darkScheme, 'change', applyTheme);
  applyTheme();

  // The poller's state.
  let etag = '';
  let pollAfterS = 60;
  let nextPollAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let sequence = 0;

  const schedule = (ms: number) => {
    nextPollAt = Date.now() + ms;
    clearTimeout(timer);
    if (!isStopped && !document.hidden) timer = setTimeout(refresh, ms);
  };

  /** Asks for the feed now: `identify` POSTs the user's attributes (answered with the feed). */
  const refresh = async (identify?: boolean): Promise<void> => {
    const mine = ++sequence;
    // Set while the request is on its way: no answer at all (down, or refused by CORS).
    let unreached = false;
    let delayS: number;
    clearTimeout(timer);
    try {
      const request = fetch(
        identify ? apiUrl(config, 'identify') : shell.feedUrl_(),
        identify
          ? {
              method: 'POST',
              body: JSON.stringify({ ...who(), anonymous_id: anonymousId, locale: locale(), attributes: user!.attributes }),
            }
          : { headers: etag ? { 'If-None-Match': etag } : {} },
      );
      unreached = true;
      const response = await request;
      unreached = false;
      if (response.status != 304) {
        if (!response.ok) throw 0;
        const feed: Feed = await response.json();
        if (mine != sequence || isStopped) return;
        etag = response.headers.get('ETag') || '';
        pollAfterS = feed.poll_after_s || pollAfterS;
        const first = !shell.isLoaded_;
        const items = (shell.items_ = feed.announcements);
        shell.isFailing_ = false;
        shell.isLoaded_ = true;
        shell.changelog_ = feed.changelog_url;
        setUnread(Math.max(0, feed.unread_count - items.filter((i) => !i.seen && seenHere.has(i.id)).length), first);
        // Popovers, banners, modals: the chunk decides, once something could show.
        ui
          ? ui.update_()
          : items.some((i) => i.display != 'feed' && i.auto_show && !i.dismissed)
            ? withUi((loaded) => loaded.update_())
            : release(true);
      }
      failures = 0;
      delayS = Math.max(MIN_POLL_S, pollAfterS);
    } catch {
      // Down, refused or garbled: back off (5 s doubling to 5 min) with jitter, quietly;
      // steadily every 5 s while someone is looking at "retrying".
      delayS =
        ui?.isOpen_() && !shell.isLoaded_ ? MIN_POLL_S : Math.min(300, 5 * 2 ** failures++) * (0.5 + Math.random());
      if (mine == sequence && !isStopped) {
        shell.isFailing_ = true;
        // A dead server leaves the page as it was.
        release();
        ui?.update_();
        // The chunk tells a server that is down from one that refuses this origin.
        if (unreached) withUi((loaded) => loaded.explain_());
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
    isLoaded_: false,
    isFailing_: false,
    opener_: launcher || null,
    reserved_: reservedHeight ? spacer(reservedHeight) : null,
    locale_: locale,
    who_: who,
    feedUrl_: () => apiUrl(config, 'announcements', { ...who(), locale: locale() }),
    // The failure state stays up while asking again: it already says "retrying".
    retry_: () => refresh(!!user),
    markSeen_() {
      shell.items_.forEach((item) => (seenHere.add(item.id), (item.seen = true)));
      setUnread(0);
    },
    // Another request got through: if the feed was failing, ask again now.
    succeeded_() {
      if (failures && !isStopped) {
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
      if (forget) save('push', {});
    }
  };

  // The UI chunk, imported once; after a failure, again on the next use, from another URL
  // (a browser may remember a failed module fetch). `import()` inherits the loader's nonce
  // under 'strict-dynamic'.
  let loading: Promise<Ui | null> | null = null;
  let chunkFailures = 0;
  /** Runs `then` with the UI, importing it first if need be (never after a shutdown). */
  const withUi = (then: (ui: Ui) => void) =>
    (loading ||= import(config.base_ + '/widget/' + UI_VERSION + '.js' + (chunkFailures ? '?' + chunkFailures : '')).then(
      (chunk: { mountUi(shell: Shell): Ui }) => chunk.mountUi(shell),
      () => {
        chunkFailures++;
        loading = null;
        return null;
      },
    )).then(guard((loaded: Ui | null) => isStopped || (loaded ? then((ui = loaded)) : release())));

  // The feed panel is the chunk's. A close while the chunk is on its way wins.
  let openings = 0;
  const open = () => {
    const mine = ++openings;
    isStopped || withUi((loaded) => mine == openings && loaded.open_());
  };
  const close = () => {
    openings++;
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
  listen(
    document,
    'visibilitychange',
    () => isStopped || (document.hidden ? clearTimeout(timer) : schedule(Math.max(0, nextPollAt - Date.now()))),
  );

  const begin = () => {
    isStarted = true;
    setUnread(0);
    refresh(!!user);
  };
  document.body ? begin() : listen(document, 'DOMContentLoaded', begin);

  return {
    identify_(identity) {
      const next = asUser(identity)!;
      if (next.user_id != user?.user_id) ui?.switchUser_();
      user = next;
      etag = '';
      if (isStarted) refresh(true);
    },
    open_: open,
    close_: close,
    onUnread_: (listener) => shell.isLoaded_ && listener(shell.unread_),
    theme_: applyTheme,
    shutdown_() {
      ui?.shutdown_();
      isStopped = true;
      clearTimeout(timer);
      openings++;
      host.remove();
      release();
    },
  };
};
