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
  /** The workspace's public changelog, if the server names it (absent today: see README). */
  changelog_url?: string | null;
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

/** The script tag's data attributes (absent ones are undefined). Names ending in `_` are
 * the widget's own: the build shortens them (esbuild's mangleProps), the same in both files. */
export interface Config {
  key: string;
  /** The API's origin: where the script itself came from. */
  base_: string;
  trigger?: string;
  position?: string;
  locale?: string;
  nonce_: string;
  theme?: string;
  /** `none`: no badge is drawn; the host shows the count from `tidings('on', 'unread')`. */
  badge?: string;
  /** `overlay` (default) or `push`, and `top` (default) or `bottom`. */
  banner?: string;
  /** data-changelog-url: the workspace's public changelog, linked from the feed's footer. */
  changelogUrl?: string;
}

/** What the loader shares with the UI chunk: the widget's state and a few services. */
export interface Shell {
  root_: ShadowRoot;
  /** The element surfaces are appended to. */
  layer_: HTMLElement;
  config_: Config;
  /** The feed's items (the loader replaces the list when a new feed arrives). */
  items_: Item[];
  /** The unread count the badge shows. */
  unread_: number;
  /** The last feed that arrived (none yet: undefined). */
  feed_?: Feed;
  /** The last feed request failed. */
  isFailing_: boolean;
  /** Where the focus goes back to: the launcher or the host's trigger. */
  opener_?: HTMLElement;
  /** Push mode: the space a top banner took on this page last time, reserved by the loader
   * before the first paint, until the chunk shows the banner in it or gives it back. */
  reserved_: HTMLElement | null;
  locale_(): string;
  who_(): Record<string, unknown>;
  feedUrl_(): string;
  /** Asks for the feed again now (the Retry button). */
  retry_(): void;
  /** Sets the unread count (the badge, the launcher's name, the host's listeners). */
  setUnread_(count: number): void;
  /** A request got through: the poller may stop backing off. */
  succeeded_(): void;
}

/** What the UI chunk gives back. It listens to the page itself for what only it needs:
 * Esc and Tab, clicks outside the panel, route changes (a new page view), `visibilitychange`
 * and `pagehide` (sending the events). */
export interface Ui {
  /** Opens the feed panel (filled, or saying why it cannot be). */
  open_(): void;
  close_(): void;
  isOpen_(): boolean;
  /** A feed arrived: its unread count, less what the feed was opened on here (in case the
   * `open` event has not landed yet). */
  unread_(feed: Feed): number;
  /** The feed arrived, changed or failed: fill the panel, maybe auto-show something. */
  update_(): void;
  /** The unread count changed: the badges pinned to the host's trigger follow. */
  badge_(): void;
  /** A request could not reach the server: if CORS refused it, say so (once). */
  explain_(): void;
  /** Another user: sends their events, hides what was shown unasked; a new page view begins. */
  switchUser_(): void;
  /** Sends what is queued, removes everything it drew and stops listening. */
  shutdown_(): void;
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
