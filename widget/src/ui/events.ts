// The event queue: batched, retried with the same ids (the server counts an id once), and
// handed to sendBeacon when the page goes away.
import type { TrackedEvent } from '../types';
import { uuid } from '../util';

const FLUSH_MS = 2000;
const BATCH = 100;

export interface EventQueue {
  track(type: TrackedEvent['type'], fields?: Partial<TrackedEvent>): void;
  flush(): Promise<void>;
  /** Last chance (pagehide, shutdown): sendBeacon everything not already in flight. */
  beacon(): void;
}

export const createEventQueue = (
  endpoint: () => string,
  who: () => Record<string, unknown>,
  /** Called when a batch got through (the server is reachable again). */
  sent: () => void,
): EventQueue => {
  let pending: TrackedEvent[] = [];
  let sending: TrackedEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | 0 = 0;
  let failures = 0;

  const body = (events: TrackedEvent[]) => JSON.stringify({ ...who(), events });

  const later = (ms: number) => {
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  };

  const flush = async (): Promise<void> => {
    clearTimeout(timer);
    timer = 0;
    if (sending.length || !pending.length) return;
    sending = pending.splice(0, BATCH);
    try {
      // A string body is sent as text/plain: a "simple" request, so no CORS preflight.
      // keepalive lets it finish when the page navigates away meanwhile.
      const response = await fetch(endpoint(), { method: 'POST', body: body(sending), keepalive: true });
      // 5xx, 408 and 429 may pass; any other answer is final for this batch (202 means
      // committed; a 4xx would fail again the same way).
      if (response.status > 499 || response.status == 408 || response.status == 429) throw 0;
      failures = 0;
      sent();
    } catch {
      pending = sending.concat(pending);
      failures++;
    }
    sending = [];
    if (pending.length) later(failures ? Math.min(300, 2 ** failures) * (500 + Math.random() * 1000) : 0);
  };

  return {
    track(type, fields) {
      pending.push({ id: uuid(), type, occurred_at: new Date().toISOString(), ...fields });
      if (!timer) later(FLUSH_MS);
    },
    flush,
    beacon() {
      // The events stay queued: if the page comes back (bfcache) they are sent again with
      // the same ids, and the server reports them as duplicates instead of counting twice.
      for (let i = 0; i < pending.length; i += BATCH)
        navigator.sendBeacon(endpoint(), body(pending.slice(i, i + BATCH)));
    },
  };
};
