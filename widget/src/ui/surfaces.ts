// Popover, banner and modal: an item whose `display` asks for one and whose `auto_show`
// the server set, shown unasked on pages matching its globs, at most one per page view.
import { spacer as makeSpacer } from '../dom';
import type { Display, Item, Shell } from '../types';
import { h, store } from '../util';
import { matchesPages } from './pages';

export interface SurfaceDeps {
  shell: Shell;
  /** Draws the item (h2), with a Dismiss button calling `dismiss`. */
  article(item: Item, surface: Display, dismiss: () => void, hide: () => void): HTMLElement;
  dismissed(item: Item, surface: Display): void;
  forget(el: Element): void;
  /** Keeps a popover next to the host's trigger. */
  anchor(el: HTMLElement): void;
  /** Says `text` through the polite live region. */
  announce(text: string): void;
}

export const createSurfaces = ({ shell, article, dismissed, forget, anchor, announce }: SurfaceDeps) => {
  let shown: HTMLElement | null = null;
  let shownItem: Item | null = null;
  let spacer: HTMLElement | null = null;
  let shownThisView = false;
  const storageKey = () => {
    const who = shell.who_();
    return 'dismissed:' + (who.user_id ? 'u' + who.user_id : who.anonymous_id);
  };
  const dismissedHere = (): string[] => store<string[]>(storageKey()) || [];
  const focusables = (el: Element) => [...el.querySelectorAll<HTMLElement>('a[href],button')];
  const isModal = () => shownItem?.display == 'modal';

  const hide = () => {
    if (!shown) return;
    forget(shown);
    const hadFocus = shown.contains(shell.root_.activeElement);
    shown.remove();
    spacer?.remove();
    shell.layer_.style.removeProperty('--tw-below');
    shown = shownItem = spacer = null;
    if (hadFocus) shell.opener_?.focus();
  };

  const dismiss = () => {
    const item = shownItem!;
    item.dismissed = true;
    // Remembered here too, so it cannot flash back before the server has the event.
    store(storageKey(), [item.id, ...dismissedHere()].slice(0, 100));
    dismissed(item, item.display);
    hide();
    // No space is reserved for it on the next pages.
    store('push', {});
  };

  // Push mode: an empty block of the banner's height before the page's content (or after
  // it), so the banner covers none of the page. At the bottom nothing above it moves. At
  // the top, moving painted content is a layout shift: the banner takes the space the
  // loader reserved before the page's first paint, and where none was reserved (the first
  // time it shows) it lies over the page this once. Its height is remembered for this page
  // (or every page, when the item shows on all) so that the next page load reserves it.
  const push = (banner: HTMLElement, item: Item, atBottom: boolean) => {
    const height = banner.offsetHeight;
    if (!atBottom) {
      const spaces: Record<string, number> = store('push') || {};
      delete spaces[location.pathname];
      spaces[item.pages?.length ? location.pathname : '*'] = height;
      store('push', Object.fromEntries(Object.entries(spaces).slice(-20)));
      if (!shell.reserved_) return; // over the page this time: nothing moves
    }
    spacer = shell.reserved_ || makeSpacer(height, atBottom);
    shell.reserved_ = null;
    spacer.style.setProperty('height', height + 'px', 'important');
  };

  const show = (item: Item) => {
    shownThisView = true;
    shownItem = item;
    const surface = item.display;
    const el = article(item, surface, dismiss, hide);
    const banner = shell.config_.banner || '';
    const atBottom = /bottom/.test(banner);
    if (surface == 'modal') {
      shown = h(
        'div',
        { class: 'tw-backdrop' },
        h('div', { class: 'tw-card tw-modal', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': el.getAttribute('aria-labelledby') }, el),
      );
    } else if (surface == 'banner') {
      shown = h('div', { class: atBottom ? 'tw-banner tw-banner-bottom' : 'tw-banner' }, el);
    } else shown = h('div', { class: 'tw-card tw-fixed tw-popover' }, el);
    shell.layer_.append(shown);
    if (surface == 'banner' && /push/.test(banner)) push(shown, item, atBottom);
    if (surface == 'banner' && atBottom) shell.layer_.style.setProperty('--tw-below', shown.offsetHeight + 'px');
    if (surface == 'popover') anchor(shown);
    if (surface == 'modal') focusables(shown)[0].focus();
    announce(item.title);
  };

  return {
    hide,
    /** The feed arrived or changed, or (`newView`) a new page view began. */
    update(newView?: boolean) {
      if (newView) {
        if (shownItem && !matchesPages(shownItem.pages, location.pathname)) hide();
        shownThisView = !!shown;
      }
      if (!shownThisView) {
        const gone = dismissedHere();
        const item = shell.items_.find(
          (i) =>
            i.display != 'feed' && i.auto_show && !i.dismissed && !gone.includes(i.id) && matchesPages(i.pages, location.pathname),
        );
        if (item) show(item);
      }
      // Space the loader reserved for a banner that is not coming (dismissed elsewhere,
      // ended, not for this page): given back, and not reserved again.
      if (shell.reserved_ && shell.feed_) {
        shell.reserved_.remove();
        shell.reserved_ = null;
        store('push', {});
      }
    },
    /** The feed panel opens in the popover's corner, and lists that item anyway. */
    panelOpening() {
      if (shownItem?.display == 'popover') hide();
    },
    keydown(event: KeyboardEvent, panelOpen: boolean): boolean {
      if (!shown) return false;
      if (event.key == 'Escape') {
        if (isModal() || (!panelOpen && shown.contains(shell.root_.activeElement))) {
          dismiss();
          return true;
        }
      } else if (event.key == 'Tab' && isModal()) {
        // Focus stays inside a modal: wrap around at both ends.
        const all = focusables(shown);
        const index = all.indexOf(shell.root_.activeElement as HTMLElement);
        const next = event.shiftKey ? (index <= 0 ? all.length - 1 : -1) : index == all.length - 1 ? 0 : -1;
        if (next >= 0) {
          event.preventDefault();
          all[next].focus();
        }
        return true;
      }
      return false;
    },
  };
};
