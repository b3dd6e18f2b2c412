// Builds widget/dist/widget.js (one minified IIFE) and reports its size: raw, gzip -9 and
// brotli -11, the way it travels. `--check` rebuilds in memory instead and fails when the
// committed file is stale or over the gzip budget (CI runs it).
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import * as esbuild from 'esbuild';

const BUDGET_GZIP = 6144;
const here = dirname(fileURLToPath(import.meta.url));
const outfile = join(here, 'dist', 'widget.js');
const check = process.argv.includes('--check');
const { version } = JSON.parse(await readFile(join(here, 'package.json'), 'utf8'));

// widget.css → a minified string export (the widget adopts it as a constructable sheet).
const cssAsString = {
  name: 'css-as-string',
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async ({ path }) => {
      const { code } = await esbuild.transform(await readFile(path, 'utf8'), {
        loader: 'css',
        minify: true,
        target: ['chrome90', 'firefox90', 'safari15'],
      });
      return { contents: code.trim(), loader: 'text' };
    });
  },
};

const result = await esbuild.build({
  entryPoints: [join(here, 'src', 'index.ts')],
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  // ASCII output: the file decodes the same whatever charset it is served with.
  charset: 'ascii',
  legalComments: 'none',
  // No "use strict" prologue: 13 bytes for nothing (tsc checks the code; it never relies
  // on strict-mode semantics).
  tsconfigRaw: { compilerOptions: { alwaysStrict: false } },
  define: { VERSION: JSON.stringify(version) },
  plugins: [cssAsString],
  write: false,
  logLevel: 'warning',
});
const code = Buffer.from(result.outputFiles[0].contents);

const sizes = {
  raw: code.length,
  gzip: gzipSync(code, { level: 9 }).length,
  brotli: brotliCompressSync(code, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: code.length },
  }).length,
};
console.log(`widget.js v${version}`);
console.table({ 'dist/widget.js': { ...sizes, 'gzip budget': BUDGET_GZIP } });

const problems = [];
if (sizes.gzip > BUDGET_GZIP) problems.push(`gzip size ${sizes.gzip} B exceeds the ${BUDGET_GZIP} B budget`);
if (check) {
  const committed = await readFile(outfile).catch(() => null);
  if (!committed || !committed.equals(code))
    problems.push('widget/dist/widget.js is stale: run `node widget/build.mjs` and commit the result');
} else {
  await mkdir(dirname(outfile), { recursive: true });
  await writeFile(outfile, code);
}
if (problems.length) {
  for (const problem of problems) console.error(`error: ${problem}`);
  process.exit(1);
}
console.log(check ? 'dist/widget.js is fresh and within budget' : `wrote ${outfile}`);
