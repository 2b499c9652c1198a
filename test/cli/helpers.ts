/**
 * Helpers for the CLI tests: run the real `vtep` (node bin/vtep.js, the same entry as `npx vtep`) as a
 * child process, read captures back, convert a capture into other link types / byte orders (written
 * independently of src/io's writer), and ask tshark whether a file decodes without expert errors.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';

export const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'vtep.js');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes (for `--out -`). */
  raw: Buffer;
}

/** Run `vtep ARGS…` from the repo root; never throws on a non-zero exit. */
export function vtep(args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...opts.env },
    maxBuffer: 64 << 20,
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8'), raw: r.stdout };
}

/** The --json summary: exactly one JSON object (and nothing else) on stdout. */
export function jsonOf(r: CliResult): Summary {
  const lines = r.stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== 1) throw new Error(`expected one line of JSON on stdout, got ${lines.length}:\n${r.stdout}\nstderr:\n${r.stderr}`);
  return JSON.parse(lines[0]!) as Summary;
}

export interface Summary {
  mode: string;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: Record<string, number>;
  seconds: number;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vtep-cli-${prefix}-`));
}

export const fx = (...p: string[]) => path.join(ROOT, 'fixtures', ...p);

export interface Rec {
  tsSec: number;
  tsNsec: number;
  data: Buffer;
  origLen: number;
  linkType: number;
  interfaceId: number;
}

export interface Capture {
  records: Rec[];
  nanosecond: boolean;
  format: 'pcap' | 'pcapng';
  /** First bytes of the file (magic). */
  magic: number;
}

export function readCapture(file: string): Capture {
  const r = CaptureReader.open(file);
  const rec = newPcapRecord();
  const records: Rec[] = [];
  try {
    while (r.next(rec)) {
      records.push({
        tsSec: rec.tsSec,
        tsNsec: rec.tsNsec,
        data: Buffer.from(rec.buf.subarray(rec.off, rec.off + rec.capLen)),
        origLen: rec.origLen,
        linkType: rec.linkType,
        interfaceId: rec.interfaceId,
      });
    }
    const head = Buffer.alloc(4);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    return { records, nanosecond: r.nanosecond, format: r.format, magic: head.readUInt32LE(0) };
  } finally {
    r.close();
  }
}

export interface WriteOptions {
  linkType?: number;
  nsec?: boolean;
  le?: boolean;
}

/** A classic pcap file (any byte order / resolution), written by hand. */
export function writeClassic(file: string, recs: { tsSec: number; tsNsec: number; data: Uint8Array; origLen?: number }[], o: WriteOptions = {}): void {
  const le = o.le ?? true;
  const parts: Buffer[] = [];
  const h = Buffer.alloc(24);
  const u32 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt32LE(v >>> 0, at) : b.writeUInt32BE(v >>> 0, at));
  const u16 = (b: Buffer, v: number, at: number) => (le ? b.writeUInt16LE(v, at) : b.writeUInt16BE(v, at));
  u32(h, o.nsec ? 0xa1b23c4d : 0xa1b2c3d4, 0);
  u16(h, 2, 4);
  u16(h, 4, 6);
  u32(h, 262144, 16);
  u32(h, o.linkType ?? 1, 20);
  parts.push(h);
  for (const r of recs) {
    const rh = Buffer.alloc(16);
    u32(rh, r.tsSec, 0);
    u32(rh, o.nsec ? r.tsNsec : Math.floor(r.tsNsec / 1000), 4);
    u32(rh, r.data.length, 8);
    u32(rh, r.origLen ?? r.data.length, 12);
    parts.push(rh, Buffer.from(r.data));
  }
  fs.writeFileSync(file, Buffer.concat(parts));
}

/** Linux cooked v1 header for an IP packet (pkttype host, ARPHRD_ETHER, the source MAC as address). */
export function toSll(frame: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt16BE(0, 0);
  h.writeUInt16BE(1, 2);
  h.writeUInt16BE(6, 4);
  frame.copy(h, 6, 6, 12);
  frame.copy(h, 14, 12, 14);
  return Buffer.concat([h, frame.subarray(14)]);
}

/** Linux cooked v2 header: protocol, reserved, ifindex 2, ARPHRD_ETHER, pkttype host, halen 6, address. */
export function toSll2(frame: Buffer): Buffer {
  const h = Buffer.alloc(20);
  frame.copy(h, 0, 12, 14);
  h.writeUInt32BE(2, 4);
  h.writeUInt16BE(1, 8);
  h[10] = 0;
  h[11] = 6;
  frame.copy(h, 12, 6, 12);
  return Buffer.concat([h, frame.subarray(14)]);
}

export const toRaw = (frame: Buffer): Buffer => Buffer.from(frame.subarray(14));

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function haveTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * tshark's verdict on a file, checksums checked: the expert errors (empty = clean) and the number of frames.
 * Throws if tshark cannot read the file at all.
 */
export function tsharkCheck(file: string): { errors: string[]; frames: number } {
  const checks = ['-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE'];
  const out = run('tshark', ['-n', '-r', file, ...checks, '-T', 'fields', '-e', 'frame.number', '-z', 'expert,error']);
  const errors: string[] = [];
  const m = /Errors \(\d+\)\n=+\n[^\n]*\n((?:[ \t]+\d+[^\n]*\n?)+)/.exec(out);
  if (m) errors.push(...m[1]!.split('\n').map((l) => l.trim()).filter((l) => l !== ''));
  // one frame number per line come first, then the statistics
  let frames = 0;
  for (const line of out.split('\n')) {
    if (!/^\d+$/.test(line)) break;
    frames++;
  }
  return { errors, frames };
}

/** One tshark field per frame (e.g. `ip.proto`), as printed with -T fields. */
export function tsharkField(file: string, field: string, filter?: string): string[] {
  const args = ['-n', '-r', file, '-T', 'fields', '-e', field];
  if (filter !== undefined) args.push('-Y', filter);
  return run('tshark', args).split('\n').filter((l) => l !== '');
}

/**
 * The same command line run in this process (src/cli/main.ts's `main`, stdout/stderr captured): for bulk
 * checks where a process per run would cost seconds. Not for `--out -` (that writes to fd 1 directly).
 */
export async function vtepIn(args: string[]): Promise<CliResult> {
  const { main } = await import('../../src/cli/main.ts');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const grab = (into: Buffer[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      into.push(Buffer.from(chunk));
      const cb = rest.find((x) => typeof x === 'function') as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof process.stdout.write;
  const ow = process.stdout.write;
  const ew = process.stderr.write;
  process.stdout.write = grab(out);
  process.stderr.write = grab(err);
  let status: number;
  try {
    status = await main(args);
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  const raw = Buffer.concat(out);
  return { status, stdout: raw.toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), raw };
}

/**
 * tshark over many captures at once (mergecap -a into one pcapng, one tshark run): no expert error
 * anywhere, and every file's frames seen. On errors, names the files that have them.
 */
export function tsharkCheckAll(files: string[], scratch: string): { errors: Record<string, string[]>; frames: number } {
  const merged = path.join(scratch, `all-${process.pid}-${Date.now()}.pcapng`);
  run('mergecap', ['-a', '-F', 'pcapng', '-w', merged, ...files]);
  const t = tsharkCheck(merged);
  fs.rmSync(merged, { force: true });
  const errors: Record<string, string[]> = {};
  if (t.errors.length > 0) {
    for (const f of files) {
      const e = tsharkCheck(f).errors;
      if (e.length > 0) errors[f] = e;
    }
    if (Object.keys(errors).length === 0) errors['(merged)'] = t.errors;
  }
  return { errors, frames: t.frames };
}
