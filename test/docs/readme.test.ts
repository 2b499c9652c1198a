import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { render } from '../../scripts/readme-tables.ts';

describe('README.md', () => {
  const readme = readFileSync('README.md', 'utf8');
  it('generated tables (drop reasons, config keys) are current: run `npx tsx scripts/readme-tables.ts`', () => {
    expect(render(readme)).toBe(readme);
  });
  it('has the Quick start test command that .ci/run executes', () => {
    const lines = readme.split('\n');
    const at = lines.indexOf('# 2. run the tests');
    expect(at).toBeGreaterThan(0);
    expect(lines[at + 1]).toBe('npm test');
  });
});
