// Small helpers shared by the rest. Every callback the widget hands to the browser goes
// through `guard`, so nothing it does can throw into the host page.

export const guard =
  <A extends unknown[]>(fn: (...args: A) => unknown) =>
  (...args: A): void => {
    try {
      fn(...args);
    } catch {
      // The host page must never see our errors; the widget simply does less.
    }
  };

export const listen = (
  target: EventTarget,
  type: string,
  fn: (event: any) => unknown,
  capture?: boolean,
): void => target.addEventListener(type, guard(fn), capture);

/** A random v4 UUID; `crypto.randomUUID` needs a secure context, this does not. */
export const uuid = (): string => {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 15) | 64;
  bytes[8] = (bytes[8] & 63) | 128;
  return Array.from(bytes, (byte) => (byte + 256).toString(16).slice(1))
    .join('')
    .replace(/(.{8})(.{4})(.{4})(.{4})/, '$1-$2-$3-$4-');
};

// localStorage may be missing, full or forbidden (sandboxed iframes, privacy modes).
export const load = <T>(key: string, fallback: T): T => {
  try {
    return JSON.parse(localStorage.getItem('tidings:' + key)!) ?? fallback;
  } catch {
    return fallback;
  }
};

export const save = (key: string, value: unknown): void => {
  try {
    localStorage.setItem('tidings:' + key, JSON.stringify(value));
  } catch {
    // Best effort: the server remains the source of truth.
  }
};

type Child = Node | string | null | undefined | false | 0 | '';
type Attrs = Record<string, string | number | boolean | null | undefined | ((event: any) => unknown)>;

/** Sets attributes on an element and returns it. */
export const setAttributes = <E extends Element>(el: E, attrs: Record<string, string>): E => {
  for (const name in attrs) el.setAttribute(name, attrs[name]);
  return el;
};

/** createElement with attributes; function values become (guarded) event listeners. */
export const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | 0,
  ...children: Child[]
): HTMLElementTagNameMap[K] => {
  const el = document.createElement(tag);
  for (const name in attrs || {}) {
    const value = (attrs as Attrs)[name];
    if (typeof value == 'function') listen(el, name, value);
    else if (value != null) el.setAttribute(name, value as string);
  }
  el.append(...(children.filter(Boolean) as (Node | string)[]));
  return el;
};
