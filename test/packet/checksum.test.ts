/**
 * checksum.ts against a plain RFC 1071 reference (byte pairs, end-around carry each step): random bytes,
 * random offsets, odd lengths, views at every alignment of their ArrayBuffer. fast-check prints the seed
 * and the shrunk counterexample on failure.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checksumOf,
  finishChecksum,
  foldSum,
  pseudoSum4,
  pseudoSum6,
  sumBE,
  udpChecksumField,
} from '../../src/packet/checksum.ts';
import { udpChecksum4, udpChecksum6, verifyUdp4, verifyUdp6, setUdpChecksum, UDP_CSUM } from '../../src/packet/udp.ts';
import { concat, hex, refChecksum, refSum } from './helpers.ts';

/** `bytes` copied into a fresh ArrayBuffer at byteOffset `base` + offset `off` within the view. */
function layout(bytes: Uint8Array, base: number, off: number): Uint8Array {
  const view = new Uint8Array(new ArrayBuffer(base + off + bytes.length + 7), base, off + bytes.length + 3);
  view.fill(0x5a);
  view.set(bytes, off);
  return view;
}

const u32 = (a: Uint8Array, o: number) => ((a[o]! << 24) | (a[o + 1]! << 16) | (a[o + 2]! << 8) | a[o + 3]!) >>> 0;
const be16 = (n: number) => [(n >>> 8) & 0xff, n & 0xff];

/** Reference IPv4 pseudo-header bytes (RFC 768). */
function pseudo4(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number[] {
  return [...src, ...dst, 0, proto, ...be16(len)];
}
/** Reference IPv6 pseudo-header bytes (RFC 8200 §8.1). */
function pseudo6(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number[] {
  return [...src, ...dst, (len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, 0, 0, 0, proto];
}

const bytesArb = fc.uint8Array({ minLength: 0, maxLength: 300 });
const smallOff = fc.integer({ min: 0, max: 9 });

describe('sumBE / foldSum / checksumOf', () => {
  it('known answer: a textbook IPv4 header (checksum 0xb861) sums to zero', () => {
    // 45 00 0073 0000 4000 40 11 b861 c0a80001 c0a800c7: ver 4, IHL 5, len 115, DF, TTL 64, UDP, csum 0xb861
    const h = hex('4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7');
    expect(checksumOf(h, 0, 20)).toBe(0);
    h[10] = 0;
    h[11] = 0;
    expect(checksumOf(h, 0, 20)).toBe(0xb861);
  });

  it('matches the byte-pair reference on random bytes, offsets, alignments and odd lengths', () => {
    fc.assert(
      fc.property(bytesArb, fc.integer({ min: 0, max: 7 }), smallOff, (bytes, base, off) => {
        const buf = layout(bytes, base, off);
        const acc = sumBE(buf, off, bytes.length);
        expect(foldSum(acc)).toBe(refSum(bytes));
        expect(checksumOf(buf, off, bytes.length)).toBe(refChecksum(bytes));
        expect(finishChecksum(acc)).toBe(refChecksum(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it('matches the reference at packet sizes (the unrolled word loop and every remainder of it)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 2100 }), fc.integer({ min: 0, max: 7 }), smallOff, (bytes, base, off) => {
        const buf = layout(bytes, base, off);
        expect(foldSum(sumBE(buf, off, bytes.length))).toBe(refSum(bytes));
      }),
      { numRuns: 1000 },
    );
    // every length 0..200 and around the 16-word rounds, at each alignment
    const bytes = new Uint8Array(300).map((_, i) => (i * 167 + 13) & 0xff);
    for (let len = 0; len <= 300; len++) {
      for (let base = 0; base < 4; base++) {
        const buf = layout(bytes.subarray(0, len), base, 1);
        expect(foldSum(sumBE(buf, 1, len)), `len ${len} base ${base}`).toBe(refSum(bytes.subarray(0, len)));
      }
    }
  });

  it('a view over the same ArrayBuffer at another offset, and the same view again, are summed right (view cache)', () => {
    const ab = new ArrayBuffer(256);
    const all = new Uint8Array(ab);
    for (let i = 0; i < all.length; i++) all[i] = (i * 29 + 1) & 0xff;
    const v1 = new Uint8Array(ab, 1, 200);
    const v2 = new Uint8Array(ab, 6, 200);
    for (let i = 0; i < 3; i++) {
      expect(foldSum(sumBE(v1, 2, 150))).toBe(refSum(all.subarray(3, 153)));
      expect(foldSum(sumBE(v2, 2, 150))).toBe(refSum(all.subarray(8, 158)));
    }
  });

  it('agrees with the reference when the data sums to one\'s-complement zero (all-0xff, constructed)', () => {
    // The word-at-a-time path reduces modulo 0xffff; a non-zero sum must still fold to 0xffff (-0), never +0.
    for (const len of [20, 32, 33, 64, 65, 1500]) {
      const ff = new Uint8Array(len).fill(0xff);
      for (const off of [0, 1, 2, 3]) {
        const buf = layout(ff, 0, off);
        expect(foldSum(sumBE(buf, off, len)), `len ${len} off ${off}`).toBe(refSum(ff));
        expect(checksumOf(buf, off, len), `len ${len} off ${off}`).toBe(refChecksum(ff));
      }
    }
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 200 }), fc.integer({ min: 0, max: 7 }), smallOff, (raw, base, off) => {
        const even = raw.subarray(0, raw.length & ~1);
        const fix = ~refSum(even) & 0xffff; // appending this word makes the total -0
        const bytes = concat(even, be16(fix));
        const buf = layout(bytes, base, off);
        expect(foldSum(sumBE(buf, off, bytes.length))).toBe(refSum(bytes));
        expect(checksumOf(buf, off, bytes.length)).toBe(refChecksum(bytes));
      }),
      { numRuns: 500 },
    );
  });

  it('sums split at even boundaries add up to the sum of the whole', () => {
    fc.assert(
      fc.property(bytesArb, fc.nat(), smallOff, (bytes, cutSeed, off) => {
        const cut = (cutSeed % (bytes.length + 1)) & ~1;
        const buf = layout(bytes, 1, off);
        const parts = sumBE(buf, off, cut) + sumBE(buf, off + cut, bytes.length - cut);
        expect(foldSum(parts)).toBe(refSum(bytes));
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same result when views over different ArrayBuffers alternate (word cache)', () => {
    const a = layout(hex('0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f2021222324'), 1, 3);
    const b = layout(new Uint8Array(64).fill(0x80), 2, 1);
    const ra = refSum(a.subarray(3, 3 + 36));
    const rb = refSum(b.subarray(1, 65));
    for (let i = 0; i < 4; i++) {
      expect(foldSum(sumBE(a, 3, 36))).toBe(ra);
      expect(foldSum(sumBE(b, 1, 64))).toBe(rb);
    }
  });

  it('foldSum keeps 0 for nothing and 0xffff for a non-zero multiple of 0xffff', () => {
    expect(foldSum(0)).toBe(0);
    expect(foldSum(0xffff)).toBe(0xffff);
    expect(foldSum(0xffff * 1234)).toBe(0xffff);
    expect(foldSum(0x1_0000)).toBe(1);
    expect(udpChecksumField(0xffff)).toBe(0xffff); // computed 0 is sent as 0xffff (RFC 768)
    expect(udpChecksumField(0x1234)).toBe(~0x1234 & 0xffff);
  });
});

describe('pseudo-header sums', () => {
  it('pseudoSum4 matches the reference pseudo-header bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), (s, d, proto, len) => {
        expect(foldSum(pseudoSum4(u32(s, 0), u32(d, 0), proto, len))).toBe(refSum(pseudo4(s, d, proto, len)));
      }),
      { numRuns: 1000 },
    );
  });

  it('pseudoSum6 matches the reference pseudo-header bytes (addresses at any offset, 32-bit length)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), smallOff, smallOff, (s, d, proto, len, so, dof) => {
        const sb = layout(s, 1, so);
        const db = layout(d, 0, dof);
        expect(foldSum(pseudoSum6(sb, so, db, dof, proto, len))).toBe(refSum(pseudo6(s, d, proto, len)));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('UDP checksums (udp.ts) against the reference', () => {
  const dgramArb = fc.uint8Array({ minLength: 8, maxLength: 300 });

  it('udpChecksum4 = reference over pseudo-header + datagram with the field zeroed; verifyUdp4 accepts it', () => {
    fc.assert(
      fc.property(dgramArb, fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 7 }), smallOff, (dg, s, d, base, off) => {
        const len = dg.length;
        const zeroed = dg.slice();
        zeroed[UDP_CSUM] = 0;
        zeroed[UDP_CSUM + 1] = 0;
        let want = refChecksum(concat(pseudo4(s, d, 17, len), zeroed));
        if (want === 0) want = 0xffff;
        const buf = layout(dg, base, off); // the field holds random bytes: it must be ignored
        const src = u32(s, 0);
        const dst = u32(d, 0);
        const got = udpChecksum4(buf, off, len, src, dst);
        expect(got).toBe(want);
        setUdpChecksum(buf, off, got);
        expect(verifyUdp4(buf, off, len, src, dst)).toBe(true);
        // any single-bit flip in the datagram is detected
        const bit = (dg[0]! * 8 + dg[1]!) % (len * 8);
        buf[off + (bit >>> 3)]! ^= 1 << (bit & 7);
        expect(verifyUdp4(buf, off, len, src, dst)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('udpChecksum6 = reference; verifyUdp6 accepts it and rejects a flipped bit', () => {
    fc.assert(
      fc.property(dgramArb, fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.integer({ min: 0, max: 7 }), smallOff, (dg, s, d, base, off) => {
        const len = dg.length;
        const zeroed = dg.slice();
        zeroed[UDP_CSUM] = 0;
        zeroed[UDP_CSUM + 1] = 0;
        let want = refChecksum(concat(pseudo6(s, d, 17, len), zeroed));
        if (want === 0) want = 0xffff;
        const buf = layout(dg, base, off);
        const addrs = layout(concat(s, d), 3, 5);
        const got = udpChecksum6(buf, off, len, addrs, 5, addrs, 21);
        expect(got).toBe(want);
        setUdpChecksum(buf, off, got);
        expect(verifyUdp6(buf, off, len, addrs, 5, addrs, 21)).toBe(true);
        const bit = (dg[2]! * 8 + dg[3]!) % (len * 8);
        buf[off + (bit >>> 3)]! ^= 1 << (bit & 7);
        expect(verifyUdp6(buf, off, len, addrs, 5, addrs, 21)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('a datagram whose checksum computes to 0 is sent as 0xffff and still verifies', () => {
    // Choose the payload word so that pseudo + header + data sums to -0: the computed checksum is 0.
    const src = 0xc6336401; // 198.51.100.1
    const dst = 0xc6336402; // 198.51.100.2
    const dg = hex('9c40 12b5 000a 0000 0000');
    const fix = ~refSum(concat(pseudo4(hex('c6336401'), hex('c6336402'), 17, 10), dg)) & 0xffff;
    dg[8] = fix >>> 8;
    dg[9] = fix & 0xff;
    expect(udpChecksum4(dg, 0, 10, src, dst)).toBe(0xffff);
    setUdpChecksum(dg, 0, 0xffff);
    expect(verifyUdp4(dg, 0, 10, src, dst)).toBe(true);
  });
});
