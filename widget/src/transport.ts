// Talking to the widget API: request URLs, and the poller (honours `poll_after_s` and the
// ETag, pauses while the tab is hidden, backs off with jitter on errors, and returns to
// its normal schedule as soon as any request gets through).
import type { Config, Feed } from './types';

const MIN_POLL_S = 5;
const WAITING_RETRY_S = 5;

export const apiUrl = ({ base, key }: Config, path: string, params?: Record<string, unknown>): string => {
  const url = new URL('/v1/widget/' + path, base);
  const all: Record<string, unknown> = { key, ...params };
  for (const name in all) if (all[name] != null) url.searchParams.set(name, all[name] as string);
  return url.href;
};

export interface PollerOptions {
  /** The feed's URL (GET, with the ETag when there is one). */
  feedUrl(): string;
  /** The identify request's body (POST, answered with the feed). */
  identifyBody(): string;
  apply(feed: Feed): void;
  /** The request failed (down, refused, garbled). */
  failed(): void;
  /** True while a user looks at the failure state: retry at a short, steady pace. */
  isWaiting(): boolean;
}

export interface Poller {
  refresh(identify?: boolean): void;
  /** Another request got through: if the feed was failing, ask again now. */
  succeeded(): void;
  forgetEtag(): void;
  pause(): void;
  resume(): void;
  stop(): void;
}

export const createPoller = (config: Config, options: PollerOptions): Poller => {
  let etag = '';
  let pollAfterS = 60;
  let nextPollAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let sequence = 0;
  let isStopped = false;
  let hasWarned = false;

  const schedule = (ms: number) => {
    nextPollAt = Date.now() + ms;
    clearTimeout(timer);
    if (!isStopped && !document.hidden) timer = setTimeout(refresh, ms);
  };

  // A fetch that fails while the server answers a no-cors probe, and fails again right
  // after it (not a server that just came back), was refused by CORS: the page's origin is
  // not allowed. Say so once, in words the developer can act on.
  const explainRefusal = () =>
    hasWarned ||
    fetch(options.feedUrl(), { mode: 'no-cors' })
      .then(() => fetch(options.feedUrl()).then(() => {}, () => {
        if (!hasWarned) console.warn(`Tidings: ${location.origin} is not in the workspace's allowed_origins`);
        hasWarned = true;
      }))
      .catch(() => {});

  const refresh = async (identify?: boolean): Promise<void> => {
    const mine = ++sequence;
    clearTimeout(timer);
    let delayS: number;
    try {
      const response = await fetch(
        identify ? apiUrl(config, 'identify') : options.feedUrl(),
        identify
          ? { method: 'POST', body: options.identifyBody() }
          : { headers: etag ? { 'If-None-Match': etag } : {} },
      ).catch((error) => {
        explainRefusal();
        throw error;
      });
      if (response.status != 304) {
        if (!response.ok) throw 0;
        const feed: Feed = await response.json();
        if (mine != sequence || isStopped) return;
        etag = response.headers.get('ETag') || '';
        pollAfterS = feed.poll_after_s || pollAfterS;
        options.apply(feed);
      }
      failures = 0;
      delayS = Math.max(MIN_POLL_S, pollAfterS);
    } catch {
      // Down, refused or garbled: back off (5 s doubling to 5 min) with jitter, quietly;
      // steadily every 5 s while someone is looking at "retrying".
      delayS = options.isWaiting() ? WAITING_RETRY_S : Math.min(300, 5 * 2 ** failures++) * (0.5 + Math.random());
      if (mine == sequence && !isStopped) options.failed();
    }
    if (mine == sequence) schedule(delayS * 1000);
  };

  return {
    refresh,
    succeeded() {
      if (failures && !isStopped) {
        failures = 0;
        refresh();
      }
    },
    forgetEtag: () => (etag = ''),
    pause: () => clearTimeout(timer),
    resume: () => schedule(Math.max(0, nextPollAt - Date.now())),
    stop() {
      isStopped = true;
      clearTimeout(timer);
    },
  };
};
