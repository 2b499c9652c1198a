// Runs a TypeScript entry point as one esbuild bundle (build/bundle/<name>.mjs), rebuilt only when one of
// its inputs changed. Why not tsx at run time: tsx compiles module by module with keepNames, and the hot
// path measured 2–4× slower that way than as a bundle (same code, same machine, same run).
// Dependencies in node_modules stay external; the native addon is found relative to build/.
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fresh(out, meta) {
  if (!existsSync(out) || !existsSync(meta)) return false;
  const built = statSync(out).mtimeMs;
  try {
    const inputs = JSON.parse(readFileSync(meta, 'utf8'));
    return inputs.every((f) => existsSync(join(root, f)) && statSync(join(root, f)).mtimeMs <= built);
  } catch {
    return false;
  }
}

/** Path of an up-to-date bundle of `entry` (a path relative to the repo root). */
export async function bundle(entry) {
  const name = relative(root, resolve(root, entry)).replace(/\.ts$/, '').replace(/[\\/]/g, '_');
  const dir = join(root, 'build', 'bundle');
  const out = join(dir, `${name}.mjs`);
  const meta = join(dir, `${name}.inputs.json`);
  if (fresh(out, meta)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp.mjs`;
  const { build } = await import('esbuild'); // only when stale: loading esbuild costs ~30 ms
  const result = await build({
    entryPoints: [join(root, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: tmp,
    sourcemap: 'inline',
    metafile: true,
    logLevel: 'error',
    // the addon loader resolves build/Release relative to its own module URL: keep that pointing at the repo
    define: {},
  });
  const inputs = Object.keys(result.metafile.inputs).filter((f) => !f.startsWith('node_modules'));
  writeFileSync(meta, JSON.stringify(inputs));
  renameSync(tmp, out); // atomic: concurrent runs (e2e tests start several nodes) never see half a file
  return out;
}

export async function importBundled(entry) {
  return import(pathToFileURL(await bundle(entry)).href);
}

// `node scripts/bundle.mjs bench/hotpath.ts [args…]`: bundle and run an entry point
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [entry, ...rest] = process.argv.slice(2);
  if (!entry) {
    console.error('usage: node scripts/bundle.mjs ENTRY.ts [args…]');
    process.exit(2);
  }
  process.argv = [process.argv[0], join(root, entry), ...rest];
  await importBundled(entry);
}
