// Floating surfaces next to the host's trigger: the feed panel and popovers open below it,
// or above when that fits better, right-aligned, and follow it as the page scrolls and
// resizes (until they leave the DOM).
import { guard } from '../util';

const GAP = 8;

/** Puts `el` (position: fixed) below `target`, or above when that fits better, right-aligned. */
export const placeNextTo = (el: HTMLElement, target: Element): void => {
  const box = target.getBoundingClientRect();
  const below = innerHeight - box.bottom;
  const y = below >= el.offsetHeight + GAP || below >= box.top ? box.bottom + GAP : box.top - GAP - el.offsetHeight;
  const x = Math.min(Math.max(GAP, box.right - el.offsetWidth), innerWidth - el.offsetWidth - GAP);
  el.style.setProperty('--tw-x', x + 'px');
  el.style.setProperty('--tw-y', Math.max(GAP, y) + 'px');
};

/** Returns `anchor(el)`: keeps `el` next to the element `selector` names, if any is on the page. */
export const createAnchoring = (selector?: string) => {
  const anchored = new Set<HTMLElement>();
  const trigger = () => (selector && document.querySelector(selector)) || null;
  let frame = 0;
  const place = () => {
    frame = 0;
    const target = trigger();
    anchored.forEach((el) => {
      if (!el.isConnected) anchored.delete(el);
      else if (target) placeNextTo(el, target);
    });
  };
  if (selector) {
    const later = guard(() => (frame ||= requestAnimationFrame(guard(place))));
    addEventListener('scroll', later, { capture: true, passive: true });
    addEventListener('resize', later);
  }
  return (el: HTMLElement): void => {
    const target = trigger();
    if (!target) return;
    el.classList.add('tw-anchored');
    anchored.add(el);
    placeNextTo(el, target);
  };
};
