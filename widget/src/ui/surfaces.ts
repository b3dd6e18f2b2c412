// Popover, banner and modal: an item whose `display` asks for one and whose `auto_show`
// the server set, shown unasked on pages matching its globs, at most one per page view.
import type { Display, Item, Shell } from '../types';
import { h, load, save } from '../util';
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
    const who = shell.who();
    return 'dismissed:' + (who.user_id ? 'u' + who.user_id : who.anonymous_id);
  };
  const dismissedHere = (): string[] => load(storageKey(), []);
  const focusables = (el: Element) => [...el.querySelectorAll<HTMLElement>('a[href],button')];
  const isModal = () => shownItem?.display == 'modal';

  const hide = () => {
    if (!shown) return;
    forget(shown);
    const hadFocus = shown.contains(shell.root.activeElement);
    shown.remove();
    spacer?.remove();
    shell.layer.style.removeProperty('--tw-below');
    shown = shownItem = spacer = null;
    if (hadFocus) shell.opener?.focus();
  };

  const dismiss = () => {
    const item = shownItem!;
    item.dismissed = true;
    // Remembered here too, so it cannot flash back before the server has the event.
    save(storageKey(), [item.id, ...dismissedHere()].slice(0, 100));
    dismissed(item, item.display);
    hide();
  };

  // Push mode: an empty block of the banner's height at the top (or bottom) of the page,
  // made in the same frame as the banner, so the page moves once, before the banner's
  // first paint, and never again while it shows.
  const push = (banner: HTMLElement, atBottom: boolean) => {
    spacer = document.createElement('tidings-spacer');
    const style = spacer.style;
    style.setProperty('display', 'block', 'important');
    style.setProperty('height', banner.offsetHeight + 'px', 'important');
    atBottom ? document.body.append(spacer) : document.body.prepend(spacer);
  };

  const show = (item: Item) => {
    shownThisView = true;
    shownItem = item;
    const surface = item.display;
    const el = article(item, surface, dismiss, hide);
    const banner = shell.config.banner || '';
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
    shell.layer.append(shown);
    if (surface == 'banner' && /push/.test(banner)) push(shown, atBottom);
    if (surface == 'banner' && atBottom) shell.layer.style.setProperty('--tw-below', shown.offsetHeight + 'px');
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
      if (shownThisView) return;
      const gone = dismissedHere();
      const item = shell.items
        .find(
          (i) =>
            i.display != 'feed' && i.auto_show && !i.dismissed && !gone.includes(i.id) && matchesPages(i.pages, location.pathname),
        );
      if (item) show(item);
    },
    /** The feed panel opens in the popover's corner, and lists that item anyway. */
    panelOpening() {
      if (shownItem?.display == 'popover') hide();
    },
    keydown(event: KeyboardEvent, panelOpen: boolean): boolean {
      if (!shown) return false;
      if (event.key == 'Escape') {
        if (isModal() || (!panelOpen && shown.contains(shell.root.activeElement))) {
          dismiss();
          return true;
        }
      } else if (event.key == 'Tab' && isModal()) {
        // Focus stays inside a modal: wrap around at both ends.
        const all = focusables(shown);
        const index = all.indexOf(shell.root.activeElement as HTMLElement);
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
