import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ICMP4_CODE_FRAG_NEEDED,
  ICMP4_DEST_UNREACH,
  ICMP4_ECHO_REPLY,
  ICMP4_ECHO_REQUEST,
  ICMP4_MAX_QUOTE,
  ICMP4_NEXT_HOP_MTU,
  ICMP4_TIME_EXCEEDED,
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  ICMP6_MAX_QUOTE,
  ICMP6_MTU,
  ICMP6_PACKET_TOO_BIG,
  ICMP_CODE,
  ICMP_CSUM,
  ICMP_HDR_LEN,
  ICMP_TYPE,
  isIcmp4Error,
  isIcmp6Error,
  verifyIcmp4,
  verifyIcmp6,
  writeIcmp4FragNeeded,
  writeIcmp6PacketTooBig,
} from '../../src/packet/icmp.ts';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_UDP, IPV4_DF, decodeIpv4, newIpv4View, parseIpv4, writeIpv4Header } from '../../src/packet/ipv4.ts';
import { decodeIpv6, ipv6Equals, newIpv6View, parseIpv6, writeIpv6Header } from '../../src/packet/ipv6.ts';
import { setUdpChecksum, udpChecksum4, udpChecksum6, writeUdpHeader } from '../../src/packet/udp.ts';
import { concat, haveTshark, LINKTYPE_RAW, refChecksum, toHex, tsharkFields } from './helpers.ts';

const POD_A = parseIpv4('10.244.1.5');
const POD_B = parseIpv4('10.244.2.7');
const GW4 = parseIpv4('10.244.1.0'); // the VTEP's own address answering
const POD_A6 = parseIpv6('fd00:10:244:1::5')!;
const POD_B6 = parseIpv6('fd00:10:244:2::7')!;
const GW6 = parseIpv6('fd00:10:244:1::')!;

/** An IPv4/UDP packet of `len` bytes (≥ 28) from pod A to pod B, TOS 0x2e, DF, with a patterned payload. */
function orig4(len: number): Uint8Array {
  const p = new Uint8Array(len);
  writeIpv4Header(p, 0, 0x2e, len, 0x1234, IPV4_DF, 63, IPPROTO_UDP, POD_A, POD_B);
  writeUdpHeader(p, 20, 40000, 9, len - 20, 0);
  for (let i = 28; i < len; i++) p[i] = (i * 7) & 0xff;
  setUdpChecksum(p, 20, udpChecksum4(p, 20, len - 20, POD_A, POD_B));
  return p;
}

/** An IPv6/UDP packet of `len` bytes (≥ 48) from pod A to pod B. */
function orig6(len: number): Uint8Array {
  const p = new Uint8Array(len);
  writeIpv6Header(p, 0, 0, 0xabcde, len - 40, IPPROTO_UDP, 63, POD_A6, 0, POD_B6, 0);
  writeUdpHeader(p, 40, 40000, 9, len - 40, 0);
  for (let i = 48; i < len; i++) p[i] = (i * 13) & 0xff;
  setUdpChecksum(p, 40, udpChecksum6(p, 40, len - 40, POD_A6, 0, POD_B6, 0));
  return p;
}

/** Decode an ICMPv4 frag-needed reply at buf[off] and check everything about it against `orig`. */
function checkReply4(buf: Uint8Array, off: number, n: number, orig: Uint8Array, mtu: number, ttl: number): void {
  const quote = Math.min(orig.length, ICMP4_MAX_QUOTE);
  expect(n).toBe(20 + 8 + quote);
  expect(n).toBeLessThanOrEqual(576);
  const ip = newIpv4View();
  expect(decodeIpv4(buf, off, off + n, ip, true)).toBe(0); // header checksum verified
  expect([ip.totalLen, ip.proto, ip.src, ip.dst, ip.ttl, ip.tos, ip.df, ip.mf, ip.fragOff]).toEqual([
    n, IPPROTO_ICMP, GW4, POD_A, ttl, 0xc0 | (orig[1]! & 0x1e), true, false, 0,
  ]);
  const icmp = ip.payloadOff;
  expect([buf[icmp + ICMP_TYPE], buf[icmp + ICMP_CODE]]).toEqual([ICMP4_DEST_UNREACH, ICMP4_CODE_FRAG_NEEDED]);
  expect([buf[icmp + 4], buf[icmp + 5]]).toEqual([0, 0]); // unused
  expect((buf[icmp + ICMP4_NEXT_HOP_MTU]! << 8) | buf[icmp + ICMP4_NEXT_HOP_MTU + 1]!).toBe(mtu);
  expect(verifyIcmp4(buf, icmp, n - 20)).toBe(true);
  const zeroed = buf.slice(icmp, off + n);
  zeroed[ICMP_CSUM] = 0;
  zeroed[ICMP_CSUM + 1] = 0;
  expect((buf[icmp + ICMP_CSUM]! << 8) | buf[icmp + ICMP_CSUM + 1]!).toBe(refChecksum(zeroed));
  expect(toHex(buf, icmp + ICMP_HDR_LEN, off + n)).toBe(toHex(orig, 0, quote));
}

/** The IPv6 pseudo-header reference sum for ICMPv6 (RFC 8200 §8.1). */
function refIcmp6Checksum(src: Uint8Array, dst: Uint8Array, msg: Uint8Array): number {
  const len = msg.length;
  return refChecksum(concat(src, dst, [len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, 0, 0, 0, 58], msg));
}

function checkReply6(buf: Uint8Array, off: number, n: number, orig: Uint8Array, mtu: number, hop: number): void {
  const quote = Math.min(orig.length, ICMP6_MAX_QUOTE);
  expect(n).toBe(40 + 8 + quote);
  expect(n).toBeLessThanOrEqual(1280);
  const ip = newIpv6View();
  expect(decodeIpv6(buf, off, off + n, ip)).toBe(0);
  expect([ip.payloadLen, ip.nextHeader, ip.upperProto, ip.hopLimit, ip.trafficClass, ip.flowLabel]).toEqual([n - 40, IPPROTO_ICMPV6, IPPROTO_ICMPV6, hop, 0, 0]);
  expect(ipv6Equals(buf, ip.srcOff, GW6, 0)).toBe(true);
  expect(ipv6Equals(buf, ip.dstOff, POD_A6, 0)).toBe(true);
  const icmp = ip.upperOff;
  expect([buf[icmp + ICMP_TYPE], buf[icmp + ICMP_CODE]]).toEqual([ICMP6_PACKET_TOO_BIG, 0]);
  const gotMtu = ((buf[icmp + ICMP6_MTU]! << 24) | (buf[icmp + ICMP6_MTU + 1]! << 16) | (buf[icmp + ICMP6_MTU + 2]! << 8) | buf[icmp + ICMP6_MTU + 3]!) >>> 0;
  expect(gotMtu).toBe(mtu);
  expect(verifyIcmp6(buf, icmp, n - 40, buf, ip.srcOff, buf, ip.dstOff)).toBe(true);
  const zeroed = buf.slice(icmp, off + n);
  zeroed[ICMP_CSUM] = 0;
  zeroed[ICMP_CSUM + 1] = 0;
  expect((buf[icmp + ICMP_CSUM]! << 8) | buf[icmp + ICMP_CSUM + 1]!).toBe(refIcmp6Checksum(GW6, POD_A6, zeroed));
  expect(toHex(buf, icmp + ICMP_HDR_LEN, off + n)).toBe(toHex(orig, 0, quote));
}

describe('icmp constants', () => {
  it('types and codes', () => {
    expect([ICMP4_ECHO_REPLY, ICMP4_DEST_UNREACH, ICMP4_CODE_FRAG_NEEDED, ICMP4_ECHO_REQUEST, ICMP4_TIME_EXCEEDED]).toEqual([0, 3, 4, 8, 11]);
    expect([ICMP6_PACKET_TOO_BIG, ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY]).toEqual([2, 128, 129]);
    expect([ICMP4_MAX_QUOTE, ICMP6_MAX_QUOTE]).toEqual([548, 1232]);
  });

  it('error types are recognised (never answer an error with an error)', () => {
    expect([3, 4, 5, 11, 12].every(isIcmp4Error)).toBe(true);
    expect([0, 8, 13, 14].some(isIcmp4Error)).toBe(false);
    expect([1, 2, 3, 4, 127].every(isIcmp6Error)).toBe(true);
    expect([128, 129, 135, 136].some(isIcmp6Error)).toBe(false);
  });
});

describe('writeIcmp4FragNeeded', () => {
  it('answers a 1500-byte packet with 576 bytes quoting 548 (RFC 1812 §4.3.2.3, like Linux)', () => {
    const o = orig4(1500);
    const out = new Uint8Array(700).fill(0xee);
    const n = writeIcmp4FragNeeded(out, 0, o, 0, o.length, 1450, GW4, 64);
    expect(n).toBe(576);
    checkReply4(out, 0, n, o, 1450, 64);
    expect(out[576]).toBe(0xee); // nothing written past the reply
  });

  it('quotes small originals whole, including odd lengths, at the 548 boundary', () => {
    for (const len of [28, 61, 100, 547, 548, 549, 576]) {
      const o = orig4(len);
      const out = new Uint8Array(600);
      const n = writeIcmp4FragNeeded(out, 0, o, 0, len, 1400, GW4, 255);
      checkReply4(out, 0, n, o, 1400, 255);
    }
  });

  it('builds at odd/even offsets and in place (same buffer, overlapping) with identical bytes', () => {
    const o = orig4(1000);
    const ref = new Uint8Array(576);
    writeIcmp4FragNeeded(ref, 0, o, 0, o.length, 1450, GW4, 64);
    const ORIG_AT = 100;
    // output positions: headroom in front (moves nothing), overlapping before, at, and after the original, far away
    for (const outOff of [ORIG_AT - 28, ORIG_AT - 5, ORIG_AT - 30, ORIG_AT, ORIG_AT + 13, 1200, 1]) {
      const pool = new Uint8Array(2000);
      pool.set(o, ORIG_AT);
      const n = writeIcmp4FragNeeded(pool, outOff, pool, ORIG_AT, o.length, 1450, GW4, 64);
      expect(toHex(pool, outOff, outOff + n), `outOff ${outOff}`).toBe(toHex(ref));
      // through a second view of the same memory, 3 bytes further on (overlap detected by address, not identity)
      const pool2 = new Uint8Array(2000);
      pool2.set(o, ORIG_AT);
      const view = pool2.subarray(3);
      const n2 = writeIcmp4FragNeeded(view, outOff, pool2, ORIG_AT, o.length, 1450, GW4, 64);
      expect(toHex(view, outOff, outOff + n2), `second view, outOff ${outOff}`).toBe(toHex(ref));
    }
  });

  it('random originals, lengths and offsets decode back with verified checksums', () => {
    fc.assert(
      fc.property(fc.integer({ min: 28, max: 1600 }), fc.integer({ min: 68, max: 0xffff }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 40 }), (len, mtu, tos, off) => {
        const o = orig4(len);
        o[1] = tos;
        const out = new Uint8Array(off + 600);
        const n = writeIcmp4FragNeeded(out, off, o, 0, len, mtu, GW4, 64);
        checkReply4(out, off, n, o, mtu, 64);
      }),
      { numRuns: 200 },
    );
  });
});

describe('writeIcmp6PacketTooBig', () => {
  it('answers a 1500-byte packet with 1280 bytes quoting 1232 (RFC 4443 §2.4(c))', () => {
    const o = orig6(1500);
    const out = new Uint8Array(1400).fill(0xee);
    const src = concat([9, 9, 9], GW6); // reply source at an odd offset of its buffer
    const n = writeIcmp6PacketTooBig(out, 0, o, 0, o.length, 1430, src, 3, 64);
    expect(n).toBe(1280);
    checkReply6(out, 0, n, o, 1430, 64);
    expect(out[1280]).toBe(0xee);
  });

  it('quotes small originals whole, including odd lengths', () => {
    for (const len of [48, 49, 99, 1231, 1232, 1233]) {
      const o = orig6(len);
      const out = new Uint8Array(1300);
      const n = writeIcmp6PacketTooBig(out, 0, o, 0, len, 1280, GW6, 0, 255);
      checkReply6(out, 0, n, o, 1280, 255);
    }
  });

  it('builds in place, also with the reply source taken from the original packet itself', () => {
    const o = orig6(1400);
    const ref = new Uint8Array(1280);
    writeIcmp6PacketTooBig(ref, 0, o, 0, o.length, 1430, GW6, 0, 64);
    const ORIG_AT = 200;
    for (const outOff of [ORIG_AT - 48, ORIG_AT - 47, ORIG_AT, ORIG_AT + 1, 1, 1700]) {
      const pool = new Uint8Array(3100);
      pool.set(o, ORIG_AT);
      const n = writeIcmp6PacketTooBig(pool, outOff, pool, ORIG_AT, o.length, 1430, GW6, 0, 64);
      expect(toHex(pool, outOff, outOff + n), `outOff ${outOff}`).toBe(toHex(ref));
    }
    // reply from the address the original was sent to (its destination, inside the same buffer)
    const pool = new Uint8Array(3100);
    pool.set(o, ORIG_AT);
    const n = writeIcmp6PacketTooBig(pool, ORIG_AT - 48, pool, ORIG_AT, o.length, 1430, pool, ORIG_AT + 24, 64);
    const ip = newIpv6View();
    expect(decodeIpv6(pool, ORIG_AT - 48, ORIG_AT - 48 + n, ip)).toBe(0);
    expect(ipv6Equals(pool, ip.srcOff, POD_B6, 0)).toBe(true);
    expect(ipv6Equals(pool, ip.dstOff, POD_A6, 0)).toBe(true);
    expect(verifyIcmp6(pool, ip.upperOff, n - 40, pool, ip.srcOff, pool, ip.dstOff)).toBe(true);
  });

  it('random originals, lengths and offsets decode back with verified checksums', () => {
    fc.assert(
      fc.property(fc.integer({ min: 48, max: 1600 }), fc.integer({ min: 1280, max: 0xffffffff }), fc.integer({ min: 0, max: 40 }), (len, mtu, off) => {
        const o = orig6(len);
        const out = new Uint8Array(off + 1300);
        const n = writeIcmp6PacketTooBig(out, off, o, 0, len, mtu, GW6, 0, 64);
        checkReply6(out, off, n, o, mtu, 64);
      }),
      { numRuns: 200 },
    );
  });
});

describe.skipIf(!haveTshark())('tshark on the ICMP errors', () => {
  it('ICMPv4 frag-needed: checksums good, MTU shown, nothing malformed', () => {
    const frames: Uint8Array[] = [];
    for (const len of [28, 61, 1500]) {
      const o = orig4(len);
      const out = new Uint8Array(576);
      const n = writeIcmp4FragNeeded(out, 0, o, 0, len, 1450, GW4, 64);
      frames.push(out.subarray(0, n));
    }
    const rows = tsharkFields(LINKTYPE_RAW, frames, ['icmp.type', 'icmp.code', 'icmp.checksum.status', 'ip.checksum.status', 'icmp.mtu', 'ip.dst', 'ip.len', '_ws.malformed', '_ws.expert.severity']);
    for (const [i, r] of rows.entries()) {
      expect(r.slice(0, 8), `frame ${i + 1}`).toEqual(['3', '4', '1', '1,1', '1450', '10.244.1.5,10.244.2.7', `${frames[i]!.length},${[28, 61, 1500][i]}`, '']);
      const worst = Math.max(0, ...r[8]!.split(',').filter(Boolean).map(Number));
      expect(worst, `frame ${i + 1} expert severity`).toBeLessThan(0x600000); // nothing at warning or error level
    }
  });

  it('ICMPv6 packet-too-big: checksum good, MTU shown, nothing malformed', () => {
    const frames: Uint8Array[] = [];
    for (const len of [48, 99, 1500]) {
      const o = orig6(len);
      const out = new Uint8Array(1280);
      const n = writeIcmp6PacketTooBig(out, 0, o, 0, len, 1430, GW6, 0, 64);
      frames.push(out.subarray(0, n));
    }
    const rows = tsharkFields(LINKTYPE_RAW, frames, ['icmpv6.type', 'icmpv6.code', 'icmpv6.checksum.status', 'icmpv6.mtu', 'ipv6.src', 'ipv6.dst', '_ws.malformed', '_ws.expert.severity']);
    for (const [i, r] of rows.entries()) {
      expect(r.slice(0, 7), `frame ${i + 1}`).toEqual(['2', '0', '1', '1430', 'fd00:10:244:1::,fd00:10:244:1::5', 'fd00:10:244:1::5,fd00:10:244:2::7', '']);
      const worst = Math.max(0, ...r[7]!.split(',').filter(Boolean).map(Number));
      expect(worst, `frame ${i + 1} expert severity`).toBeLessThan(0x600000);
    }
  });
});
