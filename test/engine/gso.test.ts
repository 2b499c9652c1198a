/**
 * TUN offloads on real bytes: virtio-net header codec, software TSO (TcpSegmenter), GRO (TcpCoalescer),
 * completeChecksum. Packets are built the plain way (Buffer writes, byte-pair reference checksum from helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  TcpCoalescer, TcpSegmenter, VNET_HDR_LEN, VnetFlag, VnetGso, VnetHdr, completeChecksum, readVnetHdr,
  writeVnetHdr, writeVnetNone,
} from '../../src/engine/gso.ts';
import { Drop } from '../../src/engine/drops.ts';
import { checksumOf, foldSum, sumBE } from '../../src/packet/checksum.ts';
import { refChecksum, refSum } from './helpers.ts';
import { TS_OPTIONS, buildTcp, payloadOf, type TcpSpec } from './gso-helpers.ts';

/** TCP checksum valid for the IP packet at b[off, off+len)? (reference sums). */
function tcpChecksumOk(b: Uint8Array, off: number, len: number): boolean {
  const v6 = b[off]! >> 4 === 6;
  const ipLen = v6 ? 40 : (b[off]! & 15) * 4;
  const l4 = len - ipLen;
  const pseudo = v6 ? refSum(b, off + 8, 32, 6 + l4) : refSum(b, off + 12, 8, 6 + l4);
  return refChecksum(b, off + ipLen, l4, pseudo) === 0;
}

const be16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

function gsoHdr(family: 4 | 6, mss: number, hdrLen: number): VnetHdr {
  const h = new VnetHdr();
  h.flags = VnetFlag.NeedsCsum;
  h.gsoType = family === 4 ? VnetGso.TcpV4 : VnetGso.TcpV6;
  h.gsoSize = mss;
  h.hdrLen = hdrLen;
  h.csumStart = family === 4 ? 20 : 40;
  h.csumOffset = 16;
  return h;
}

/** A pool: the GSO packet at 64, the output region after it. */
function pool(pkt: Uint8Array, outBytes: number): { buf: Uint8Array; off: number; dstOff: number; dstEnd: number } {
  const off = 64;
  const dstOff = off + pkt.length + 32;
  const buf = new Uint8Array(dstOff + outBytes);
  buf.set(pkt, off);
  return { buf, off, dstOff, dstEnd: buf.length };
}

// ---------------------------------------------------------------------------------------------- vnet header

describe('virtio-net header', () => {
  it('reads and writes the little-endian layout', () => {
    const b = new Uint8Array(16).fill(0xee);
    writeVnetHdr(b, 3, 1, 4, 0x0134, 0x05a8, 40, 16);
    // flags gso hdr_len   gso_size  csum_start csum_offset
    expect(Array.from(b.subarray(3, 13))).toEqual([1, 4, 0x34, 0x01, 0xa8, 0x05, 40, 0, 16, 0]);
    expect(b[2]).toBe(0xee);
    expect(b[13]).toBe(0xee);
    const h = new VnetHdr();
    readVnetHdr(b, 3, h);
    expect(h).toMatchObject({ flags: 1, gsoType: 4, hdrLen: 0x134, gsoSize: 0x5a8, csumStart: 40, csumOffset: 16 });
    writeVnetNone(b, 3);
    expect(Array.from(b.subarray(3, 13))).toEqual(new Array(VNET_HDR_LEN).fill(0));
  });
});

// ---------------------------------------------------------------------------------------------- completeChecksum

describe('completeChecksum', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family} TCP with the pseudo sum in the field equals a from-scratch checksum`, () => {
      const full = buildTcp({ family, payload: payloadOf(333), options: TS_OPTIONS });
      const partial = buildTcp({ family, payload: payloadOf(333), options: TS_OPTIONS, csum: 'pseudo' });
      const ipLen = family === 4 ? 20 : 40;
      expect(be16(partial, ipLen + 16)).not.toBe(be16(full, ipLen + 16));
      const b = new Uint8Array(partial.length + 8);
      b.set(partial, 5);
      expect(completeChecksum(b, 5, partial.length, ipLen, 16)).toBe(0);
      expect(Buffer.from(b.subarray(5, 5 + partial.length))).toEqual(full);
    });
  }
  it('UDP: a computed 0 is stored as 0xffff (skb_checksum_help)', () => {
    // a datagram whose whole sum (pseudo sum in the field + rest) is 0xffff → ~ = 0
    const b = new Uint8Array(28);
    b[0] = 0x45;
    b[20 + 4] = 0;
    b[20 + 5] = 8;
    // field holds 0xffff − (sum of the rest) so that the total folds to 0xffff
    const rest = foldSum(sumBE(b, 20, 8));
    b[26] = ((0xffff - rest) >> 8) & 0xff;
    b[27] = (0xffff - rest) & 0xff;
    expect(completeChecksum(b, 0, 28, 20, 6)).toBe(0);
    expect(be16(b, 26)).toBe(0xffff);
  });
  it('bounds: start or field beyond the packet is vnet-hdr-invalid', () => {
    const p = buildTcp({ family: 4, payload: payloadOf(10) });
    expect(completeChecksum(p, 0, p.length, p.length, 0)).toBe(Drop.VnetHdrInvalid);
    expect(completeChecksum(p, 0, p.length, p.length - 1, 0)).toBe(Drop.VnetHdrInvalid);
    expect(completeChecksum(p, 0, p.length, 20, p.length)).toBe(Drop.VnetHdrInvalid);
    expect(completeChecksum(p, 0, p.length, 0xffff, 0xffff)).toBe(Drop.VnetHdrInvalid);
    expect(completeChecksum(p, 0, p.length, p.length - 2, 0)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------- segmentation

function checkSegments(gso: Buffer, family: 4 | 6, mss: number, seg: TcpSegmenter, buf: Uint8Array, gap: number): void {
  const ipLen = family === 4 ? 20 : 40;
  const tcpLen = (gso[ipLen + 12]! >> 4) * 4;
  const hdrLen = ipLen + tcpLen;
  const payload = gso.length - hdrLen;
  const n = Math.max(1, Math.ceil(payload / mss));
  expect(seg.count).toBe(n);
  const flags0 = gso[ipLen + 13]!;
  const got: number[] = [];
  for (let k = 0; k < n; k++) {
    const o = seg.offs[k]!;
    const len = seg.lens[k]!;
    const pl = k < n - 1 ? mss : payload - (n - 1) * mss;
    expect(len).toBe(hdrLen + pl);
    if (k > 0) expect(o).toBe(seg.offs[k - 1]! + gap + hdrLen + mss);
    if (family === 4) {
      expect(be16(buf, o + 2)).toBe(len);
      expect(be16(buf, o + 4)).toBe((be16(gso, 4) + k) & 0xffff);
      expect(checksumOf(buf, o, 20)).toBe(0);
      expect(refChecksum(buf, o, 20)).toBe(0);
      // everything else of the IP header as in the GSO packet
      for (const i of [0, 1, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19]) expect(buf[o + i]).toBe(gso[i]);
    } else {
      expect(be16(buf, o + 4)).toBe(len - 40);
      expect(Buffer.from(buf.subarray(o, o + 4))).toEqual(gso.subarray(0, 4));
      expect(Buffer.from(buf.subarray(o + 6, o + 40))).toEqual(gso.subarray(6, 40));
    }
    const t = o + ipLen;
    expect(be32(buf, t + 4)).toBe((be32(gso, ipLen + 4) + k * mss) >>> 0);
    let f = flags0;
    if (k > 0) f &= ~0x80;
    if (k < n - 1) f &= ~0x09;
    expect(buf[t + 13]).toBe(f);
    // ports, ack, doff, window, urgent, options unchanged
    expect(Buffer.from(buf.subarray(t, t + 4))).toEqual(gso.subarray(ipLen, ipLen + 4));
    expect(Buffer.from(buf.subarray(t + 8, t + 13))).toEqual(gso.subarray(ipLen + 8, ipLen + 13));
    expect(Buffer.from(buf.subarray(t + 14, t + 16))).toEqual(gso.subarray(ipLen + 14, ipLen + 16));
    expect(Buffer.from(buf.subarray(t + 18, t + tcpLen))).toEqual(gso.subarray(ipLen + 18, ipLen + tcpLen));
    expect(tcpChecksumOk(buf, o, len)).toBe(true);
    for (let i = 0; i < pl; i++) got.push(buf[o + hdrLen + i]!);
  }
  expect(Buffer.from(got)).toEqual(gso.subarray(hdrLen));
}

describe('TcpSegmenter', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: timestamps, PSH|FIN|CWR, gap 50 — every segment checked`, () => {
      const mss = 1000;
      const gso = buildTcp({ family, payload: payloadOf(4500, family), options: TS_OPTIONS, flags: 0x10 | 0x08 | 0x01 | 0x80,
        seq: 0xfffff000, id: 0xfffe, tos: 0x02, csum: 'pseudo' });
      const { buf, off, dstOff, dstEnd } = pool(gso, 8 * (50 + 1100));
      const seg = new TcpSegmenter(64);
      const n = seg.segment(buf, off, gso.length, gsoHdr(family, mss, (family === 4 ? 20 : 40) + 32), dstOff, dstEnd, 50);
      expect(n).toBe(5);
      expect(seg.offs[0]).toBe(dstOff + 50);
      checkSegments(gso, family, mss, seg, buf, 50);
      // the source is untouched
      expect(Buffer.from(buf.subarray(off, off + gso.length))).toEqual(gso);
    });
  }

  it('payload ≤ mss: one segment with a full checksum; exact multiple: no empty tail', () => {
    const seg = new TcpSegmenter();
    const a = buildTcp({ family: 4, payload: payloadOf(700), csum: 'pseudo', flags: 0x18 });
    let p = pool(a, 2000);
    expect(seg.segment(p.buf, p.off, a.length, gsoHdr(4, 1400, 40), p.dstOff, p.dstEnd, 0)).toBe(1);
    checkSegments(a, 4, 1400, seg, p.buf, 0);
    const b = buildTcp({ family: 6, payload: payloadOf(2800), csum: 'pseudo' });
    p = pool(b, 4000);
    expect(seg.segment(p.buf, p.off, b.length, gsoHdr(6, 1400, 60), p.dstOff, p.dstEnd, 0)).toBe(2);
    checkSegments(b, 6, 1400, seg, p.buf, 0);
  });

  it('the gso type may carry the ECN bit', () => {
    const a = buildTcp({ family: 4, payload: payloadOf(3000), flags: 0x90, csum: 'pseudo' });
    const p = pool(a, 4000);
    const h = gsoHdr(4, 1448, 40);
    h.gsoType |= VnetGso.Ecn;
    const seg = new TcpSegmenter();
    expect(seg.segment(p.buf, p.off, a.length, h, p.dstOff, p.dstEnd, 0)).toBe(3);
    checkSegments(a, 4, 1448, seg, p.buf, 0);
  });

  it('malformed headers and packets give −drop codes, never throw', () => {
    const seg = new TcpSegmenter(8);
    const v4 = buildTcp({ family: 4, payload: payloadOf(3000), csum: 'pseudo' });
    const v6 = buildTcp({ family: 6, payload: payloadOf(3000), csum: 'pseudo' });
    const run = (pkt: Uint8Array, h: VnetHdr, out = 8000, gap = 0, len = pkt.length) => {
      const p = pool(pkt, out);
      return seg.segment(p.buf, p.off, len, h, p.dstOff, p.dstEnd, gap);
    };
    const h = (f: (x: VnetHdr) => void, family: 4 | 6 = 4) => {
      const x = gsoHdr(family, 1000, 40);
      f(x);
      return x;
    };
    expect(run(v4, h(() => {}))).toBe(3);
    expect(run(v4, h((x) => (x.gsoType = VnetGso.None)))).toBe(-Drop.VnetHdrInvalid);
    expect(run(v4, h((x) => (x.gsoType = VnetGso.UdpL4)))).toBe(-Drop.VnetHdrInvalid);
    expect(run(v4, h((x) => (x.gsoType = 3)))).toBe(-Drop.VnetHdrInvalid);
    expect(run(v4, h((x) => (x.gsoSize = 0)))).toBe(-Drop.VnetHdrInvalid);
    expect(run(v4, h((x) => (x.gsoType = VnetGso.TcpV6)))).toBe(-Drop.GsoNotTcp);
    expect(run(v6, h(() => {}, 4))).toBe(-Drop.GsoNotTcp);
    expect(run(v4, h((x) => (x.gsoSize = 100)))).toBe(-Drop.GsoTooManySegments); // 30 > 8
    expect(run(v4, h(() => {}), 3000)).toBe(-Drop.GsoTooManySegments); // output slot too small
    expect(run(v4, h(() => {}), 3200, 100)).toBe(-Drop.GsoTooManySegments); // gaps do not fit
    const udp = Buffer.from(v4);
    udp[9] = 17;
    expect(run(udp, h(() => {}))).toBe(-Drop.GsoNotTcp);
    const frag = Buffer.from(v4);
    frag[6] = 0x20; // MF
    expect(run(frag, h(() => {}))).toBe(-Drop.GsoNotTcp);
    const ext = Buffer.from(v6);
    ext[6] = 0; // hop-by-hop
    expect(run(ext, h(() => {}, 6))).toBe(-Drop.GsoNotTcp);
    const badDoff = Buffer.from(v4);
    badDoff[20 + 12] = 0x40; // doff 4
    expect(run(badDoff, h(() => {}))).toBe(-Drop.InnerIpInvalid);
    const bigDoff = Buffer.from(buildTcp({ family: 4, payload: payloadOf(10), csum: 'pseudo' }));
    bigDoff[20 + 12] = 0xf0; // 60 > packet
    expect(run(bigDoff, h(() => {}))).toBe(-Drop.InnerIpInvalid);
    expect(run(v4, h(() => {}), 8000, 0, v4.length - 1)).toBe(-Drop.InnerIpInvalid); // total length disagrees
    const badVer = Buffer.from(v4);
    badVer[0] = 0x55;
    expect(run(badVer, h(() => {}))).toBe(-Drop.InnerIpInvalid);
    // every truncation of a valid packet: a code, never a throw
    for (let cut = 0; cut < 80; cut++) {
      const r = run(v4, h(() => {}), 8000, 0, cut);
      expect(r).toBeLessThan(0);
    }
    expect(seg.count).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------- coalescing

/** Put packets one after another in a pool, output region after them. */
function coalescePool(pkts: Uint8Array[], outCap: number): { buf: Uint8Array; offs: number[]; dstOff: number } {
  let total = 0;
  for (const p of pkts) total += p.length + 4;
  const buf = new Uint8Array(total + outCap + 16);
  const offs: number[] = [];
  let o = 0;
  for (const p of pkts) {
    buf.set(p, o);
    offs.push(o);
    o += p.length + 4;
  }
  return { buf, offs, dstOff: o + 8 };
}

/** Coalesce pkts greedily into one: returns how many were taken, the output bytes, the coalescer. */
function coalesceAll(pkts: Uint8Array[], outCap = 70000): { taken: number; out: Buffer; c: TcpCoalescer } {
  const { buf, offs, dstOff } = coalescePool(pkts, outCap);
  const c = new TcpCoalescer();
  if (!c.start(buf, offs[0]!, pkts[0]!.length, dstOff, outCap)) return { taken: 0, out: Buffer.alloc(0), c };
  let taken = 1;
  for (let i = 1; i < pkts.length; i++) {
    if (!c.canAppend(buf, offs[i]!, pkts[i]!.length)) break;
    c.append(buf, offs[i]!, pkts[i]!.length);
    taken++;
  }
  const len = c.finish(buf);
  return { taken, out: Buffer.from(buf.subarray(dstOff, dstOff + len)), c };
}

function segmentsOf(family: 4 | 6, sizes: number[], over: Partial<TcpSpec> = {}, overK: (k: number) => Partial<TcpSpec> = () => ({})): Buffer[] {
  const out: Buffer[] = [];
  let seq = over.seq ?? 5000;
  for (let k = 0; k < sizes.length; k++) {
    out.push(buildTcp({ family, payload: payloadOf(sizes[k]!, k + 3), options: TS_OPTIONS, id: 100 + k, ...over, seq, ...overK(k) }));
    seq += sizes[k]!;
  }
  return out;
}

describe('TcpCoalescer', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: merges in-order segments, PSH on the last, vnet header and fields like tcp_gro_complete`, () => {
      const pkts = segmentsOf(family, [1200, 1200, 1200, 700], {}, (k) => (k === 3 ? { flags: 0x18 } : {}));
      const { taken, out, c } = coalesceAll(pkts);
      expect(taken).toBe(4);
      expect(c.merged).toBe(3);
      expect(c.flushed).toBe(1);
      expect(c.open).toBe(false);
      const ipLen = family === 4 ? 20 : 40;
      const hdrLen = ipLen + 32;
      const h = new VnetHdr();
      readVnetHdr(out, 0, h);
      expect(h).toMatchObject({ flags: VnetFlag.NeedsCsum, gsoType: family === 4 ? VnetGso.TcpV4 : VnetGso.TcpV6, hdrLen,
        gsoSize: 1200, csumStart: ipLen, csumOffset: 16 });
      const p = out.subarray(VNET_HDR_LEN);
      expect(p.length).toBe(hdrLen + 4300);
      if (family === 4) {
        expect(be16(p, 2)).toBe(p.length);
        expect(be16(p, 4)).toBe(100);
        expect(refChecksum(p, 0, 20)).toBe(0);
      } else {
        expect(be16(p, 4)).toBe(p.length - 40);
      }
      expect(p[ipLen + 13]).toBe(0x18);
      expect(be32(p, ipLen + 4)).toBe(5000);
      // checksum field: folded pseudo-header sum (not complemented)
      const l4 = p.length - ipLen;
      const pseudo = family === 4 ? refSum(p, 12, 8, 6 + l4) : refSum(p, 8, 32, 6 + l4);
      expect(be16(p, ipLen + 16)).toBe(pseudo);
      // completing it gives a valid checksum
      const q = Buffer.from(p);
      expect(completeChecksum(q, 0, q.length, h.csumStart, h.csumOffset)).toBe(0);
      expect(tcpChecksumOk(q, 0, q.length)).toBe(true);
      expect(q.subarray(hdrLen)).toEqual(Buffer.concat(pkts.map((x) => x.subarray(hdrLen))));
    });
  }

  it('one segment: vnet header zero, bytes exactly as received', () => {
    const pkts = segmentsOf(4, [1000]);
    const { taken, out } = coalesceAll(pkts);
    expect(taken).toBe(1);
    expect(Array.from(out.subarray(0, VNET_HDR_LEN))).toEqual(new Array(10).fill(0));
    expect(out.subarray(VNET_HDR_LEN)).toEqual(pkts[0]);
  });

  it('segment → coalesce gives back the original packet (v4 and v6), then segment again gives the same segments', () => {
    for (const family of [4, 6] as const) {
      const gso = buildTcp({ family, payload: payloadOf(5000, 9), options: TS_OPTIONS, flags: 0x18, csum: 'pseudo', id: 7 });
      const ipLen = family === 4 ? 20 : 40;
      const p = pool(gso, 8000);
      const seg = new TcpSegmenter();
      const n = seg.segment(p.buf, p.off, gso.length, gsoHdr(family, 1300, 0), p.dstOff, p.dstEnd, 0);
      expect(n).toBe(4);
      const segs = Array.from({ length: n }, (_, k) => Buffer.from(p.buf.subarray(seg.offs[k]!, seg.offs[k]! + seg.lens[k]!)));
      const { taken, out } = coalesceAll(segs);
      expect(taken).toBe(4);
      const h = new VnetHdr();
      readVnetHdr(out, 0, h);
      expect(h.gsoSize).toBe(1300);
      const back = out.subarray(VNET_HDR_LEN);
      // identical to the GSO packet (whose checksum field held the pseudo sum, as the coalesced one does)
      expect(back).toEqual(gso);
      expect(back[ipLen + 13]).toBe(0x18);
    }
  });

  it('property: random payload size / mss / family / gap: segment → coalesce round trip', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20000 }), fc.integer({ min: 1, max: 1500 }), fc.constantFrom(4 as const, 6 as const),
        fc.integer({ min: 0, max: 70 }), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }),
        (size, mss, family, gap, ts, seq) => {
          fc.pre(Math.ceil(size / mss) <= 128);
          const gso = buildTcp({ family, payload: payloadOf(size, size), options: ts ? TS_OPTIONS : undefined, csum: 'pseudo', seq,
            flags: 0x18, id: size & 0xffff });
          const n = Math.max(1, Math.ceil(size / mss));
          const hdrLen = gso.length - size;
          const p = pool(gso, n * (gap + hdrLen + mss) + 8);
          const seg = new TcpSegmenter(128);
          expect(seg.segment(p.buf, p.off, gso.length, gsoHdr(family, mss, 0), p.dstOff, p.dstEnd, gap)).toBe(n);
          checkSegments(gso, family, mss, seg, p.buf, gap);
          const segs = Array.from({ length: n }, (_, k) => Buffer.from(p.buf.subarray(seg.offs[k]!, seg.offs[k]! + seg.lens[k]!)));
          const { taken, out } = coalesceAll(segs);
          if (n === 1) {
            // a lone PSH packet is not started (the kernel flushes it at once): written alone, unchanged
            expect(taken).toBe(0);
            expect(tcpChecksumOk(segs[0]!, 0, segs[0]!.length)).toBe(true);
            return;
          }
          expect(taken).toBe(n);
          expect(out.subarray(VNET_HDR_LEN)).toEqual(gso);
        }),
      { numRuns: 150 },
    );
  });

  describe('refuses each mismatch', () => {
    const base = (over: Partial<TcpSpec> = {}, overK: (k: number) => Partial<TcpSpec> = () => ({})) =>
      segmentsOf(4, [1000, 1000, 1000], over, overK);
    const cases: [string, () => Buffer[], number][] = [
      ['baseline merges all', () => base(), 3],
      ['seq gap', () => base({}, (k) => (k === 2 ? { seq: 5000 + 2000 + 1 } : {})), 2],
      ['seq overlap (retransmit)', () => base({}, (k) => (k === 1 ? { seq: 5000 } : {})), 1],
      ['different source address', () => base({}, (k) => (k === 1 ? { srcHost: 6 } : {})), 1],
      ['different source port', () => base({}, (k) => (k === 1 ? { sport: 40001 } : {})), 1],
      ['different destination port', () => base({}, (k) => (k === 2 ? { dport: 80 } : {})), 2],
      ['different TOS', () => base({}, (k) => (k === 1 ? { tos: 0x01 } : {})), 1],
      ['different TTL', () => base({}, (k) => (k === 1 ? { ttl: 63 } : {})), 1],
      ['DF differs', () => base({}, (k) => (k === 1 ? { df: false } : {})), 1],
      ['IP ID not consecutive', () => base({}, (k) => (k === 1 ? { id: 150 } : {})), 1],
      ['option bytes change (timestamp)', () => base({}, (k) => (k === 2 ? { options: Uint8Array.from([1, 1, 8, 10, 0, 0, 0x12, 0x35, 0, 0, 0x56, 0x78]) } : {})), 2],
      ['option length change', () => base({}, (k) => (k === 1 ? { options: new Uint8Array(0) } : {})), 1],
      ['different ack', () => base({}, (k) => (k === 1 ? { ack: 78 } : {})), 1],
      ['different window', () => base({}, (k) => (k === 1 ? { window: 502 } : {})), 1],
      ['bad checksum on an appended one', () => base({}, (k) => (k === 2 ? { csum: 'bad' } : {})), 2],
      ['bad checksum on the first', () => base({}, (k) => (k === 0 ? { csum: 'bad' } : {})), 0],
      ['SYN', () => base({ flags: 0x12 }), 0],
      ['FIN on the first', () => base({}, (k) => (k === 0 ? { flags: 0x11 } : {})), 0],
      ['FIN on an appended one', () => base({}, (k) => (k === 1 ? { flags: 0x11 } : {})), 1],
      ['RST', () => base({}, (k) => (k === 1 ? { flags: 0x14 } : {})), 1],
      ['URG', () => base({}, (k) => (k === 1 ? { flags: 0x30 } : {})), 1],
      ['CWR on an appended one', () => base({}, (k) => (k === 1 ? { flags: 0x90 } : {})), 1],
      ['CWR on the first (Linux 6.18 sends it up alone)', () => base({}, (k) => (k === 0 ? { flags: 0x90 } : {})), 0],
      ['ECE on all merges', () => base({ flags: 0x50 }), 3],
      ['ECE only on the second', () => base({}, (k) => (k === 1 ? { flags: 0x50 } : {})), 1],
      ['no ACK', () => base({ flags: 0 }), 0],
      ['PSH on the first (flushed at once by the kernel)', () => base({}, (k) => (k === 0 ? { flags: 0x18 } : {})), 0],
      ['nothing after a PSH', () => base({}, (k) => (k === 1 ? { flags: 0x18 } : {})), 2],
      ['shorter then more', () => segmentsOf(4, [1000, 500, 1000]), 2],
      ['longer than the first', () => segmentsOf(4, [1000, 1001]), 1],
      ['empty payload (pure ACK)', () => segmentsOf(4, [1000, 0]), 1],
      ['IPv6 flow label differs', () => segmentsOf(6, [1000, 1000], {}, (k) => (k === 1 ? { flowLabel: 0x54321 } : {})), 1],
      ['IPv6 traffic class differs', () => segmentsOf(6, [1000, 1000], {}, (k) => (k === 1 ? { tos: 4 } : {})), 1],
      ['IPv6 hop limit differs', () => segmentsOf(6, [1000, 1000], {}, (k) => (k === 1 ? { ttl: 1 } : {})), 1],
      ['IPv6 after IPv4', () => [...segmentsOf(4, [1000]), ...segmentsOf(6, [1000], { seq: 6000 })], 1],
    ];
    for (const [name, make, want] of cases) {
      it(`${name} → ${want}`, () => {
        expect(coalesceAll(make()).taken).toBe(want);
      });
    }
  });

  it('IPv4 with options, fragments, a bad IP header checksum are not started', () => {
    const c = new TcpCoalescer();
    const p = buildTcp({ family: 4, payload: payloadOf(100) });
    const buf = new Uint8Array(1000);
    const mk = (f: (b: Buffer) => void) => {
      const b = Buffer.from(p);
      f(b);
      buf.set(b, 0);
      return c.start(buf, 0, b.length, 400, 600);
    };
    expect(mk(() => {})).toBe(true);
    c.reset();
    expect(mk((b) => (b[0] = 0x46))).toBe(false);
    expect(mk((b) => (b[6] = 0x60))).toBe(false); // DF + MF
    expect(mk((b) => (b[10] ^= 1))).toBe(false);
    expect(mk((b) => (b[9] = 17))).toBe(false);
    expect(c.start(buf, 0, p.length - 1, 400, 600)).toBe(false); // total length disagrees
    expect(c.start(buf, 0, p.length, 400, p.length + 9)).toBe(false); // does not fit dstCap
    for (let cut = 0; cut < p.length; cut++) expect(c.start(buf, 0, cut, 400, 600)).toBe(false);
    expect(c.open).toBe(false);
  });

  it('stops at dstCap and at 65535 bytes of IP packet', () => {
    const pkts = segmentsOf(4, [1000, 1000, 1000, 1000]);
    // room for the vnet header + header + 3 payloads
    expect(coalesceAll(pkts, 10 + 52 + 3000).taken).toBe(3);
    const big = segmentsOf(4, new Array(50).fill(1448));
    const r = coalesceAll(big);
    expect(r.taken).toBe(Math.floor((65535 - 52) / 1448));
    expect(r.out.length - VNET_HDR_LEN).toBeLessThanOrEqual(65535);
  });

  it('reuse: one coalescer, many packets, counters add up', () => {
    const c = new TcpCoalescer();
    const pkts = segmentsOf(6, [900, 900, 900, 900, 900, 900]);
    const { buf, offs, dstOff } = coalescePool(pkts, 20000);
    let out = dstOff;
    for (let i = 0; i < pkts.length; i++) {
      if (c.open && c.canAppend(buf, offs[i]!, pkts[i]!.length)) {
        c.append(buf, offs[i]!, pkts[i]!.length);
        if (c.segments === 2) out += c.finish(buf); // pairs
        continue;
      }
      expect(c.start(buf, offs[i]!, pkts[i]!.length, out, 20000 - (out - dstOff))).toBe(true);
    }
    expect(c.merged).toBe(3);
    expect(c.flushed).toBe(3);
    for (let k = 0; k < 3; k++) {
      const o = dstOff + k * (10 + 72 + 1800); // vnet + IPv6 + TCP with timestamps + 2 payloads
      const h = new VnetHdr();
      readVnetHdr(buf, o, h);
      expect(h.gsoType).toBe(VnetGso.TcpV6);
      expect(be32(buf, o + 10 + 44)).toBe(5000 + k * 1800);
    }
  });
});
