// The feed panel: a dialog named "What's new" with a Close button and a list, filled with
// the feed once it is loaded, or saying "Couldn't load updates — retrying" while it cannot
// load. On phones it is a bottom sheet over a scrim, and the page behind it does not scroll.
import { CLOSE_ICON, icon } from '../dom';
import { panelStrings } from '../i18n';
import type { Shell } from '../types';
import { h } from '../util';

export interface PanelDeps {
  shell: Shell;
  /** Draws the feed into the list (records `open`, and every item becomes seen). */
  fill(list: HTMLElement): void;
  anchor(el: HTMLElement): void;
  /** The panel is about to open (a popover in its corner makes way). */
  opening(): void;
  /** The panel closes: stop watching its items for impressions. */
  forget(el: Element): void;
}

export interface Panel {
  open(): void;
  close(): void;
  isOpen(): boolean;
  /** The feed arrived or failed: fill the open panel, or show why it is empty. */
  sync(): void;
}

export const createPanel = ({ shell, fill, anchor, opening, forget }: PanelDeps): Panel => {
  let el: HTMLElement | null = null;
  let list: HTMLElement | null = null;
  let scrim: HTMLElement | null = null;
  let filled = false;
  let retrying: ReturnType<typeof setTimeout> | undefined;
  let unlock = () => {};

  const sync = () => {
    if (!el || !list || filled) return;
    clearTimeout(retrying);
    if (shell.feed_) {
      filled = true;
      fill(list);
      anchor(el);
    } else if (shell.isFailing_) {
      // Steadily every 5 s while someone is looking at "retrying" (the loader backs off).
      retrying = setTimeout(shell.retry_, 5000);
      const [, , , failed, retryLabel] = panelStrings(shell.locale_());
      list.replaceChildren(
        h('div', { class: 'tw-status', role: 'status' }, h('p', 0, failed), h('button', { class: 'tw-button', click: shell.retry_ }, retryLabel)),
      );
    }
  };

  const close = () => {
    if (!el) return;
    clearTimeout(retrying);
    forget(el);
    const hadFocus = el.contains(shell.root_.activeElement);
    unlock();
    scrim!.remove();
    el.remove();
    el = list = scrim = null;
    shell.opener_?.setAttribute('aria-expanded', 'false');
    if (hadFocus) shell.opener_?.focus();
  };

  const open = () => {
    if (el) return;
    opening();
    filled = false;
    const [name, , closeLabel] = panelStrings(shell.locale_());
    list = h('div', { class: 'tw-list' });
    el = h(
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
    scrim = h('div', { class: 'tw-scrim', click: close });
    shell.layer_.append(scrim, el);
    // The page must not scroll behind a sheet. Restored exactly as it was on close.
    const page = document.documentElement.style;
    const overflow = page.overflow;
    const isSheet = matchMedia('(max-width: 480px)').matches;
    if (isSheet) page.overflow = 'hidden';
    unlock = () => isSheet && (page.overflow = overflow);
    anchor(el);
    el.focus();
    shell.opener_?.setAttribute('aria-expanded', 'true');
    // A click while the feed cannot load: say so, and try again now.
    sync();
    if (!shell.feed_ && shell.isFailing_) shell.retry_();
  };

  return { open, close, isOpen: () => !!el, sync };
};
