/**
 * The derived replay fixtures are what scripts/make-replay-fixtures.ts makes from the kernel captures:
 * a fresh run into a scratch copy gives the committed bytes (so nobody edits them by hand, and a change
 * to the generator shows up here).
 */
import { afterAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT, fx, tmpDir } from './helpers.ts';

const dir = tmpDir('fixtures');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('a fresh run of scripts/make-replay-fixtures.ts gives the committed files byte for byte', () => {
  for (const fam of ['v4', 'v6']) {
    fs.mkdirSync(path.join(dir, `kernel-${fam}`));
    for (const f of ['underlay.pcap', 'flannel.pcap', 'n1.yaml', 'n2.yaml']) fs.copyFileSync(fx(`kernel-${fam}`, f), path.join(dir, `kernel-${fam}`, f));
  }
  execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'scripts', 'make-replay-fixtures.ts'), dir], { cwd: ROOT, stdio: 'pipe' });
  const made: string[] = [];
  for (const sub of ['kernel-v4', 'kernel-v6', 'malformed']) {
    for (const f of fs.readdirSync(path.join(dir, sub))) {
      if (sub.startsWith('kernel') && ['underlay.pcap', 'flannel.pcap', 'n1.yaml', 'n2.yaml'].includes(f)) continue;
      made.push(`${sub}/${f}`);
      const mine = fs.readFileSync(path.join(dir, sub, f));
      const committed = fs.readFileSync(fx(sub, f));
      if (f.endsWith('.json')) expect(JSON.parse(mine.toString()), `${sub}/${f}`).toEqual(JSON.parse(committed.toString()));
      else expect(mine.equals(committed), `${sub}/${f}`).toBe(true);
    }
  }
  expect(made.sort()).toEqual(
    [
      ...['v4', 'v6'].flatMap((fam) => ['decap-n1.pcap', 'decap-n2.pcap', 'encap-n1.pcap', 'encap-n2.pcap', 'n1-ipip.yaml', 'n2-ipip.yaml'].map((f) => `kernel-${fam}/${f}`)),
      ...['n1-v4.yaml', 'n1-v6.yaml', 'underlay-v4.json', 'underlay-v4.pcap', 'underlay-v6.json', 'underlay-v6.pcap'].map((f) => `malformed/${f}`),
    ].sort(),
  );
});
