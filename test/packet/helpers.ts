/**
 * Shared test helpers for the packet codecs: hex literals, a round-trip checker that encodes at offset 0
 * and at odd and even offsets inside larger (and oddly aligned) buffers, a cut-at-every-length checker,
 * a plain byte-pair RFC 1071 reference, and a tiny pcap writer + tshark runner for interop checks.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

/** Bytes from hex text; whitespace is ignored. */
export function hex(text: string): Uint8Array {
  const s = text.replace(/\s+/g, '');
  if (s.length % 2 !== 0 || /[^0-9a-fA-F]/.test(s)) throw new Error(`bad hex literal: ${text}`);
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(buf: Uint8Array, off = 0, end = buf.length): string {
  return Buffer.from(buf.buffer, buf.byteOffset + off, end - off).toString('hex');
}

/** A copy of `pkt` placed at `off` inside a larger buffer filled with `fill`, `tail` spare bytes after it. */
export function placeAt(pkt: Uint8Array, off: number, tail = 16, fill = 0xa5): Uint8Array {
  const buf = new Uint8Array(off + pkt.length + tail).fill(fill);
  buf.set(pkt, off);
  return buf;
}

const GUARD = 0xa5;
/** Offsets every round trip uses: the start, an odd and an even position inside a larger buffer. */
export const ROUND_TRIP_OFFSETS = [0, 13, 42] as const;

/** Index of the first byte in buf[from, to) that is not `value`, or -1. */
function firstNot(buf: Uint8Array, from: number, to: number, value: number): number {
  for (let i = from; i < to; i++) if (buf[i] !== value) return i;
  return -1;
}

export interface RoundTrip<V> {
  /** Write the encoding at buf[off]; return the bytes written. */
  write(buf: Uint8Array, off: number): number;
  newView(): V;
  decode(buf: Uint8Array, off: number, end: number, out: V): number;
  /** Assert the decoded view; `off` is where the encoding starts in `buf`. */
  check(view: V, buf: Uint8Array, off: number): void;
  /** If given, the encoding must be exactly these bytes. */
  bytes?: Uint8Array;
}

/**
 * Encode at offsets 0, 13 and 42 of a guard-filled buffer, both in a plain Uint8Array and in one whose
 * byteOffset within its ArrayBuffer is odd (word-at-a-time checksum code sees other alignments); the
 * encoding must be identical everywhere, touch nothing outside its bytes, and decode (with `end` exactly
 * at its last byte) to 0 and a view that passes `check`. Returns the encoding.
 */
export function expectRoundTrip<V>(rt: RoundTrip<V>): Uint8Array {
  let first: Uint8Array | null = null;
  for (const base of [0, 3]) {
    for (const off of ROUND_TRIP_OFFSETS) {
      const size = off + 2048;
      const buf = new Uint8Array(new ArrayBuffer(base + size + 5), base, size).fill(GUARD);
      const n = rt.write(buf, off);
      expect(n, `bytes written at offset ${off}`).toBeGreaterThan(0);
      expect(firstNot(buf, 0, off, GUARD), `a byte before offset ${off} was written`).toBe(-1);
      expect(firstNot(buf, off + n, buf.length, GUARD), `a byte after the encoding at ${off} was written`).toBe(-1);
      const enc = buf.slice(off, off + n);
      if (first === null) first = enc;
      else expect(toHex(enc), `encoding at offset ${off}, byteOffset ${base}`).toBe(toHex(first));
      const view = rt.newView();
      expect(rt.decode(buf, off, off + n, view), `decode at offset ${off}`).toBe(0);
      rt.check(view, buf, off);
    }
  }
  if (rt.bytes !== undefined) expect(toHex(first!)).toBe(toHex(rt.bytes));
  return first!;
}

/**
 * Decode `pkt` cut to every length 0..pkt.length-1 (placed at offset 0 and at an odd offset, with more
 * bytes of the original after `end` so over-reads would be visible) and return the codes seen per length.
 */
export function cutCodes<V>(
  pkt: Uint8Array,
  newView: () => V,
  decode: (buf: Uint8Array, off: number, end: number, out: V) => number,
): number[] {
  const codes: number[] = [];
  const view = newView();
  for (let len = 0; len < pkt.length; len++) {
    let code = -1;
    for (const off of [0, 7]) {
      const buf = placeAt(pkt, off);
      const c = decode(buf, off, off + len, view);
      if (code === -1) code = c;
      else expect(c, `cut at ${len}, offset ${off}`).toBe(code);
    }
    codes.push(code);
  }
  return codes;
}

/** RFC 1071 reference: big-endian 16-bit words, odd byte padded with zero, end-around carry each step. */
export function refSum(bytes: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) {
    s += (bytes[i]! << 8) | (i + 1 < bytes.length ? bytes[i + 1]! : 0);
    if (s > 0xffff) s = (s & 0xffff) + 1;
  }
  return s;
}

/** RFC 1071 reference checksum: one's complement of refSum. */
export function refChecksum(bytes: ArrayLike<number>): number {
  return ~refSum(bytes) & 0xffff;
}

/** Concatenate byte arrays (test-side only). */
export function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;

/** A classic little-endian pcap file (magic a1b2c3d4, µs timestamps) holding `frames`. */
export function pcapBytes(linkType: number, frames: Uint8Array[]): Uint8Array {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, 0xa1b2c3d4, true);
  dv.setUint16(4, 2, true);
  dv.setUint16(6, 4, true);
  dv.setInt32(8, 0, true);
  dv.setUint32(12, 0, true);
  dv.setUint32(16, 65535, true);
  dv.setUint32(20, linkType, true);
  let o = 24;
  frames.forEach((f, i) => {
    dv.setUint32(o, 1_700_000_000 + i, true);
    dv.setUint32(o + 4, 0, true);
    dv.setUint32(o + 8, f.length, true);
    dv.setUint32(o + 12, f.length, true);
    out.set(f, o + 16);
    o += 16 + f.length;
  });
  return out;
}

let tsharkOk: boolean | null = null;
/** True if `tshark` runs on this machine. */
export function haveTshark(): boolean {
  if (tsharkOk === null) {
    const r = spawnSync('tshark', ['-v'], { encoding: 'utf8' });
    tsharkOk = r.status === 0;
  }
  return tsharkOk;
}

/**
 * Write `frames` to a pcap in a fresh temp dir and run `tshark -r` on it with checksum validation on,
 * printing `fields` (one line per frame, '|' between fields, ',' between repeated values; booleans as 1/0).
 * Returns one array of field values per frame.
 */
export function tsharkFields(linkType: number, frames: Uint8Array[], fields: string[]): string[][] {
  const dir = mkdtempSync(join(tmpdir(), 'vtep-packet-'));
  try {
    const file = join(dir, 'test.pcap');
    writeFileSync(file, pcapBytes(linkType, frames));
    const args = [
      '-r', file,
      '-n',
      '-o', 'ip.check_checksum:TRUE',
      '-o', 'udp.check_checksum:TRUE',
      '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,',
      ...fields.flatMap((f) => ['-e', f]),
    ];
    const r = spawnSync('tshark', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tshark failed (${r.status}): ${r.stderr}`);
    return r.stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split('|').map((f) => (f === 'True' ? '1' : f === 'False' ? '0' : f))); // booleans print differently by version
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
