/**
 * `npm run bench:live` — the live dataplane against the kernel and a one-packet-per-syscall tunnel, side by
 * side in one run, on the same two-node / two-pod netns topology (bench/live-topo.ts). Root, Linux.
 *
 * Contenders (`--only a,b,…`): (a) kernel VXLAN ↔ kernel VXLAN, flannel-style (the ceiling); (a+) the same
 * with the underlay veth at its default offloads, so that 64 KB GSO frames cross between the nodes (how
 * the issue measured ≈ 15 Gbit/s; no wire does that — reference only); (b) vtep ↔ vtep VXLAN, `--offload
 * auto` (TSO, UDP GSO, UDP GRO, TCP coalescing); (c) vtep ↔ kernel VXLAN (vtep encapsulates, the kernel
 * decapsulates); (d) vtep ↔ vtep IPIP; (e) socat TUN ↔ UDP (flannel's old udp backend: one read + one
 * write system call per packet); (f) vtep --io node ↔ vtep --io node (dgram sockets: no recvmmsg/sendmmsg
 * batching, no offloads). The offload ladder, vtep ↔ vtep VXLAN with one lever more per step: (b0)
 * `--offload none`, (b1) tso, (b2) tso,gso, (b3) tso,gso,gro, then b (all four); and (bz) auto with
 * vxlan.udpChecksum false (so no GSO: the kernel cannot fill in outer checksums we did not compute).
 * Default: all of them (in this order: a a+ b c d e f b0 b1 b2 b3 bz); --quick: a b c e f b0 (what the
 * issue's targets need, plus what batching and the offloads buy).
 * The underlay is wire-like for all but a+: no transmit offloads, GRO on receive (bench/live-topo.ts).

 * For each contender, in a fresh topology (built, measured, deleted):
 *   1. reachability: 5 echoes pod 1 → pod 2 must come back
 *   2. idle RTT: ICMP echo every 10 ms (kernel receive timestamps), p50 / p90 / p99
 *   3. iperf3 TCP pod 1 → pod 2, 1 stream, with the same pinger running alongside (RTT under load)
 *   4. iperf3 TCP, 4 streams
 *      (3+4: CPU seconds per GB = utime+stime of the tunnel processes (vtep / socat, both nodes) over the
 *      bytes iperf3 received; the kernel contender has no process: the machine's system+irq+softirq time
 *      from /proc/stat instead — which includes iperf3's own system calls and anything else running)
 *   5. 64-byte frames (UDP, 22-byte payload) from trafgen on pod 1's veth (one CPU, TX ring) to a socket in
 *      pod 2 that never reads (counted on pod 2's eth0, no ICMP back): first unthrottled (the generator's
 *      own rate and what got through), then a bisection of ≤ STEPS probes paced by a tbf qdisc
 *      for the highest rate delivered with < 1 % loss
 *   6. after teardown (vtep stopped by SIGTERM): each vtep's "ready" (offloads in force) and "stopped" log
 *      lines (offload counters, non-zero drops, I/O errors), one line per node, e.g.
 *      `n1 vtep [tso,gso,gro,coalesce]: TSO 18.6k reads → 851k segs (×45.7), GSO …; drops: none`
 * Before the first contender, the generator's ceiling: trafgen into a blackhole route on node 1.
 *
 * Output: a table, ratios against the issue's targets, bench/results/<name>.json and <name>.svg (name:
 * live-full, live-quick, or --name). Every process and wait is bounded; namespaces `vtbl<pid>…` are deleted
 * at the end, on error and on SIGINT/SIGTERM.
 *
 * Usage: npm run bench:live [-- --quick] [--rounds N] [--only a,a+,b,c,d,e,f,b0,b1,b2,b3,bz] [--batch 64]
 *        [--offloads on|off] [--underlay-gro on|off] [--txqueuelen N] [--profile DIR] [--perf] [--name NAME]
 *        [--no-write]
 *   (quick check of one change: node scripts/bundle.mjs bench/live.ts --quick --only b0,b --no-write)
 *   --only       contenders to run (also with --quick), in the order above whatever the order given;
 *                ≈ 25 s per contender and round (quick: ≈ 20 s)
 *   --offloads   the pod veths' and flannel.1's offloads (default on: TSO/GSO/checksum, as on a node);
 *                vtep's own offloads are the contender's (`--offload`, b0 … b3, bz)
 *   --quick      ≈ 2–2.5 min: contenders a b c e f b0, one round, TCP runs of 3 s, 3 search steps of 1 s
 *                (default ≈ 9–11 min: all 12 contenders, 2 rounds, TCP 4 s, 4 steps of 1.5 s; bounded
 *                by RUN_BUDGET_S = 900 s, after which the remaining contenders are skipped)
 *   --rounds N   rounds over all contenders, interleaved; the summary is each contender's best round per
 *                metric (highest throughput / rate, lowest RTT / CPU: other load only ever hurts)
 *   --txqueuelen vtep's tun.txqueuelen (default: the config's default)
 *   --profile    run vtep under `node --cpu-prof` (profiles in DIR) and print the top functions by self time
 *   --perf       `perf record -g` the tunnel processes during the 1-stream TCP run; print where their CPU
 *                goes by system call (inclusive %, kernel vs user)
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { join, resolve } from 'node:path';
import { renderLiveSvg } from './live-chart.ts';
import { generatorCeiling, iperfTcp, LOSS_LIMIT, rttOf, startPinger, udpSearch, type RttResult, type TcpResult, type UdpResult } from './live-measure.ts';
import { perfBreakdown, perfRecord, summarizeCpuProfile, type PerfBreakdown, type ProfileRow } from './live-profile.ts';
import { BenchTopology, CONTENDERS, installCleanupHooks, OFFLOAD_LADDER, reapStaleNamespaces, REPO, type ContenderSpec } from './live-topo.ts';
import { vtepLine, type VtepNodeReport } from './live-vtep.ts';

// ------------------------------------------------------------------------------------------------
// Options

const args = process.argv.slice(2);
function opt(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const QUICK = args.includes('--quick');
/** --quick without --only: what the issue's targets need (a b c e), what batching buys (f), what the offloads buy (b0). */
const QUICK_SET = ['a', 'b', 'c', 'e', 'f', 'b0'];
const ONLY = (opt('--only') ?? (QUICK ? QUICK_SET : CONTENDERS.map((c) => c.id)).join(',')).split(',').map((s) => s.trim()).filter(Boolean);
const BATCH = Number(opt('--batch') ?? '64');
const OFFLOADS = (opt('--offloads') ?? 'on') === 'on';
const UNDERLAY_GRO = (opt('--underlay-gro') ?? 'on') === 'on';
const PROFILE_DIR = opt('--profile') ? resolve(opt('--profile')!) : undefined;
const PERF = args.includes('--perf');
const TXQUEUELEN = opt('--txqueuelen') !== undefined ? Number(opt('--txqueuelen')) : undefined;
const NAME = opt('--name') ?? (PROFILE_DIR ? 'live-profile' : QUICK ? 'live-quick' : ONLY.length < CONTENDERS.length ? `live-${ONLY.join('-').replace(/[^\w-]/g, 'x')}` : 'live-full');
const WRITE = !args.includes('--no-write');

const T = QUICK
  ? { tcpS: 3, idlePings: 100, udpSteps: 3, udpWarmS: 0.4, udpWindowS: 1 }
  : { tcpS: 4, idlePings: 200, udpSteps: 4, udpWarmS: 0.5, udpWindowS: 1.5 };
/** Rounds over all contenders (interleaved); the summary keeps each contender's best round per metric. */
const ROUNDS = Number(opt('--rounds') ?? (QUICK ? '1' : '2'));
const PING_INTERVAL_S = 0.01;
/**
 * Hard bound for the whole run (contenders are skipped once it is reached). A contender takes ≈ 25 s a
 * round (quick ≈ 20 s): the default 12 × 2 rounds ≈ 9–11 min, --quick 6 × 1 ≈ 2–2.5 min.
 */
const RUN_BUDGET_S = QUICK ? 300 : 900;

// Targets from the issue
const TARGET = { tcpGbps: 4, tcpVsSocat: 5, tcpVsKernel: 0.25, kernelPeerWithin: 0.2, udpVsSocat: 2.4, udpStretchPps: 500_000, p99LoadUs: 2000 };

// ------------------------------------------------------------------------------------------------
// Per contender

interface ContenderResult {
  id: string;
  name: string;
  kind: string;
  error?: string;
  setupS?: number;
  loadavgBefore: number[];
  loadavgAfter?: number[];
  idle?: RttResult;
  tcp1?: TcpResult;
  underLoad?: RttResult;
  tcp4?: TcpResult;
  udp?: UdpResult;
  /** CPU seconds per GB moved over both TCP runs: tunnel processes (vtep/socat); machine sys+irq+softirq. */
  cpuPerGB?: { tunnelProcs: number | null; machineSysSoftirq: number; machineBusy: number; headline: number; basis: string };
  profile?: { node: string; rows: ProfileRow[] }[];
  /** --perf: kernel view of the tunnel processes during the 1-stream TCP run. */
  perf?: PerfBreakdown | null;
  /** Each vtep's offloads and totals over the whole contender run (its "ready" and "stopped" log lines). */
  vtep?: VtepNodeReport[];
}

const log = (s: string) => console.log(s);
const gb = (n: number) => `${n.toFixed(2)}`;
const kpps = (n: number | null | undefined) => (n === null || n === undefined ? '—' : `${(n / 1e3).toFixed(0)}k`);
const ms = (us: number | null | undefined) => (us === null || us === undefined ? '—' : (us / 1000).toFixed(us < 10_000 ? 2 : 1));

async function reachable(t: BenchTopology): Promise<void> {
  const r = await rttOf(startPinger(t.podNs(1), t.podIP(2), 5, 0.05), 10_000);
  if (r.received < 3) throw new Error(`pod 1 → pod 2: ${r.received} of ${r.sent} echoes came back\n${t.tails()}`);
}

async function runContender(spec: ContenderSpec, portBase: number, wantCeiling: boolean): Promise<{ res: ContenderResult; ceiling?: { sentPps: number; pacedSentPps: number } }> {
  const res: ContenderResult = { id: spec.id, name: spec.name, kind: spec.kind, loadavgBefore: os.loadavg() };
  let ceiling: { sentPps: number; pacedSentPps: number } | undefined;
  log(`\n(${spec.id}) ${spec.name}`);
  const t = new BenchTopology(spec, { offloads: OFFLOADS, underlayGro: UNDERLAY_GRO, batch: BATCH, tunTxqueuelen: TXQUEUELEN, cpuProfDir: PROFILE_DIR });
  const t0 = Date.now();
  try {
    await t.up();
    res.setupS = (Date.now() - t0) / 1000;
    await reachable(t);
    if (wantCeiling) {
      ceiling = await generatorCeiling(t, T.udpWarmS, T.udpWindowS);
      log(`    generator ceiling (trafgen → blackhole on node 1): ${kpps(ceiling.sentPps)} pps unthrottled, ${kpps(ceiling.pacedSentPps)} pps in paced mode`);
    }
    res.idle = await rttOf(startPinger(t.podNs(1), t.podIP(2), T.idlePings, PING_INTERVAL_S), (T.idlePings * PING_INTERVAL_S + 10) * 1000);
    log(`    idle RTT p50 ${ms(res.idle.p50Us)} ms, p99 ${ms(res.idle.p99Us)} ms (${res.idle.received}/${res.idle.sent})`);
    // 1 stream, pinger alongside from 1 s in until 1 s before the end
    const loadPings = Math.max(10, Math.floor((T.tcpS - 2) / PING_INTERVAL_S));
    const tcp1P = iperfTcp(t, portBase, 1, T.tcpS);
    await new Promise((r) => setTimeout(r, 1000));
    const pinger = startPinger(t.podNs(1), t.podIP(2), loadPings, PING_INTERVAL_S);
    const perfP = PERF && t.tunnelProcs.length ? perfRecord(t.tunnelProcs.map((p) => p.pid), Math.max(1, T.tcpS - 2), join(t.dir, 'perf.data')) : null;
    const [tcp1, underLoad, perfFile] = await Promise.all([tcp1P, rttOf(pinger, (T.tcpS + 15) * 1000), perfP]);
    if (perfP) {
      res.perf = perfFile ? perfBreakdown(perfFile, t.tunnelLabels) : null;
      printPerf(res.perf);
    }
    res.tcp1 = tcp1;
    res.underLoad = underLoad;
    log(`    TCP ×1 ${gb(tcp1.gbps)} Gbit/s (retransmits ${tcp1.retransmits}); RTT under load p50 ${ms(underLoad.p50Us)} ms, p99 ${ms(underLoad.p99Us)} ms (${underLoad.received}/${underLoad.sent})`);
    res.tcp4 = await iperfTcp(t, portBase + 1, 4, T.tcpS);
    log(`    TCP ×4 ${gb(res.tcp4.gbps)} Gbit/s (retransmits ${res.tcp4.retransmits})`);
    const bytesGB = (res.tcp1.bytes + res.tcp4.bytes) / 1e9;
    const procs = res.tcp1.cpu.tunnelProcs + res.tcp4.cpu.tunnelProcs;
    const sys = res.tcp1.cpu.machineSysSoftirq + res.tcp4.cpu.machineSysSoftirq;
    const busy = res.tcp1.cpu.machineBusy + res.tcp4.cpu.machineBusy;
    const hasProcs = t.tunnelProcs.length > 0;
    res.cpuPerGB = {
      tunnelProcs: hasProcs ? procs / bytesGB : null,
      machineSysSoftirq: sys / bytesGB,
      machineBusy: busy / bytesGB,
      headline: hasProcs ? procs / bytesGB : sys / bytesGB,
      basis: hasProcs ? 'utime+stime of the tunnel processes (both nodes)' : 'whole machine system+irq+softirq (/proc/stat; includes iperf3 and other load)',
    };
    log(`    CPU ${res.cpuPerGB.headline.toFixed(2)} s/GB (${res.cpuPerGB.basis})`);
    res.udp = await udpSearch(t, T.udpSteps, T.udpWarmS, T.udpWindowS, log);
    log(`    64-byte UDP delivered with < 1 % loss: ${res.udp.bestGeneratorLimited ? '≥ ' : ''}${kpps(res.udp.bestPps)} pps${res.udp.generatorBound ? ' (no loss even unthrottled: sender-clocked)' : res.udp.bestGeneratorLimited ? ' (the paced generator could not go faster)' : ''}`);
  } catch (e) {
    res.error = (e as Error).message;
    log(`    FAILED: ${res.error.split('\n').slice(0, 12).join('\n    ')}`);
  } finally {
    await t.down();
    res.loadavgAfter = os.loadavg();
  }
  if (t.vtepReports.length) {
    res.vtep = t.vtepReports;
    for (const r of t.vtepReports) log(`    ${vtepLine(r)}`);
  }
  if (PROFILE_DIR && (spec.node1.startsWith('vtep') || spec.node2.startsWith('vtep'))) {
    res.profile = [];
    for (const n of [1, 2]) {
      const f = join(PROFILE_DIR, `${spec.id}-n${n}.cpuprofile`);
      if (!existsSync(f)) continue;
      const rows = summarizeCpuProfile(JSON.parse(readFileSync(f, 'utf8')), 25);
      res.profile.push({ node: `n${n}`, rows });
      log(`    cpu profile n${n} (${f}), top self time:`);
      for (const r of rows.slice(0, 15)) log(`      ${r.selfPct.toFixed(1).padStart(5)} %  ${r.selfMs.toFixed(0).padStart(6)} ms  ${r.fn}  ${r.where}`);
    }
  }
  return { res, ceiling };
}

function printPerf(p: PerfBreakdown | null | undefined): void {
  if (!p) {
    log('    perf: no data (perf record failed)');
    return;
  }
  for (const [label, e] of Object.entries(p.byProcess)) {
    const syms = Object.entries(e.symbols).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', ');
    log(`    perf ${label}: kernel ${e.kernelPct.toFixed(0)} %, user ${e.userPct.toFixed(0)} %; inclusive %: ${syms}`);
  }
}


// ------------------------------------------------------------------------------------------------
// Summary over rounds: best of N per metric (other tenants of a shared machine only ever make a tunnel
// look slower: highest throughput and packet rate, lowest RTT and CPU per GB)

interface Summary {
  id: string;
  name: string;
  kind: string;
  rounds: number;
  okRounds: number;
  errors: string[];
  /** 1-minute load average before each round of this contender. */
  loadavg1: number[];
  tcp1Gbps: number | null;
  tcp4Gbps: number | null;
  /** Highest 64-byte rate delivered with < 1 % loss, and how that probe was limited. */
  udpPps: number | null;
  udpGeneratorLimited: boolean;
  udpSenderClocked: boolean;
  /** The unthrottled probe of the round that delivered most. */
  atMax: { sentPps: number; deliveredPps: number; loss: number } | null;
  idleP50Us: number | null;
  idleP99Us: number | null;
  loadP50Us: number | null;
  loadP99Us: number | null;
  cpuPerGB: number | null;
  cpuBasis: string | null;
  cpuPerGBMachine: number | null;
  /** The vtep reports (offloads, counters, drops, I/O errors) of the round with the best TCP ×1; null: no vtep. */
  vtep: VtepNodeReport[] | null;
}

function pick(xs: (number | null | undefined)[], best: 'max' | 'min'): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  return best === 'max' ? Math.max(...v) : Math.min(...v);
}

function summarize(spec: ContenderSpec, rounds: ContenderResult[]): Summary {
  const ok = rounds.filter((r) => !r.error);
  const udpBest = ok.filter((r) => r.udp?.bestPps != null).sort((a, b) => b.udp!.bestPps! - a.udp!.bestPps!)[0];
  const maxBest = ok.filter((r) => r.udp).sort((a, b) => b.udp!.atMax.deliveredPps - a.udp!.atMax.deliveredPps)[0];
  const tcpBest = ok.filter((r) => r.vtep).sort((a, b) => (b.tcp1?.gbps ?? -1) - (a.tcp1?.gbps ?? -1))[0] ?? rounds.filter((r) => r.vtep).at(-1);
  return {
    id: spec.id,
    name: spec.name,
    kind: spec.kind,
    rounds: rounds.length,
    okRounds: ok.length,
    errors: rounds.filter((r) => r.error).map((r) => r.error!),
    loadavg1: rounds.map((r) => Math.round(r.loadavgBefore[0]! * 100) / 100),
    tcp1Gbps: pick(ok.map((r) => r.tcp1?.gbps), 'max'),
    tcp4Gbps: pick(ok.map((r) => r.tcp4?.gbps), 'max'),
    udpPps: udpBest?.udp?.bestPps ?? null,
    udpGeneratorLimited: udpBest?.udp?.bestGeneratorLimited ?? false,
    udpSenderClocked: udpBest?.udp?.generatorBound ?? false,
    atMax: maxBest ? { sentPps: maxBest.udp!.atMax.sentPps, deliveredPps: maxBest.udp!.atMax.deliveredPps, loss: maxBest.udp!.atMax.loss } : null,
    idleP50Us: pick(ok.map((r) => r.idle?.p50Us), 'min'),
    idleP99Us: pick(ok.map((r) => r.idle?.p99Us), 'min'),
    loadP50Us: pick(ok.map((r) => r.underLoad?.p50Us), 'min'),
    loadP99Us: pick(ok.map((r) => r.underLoad?.p99Us), 'min'),
    cpuPerGB: pick(ok.map((r) => r.cpuPerGB?.headline), 'min'),
    cpuBasis: ok[0]?.cpuPerGB?.basis ?? null,
    cpuPerGBMachine: pick(ok.map((r) => r.cpuPerGB?.machineSysSoftirq), 'min'),
    vtep: tcpBest?.vtep ?? null,
  };
}

// ------------------------------------------------------------------------------------------------
// Ratios, targets, table

interface Check {
  what: string;
  value: number | null;
  target: string;
  pass: boolean | null;
}

function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  return a === null || a === undefined || b === null || b === undefined || b === 0 ? null : a / b;
}

/** The lever each ladder step adds to the one before. */
const LEVER: Record<string, string> = { b1: 'tso', b2: 'gso', b3: 'gro', b: 'coalesce' };

function checks(byId: Map<string, Summary>): Check[] {
  const g = (id: string) => byId.get(id);
  const tcp = (id: string) => g(id)?.tcp1Gbps ?? null;
  const tcp4 = (id: string) => g(id)?.tcp4Gbps ?? null;
  const udp = (id: string) => g(id)?.udpPps ?? null;
  const cpu = (id: string) => g(id)?.cpuPerGB ?? null;
  const c = (what: string, value: number | null, target: string, ok: (v: number) => boolean): Check =>
    ({ what, value, target, pass: value === null ? null : ok(value) });
  const cb = ratio(tcp('c'), tcp('b'));
  return [
    c('b TCP ×1 Gbit/s', tcp('b'), `≥ ${TARGET.tcpGbps}`, (v) => v >= TARGET.tcpGbps),
    c('b TCP ×4 Gbit/s', tcp4('b'), `≥ ${TARGET.tcpGbps}`, (v) => v >= TARGET.tcpGbps),
    c('b / e TCP ×1', ratio(tcp('b'), tcp('e')), `≥ ${TARGET.tcpVsSocat}`, (v) => v >= TARGET.tcpVsSocat),
    c('b / a TCP ×1', ratio(tcp('b'), tcp('a')), `≥ ${TARGET.tcpVsKernel}`, (v) => v >= TARGET.tcpVsKernel),
    c('b / a TCP ×4', ratio(tcp4('b'), tcp4('a')), `≥ ${TARGET.tcpVsKernel}`, (v) => v >= TARGET.tcpVsKernel),
    c('c / b TCP ×1', cb, `≥ ${1 - TARGET.kernelPeerWithin}`, (v) => v >= 1 - TARGET.kernelPeerWithin),
    c('c / b TCP ×4', ratio(tcp4('c'), tcp4('b')), `≥ ${1 - TARGET.kernelPeerWithin}`, (v) => v >= 1 - TARGET.kernelPeerWithin),
    c('b / a UDP 64 B pps (< 1 % loss)', ratio(udp('b'), udp('a')), '≥ 1', (v) => v >= 1),
    c('b / e UDP 64 B pps (< 1 % loss)', ratio(udp('b'), udp('e')), `≥ ${TARGET.udpVsSocat}`, (v) => v >= TARGET.udpVsSocat),
    c('b UDP 64 B pps (stretch)', udp('b'), `≥ ${TARGET.udpStretchPps}`, (v) => v >= TARGET.udpStretchPps),
    c('b ping p99 under load, ms', g('b')?.loadP99Us != null ? g('b')!.loadP99Us! / 1000 : null, `≤ ${TARGET.p99LoadUs / 1000}`, (v) => v * 1000 <= TARGET.p99LoadUs),
    c('b / f TCP ×1 (what batching buys)', ratio(tcp('b'), tcp('f')), 'info', () => true),
    c('b / f UDP 64 B pps', ratio(udp('b'), udp('f')), 'info', () => true),
    c('d / b TCP ×1 (IPIP vs VXLAN)', ratio(tcp('d'), tcp('b')), 'info', () => true),
    c('b / a+ TCP ×1 (vs GSO frames on the wire)', ratio(tcp('b'), tcp('a+')), 'info', () => true),
    c('a+ / a TCP ×1', ratio(tcp('a+'), tcp('a')), 'info', () => true),
    c('b / b0 TCP ×1 (what the offloads buy)', ratio(tcp('b'), tcp('b0')), 'info', () => true),
    c('b / b0 TCP ×4', ratio(tcp4('b'), tcp4('b0')), 'info', () => true),
    c('b0 / b CPU s/GB (CPU the offloads save)', ratio(cpu('b0'), cpu('b')), 'info', () => true),
    ...OFFLOAD_LADDER.slice(1).map((id, k) => {
      const prev = OFFLOAD_LADDER[k]!;
      return c(`${id} / ${prev} TCP ×1 (+${LEVER[id]})`, ratio(tcp(id), tcp(prev)), 'info', () => true);
    }),
    c('bz / b TCP ×1 (udpChecksum false: no GSO)', ratio(tcp('bz'), tcp('b')), 'info', () => true),
  ].map((x) => (x.target === 'info' ? { ...x, pass: null } : x));
}

function printTable(results: Summary[]): void {
  const head = ['', 'contender', 'TCP×1 Gb/s', 'TCP×4 Gb/s', 'UDP64 pps <1%', 'unthrottled sent→delivered (loss)', 'RTT idle p50/p99 ms', 'RTT load p50/p99 ms', 'CPU s/GB'];
  const rows: string[][] = [head];
  const num = (v: number | null, f: (x: number) => string) => (v === null ? '—' : f(v));
  for (const r of results) {
    if (r.okRounds === 0) {
      rows.push([r.id, r.name, 'FAILED', (r.errors[0] ?? '').split('\n')[0]!.slice(0, 60), '', '', '', '', '']);
      continue;
    }
    rows.push([
      r.id,
      r.name + (r.okRounds < r.rounds ? ` (${r.okRounds}/${r.rounds} rounds)` : ''),
      num(r.tcp1Gbps, gb),
      num(r.tcp4Gbps, gb),
      `${r.udpGeneratorLimited ? '≥ ' : ''}${kpps(r.udpPps)}${r.udpSenderClocked ? '*' : ''}`,
      r.atMax ? `${kpps(r.atMax.sentPps)} → ${kpps(r.atMax.deliveredPps)} (${(r.atMax.loss * 100).toFixed(1)} %)` : '—',
      `${ms(r.idleP50Us)} / ${ms(r.idleP99Us)}`,
      `${ms(r.loadP50Us)} / ${ms(r.loadP99Us)}`,
      `${num(r.cpuPerGB, (x) => x.toFixed(2))}${r.cpuBasis?.startsWith('whole machine') ? '†' : ''}`,
    ]);
  }
  const widths = head.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    log(r.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  '));
    if (i === 0) log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  log(`best of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''} per metric; * no loss even unthrottled (the sender is clocked by the kernel path); ≥ the paced generator could not go faster; † machine-wide system+irq+softirq CPU, not a process`);
}

// ------------------------------------------------------------------------------------------------

function need(cmd: string): void {
  try {
    execFileSync('sh', ['-c', 'command -v "$1"', 'sh', cmd], { stdio: 'ignore' });
  } catch {
    throw new Error(`bench:live needs ${cmd} (not found in PATH)`);
  }
}

async function main(): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) throw new Error('bench:live needs root on Linux (network namespaces)');
  for (const cmd of ['ip', 'bridge', 'tc', 'ethtool', 'iperf3', 'trafgen', 'socat', '/usr/bin/python3']) need(cmd);
  const unknown = ONLY.filter((id) => !CONTENDERS.some((c) => c.id === id));
  if (unknown.length) throw new Error(`--only: unknown contender(s) ${unknown.join(', ')} (${CONTENDERS.map((c) => c.id).join(', ')})`);
  if (!Number.isInteger(BATCH) || BATCH < 32 || BATCH > 1024) throw new Error('--batch: 32..1024');
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  installCleanupHooks();
  reapStaleNamespaces();

  const command = `npm run bench:live${args.length ? ` -- ${args.join(' ')}` : ''}`;
  log(`bench:live — ${command}`);
  log(`${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, kernel ${os.release()}, node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  log(`TCP ${T.tcpS} s per run; UDP ${UDP_DESC()}; pod veth offloads ${OFFLOADS ? 'on (defaults)' : 'off'}; underlay: tx/tso/gso off, gro ${UNDERLAY_GRO ? 'on' : 'off'}; vtep --batch ${BATCH}${PROFILE_DIR ? `; --cpu-prof into ${PROFILE_DIR}` : ''}`);
  const started = Date.now();
  const specs = CONTENDERS.filter((c) => ONLY.includes(c.id));
  const byRound: ContenderResult[][] = [];
  let ceiling: { sentPps: number; pacedSentPps: number } | null = null;
  for (let round = 1; round <= ROUNDS; round++) {
    if (ROUNDS > 1) log(`\n=== round ${round} of ${ROUNDS}`);
    const results: ContenderResult[] = [];
    for (const [k, spec] of specs.entries()) {
      if ((Date.now() - started) / 1000 > RUN_BUDGET_S) {
        results.push({ id: spec.id, name: spec.name, kind: spec.kind, loadavgBefore: os.loadavg(), error: `skipped: run budget of ${RUN_BUDGET_S} s used up` });
        continue;
      }
      const { res, ceiling: c } = await runContender(spec, 5201 + 10 * k, ceiling === null);
      if (c) ceiling = c;
      results.push(res);
    }
    byRound.push(results);
  }
  const summaries = specs.map((spec, k) => summarize(spec, byRound.map((r) => r[k]!)));
  const elapsedS = (Date.now() - started) / 1000;

  log(`\nResults (${elapsedS.toFixed(0)} s, load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}):`);
  printTable(summaries);
  if (ceiling) log(`generator ceiling: trafgen (1 CPU) into a blackhole on node 1: ${kpps(ceiling.sentPps)} pps unthrottled (TX ring), ${kpps(ceiling.pacedSentPps)} pps in the search's paced mode (sendto per packet)`);
  const byId = new Map(summaries.filter((r) => r.okRounds > 0).map((r) => [r.id, r]));
  const cks = checks(byId);
  log('\nRatios and targets (issue 6), all from this run:');
  for (const c of cks) {
    if (c.target === 'info' && c.value === null) continue; // a contender not in this run (kept in the JSON)
    const v = c.value === null ? '—' : c.value >= 1000 ? Math.round(c.value).toLocaleString('en') : c.value.toFixed(2);
    log(`  ${c.what.padEnd(44)} ${v.padStart(9)}   ${c.target === 'info' ? '' : `target ${c.target}  ${c.pass === null ? 'n/a' : c.pass ? 'pass' : 'MISS'}`}`);
  }

  const out = {
    date: new Date().toISOString(),
    command,
    machine: { cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`, kernel: os.release(), node: process.version },
    loadavgEnd: os.loadavg(),
    elapsedS,
    settings: {
      quick: QUICK, rounds: ROUNDS, tcpSeconds: T.tcpS, idlePings: T.idlePings, pingIntervalS: PING_INTERVAL_S, udpSteps: T.udpSteps,
      udpWarmS: T.udpWarmS, udpWindowS: T.udpWindowS, udpFrameBytes: 64, lossLimit: LOSS_LIMIT, offloads: OFFLOADS, underlayGro: UNDERLAY_GRO, vtepBatch: BATCH,
      profiled: Boolean(PROFILE_DIR), perf: PERF, tunTxqueuelen: TXQUEUELEN ?? 'config default',
    },
    notes: [
      'Shared 2-core VM: other work ran at the same time (see loadavg per contender); numbers are noisy.',
      'TCP: iperf3 pod1 → pod2; RTT: ICMP echo every 10 ms, kernel receive timestamps; under load = during the 1-stream TCP run.',
      'UDP: 64-byte frames (UDP payload 22 B) from trafgen (1 CPU) on pod1 eth0, counted on pod1 eth0 tx (+tx_dropped) and pod2 eth0 rx.',
      'CPU s/GB: tunnel processes utime+stime (both nodes) for vtep/socat; kernel contender: machine-wide system+irq+softirq.',
      'vtep: per node, the offloads in force (its "ready" log line) and its totals over the whole contender run (the "stopped" line on SIGTERM): offload counters, non-zero drops, I/O errors; contenders[].vtep is the best TCP ×1 round\'s, rounds[][].vtep every round\'s.',
    ],
    generatorCeiling: ceiling,
    contenders: summaries,
    checks: cks,
    rounds: byRound,
  };
  if (WRITE) {
    const dir = join(REPO, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${NAME}.json`), JSON.stringify(out, null, 2) + '\n');
    writeFileSync(join(dir, `${NAME}.svg`), renderLiveSvg(out));
    log(`\nbench/results/${NAME}.json and .svg written`);
  }
  if (PROFILE_DIR) log(`profiles in ${PROFILE_DIR}: ${readdirSync(PROFILE_DIR).join(', ')}`);
}

function UDP_DESC(): string {
  return `${T.udpWindowS} s windows, unthrottled + ≤ ${T.udpSteps} search steps`;
}

const watchdog = setTimeout(() => {
  console.error(`bench:live: still running after ${RUN_BUDGET_S + 300} s: giving up`);
  process.exit(3);
}, (RUN_BUDGET_S + 300) * 1000);
watchdog.unref();

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench:live: ${(e as Error).message}`);
    process.exit(1);
  },
);
