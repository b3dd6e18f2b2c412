// Page targeting: `audience.pages` are URL path globs. `*` stays inside one path segment,
// `**` crosses segments, and a trailing `/**` also matches the bare prefix (`/billing`).
export const globToRegExp = (glob: string): RegExp =>
  new RegExp(
    '^' +
      glob
        .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
        .replace(/\/?\*\*|\*/g, (m) => (m == '*' ? '[^/]*' : m[0] == '/' ? '(/.*)?' : '.*')) +
      '$',
  );

/** True when `path` matches one of `globs`; no globs means every page. */
export const matchesPages = (globs: string[] | undefined, path: string): boolean =>
  !globs?.length || globs.some((glob) => globToRegExp(glob).test(path));
