// DOM helpers shared by the loader and the UI chunk: shadow hosts with adopted styles,
// SVG icons without innerHTML (Trusted Types forbid it), the push banner's spacer.

const SVG = 'http://www.w3.org/2000/svg';

/** A custom element with an open shadow root, styled by `css`, holding one `className` div. */
export const shadowHost = (tag: string, className: string, css: string, nonce: string) => {
  const el = document.createElement(tag);
  const root = el.attachShadow({ mode: 'open' });
  adopt(root, css, nonce);
  const inner = document.createElement('div');
  inner.className = className;
  root.append(inner);
  return [el, root, inner] as const;
};

/** Adds a stylesheet to a shadow root: constructable if possible, else a nonce'd <style>. */
export const adopt = (root: ShadowRoot, css: string, nonce: string): void => {
  if (root.adoptedStyleSheets) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    root.adoptedStyleSheets = [...root.adoptedStyleSheets, sheet];
  } else {
    const style = document.createElement('style');
    style.nonce = nonce;
    style.textContent = css;
    root.append(style);
  }
};

/** An inline SVG icon (24×24, stroked) from path data, hidden from screen readers. */
export const icon = (...paths: string[]): SVGSVGElement => {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  for (const d of paths) {
    const path = document.createElementNS(SVG, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
};

export const CLOSE_ICON = 'M6 6l12 12M18 6 6 18';

/** Push mode: an empty block of `height` px that moves the page's content aside, in the
 * page's flow before <body> (or after it, `atBottom`). It works before <body> exists: a
 * synchronous script in <head> reserves the space before the page's first paint. */
export const spacer = (height: number, atBottom?: boolean): HTMLElement => {
  const el = document.createElement('tidings-spacer');
  el.style.setProperty('display', 'block', 'important');
  el.style.setProperty('height', height + 'px', 'important');
  document.documentElement.insertBefore(el, atBottom ? null : document.body);
  return el;
};
