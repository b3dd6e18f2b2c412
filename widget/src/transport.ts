// Talking to the widget API: request URLs, and the poller (honours `poll_after_s` and the
// ETag, pauses while the tab is hidden, backs off with jitter on errors, and returns to
// its normal schedule as soon as any request gets through).
import type { Config, Feed } from './types';

const MIN_POLL_S = 5;
const WAITING_RETRY_S = 5;

export const apiUrl = ({ base_, key }: Config, path: string, params?: Record<string, unknown>): string => {
  const url = new URL('/v1/widget/' + path, base_);
  const all: Record<string, unknown> = { key, ...params };
  for (const name in all) if (all[name] != null) url.searchParams.set(name, all[name] as string);
  return url.href;
};

export interface PollerOptions {
  /** The feed's URL (GET, with the ETag when there is one). */
  feedUrl_(): string;
  /** The identify request's body (POST, answered with the feed). */
  identifyBody_(): string;
  apply_(feed: Feed): void;
  /** The request failed: `unreached` when it never got an answer (down, or refused by CORS). */
  failed_(unreached: boolean): void;
  /** True while a user looks at the failure state: retry at a short, steady pace. */
  isWaiting_(): boolean;
}

export interface Poller {
  refresh_(identify?: boolean): void;
  /** Another request got through: if the feed was failing, ask again now. */
  succeeded_(): void;
  forgetEtag_(): void;
  pause_(): void;
  resume_(): void;
  stop_(): void;
}

export const createPoller = (config: Config, options: PollerOptions): Poller => {
  let etag = '';
  let pollAfterS = 60;
  let nextPollAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let failures = 0;
  let sequence = 0;
  let isStopped = false;

  const schedule = (ms: number) => {
    nextPollAt = Date.now() + ms;
    clearTimeout(timer);
    if (!isStopped && !document.hidden) timer = setTimeout(refresh, ms);
  };

  const refresh = async (identify?: boolean): Promise<void> => {
    const mine = ++sequence;
    let unreached = false;
    let delayS: number;
    clearTimeout(timer);
    try {
      const response = await fetch(
        identify ? apiUrl(config, 'identify') : options.feedUrl_(),
        identify
          ? { method: 'POST', body: options.identifyBody_() }
          : { headers: etag ? { 'If-None-Match': etag } : {} },
      ).catch((error) => {
        unreached = true;
        throw error;
      });
      if (response.status != 304) {
        if (!response.ok) throw 0;
        const feed: Feed = await response.json();
        if (mine != sequence || isStopped) return;
        etag = response.headers.get('ETag') || '';
        pollAfterS = feed.poll_after_s || pollAfterS;
        options.apply_(feed);
      }
      failures = 0;
      delayS = Math.max(MIN_POLL_S, pollAfterS);
    } catch {
      // Down, refused or garbled: back off (5 s doubling to 5 min) with jitter, quietly;
      // steadily every 5 s while someone is looking at "retrying".
      delayS = options.isWaiting_() ? WAITING_RETRY_S : Math.min(300, 5 * 2 ** failures++) * (0.5 + Math.random());
      if (mine == sequence && !isStopped) options.failed_(unreached);
    }
    if (mine == sequence) schedule(delayS * 1000);
  };

  return {
    refresh_: refresh,
    succeeded_() {
      if (failures && !isStopped) {
        failures = 0;
        refresh();
      }
    },
    forgetEtag_: () => (etag = ''),
    pause_: () => clearTimeout(timer),
    resume_: () => schedule(Math.max(0, nextPollAt - Date.now())),
    stop_() {
      isStopped = true;
      clearTimeout(timer);
    },
  };
};
