// Runs a TypeScript entry point as one esbuild bundle (build/bundle/<name>.mjs), rebuilt only when one of
// its inputs changed. Why not tsx at run time: tsx compiles module by module with keepNames, and the hot
// path measured 2–4× slower that way than as a bundle (same code, same machine, same run).
// Dependencies in node_modules stay external (except BUNDLED_PACKAGES); the native addon is found relative to build/.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function fresh(out, meta) {
  if (!existsSync(out) || !existsSync(meta)) return false;
  const built = statSync(out).mtimeMs;
  try {
    const { inputs, chunks } = JSON.parse(readFileSync(meta, 'utf8'));
    return (
      chunks.every((c) => existsSync(join(dirname(out), c))) &&
      inputs.every((f) => existsSync(join(root, f)) && statSync(join(root, f)).mtimeMs <= built)
    );
  } catch {
    return false; // also an inputs file of the older format (a bare list)
  }
}

/**
 * Packages compiled into the bundle instead of loaded from node_modules at run time: the CommonJS loader
 * spends ~30 ms of every `vtep` start resolving and compiling yaml's ~60 files one by one, where the same
 * code inside the bundle costs ~10 ms. Every other package stays external.
 */
const BUNDLED_PACKAGES = new Set(['yaml', 'commander']);

const externalPackages = {
  name: 'external-packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const parts = args.path.split('/');
      const pkg = args.path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
      return BUNDLED_PACKAGES.has(pkg) ? undefined : { path: args.path, external: true };
    });
  },
};

/** Path of an up-to-date bundle of `entry` (a path relative to the repo root). */
export async function bundle(entry) {
  const name = relative(root, resolve(root, entry)).replace(/\.ts$/, '').replace(/[\\/]/g, '_');
  const dir = join(root, 'build', 'bundle');
  const out = join(dir, `${name}.mjs`);
  const meta = join(dir, `${name}.inputs.json`);
  if (fresh(out, meta)) return out;
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.tmp-${name}-${process.pid}`);
  const { build } = await import('esbuild'); // only when stale: loading esbuild costs ~30 ms
  try {
    const result = await build({
      entryPoints: [{ in: join(root, entry), out: name }],
      absWorkingDir: root, // metafile input paths relative to the repo root
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      plugins: [externalPackages],
      // the bundled CommonJS packages require() Node built-ins (yaml: 'process'): give the ESM output a require
      banner: { js: "import { createRequire as __vtepCreateRequire } from 'node:module'; const require = __vtepCreateRequire(import.meta.url);" },
      // splitting: a module reached only through `await import()` (e.g. `vtep run`'s logger and metrics, and
      // with them pino and prom-client) goes to a chunk of its own, so its external packages load only when
      // that import runs, not at every start. Chunks sit next to the entry (build/bundle/), which keeps
      // import.meta.url-relative paths (the addon loader's ../../build/Release) right.
      splitting: true,
      outdir: tmp,
      entryNames: '[name]',
      chunkNames: 'chunk-[hash]',
      outExtension: { '.js': '.mjs' },
      sourcemap: 'inline',
      metafile: true,
      logLevel: 'error',
    });
    // node_modules/… too (the bundled packages), and this script (its build options)
    const inputs = [...Object.keys(result.metafile.inputs), relative(root, fileURLToPath(import.meta.url))];
    const chunks = readdirSync(tmp).filter((f) => f.startsWith('chunk-'));
    // atomic, chunks first: concurrent runs (e2e tests start several nodes) never see half a file or an
    // entry whose chunks are missing; chunk names are content hashes, so a concurrent build writes the same bytes
    for (const c of chunks) renameSync(join(tmp, c), join(dir, c));
    renameSync(join(tmp, `${name}.mjs`), out);
    writeFileSync(meta, JSON.stringify({ inputs, chunks }));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
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
