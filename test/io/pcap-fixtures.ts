/**
 * Test-side capture builders, written independently of src/io (a reference to check the reader against):
 * hand-built frames, a classic pcap writer for every byte order / magic, a pcapng block writer, and helpers
 * to run the Wireshark tools and read a whole file through CaptureReader.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CaptureReader, newPcapRecord, type CaptureReaderOptions, type TruncatedTail } from '../../src/io/pcap-reader.ts';

export interface TestRecord {
  tsSec: number;
  tsNsec: number;
  data: Uint8Array;
  /** Defaults to data.length. */
  origLen?: number;
  interfaceId?: number;
  linkType?: number;
}

export function tmpDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vtep-${prefix}-`));
}

export function hexToBytes(h: string): Uint8Array {
  const s = h.replace(/\s+/g, '');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** IPv4/UDP packet 198.51.100.1 → 198.51.100.2 (or 10.244.x pods), payload `payloadLen` bytes of pattern `seed`. */
export function ipv4Udp(seed: number, payloadLen: number, src = [198, 51, 100, 1], dst = [198, 51, 100, 2]): Uint8Array {
  const total = 20 + 8 + payloadLen;
  const p = new Uint8Array(total);
  p.set([0x45, 0, total >> 8, total & 255, seed >> 8 & 255, seed & 255, 0x40, 0, 64, 17, 0, 0, ...src, ...dst]);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  s = ~s & 0xffff;
  p[10] = s >> 8;
  p[11] = s & 255;
  const udpLen = 8 + payloadLen;
  p.set([0x9c, 0x40, 0x12, 0xb5, udpLen >> 8, udpLen & 255, 0, 0], 20); // 40000 → 4789, checksum 0 (allowed on v4)
  for (let i = 0; i < payloadLen; i++) p[28 + i] = (seed * 7 + i) & 255;
  return p;
}

/** IPv6/UDP packet 2001:db8:100::1 → 2001:db8:100::2 with a zero-free UDP checksum left 0 (not validated here). */
export function ipv6Udp(seed: number, payloadLen: number): Uint8Array {
  const plen = 8 + payloadLen;
  const p = new Uint8Array(40 + plen);
  p.set([0x60, 0, 0, 0, plen >> 8, plen & 255, 17, 64]);
  p.set([0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  p.set([0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  p.set([0x9c, 0x40, 0x12, 0xb5, plen >> 8, plen & 255, 0x12, 0x34], 40);
  for (let i = 0; i < payloadLen; i++) p[48 + i] = (seed * 13 + i) & 255;
  return p;
}

const MAC_A = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
const MAC_B = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

/** Ethernet II frame dst=02:00:00:00:00:0b src=…:0a, optional 802.1Q tag (VLAN `vlan`). */
export function ethernet(ip: Uint8Array, vlan = -1, etherType = (ip[0]! >> 4) === 6 ? 0x86dd : 0x0800): Uint8Array {
  const tag = vlan >= 0 ? [0x81, 0x00, (vlan >> 8) & 0x0f, vlan & 255] : [];
  return concat([new Uint8Array([...MAC_B, ...MAC_A, ...tag, etherType >> 8, etherType & 255]), ip]);
}

/** Linux cooked v1 header: pkttype(2)=0 host, hatype(2)=1 Ethernet, halen(2)=6, addr(8), protocol(2). */
export function sll(ip: Uint8Array, protocol = (ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, hatype = 1): Uint8Array {
  return concat([new Uint8Array([0, 0, hatype >> 8, hatype & 255, 0, 6, ...MAC_A, 0, 0, protocol >> 8, protocol & 255]), ip]);
}

/** Linux cooked v2 header: protocol(2) mbz(2) ifindex(4)=3 hatype(2)=1 pkttype(1)=0 halen(1)=6 addr(8). */
export function sll2(ip: Uint8Array, protocol = (ip[0]! >> 4) === 6 ? 0x86dd : 0x0800, hatype = 1): Uint8Array {
  return concat([new Uint8Array([protocol >> 8, protocol & 255, 0, 0, 0, 0, 0, 3, hatype >> 8, hatype & 255, 0, 6, ...MAC_A, 0, 0]), ip]);
}

class Out {
  parts: number[] = [];
  constructor(readonly le: boolean) {}
  u8(v: number): this {
    this.parts.push(v & 255);
    return this;
  }
  u16(v: number): this {
    return this.le ? this.u8(v).u8(v >>> 8) : this.u8(v >>> 8).u8(v);
  }
  u32(v: number): this {
    v >>>= 0;
    return this.le ? this.u16(v & 0xffff).u16(v >>> 16) : this.u16(v >>> 16).u16(v & 0xffff);
  }
  bytes(b: ArrayLike<number>): this {
    for (let i = 0; i < b.length; i++) this.parts.push(b[i]!);
    return this;
  }
  pad4(): this {
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

export interface ClassicOptions {
  le?: boolean;
  nsec?: boolean;
  /** 'modified' = Kuznetsov a1b2cd34 magic with 24-byte record headers. */
  modified?: boolean;
  linkType?: number;
  snaplen?: number;
}

/** A classic pcap file image. Timestamps: tsNsec is written as ns (nsec) or truncated to µs. */
export function classicPcap(records: TestRecord[], o: ClassicOptions = {}): Uint8Array {
  const w = new Out(o.le ?? true);
  const magic = o.modified ? 0xa1b2cd34 : o.nsec ? 0xa1b23c4d : 0xa1b2c3d4;
  w.u32(magic).u16(2).u16(4).u32(0).u32(0).u32(o.snaplen ?? 262144).u32(o.linkType ?? 1);
  for (const r of records) {
    w.u32(r.tsSec).u32(o.nsec ? r.tsNsec : Math.floor(r.tsNsec / 1000)).u32(r.data.length).u32(r.origLen ?? r.data.length);
    if (o.modified) w.u32(2).u16(0x0800).u8(0).u8(0);
    w.bytes(r.data);
  }
  return w.done();
}

// ---------------------------------------------------------------------------------------------- pcapng

export interface NgInterface {
  linkType: number;
  snaplen?: number;
  /** Raw if_tsresol byte (omitted when undefined → 10^-6). */
  tsresol?: number;
  /** if_tsoffset seconds. */
  tsoffset?: number;
  /** Add an if_name option before tsresol (to test option walking). */
  name?: string;
}

export type NgBlock =
  | { kind: 'epb'; interfaceId: number; ticks: bigint; data: Uint8Array; origLen?: number; comment?: string }
  | { kind: 'opb'; interfaceId: number; ticks: bigint; data: Uint8Array; origLen?: number }
  | { kind: 'spb'; data: Uint8Array; origLen?: number }
  | { kind: 'raw'; type: number; body: Uint8Array };

export interface NgSection {
  le: boolean;
  interfaces: NgInterface[];
  blocks: NgBlock[];
}

function block(le: boolean, type: number, body: (w: Out) => void): Uint8Array {
  const b = new Out(le);
  body(b);
  b.pad4();
  const len = b.length + 12;
  return new Out(le).u32(type).u32(len).bytes(b.parts).u32(len).done();
}

function option(w: Out, code: number, value: ArrayLike<number>): void {
  w.u16(code).u16(value.length).bytes(value).pad4();
}

function u64(le: boolean, v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(Number((BigInt.asUintN(64, v) >> BigInt(8 * i)) & 255n));
  return le ? out : out.reverse();
}

/** A pcapng file image: per section an SHB, its IDBs, then the blocks in order. */
export function pcapng(sections: NgSection[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of sections) {
    const le = s.le;
    parts.push(
      block(le, 0x0a0d0d0a, (w) => {
        w.u32(0x1a2b3c4d).u16(1).u16(0).bytes(u64(le, -1n));
        option(w, 4, Array.from(new TextEncoder().encode('vtep test'))); // shb_userappl
        w.u16(0).u16(0);
      }),
    );
    for (const i of s.interfaces) {
      parts.push(
        block(le, 1, (w) => {
          w.u16(i.linkType).u16(0).u32(i.snaplen ?? 0);
          if (i.name !== undefined) option(w, 2, Array.from(new TextEncoder().encode(i.name)));
          if (i.tsresol !== undefined) option(w, 9, [i.tsresol]);
          if (i.tsoffset !== undefined) option(w, 14, u64(le, BigInt(i.tsoffset)));
          w.u16(0).u16(0);
        }),
      );
    }
    for (const b of s.blocks) {
      if (b.kind === 'epb') {
        parts.push(
          block(le, 6, (w) => {
            const t = BigInt.asUintN(64, b.ticks);
            w.u32(b.interfaceId).u32(Number(t >> 32n)).u32(Number(t & 0xffffffffn)).u32(b.data.length).u32(b.origLen ?? b.data.length);
            w.bytes(b.data).pad4();
            if (b.comment !== undefined) {
              option(w, 1, Array.from(new TextEncoder().encode(b.comment)));
              w.u16(0).u16(0);
            }
          }),
        );
      } else if (b.kind === 'opb') {
        parts.push(
          block(le, 2, (w) => {
            const t = BigInt.asUintN(64, b.ticks);
            w.u16(b.interfaceId).u16(0).u32(Number(t >> 32n)).u32(Number(t & 0xffffffffn)).u32(b.data.length).u32(b.origLen ?? b.data.length);
            w.bytes(b.data).pad4();
          }),
        );
      } else if (b.kind === 'spb') {
        parts.push(block(le, 3, (w) => w.u32(b.origLen ?? b.data.length).bytes(b.data)));
      } else {
        parts.push(block(le, b.type, (w) => w.bytes(b.body)));
      }
    }
  }
  return concat(parts);
}

/** NRB with one IPv4 record, ISB for interface 0, DSB (TLS key log): blocks a reader must skip. */
export function skippableBlocks(le: boolean): NgBlock[] {
  const nrb = new Out(le).u16(1).u16(9).bytes([198, 51, 100, 1]).bytes([104, 111, 115, 116, 0]).pad4().u16(0).u16(0).done(); // 198.51.100.1 "host\0"
  const isb = new Out(le).u32(0).u32(0).u32(0).u16(0).u16(0).done();
  const dsb = new Out(le).u32(0x544c534b).u32(5).bytes([1, 2, 3, 4, 5]).pad4().done();
  return [
    { kind: 'raw', type: 4, body: nrb },
    { kind: 'raw', type: 5, body: isb },
    { kind: 'raw', type: 10, body: dsb },
    { kind: 'raw', type: 0x80000abc, body: new Uint8Array(40) }, // local-use block type
  ];
}

// ---------------------------------------------------------------------------------------------- reading

export interface ReadBack {
  linkType: number;
  interfaceId: number;
  tsSec: number;
  tsNsec: number;
  capLen: number;
  origLen: number;
  hex: string;
}

export interface ReadAllResult {
  records: ReadBack[];
  tail: TruncatedTail | null;
  format: 'pcap' | 'pcapng';
  nanosecond: boolean;
}

export function toHex(b: Uint8Array, off = 0, len = b.length - off): string {
  return Buffer.from(b.buffer, b.byteOffset + off, len).toString('hex');
}

/** Every record of a file through CaptureReader (bytes copied out as hex). */
export function readAll(file: string, opts?: CaptureReaderOptions): ReadAllResult {
  const r = CaptureReader.open(file, opts);
  const rec = newPcapRecord();
  const records: ReadBack[] = [];
  try {
    while (r.next(rec)) {
      records.push({
        linkType: rec.linkType,
        interfaceId: rec.interfaceId,
        tsSec: rec.tsSec,
        tsNsec: rec.tsNsec,
        capLen: rec.capLen,
        origLen: rec.origLen,
        hex: toHex(rec.buf, rec.off, rec.capLen),
      });
    }
    return { records, tail: r.truncatedTail, format: r.format, nanosecond: r.nanosecond };
  } finally {
    r.close();
  }
}

/** What a list of TestRecords should read back as (µs files: ns truncated to µs). */
export function expected(records: TestRecord[], usec: boolean, linkType = 1): ReadBack[] {
  return records.map((r) => ({
    linkType: r.linkType ?? linkType,
    interfaceId: r.interfaceId ?? 0,
    tsSec: r.tsSec,
    tsNsec: usec ? Math.floor(r.tsNsec / 1000) * 1000 : r.tsNsec,
    capLen: r.data.length,
    origLen: r.origLen ?? r.data.length,
    hex: toHex(r.data),
  }));
}

export function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** tshark's view of a file: one "sec.nsec len caplen ifid" line per frame. Throws if tshark reports an error. */
export function tsharkFrames(file: string): string[] {
  const out = run('tshark', ['-n', '-r', file, '-T', 'fields', '-e', 'frame.time_epoch', '-e', 'frame.len', '-e', 'frame.cap_len', '-e', 'frame.interface_id']);
  return out.split('\n').filter((l) => l.length > 0).map((l) => l.split('\t').map((f) => (f === '' ? '0' : f)).join(' '));
}

/** The same line format from our reader's records. */
export function framesOf(records: ReadBack[]): string[] {
  return records.map((r) => `${r.tsSec}.${String(r.tsNsec).padStart(9, '0')} ${r.origLen} ${r.capLen} ${r.interfaceId}`);
}

/** A fixed, varied set of records: Ethernet v4/v6 UDP, one 802.1Q-tagged, one snap-truncated, ns timestamps. */
export function sampleRecords(): TestRecord[] {
  const recs: TestRecord[] = [];
  const base = 1_700_000_000;
  const sizes = [0, 1, 18, 100, 513, 1400, 7, 64];
  for (let i = 0; i < 16; i++) {
    const ip = i % 3 === 2 ? ipv6Udp(i, sizes[i % sizes.length]!) : ipv4Udp(i, sizes[i % sizes.length]!);
    const frame = ethernet(ip, i === 5 ? 100 : -1);
    recs.push({ tsSec: base + i * 37, tsNsec: (i * 123_456_789 + 987) % 1_000_000_000, data: frame });
  }
  // snap-truncated record: 96 of 1514 bytes captured
  const big = ethernet(ipv4Udp(99, 1472));
  recs.push({ tsSec: base + 1000, tsNsec: 999_999_999, data: big.subarray(0, 96), origLen: big.length });
  return recs;
}
