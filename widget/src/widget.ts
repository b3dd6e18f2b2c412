// One running widget, as the loader sees it: who the user is, the feed and its poller,
// the launcher and badge, the feed panel's frame, and the UI chunk (items, popovers,
// banners, modals, events), imported on the first open or the first auto-show.
import css from './widget.css';
import { adopt, shadowHost } from './dom';
import { loaderStrings } from './i18n';
import { createLauncher } from './launcher';
import { createPanel, type Panel } from './panel';
import { apiUrl, createPoller } from './transport';
import type { Config, Feed, Identity, Item, Shell, Theme, Ui } from './types';
import { guard, h, listen, load, save, uuid } from './util';

/** The UI chunk's content hash, built in: it is served at /widget/<hash>.js. */
declare const UI_VERSION: string;

export interface Widget {
  identify(identity: Identity): void;
  open(): void;
  close(): void;
  onUnread(listener: (count: number) => void): void;
  theme(theme: Theme): void;
  shutdown(): void;
}

const asUser = (identity: Identity): Identity => ({
  user_id: identity.user_id == null ? undefined : '' + identity.user_id,
  user_hash: identity.user_hash,
  locale: identity.locale,
  attributes: identity.attributes || {},
});

export const startWidget = (config: Config, identity: Identity | null): Widget => {
  const { key, base, nonce } = config;
  const anonymousId: string = load('aid', '') || uuid();
  save('aid', anonymousId);

  let user: Identity | null = identity && asUser(identity);
  let items: Item[] = [];
  let unread = 0;
  let loaded = false;
  let failing = false;
  let started = false;
  let stopped = false;
  let newPageView = true;
  let theme = config.theme || 'auto';
  // Items the user opened the feed on, in case a poll answers before the `open` event lands.
  const seenHere = new Set<string>();
  const unreadListeners: ((count: number) => void)[] = [];

  const locale = () => user?.locale || config.locale || navigator.language || 'en';
  const who = (): Record<string, unknown> =>
    user?.user_id ? { user_id: user.user_id, user_hash: user.user_hash } : { anonymous_id: anonymousId };
  const strings = () => loaderStrings(locale());

  const [host, root, layer] = shadowHost('tidings-widget', 'tw-layer', css, nonce);
  const [vertical, horizontal] = (config.position || 'bottom-right').split('-');
  layer.classList.add(vertical == 'top' ? 'tw-top' : 'tw-bottom', horizontal == 'left' ? 'tw-left' : 'tw-right');
  // Popovers, banners and modals are announced here (a live region must exist before it speaks).
  const live = h('div', { class: 'tw-sr', 'aria-live': 'polite' });
  layer.append(live);

  const launcher = createLauncher(layer, config.trigger, config.badge != 'none', css, nonce, () => toggle());
  let opener: HTMLElement | null = launcher.button;
  let panel: Panel | null = null;
  let panelFilled = false;

  // ---- Theme: the host's choice, or the OS's ----------------------------------------------
  const darkScheme = matchMedia('(prefers-color-scheme: dark)');
  const applyTheme = () =>
    host.setAttribute('theme', theme == 'dark' || (theme != 'light' && darkScheme.matches) ? 'dark' : 'light');
  listen(darkScheme, 'change', applyTheme);
  applyTheme();

  // ---- The UI chunk ------------------------------------------------------------------------
  let ui: Ui | null = null;
  let uiLoading: Promise<Ui | null> | null = null;
  const shell: Shell = {
    root,
    layer,
    config,
    locale,
    endpoint: (path) => apiUrl(base, key, path),
    who,
    items: () => items,
    opener: () => opener,
    anchor: launcher.anchor,
    openFeed: () => open(),
    announce: (text) => {
      live.textContent = '';
      setTimeout(() => (live.textContent = text), 100);
    },
    succeeded: () => poller.succeeded(),
    adopt: (shadow, sheet) => adopt(shadow, sheet, nonce),
  };
  const loadUi = (): Promise<Ui | null> =>
    (uiLoading ||= import(new URL('/widget/' + UI_VERSION + '.js', base).href).then(
      (chunk: { mountUi(shell: Shell): Ui }) => (ui = stopped ? null : chunk.mountUi(shell)),
      () => (uiLoading = null),
    ));

  // ---- Rendering ---------------------------------------------------------------------------
  const render = () => {
    if (!host.isConnected) document.body.append(host);
    host.setAttribute('lang', locale());
    const [name, unreadLabel] = strings();
    launcher.render(unread, name, unreadLabel.replace('{n}', '' + unread));
  };

  const setUnread = (count: number, always?: boolean) => {
    if (count != unread || always) {
      unread = count;
      unreadListeners.forEach((listener) => listener(count));
    }
    render();
  };

  // ---- The feed panel ----------------------------------------------------------------------
  const fill = () => {
    if (!panel) return;
    if (!loaded) {
      if (failing) panel.showFailure();
      return;
    }
    const current = panel;
    loadUi().then(
      guard((chunk: Ui | null) => {
        if (panel != current || panelFilled) return;
        if (!chunk) return current.showFailure();
        panelFilled = true;
        chunk.fillPanel(current.list);
        items.forEach((item) => (seenHere.add(item.id), (item.seen = true)));
        setUnread(0);
        launcher.anchor(config.trigger ? current.el : null);
      }),
    );
  };

  // The failure state stays up while asking again: it already says "retrying".
  const retry = () => poller.refresh(!!user);

  const open = () => {
    if (panel || stopped) return;
    panelFilled = false;
    panel = createPanel(layer, strings(), () => close(), retry);
    launcher.anchor(config.trigger ? panel.el : null);
    panel.el.focus();
    opener?.setAttribute('aria-expanded', 'true');
    // A click while the feed cannot load: say so (fill), and try again now.
    fill();
    if (failing && !loaded) retry();
  };

  const close = () => {
    if (!panel) return;
    ui?.unobserve(panel.el);
    const hadFocus = panel.el.contains(root.activeElement);
    panel.remove();
    panel = null;
    opener?.setAttribute('aria-expanded', 'false');
    if (hadFocus) opener?.focus();
  };

  const toggle = () => (panel ? close() : open());

  // ---- Popovers, banners, modals: the chunk decides, once something could show ----------
  const autoShow = () => {
    const view = newPageView;
    if (items.some((i) => i.display != 'feed' && i.auto_show && !i.dismissed))
      loadUi().then(guard((chunk: Ui | null) => chunk?.update(view)));
    else ui?.update(view);
    newPageView = false;
  };

  // ---- The feed ----------------------------------------------------------------------------
  const poller = createPoller({
    request: (identify, etag) =>
      identify
        ? fetch(apiUrl(base, key, 'identify'), {
            method: 'POST',
            body: JSON.stringify({ ...who(), anonymous_id: anonymousId, locale: locale(), attributes: user!.attributes }),
          })
        : fetch(apiUrl(base, key, 'announcements', { ...who(), locale: locale() }), {
            headers: etag ? { 'If-None-Match': etag } : {},
          }),
    probeUrl: () => apiUrl(base, key, 'announcements', { ...who(), locale: locale() }),
    apply(feed: Feed) {
      const first = !loaded;
      failing = false;
      loaded = true;
      items = feed.announcements;
      setUnread(Math.max(0, feed.unread_count - items.filter((i) => !i.seen && seenHere.has(i.id)).length), first);
      fill();
      autoShow();
    },
    failed() {
      failing = true;
      if (!loaded) panel?.showFailure();
    },
    isWaiting: () => !!panel && !loaded,
  });

  // ---- Browser events ----------------------------------------------------------------------
  listen(root, 'keydown', (event: KeyboardEvent) => {
    if (!ui?.keydown(event, !!panel) && event.key == 'Escape') close();
  });
  // Capture phase: the host's own handlers cannot stop it from seeing its trigger clicked.
  listen(
    document,
    'click',
    (event: MouseEvent) => {
      if (stopped) return;
      const hit = config.trigger && (event.target as Element).closest?.(config.trigger);
      if (hit) {
        event.preventDefault();
        opener = hit as HTMLElement;
        toggle();
      } else if (panel && !event.composedPath().includes(host)) close();
    },
    true,
  );
  listen(document, 'visibilitychange', () => {
    if (stopped) return;
    if (document.hidden) {
      poller.pause();
      ui?.flush();
    } else poller.resume();
  });
  listen(window, 'pagehide', () => stopped || ui?.beacon());
  // Single-page apps: a new route is a new page view (pages globs, impressions).
  const routeChanged = () => {
    if (stopped) return;
    newPageView = true;
    autoShow();
  };
  listen(window, 'popstate', routeChanged);
  const navigation = (window as unknown as { navigation?: EventTarget }).navigation;
  if (navigation) listen(navigation, 'navigatesuccess', routeChanged);

  // ---- Start -------------------------------------------------------------------------------
  const begin = () => {
    started = true;
    render();
    poller.refresh(!!user);
  };
  document.body ? begin() : listen(document, 'DOMContentLoaded', begin);

  return {
    identify(identity) {
      const next = asUser(identity);
      const changed = next.user_id != user?.user_id;
      if (changed) ui?.flush();
      user = next;
      poller.forgetEtag();
      if (started) poller.refresh(true);
      if (changed) {
        ui?.hideAuto();
        newPageView = true;
      }
    },
    open,
    close,
    onUnread(listener) {
      unreadListeners.push(listener);
      if (loaded) listener(unread);
    },
    theme(next) {
      theme = next;
      applyTheme();
    },
    shutdown() {
      ui?.beacon();
      stopped = true;
      poller.stop();
      close();
      ui?.hideAuto();
      host.remove();
      launcher.remove();
    },
  };
};
