// Config watching and live reload planning: the file watch fires on in-place writes and on
// rename-replace (debounced), planReload tells live changes (peers) from restart-only ones, and the
// reloader swaps the FDB and diffs routes only for valid, live-applicable changes.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, renameSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/control/config.ts';
import { ConfigReloader, planReload, watchFile, type ReloadOutcome } from '../../src/control/watch.ts';
import type { Fdb } from '../../src/fdb/fdb.ts';
import { configOf, configText } from '../dataplane/helpers.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function scratch(): string {
  const d = mkdtempSync(join(tmpdir(), 'vtep-watch-'));
  dirs.push(d);
  return d;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('watchFile', () => {
  it('fires once per burst of writes, for in-place writes and for rename-replace, and not for other files', async () => {
    const d = scratch();
    const file = join(d, 'n1.yaml');
    writeFileSync(file, 'a: 1\n');
    let calls = 0;
    const w = watchFile(file, () => calls++, 50);
    try {
      // a burst of in-place writes: one call
      for (let i = 0; i < 5; i++) appendFileSync(file, `b${i}: 2\n`);
      await sleep(200);
      expect(calls).toBe(1);
      // replaced by rename (what editors and config tools do): one more
      writeFileSync(join(d, 'n1.yaml.tmp'), 'c: 3\n');
      renameSync(join(d, 'n1.yaml.tmp'), file);
      await sleep(200);
      expect(calls).toBe(2);
      // another file in the directory: nothing
      writeFileSync(join(d, 'other.yaml'), 'x: 1\n');
      await sleep(200);
      expect(calls).toBe(2);
    } finally {
      w.close();
    }
    appendFileSync(file, 'd: 4\n');
    await sleep(150);
    expect(calls).toBe(2); // closed
  });

  it('throws a VtepError for a directory that does not exist', () => {
    expect(() => watchFile('/nonexistent-dir-vtep/n1.yaml', () => {})).toThrow(/watch \/nonexistent-dir-vtep: ENOENT/);
  });
});

describe('planReload', () => {
  it('lists added, removed and changed peers and the route diff', () => {
    const old = configOf(1, { peers: [2, 3] });
    const next = parseConfig(configText(1, { peers: [3, 4] }).replace('02:00:00:00:00:03', '02:00:00:00:00:33'), 'n1.yaml');
    const p = planReload(old, next);
    expect(p.restart).toEqual([]);
    expect(p.added).toEqual(['n4']);
    expect(p.removed).toEqual(['n2']);
    expect(p.changed).toEqual(['n3']);
    expect(p.routesAdd).toEqual(['10.244.4.0/24', 'fd00:10:244:4::/64']);
    expect(p.routesDel).toEqual(['10.244.2.0/24', 'fd00:10:244:2::/64']);
  });

  it('a pod CIDR moving between peers changes no route', () => {
    const old = parseConfig(configText(1, { peers: [2, 3], pods: 'v4' }), 'n1.yaml');
    const moved = configText(1, { peers: [2, 3], pods: 'v4' }).replace('podCIDRs: [10.244.2.0/24]', 'podCIDRs: [10.244.2.0/24, 10.244.9.0/24]');
    const p1 = planReload(old, parseConfig(moved, 'n1.yaml'));
    expect(p1.routesAdd).toEqual(['10.244.9.0/24']);
    const p2 = planReload(parseConfig(moved, 'n1.yaml'), parseConfig(moved.replace('10.244.2.0/24, 10.244.9.0/24', '10.244.2.0/24').replace('podCIDRs: [10.244.3.0/24]', 'podCIDRs: [10.244.3.0/24, 10.244.9.0/24]'), 'n1.yaml'));
    expect(p2.changed).toEqual(['n2', 'n3']);
    expect(p2.routesAdd).toEqual([]);
    expect(p2.routesDel).toEqual([]);
  });

  it('asks for a restart when node identity, backend, port, VNI or tun settings change', () => {
    const old = configOf(1, { peers: [2] });
    const cases: [string, string[]][] = [
      [configText(1, { peers: [2] }).replace('198.51.100.1', '198.51.100.11'), ['node.underlayIP']],
      [configText(1, { peers: [2], backend: 'ipip' }), ['backend', 'tun.mtu']], // auto MTU: 1500 − 20 instead of − 50
      [configText(1, { peers: [2], extra: 'vxlan: { port: 8472 }' }), ['engine.port']],
      [configText(1, { peers: [2], extra: 'vxlan: { vni: 2 }' }), ['engine.vni']],
      [configText(1, { peers: [2], extra: 'tun: { name: vtep1 }' }), ['tun.name']],
      [configText(1, { peers: [2], extra: 'underlay: { mtu: 9000 }' }), ['engine.underlayMTU', 'tun.mtu']],
      [configText(1, { peers: [2] }).replace('name: n1', 'name: n1b'), ['node.name']],
    ];
    for (const [text, keys] of cases) expect(planReload(old, parseConfig(text, 'n1.yaml')).restart).toEqual(keys);
  });
});

describe('ConfigReloader', () => {
  function setup(initial: string) {
    const d = scratch();
    const file = join(d, 'n1.yaml');
    writeFileSync(file, initial);
    const cfg = parseConfig(initial, file);
    const swaps: Fdb[] = [];
    const routeCalls: { add: string[]; del: string[] }[] = [];
    let routeErrors: string[] = [];
    const r = new ConfigReloader(cfg, {
      setFdb: (f) => swaps.push(f),
      routes: async (add, del) => {
        routeCalls.push({ add, del });
        return routeErrors;
      },
    });
    return { file, r, swaps, routeCalls, setRouteErrors: (e: string[]) => (routeErrors = e) };
  }

  it('applies a peer change: new FDB swapped in, routes diffed, config advanced', async () => {
    const s = setup(configText(1, { peers: [2] }));
    writeFileSync(s.file, configText(1, { peers: [2, 3] }));
    const o = await s.r.reload();
    expect(o.result).toBe('applied');
    expect(s.swaps).toHaveLength(1);
    expect(s.swaps[0]!.peers.map((p) => p.name)).toEqual(['n2', 'n3']);
    expect(s.routeCalls).toEqual([{ add: ['10.244.3.0/24', 'fd00:10:244:3::/64'], del: [] }]);
    expect(s.r.config.peers).toHaveLength(2);
    // the same file again: unchanged, nothing done
    expect((await s.r.reload()).result).toBe('unchanged');
    expect(s.swaps).toHaveLength(1);
  });

  it('rejects an invalid file with its problem lines and keeps the running config', async () => {
    const s = setup(configText(1, { peers: [2] }));
    writeFileSync(s.file, configText(1, { peers: [2, 3] }).replace('10.244.3.0/24', '10.244.3.5/24'));
    const o = await s.r.reload();
    expect(o.result).toBe('rejected');
    expect(o.errors.join('\n')).toMatch(/peers\[1\]\.podCIDRs\[0\]: "10\.244\.3\.5\/24" has host bits set/);
    writeFileSync(s.file, 'node: [');
    expect((await s.r.reload()).result).toBe('rejected');
    rmSync(s.file);
    const gone = await s.r.reload();
    expect(gone.result).toBe('rejected');
    expect(gone.errors[0]).toMatch(/cannot read: ENOENT/);
    expect(s.swaps).toHaveLength(0);
    expect(s.routeCalls).toHaveLength(0);
    expect(s.r.config.peers.map((p) => p.name)).toEqual(['n2']);
    expect(s.r.counts).toMatchObject({ rejected: 3, applied: 0 });
  });

  it('keeps the running config when a change needs a restart, even if peers changed too', async () => {
    const s = setup(configText(1, { peers: [2] }));
    writeFileSync(s.file, configText(1, { peers: [2, 3], extra: 'vxlan: { port: 8472 }' }));
    const o = await s.r.reload();
    expect(o.result).toBe('restart-required');
    expect(o.plan!.restart).toEqual(['engine.port']);
    expect(s.swaps).toHaveLength(0);
    expect(s.r.config.engine.port).toBe(4789);
  });

  it('reports failed route commands but keeps the swapped FDB', async () => {
    const s = setup(configText(1, { peers: [2] }));
    s.setRouteErrors(['`ip route replace 10.244.3.0/24 dev vtep0`: RTNETLINK answers: Network is down']);
    writeFileSync(s.file, configText(1, { peers: [2, 3] }));
    const o = await s.r.reload();
    expect(o.result).toBe('applied');
    expect(o.errors).toHaveLength(1);
    expect(s.swaps).toHaveLength(1);
  });

  it('folds reloads requested while one runs into one more run', async () => {
    const s = setup(configText(1, { peers: [2] }));
    writeFileSync(s.file, configText(1, { peers: [2, 3] }));
    const seen: ReloadOutcome[] = [];
    const a = s.r.reload((o) => seen.push(o));
    const b = s.r.reload();
    const c = s.r.reload();
    await Promise.all([a, b, c]);
    expect(seen.map((o) => o.result)).toEqual(['applied', 'unchanged']);
    expect(s.swaps).toHaveLength(1);
  });
});
