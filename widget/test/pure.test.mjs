// Unit tests of the widget's pure parts (node --test). The TypeScript is compiled in
// memory with esbuild and imported from a data: URL, so nothing is written to disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as esbuild from 'esbuild';

const load = async (entry) => {
  const { outputFiles } = await esbuild.build({
    entryPoints: [new URL(entry, import.meta.url).pathname],
    bundle: true,
    format: 'esm',
    write: false,
  });
  return import('data:text/javascript;base64,' + Buffer.from(outputFiles[0].contents).toString('base64'));
};
const { matchesPages, compileGlob } = await load('../src/ui/pages.ts');
const { panelStrings, uiStrings } = await load('../src/i18n.ts');

test('no globs means every page', () => {
  assert.equal(matchesPages([], '/anything'), true);
  assert.equal(matchesPages(undefined, '/'), true);
});

test('* stays inside one path segment', () => {
  assert.equal(matchesPages(['/dashboard/*'], '/dashboard/home'), true);
  assert.equal(matchesPages(['/dashboard/*'], '/dashboard/'), true);
  assert.equal(matchesPages(['/dashboard/*'], '/dashboard/a/b'), false);
  assert.equal(matchesPages(['/dashboard/*'], '/dashboard'), false);
  assert.equal(matchesPages(['/projects/*/settings'], '/projects/42/settings'), true);
  assert.equal(matchesPages(['/projects/*/settings'], '/projects/4/2/settings'), false);
});

test('** crosses segments, and a trailing /** matches the bare prefix', () => {
  assert.equal(matchesPages(['/billing/**'], '/billing'), true);
  assert.equal(matchesPages(['/billing/**'], '/billing/invoices/2026/12'), true);
  assert.equal(matchesPages(['/billing/**'], '/billingx'), false);
  assert.equal(matchesPages(['/**/settings'], '/settings'), true);
  assert.equal(matchesPages(['/**/settings'], '/a/b/settings'), true);
  assert.equal(matchesPages(['**'], '/whatever/you/like'), true);
});

test('anything else in a glob is literal', () => {
  assert.equal(matchesPages(['/a.b'], '/a.b'), true);
  assert.equal(matchesPages(['/a.b'], '/axb'), false);
  assert.equal(matchesPages(['/(x)+'], '/(x)+'), true);
  assert.equal(matchesPages(['/[a]'], '/a'), false);
  assert.equal(matchesPages(['/[a]'], '/[a]'), true);
  assert.equal(matchesPages(['/a\\d'], '/a\\d'), true);
  assert.equal(matchesPages(['/a?'], '/ab'), false);
});

test('runs of wildcards collapse to what they match', () => {
  assert.deepEqual(compileGlob('/**********Z'), compileGlob('**Z'));
  assert.deepEqual(compileGlob('***'), compileGlob('**'));
  assert.equal(compileGlob('/*/**/*').length, 4); // / ** / *
  // `/**` then `*` is not `**`: the segment after the slash may not hold another slash...
  assert.equal(matchesPages(['/a/***'], '/a'), true);
  assert.equal(matchesPages(['/a/***'], '/a/b/c'), true);
  assert.equal(matchesPages(['/a/***'], '/ab'), true);
  assert.equal(matchesPages(['/a/***'], '/ab/c'), false);
  assert.equal(matchesPages(['/a*/**'], '/abc/d/e'), true);
  assert.equal(matchesPages(['/*/**/x'], '/a/x'), true);
  assert.equal(matchesPages(['/*/**/x'], '/a/b/c/x'), true);
  assert.equal(matchesPages(['/*/**/x'], '/x'), false);
});

test('the same answers as the backtracking regex it replaced, on short random globs', () => {
  // The former implementation, kept here as the reference for the semantics.
  const reference = (glob) =>
    new RegExp('^' + glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\/?\*\*|\*/g, (m) => (m == '*' ? '[^/]*' : m[0] == '/' ? '(/.*)?' : '.*')) + '$');
  let seed = 7;
  const pick = (list) => list[(seed = (seed * 1103515245 + 12345) % 2147483648) % list.length];
  for (let n = 0; n < 3000; n++) {
    let glob = '';
    let path = '';
    for (let i = pick([1, 2, 3, 4, 5, 6]); i > 0; i--) glob += pick(['a', 'b', '/', '*', '**', '/**', '.']);
    for (let i = pick([0, 1, 2, 3, 4, 5, 6, 7]); i > 0; i--) path += pick(['a', 'b', '/', '.']);
    assert.equal(matchesPages([glob], path), reference(glob).test(path), `${glob} on ${path}`);
  }
});

test('the worst globs match in linear time', () => {
  const long = '/' + 'a/'.repeat(5000) + 'b';
  // The best of five runs, so a busy machine's preemption does not count as our time.
  const fastest = (glob, path) => {
    let best = Infinity;
    for (let run = 0; run < 5; run++) {
      const started = performance.now();
      assert.equal(matchesPages([glob], path), false);
      best = Math.min(best, performance.now() - started);
    }
    return best;
  };
  for (const glob of ['/**********************Z', '/*a*a*a*a*a*a*a*a*a*a*a*a*Z', '**/**/**/**/**/**/**/Z', '/a/**/a/**/a/**/a/**/a/**/Z']) {
    const ms = fastest(glob, long);
    assert.ok(ms < 50, `${glob} took ${ms} ms`);
  }
  assert.equal(matchesPages(['/**********************b'], long), true);
});

test('several globs: any one matches', () => {
  assert.equal(matchesPages(['/a', '/b/*'], '/b/c'), true);
  assert.equal(matchesPages(['/a', '/b/*'], '/c'), false);
});

test('UI strings by language, English when unknown', () => {
  assert.equal(panelStrings('de-AT')[0], 'Neuigkeiten');
  assert.equal(panelStrings('FR')[0], 'Nouveautés');
  assert.equal(panelStrings('ja-JP')[1].replace('{n}', '3'), '未読3件');
  assert.equal(panelStrings('pt-BR')[0], "What's new");
  assert.equal(uiStrings('es')[11], 'Anuncio');
  for (const strings of [panelStrings, uiStrings]) {
    const english = strings('en');
    for (const language of ['de', 'fr', 'es', 'ja']) {
      assert.equal(strings(language).length, english.length, language);
      assert.equal(new Set(strings(language)).size, english.length, language + ': every string its own');
    }
  }
});

test('the close button and an item\'s dismissal have different names in every language', () => {
  for (const language of ['en', 'de', 'fr', 'es', 'ja'])
    assert.notEqual(panelStrings(language)[2], uiStrings(language)[0], language);
});
