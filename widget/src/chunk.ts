// Importing the UI chunk (dist/widget-ui.js) from /widget/<its hash>.js, once, on the first
// open or the first auto-show. `import()` inherits the loader's nonce under 'strict-dynamic'.
import type { Shell, Ui } from './types';

/** The UI chunk's content hash, built in: it is served at /widget/<hash>.js. */
declare const UI_VERSION: string;

/** Returns `load()`: the mounted UI, or null while it cannot be fetched (asked again next time). */
export const chunkLoader = (shell: Shell) => {
  let loading: Promise<Ui | null> | null = null;
  let failures = 0;
  return (): Promise<Ui | null> =>
    (loading ||= import(
      // After a failure, another URL: a browser may remember a failed module fetch.
      new URL('/widget/' + UI_VERSION + '.js' + (failures ? '?' + failures : ''), shell.config.base).href
    ).then(
      (chunk: { mountUi(shell: Shell): Ui }) => chunk.mountUi(shell),
      () => {
        failures++;
        loading = null;
        return null;
      },
    ));
};
