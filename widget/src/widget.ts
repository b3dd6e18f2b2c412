// One running widget, as the loader sees it: who the user is, the feed and its poller,
// the launcher and badge, and the UI chunk (the feed panel, items, popovers, banners,
// modals, events), imported on the first open or the first auto-show.
import css from './widget.css';
import { chunkLoader } from './chunk';
import { shadowHost } from './dom';
import { launcherStrings } from './i18n';
import { createLauncher } from './launcher';
import { apiUrl, createPoller } from './transport';
import type { Config, Identity, Shell, Theme, Ui } from './types';
import { guard, listen, load, save, uuid } from './util';

export interface Widget {
  identify(identity: Identity): void;
  open(): void;
  close(): void;
  /** A listener joined: tell it the count now if it is known. */
  onUnread(listener: (count: number) => void): void;
  theme(theme: Theme): void;
  shutdown(): void;
}

const asUser = (identity: Identity | null): Identity | null =>
  identity && {
    user_id: identity.user_id == null ? undefined : '' + identity.user_id,
    user_hash: identity.user_hash,
    locale: identity.locale,
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
  let unread = 0;
  let isStarted = false;
  let isStopped = false;
  let ui: Ui | null = null;
  // Items the user opened the feed on, in case a poll answers before the `open` event lands.
  const seenHere = new Set<string>();

  const [host, root, layer] = shadowHost('tidings-widget', 'tw-layer', css, config.nonce);
  const [vertical, horizontal] = (config.position || 'bottom-right').split('-');
  layer.classList.add(vertical == 'top' ? 'tw-top' : 'tw-bottom', horizontal == 'left' ? 'tw-left' : 'tw-right');
  const toggle = () => (ui?.isOpen() ? close() : open());
  const launcher = createLauncher(layer, config, css, toggle);

  const locale = () => user?.locale || config.locale || navigator.language || 'en';
  const who = (): Record<string, unknown> =>
    user?.user_id ? { user_id: user.user_id, user_hash: user.user_hash } : { anonymous_id: anonymousId };

  // The badge: a count on the launcher (or the trigger), and the host's listeners.
  const setUnread = (count: number, always?: boolean) => {
    if (count != unread || always) {
      unread = count;
      unreadListeners.forEach((listener) => listener(count));
    }
    if (!host.isConnected) document.body.append(host);
    host.setAttribute('lang', locale());
    launcher.render(unread, launcherStrings(locale()));
  };

  // The theme: the host's choice, or the OS's.
  const darkScheme = matchMedia('(prefers-color-scheme: dark)');
  const applyTheme = () =>
    host.setAttribute('theme', config.theme == 'dark' || (config.theme != 'light' && darkScheme.matches) ? 'dark' : 'light');
  listen(darkScheme, 'change', applyTheme);
  applyTheme();

  // What the UI chunk shares: the state and a few services.
  const shell: Shell = {
    root,
    layer,
    config,
    items: [],
    isLoaded: false,
    isFailing: false,
    opener: launcher.button,
    locale,
    who,
    // The failure state stays up while asking again: it already says "retrying".
    retry: () => poller.refresh(!!user),
    markSeen() {
      shell.items.forEach((item) => (seenHere.add(item.id), (item.seen = true)));
      setUnread(0);
    },
    succeeded: () => poller.succeeded(),
  };
  const loadUi = chunkLoader(shell);
  /** Runs `then` with the UI, importing it first if need be (never after a shutdown). */
  const withUi = (then: (ui: Ui) => void) =>
    loadUi().then(guard((loaded) => loaded && !isStopped && then((ui = loaded))));

  // The feed panel is the chunk's. A close while the chunk is on its way wins.
  let openings = 0;
  const open = () => {
    const mine = ++openings;
    isStopped || withUi((loaded) => mine == openings && loaded.open());
  };
  const close = () => {
    openings++;
    ui?.close();
  };

  // Popovers, banners, modals: the chunk decides, once something could show.
  const update = () =>
    ui
      ? ui.update()
      : shell.items.some((i) => i.display != 'feed' && i.auto_show && !i.dismissed) && withUi((loaded) => loaded.update());

  const poller = createPoller(config, {
    feedUrl: () => apiUrl(config, 'announcements', { ...who(), locale: locale() }),
    identifyBody: () =>
      JSON.stringify({ ...who(), anonymous_id: anonymousId, locale: locale(), attributes: user!.attributes }),
    apply(feed) {
      const first = !shell.isLoaded;
      const items = (shell.items = feed.announcements);
      shell.isFailing = false;
      shell.isLoaded = true;
      shell.changelogUrl = config.changelogUrl || feed.changelog_url;
      setUnread(Math.max(0, feed.unread_count - items.filter((i) => !i.seen && seenHere.has(i.id)).length), first);
      update();
    },
    failed() {
      shell.isFailing = true;
      ui?.update();
    },
    isWaiting: () => !!ui?.isOpen() && !shell.isLoaded,
  });

  // Capture phase: the host's own handlers cannot stop it from seeing its trigger clicked.
  listen(
    document,
    'click',
    (event: MouseEvent) => {
      const hit = !isStopped && config.trigger && (event.target as Element).closest?.(config.trigger);
      if (hit) {
        event.preventDefault();
        shell.opener = hit as HTMLElement;
        toggle();
      }
    },
    true,
  );
  listen(document, 'visibilitychange', () => isStopped || (document.hidden ? poller.pause() : poller.resume()));

  const begin = () => {
    isStarted = true;
    setUnread(0);
    poller.refresh(!!user);
  };
  document.body ? begin() : listen(document, 'DOMContentLoaded', begin);

  return {
    identify(identity) {
      const next = asUser(identity)!;
      if (next.user_id != user?.user_id) ui?.switchUser();
      user = next;
      poller.forgetEtag();
      if (isStarted) poller.refresh(true);
    },
    open,
    close,
    onUnread: (listener) => shell.isLoaded && listener(unread),
    theme: applyTheme,
    shutdown() {
      ui?.shutdown();
      isStopped = true;
      poller.stop();
      openings++;
      host.remove();
      launcher.remove();
    },
  };
};
