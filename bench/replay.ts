/**
 * `npm run bench:replay` — `vtep replay encap` and `vtep replay decap` as whole processes on a capture of
 * ≥ 1 M packets, side by side in the same run with `tcpdump -r IN -w OUT` on the same input (the floor:
 * read every record and write it out again, no processing). Target: vtep within 2× of tcpdump's time.
 *
 *   1. generate, in a scratch directory (deleted at the end), `pods.pcap`: node1's pod packets cycled from
 *      the kernel capture (fixtures/kernel-v4/flannel.pcap, frames node1 sent; real sizes: ICMP, UDP 1..1400,
 *      TCP segments; mean ≈ 810 bytes) or, with `--workload small`, 1 M 128-byte UDP frames; ns timestamps
 *   2. one untimed `vtep replay encap` run makes `underlay.pcap` (decap's input) and checks the counts
 *   3. for each of encap / decap: warm-up, then RUNS rounds of [tcpdump, vtep] alternately (before every run,
 *      for both: the output file removed and `sync`), wall time per process (+ user/sys/max RSS with
 *      /usr/bin/time)
 *   4. the decap output is compared record by record with pods.pcap (it must be the same frames)
 *   5. table + bench/results/replay.json: per command min / median; ratio = median vtep / median tcpdump
 *      (and the median of the per-round ratios); cpu ratio = the same for user + sys time (what each process
 *      itself used: steadier than wall time on a shared machine; informative, the target is on wall time);
 *      packets/s = packets / median wall time
 *
 * Usage: npm run bench:replay [-- --packets N] [--runs N] [--workload mix|small|both (default)] [--keep]
 * (vtep is run as `node bin/vtep.js`, which is what `npx vtep` starts; npx itself adds ≈ 0.3 s of launcher.)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CaptureReader, newPcapRecord } from '../src/io/pcap-reader.ts';
import { PcapWriter } from '../src/io/pcap-writer.ts';

/** The repo root: the nearest directory up from this module (run from build/bundle/) with our package.json. */
function repoRoot(): string {
  let d = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(d, 'package.json')) || !fs.existsSync(path.join(d, 'bin', 'vtep.js'))) {
    const up = path.dirname(d);
    if (up === d) throw new Error('bench/replay.ts: cannot find the repo root');
    d = up;
  }
  return d;
}
const root = repoRoot();
const args = process.argv.slice(2);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : dflt;
};
const PACKETS = Number(opt('--packets', '1000000'));
const RUNS = Number(opt('--runs', '5'));
const WORKLOAD = opt('--workload', 'both');
const KEEP = args.includes('--keep');
const TARGET_RATIO = 2;
const TIME_BIN = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

interface Sample {
  wall: number;
  user: number | null;
  sys: number | null;
  maxRssKb: number | null;
}

interface Measured {
  label: string;
  command: string;
  samples: Sample[];
  minWall: number;
  medianWall: number;
  medianUser: number | null;
  medianSys: number | null;
  maxRssKb: number | null;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Run one command as a whole process; wall time, and user/sys/RSS when /usr/bin/time is there. */
function timeOnce(cmd: string[], outFile: string): Sample {
  fs.rmSync(outFile, { force: true }); // both tools create a fresh file (truncating one costs a writeback)
  spawnSync('sync'); // no earlier run's dirty pages being written back during this one
  const argv = TIME_BIN ? [TIME_BIN, '-f', 'VTEPBENCH %U %S %M', ...cmd] : cmd;
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 16 << 20 });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const err = r.stderr.toString();
  if (r.status !== 0) throw new Error(`${cmd.join(' ')}: exit ${r.status}\n${err}`);
  const m = /VTEPBENCH ([\d.]+) ([\d.]+) (\d+)/.exec(err);
  return { wall, user: m ? Number(m[1]) : null, sys: m ? Number(m[2]) : null, maxRssKb: m ? Number(m[3]) : null };
}

function summarize(label: string, cmd: string[], samples: Sample[]): Measured {
  const users = samples.flatMap((s) => (s.user === null ? [] : [s.user]));
  const syss = samples.flatMap((s) => (s.sys === null ? [] : [s.sys]));
  const rss = samples.flatMap((s) => (s.maxRssKb === null ? [] : [s.maxRssKb]));
  return {
    label,
    command: cmd.map((a) => (a.includes(' ') ? JSON.stringify(a) : a)).join(' '),
    samples,
    minWall: Math.min(...samples.map((s) => s.wall)),
    medianWall: median(samples.map((s) => s.wall)),
    medianUser: users.length ? median(users) : null,
    medianSys: syss.length ? median(syss) : null,
    maxRssKb: rss.length ? Math.max(...rss) : null,
  };
}

// ------------------------------------------------------------------------------------------- workloads

function kernelFrames(): Buffer[] {
  const r = CaptureReader.open(path.join(root, 'fixtures/kernel-v4/flannel.pcap'));
  const rec = newPcapRecord();
  const out: Buffer[] = [];
  while (r.next(rec)) {
    const f = Buffer.from(rec.buf.subarray(rec.off, rec.off + rec.capLen));
    if (f[11] === 1) out.push(f); // inner source MAC 02:00:00:00:00:01: node1 sent it
  }
  r.close();
  return out;
}

/** 128-byte frames: node1's VTEP MAC → node2's, IPv4/UDP 10.244.1.2 → 10.244.2.2, 86 bytes of payload. */
function smallFrames(): Buffer[] {
  const frames: Buffer[] = [];
  for (let k = 0; k < 256; k++) {
    const f = Buffer.alloc(128);
    Buffer.from([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00]).copy(f, 0);
    const ip = 14;
    f.set([0x45, 0, 0, 114, 0, k, 0x40, 0, 63, 17, 0, 0, 10, 244, 1, 2, 10, 244, 2, 2], ip);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += f.readUInt16BE(ip + i);
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    f.writeUInt16BE(~s & 0xffff, ip + 10);
    const udp = ip + 20;
    f.writeUInt16BE(40000 + k, udp);
    f.writeUInt16BE(9000, udp + 2);
    f.writeUInt16BE(94, udp + 4);
    for (let i = udp + 8; i < 128; i++) f[i] = (i + k) & 0xff;
    let u = 17 + 94 + 0x0af4 + 0x0102 + 0x0af4 + 0x0202; // pseudo-header
    for (let i = udp; i < 128; i += 2) u += f.readUInt16BE(i);
    while (u > 0xffff) u = (u & 0xffff) + (u >>> 16);
    f.writeUInt16BE(~u & 0xffff || 0xffff, udp + 6);
    frames.push(f);
  }
  return frames;
}

function writeWorkload(file: string, frames: Buffer[], n: number): { packets: number; bytes: number } {
  const w = PcapWriter.open(file, 1, true);
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const f = frames[i % frames.length]!;
    w.write(f, 0, f.length, 1_700_000_000 + Math.floor(i / 100_000), (i % 100_000) * 10_000 + (i % 7));
    bytes += f.length;
  }
  w.close();
  return { packets: n, bytes };
}

/** Record-by-record equality of two captures' packet bytes (the decap output against the pods input). */
function sameFrames(a: string, b: string): boolean {
  const ra = CaptureReader.open(a);
  const rb = CaptureReader.open(b);
  const x = newPcapRecord();
  const y = newPcapRecord();
  try {
    for (;;) {
      const ha = ra.next(x);
      const hb = rb.next(y);
      if (ha !== hb) return false;
      if (!ha) return true;
      if (x.capLen !== y.capLen || x.tsSec !== y.tsSec || x.tsNsec !== y.tsNsec) return false;
      if (Buffer.compare(x.buf.subarray(x.off, x.off + x.capLen), y.buf.subarray(y.off, y.off + y.capLen)) !== 0) return false;
    }
  } finally {
    ra.close();
    rb.close();
  }
}

// ------------------------------------------------------------------------------------------- the race

interface Race {
  mode: 'encap' | 'decap';
  tcpdump: Measured;
  vtep: Measured;
  ratio: number;
  pairedRatioMedian: number;
  /** Median CPU time (user + sys) of vtep / of tcpdump: less disturbed than wall time by other load on the machine. */
  cpuRatio: number | null;
  vtepPacketsPerSec: number;
  tcpdumpPacketsPerSec: number;
  /** The replay loop's own rate (packets / `seconds` of the --json summary, median), startup excluded. */
  vtepLoopPacketsPerSec: number;
  pass: boolean;
}

function race(mode: 'encap' | 'decap', input: string, config: string, dir: string, packets: number): Race {
  const tdOut = path.join(dir, `${mode}-tcpdump.pcap`);
  const vtOut = path.join(dir, `${mode}-vtep.pcap`);
  const td = ['tcpdump', '-q', '-r', input, '-w', tdOut];
  const vt = [process.execPath, 'bin/vtep.js', 'replay', mode, '--config', config, '--in', input, '--out', vtOut, '--json'];
  timeOnce(td, tdOut); // warm-up: page cache, bundle
  timeOnce(vt, vtOut);
  const a: Sample[] = [];
  const b: Sample[] = [];
  const loopRates: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    a.push(timeOnce(td, tdOut));
    const s = timeOnce(vt, vtOut);
    b.push(s);
    process.stderr.write(`  ${mode} round ${i + 1}/${RUNS}: tcpdump ${a[i]!.wall.toFixed(2)} s, vtep ${s.wall.toFixed(2)} s\n`);
  }
  // the in-loop rate, from one more run's own summary
  for (let i = 0; i < 1; i++) {
    const r = spawnSync(vt[0]!, vt.slice(1), { cwd: root, encoding: 'utf8' });
    const j = JSON.parse(r.stdout) as { packetsIn: number; packetsOut: number; seconds: number };
    if (j.packetsIn !== packets || j.packetsOut !== packets) throw new Error(`${mode}: ${j.packetsOut} of ${j.packetsIn} packets out (expected ${packets})`);
    loopRates.push(j.packetsIn / j.seconds);
  }
  const tcpdump = summarize('tcpdump -r IN -w OUT', td, a);
  const vtep = summarize(`vtep replay ${mode}`, vt, b);
  const ratio = vtep.medianWall / tcpdump.medianWall;
  const cpu = (xs: Sample[]) => (xs.every((x) => x.user !== null && x.sys !== null) ? median(xs.map((x) => x.user! + x.sys!)) : null);
  const cpuA = cpu(a);
  const cpuB = cpu(b);
  return {
    mode,
    tcpdump,
    vtep,
    ratio,
    pairedRatioMedian: median(b.map((s, i) => s.wall / a[i]!.wall)),
    cpuRatio: cpuA !== null && cpuB !== null && cpuA > 0 ? cpuB / cpuA : null,
    vtepPacketsPerSec: packets / vtep.medianWall,
    tcpdumpPacketsPerSec: packets / tcpdump.medianWall,
    vtepLoopPacketsPerSec: median(loopRates),
    pass: ratio <= TARGET_RATIO,
  };
}

interface WorkloadResult {
  workload: string;
  packets: number;
  bytes: number;
  meanPacketBytes: number;
  races: Race[];
}

function runWorkload(name: 'mix' | 'small', dir: string): WorkloadResult {
  const pods = path.join(dir, `${name}-pods.pcap`);
  const underlay = path.join(dir, `${name}-underlay.pcap`);
  const frames = name === 'mix' ? kernelFrames() : smallFrames();
  process.stderr.write(`workload ${name}: writing ${PACKETS} packets…\n`);
  const { packets, bytes } = writeWorkload(pods, frames, PACKETS);
  const n1 = 'fixtures/kernel-v4/n1.yaml';
  const n2 = 'fixtures/kernel-v4/n2.yaml';
  const mk = spawnSync(process.execPath, ['bin/vtep.js', 'replay', 'encap', '--config', n1, '--in', pods, '--out', underlay, '--json'], { cwd: root, encoding: 'utf8' });
  if (mk.status !== 0) throw new Error(`making the underlay capture: ${mk.stderr}`);
  const races = [race('encap', pods, n1, dir, packets), race('decap', underlay, n2, dir, packets)];
  if (!sameFrames(path.join(dir, 'decap-vtep.pcap'), pods)) throw new Error(`${name}: decap output differs from the pod packets encapsulated`);
  if (!KEEP) for (const f of fs.readdirSync(dir)) if (f.startsWith(name) || f.startsWith('encap-') || f.startsWith('decap-')) fs.rmSync(path.join(dir, f), { force: true });
  return { workload: name, packets, bytes, meanPacketBytes: bytes / packets, races };
}

function main(): void {
  const td = spawnSync('tcpdump', ['--version'], { encoding: 'utf8' });
  if (td.status !== 0) throw new Error('tcpdump is needed (apt-get install tcpdump)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vtep-bench-replay-'));
  const cleanup = () => {
    if (!KEEP) fs.rmSync(dir, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  let results: WorkloadResult[];
  try {
    const names = WORKLOAD === 'both' ? (['mix', 'small'] as const) : ([WORKLOAD as 'mix' | 'small'] as const);
    results = names.map((n) => runWorkload(n, dir));
  } finally {
    cleanup();
  }

  const rows: string[][] = [['workload', 'mode', 'tcpdump s (min/med)', 'vtep s (min/med)', 'ratio', 'cpu ratio', 'vtep pkt/s', 'loop pkt/s', 'vtep RSS MB', '≤ 2×']];
  for (const w of results) {
    for (const r of w.races) {
      rows.push([
        `${w.workload} (${w.packets} × ${w.meanPacketBytes.toFixed(0)} B)`,
        r.mode,
        `${r.tcpdump.minWall.toFixed(2)} / ${r.tcpdump.medianWall.toFixed(2)}`,
        `${r.vtep.minWall.toFixed(2)} / ${r.vtep.medianWall.toFixed(2)}`,
        r.ratio.toFixed(2),
        r.cpuRatio !== null ? r.cpuRatio.toFixed(2) : '?',
        Math.round(r.vtepPacketsPerSec).toLocaleString('en'),
        Math.round(r.vtepLoopPacketsPerSec).toLocaleString('en'),
        r.vtep.maxRssKb !== null ? (r.vtep.maxRssKb / 1024).toFixed(0) : '?',
        r.pass ? 'yes' : 'NO',
      ]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const [i, r] of rows.entries()) {
    console.log(r.map((x, c) => (c < 2 ? x.padEnd(widths[c]!) : x.padStart(widths[c]!))).join('  '));
    if (i === 0) console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  }
  const out = {
    date: new Date().toISOString(),
    node: process.version,
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}`,
    loadavg: os.loadavg(),
    command: `npm run bench:replay -- --packets ${PACKETS} --runs ${RUNS} --workload ${WORKLOAD}`,
    targetRatio: TARGET_RATIO,
    pass: results.every((w) => w.races.every((r) => r.pass)),
    workloads: results,
  };
  fs.mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(root, 'bench', 'results', 'replay.json'), JSON.stringify(out, null, 2) + '\n');
  console.log(`\nbench/results/replay.json written; ${out.pass ? 'every' : 'NOT every'} vtep run within ${TARGET_RATIO}× of tcpdump (median wall time)`);
}

main();
