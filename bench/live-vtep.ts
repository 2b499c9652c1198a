/**
 * What each `vtep run` of a bench:live contender did, from its own log (src/cli/run.ts): the offloads in
 * force (the "ready" line's `offloads`) and the totals of the "stopped" line that `vtep run` writes on
 * SIGTERM (`offload` counters, non-zero `drops`, `ioErrors`, `packets`).
 *
 * 1. BenchTopology.down() stops each vtep with SIGTERM and hands its JSON log lines to `vtepReportOf`
 * 2. bench/live.ts prints `vtepLine` for each node under the contender's block and keeps the reports in the
 *    results JSON (per round, and the best TCP ×1 round's in the summary)
 */
import { constants as osConstants } from 'node:os';

/** The offload counters of `vtep run` (LiveDataplane.offloadCounters()). */
export interface OffloadCounters {
  /** TUN reads that were TSO super-packets, and the TCP segments the engine cut them into. */
  tsoPackets: number;
  tsoSegments: number;
  /** sendmmsg messages sent as one UDP GSO run, and the datagrams in them. */
  gsoSends: number;
  gsoDatagrams: number;
  /** Socket reads that carried a UDP GRO run of several datagrams, and those datagrams. */
  groReads: number;
  groDatagrams: number;
  /** TUN writes of coalesced TCP packets, and the segments merged into them. */
  coalescedWrites: number;
  coalescedSegments: number;
}

export interface VtepIoError {
  op: string;
  errno: number;
  count: number;
}

export interface VtepNodeReport {
  /** "n1" / "n2". */
  node: string;
  /** `--io` as the ready line says (native / node); null without a ready line. */
  io: string | null;
  /** Offloads in force (ready line); null without a ready line. */
  offloads: string[] | null;
  /** A "stopped" line was found (false: vtep was killed, crashed, or never started). */
  stopped: boolean;
  /** Exit of the process: "code 0", "signal SIGKILL", or null when it had not exited. */
  exit: string | null;
  packets: Record<string, number> | null;
  offload: OffloadCounters | null;
  /** Non-zero drop counters by reason name (engine and I/O). */
  drops: Record<string, number>;
  ioErrors: VtepIoError[];
}

const COUNTER_KEYS = ['tsoPackets', 'tsoSegments', 'gsoSends', 'gsoDatagrams', 'groReads', 'groDatagrams', 'coalescedWrites', 'coalescedSegments'] as const;

function numbers(o: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[k] = v;
  return out;
}

/** The report of one vtep from its JSON log lines (the last "ready" and "stopped" lines count). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function vtepReportOf(node: string, lines: any[], exit: string | null): VtepNodeReport {
  const ready = lines.filter((l) => l?.msg === 'ready').at(-1);
  const stopped = lines.filter((l) => l?.msg === 'stopped').at(-1);
  let offload: OffloadCounters | null = null;
  if (stopped?.offload && typeof stopped.offload === 'object') {
    const n = numbers(stopped.offload);
    offload = Object.fromEntries(COUNTER_KEYS.map((k) => [k, n[k] ?? 0])) as unknown as OffloadCounters;
  }
  const drops = Object.fromEntries(Object.entries(numbers(stopped?.drops)).filter(([, v]) => v !== 0));
  const ioErrors: VtepIoError[] = Array.isArray(stopped?.ioErrors)
    ? stopped.ioErrors.filter((e: unknown) => e && typeof e === 'object').map((e: VtepIoError) => ({ op: String(e.op), errno: Number(e.errno), count: Number(e.count) }))
    : [];
  return {
    node,
    io: typeof ready?.io === 'string' ? ready.io : null,
    offloads: Array.isArray(ready?.offloads) ? ready.offloads.map(String) : null,
    stopped: Boolean(stopped),
    exit,
    packets: stopped ? numbers(stopped.packets) : null,
    offload,
    drops,
    ioErrors,
  };
}

/** 950, 18.6k, 851k, 1.25M. */
export function compact(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e5 ? 1 : 0)}k`;
  return `${(n / 1e6).toFixed(n < 1e7 ? 2 : 1)}M`;
}

/** errno → name, the first name for a number (EAGAIN, not EWOULDBLOCK). */
const ERRNO_NAMES = new Map<number, string>();
for (const [name, v] of Object.entries(osConstants.errno)) if (!ERRNO_NAMES.has(v)) ERRNO_NAMES.set(v, name);

/**
 * One line per vtep node, e.g. `n1 vtep [tso,gso,gro,coalesce]: TSO 18.6k reads → 851k segs (×45.8), GSO 37k
 * sends → 851k datagrams (×23.0), GRO 0 reads, coalesce 0 writes; packets TUN→UDP 18.6k→851k, UDP→TUN
 * 32k→32k; drops: none`. A lever appears when it was on or counted anything; `packets` counts reads and
 * sends as the dataplane does (a TSO read is one TUN packet, a GSO send its datagrams).
 */
export function vtepLine(r: VtepNodeReport): string {
  const head = `${r.node} vtep${r.io && r.io !== 'native' ? ` --io ${r.io}` : ''} [${r.offloads === null ? '?' : r.offloads.length ? r.offloads.join(',') : 'none'}]`;
  if (!r.stopped) return `${head}: no "stopped" line in its log (${r.exit ?? 'still running'}): counters unknown`;
  const on = (name: string) => r.offloads?.includes(name) ?? false;
  const o = r.offload;
  const parts: string[] = [];
  if (o) {
    // "TSO 18.6k reads → 851k segs (×45.8)", or "TSO 0 reads" when the lever was on and never used
    const lever = (name: string, ops: number, opsWord: string, units: number, unitsWord: string) =>
      ops === 0 ? `${name} 0 ${opsWord}` : `${name} ${compact(ops)} ${opsWord} → ${compact(units)} ${unitsWord} (×${(units / ops).toFixed(1)})`;
    if (on('tso') || o.tsoPackets) parts.push(lever('TSO', o.tsoPackets, 'reads', o.tsoSegments, 'segs'));
    if (on('gso') || o.gsoSends) parts.push(lever('GSO', o.gsoSends, 'sends', o.gsoDatagrams, 'datagrams'));
    if (on('gro') || o.groReads) parts.push(lever('GRO', o.groReads, 'reads', o.groDatagrams, 'datagrams'));
    if (on('coalesce') || o.coalescedWrites) parts.push(lever('coalesce', o.coalescedWrites, 'writes', o.coalescedSegments, 'segs'));
  }
  const p = r.packets;
  const pk = p ? `packets TUN→UDP ${compact(p.tunRead ?? 0)}→${compact(p.socketSend ?? 0)}, UDP→TUN ${compact(p.socketRecv ?? 0)}→${compact(p.tunWrite ?? 0)}` : '';
  const drops = Object.entries(r.drops).sort((a, b) => b[1] - a[1]);
  const dropText = drops.length === 0 ? 'none' : drops.slice(0, 4).map(([k, v]) => `${k} ${compact(v)}`).join(', ') + (drops.length > 4 ? `, +${drops.length - 4} more` : '');
  const errText = r.ioErrors.map((e) => `${e.op} ${ERRNO_NAMES.get(e.errno) ?? `errno ${e.errno}`} ×${compact(e.count)}`).join(', ');
  return `${head}: ${parts.length ? parts.join(', ') + '; ' : ''}${pk}; drops: ${dropText}${errText ? `; I/O errors: ${errText}` : ''}`;
}
