// Root smoke test of `vtep run` against the real kernel: two node namespaces joined by a veth underlay
// (198.51.100.1/.2), each running `node bin/vtep.js run` as a child process; "pods" are addresses on the
// node's loopback (10.244.i.5, fd00:10:244:i::5). Checks: ready line, UDP echo both families pod↔pod
// and node↔pod, per-peer metrics, config reload (peer added / invalid file / peer removed), startup
// failures (bad config, device exists, port in use) that leave nothing behind, and SIGTERM cleanup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../src/io/native.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin/vtep.js');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
function have(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const canRun = process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/dev/net/tun') && native !== null &&
  have('ip', ['-V']) && have(PY, ['-c', 'pass']);

const P = `vtlive${process.pid}`;
const ns = (i: number) => `${P}-n${i}`;
let dir = '';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
function inNs(i: number, cmd: string[], timeoutMs = 20_000): string {
  return execFileSync('ip', ['netns', 'exec', ns(i), ...cmd], { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'] });
}

const ECHO = `
import socket, sys, json
mode, fam = sys.argv[1], int(sys.argv[2])
af = socket.AF_INET if fam == 4 else socket.AF_INET6
if mode == 'server':
    s = socket.socket(af, socket.SOCK_DGRAM); s.bind((sys.argv[3], 7777)); s.settimeout(float(sys.argv[4]))
    print('ready', flush=True)
    try:
        while True:
            d, a = s.recvfrom(65535); s.sendto(d, a)
    except socket.timeout: pass
else:
    src, dst, n, size = sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
    s = socket.socket(af, socket.SOCK_DGRAM); s.bind((src, 0)); s.settimeout(0.5)
    ok = 0; bad = 0
    for i in range(n):
        msg = (b'%08d' % i) * (size // 8)
        s.sendto(msg, (dst, 7777))
        try:
            d, a = s.recvfrom(65535)
            ok += d == msg; bad += d != msg
        except socket.timeout: pass
    print(json.dumps({'ok': ok, 'bad': bad}))
`;

function nodeYaml(i: number, peers: number[], extra = '', family: 4 | 6 = 4): string {
  const entry = (k: number) =>
    `{ name: n${k}, underlayIP: "${family === 4 ? `198.51.100.${k}` : `2001:db8:100::${k}`}", vtepMAC: "02:00:00:00:00:0${k}", podCIDRs: [10.244.${k}.0/24, "fd00:10:244:${k}::/64"] }`;
  return `node: ${entry(i)}\npeers:\n${peers.map((k) => `  - ${entry(k)}\n`).join('')}${extra}`;
}

/** Replace the config atomically (write + rename), as config tools do. */
function writeConfig(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

class Vtep {
  out = '';
  err = '';
  code: number | null | undefined = undefined;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(i: number, args: string[]) {
    this.child = spawn('ip', ['netns', 'exec', ns(i), process.execPath, BIN, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.out += d));
    this.child.stderr!.on('data', (d) => (this.err += d));
    this.exited = new Promise((r) => this.child.on('close', (code) => r((this.code = code))));
  }
  lines(): any[] {
    return this.out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }
  async waitFor(msg: string, ms = 20_000, after = 0): Promise<any> {
    const t0 = Date.now();
    for (;;) {
      const hit = this.lines().slice(after).find((l) => l.msg === msg);
      if (hit) return hit;
      if (this.code !== undefined) throw new Error(`vtep exited (${this.code}) before "${msg}": ${this.err}${this.out}`);
      if (Date.now() - t0 > ms) throw new Error(`no "${msg}" after ${ms} ms: ${this.err}${this.out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const running: Vtep[] = [];

async function echo(fam: 4 | 6, src: string, dst: string, n: number, size: number): Promise<{ ok: number; bad: number }> {
  const srv = spawn('ip', ['netns', 'exec', ns(2), PY, '-c', ECHO, 'server', String(fam), dst, '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      srv.stdout.on('data', (d) => String(d).includes('ready') && resolve());
      srv.on('close', (c) => reject(new Error(`echo server exited ${c}`)));
    });
    return JSON.parse(inNs(1, [PY, '-c', ECHO, 'client', String(fam), src, dst, String(n), String(size)]));
  } finally {
    srv.kill('SIGKILL');
  }
}

function metrics(i: number): string {
  return inNs(i, [PY, '-c', "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:9587/metrics', timeout=3).read().decode())"]);
}
function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(name + ' ') || l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}
const routesOn = (i: number, dev = 'vtep0') => {
  try {
    return (ip('-n', ns(i), 'route', 'show', 'dev', dev) + ip('-n', ns(i), '-6', 'route', 'show', 'dev', dev)).trim();
  } catch {
    return '';
  }
};
const linkThere = (i: number, dev: string) => have('ip', ['-n', ns(i), 'link', 'show', 'dev', dev]);

describe.skipIf(!canRun)('vtep run in network namespaces (root)', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vtep-live-'));
    for (const i of [1, 2]) {
      ip('netns', 'add', ns(i));
      ip('-n', ns(i), 'link', 'set', 'lo', 'up');
    }
    ip('link', 'add', 'ul1', 'netns', ns(1), 'type', 'veth', 'peer', 'name', 'ul2', 'netns', ns(2));
    for (const i of [1, 2]) {
      ip('-n', ns(i), 'addr', 'add', `198.51.100.${i}/24`, 'dev', `ul${i}`);
      ip('-n', ns(i), 'addr', 'add', `2001:db8:100::${i}/64`, 'dev', `ul${i}`, 'nodad');
      ip('-n', ns(i), 'link', 'set', `ul${i}`, 'up');
      ip('-n', ns(i), 'addr', 'add', `10.244.${i}.5/32`, 'dev', 'lo');
      ip('-n', ns(i), 'addr', 'add', `fd00:10:244:${i}::5/128`, 'dev', 'lo');
      writeFileSync(join(dir, `n${i}.yaml`), nodeYaml(i, [3 - i]));
    }
  });

  afterAll(async () => {
    for (const v of running) if (v.code === undefined) v.child.kill('SIGKILL');
    await Promise.all(running.map((v) => v.exited));
    for (const i of [1, 2]) {
      try {
        for (const pid of ip('netns', 'pids', ns(i)).split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* namespace gone */
      }
      try {
        ip('netns', 'del', ns(i));
      } catch {
        /* already gone */
      }
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('starts, forwards pod↔pod and node↔pod traffic both families, reloads, and cleans up on SIGTERM', async () => {
    const t0 = Date.now();
    const v1 = new Vtep(1, ['--config', join(dir, 'n1.yaml'), '--metrics', '127.0.0.1:9587']);
    const v2 = new Vtep(2, ['--config', join(dir, 'n2.yaml'), '--metrics', '127.0.0.1:9587']);
    running.push(v1, v2);
    const ready = await v1.waitFor('ready');
    await v2.waitFor('ready');
    console.log(`[live-netns] both ready after ${Date.now() - t0} ms (own startup ${ready.startupMs} ms)`);
    expect(ready).toMatchObject({ tun: 'vtep0', mtu: 1450, peers: 1, routes: 2, io: 'native', addresses: ['10.244.1.0', 'fd00:10:244:1::'] });
    expect(ip('-n', ns(1), 'addr', 'show', 'dev', 'vtep0')).toMatch(/inet 10\.244\.1\.0\/32/);
    expect(ip('-n', ns(1), 'link', 'show', 'dev', 'vtep0')).toMatch(/mtu 1450 .*qlen 10000/);
    expect(routesOn(1)).toMatch(/10\.244\.2\.0\/24/);
    expect(routesOn(1)).toMatch(/fd00:10:244:2::\/64/);

    const t1 = Date.now();
    const r4 = await echo(4, '10.244.1.5', '10.244.2.5', 300, 1000);
    const r6 = await echo(6, 'fd00:10:244:1::5', 'fd00:10:244:2::5', 300, 1000);
    const rn = await echo(4, '10.244.1.0', '10.244.2.5', 50, 64); // from the node itself (TUN address)
    const big = await echo(4, '10.244.1.5', '10.244.2.5', 20, 1400); // near the 1450 MTU
    console.log(`[live-netns] 670 UDP echoes in ${Date.now() - t1} ms`);
    expect(r4).toEqual({ ok: 300, bad: 0 });
    expect(r6).toEqual({ ok: 300, bad: 0 });
    expect(rn).toEqual({ ok: 50, bad: 0 });
    expect(big).toEqual({ ok: 20, bad: 0 });

    const m = metrics(1);
    expect(metric(m, 'vtep_peer_tx_packets_total{peer="n2"}')).toBe(670);
    expect(metric(m, 'vtep_peer_rx_packets_total{peer="n2"}')).toBe(670);
    expect(metric(m, 'vtep_drops_total{reason="fdb-miss"}')).toBe(0);
    expect(metric(m, 'vtep_fdb_peers')).toBe(1);
    expect(m).toMatch(/vtep_batch_size_bucket\{op="tun-read",le="1"\} \d+/);

    // reload: add a peer (route appears), reject an invalid file (route stays), remove it (route goes)
    const cfg1 = join(dir, 'n1.yaml');
    const mark = v1.lines().length;
    const t2 = Date.now();
    writeConfig(cfg1, nodeYaml(1, [2, 3]));
    const applied = await v1.waitFor('config reloaded', 3000, mark);
    const reloadMs = Date.now() - t2;
    console.log(`[live-netns] peer added: reload logged after ${reloadMs} ms`);
    expect(applied).toMatchObject({ added: ['n3'], removed: [], routesAdded: ['10.244.3.0/24', 'fd00:10:244:3::/64'] });
    expect(reloadMs).toBeLessThan(1000);
    expect(routesOn(1)).toMatch(/10\.244\.3\.0\/24/);
    writeConfig(cfg1, nodeYaml(1, [2, 3]).replace('198.51.100.3', '198.51.100.300'));
    const rejected = await v1.waitFor('config rejected', 3000, mark);
    expect(rejected.errors.join('\n')).toMatch(/198\.51\.100\.300/);
    expect(routesOn(1)).toMatch(/10\.244\.3\.0\/24/);
    writeConfig(cfg1, nodeYaml(1, [2]));
    await v1.waitFor('config reloaded', 3000, v1.lines().findIndex((l, k) => k >= mark && l.msg === 'config rejected') + 1);
    expect(routesOn(1)).not.toMatch(/10\.244\.3\.0/);
    expect(await echo(4, '10.244.1.5', '10.244.2.5', 20, 100)).toEqual({ ok: 20, bad: 0 }); // unchanged peer still flows

    // startup failures: one line, non-zero, nothing left behind
    const bad = new Vtep(1, ['--config', join(dir, 'missing.yaml')]);
    running.push(bad);
    expect(await bad.exited).toBe(2);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    const dup = new Vtep(1, ['--config', cfg1]);
    running.push(dup);
    expect(await dup.exited).toBe(1);
    expect(dup.err).toMatch(/vtep0 already exists/);
    writeFileSync(join(dir, 'n1-other.yaml'), nodeYaml(1, [2], 'tun: { name: vtepx }\n'));
    const port = new Vtep(1, ['--config', join(dir, 'n1-other.yaml')]);
    running.push(port);
    expect(await port.exited).toBe(1);
    expect(port.err).toMatch(/EADDRINUSE/);
    expect(linkThere(1, 'vtepx')).toBe(false);

    // SIGTERM: exit 0, final counters logged, device and routes gone, no process left
    const t3 = Date.now();
    v1.child.kill('SIGTERM');
    v2.child.kill('SIGTERM');
    expect(await v1.exited).toBe(0);
    expect(await v2.exited).toBe(0);
    console.log(`[live-netns] SIGTERM → exit in ${Date.now() - t3} ms`);
    const stopped = v1.lines().find((l) => l.msg === 'stopped');
    expect(stopped.peers.n2.txPackets).toBe(690);
    for (const i of [1, 2]) {
      expect(linkThere(i, 'vtep0')).toBe(false);
      expect(routesOn(i)).toBe('');
      expect(ip('netns', 'pids', ns(i)).trim()).toBe('');
    }
  }, 90_000);

  // the other backends / underlay families / I/O modes: start, carry both pod families, stop clean
  it.each([
    { backend: 'ipip', family: 4 as const, io: 'native' },
    { backend: 'ipip', family: 6 as const, io: 'native' },
    { backend: 'vxlan', family: 6 as const, io: 'node' },
  ])('$backend over IPv$family with --io $io', async ({ backend, family, io }) => {
    const vs = [1, 2].map((i) => {
      const path = join(dir, `n${i}-${backend}${family}.yaml`);
      writeFileSync(path, `backend: ${backend}\n` + nodeYaml(i, [3 - i], '', family));
      return new Vtep(i, ['--config', path, '--io', io]);
    });
    running.push(...vs);
    const ready = await vs[0]!.waitFor('ready');
    await vs[1]!.waitFor('ready');
    expect(ready).toMatchObject({ backend, io, mtu: 1500 - (backend === 'ipip' ? (family === 4 ? 20 : 40) : family === 4 ? 50 : 70) });
    expect(await echo(4, '10.244.1.5', '10.244.2.5', 50, 1000)).toEqual({ ok: 50, bad: 0 });
    expect(await echo(6, 'fd00:10:244:1::5', 'fd00:10:244:2::5', 50, 1000)).toEqual({ ok: 50, bad: 0 });
    for (const v of vs) v.child.kill('SIGTERM');
    for (const v of vs) expect(await v.exited).toBe(0);
    const stopped = vs[0]!.lines().find((l) => l.msg === 'stopped');
    expect(stopped.peers.n2).toMatchObject({ txPackets: 100, rxPackets: 100 });
    expect(stopped.drops).toEqual({});
    for (const i of [1, 2]) expect(linkThere(i, 'vtep0')).toBe(false);
  }, 60_000);
});
