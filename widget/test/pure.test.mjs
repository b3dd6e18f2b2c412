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
const { matchesPages, globToRegExp } = await load('../src/pages.ts');
const { uiStrings } = await load('../src/i18n.ts');

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
  assert.equal(globToRegExp('/[a]').test('/a'), false);
});

test('several globs: any one matches', () => {
  assert.equal(matchesPages(['/a', '/b/*'], '/b/c'), true);
  assert.equal(matchesPages(['/a', '/b/*'], '/c'), false);
});

test('UI strings by language, English when unknown', () => {
  assert.equal(uiStrings('de-AT')[0], 'Neuigkeiten');
  assert.equal(uiStrings('FR')[0], 'Nouveautés');
  assert.equal(uiStrings('ja-JP')[1].replace('{n}', '3'), '未読3件');
  assert.equal(uiStrings('pt-BR')[0], "What's new");
  const english = uiStrings('en');
  for (const language of ['de', 'fr', 'es', 'ja']) assert.equal(uiStrings(language).length, english.length);
});
