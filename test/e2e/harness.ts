/**
 * End-to-end harness: network-namespace topologies with `vtep run` or the kernel's own VXLAN (set up as
 * flannel does) on each node, child processes, traffic, metrics and captures. Root and Linux only.
 *
 * Topology (per test file, built once in beforeAll, prefix `vte2e<pid><tag>` unique per run):
 *
 * ```
 *  pod1 eth0 ── veth-pod1 [node1] vtep0|flannel.1 ·· eth0 ══ underlay ══ eth0 ·· vtep0|flannel.1 [node2] veth-pod2 ── eth0 pod2
 * ```
 *
 * 1. namespaces `<prefix>-n<i>` (node i) and `<prefix>-p<i>` (its pod); with three or more nodes the
 *    underlay is a bridge in `<prefix>-ul`, with two it is one veth pair
 * 2. underlay eth0: 198.51.100.i/24 or 2001:db8:100::i/64 (nodad); offloads off (tx rx tso gso gro), as a
 *    wire carries finished frames (a veth would otherwise hand over CHECKSUM_PARTIAL packets whose inner
 *    checksums no NIC ever filled in)
 * 3. pod i: 10.244.i.2/24 via 10.244.i.1 (v6 fd00:10:244:i::2/64 via fd00:10:244:i::1), on a veth whose MTU
 *    (both ends) is the tunnel MTU, as flannel's CNI plugin sets it; forwarding on in node namespaces
 * 4. a node then runs either `vtep run` (startVtep: config written here, TUN/address/routes are vtep's job,
 *    readiness polled) or the kernel's VXLAN exactly as scripts/capture-kernel-fixtures.sh builds it
 *    (kernelVxlan: flannel.1 / flannel-v6.1, VNI 1, port 4789, nolearning, neigh + fdb + onlink route)
 *
 * Everything created is registered and removed in `down()`, and also on process exit and on
 * SIGINT/SIGTERM/SIGHUP (processes killed by pid, then namespaces deleted). Namespaces left by an earlier
 * run of this harness that was killed hard (prefix `vte2e<pid>` with that pid gone) are removed first.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as yamlStringify } from 'yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PY = '/usr/bin/python3';
export const TRAFFIC = join(REPO, 'test/e2e/traffic.py');
export const VTEP_BIN = join(REPO, 'bin/vtep.js');
export const NS_PREFIX = 'vte2e';

function haveCmd(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Root on Linux with iproute2, /dev/net/tun and /usr/bin/python3: the e2e tests can run. */
export const canRunE2e =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  existsSync('/dev/net/tun') &&
  existsSync(PY) &&
  haveCmd('ip', ['-V']);

// ------------------------------------------------------------------------------------------------
// Cleanup registry

const liveNamespaces = new Set<string>();
const liveProcs = new Set<Proc>();
const liveFiles = new Set<string>();

function nsPids(ns: string): number[] {
  try {
    return execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split(/\s+/)
      .filter((s) => s !== '')
      .map(Number);
  } catch {
    return [];
  }
}

/**
 * Kill (by pid) every process still inside `ns` — only this harness (or bench/live, which builds on it) ever
 * starts processes there — then delete it.
 */
export function deleteNamespaceSync(ns: string): void {
  for (const pid of nsPids(ns)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    // already gone
  }
  liveNamespaces.delete(ns);
}

function cleanupSync(): void {
  for (const p of liveProcs) p.killNow('SIGKILL');
  liveProcs.clear();
  for (const ns of [...liveNamespaces]) deleteNamespaceSync(ns);
  if (!process.env.VTEP_KEEP_TMP) for (const f of liveFiles) rmSync(f, { recursive: true, force: true });
  liveFiles.clear();
}

const HOOKED = Symbol.for('vtep.e2e.cleanup-hooked');
if (canRunE2e && !(globalThis as Record<symbol, unknown>)[HOOKED]) {
  (globalThis as Record<symbol, unknown>)[HOOKED] = true;
  process.on('exit', cleanupSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanupSync();
      // we were the only listener: re-raise so that the default action (exit) happens
      if (process.listenerCount(sig) === 1) {
        process.removeListener(sig, onSignal);
        process.kill(process.pid, sig);
      }
    };
    process.on(sig, onSignal);
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Remove what earlier runs of this harness left when they were killed hard (SIGKILL: no handler runs):
 * namespaces `vte2e<pid>…` whose pid is gone, with the processes still inside them (vtep, helpers — only
 * this harness starts processes there), and their scratch directories in the temp dir.
 */
export function reapStaleNamespaces(): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    list = '';
  }
  for (const line of list.split('\n')) {
    const m = /^(vte2e(\d+)\S*)/.exec(line);
    if (m && Number(m[2]) !== process.pid && !pidAlive(Number(m[2]))) deleteNamespaceSync(m[1]!);
  }
  for (const name of readdirSync(tmpdir())) {
    const m = /^vte2e(\d+)/.exec(name);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------------------------------------
// Commands and processes

/** `ip …` (synchronous; throws with stderr on failure). */
export function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`ip ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/** `ip -j …` parsed; [] when the object does not exist. */
export function ipJson(ns: string, ...args: string[]): any[] {
  try {
    const s = execFileSync('ip', ['-j', '-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    return s.trim() === '' ? [] : (JSON.parse(s) as any[]);
  } catch {
    return [];
  }
}

/** Run a command in `ns` synchronously (setup steps). */
export function nsExec(ns: string, cmd: string, ...args: string[]): string {
  try {
    return execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`[${ns}] ${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process started inside a namespace, its output kept (and mirrored to a log file). */
export class Proc {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  status: ExitStatus | null = null;
  readonly exited: Promise<ExitStatus>;
  private lineWaiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly ns: string,
    readonly argv: string[],
    readonly logFile?: string,
    env?: Record<string, string>,
  ) {
    this.child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    liveProcs.add(this);
    const logFd = logFile ? openSync(logFile, 'a') : -1;
    const onData = (which: 'stdout' | 'stderr') => (d: Buffer) => {
      this[which] += d.toString();
      if (logFd >= 0) writeSync(logFd, d);
      for (const w of this.lineWaiters.splice(0)) w();
    };
    this.child.stdout!.on('data', onData('stdout'));
    this.child.stderr!.on('data', onData('stderr'));
    this.exited = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        this.status = { code, signal };
        liveProcs.delete(this);
        if (logFd >= 0) closeSync(logFd);
        for (const w of this.lineWaiters.splice(0)) w();
        resolve(this.status);
      });
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** JSON objects printed one per line on stdout so far. */
  jsonLines(): any[] {
    const out: any[] = [];
    for (const l of this.stdout.split('\n')) {
      const t = l.trim();
      if (!t.startsWith('{')) continue;
      try {
        out.push(JSON.parse(t));
      } catch {
        // partial line
      }
    }
    return out;
  }

  /** Wait until `pred(stdout, stderr)` holds; rejects when the process exits first or on timeout. */
  async waitOutput(pred: (stdout: string, stderr: string) => boolean, timeoutMs: number, what = 'output'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred(this.stdout, this.stderr)) return;
      if (this.status) throw new Error(`${this.name}: exited (${fmtStatus(this.status)}) before ${what}\n${this.tail()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms\n${this.tail()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.lineWaiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  killNow(sig: NodeJS.Signals): void {
    if (this.status) return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // gone
    }
  }

  /** Wait for exit at most `timeoutMs`; null on timeout. */
  async waitExit(timeoutMs: number): Promise<ExitStatus | null> {
    if (this.status) return this.status;
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([
      this.exited,
      new Promise<null>((resolve) => {
        timer = setTimeout(() => resolve(null), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return r;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. Returns how it ended. */
  async stop(graceMs = 5000): Promise<ExitStatus> {
    if (this.status) return this.status;
    this.killNow('SIGTERM');
    const r = await this.waitExit(graceMs);
    if (r) return r;
    this.killNow('SIGKILL');
    return this.exited;
  }

  tail(lines = 30): string {
    const t = (s: string): string => s.trimEnd().split('\n').slice(-lines).join('\n');
    return `--- ${this.name} stderr (last ${lines} lines)\n${t(this.stderr)}\n--- stdout\n${t(this.stdout)}`;
  }
}

export function fmtStatus(s: ExitStatus): string {
  return s.signal ? `signal ${s.signal}` : `code ${s.code}`;
}

/** Run to completion in `ns`, killed after `timeoutMs`. */
export async function runIn(ns: string, argv: string[], timeoutMs: number, name = argv.join(' ')): Promise<Proc> {
  const p = new Proc(name, ns, argv);
  const r = await p.waitExit(timeoutMs);
  if (!r) {
    p.killNow('SIGKILL');
    await p.exited;
  }
  return p;
}

/** The last JSON line a finished helper printed; throws with its output when it failed or printed none. */
export function resultOf(p: Proc): any {
  const lines = p.jsonLines();
  if (p.status?.code !== 0 || lines.length === 0) {
    throw new Error(`${p.name}: failed (${p.status ? fmtStatus(p.status) : 'still running'})\n${p.tail()}`);
  }
  return lines[lines.length - 1];
}

// ------------------------------------------------------------------------------------------------
// Traffic (test/e2e/traffic.py)

export interface PingResult {
  sent: number;
  received: number;
  local_errors: string[];
  icmp_errors: Array<{ type: number; code: number; mtu: number; from: string }>;
}

/** ICMP echo from `ns` to `dst`: `count` requests of `size` payload bytes, DF (IPv4) / no fragmentation (IPv6). */
export async function ping(ns: string, dst: string, size: number, count = 3, df = false, perReplyS = 2): Promise<PingResult> {
  const p = await runIn(ns, [PY, TRAFFIC, 'ping', dst, String(size), String(count), df ? '1' : '0', String(perReplyS)],
    (count * perReplyS + 5) * 1000, `ping ${dst} ${size}B from ${ns}`);
  return resultOf(p) as PingResult;
}

/** A ping running in the background (`intervalS` between echoes); its result via resultOf after it exits. */
export function startPing(ns: string, dst: string, size: number, count: number, intervalS: number, perReplyS = 1): Proc {
  return new Proc(`ping ${dst} ${size}B x${count} from ${ns}`, ns,
    [PY, TRAFFIC, 'ping', dst, String(size), String(count), '0', String(perReplyS), String(intervalS)]);
}

/** A UDP receiver in `ns` that reports every datagram (payload hex, TOS / traffic class, source). */
export async function startUdpSink(ns: string, bind: string, port: number, lifetimeS = 120): Promise<Proc> {
  const p = new Proc(`udp-sink ${bind}:${port}`, ns, [PY, TRAFFIC, 'udp-sink', bind, String(port), String(lifetimeS)]);
  await p.waitOutput((o) => o.includes('"ready"'), 5000, 'ready');
  return p;
}

/** Send each payload once as a UDP datagram from `src` (ephemeral port) to dst:port with the given TOS. */
export async function udpSend(ns: string, src: string, dst: string, port: number, payloads: Uint8Array[], tos = 0): Promise<void> {
  const p = await runIn(ns, [PY, TRAFFIC, 'udp-send', src, dst, String(port), String(tos),
    ...payloads.map((b) => Buffer.from(b).toString('hex'))], 20_000, `udp-send ${src} → ${dst}:${port}`);
  const r = resultOf(p);
  if (r.sent !== payloads.length) throw new Error(`udp-send: sent ${r.sent} of ${payloads.length}`);
}

/** A UDP echo server in `ns` (stops by itself after `lifetimeS`). */
export async function startUdpEcho(ns: string, bind: string, port: number, lifetimeS = 300): Promise<Proc> {
  const p = new Proc(`udp-echo ${bind}:${port}`, ns, [PY, TRAFFIC, 'udp-echo', bind, String(port), String(lifetimeS)]);
  await p.waitOutput((o) => o.includes('"ready"'), 5000, 'ready');
  return p;
}

export interface UdpProbeResult {
  sent: number;
  ok: number;
  lost: number;
  bad: number;
}

/** Stop-and-wait UDP echo probe: one datagram per size, each must come back intact. */
export async function udpProbe(ns: string, dst: string, port: number, sizes: number[], perReplyS = 1): Promise<UdpProbeResult> {
  const p = await runIn(ns, [PY, TRAFFIC, 'udp-probe', dst, String(port), sizes.join(','), String(perReplyS)],
    (sizes.length * perReplyS + 5) * 1000, `udp-probe ${dst}:${port} from ${ns}`);
  return resultOf(p) as UdpProbeResult;
}

let bulkFile: { path: string; bytes: number; sha256: string } | null = null;

/** A file of random bytes (made once per process, removed at exit) and its sha256. */
export function bulkData(bytes = 50 * 1024 * 1024): { path: string; bytes: number; sha256: string } {
  if (bulkFile && bulkFile.bytes === bytes) return bulkFile;
  const dir = mkdtempSync(join(tmpdir(), `${NS_PREFIX}${process.pid}-data-`));
  liveFiles.add(dir);
  const path = join(dir, `random-${bytes}.bin`);
  const data = randomBytes(bytes);
  writeFileSync(path, data);
  bulkFile = { path, bytes, sha256: createHash('sha256').update(data).digest('hex') };
  return bulkFile;
}

const prefixFiles = new Map<number, string>();

/** A file holding the first `bytes` bytes of bulkData() (made once per process). */
export function bulkPrefix(bytes: number): string {
  const have = prefixFiles.get(bytes);
  if (have) return have;
  const big = bulkData();
  const path = `${big.path}.first-${bytes}`;
  const buf = Buffer.alloc(bytes);
  const fd = openSync(big.path, 'r');
  readSync(fd, buf, 0, bytes, 0);
  closeSync(fd);
  writeFileSync(path, buf);
  prefixFiles.set(bytes, path);
  return path;
}

export interface TransferResult {
  bytes: number;
  sha256: string;
  seconds: number;
}

/**
 * TCP transfer of `file` from `srcNs` to a sink in `dstNs` on `dstIp:port`, bounded by `timeoutS`.
 * Returns what both ends saw (the sender's sha256 of the file, the receiver's of the stream).
 */
export async function tcpTransfer(srcNs: string, dstNs: string, dstIp: string, port: number, file: string, timeoutS: number,
  bind = dstIp): Promise<{ sent: TransferResult; received: TransferResult }> {
  const sink = new Proc(`tcp-sink ${bind}:${port}`, dstNs, [PY, TRAFFIC, 'tcp-sink', bind, String(port), String(timeoutS)]);
  try {
    await sink.waitOutput((o) => o.includes('"ready"'), 5000, 'ready');
    const src = await runIn(srcNs, [PY, TRAFFIC, 'tcp-source', dstIp, String(port), file, String(timeoutS)],
      (timeoutS + 5) * 1000, `tcp-source → ${dstIp}:${port}`);
    const sent = resultOf(src) as TransferResult;
    const done = await sink.waitExit(10_000);
    if (!done) throw new Error(`tcp-sink did not finish after the sender did\n${sink.tail()}`);
    return { sent, received: resultOf(sink) as TransferResult };
  } finally {
    sink.killNow('SIGKILL');
    await sink.exited;
  }
}

// ------------------------------------------------------------------------------------------------
// Metrics

/** GET http://host:port/metrics from inside `ns` (python urllib: no curl needed). */
export function scrapeMetricsText(ns: string, hostPort: string): string {
  return nsExec(ns, PY, '-c',
    `import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://${hostPort}/metrics', timeout=3).read().decode())`);
}

/** `vtep_drops_total` by reason (summed over any other labels). */
export function dropsByReason(metricsText: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('vtep_drops_total{')) continue;
    const r = /reason="([^"]*)"/.exec(line);
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (!r || Number.isNaN(v)) continue;
    m.set(r[1]!, (m.get(r[1]!) ?? 0) + v);
  }
  return m;
}

// ------------------------------------------------------------------------------------------------
// Captures

/** tcpdump in `ns` on `dev` into `file`; resolves once it listens. Stop with `stopCapture`. */
export async function startCapture(ns: string, dev: string, file: string, filter: string[] = []): Promise<Proc> {
  const p = new Proc(`tcpdump ${dev}`, ns, ['tcpdump', '-Z', 'root', '-i', dev, '-n', '-U', '-s', '0', '--immediate-mode', '-w', file, ...filter]);
  await p.waitOutput((_o, e) => e.includes('listening on'), 5000, 'listening');
  return p;
}

/**
 * Stop a capture: first wait until its file has stopped growing for 300 ms (at most 5 s) — tcpdump -U
 * writes each packet as it reads it, and on a loaded machine it may still be behind — then SIGINT.
 */
export async function stopCapture(p: Proc, file?: string): Promise<string> {
  const path = file ?? p.argv[p.argv.indexOf('-w') + 1]!;
  const size = (): number => (existsSync(path) ? statSync(path).size : 0);
  let last = size();
  let stableSince = Date.now();
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && Date.now() - stableSince < 300) {
    await sleep(50);
    const now = size();
    if (now !== last) {
      last = now;
      stableSince = Date.now();
    }
  }
  p.killNow('SIGINT');
  const r = await p.waitExit(5000);
  if (!r) {
    p.killNow('SIGKILL');
    await p.exited;
  }
  return p.stderr;
}

// ------------------------------------------------------------------------------------------------
// Topology

export type Family = 4 | 6;
export type Backend = 'vxlan' | 'ipip';

export interface TopologyOptions {
  /** Underlay and pod family. */
  family: Family;
  /** Number of nodes (each with one pod). Defaults to 2. */
  nodes?: number;
  /** Defaults to vxlan. */
  backend?: Backend;
  /** Underlay link MTU. Defaults to 1500. */
  underlayMtu?: number;
}

export interface VtepStartOptions {
  /** Node indexes listed as peers. Defaults to every other node. */
  peers?: number[];
  /** Serve metrics on 127.0.0.1:<port> inside the node's namespace. Defaults to 9587; null = no --metrics. */
  metricsPort?: number | null;
  io?: 'native' | 'node';
  /** `--offload` (default: vtep's default, auto). */
  offload?: string;
  /** More `vtep run` arguments (e.g. ['--batch', '128']). */
  args?: string[];
  logLevel?: string;
  /** Extra config keys merged at the top level (e.g. { tun: {...} }). */
  extraConfig?: Record<string, unknown>;
  /** Milliseconds to wait for readiness. Defaults to 20 000. */
  readyTimeoutMs?: number;
}

export class VtepNode {
  constructor(
    readonly topo: Topology,
    readonly index: number,
    readonly proc: Proc,
    readonly configPath: string,
    readonly metricsPort: number | null,
  ) {}

  get ns(): string {
    return this.topo.nodeNs(this.index);
  }

  metricsText(): string {
    if (this.metricsPort === null) throw new Error('vtep started without --metrics');
    return scrapeMetricsText(this.ns, `127.0.0.1:${this.metricsPort}`);
  }

  drops(): Map<string, number> {
    return dropsByReason(this.metricsText());
  }
}

/** Bytes a backend adds over an underlay family (same numbers as flannel/the kernel). */
export function overhead(backend: Backend, family: Family): number {
  if (backend === 'vxlan') return family === 4 ? 50 : 70;
  return family === 4 ? 20 : 40;
}

export class Topology {
  readonly prefix: string;
  readonly family: Family;
  readonly nodes: number;
  readonly backend: Backend;
  readonly underlayMtu: number;
  readonly dir: string;
  readonly vteps = new Map<number, VtepNode>();
  private readonly namespaces: string[] = [];

  constructor(tag: string, opts: TopologyOptions) {
    this.prefix = `${NS_PREFIX}${process.pid}${tag}`;
    this.family = opts.family;
    this.nodes = opts.nodes ?? 2;
    this.backend = opts.backend ?? 'vxlan';
    this.underlayMtu = opts.underlayMtu ?? 1500;
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    liveFiles.add(this.dir);
  }

  // -- names and addresses (i = 1..nodes)
  nodeNs(i: number): string {
    return `${this.prefix}-n${i}`;
  }
  podNs(i: number): string {
    return `${this.prefix}-p${i}`;
  }
  get ulNs(): string {
    return `${this.prefix}-ul`;
  }
  underlayIP(i: number): string {
    return this.family === 4 ? `198.51.100.${i}` : `2001:db8:100::${i}`;
  }
  get underlayPlen(): number {
    return this.family === 4 ? 24 : 64;
  }
  podCIDR(i: number): string {
    return this.family === 4 ? `10.244.${i}.0/24` : `fd00:10:244:${i}::/64`;
  }
  podIP(i: number): string {
    return this.family === 4 ? `10.244.${i}.2` : `fd00:10:244:${i}::2`;
  }
  gwIP(i: number): string {
    return this.family === 4 ? `10.244.${i}.1` : `fd00:10:244:${i}::1`;
  }
  /** The VTEP address flannel puts on flannel.1 (10.244.i.0/32); vtep puts the same on its TUN. */
  vtepAddr(i: number): string {
    return this.family === 4 ? `10.244.${i}.0` : `fd00:10:244:${i}::`;
  }
  vtepMAC(i: number): string {
    return `02:00:00:00:00:${hex2(i)}`;
  }
  underlayMAC(i: number): string {
    return `02:00:00:aa:00:${hex2(i)}`;
  }
  get tunnelMtu(): number {
    return this.underlayMtu - overhead(this.backend, this.family);
  }
  /** ICMP echo payload that makes an inner packet of exactly the tunnel MTU. */
  get edgePayload(): number {
    return this.tunnelMtu - (this.family === 4 ? 28 : 48);
  }
  get ipFlag(): string {
    return this.family === 4 ? '-4' : '-6';
  }
  get kernelDev(): string {
    return this.family === 4 ? 'flannel.1' : 'flannel-v6.1';
  }

  private newNs(name: string): void {
    ip('netns', 'add', name);
    liveNamespaces.add(name);
    this.namespaces.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    const sysctls =
      this.family === 4
        ? ['net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1']
        : // no DAD (link-local addresses tentative for a second after link-up lose the first ND exchange),
          // no router solicitations, no RA processing — as scripts/capture-kernel-fixtures.sh
          ['net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0',
            'net.ipv6.conf.all.accept_ra=0', 'net.ipv6.conf.default.accept_ra=0',
            'net.ipv6.conf.all.router_solicitations=0', 'net.ipv6.conf.default.router_solicitations=0'];
    nsExec(name, 'sysctl', '-qw', ...sysctls);
  }

  private offloadsOff(ns: string, dev: string): void {
    try {
      nsExec(ns, 'ethtool', '-K', dev, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off');
    } catch {
      // features a device cannot change are reported and ignored
    }
  }

  /** Build namespaces, underlay and pods (no tunnel yet). */
  up(): this {
    reapStaleNamespaces();
    const nodad = this.family === 6 ? ['nodad'] : [];
    const useBridge = this.nodes > 2;
    if (useBridge) {
      this.newNs(this.ulNs);
      ip('-n', this.ulNs, 'link', 'add', 'br0', 'mtu', String(this.underlayMtu), 'type', 'bridge');
      ip('-n', this.ulNs, 'link', 'set', 'br0', 'up');
    }
    for (let i = 1; i <= this.nodes; i++) {
      const n = this.nodeNs(i);
      const p = this.podNs(i);
      this.newNs(n);
      this.newNs(p);
      nsExec(n, 'sysctl', '-qw', this.family === 4 ? 'net.ipv4.ip_forward=1' : 'net.ipv6.conf.all.forwarding=1');
      if (useBridge) {
        ip('-n', n, 'link', 'add', 'eth0', 'address', this.underlayMAC(i), 'mtu', String(this.underlayMtu), 'type', 'veth',
          'peer', 'name', `n${i}`, 'netns', this.ulNs, 'mtu', String(this.underlayMtu));
        this.offloadsOff(this.ulNs, `n${i}`);
        ip('-n', this.ulNs, 'link', 'set', `n${i}`, 'master', 'br0', 'up');
      } else if (i === 2) {
        ip('-n', this.nodeNs(1), 'link', 'add', 'eth0', 'address', this.underlayMAC(1), 'mtu', String(this.underlayMtu),
          'type', 'veth', 'peer', 'name', 'eth0', 'netns', n, 'address', this.underlayMAC(2), 'mtu', String(this.underlayMtu));
      }
    }
    for (let i = 1; i <= this.nodes; i++) {
      const n = this.nodeNs(i);
      ip('-n', n, 'addr', 'add', `${this.underlayIP(i)}/${this.underlayPlen}`, 'dev', 'eth0', ...nodad);
      this.offloadsOff(n, 'eth0');
      ip('-n', n, 'link', 'set', 'eth0', 'up');
      // pod link, at the tunnel MTU on both ends (flannel's CNI plugin does this)
      const p = this.podNs(i);
      const mtu = String(this.tunnelMtu);
      ip('-n', n, 'link', 'add', `veth-pod${i}`, 'mtu', mtu, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p, 'mtu', mtu);
      ip('-n', n, 'addr', 'add', `${this.gwIP(i)}/${this.family === 4 ? 24 : 64}`, 'dev', `veth-pod${i}`, ...nodad);
      ip('-n', p, 'addr', 'add', `${this.podIP(i)}/${this.family === 4 ? 24 : 64}`, 'dev', 'eth0', ...nodad);
      ip('-n', n, 'link', 'set', `veth-pod${i}`, 'up');
      ip('-n', p, 'link', 'set', 'eth0', 'up');
      ip('-n', p, this.ipFlag, 'route', 'add', 'default', 'via', this.gwIP(i), 'dev', 'eth0');
    }
    return this;
  }

  /** Set the MTU of pod i's link (both ends). */
  setPodMtu(i: number, mtu: number): void {
    ip('-n', this.nodeNs(i), 'link', 'set', `veth-pod${i}`, 'mtu', String(mtu));
    ip('-n', this.podNs(i), 'link', 'set', 'eth0', 'mtu', String(mtu));
  }

  private nodeEntry(i: number): Record<string, unknown> {
    return {
      name: `n${i}`,
      underlayIP: this.underlayIP(i),
      vtepMAC: this.vtepMAC(i),
      underlayMAC: this.underlayMAC(i),
      podCIDRs: [this.podCIDR(i)],
    };
  }

  /** vtep config for node i (shape of fixtures/kernel-v4/n1.yaml, plus tun). */
  config(i: number, peers: number[], extra: Record<string, unknown> = {}): Record<string, unknown> {
    const c: Record<string, unknown> = { backend: this.backend };
    if (this.backend === 'vxlan') c.vxlan = { vni: 1, port: 4789 };
    c.underlay = { mtu: this.underlayMtu };
    c.node = this.nodeEntry(i);
    c.peers = peers.map((j) => this.nodeEntry(j));
    c.tun = { name: 'vtep0', mtu: 'auto', txqueuelen: 1000 };
    return { ...c, ...extra };
  }

  configPath(i: number): string {
    return join(this.dir, `n${i}.yaml`);
  }

  /** Write node i's config atomically (write + rename, as config-management tools do). */
  writeConfig(i: number, peers: number[], extra: Record<string, unknown> = {}): string {
    const path = this.configPath(i);
    const tmp = `${path}.tmp`;
    writeFileSync(tmp, yamlStringify(this.config(i, peers, extra)));
    renameSync(tmp, path);
    return path;
  }

  otherNodes(i: number): number[] {
    return Array.from({ length: this.nodes }, (_, k) => k + 1).filter((j) => j !== i);
  }

  /** Start `vtep run` on node i and wait until it is ready (TUN up with its address, peer routes, metrics). */
  async startVtep(i: number, o: VtepStartOptions = {}): Promise<VtepNode> {
    const peers = o.peers ?? this.otherNodes(i);
    const path = this.writeConfig(i, peers, o.extraConfig);
    const metricsPort = o.metricsPort === undefined ? 9587 : o.metricsPort;
    const argv = [process.execPath, VTEP_BIN, 'run', '--config', path, '--log-level', o.logLevel ?? 'info'];
    if (metricsPort !== null) argv.push('--metrics', `127.0.0.1:${metricsPort}`);
    if (o.io) argv.push('--io', o.io);
    if (o.offload) argv.push('--offload', o.offload);
    if (o.args) argv.push(...o.args);
    const proc = new Proc(`vtep run n${i}`, this.nodeNs(i), argv, join(this.dir, `vtep-n${i}.log`));
    const node = new VtepNode(this, i, proc, path, metricsPort);
    this.vteps.set(i, node);
    await this.waitReady(node, peers, o.readyTimeoutMs ?? 20_000);
    return node;
  }

  /** What `vtep run` must have set up in node i's namespace for these peers (empty array = all there). */
  missingState(i: number, peers: number[], tun = 'vtep0'): string[] {
    const ns = this.nodeNs(i);
    const missing: string[] = [];
    const link = ipJson(ns, 'link', 'show', 'dev', tun)[0];
    if (!link) return [`device ${tun}`];
    if (!(link.flags as string[]).includes('UP')) missing.push(`${tun} UP`);
    const addrs = ipJson(ns, 'addr', 'show', 'dev', tun)[0]?.addr_info ?? [];
    if (!addrs.some((a: any) => a.local === this.vtepAddr(i))) missing.push(`address ${this.vtepAddr(i)} on ${tun}`);
    const routes = ipJson(ns, this.ipFlag, 'route', 'show', 'dev', tun);
    for (const j of peers) {
      if (!routes.some((r: any) => r.dst === this.podCIDR(j))) missing.push(`route ${this.podCIDR(j)} dev ${tun}`);
    }
    return missing;
  }

  async waitReady(node: VtepNode, peers: number[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let missing: string[] = [];
    for (;;) {
      if (node.proc.status) {
        throw new Error(`vtep run on n${node.index} exited (${fmtStatus(node.proc.status)}) before it was ready\n${node.proc.tail()}`);
      }
      missing = this.missingState(node.index, peers);
      // the contract (src/dataplane/live.ts): a JSON log line with msg "ready" once everything is set up
      if (!/"msg":"ready"/.test(node.proc.stdout)) missing.push('log line {"msg":"ready"}');
      if (missing.length === 0 && node.metricsPort !== null) {
        try {
          node.metricsText();
        } catch {
          missing.push(`metrics on 127.0.0.1:${node.metricsPort}`);
        }
      }
      if (missing.length === 0) return;
      if (Date.now() > deadline) break;
      await sleep(100);
    }
    throw new Error(`vtep run on n${node.index} not ready after ${timeoutMs} ms; missing: ${missing.join(', ')}\n${node.proc.tail()}`);
  }

  /**
   * The kernel's VXLAN on node i, exactly as scripts/capture-kernel-fixtures.sh (and flannel's
   * pkg/backend/vxlan) builds it: device flannel.1 (flannel-v6.1), VNI 1, dstport 4789, nolearning, MTU =
   * underlay − 50 (− 70), VTEP address /32 (/128); per peer: permanent neighbour, fdb entry, onlink route.
   */
  kernelVxlan(i: number, peers: number[] = this.otherNodes(i)): void {
    if (this.backend !== 'vxlan') throw new Error('kernel mode is VXLAN only');
    const ns = this.nodeNs(i);
    const dev = this.kernelDev;
    ip('-n', ns, 'link', 'add', dev, 'address', this.vtepMAC(i), 'mtu', String(this.tunnelMtu), 'type', 'vxlan', 'id', '1',
      'local', this.underlayIP(i), 'dev', 'eth0', 'dstport', '4789', 'nolearning');
    if (this.family === 6) nsExec(ns, 'sysctl', '-qw', `net/ipv6/conf/${dev}/accept_ra=0`);
    ip('-n', ns, 'addr', 'add', `${this.vtepAddr(i)}/${this.family === 4 ? 32 : 128}`, 'dev', dev, ...(this.family === 6 ? ['nodad'] : []));
    this.offloadsOff(ns, dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    for (const j of peers) {
      ip('-n', ns, this.ipFlag, 'neigh', 'add', this.vtepAddr(j), 'lladdr', this.vtepMAC(j), 'dev', dev, 'nud', 'permanent');
      execFileSync('bridge', ['-n', ns, 'fdb', 'append', this.vtepMAC(j), 'dev', dev, 'dst', this.underlayIP(j), 'self', 'permanent']);
      ip('-n', ns, this.ipFlag, 'route', 'add', this.podCIDR(j), 'via', this.vtepAddr(j), 'dev', dev, 'onlink');
    }
  }

  /** Stop every vtep (SIGTERM), kill anything left, delete the namespaces and the scratch dir. */
  async down(): Promise<void> {
    await Promise.all([...this.vteps.values()].map((v) => v.proc.stop(5000)));
    for (const ns of this.namespaces.reverse()) deleteNamespaceSync(ns);
    this.namespaces.length = 0;
    if (!process.env.VTEP_KEEP_TMP) rmSync(this.dir, { recursive: true, force: true });
    liveFiles.delete(this.dir);
  }

  /** The vtep log of node i (for failure messages). */
  vtepLog(i: number): string {
    const f = join(this.dir, `vtep-n${i}.log`);
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  }
}

function hex2(i: number): string {
  return i.toString(16).padStart(2, '0');
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `pred` every `stepMs` until true or `timeoutMs` passed; returns the last value. */
export async function pollUntil<T>(fn: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs: number, stepMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (ok(v) || Date.now() > deadline) return v;
    await sleep(stepMs);
  }
}

// ------------------------------------------------------------------------------------------------
// tshark

const TSHARK_PREFS = ['-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE'];

/** One row per frame: the values of `fields` ('' when absent, repeated values joined by ','). */
export function tsharkFields(file: string, fields: string[], filter?: string): string[][] {
  const args = ['-r', file, ...TSHARK_PREFS, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
    ...(filter ? ['-Y', filter] : []), ...fields.flatMap((f) => ['-e', f])];
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('|').map((f) => (f === 'True' ? '1' : f === 'False' ? '0' : f)));
}

/** tshark's expert summary lines at severity warning or error (empty = the capture decodes cleanly). */
export function tsharkExpertProblems(file: string): string[] {
  const out = execFileSync('tshark', ['-r', file, ...TSHARK_PREFS, '-q', '-z', 'expert,warn'], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20,
  });
  return out.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('='));
}
