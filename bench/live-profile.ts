/**
 * Summary of a V8 `.cpuprofile` (what `node --cpu-prof` writes): self time per function, from the sample
 * stream (samples[] with timeDeltas[]), largest first. `(idle)` is time the event loop waited in epoll;
 * native addon calls (recvmmsg, sendmmsg, TUN read/write) show up as the JS function that called them.
 * For what happens inside those calls, `perf record -g` of the same processes (perfRecord / perfBreakdown):
 * the inclusive share of the system calls and of the kernel work they carry (softirq receive processing
 * runs at the end of a send, in the sender's context).
 */
import { spawn, spawnSync } from 'node:child_process';

export interface ProfileRow {
  fn: string;
  where: string;
  selfMs: number;
  /** Share of the profile's whole duration (idle included). */
  selfPct: number;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: CpuProfileNode[];
  samples?: number[];
  timeDeltas?: number[];
  startTime: number;
  endTime: number;
}

export function summarizeCpuProfile(p: CpuProfile, top: number): ProfileRow[] {
  const byNode = new Map<number, CpuProfileNode>();
  for (const n of p.nodes) byNode.set(n.id, n);
  const selfUs = new Map<string, { fn: string; where: string; us: number }>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  // timeDeltas[i] is the time since the previous sample; it belongs to sample i−1 (V8's convention)
  for (let i = 0; i < samples.length; i++) {
    const node = byNode.get(samples[i]!);
    if (!node) continue;
    const d = deltas[i + 1] ?? 0;
    const cf = node.callFrame;
    const file = cf.url ? cf.url.replace(/^file:\/\//, '').replace(/^.*\/(build|node_modules|src|scripts)\//, '$1/') : '';
    const where = file ? `${file}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}|${where}`;
    const e = selfUs.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += Math.max(0, d);
    selfUs.set(key, e);
  }
  const total = Math.max(1, p.endTime - p.startTime);
  return [...selfUs.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ fn: e.fn, where: e.where, selfMs: e.us / 1000, selfPct: (100 * e.us) / total }));
}

// ------------------------------------------------------------------------------------------------
// perf (kernel view): where the tunnel processes' CPU goes, by system call

/** Kernel functions reported (inclusive time): the system calls, and the work done inside them. */
export const PERF_SYMBOLS = [
  'ksys_read', 'ksys_write', '__sys_sendmmsg', '__sys_recvmmsg', '___sys_sendmsg', '___sys_recvmsg', '__sys_sendto', '__sys_recvfrom',
  'do_epoll_wait', 'core_sys_select', 'do_sys_poll',
  'tun_do_read', 'tun_get_user', 'udp_sendmsg', 'udp_recvmsg', 'net_rx_action', 'veth_poll', 'process_backlog', 'ip_forward', 'tcp_v4_rcv',
] as const;

export interface PerfBreakdown {
  /** Process label (e.g. "n1 vtep") → share of its own samples, in % (inclusive). */
  byProcess: Record<string, { samplesPct: number; kernelPct: number; userPct: number; symbols: Record<string, number> }>;
}

/** `perf record -g` of `pids` for `seconds` (bounded); resolves with the data file, or null without perf. */
export function perfRecord(pids: number[], seconds: number, file: string): Promise<string | null> {
  return new Promise((resolve) => {
    const p = spawn('perf', ['record', '-q', '-g', '-p', pids.join(','), '-o', file, '--', 'sleep', String(seconds)], { stdio: 'ignore' });
    const timer = setTimeout(() => p.kill('SIGKILL'), (seconds + 20) * 1000);
    p.on('error', () => {
      clearTimeout(timer);
      resolve(null);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve(code === 0 ? file : null);
    });
  });
}

/** Inclusive share of each PERF_SYMBOLS entry, per process, from a `perf record -g` file. */
export function perfBreakdown(file: string, labels: Map<number, string>): PerfBreakdown | null {
  const run = (args: string[]): string | null => {
    const r = spawnSync('perf', ['report', '-i', file, '--stdio', '-g', 'none', ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
    return r.status === 0 ? r.stdout : null;
  };
  const byPid = run(['--no-children', '--sort', 'pid,dso']);
  const bySym = run(['--children', '--sort', 'pid,sym']);
  if (byPid === null || bySym === null) return null;
  const total = new Map<number, number>();
  const kernel = new Map<number, number>();
  for (const line of byPid.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\d+):\S+\s+(.*\S)\s*$/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    const pct = Number(m[1]);
    total.set(pid, (total.get(pid) ?? 0) + pct);
    if (m[3]!.includes('kernel.kallsyms')) kernel.set(pid, (kernel.get(pid) ?? 0) + pct);
  }
  const out: PerfBreakdown = { byProcess: {} };
  const want = new Set<string>(PERF_SYMBOLS);
  for (const [pid, label] of labels) {
    const tot = total.get(pid);
    if (!tot) continue;
    out.byProcess[label] = { samplesPct: tot, kernelPct: (100 * (kernel.get(pid) ?? 0)) / tot, userPct: 100 - (100 * (kernel.get(pid) ?? 0)) / tot, symbols: {} };
  }
  for (const line of bySym.split('\n')) {
    const m = /^\s+([\d.]+)%\s+[\d.]+%\s+(\d+):\S+\s+\[k\]\s+(\S+)\s*$/.exec(line);
    if (!m || !want.has(m[3]!)) continue;
    const label = labels.get(Number(m[2]));
    const tot = total.get(Number(m[2]));
    if (!label || !tot) continue;
    out.byProcess[label]!.symbols[m[3]!] = Math.round((1000 * Number(m[1])) / tot) / 10;
  }
  return out;
}
