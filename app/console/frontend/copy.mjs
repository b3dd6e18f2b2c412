// Copies the pinned packages' browser files into ../static/vendor (committed, served by
// Tidings with SRI). `--check` fails when a committed copy differs from node_modules.
import { copyFileSync, mkdirSync, readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vendor = join(here, "..", "static", "vendor");
const files = {
  "htmx.org/dist/htmx.min.js": "htmx.min.js",
  "uplot/dist/uPlot.iife.min.js": "uPlot.iife.min.js",
  "uplot/dist/uPlot.min.css": "uPlot.min.css",
  "swagger-ui-dist/swagger-ui-bundle.js": "swagger-ui/swagger-ui-bundle.js",
  "swagger-ui-dist/swagger-ui.css": "swagger-ui/swagger-ui.css",
};
const licenses = {
  "htmx.org/LICENSE": "htmx.LICENSE",
  "uplot/LICENSE": "uPlot.LICENSE",
  "swagger-ui-dist/LICENSE": "swagger-ui/LICENSE",
};

const check = process.argv.includes("--check");
let stale = 0;
for (const [from, to] of Object.entries({ ...files, ...licenses })) {
  const source = join(here, "node_modules", from);
  const target = join(vendor, to);
  if (check) {
    const same = existsSync(target) && readFileSync(source).equals(readFileSync(target));
    if (!same) {
      console.error(`stale: static/vendor/${to} (run: npm run copy)`);
      stale += 1;
    }
    continue;
  }
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(source, target);
  console.log(`static/vendor/${to}`);
}
process.exit(stale ? 1 : 0);
