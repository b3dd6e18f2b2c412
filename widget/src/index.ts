// Entry point. The embed snippet defines a queueing stub:
//   window.tidings=window.tidings||function(){(tidings.q=tidings.q||[]).push(arguments)}
// This script replaces it with the real `tidings`, replays the queue (identify first), and
// starts the widget from the data attributes of its own <script> tag.
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
  if (!script?.dataset.key) return;
  // data-key, data-trigger, data-changelog-url (changelogUrl) ...: see Config. The nonce
  // attribute is hidden from the DOM after load; the property keeps it.
  const config = { ...script.dataset, base_: new URL(script.src).origin, nonce_: script.nonce } as Config;
  const queue = w.tidings?.q || [];
  let widget: Widget | null = null;
  let identity: Identity | null = null;
  const unreadListeners: ((count: number) => void)[] = [];
  const start = () => (widget ||= startWidget(config, identity, unreadListeners));

  const commands: Record<string, (...args: any[]) => unknown> = {
    identify(next: Identity) {
      identity = next;
      // After a shutdown (a logout), identifying again (a login) starts afresh.
      widget ? widget.identify_(next) : start();
    },
    open: () => widget?.open_(),
    close: () => widget?.close_(),
    on: (event: string, listener: unknown) =>
      event == 'unread' &&
      typeof listener == 'function' &&
      (unreadListeners.push((listener = guard(listener as (count: number) => void))), widget?.onUnread_(listener as () => void)),
    theme: (theme: Theme) => /^(light|dark|auto)$/.test(theme) && ((config.theme = theme), widget?.theme_()),
    shutdown: () => (widget?.shutdown_(), (widget = identity = null)),
  };

  const tidings = guard((command: string, ...args: unknown[]) => commands[command]?.(...args)) as unknown as Tidings;
  for (const name in commands) (tidings as unknown as Record<string, unknown>)[name] = tidings.bind(0, name as 'open');
  tidings.v = VERSION;
  w.tidings = tidings;

  // Identify first, so the first request already carries the user.
  const queued = Array.from(queue);
  for (const args of queued) args[0] == 'identify' && tidings(...(args as [never]));
  start();
  for (const args of queued) args[0] != 'identify' && tidings(...(args as [never]));
})();
