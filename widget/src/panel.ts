// The feed panel's frame: a dialog named "What's new" with a Close button, a list the UI
// chunk fills, and the "Couldn't load updates — retrying" state. On phones it is a bottom
// sheet over a scrim, and the page behind it does not scroll.
import { CLOSE_ICON, icon } from './dom';
import { isPhone } from './launcher';
import { h } from './util';

export interface Panel {
  el: HTMLElement;
  list: HTMLElement;
  showFailure(): void;
  remove(): void;
}

export const createPanel = (
  layer: HTMLElement,
  strings: string[],
  close: () => void,
  retry: () => void,
): Panel => {
  const [name, , closeLabel, failed, retryLabel] = strings;
  const list = h('div', { class: 'tw-list' });
  const scrim = h('div', { class: 'tw-scrim', click: close });
  const el = h(
    'div',
    { class: 'tw-card tw-fixed tw-panel', role: 'dialog', 'aria-label': name, tabindex: -1 },
    h(
      'div',
      { class: 'tw-header' },
      h('h2', 0, name),
      h('button', { class: 'tw-icon-button', 'aria-label': closeLabel, click: close }, icon(CLOSE_ICON)),
    ),
    list,
  );
  layer.append(scrim, el);
  // The page must not scroll behind a sheet. Restored exactly as it was on close.
  const page = document.documentElement.style;
  const overflow = page.overflow;
  const locked = isPhone();
  if (locked) page.overflow = 'hidden';

  return {
    el,
    list,
    showFailure() {
      list.replaceChildren(
        h('div', { class: 'tw-status', role: 'status' }, h('p', 0, failed), h('button', { class: 'tw-button', click: retry }, retryLabel)),
      );
    },
    remove() {
      if (locked) page.overflow = overflow;
      scrim.remove();
      el.remove();
    },
  };
};
