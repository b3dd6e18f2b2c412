// Page targeting: `audience.pages` are URL path globs. `*` stays inside one path segment,
// `**` crosses segments, and `/**` also matches nothing at all (`/billing/**` matches the
// bare `/billing`). Everything else is literal.
//
// The globs come from whoever writes announcements and run on the host's page, so they
// must never cost more than linear time: a glob is compiled to a few tokens and matched by
// stepping a set of states along the path once (no regex, no backtracking), in
// O(path length × tokens). Runs of wildcards collapse first, so `/*****Z` is three tokens.

// Token kinds: a literal character (its code), or one of three wildcards.
const SEGMENT = -1; // `*`: any run of characters other than `/`
const ANY = -2; // `**`: any run of characters
const SUBPATH = -3; // `/**`: nothing, or `/` followed by anything
const SLASH = 47;

export const compileGlob = (glob: string): number[] => {
  const tokens: number[] = [];
  for (let i = 0; i < glob.length; i++) {
    let token = glob.charCodeAt(i);
    if (token == 42) {
      token = glob[i + 1] == '*' ? (i++, ANY) : SEGMENT;
      if (token == ANY && tokens[tokens.length - 1] == SLASH) tokens.pop(), (token = SUBPATH);
    }
    const last = tokens[tokens.length - 1];
    // Two wildcards in a row that match what one would: `*` `*` is `*`, `/**` `/**` is
    // `/**`, `**` next to anything is `**`, and so is `*` then `/**` (only `/**` then `*`
    // stays two: it does not match `a/b`).
    if (last < 0 && token < 0 && !(last == SUBPATH && token == SEGMENT))
      tokens[tokens.length - 1] = last == token ? token : ANY;
    else tokens.push(token);
  }
  return tokens;
};

/** True when the whole `path` matches the compiled glob. */
export const matchesGlob = (tokens: number[], path: string): boolean => {
  const end = 2 * tokens.length;
  // State 2i: the first i tokens are matched. State 2i+1: token i is a `/**` whose slash
  // is consumed (and it may take more).
  const add = (set: Uint8Array, state: number) => {
    // A wildcard may match nothing, so being before it is also being after it.
    while (!set[state]) {
      set[state] = 1;
      if (state & 1) state++;
      else if (state < end && tokens[state >> 1] < 0) state += 2;
      else return;
    }
  };
  let states = new Uint8Array(end + 1);
  let next = new Uint8Array(end + 1);
  add(states, 0);
  for (let p = 0; p < path.length; p++) {
    const char = path.charCodeAt(p);
    next.fill(0);
    for (let state = 0; state < end; state++) {
      if (!states[state]) continue;
      const token = tokens[state >> 1];
      if (state & 1 || token == ANY || (token == SEGMENT && char != SLASH)) add(next, state);
      else if (token == SUBPATH && char == SLASH) add(next, state + 1);
      else if (token == char) add(next, state + 2);
    }
    const swap = states;
    states = next;
    next = swap;
  }
  return !!states[end];
};

/** True when `path` matches one of `globs`; no globs means every page. */
export const matchesPages = (globs: string[] | undefined, path: string): boolean =>
  !globs?.length || globs.some((glob) => matchesGlob(compileGlob(glob), path));
