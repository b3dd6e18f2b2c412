// The shapes of docs/widget-api.md, as far as the widget reads them.

export type Display = 'feed' | 'popover' | 'banner' | 'modal';
export type Reaction = 'positive' | 'neutral' | 'negative';

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

export type Command = 'identify' | 'open' | 'close' | 'on' | 'shutdown';

/** The one global: callable (`tidings('open')`), with the same commands as methods. */
export interface Tidings {
  (command: Command, ...args: unknown[]): void;
  identify(identity: Identity): void;
  open(): void;
  close(): void;
  on(event: 'unread', listener: (count: number) => void): void;
  shutdown(): void;
  /** Commands queued by the embed snippet before the script arrived. */
  q?: ArrayLike<unknown>[];
  /** Set once the real widget runs: the double-start guard. */
  v?: string;
}
