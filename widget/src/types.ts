// The shapes of docs/widget-api.md as far as the widget reads them, and the contract
// between the loader (dist/widget.js) and the UI chunk it imports on first use.

export type Display = 'feed' | 'popover' | 'banner' | 'modal';
export type Reaction = 'positive' | 'neutral' | 'negative';
export type Theme = 'light' | 'dark' | 'auto';

export interface Item {
  id: string;
  title: string;
  /** Sanitized by the server at write time: inserted as HTML, never re-rendered here. */
  body_html: string;
  category: string;
  image_url: string | null;
  cta: { label: string; url: string } | null;
  display: Display;
  published_at: string;
  pages: string[];
  seen: boolean;
  dismissed: boolean;
  reaction: Reaction | null;
  auto_show: boolean;
}

export interface Feed {
  announcements: Item[];
  unread_count: number;
  poll_after_s: number;
}

export interface TrackedEvent {
  id: string;
  type: 'impression' | 'click' | 'dismiss' | 'open' | 'reaction';
  occurred_at: string;
  announcement_id?: string;
  surface?: Display;
  value?: Reaction;
}

/** What the host passes to `tidings('identify', ...)`. */
export interface Identity {
  user_id?: string | number;
  user_hash?: string;
  locale?: string;
  attributes?: Record<string, unknown>;
}

/** The script tag's data attributes. */
export interface Config {
  key: string;
  /** The API's origin: where the script itself came from. */
  base: string;
  trigger: string;
  position: string;
  locale: string;
  nonce: string;
  theme: string;
  /** `none`: no badge is drawn; the host shows the count from `tidings('on', 'unread')`. */
  badge: string;
  /** `overlay` (default) or `push`, and `top` (default) or `bottom`. */
  banner: string;
  /** The workspace's public changelog, linked from the feed's footer when given. */
  changelogUrl: string;
}

/** What the loader lends the UI chunk. */
export interface Shell {
  root: ShadowRoot;
  /** The element surfaces are appended to. */
  layer: HTMLElement;
  config: Config;
  locale(): string;
  endpoint(path: string): string;
  who(): Record<string, unknown>;
  items(): Item[];
  /** Where the focus goes back to: the launcher or the host's trigger. */
  opener(): HTMLElement | null;
  /** Keeps a floating surface next to the launcher or the trigger (not on phones). */
  anchor(el: HTMLElement | null): void;
  openFeed(): void;
  /** Says `text` through the polite live region (a surface appeared). */
  announce(text: string): void;
  /** A request got through: the poller may stop backing off. */
  succeeded(): void;
  /** Adds the chunk's styles to a shadow root. */
  adopt(root: ShadowRoot, css: string): void;
}

/** What the UI chunk gives back. */
export interface Ui {
  /** Draws the feed into the open panel's list and records `open`. */
  fillPanel(list: HTMLElement): void;
  /** The feed arrived or changed, or a new page view began: maybe auto-show something. */
  update(newPageView?: boolean): void;
  /** Esc and Tab inside the widget; true when handled. */
  keydown(event: KeyboardEvent, panelOpen: boolean): boolean;
  hideAuto(): void;
  flush(): void;
  beacon(): void;
  unobserve(el: Element): void;
}

export type Command = 'identify' | 'open' | 'close' | 'on' | 'theme' | 'shutdown';

/** The one global: callable (`tidings('open')`), with the same commands as methods. */
export interface Tidings {
  (command: Command, ...args: unknown[]): void;
  identify(identity: Identity): void;
  open(): void;
  close(): void;
  on(event: 'unread', listener: (count: number) => void): void;
  theme(theme: Theme): void;
  shutdown(): void;
  /** Commands queued by the embed snippet before the script arrived. */
  q?: ArrayLike<unknown>[];
  /** Set once the real widget runs: the double-start guard. */
  v?: string;
}
