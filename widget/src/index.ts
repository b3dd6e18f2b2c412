// Entry point. The embed snippet defines a queueing stub:
//   window.tidings=window.tidings||function(){(tidings.q=tidings.q||[]).push(arguments)}
// This script replaces it with the real `tidings`, replays the queue, and starts the widget
// from the data attributes of its own <script> tag.
import type { Config, Identity, Theme, Tidings } from './types';
import { guard } from './util';
import { startWidget, type Widget } from './widget';

declare const VERSION: string;

guard(() => {
  const w = window as unknown as { tidings?: Tidings };
  // Double-start guard: a second copy of the script (or a second tag) does nothing.
  if (w.tidings?.v) return;
  const script = (document.currentScript ||
    document.querySelector('script[data-key][src*="widget"]')) as HTMLScriptElement | null;
  const key = script?.getAttribute('data-key');
  if (!key) return;
  const data = (name: string) => script!.getAttribute('data-' + name) || '';
  const config: Config = {
    key,
    base: new URL(script!.src).origin,
    trigger: data('trigger'),
    position: data('position'),
    locale: data('locale'),
    theme: data('theme'),
    badge: data('badge'),
    banner: data('banner'),
    changelogUrl: data('changelog-url'),
    // The nonce attribute is hidden from the DOM after load; the property keeps it.
    nonce: script!.nonce || '',
  };
  const queue = w.tidings?.q || [];
  let widget: Widget | null = null;
  let identity: Identity | null = null;
  const unreadListeners: ((count: number) => void)[] = [];
  const ensure = () => {
    if (!widget) {
      widget = startWidget(config, identity);
      unreadListeners.forEach(widget.onUnread);
    }
    return widget;
  };

  const commands = {
    identify(next: Identity) {
      identity = next;
      // After a shutdown (a logout), identifying again (a login) starts afresh.
      widget ? widget.identify(next) : ensure();
    },
    open: () => widget?.open(),
    close: () => widget?.close(),
    on(event: string, listener: (count: number) => void) {
      if (event == 'unread' && typeof listener == 'function') {
        const safe = guard(listener);
        unreadListeners.push(safe);
        widget?.onUnread(safe);
      }
    },
    theme(theme: Theme) {
      if (!/^(light|dark|auto)$/.test(theme)) return;
      config.theme = theme;
      widget?.theme(theme);
    },
    shutdown() {
      widget?.shutdown();
      widget = identity = null;
    },
  };

  const tidings = guard((command: string, ...args: unknown[]) =>
    (commands as Record<string, (...a: unknown[]) => void>)[command]?.(...args),
  ) as unknown as Tidings;
  for (const name in commands)
    (tidings as unknown as Record<string, unknown>)[name] = (...args: unknown[]) => tidings(name as 'open', ...args);
  tidings.v = VERSION;
  w.tidings = tidings;

  // Identify first, so the first request already carries the user.
  const queued = Array.from(queue, (args) => Array.from(args));
  queued.forEach((args) => args[0] == 'identify' && commands.identify(args[1] as Identity));
  ensure();
  queued.forEach((args) => args[0] != 'identify' && tidings(...(args as [never])));
})();
