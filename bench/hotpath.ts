/**
 * `npm run bench` — the engine's hot path, each case side by side in the same run with a naive
 * baseline that allocates per packet (Buffer.concat / copies), with benny.
 *
 * Encap cases run the whole per-packet path: FDB longest-prefix match over 5,000 nodes, flow hash for
 * the source port, inner Ethernet + VXLAN + UDP (+ checksum) + outer IP + Ethernet headers.
 * Decap cases run the strict decap of a full Ethernet frame (every check, sender and pod-CIDR lookups).
 * Software TSO / GRO cases (bench/gso-cases.ts): one 64 KiB IPv4 TCP packet segmented at MSS 1,398 into 47
 * segments, and those 47 coalesced back into one packet; rows count segments, plus Gbit/s of TCP payload.
 * Also: FDB lookups at 10 / 5,000 / 100,000 prefixes, and heap growth over 10 M packets (and 100,000 TSO
 * packets segmented and coalesced).
 * The first row calibrates the machine (other load on a shared VM moves every number): a plain loop writing
 * 50 header bytes into a preallocated slot, against the same loop into a freshly allocated buffer. Before
 * each row both sides are warmed up (so the first case of a kind does not pay for the JIT), and that loop is
 * timed again for 100 ms before and after it; the row records the mean (`calibrationOps`) and its speed relative to it
 * (`vsCalibration`, the `/calib` column), which stays comparable across runs made under different load.
 * The `cpu` column is the share of a CPU the process had while vtep was measured (helper threads can push it
 * past 1), and `vtep/cpu-s` the rate divided by that share when below 1: what the code does with a CPU to
 * itself. Targets are judged on the wall-clock rate.
 *
 * Each benchmarked call handles BATCH = 16 packets (the calibration: 16 headers), like a dataplane loop, so
 * that benny's own per-call cost is not counted as packet cost; rows are packets per second. FDB rows: one
 * lookup per call (bench/fdb-cases.ts). GSO rows: one TSO packet (47 segments) per call.
 *
 * Results: bench/results/hotpath.json, bench/results/hotpath.svg (bar chart) and a printed table. Usage:
 *   npm run bench                 # everything (~2.5 min on the shared 2-core VM)
 *   npm run bench -- --quick      # shorter samples
 *   npm run bench -- --filter decap
 *   npm run bench -- --filter gso   # the TSO / GRO rows
 */
import b from 'benny';
import { mkdirSync, writeFileSync } from 'node:fs';
import { EncapLayer, type Engine } from '../src/engine/engine.ts';
import { sumBE, foldSum, udpChecksumField, pseudoSum4, pseudoSum6 } from '../src/packet/checksum.ts';
import { flowHash4, flowHash6, portFromHash } from '../src/engine/flowhash.ts';
import type { Fdb } from '../src/fdb/fdb.ts';
import { topology, engineFor, innerPool, underlayPool, type Topology } from './workload.ts';
import { fdbBenchCases } from './fdb-cases.ts';
import { gsoBenchCases, sink as gsoSink, type GsoBenchCase } from './gso-cases.ts';
import { renderHotpathSvg } from './hotpath-chart.ts';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const filterAt = args.indexOf('--filter');
let filter = filterAt >= 0 ? args[filterAt + 1]! : '';
const NODES = 5000;
const POOL = 256;
/** Packets per benchmarked call (a dataplane batch handles 64). */
const BATCH = 16;

interface Row {
  name: string;
  vtepOps: number;
  baselineOps: number;
  ratio: number;
  /** The calibration loop (wall clock, no benny) measured just before and just after this row, averaged. */
  calibrationOps: number;
  /** vtepOps / calibrationOps: comparable across runs made under different load. */
  vsCalibration: number;
  /** CPU time / wall time of this process while benny measured each side (see measure()). */
  vtepCpuShare: number;
  baselineCpuShare: number;
  /** vtepOps / min(1, vtepCpuShare): roughly what the code does with a CPU to itself (benny's own time included). */
  vtepOpsPerCpuSecond: number;
  target: number | null;
  pass: boolean | null;
  /** GSO rows: TCP payload carried, Gbit/s (ops × payload per op × 8); null for the others. */
  vtepGbps: number | null;
  baselineGbps: number | null;
}

const rows: Row[] = [];
/** Results are folded in here so V8 cannot drop the work. A typed array: a module-level `let` number would
 * become a HeapNumber once it leaves the small-integer range, and every `+=` would then allocate. */
const sinkBox = new Float64Array(1);

/** Call `fn` for `ms` milliseconds (wall clock); returns calls per second. */
function spin(fn: () => void, ms: number): number {
  const t0 = performance.now();
  let n = 0;
  let t = t0;
  while (t - t0 < ms) {
    for (let k = 0; k < 1000; k++) fn();
    n += 1000;
    t = performance.now();
  }
  return (n * 1000) / (t - t0);
}

/**
 * benny's ops/s for `fn` (wall clock), and the share of a CPU this process had meanwhile (its CPU time over
 * the wall time: below 1 when other processes took the CPU; helper threads, e.g. GC, can push it above).
 */
async function measure(name: string, label: string, fn: () => void, opts: { minSamples: number; maxTime: number }): Promise<{ ops: number; cpuShare: number }> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const summary = await b.suite(`${name}: ${label}`, b.add(label, () => fn, opts));
  const c = process.cpuUsage(c0);
  const wallMs = performance.now() - t0;
  return { ops: summary.results[0]!.ops, cpuShare: (c.user + c.system) / 1000 / wallMs };
}

/**
 * Race `candidate` against `baseline` (benny, one after the other) after a warm-up. Each call handles `perCall` packets (BATCH
 * for the engine cases, as a dataplane loop does: the harness's per-call cost would otherwise be counted as
 * packet cost); rows report packets (or lookups, or segments) per second. With `payloadPerCall` (bytes of TCP
 * payload per call) the row also gets Gbit/s of payload.
 */
async function race(name: string, candidate: () => void, baseline: () => void, target: number | null, perCall = BATCH, payloadPerCall = 0): Promise<void> {
  if (filter !== '' && !name.includes(filter)) return;
  const opts = quick ? { minSamples: 3, maxTime: 0.3 } : { minSamples: 5, maxTime: 1 };
  // warm up (optimised code before benny's first sample: otherwise the first case of a kind pays for the
  // JIT) and calibrate next to the measurement: the load of a shared machine changes during a run
  spin(candidate, quick ? 100 : 200);
  spin(baseline, quick ? 100 : 200);
  const calibrationBefore = spin(calibrationWrite, 100) * BATCH;
  const vtep = await measure(name, 'vtep', candidate, opts);
  const base = await measure(name, 'baseline', baseline, opts);
  const calibrationOps = (calibrationBefore + spin(calibrationWrite, 100) * BATCH) / 2;
  const vtepOps = vtep.ops * perCall;
  const baselineOps = base.ops * perCall;
  const row = {
    name,
    vtepOps,
    baselineOps,
    ratio: vtepOps / baselineOps,
    calibrationOps,
    vsCalibration: vtepOps / calibrationOps,
    vtepCpuShare: vtep.cpuShare,
    baselineCpuShare: base.cpuShare,
    vtepOpsPerCpuSecond: vtepOps / Math.min(1, vtep.cpuShare),
    target,
    pass: target === null ? null : vtepOps >= target,
    vtepGbps: payloadPerCall > 0 ? (vtep.ops * payloadPerCall * 8) / 1e9 : null,
    baselineGbps: payloadPerCall > 0 ? (base.ops * payloadPerCall * 8) / 1e9 : null,
  };
  rows.push(row);
  process.stdout.write(`${fmtRow(row)}\n`);
}

function fmtOps(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} M/s` : `${(n / 1e3).toFixed(0)} k/s`;
}
function fmtRow(r: Row): string {
  const verdict = r.pass === null ? '' : r.pass ? 'ok' : 'BELOW TARGET';
  const gbps = r.vtepGbps === null ? '' : ` payload ${r.vtepGbps.toFixed(1)} / ${r.baselineGbps!.toFixed(1)} Gbit/s`;
  return `${r.name.padEnd(44)} ${fmtOps(r.vtepOps).padStart(11)} ${fmtOps(r.baselineOps).padStart(11)} ${r.ratio.toFixed(2).padStart(6)}x ${r.vsCalibration.toFixed(2).padStart(6)} ${r.vtepCpuShare.toFixed(2).padStart(5)} ${fmtOps(r.vtepOpsPerCpuSecond).padStart(11)} ${(r.target === null ? '' : fmtOps(r.target)).padStart(10)} ${verdict}${gbps}`;
}

// ------------------------------------------------------------------------------------------- baselines

/** The allocating way: headers in a fresh Buffer, Buffer.concat, a full checksum over the new packet. */
function naiveEncap(engine: Engine, fdb: Fdb, src: Buffer, off: number, len: number): Buffer | null {
  const inner = src.subarray(off, off + len);
  const v6 = (inner[0]! >>> 4) === 6;
  const peer = v6 ? fdb.lookup6(inner, 24) : fdb.lookup4(inner.readUInt32BE(16));
  if (peer < 0) return null;
  const p = fdb.peers[peer]!;
  const o = engine.opts;
  const vxlan = o.backend === 'vxlan';
  const outer6 = p.family === 6;
  const ipLen = outer6 ? 40 : 20;
  const tun = vxlan ? 30 : 0;
  const hdr = Buffer.alloc(14 + ipLen + tun);
  hdr.writeUInt16BE(outer6 ? 0x86dd : 0x0800, 12);
  const ip = 14;
  const total = ipLen + tun + len;
  const proto = vxlan ? 17 : v6 ? 41 : 4;
  if (outer6) {
    hdr.writeUInt32BE(0x60000000, ip);
    hdr.writeUInt16BE(total - 40, ip + 4);
    hdr[ip + 6] = proto;
    hdr[ip + 7] = 64;
    Buffer.from(engine.currentFdb().local.underlayBytes).copy(hdr, ip + 8);
    Buffer.from(p.underlayBytes).copy(hdr, ip + 24);
  } else {
    hdr[ip] = 0x45;
    hdr.writeUInt16BE(total, ip + 2);
    hdr[ip + 8] = 64;
    hdr[ip + 9] = proto;
    hdr.writeUInt32BE(engine.currentFdb().local.underlay4, ip + 12);
    hdr.writeUInt32BE(p.underlay4, ip + 16);
    hdr.writeUInt16BE(~foldSum(sumBE(hdr, ip, 20)) & 0xffff, ip + 10);
  }
  if (vxlan) {
    const u = ip + ipLen;
    const hash = v6 ? flowHash6(inner, 8, 24, inner[6]!, inner.readUInt32BE(40)) : flowHash4(inner.readUInt32BE(12), inner.readUInt32BE(16), inner[9]!, inner.readUInt32BE(20));
    hdr.writeUInt16BE(portFromHash(hash, o.srcPortMin, o.srcPortMax), u);
    hdr.writeUInt16BE(o.port, u + 2);
    hdr.writeUInt16BE(8 + 8 + 14 + len, u + 4);
    hdr[u + 8] = 0x08;
    hdr.writeUIntBE(o.vni, u + 12, 3);
    Buffer.from(p.vtepMAC).copy(hdr, u + 16);
    Buffer.from(engine.currentFdb().local.vtepMAC).copy(hdr, u + 22);
    hdr.writeUInt16BE(v6 ? 0x86dd : 0x0800, u + 28);
    const pkt = Buffer.concat([hdr, inner]);
    if (outer6 || o.udpChecksum) {
      const ulen = 30 + len;
      const ps = outer6 ? pseudoSum6(pkt, ip + 8, pkt, ip + 24, 17, ulen) : pseudoSum4(pkt.readUInt32BE(ip + 12), pkt.readUInt32BE(ip + 16), 17, ulen);
      pkt.writeUInt16BE(udpChecksumField(ps + sumBE(pkt, u, ulen)), u + 6);
    }
    return pkt;
  }
  return Buffer.concat([hdr, inner]);
}

/** The allocating way: views for every layer, a copy of the inner frame, a full checksum verify. */
function naiveDecap(fdb: Fdb, verify: boolean, vxlan: boolean, src: Buffer, off: number, len: number): Buffer | null {
  const frame = src.subarray(off, off + len);
  const v6 = frame.readUInt16BE(12) === 0x86dd;
  const ip = frame.subarray(14);
  const ipHdr = v6 ? 40 : (ip[0]! & 15) * 4;
  if (!v6 && foldSum(sumBE(ip, 0, ipHdr)) !== 0xffff) return null;
  const sender = v6 ? fdb.peerByUnderlay6(ip, 8) : fdb.peerByUnderlay4(ip.readUInt32BE(12));
  if (sender < 0) return null;
  const l4 = ip.subarray(ipHdr);
  if (!vxlan) return Buffer.from(l4);
  const ulen = l4.readUInt16BE(4);
  if (verify && l4.readUInt16BE(6) !== 0) {
    const ps = v6 ? pseudoSum6(ip, 8, ip, 24, 17, ulen) : pseudoSum4(ip.readUInt32BE(12), ip.readUInt32BE(16), 17, ulen);
    if (foldSum(ps + sumBE(l4, 0, ulen)) !== 0xffff) return null;
  }
  const inner = Buffer.from(l4.subarray(16, ulen));
  const iv6 = inner.readUInt16BE(12) === 0x86dd;
  const dst = iv6 ? fdb.lookup6(inner, 14 + 24) : fdb.lookup4(inner.readUInt32BE(14 + 16));
  return dst === -2 ? inner : null;
}

// ----------------------------------------------------------------------------------------------- cases

const topo: Record<4 | 6, Topology> = { 4: topology(NODES, 4), 6: topology(NODES, 6) };

async function encapCase(backend: 'vxlan' | 'ipip', family: 4 | 6, size: number, csum: boolean, target: number | null): Promise<void> {
  const t = topo[family];
  const engine = engineFor(t, backend, 1, family === 6 ? { udp6ZeroChecksumTx: !csum } : { udpChecksum: csum });
  const fdb = engine.currentFdb();
  const { pool, offs, lens } = innerPool(t, POOL, size);
  let i = 0;
  let j = 0;
  const label = `encap ${backend} v${family}-underlay ${size}B${backend === 'vxlan' ? (csum ? ' csum' : ' no-csum') : ''}`;
  await race(
    label,
    () => {
      for (let n = 0; n < BATCH; n++) {
        const k = i++ & (POOL - 1);
        sinkBox[0] += engine.encap(pool, offs[k]!, lens[k]!, EncapLayer.Ethernet) + engine.outLen;
      }
    },
    () => {
      for (let n = 0; n < BATCH; n++) {
        const k = j++ & (POOL - 1);
        sinkBox[0] += naiveEncap(engine, fdb, pool, offs[k]!, lens[k]!)!.length;
      }
    },
    target,
  );
}

async function decapCase(backend: 'vxlan' | 'ipip', family: 4 | 6, size: number, verify: boolean, target: number | null): Promise<void> {
  const t = topo[family];
  const engine = engineFor(t, backend, 1, { verifyUdpChecksum: verify });
  const fdb = engine.currentFdb();
  const { pool, offs, lens } = underlayPool(t, backend, POOL, size, EncapLayer.Ethernet);
  let i = 0;
  let j = 0;
  const label = `decap ${backend} v${family}-underlay ${size}B${backend === 'vxlan' ? (verify ? ' csum-verify' : ' csum-trusted') : ''}`;
  await race(
    label,
    () => {
      for (let n = 0; n < BATCH; n++) {
        const k = i++ & (POOL - 1);
        sinkBox[0] += engine.decapFrame(pool, offs[k]!, lens[k]!) + engine.innerIpLen;
      }
    },
    () => {
      for (let n = 0; n < BATCH; n++) {
        const k = j++ & (POOL - 1);
        sinkBox[0] += naiveDecap(fdb, verify, backend === 'vxlan', pool, offs[k]!, lens[k]!)!.length;
      }
    },
    target,
  );
}

interface HeapGrowth {
  packets: number;
  encapHeapGrowthBytes: number;
  decapHeapGrowthBytes: number;
  /** TSO packets segmented (and their segments coalesced back) for the two GSO figures. */
  gsoPackets: number;
  gsoSegments: number;
  segmentHeapGrowthBytes: number;
  coalesceHeapGrowthBytes: number;
}

/**
 * Heap growth over `n` encap+decap packets, and over `gsoN` TSO packets segmented and coalesced (must be ≈ 0:
 * nothing allocated per packet).
 */
function heapGrowth(n: number, gsoN: number, gso: GsoBenchCase[]): HeapGrowth {
  const g = (globalThis as { gc?: () => void }).gc;
  const t = topo[4];
  const enc = engineFor(t, 'vxlan');
  const inner = innerPool(t, POOL, 64);
  const dec = engineFor(t, 'vxlan');
  const under = underlayPool(t, 'vxlan', POOL, 64, EncapLayer.Ethernet);
  const measure = (fn: (k: number) => void, count = n, warm = 100_000): number => {
    for (let k = 0; k < warm; k++) fn(k & (POOL - 1)); // warm up / optimise first
    g?.();
    const before = process.memoryUsage().heapUsed;
    for (let k = 0; k < count; k++) fn(k & (POOL - 1));
    g?.();
    return process.memoryUsage().heapUsed - before;
  };
  const e = measure((k) => {
    sinkBox[0] += enc.encap(inner.pool, inner.offs[k]!, inner.lens[k]!, EncapLayer.Ethernet);
  });
  const d = measure((k) => {
    sinkBox[0] += dec.decapFrame(under.pool, under.offs[k]!, under.lens[k]!);
  });
  const [segment, coalesce] = gso;
  const s = measure(() => segment!.candidate(), gsoN, 2000);
  const c = measure(() => coalesce!.candidate(), gsoN, 2000);
  return {
    packets: n,
    encapHeapGrowthBytes: e,
    decapHeapGrowthBytes: d,
    gsoPackets: gsoN,
    gsoSegments: gsoN * segment!.perCall,
    segmentHeapGrowthBytes: s,
    coalesceHeapGrowthBytes: c,
  };
}

// ------------------------------------------------------------------------------------------ calibration

const CAL_SLOTS = 256;
const calPool = new Uint8Array(CAL_SLOTS * 2048);
let calI = 0;
let calJ = 0;

/** The plain way to write a 50-byte header (outer IPv4 + UDP + VXLAN + inner Ethernet) into a preallocated slot; BATCH of them. */
function calibrationWrite(): void {
  for (let n = 0; n < BATCH; n++) {
    const i = calI++;
    const o = (i & (CAL_SLOTS - 1)) * 2048 + 46;
    for (let k = 0; k < 50; k++) calPool[o + k] = (i + k) & 0xff;
    sinkBox[0] += calPool[o + 49]!;
  }
}

/** The same 50 bytes written into a freshly allocated buffer; BATCH of them. */
function calibrationAlloc(): void {
  for (let n = 0; n < BATCH; n++) {
    const j = calJ++;
    const b = new Uint8Array(50);
    for (let k = 0; k < 50; k++) b[k] = (j + k) & 0xff;
    sinkBox[0] += b[49]!;
  }
}

async function main(): Promise<void> {
  process.stdout.write(
    `${'case'.padEnd(44)} ${'vtep'.padStart(11)} ${'baseline'.padStart(11)} ${'ratio'.padStart(7)} ${'/calib'.padStart(6)} ${'cpu'.padStart(5)} ${'vtep/cpu-s'.padStart(11)} ${'target'.padStart(10)}\n`,
  );
  // always first (and never filtered out): every other row is also expressed relative to it
  const savedFilter = filter;
  filter = '';
  await race('calibration: 50 B header write loop', calibrationWrite, calibrationAlloc, null);
  filter = savedFilter;
  for (const size of [64, 512, 1400]) {
    const t = size === 64 ? 10e6 : size === 1400 ? 8e6 : null;
    await encapCase('vxlan', 4, size, true, t);
    await encapCase('vxlan', 4, size, false, null);
    await encapCase('vxlan', 6, size, true, null);
    await encapCase('vxlan', 6, size, false, null);
    await encapCase('ipip', 4, size, false, null);
    await encapCase('ipip', 6, size, false, null);
  }
  for (const size of [64, 512, 1400]) {
    await decapCase('vxlan', 4, size, false, size === 64 ? 10e6 : size === 1400 ? 8e6 : null);
    await decapCase('vxlan', 4, size, true, size === 1400 ? 3.5e6 : null);
    await decapCase('vxlan', 6, size, false, null);
    await decapCase('vxlan', 6, size, true, null);
    await decapCase('ipip', 4, size, false, null);
    await decapCase('ipip', 6, size, false, null);
  }
  const gso = gsoBenchCases();
  for (const c of gso) await race(c.name, c.candidate, c.baseline, null, c.perCall, c.payloadPerCall);
  for (const c of fdbBenchCases()) {
    await race(`fdb lookup4 ${c.prefixes} prefixes`, c.candidate, c.baseline, c.prefixes === 5000 ? 20e6 : null, 1);
  }
  const heap = filter === '' || filter === 'gso' ? heapGrowth(quick ? 1_000_000 : 10_000_000, quick ? 10_000 : 100_000, gso) : null;
  if (heap !== null) {
    process.stdout.write(`heap growth over ${heap.packets} packets: encap ${heap.encapHeapGrowthBytes} B, decap ${heap.decapHeapGrowthBytes} B\n`);
    process.stdout.write(
      `heap growth over ${heap.gsoPackets} TSO packets (${heap.gsoSegments} segments): segment ${heap.segmentHeapGrowthBytes} B, coalesce ${heap.coalesceHeapGrowthBytes} B\n`,
    );
  }
  const below = rows.filter((r) => r.pass === false).map((r) => r.name);
  const slowerThan2x = rows.filter((r) => r.ratio < 2 && !r.name.startsWith('fdb') && !r.name.startsWith('calibration')).map((r) => r.name);
  const result = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: (await import('node:os')).cpus().map((c) => c.model)[0],
    quick,
    rows,
    heap,
    belowTarget: below,
    under2xBaseline: slowerThan2x,
    sink: sinkBox[0] + gsoSink[0],
  };
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/hotpath.json', JSON.stringify(result, null, 2) + '\n');
  writeFileSync('bench/results/hotpath.svg', renderHotpathSvg(result));
  process.stdout.write(`\nbelow target: ${below.length === 0 ? 'none' : below.join('; ')}\n`);
  process.stdout.write(`under 2x baseline: ${slowerThan2x.length === 0 ? 'none' : slowerThan2x.join('; ')}\n`);
  process.stdout.write('results: bench/results/hotpath.json, bench/results/hotpath.svg\n');
}

await main();
