/**
 * Measurements for `npm run bench:live`, each bounded in time: iperf3 TCP, trafgen 64-byte UDP with a
 * short search for the highest rate under 1 % loss, ICMP echo RTT percentiles, CPU from /proc.
 *
 * Counters are read without spawning anything: /proc/<pid>/net/dev of a process inside a namespace shows
 * that namespace's interfaces (BenchTopology keeps one `sleep` per namespace for this).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fmtStatus, Proc, PY, runIn, sleep } from '../test/e2e/harness.ts';
import type { BenchTopology } from './live-topo.ts';

// ------------------------------------------------------------------------------------------------
// /proc

export interface NetdevCounters {
  rxPackets: number;
  rxBytes: number;
  rxDrop: number;
  txPackets: number;
  txBytes: number;
  txDrop: number;
}

/** One interface's counters as seen from the namespace of `pid`. */
export function netdev(pid: number, dev: string): NetdevCounters {
  const text = readFileSync(`/proc/${pid}/net/dev`, 'utf8');
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== dev) continue;
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    // rx: bytes packets errs drop fifo frame compressed multicast | tx: bytes packets errs drop …
    return { rxBytes: f[0]!, rxPackets: f[1]!, rxDrop: f[3]!, txBytes: f[8]!, txPackets: f[9]!, txDrop: f[11]! };
  }
  throw new Error(`no interface ${dev} in the namespace of pid ${pid}`);
}

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux (USER_HZ)

/** utime + stime of a process (all its threads), in seconds; 0 once it is gone. */
export function procCpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state(3) … utime(14) stime(15), i.e. indexes 11 and 12 here
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return 0;
  }
}

export interface MachineCpu {
  user: number;
  system: number;
  softirq: number;
  irq: number;
  idle: number;
  total: number;
}

/** The machine's aggregate CPU times (first line of /proc/stat), in seconds. */
export function machineCpu(): MachineCpu {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const f = first.trim().split(/\s+/).slice(1).map((x) => Number(x) / CLK_TCK);
  // user nice system idle iowait irq softirq steal guest guest_nice
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return { user: f[0]! + f[1]!, system: f[2]!, idle: f[3]! + f[4]!, irq: f[5]!, softirq: f[6]!, total };
}

/** CPU used between two points: the tunnel processes and the machine. */
export class CpuMeter {
  private procs0: number[];
  private m0: MachineCpu;
  constructor(private readonly pids: number[]) {
    this.procs0 = pids.map(procCpuSeconds);
    this.m0 = machineCpu();
  }
  read(): { tunnelProcs: number; machineSysSoftirq: number; machineBusy: number; machineTotal: number } {
    const procs = this.pids.map(procCpuSeconds).reduce((a, v, k) => a + (v - this.procs0[k]!), 0);
    const m = machineCpu();
    return {
      tunnelProcs: procs,
      machineSysSoftirq: m.system + m.softirq + m.irq - (this.m0.system + this.m0.softirq + this.m0.irq),
      machineBusy: m.total - m.idle - (this.m0.total - this.m0.idle),
      machineTotal: m.total - this.m0.total,
    };
  }
}

/** Children of a process (from /proc/<pid>/task/<tid>/children), recursively. */
function descendants(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number)) {
        out.push(c, ...descendants(c));
      }
    }
  } catch {
    // gone
  }
  return out;
}

/**
 * Stop a generator: SIGINT (trafgen stops its worker processes and exits), then SIGKILL to it and its
 * children (trafgen forks one worker per CPU; a surviving worker would keep the pipes, and the Proc, open;
 * a worker retrying ENOBUFS does not look at SIGINT).
 */
export async function stopTree(p: Proc, graceMs = 500): Promise<void> {
  if (p.status) return;
  p.killNow('SIGINT');
  if (await p.waitExit(graceMs)) return;
  for (const pid of [p.pid, ...descendants(p.pid)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await p.exited;
}

// ------------------------------------------------------------------------------------------------
// ICMP echo RTT (python: stdlib raw socket; kernel receive timestamps, so the pinger's own wake-up delay
// under load is not counted)

const PINGER = `
import json, os, select, socket, struct, sys, time
dst, count, interval, drain = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
SO_TIMESTAMPNS = getattr(socket, 'SO_TIMESTAMPNS', 35)
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
ident = os.getpid() & 0xFFFF
def csum(b):
    if len(b) & 1: b += b'\\0'
    v = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while v >> 16: v = (v & 0xFFFF) + (v >> 16)
    return ~v & 0xFFFF
sent, rtts = {}, []
def receive(until):
    while True:
        left = until - time.monotonic()
        if left <= 0: return
        r, _, _ = select.select([s], [], [], left)
        if not r: return
        data, anc, _, _ = s.recvmsg(2048, 64)
        ihl = (data[0] & 15) * 4
        if len(data) < ihl + 8: continue
        typ, _, _, rid, seq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
        if typ != 0 or rid != ident or seq not in sent: continue
        ts = None
        for lvl, kind, val in anc:
            if lvl == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = struct.unpack('@qq', val[:16]); ts = sec * 1_000_000_000 + nsec
        if ts is None: ts = time.time_ns()
        rtts.append((ts - sent.pop(seq)) / 1000.0)
t = time.monotonic()
payload = bytes(range(56))
for seq in range(1, count + 1):
    hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    pkt = struct.pack('!BBHHH', 8, 0, csum(hdr + payload), ident, seq) + payload
    sent[seq] = time.time_ns()
    try: s.sendto(pkt, (dst, 0))
    except OSError: sent.pop(seq)
    t += interval
    receive(t)
receive(time.monotonic() + drain)
print(json.dumps({'sent': count, 'received': len(rtts), 'rttUs': sorted(rtts)}))
`;

export interface RttResult {
  sent: number;
  received: number;
  p50Us: number | null;
  p90Us: number | null;
  p99Us: number | null;
  maxUs: number | null;
}

function pct(sorted: number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const k = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[k]! * 10) / 10;
}

/** Start a pinger in `ns`: `count` echoes of 56 bytes every `intervalS`; result via `rttOf` after it exits. */
export function startPinger(ns: string, dst: string, count: number, intervalS: number): Proc {
  return new Proc(`ping ${dst} ×${count}`, ns, [PY, '-c', PINGER, dst, String(count), String(intervalS), '1.0']);
}

export async function rttOf(p: Proc, timeoutMs: number): Promise<RttResult> {
  const r = await p.waitExit(timeoutMs);
  if (!r) {
    p.killNow('SIGKILL');
    await p.exited;
    throw new Error(`${p.name}: did not finish within ${timeoutMs} ms`);
  }
  const line = p.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`${p.name}: failed (${fmtStatus(r)})\n${p.tail()}`);
  const j = JSON.parse(line) as { sent: number; received: number; rttUs: number[] };
  return { sent: j.sent, received: j.received, p50Us: pct(j.rttUs, 50), p90Us: pct(j.rttUs, 90), p99Us: pct(j.rttUs, 99), maxUs: pct(j.rttUs, 100) };
}

// ------------------------------------------------------------------------------------------------
// iperf3 TCP

export interface TcpResult {
  streams: number;
  seconds: number;
  gbps: number;
  bytes: number;
  retransmits: number | null;
  /** CPU seconds used during the test (see CpuMeter). */
  cpu: ReturnType<CpuMeter['read']>;
}

/** iperf3 from pod 1 to pod 2: `streams` parallel TCP streams for `seconds`; `during` runs alongside. */
export async function iperfTcp(t: BenchTopology, port: number, streams: number, seconds: number): Promise<TcpResult> {
  const server = new Proc(`iperf3 -s :${port}`, t.podNs(2), ['iperf3', '-s', '-1', '-B', t.podIP(2), '-p', String(port), '--forceflush']);
  try {
    await server.waitOutput((o) => o.includes('Server listening'), 10_000, 'Server listening');
    const meter = new CpuMeter(t.tunnelProcs.map((p) => p.pid));
    const client = await runIn(t.podNs(1), ['iperf3', '-c', t.podIP(2), '-p', String(port), '-t', String(seconds), '-P', String(streams),
      '-J', '--connect-timeout', '3000'], (seconds + 15) * 1000, `iperf3 -c ×${streams}`);
    const cpu = meter.read();
    let j: any;
    try {
      j = JSON.parse(client.stdout);
    } catch {
      throw new Error(`iperf3 client: no JSON (${client.status ? fmtStatus(client.status) : 'killed'})\n${client.tail()}`);
    }
    if (j.error) throw new Error(`iperf3 client: ${j.error}`);
    const rx = j.end?.sum_received;
    if (!rx) throw new Error('iperf3 client: no end.sum_received');
    return {
      streams,
      seconds: rx.seconds,
      gbps: rx.bits_per_second / 1e9,
      bytes: rx.bytes,
      retransmits: j.end?.sum_sent?.retransmits ?? null,
      cpu,
    };
  } finally {
    server.killNow('SIGKILL');
    await server.exited;
  }
}

// ------------------------------------------------------------------------------------------------
// 64-byte UDP with trafgen

/** Frame size on the pod's veth (no FCS): Ethernet 14 + IPv4 20 + UDP 8 + 22 bytes of payload. */
export const UDP_FRAME = 64;
export const UDP_SINK_PORT = 9;

export interface UdpProbe {
  /** Requested rate in packets/s (null: trafgen unthrottled, TX ring, as fast as it goes). */
  requestedPps: number | null;
  /** Frames the generator put on pod 1's veth, per second, over the steady window. */
  sentPps: number;
  /** Frames that arrived on pod 2's veth, per second, same window. */
  deliveredPps: number;
  /** 1 − delivered / sent over the window (the queues hold about as much at both ends of it). */
  loss: number;
  /** Totals over the whole probe (start-up burst included), counted after a drain. */
  sentTotal: number;
  deliveredTotal: number;
  /** A paced probe whose generator sent < 90 % of the requested rate (the generator, not the tunnel, set the rate). */
  generatorLimited: boolean;
  cpu: ReturnType<CpuMeter['read']>;
}

export interface UdpResult {
  /** The unthrottled probe: the generator's own rate and what got through. */
  atMax: UdpProbe;
  /** The rate search, in order. */
  probes: UdpProbe[];
  /** Highest delivered rate among probes with loss < 1 % (null: none). */
  bestPps: number | null;
  bestLoss: number | null;
  /** The best probe's generator could not send faster: the tunnel's limit is at or above bestPps. */
  bestGeneratorLimited: boolean;
  /** True when even the unthrottled generator saw < 1 % loss: the tunnel was not the limit. */
  generatorBound: boolean;
}

function trafgenConfig(t: BenchTopology): string {
  return `{ eth(da=${t.gwMAC(1)}, sa=${t.podMAC(1)}, type=0x0800), ipv4(saddr=${t.podIP(1)}, daddr=${t.podIP(2)}, ttl=64), ` +
    `udp(sp=40000, dp=${UDP_SINK_PORT}), fill(0x41, ${UDP_FRAME - 42}) }\n`;
}

/**
 * One probe: trafgen on pod 1's eth0, one CPU. Unthrottled (`pps` null): TX ring, qdisc bypassed.
 * Throttled: a tbf qdisc on pod 1's eth0 at exactly `pps` 64-byte frames per second, and trafgen's
 * per-packet path through it (`-t 0 -q`: sendto per packet, no gap; a full qdisc or send buffer gives
 * ENOBUFS, which trafgen retries), so the frames leave evenly spaced at that rate. (trafgen's own `-b
 * Npps` sends N frames as fast as it can and then sleeps out the second: 1 s bursts; and a tbf under the
 * TX ring makes trafgen exit at the first drop.) Rates and loss come from the counter window
 * [warmS, warmS + windowS]; totals (after the generator stopped and a 0.4 s drain) are kept too.
 */
async function udpProbe(t: BenchTopology, cfgFile: string, pps: number | null, warmS: number, windowS: number): Promise<UdpProbe> {
  const p1 = t.anchorPid(t.podNs(1));
  const p2 = t.anchorPid(t.podNs(2));
  const ns1 = t.podNs(1);
  if (pps !== null) {
    const bits = Math.round(pps * UDP_FRAME * 8);
    const q = await runIn(ns1, ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', `${bits}bit`, 'burst', '16kb', 'limit', '64kb'], 5000, 'tc tbf');
    if (q.status?.code !== 0) throw new Error(`tc qdisc replace … tbf: ${q.stderr.trim()}`);
  }
  const sent0 = netdev(p1, 'eth0');
  const del0 = netdev(p2, 'eth0');
  const gen = new Proc(`trafgen ${pps ?? 'max'}`, ns1, ['trafgen', '-o', 'eth0', '-i', cfgFile, '-P', '1', '--no-sock-mem', '-Q', '-C',
    ...(pps !== null ? ['-t', '0', '-q'] : [])]);
  try {
    await sleep(warmS * 1000);
    if (gen.status) throw new Error(`trafgen exited early (${fmtStatus(gen.status)})\n${gen.tail()}`);
    const meter = new CpuMeter(t.tunnelProcs.map((p) => p.pid));
    const w0 = process.hrtime.bigint();
    const s1 = netdev(p1, 'eth0');
    const d1 = netdev(p2, 'eth0');
    await sleep(windowS * 1000);
    const s2 = netdev(p1, 'eth0');
    const d2 = netdev(p2, 'eth0');
    const dt = Number(process.hrtime.bigint() - w0) / 1e9;
    const cpu = meter.read();
    await stopTree(gen);
    await sleep(400);
    const sent3 = netdev(p1, 'eth0');
    const del3 = netdev(p2, 'eth0');
    // a frame the veth could not hand to the node (its backlog full) counts as sent and lost
    const sentW = s2.txPackets + s2.txDrop - s1.txPackets - s1.txDrop;
    const deliveredW = d2.rxPackets - d1.rxPackets;
    return {
      requestedPps: pps,
      sentPps: sentW / dt,
      deliveredPps: deliveredW / dt,
      loss: sentW > 0 ? Math.max(0, 1 - deliveredW / sentW) : 1,
      sentTotal: sent3.txPackets + sent3.txDrop - sent0.txPackets - sent0.txDrop,
      deliveredTotal: del3.rxPackets - del0.rxPackets,
      generatorLimited: pps !== null && sentW / dt < 0.9 * pps,
      cpu,
    };
  } finally {
    await stopTree(gen);
    if (pps !== null) await runIn(ns1, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], 5000, 'tc qdisc del');
  }
}

export const LOSS_LIMIT = 0.01;

/**
 * Unthrottled probe, then `steps` paced probes bisecting (geometrically: the range can span 10×) between
 * the highest rate sent with < 1 % loss and the lowest sent with more (first guess: 95 % of what got
 * through unthrottled). Rates are what the generator really sent, which a starved generator can fall
 * short of; a probe that stays under 1 % loss while falling short ends the search.
 */
export async function udpSearch(t: BenchTopology, steps: number, warmS: number, windowS: number, log: (s: string) => void): Promise<UdpResult> {
  const cfgFile = join(t.dir, 'udp64.trafgen');
  writeFileSync(cfgFile, trafgenConfig(t));
  const sink = new Proc('udp sink', t.podNs(2), [PY, '-c',
    // bound and never read: datagrams are delivered (counted on eth0) and dropped at the socket, no ICMP
    `import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${t.podIP(2)}', ${UDP_SINK_PORT})); print('ready', flush=True); time.sleep(600)`]);
  try {
    await sink.waitOutput((o) => o.includes('ready'), 5000, 'ready');
    const fmt = (p: UdpProbe) => `${p.requestedPps === null ? 'max' : `${(p.requestedPps / 1e3).toFixed(0)}k`}: sent ${(p.sentPps / 1e3).toFixed(0)}k pps, ` +
      `delivered ${(p.deliveredPps / 1e3).toFixed(0)}k pps, loss ${(p.loss * 100).toFixed(2)} %${p.generatorLimited ? ' (generator-limited)' : ''}`;
    const atMax = await udpProbe(t, cfgFile, null, warmS, windowS);
    log(`    udp ${fmt(atMax)}`);
    const probes: UdpProbe[] = [];
    const ok = (p: UdpProbe) => p.loss < LOSS_LIMIT;
    let generatorBound = false;
    if (ok(atMax)) {
      generatorBound = true;
    } else {
      let lo = 0;
      let hi = atMax.sentPps;
      let rate = Math.max(1000, atMax.deliveredPps * 0.95);
      for (let s = 0; s < steps; s++) {
        const p = await udpProbe(t, cfgFile, Math.round(rate), warmS, windowS);
        probes.push(p);
        log(`    udp ${fmt(p)}`);
        if (ok(p)) lo = Math.max(lo, Math.min(rate, p.sentPps));
        else hi = Math.min(hi, rate, p.sentPps);
        if (ok(p) && p.generatorLimited) break; // the paced generator cannot go faster: done
        rate = lo > 0 ? Math.sqrt(lo * hi) : hi / 2;
      }
    }
    const good = [atMax, ...probes].filter(ok);
    const best = good.length ? good.reduce((a, b) => (b.deliveredPps > a.deliveredPps ? b : a)) : null;
    return { atMax, probes, bestPps: best?.deliveredPps ?? null, bestLoss: best?.loss ?? null, bestGeneratorLimited: best?.generatorLimited ?? false, generatorBound };
  } finally {
    sink.killNow('SIGKILL');
    await sink.exited;
  }
}

/**
 * The generator's own ceilings: trafgen from pod 1 to 10.244.99.2, blackholed by node 1 right after its
 * veth (no tunnel, no second node) — unthrottled (TX ring) and in the paced mode of the search (per-packet
 * sendto through a tbf set far above what it can reach).
 */
export async function generatorCeiling(t: BenchTopology, warmS: number, windowS: number): Promise<{ sentPps: number; pacedSentPps: number }> {
  const cfgFile = join(t.dir, 'udp64-blackhole.trafgen');
  writeFileSync(cfgFile, trafgenConfig(t).replace(`daddr=${t.podIP(2)}`, 'daddr=10.244.99.2'));
  const add = await runIn(t.nodeNs(1), ['ip', 'route', 'add', 'blackhole', '10.244.99.0/24'], 5000);
  if (add.status?.code !== 0) throw new Error(`ip route add blackhole: ${add.stderr}`);
  const ns1 = t.podNs(1);
  const p1 = t.anchorPid(ns1);
  const once = async (paced: boolean): Promise<number> => {
    if (paced) await runIn(ns1, ['tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'tbf', 'rate', '2gbit', 'burst', '64kb', 'limit', '64kb'], 5000);
    const gen = new Proc('trafgen ceiling', ns1, ['trafgen', '-o', 'eth0', '-i', cfgFile, '-P', '1', '--no-sock-mem', '-Q', '-C',
      ...(paced ? ['-t', '0', '-q'] : [])]);
    try {
      await sleep(warmS * 1000);
      const w0 = process.hrtime.bigint();
      const s1 = netdev(p1, 'eth0');
      await sleep(windowS * 1000);
      const s2 = netdev(p1, 'eth0');
      const dt = Number(process.hrtime.bigint() - w0) / 1e9;
      return (s2.txPackets + s2.txDrop - s1.txPackets - s1.txDrop) / dt;
    } finally {
      await stopTree(gen);
      if (paced) await runIn(ns1, ['tc', 'qdisc', 'del', 'dev', 'eth0', 'root'], 5000);
    }
  };
  try {
    return { sentPps: await once(false), pacedSentPps: await once(true) };
  } finally {
    await runIn(t.nodeNs(1), ['ip', 'route', 'del', 'blackhole', '10.244.99.0/24'], 5000);
  }
}
