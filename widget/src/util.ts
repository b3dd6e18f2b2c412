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

/** A random v4 UUID. `crypto.randomUUID` needs a secure context (an http: page has none);
 * a blob URL ends in one (File API: "generate a random UUID") on any page, and is shorter. */
export const uuid = (url = URL.createObjectURL(new Blob())): string => (URL.revokeObjectURL(url), url.slice(-36));

/** `tidings:<key>` in localStorage, as JSON: read (without `value`), or write `value`.
 * Returns the value read or written; localStorage may be missing, full or forbidden
 * (sandboxed iframes, privacy modes), and then a read gives undefined and a write still
 * returns its value (the server remains the source of truth). A key never written reads
 * as null. */
export const store = <T>(key: string, value?: T): T | null | undefined => {
  try {
    value === undefined
      ? (value = JSON.parse(localStorage.getItem('tidings:' + key)!))
      : localStorage.setItem('tidings:' + key, JSON.stringify(value));
  } catch {
    // Best effort.
  }
  return value;
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
