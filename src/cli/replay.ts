/**
 * `vtep replay encap|decap`: a capture through the engine, a summary, optionally a packet-by-packet
 * comparison with an expected capture (--expect, exit 3 on the first difference).
 *
 *   1. check the flags (exit 2 naming the flag), load the config (exit 2, one line per problem)
 *   2. open the input (exit 1 if unreadable: names --in and the file), the expected capture, then the outputs
 *      (classic pcap; nanosecond magic when the input's timestamps are finer than µs — for pcapng, as the
 *      interfaces described before the first packet say; a finer interface described later is truncated to µs)
 *   3. replayCapture: the engine over every record; output packets to the writer and/or the comparator
 *   4. summary: a table on stderr, or with --json exactly one JSON object on stdout; then the verdict:
 *      1 the input was corrupt or cut short (everything before was processed and written),
 *      3 the output differs from --expect, else 0 (drops are not failures)
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig, type VtepConfig } from '../control/config.ts';
import { Fdb } from '../fdb/fdb.ts';
import { Engine } from '../engine/engine.ts';
import { DROP_HELP, DROP_NAMES } from '../engine/drops.ts';
import { CaptureReader, newPcapRecord } from '../io/pcap-reader.ts';
import { PcapWriter } from '../io/pcap-writer.ts';
import { LINKTYPE_RAW, linkTypeName } from '../io/linktype.ts';
import {
  replayCapture,
  outputLinkType,
  summaryJson,
  type ReplayMode,
  type ReplaySummary,
  type OutputSink,
} from '../dataplane/replay.ts';
import { dissect, diffFields, FIELD_NAMES, type Field } from './dissect.ts';
import { VtepError } from '../util/errors.ts';

/** Fields that legitimately differ from the kernel's output: the outer IPv4 ID, the flow-hash UDP source
 * port, the checksums that cover them, and the outer IPv6 flow label. */
export const KERNEL_VARIANCE = ['ip.id', 'ip.checksum', 'udp.srcport', 'udp.checksum', 'ipv6.flow'];

export const EXIT_OK = 0;
export const EXIT_CAPTURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_MISMATCH = 3;

export interface ReplayFlags {
  config: string;
  in: string;
  out?: string;
  json?: boolean;
  expect?: string;
  ignore?: string;
  icmpOut?: string;
  progress?: boolean;
}

/** Rows of a field diff shown at most. */
const MAX_DIFF_ROWS = 16;

/** A writer that counts what the run gave it (the summary's ICMP line). */
class CountingSink implements OutputSink {
  packets = 0;
  constructor(private readonly inner: OutputSink | null) {}
  write(buf: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number): void {
    this.packets++;
    this.inner?.write(buf, off, len, tsSec, tsNsec);
  }
}

/** What the comparator knows about this node, to explain a mismatch that is really a direction mix-up. */
interface NodeIdentity {
  mode: ReplayMode;
  backend: 'vxlan' | 'ipip';
  vtepMAC: string;
  underlayIP: string;
}

/** Compares each output packet with the next record of the expected capture; stops at the first difference. */
export class ExpectSink implements OutputSink {
  private readonly rec = newPcapRecord();
  /** Output packets compared so far (1-based number of the last one). */
  index = 0;
  mismatch: string | null = null;
  constructor(
    private readonly expected: CaptureReader,
    private readonly linkType: number,
    private readonly ignore: ReadonlySet<string>,
    private readonly inner: OutputSink | null,
    private readonly input: CaptureReader,
    private readonly node: NodeIdentity,
  ) {}

  write(buf: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number): void {
    this.inner?.write(buf, off, len, tsSec, tsNsec);
    if (this.mismatch !== null) return;
    this.index++;
    if (!this.expected.next(this.rec)) {
      const t = this.expected.truncatedTail;
      this.mismatch =
        `output packet ${this.index} (input record ${this.input.recordIndex}) is one more than the expected capture holds (${this.index - 1} packets)` +
        (t !== null ? `; the expected capture is cut short: record ${t.recordIndex + 1} at byte ${t.byteOffset} is incomplete` : '');
      return;
    }
    const rec = this.rec;
    const got = buf.subarray(off, off + len);
    const exp = rec.buf.subarray(rec.off, rec.off + rec.capLen);
    if (rec.linkType === this.linkType && Buffer.compare(got, exp) === 0) return;
    const e = dissect(rec.linkType, exp);
    const g = dissect(this.linkType, got);
    const diffs = diffFields(e, g, this.ignore);
    if (rec.linkType !== this.linkType) {
      diffs.unshift({ layer: 'frame', field: 'frame.linktype', expected: linkTypeName(rec.linkType), got: linkTypeName(this.linkType) });
    }
    if (diffs.length === 0) return; // differences only in ignored fields
    const w = [5, 5, 8, 8];
    const rows = diffs.slice(0, MAX_DIFF_ROWS).map((d) => [d.layer, d.field, d.expected, d.got]);
    for (const r of rows) for (let i = 0; i < 3; i++) w[i] = Math.max(w[i]!, r[i]!.length);
    const line = (r: string[]) => `  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padEnd(w[1]!)}  ${r[2]!.padEnd(w[2]!)}  ${r[3]}`;
    const more = diffs.length > MAX_DIFF_ROWS ? [`  … ${diffs.length - MAX_DIFF_ROWS} more fields differ`] : [];
    const hint = this.hint(e);
    this.mismatch = [
      `output packet ${this.index} (input record ${this.input.recordIndex}) differs from expected packet ${this.index} (record ${this.expected.recordIndex}):`,
      line(['layer', 'field', 'expected', 'got']),
      ...rows.map(line),
      ...more,
      ...(hint ? [`  hint: ${hint}`] : []),
    ].join('\n');
  }

  /** A likely cause when the expected packet is one this node would never output (the other direction). */
  private hint(e: Field[]): string | null {
    const val = (name: string) => e.find((f) => f.name === name)?.value;
    const n = this.node;
    if (n.mode === 'decap' && n.backend === 'vxlan') {
      const dst = val('eth.dst');
      if (dst !== undefined && dst !== n.vtepMAC.toLowerCase()) {
        return `the expected frame is addressed to VTEP MAC ${dst}, not this node's ${n.vtepMAC.toLowerCase()}: does --expect hold the other direction too? It must hold only the frames this node decapsulates.`;
      }
    }
    if (n.mode === 'encap') {
      const src = val('ip.src') ?? val('ipv6.src');
      if (src !== undefined && src !== n.underlayIP) {
        return `the expected frame was sent by ${src}, not by this node (${n.underlayIP}): does --expect hold the other direction too? It must hold only this node's underlay frames.`;
      }
    }
    return null;
  }

  /** After the run: the expected capture must have no packets left. */
  finish(): void {
    if (this.mismatch === null && this.expected.next(this.rec)) {
      this.mismatch = `the expected capture has more packets than the output (${this.index}): expected packet ${this.index + 1} was never produced`;
    }
  }
}

function progressBar(): (read: number, size: number, packets: number) => void {
  let last = 0;
  let shown = false;
  return (read, size, packets) => {
    const now = Date.now();
    const done = read >= size;
    if (!done && now - last < 200) return;
    if (done && !shown) return; // a run too short to have shown a bar leaves no trace
    last = now;
    shown = true;
    const frac = size > 0 ? Math.min(1, read / size) : 1;
    const width = 30;
    const fill = Math.round(frac * width);
    process.stderr.write(
      `\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${packets} packets  ${(read / 1e6).toFixed(0)}/${(size / 1e6).toFixed(0)} MB`,
    );
    if (done) process.stderr.write('\n');
  };
}

export function formatSummary(s: ReplaySummary, icmp: { written: string | null }): string {
  const dropped = s.packetsIn - s.packetsOut;
  const rate = s.seconds > 0 ? `  (${Math.round(s.packetsIn / s.seconds)} packets/s)` : '';
  const lines = [
    `replay ${s.mode}`,
    `  packets in   ${String(s.packetsIn).padStart(10)}  (${s.bytesIn} bytes)`,
    `  packets out  ${String(s.packetsOut).padStart(10)}  (${s.bytesOut} bytes)`,
    `  dropped      ${String(dropped).padStart(10)}`,
    `  seconds      ${s.seconds.toFixed(3).padStart(10)}${rate}`,
  ];
  const entries = Object.entries(s.drops).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  if (entries.length > 0) {
    const w = Math.max(11, ...entries.map(([n]) => n.length));
    lines.push(`  ${'drop reason'.padEnd(w)}  ${'count'.padStart(10)}  meaning`);
    for (const [name, count] of entries) {
      lines.push(`  ${name.padEnd(w)}  ${String(count).padStart(10)}  ${DROP_HELP[DROP_NAMES.indexOf(name)] ?? ''}`);
    }
  }
  if (s.icmpBuilt > 0) {
    lines.push(
      `  ICMP too-big replies built for the senders: ${s.icmpBuilt}` +
        (icmp.written !== null ? ` (written to ${icmp.written})` : ' (not written; --icmp-out FILE keeps them)'),
    );
  }
  return lines.join('\n');
}

function usage(msg: string): VtepError {
  return new VtepError('USAGE', msg);
}

/** Same file? By device and inode when both exist, else by resolved path. */
function sameFile(a: string, b: string): boolean {
  if (a === '-' || b === '-') return false;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}

function parseIgnore(list: string | undefined): Set<string> {
  const ignore = new Set<string>();
  for (const name of (list ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')) {
    if (name === 'kernel-variance') {
      KERNEL_VARIANCE.forEach((x) => ignore.add(x));
    } else if (FIELD_NAMES.includes(name)) {
      ignore.add(name);
    } else {
      throw usage(`--ignore: unknown field "${name}" (one of: kernel-variance, ${FIELD_NAMES.join(', ')})`);
    }
  }
  return ignore;
}

/** Open a capture named by a flag; an unreadable or malformed file is exit 1 naming the flag. */
function openCapture(flag: string, file: string): CaptureReader {
  try {
    return CaptureReader.open(file);
  } catch (e) {
    if (e instanceof VtepError) throw new VtepError('CAPTURE', `${flag} ${e.message}`);
    throw e;
  }
}

/** Create an output named by a flag; a path that cannot be created is a bad argument (exit 2). */
function createCapture(flag: string, file: string, linkType: number, nanosecond: boolean): PcapWriter {
  try {
    return PcapWriter.open(file, linkType, nanosecond);
  } catch (e) {
    if (e instanceof VtepError) throw usage(`${flag} ${e.message}`);
    throw e;
  }
}

/** Run `vtep replay <mode>`; returns the exit status. Throws VtepError for usage/config/input errors. */
export function runReplay(mode: ReplayMode, flags: ReplayFlags): number {
  // 1. flags
  if (flags.out === undefined && flags.expect === undefined) {
    throw usage(`replay ${mode}: --out FILE is required (or --expect FILE to only compare)`);
  }
  if (flags.ignore !== undefined && flags.expect === undefined) throw usage('--ignore only applies with --expect FILE');
  if (flags.icmpOut !== undefined && mode !== 'encap') throw usage('--icmp-out only applies to replay encap (decap builds no ICMP replies)');
  if (flags.json && (flags.out === '-' || flags.icmpOut === '-')) {
    throw usage('--json prints the summary on stdout: it cannot share stdout with --out - / --icmp-out -');
  }
  if (flags.out === '-' && flags.icmpOut === '-') throw usage('--out - and --icmp-out - cannot both write to stdout');
  const outputs: [string, string | undefined][] = [
    ['--out', flags.out],
    ['--icmp-out', flags.icmpOut],
  ];
  for (const [flag, file] of outputs) {
    if (file === undefined) continue;
    for (const [other, f] of [['--in', flags.in], ['--expect', flags.expect], ['--config', flags.config]] as const) {
      if (f !== undefined && sameFile(file, f)) throw usage(`${flag} ${file} is the same file as ${other}: it would be overwritten`);
    }
  }
  if (flags.out !== undefined && flags.icmpOut !== undefined && sameFile(flags.out, flags.icmpOut)) {
    throw usage(`--icmp-out ${flags.icmpOut} is the same file as --out`);
  }
  const ignore = parseIgnore(flags.ignore);

  const cfg: VtepConfig = loadConfig(flags.config);
  const fdb = Fdb.build(cfg.node, cfg.peers);
  const engine = new Engine(cfg.engine, fdb);
  const linkType = outputLinkType(mode, cfg.backend);

  // 2. captures: inputs first, so that a bad input never truncates an output
  const reader = openCapture('--in', flags.in);
  let expectReader: CaptureReader | null = null;
  let writer: PcapWriter | null = null;
  let icmpWriter: PcapWriter | null = null;
  try {
    if (flags.expect !== undefined) expectReader = openCapture('--expect', flags.expect);
    writer = flags.out !== undefined ? createCapture('--out', flags.out, linkType, reader.nanosecond) : null;
    icmpWriter = flags.icmpOut !== undefined ? createCapture('--icmp-out', flags.icmpOut, LINKTYPE_RAW, reader.nanosecond) : null;
    let sink: OutputSink = writer ?? { write() {} };
    let expectSink: ExpectSink | null = null;
    if (expectReader !== null) {
      const identity = { mode, backend: cfg.backend, vtepMAC: cfg.node.vtepMAC, underlayIP: cfg.node.underlayIP };
      expectSink = new ExpectSink(expectReader, linkType, ignore, writer, reader, identity);
      sink = expectSink;
    }
    const icmpSink = new CountingSink(icmpWriter);

    // 3. the run
    const progress = flags.progress !== false && process.stderr.isTTY ? progressBar() : undefined;
    const summary = replayCapture(mode, engine, reader, sink, { progress, icmpSink });
    let error = summary.error;
    // A comparison error (corrupt expected capture) surfaces as a VtepError from ExpectSink too.
    if (error === null && expectSink !== null) {
      try {
        expectSink.finish();
      } catch (e) {
        if (!(e instanceof VtepError)) throw e;
        error = e;
      }
    }
    try {
      writer?.close();
      icmpWriter?.close();
    } catch (e) {
      if (!(e instanceof VtepError)) throw e;
      error ??= e;
    }

    // 4. summary and verdict
    if (flags.json) process.stdout.write(JSON.stringify(summaryJson(summary)) + '\n');
    else process.stderr.write(formatSummary(summary, { written: icmpWriter !== null ? flags.icmpOut! : null }) + '\n');
    if (flags.json && summary.icmpBuilt > 0) {
      process.stderr.write(`vtep: ${summary.icmpBuilt} ICMP too-big replies built${icmpWriter !== null ? ` (written to ${flags.icmpOut})` : ''}\n`);
    }
    let code = EXIT_OK;
    if (expectSink?.mismatch != null) {
      process.stderr.write(`vtep: --expect ${flags.expect}: ${expectSink.mismatch}\n`);
      code = EXIT_MISMATCH;
    }
    if (summary.truncatedTail !== null) {
      const t = summary.truncatedTail;
      process.stderr.write(
        `vtep: --in ${flags.in}: capture cut short: record ${t.recordIndex + 1} at byte ${t.byteOffset} is incomplete ` +
          `(${t.missingBytes} more bytes needed); the ${t.recordIndex} records before it were processed\n`,
      );
      code = EXIT_CAPTURE;
    }
    if (error !== null) {
      const flag = error.message.startsWith(flags.in) ? '--in' : error.message.startsWith(flags.expect ?? '\0') ? '--expect' : null;
      process.stderr.write(`vtep: ${flag !== null ? `${flag} ` : ''}${error.message}; everything before it was processed\n`);
      code = error.code === 'CAPTURE' || error.code === 'IO' ? EXIT_CAPTURE : EXIT_USAGE;
    }
    return code;
  } finally {
    writer?.close();
    icmpWriter?.close();
    reader.close();
    expectReader?.close();
  }
}

export function replayCommand(onExit: (code: number) => void): Command {
  const cmd = new Command('replay')
    .description('run a capture through the engine: encap (pod packets → underlay frames) or decap (underlay frames → pod frames)')
    .addHelpText(
      'after',
      `
Input: classic pcap (µs/ns, either byte order) or pcapng; link types Ethernet, raw IP (101/228/229),
Linux SLL / SLL2. Output: classic pcap (ns timestamps kept). Every packet not written is counted
under a named drop reason (see \`vtep drops\`).

Examples:
  vtep replay decap --config fixtures/kernel-v4/n1.yaml --in fixtures/kernel-v4/underlay.pcap --out pods.pcap \
      --expect fixtures/kernel-v4/decap-n1.pcap
  vtep replay encap --config fixtures/kernel-v4/n1.yaml --in fixtures/kernel-v4/flannel.pcap --out underlay.pcap \
      --expect fixtures/kernel-v4/encap-n1.pcap --ignore kernel-variance --json
  vtep replay encap --config fixtures/kernel-v4/n1.yaml --in fixtures/kernel-v4/pod.pcap --out u.pcap --icmp-out icmp.pcap

Exit status: 0 processed (drops are not failures), 1 unreadable, corrupt or cut-short capture
(everything before the bad record is processed and written), 2 bad usage or config, 3 output differs
from --expect.`,
    );
  for (const mode of ['encap', 'decap'] as const) {
    const sub = cmd
      .command(mode)
      .description(mode === 'encap' ? 'pod IP packets → underlay Ethernet frames' : 'underlay frames → inner frames (VXLAN: Ethernet; IPIP: raw IP)')
      .requiredOption('--config <file>', 'node config (YAML)')
      .requiredOption('--in <file>', 'input capture (pcap or pcapng)')
      .option('--out <file>', 'output capture (classic pcap; - for stdout)')
      .option('--json', 'print the summary as one JSON object on stdout')
      .option('--expect <file>', 'compare the output with this capture packet by packet; exit 3 on the first difference')
      .addOption(
        new Option('--ignore <fields>', 'comma-separated fields --expect skips (e.g. ip.id,udp.srcport); "kernel-variance" = ' + KERNEL_VARIANCE.join(',')),
      );
    if (mode === 'encap') sub.option('--icmp-out <file>', 'write the ICMP too-big replies built for oversized packets (raw IP pcap)');
    sub
      .option('--no-progress', 'no progress bar even on a terminal')
      .showHelpAfterError(`(vtep replay ${mode} --help for usage)`)
      .action((flags: ReplayFlags) => onExit(runReplay(mode, flags)));
  }
  return cmd;
}
