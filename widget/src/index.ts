// Entry point. The embed snippet defines a queueing stub:
//   window.tidings=window.tidings||function(){(tidings.q=tidings.q||[]).push(arguments)}
// This script replaces it with the real `tidings`, replays the queue (identify first), and
// starts the widget from the data attributes of its own <script> tag.
import type { Config, Identity, Tidings } from './types';
import { guard } from './util';
import { startWidget, type Commands } from './widget';

declare const VERSION: string;

guard(() => {
  const w = window as unknown as { tidings?: Tidings };
  // Double-start guard: a second copy of the script (or a second tag) does nothing.
  if (w.tidings?.v) return;
  // Its own tag: the embed code's classic <script src> (a module, or a copy run from
  // elsewhere, has none, and starts nothing).
  const script = document.currentScript as HTMLScriptElement | null;
  if (!script?.dataset.key) return;
  // data-key, data-trigger, data-changelog-url (changelogUrl) ...: see Config. The nonce
  // attribute is hidden from the DOM after load; the property keeps it.
  const config = { ...script.dataset, base_: new URL(script.src).origin, nonce_: script.nonce } as Config;
  const queue = w.tidings?.q || [];
  const unreadListeners: ((count: number) => void)[] = [];
  let commands: Commands;
  const start = (identity?: Identity) => {
    commands = startWidget(config, identity, unreadListeners, start);
  };
  start();

  const tidings = guard((command: string, ...args: unknown[]) => commands[command]?.(...args)) as unknown as Tidings;
  for (const name in commands!) (tidings as unknown as Record<string, unknown>)[name] = tidings.bind(0, name as 'open');
  tidings.v = VERSION;
  w.tidings = tidings;

  // Identify first, so the first request already carries the user (the widget begins
  // when this script has run).
  for (const args of queue) args[0] == 'identify' && tidings(...(args as [never]));
  for (const args of queue) args[0] != 'identify' && tidings(...(args as [never]));
})();
