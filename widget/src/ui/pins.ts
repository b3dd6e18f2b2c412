// The unread badge on a host's trigger (data-trigger): per matching element, a badge in our
// layer pinned to its top-right corner (following it as the page scrolls and resizes), and
// a hidden text inside the element (its own tiny shadow root), so its accessible name says
// "…, 3 unread". Drawn by the UI chunk, which the loader fetches once there is a count.
import pinCss from './pins.css';
import { shadowHost } from '../dom';
import { launcherStrings } from '../i18n';
import type { Shell } from '../types';
import { guard, h } from '../util';

export const createPins = (shell: Shell) => {
  const { trigger, nonce_ } = shell.config_;
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
    /** Shows the current unread count on every element the trigger selector matches. */
    render() {
      const count = shell.unread_;
      const text = count > 9 ? '9+' : count ? '' + count : '';
      const said = count ? ', ' + launcherStrings(shell.locale_())[1].replace('{n}', '' + count) : '';
      document.querySelectorAll(trigger!).forEach((el) => {
        let pair = pins.get(el);
        if (!pair) {
          const [badgeHost, , inner] = shadowHost('tidings-badge', 'tw-sr', pinCss, nonce_);
          el.append(badgeHost);
          pins.set(el, (pair = [h('span', { class: 'tw-badge tw-pin', 'aria-hidden': 'true' }), inner]));
          shell.layer_.append(pair[0]);
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
