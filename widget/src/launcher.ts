// The launcher (or the host's own trigger) and its unread badge: on the launcher, or
// pinned to the trigger's top-right corner, following it as the page scrolls and resizes.
import { icon, shadowHost } from './dom';
import type { Config } from './types';
import { guard, h } from './util';

const BELL = ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a1.94 1.94 0 0 0 3.4 0'];

export interface Launcher {
  /** The floating button; null when the host's trigger takes its place. */
  button: HTMLButtonElement | null;
  /** Shows `count` with the launcher's strings (its name, "{n} unread"). */
  render(count: number, strings: string[]): void;
  remove(): void;
}

export const createLauncher = (
  layer: HTMLElement,
  { trigger, badge: badgeMode, nonce }: Config,
  css: string,
  toggle: () => void,
): Launcher => {
  const drawsBadge = badgeMode != 'none';
  const badge = h('span', { class: 'tw-badge', 'aria-hidden': 'true' });
  const button = trigger
    ? null
    : h('button', { class: 'tw-launcher tw-fixed', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', click: toggle }, icon(...BELL), badge);
  if (button) layer.append(button);
  // With a trigger: per element, a pinned badge in our layer, and a hidden text inside the
  // element (its own tiny shadow root), so its accessible name says "…, 3 unread".
  const pins = new Map<Element, [HTMLElement, HTMLElement]>();
  let frame = 0;

  const place = () => {
    frame = 0;
    pins.forEach(([pin], el) => {
      const box = el.getBoundingClientRect();
      pin.hidden = !el.isConnected || !box.width || !pin.textContent;
      pin.style.setProperty('--tw-x', box.right + 'px');
      pin.style.setProperty('--tw-y', box.top + 'px');
    });
  };
  const later = guard(() => (frame ||= requestAnimationFrame(guard(place))));
  addEventListener('scroll', later, { capture: true, passive: true });
  addEventListener('resize', later);

  return {
    button,
    render(count, [name, unreadLabel]) {
      const text = count > 9 ? '9+' : count ? '' + count : '';
      const said = count ? ', ' + unreadLabel.replace('{n}', '' + count) : '';
      badge.textContent = text;
      badge.hidden = !text || !drawsBadge;
      button?.setAttribute('aria-label', name + said);
      if (trigger && drawsBadge)
        document.querySelectorAll(trigger).forEach((el) => {
          let pair = pins.get(el);
          if (!pair) {
            const [badgeHost, , inner] = shadowHost('tidings-badge', 'tw-sr', css, nonce);
            el.append(badgeHost);
            pins.set(el, (pair = [h('span', { class: 'tw-badge tw-pin', 'aria-hidden': 'true' }), inner]));
            layer.append(pair[0]);
          }
          pair[0].textContent = text;
          pair[1].textContent = said;
        });
      place();
    },
    remove() {
      removeEventListener('scroll', later, { capture: true });
      removeEventListener('resize', later);
      pins.forEach(([pin, inner]) => {
        pin.remove();
        (inner.getRootNode() as ShadowRoot).host.remove();
      });
    },
  };
};
