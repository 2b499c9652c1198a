/**
 * `vtep replay encap|decap`: a capture through the engine, a summary, optionally a packet-by-packet
 * comparison with an expected capture (--expect, exit 3 on the first difference).
 */
import { Command, Option } from 'commander';
import { loadConfig } from '../control/config.ts';
import { Fdb } from '../fdb/fdb.ts';
import { Engine } from '../engine/engine.ts';
import { DROP_HELP, DROP_NAMES } from '../engine/drops.ts';
import { CaptureReader, type PcapRecord } from '../io/pcap-reader.ts';
import { PcapWriter } from '../io/pcap-writer.ts';
import { replayCapture, outputLinkType, type ReplayMode, type ReplaySummary, type OutputSink } from '../dataplane/replay.ts';
import { dissect, diffFields } from './dissect.ts';
import { VtepError } from '../util/errors.ts';

/** Fields that legitimately differ from the kernel's output (IPv4 ID, the flow-hash source port and
 * flow label, and the checksums that cover them). */
export const KERNEL_VARIANCE = ['ip.id', 'ip.checksum', 'udp.srcport', 'udp.checksum', 'ipv6.flow'];

export const EXIT_OK = 0;
export const EXIT_CAPTURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_MISMATCH = 3;

interface ReplayFlags {
  config: string;
  in: string;
  out?: string;
  json?: boolean;
  expect?: string;
  ignore?: string;
  progress?: boolean;
}

/** Compares each output packet with the next record of the expected capture; stops at the first difference. */
class ExpectSink implements OutputSink {
  private readonly rec: PcapRecord = { linkType: 0, interfaceId: 0, tsSec: 0, tsNsec: 0, capLen: 0, origLen: 0, buf: new Uint8Array(0), off: 0 };
  index = 0;
  mismatch: string | null = null;
  constructor(
    private readonly expected: CaptureReader,
    private readonly linkType: number,
    private readonly ignore: ReadonlySet<string>,
    private readonly inner: OutputSink | null,
  ) {}

  write(buf: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number): void {
    this.inner?.write(buf, off, len, tsSec, tsNsec);
    if (this.mismatch !== null) return;
    this.index++;
    if (!this.expected.next(this.rec)) {
      this.mismatch = `packet ${this.index}: output has more packets than the expected capture (${this.index - 1})`;
      return;
    }
    const got = buf.subarray(off, off + len);
    const exp = this.rec.buf.subarray(this.rec.off, this.rec.off + this.rec.capLen);
    if (Buffer.compare(got, exp) === 0) return;
    const diffs = diffFields(dissect(this.rec.linkType, exp), dissect(this.linkType, got), this.ignore);
    if (diffs.length === 0) return; // differences only in ignored fields
    const lines = diffs.slice(0, 12).map((d) => {
      const dot = d.field.lastIndexOf('.');
      const layer = dot > 0 ? d.field.slice(0, dot) : d.field;
      return `  ${layer.padEnd(14)} ${d.field.padEnd(22)} ${d.expected.slice(0, 64).padEnd(33)} ${d.got.slice(0, 64)}`;
    });
    this.mismatch = `packet ${this.index} differs from the expected capture:\n  ${'layer'.padEnd(14)} ${'field'.padEnd(22)} ${'expected'.padEnd(33)} got\n${lines.join('\n')}`;
  }

  /** After the run: the expected capture must have no packets left. */
  finish(): void {
    if (this.mismatch === null && this.expected.next(this.rec)) {
      this.mismatch = `packet ${this.index + 1}: expected capture has more packets than the output (${this.index})`;
    }
  }
}

function progressBar(): ((read: number, size: number, packets: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  let last = 0;
  return (read, size, packets) => {
    const now = Date.now();
    if (now - last < 100 && read < size) return;
    last = now;
    const frac = size > 0 ? Math.min(1, read / size) : 1;
    const width = 30;
    const fill = Math.round(frac * width);
    process.stderr.write(`\r[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${packets} packets`);
    if (read >= size) process.stderr.write('\n');
  };
}

export function formatSummary(s: ReplaySummary): string {
  const lines = [
    `${s.mode}: ${s.packetsIn} packets in (${s.bytesIn} bytes), ${s.packetsOut} out (${s.bytesOut} bytes), ` +
      `${s.packetsIn - s.packetsOut} dropped, ${s.seconds.toFixed(3)} s` +
      (s.seconds > 0 ? `, ${Math.round(s.packetsIn / s.seconds)} packets/s` : ''),
  ];
  const entries = Object.entries(s.drops).sort((a, b) => b[1] - a[1]);
  if (entries.length > 0) {
    lines.push(`  ${'drop reason'.padEnd(28)} ${'count'.padStart(10)}  meaning`);
    for (const [name, count] of entries) {
      lines.push(`  ${name.padEnd(28)} ${String(count).padStart(10)}  ${DROP_HELP[DROP_NAMES.indexOf(name)] ?? ''}`);
    }
  }
  if (s.icmpBuilt > 0) lines.push(`  ICMP too-big replies built: ${s.icmpBuilt}`);
  if (s.truncatedTail !== null) {
    const t = s.truncatedTail;
    lines.push(`  input ends inside record ${t.recordIndex} at byte ${t.byteOffset} (${t.missingBytes} bytes missing): kept everything before it`);
  }
  return lines.join('\n');
}

export function runReplay(mode: ReplayMode, flags: ReplayFlags): number {
  if (flags.out === undefined && flags.expect === undefined) {
    throw new VtepError('USAGE', `replay ${mode}: --out FILE is required (or --expect FILE to only compare)`);
  }
  const cfg = loadConfig(flags.config);
  const fdb = Fdb.build(cfg.node, cfg.peers);
  const engine = new Engine(cfg.engine, fdb);
  const reader = CaptureReader.open(flags.in);
  const linkType = outputLinkType(mode, cfg.backend);
  let writer: PcapWriter | null = null;
  let expectSink: ExpectSink | null = null;
  let expectReader: CaptureReader | null = null;
  try {
    writer = flags.out !== undefined ? PcapWriter.open(flags.out, linkType, reader.nanosecond) : null;
    let sink: OutputSink = writer ?? { write() {} };
    if (flags.expect !== undefined) {
      expectReader = CaptureReader.open(flags.expect);
      const ignore = new Set<string>();
      for (const name of (flags.ignore ?? '').split(',').map((x) => x.trim()).filter((x) => x !== '')) {
        if (name === 'kernel-variance') KERNEL_VARIANCE.forEach((x) => ignore.add(x));
        else ignore.add(name);
      }
      expectSink = new ExpectSink(expectReader, linkType, ignore, writer);
      sink = expectSink;
    }
    const summary = replayCapture(mode, engine, reader, sink, flags.progress === false ? undefined : progressBar());
    expectSink?.finish();
    if (flags.json) process.stdout.write(JSON.stringify(summary) + '\n');
    else process.stderr.write(formatSummary(summary) + '\n');
    if (summary.truncatedTail !== null && flags.json) {
      const t = summary.truncatedTail;
      process.stderr.write(`vtep: ${flags.in}: input ends inside record ${t.recordIndex} at byte ${t.byteOffset}: kept everything before it\n`);
    }
    if (expectSink?.mismatch != null) {
      process.stderr.write(`vtep: --expect ${flags.expect}: ${expectSink.mismatch}\n`);
      return EXIT_MISMATCH;
    }
    return EXIT_OK;
  } finally {
    writer?.close();
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
  vtep replay decap --config fixtures/kernel-v4/n1.yaml --in fixtures/kernel-v4/underlay.pcap --out pods.pcap
  vtep replay encap --config n1.yaml --in pods.pcap --out underlay.pcap --json
  vtep replay encap --config n1.yaml --in pods.pcap --out u.pcap --expect kernel.pcap --ignore kernel-variance

Exit status: 0 processed (drops are not failures), 1 unreadable or corrupt capture,
2 bad usage or config, 3 output differs from --expect.`,
    );
  for (const mode of ['encap', 'decap'] as const) {
    cmd
      .command(mode)
      .description(mode === 'encap' ? 'pod IP packets → underlay Ethernet frames' : 'underlay frames → inner frames (VXLAN: Ethernet; IPIP: raw IP)')
      .requiredOption('--config <file>', 'node config (YAML)')
      .requiredOption('--in <file>', 'input capture (pcap or pcapng)')
      .option('--out <file>', 'output capture (classic pcap)')
      .option('--json', 'print the summary as one JSON object on stdout')
      .option('--expect <file>', 'compare the output with this capture packet by packet; exit 3 on the first difference')
      .addOption(
        new Option('--ignore <fields>', 'comma-separated fields --expect skips (e.g. ip.id,udp.srcport); "kernel-variance" = ' + KERNEL_VARIANCE.join(',')),
      )
      .option('--no-progress', 'no progress bar even on a terminal')
      .action((flags: ReplayFlags) => onExit(runReplay(mode, flags)));
  }
  return cmd;
}
