// The launcher (or the host's own trigger), its unread badge, and keeping floating things
// next to the trigger as the page scrolls and resizes.
import { icon, shadowHost } from './dom';
import { guard, h } from './util';

const BELL = ['M6 8a6 6 0 0 1 12 0c0 7 3 9 3 9H3s3-2 3-9', 'M10.3 21a1.94 1.94 0 0 0 3.4 0'];
const GAP = 8;

export const isPhone = (): boolean => matchMedia('(max-width: 480px)').matches;

/** Puts `el` (position: fixed) below `target`, or above when that fits better, right-aligned. */
export const placeNextTo = (el: HTMLElement, target: Element): void => {
  const box = target.getBoundingClientRect();
  const below = innerHeight - box.bottom;
  const y = below >= el.offsetHeight + GAP || below >= box.top ? box.bottom + GAP : box.top - GAP - el.offsetHeight;
  const x = Math.min(Math.max(GAP, box.right - el.offsetWidth), innerWidth - el.offsetWidth - GAP);
  el.style.setProperty('--tw-x', x + 'px');
  el.style.setProperty('--tw-y', Math.max(GAP, y) + 'px');
};

export interface Launcher {
  /** The floating button; null when the host's trigger takes its place. */
  button: HTMLButtonElement | null;
  /** The trigger element to anchor to, if any is on the page. */
  trigger(): Element | null;
  render(count: number, name: string, unreadLabel: string): void;
  /** Anchors a floating surface to the trigger (kept there until it leaves the DOM). */
  anchor(el: HTMLElement | null): void;
  remove(): void;
}

export const createLauncher = (
  layer: HTMLElement,
  selector: string,
  drawBadge: boolean,
  css: string,
  nonce: string,
  toggle: () => void,
): Launcher => {
  const badge = h('span', { class: 'tw-badge', 'aria-hidden': 'true' });
  const button = selector
    ? null
    : h('button', { class: 'tw-launcher tw-fixed', 'aria-haspopup': 'dialog', 'aria-expanded': 'false', click: toggle });
  if (button) {
    button.append(icon(...BELL), badge);
    layer.append(button);
  }
  // With a trigger: per element, a pinned badge in our layer, and a hidden text inside the
  // element (its own tiny shadow root), so its accessible name says "…, 3 unread".
  const pins = new Map<Element, [HTMLElement, HTMLElement]>();
  const anchored = new Set<HTMLElement>();
  let frame = 0;

  const place = () => {
    frame = 0;
    pins.forEach(([pin], el) => {
      const box = el.getBoundingClientRect();
      pin.hidden = !el.isConnected || !box.width || !pin.textContent;
      pin.style.setProperty('--tw-x', box.right + 'px');
      pin.style.setProperty('--tw-y', box.top + 'px');
    });
    const target = trigger();
    anchored.forEach((el) => {
      if (!el.isConnected) anchored.delete(el);
      else if (target) placeNextTo(el, target);
    });
  };
  const later = guard(() => (frame ||= requestAnimationFrame(guard(place))));
  addEventListener('scroll', later, { capture: true, passive: true });
  addEventListener('resize', later);

  const trigger = (): Element | null => (selector && document.querySelector(selector)) || null;

  return {
    button,
    trigger,
    render(count, name, unreadLabel) {
      const text = count > 9 ? '9+' : count ? '' + count : '';
      badge.textContent = text;
      badge.hidden = !text || !drawBadge;
      button?.setAttribute('aria-label', name + (count ? ', ' + unreadLabel : ''));
      if (!selector || !drawBadge) return;
      document.querySelectorAll(selector).forEach((el) => {
        let pair = pins.get(el);
        if (!pair) {
          const [badgeHost, , inner] = shadowHost('tidings-badge', 'tw-sr', css, nonce);
          el.append(badgeHost);
          pins.set(el, (pair = [h('span', { class: 'tw-badge tw-pin', 'aria-hidden': 'true' }), inner]));
          layer.append(pair[0]);
        }
        pair[0].textContent = text;
        pair[1].textContent = count ? ', ' + unreadLabel : '';
      });
      place();
    },
    anchor(el) {
      const target = trigger();
      if (!el || !target) return;
      el.classList.add('tw-anchored');
      anchored.add(el);
      placeNextTo(el, target);
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
