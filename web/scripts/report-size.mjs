// Prints the gzip size of a build output (a file, or every .js/.css file under a folder) and fails the
// build when a budget (--max-kb, JS only) is exceeded. Budgets: docs/widget.md.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';

const [target, ...flags] = process.argv.slice(2);
if (!target) {
  console.error('usage: report-size.mjs <file-or-dir> [--max-kb=N]');
  process.exit(2);
}
const maxKb = Number(flags.find((f) => f.startsWith('--max-kb='))?.split('=')[1] ?? NaN);
const root = resolve(target);

function walk(p) {
  return statSync(p).isDirectory() ? readdirSync(p).flatMap((n) => walk(join(p, n))) : [p];
}

const files = walk(root).filter((f) => /\.(js|css)$/.test(f));
let jsGzip = 0;
const rows = files.map((f) => {
  const buf = readFileSync(f);
  const gz = gzipSync(buf, { level: 9 }).length;
  if (f.endsWith('.js')) jsGzip += gz;
  return [relative(resolve(root, statSync(root).isDirectory() ? '.' : '..'), f), buf.length, gz];
});
const kb = (n) => (n / 1024).toFixed(2).padStart(7) + ' KB';
for (const [name, raw, gz] of rows) console.log(`  ${name.padEnd(40)} ${kb(raw)}  gzip ${kb(gz)}`);
console.log(`  total JS gzip: ${kb(jsGzip).trim()}${Number.isFinite(maxKb) ? ` (budget ${maxKb} KB)` : ''}`);
if (Number.isFinite(maxKb) && jsGzip > maxKb * 1024) {
  console.error(`size budget exceeded: ${(jsGzip / 1024).toFixed(2)} KB > ${maxKb} KB gzip`);
  process.exit(1);
}
