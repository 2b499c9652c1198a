#!/usr/bin/env node
// Entry point for `npx vtep`: runs the TypeScript CLI as an esbuild bundle cached in build/bundle/
// (rebuilt when a source file changes; see scripts/bundle.mjs). No separate build step.
import { importBundled } from '../scripts/bundle.mjs';

// `vtep drops | head`: a closed pipe ends the output quietly, as for any Unix tool
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

const { main } = await importBundled('src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
