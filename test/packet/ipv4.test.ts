import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Drop } from '../../src/engine/drops.ts';
import {
  IPPROTO_ICMP,
  IPPROTO_ICMPV6,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_NONE,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_CSUM,
  IPV4_DF,
  IPV4_DST,
  IPV4_FRAG,
  IPV4_HDR_LEN,
  IPV4_ID,
  IPV4_MF,
  IPV4_PROTO,
  IPV4_SRC,
  IPV4_TOS,
  IPV4_TOTAL_LEN,
  IPV4_TTL,
  IPV4_VER_IHL,
  decodeIpv4,
  ipv4ToString,
  newIpv4View,
  parseIpv4,
  readU32,
  updateIpv4Checksum,
  writeIpv4Header,
} from '../../src/packet/ipv4.ts';
import { refChecksum, cutCodes, expectRoundTrip, haveTshark, hex, LINKTYPE_RAW, placeAt, tsharkFields, concat } from './helpers.ts';

// IPv4: ver 4, IHL 5, TOS 0, total length 36, ID 0xabcd, DF, TTL 64, proto 17 (UDP), csum 0x3a91,
//       198.51.100.1 -> 198.51.100.2
// UDP:  40000 -> 4789, length 16, csum 0xbef1, data "vtep-v4!"     (checksums verified with tshark)
const udp4 = hex(`
  4500 0024 abcd 4000 4011 3a91 c633 6401 c633 6402
  9c40 12b5 0010 bef1 7674 6570 2d76 3421`);

// IPv4 with options: ver 4, IHL 6 (24 bytes), TOS 0, total length 32, ID 1, MF set, offset 0, TTL 64,
// UDP, csum 0x0361, 198.51.100.1 -> 198.51.100.2, options NOP NOP NOP EOL; then a UDP header (8 bytes).
const withOptions = hex(`
  4600 0020 0001 2000 4011 0361 c633 6401 c633 6402 0101 0100
  9c40 12b5 0008 0000`);

const decode = (buf: Uint8Array, off: number, end: number, out = newIpv4View(), verify = true) =>
  decodeIpv4(buf, off, end, out, verify);

/** `pkt` with a few bytes changed (test-side copy). */
function patch(pkt: Uint8Array, at: number, ...bytes: number[]): Uint8Array {
  const c = pkt.slice();
  c.set(bytes, at);
  return c;
}

describe('ipv4 constants', () => {
  it('offsets are built from each other and match RFC 791', () => {
    expect([IPV4_VER_IHL, IPV4_TOS, IPV4_TOTAL_LEN, IPV4_ID, IPV4_FRAG, IPV4_TTL, IPV4_PROTO, IPV4_CSUM, IPV4_SRC, IPV4_DST, IPV4_HDR_LEN]).toEqual([
      0, 1, 2, 4, 6, 8, 9, 10, 12, 16, 20,
    ]);
    expect([IPV4_DF, IPV4_MF]).toEqual([0x4000, 0x2000]);
    expect([IPPROTO_ICMP, IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6, IPPROTO_ICMPV6, IPPROTO_NONE]).toEqual([1, 4, 6, 17, 41, 58, 59]);
  });
});

describe('decodeIpv4', () => {
  it('decodes a UDP datagram at offset 0 and at odd/even offsets', () => {
    for (const off of [0, 3, 10]) {
      const buf = placeAt(udp4, off);
      const v = newIpv4View();
      expect(decode(buf, off, off + udp4.length, v)).toBe(0);
      expect(v).toEqual({
        hdrLen: 20,
        totalLen: 36,
        tos: 0,
        id: 0xabcd,
        ttl: 64,
        proto: IPPROTO_UDP,
        src: 0xc6336401,
        dst: 0xc6336402,
        df: true,
        mf: false,
        fragOff: 0,
        payloadOff: off + 20,
        payloadEnd: off + 36,
      });
      expect(ipv4ToString(v.src)).toBe('198.51.100.1');
      expect(readU32(buf, off + IPV4_DST)).toBe(parseIpv4('198.51.100.2'));
    }
  });

  it('decodes options (IHL 6) and the MF flag', () => {
    const v = newIpv4View();
    expect(decode(withOptions, 0, withOptions.length, v)).toBe(0);
    expect([v.hdrLen, v.totalLen, v.payloadOff, v.payloadEnd, v.df, v.mf, v.fragOff]).toEqual([24, 32, 24, 32, false, true, 0]);
  });

  it('reports the fragment offset in 8-octet units', () => {
    // flags/offset 0x20b9: MF, offset 185 (1480 bytes); the header checksum is redone
    const frag = patch(udp4, IPV4_FRAG, 0x20, 0xb9);
    updateIpv4Checksum(frag, 0, 20);
    const v = newIpv4View();
    expect(decode(frag, 0, frag.length, v)).toBe(0);
    expect([v.df, v.mf, v.fragOff]).toEqual([false, true, 185]);
  });

  it('accepts Ethernet padding after the total length and excludes it from the payload', () => {
    const padded = concat(udp4, new Uint8Array(10));
    const v = newIpv4View();
    expect(decode(padded, 0, padded.length, v)).toBe(0);
    expect(v.payloadEnd).toBe(36);
  });

  it('every cut of a valid packet gives truncated-outer-ip, never a throw', () => {
    for (const pkt of [udp4, withOptions]) {
      const codes = cutCodes(pkt, newIpv4View, (b, o, e, v) => decodeIpv4(b, o, e, v, true));
      expect(new Set(codes)).toEqual(new Set([Drop.TruncatedOuterIp]));
    }
  });

  it('outer-ip-bad-version: version 6 or 5 in an IPv4 slot', () => {
    expect(decode(patch(udp4, 0, 0x65), 0, 36)).toBe(Drop.OuterIpBadVersion);
    expect(decode(patch(udp4, 0, 0x55), 0, 36)).toBe(Drop.OuterIpBadVersion);
    expect(decode(patch(udp4, 0, 0x05), 0, 36)).toBe(Drop.OuterIpBadVersion);
  });

  it('outer-ip-bad-ihl: IHL below 5, or a header longer than the total length', () => {
    expect(decode(patch(udp4, 0, 0x44), 0, 36)).toBe(Drop.OuterIpBadIhl);
    expect(decode(patch(udp4, 0, 0x40), 0, 36)).toBe(Drop.OuterIpBadIhl);
    // IHL 15 (60 bytes) but total length 36
    expect(decode(patch(udp4, 0, 0x4f), 0, 36)).toBe(Drop.OuterIpBadIhl);
    // IHL 6 (24 bytes), total length 20
    expect(decode(patch(withOptions, IPV4_TOTAL_LEN, 0, 20), 0, 32)).toBe(Drop.OuterIpBadIhl);
  });

  it('outer-ip-bad-length: total length below the 20-byte minimum header', () => {
    expect(decode(patch(udp4, IPV4_TOTAL_LEN, 0, 19), 0, 36)).toBe(Drop.OuterIpBadLength);
    expect(decode(patch(udp4, IPV4_TOTAL_LEN, 0, 0), 0, 36)).toBe(Drop.OuterIpBadLength);
  });

  it('truncated-outer-ip: total length larger than the bytes present', () => {
    expect(decode(patch(udp4, IPV4_TOTAL_LEN, 0, 37), 0, 36)).toBe(Drop.TruncatedOuterIp);
    expect(decode(patch(udp4, IPV4_TOTAL_LEN, 0xff, 0xff), 0, 36)).toBe(Drop.TruncatedOuterIp);
  });

  it('outer-ip-bad-checksum only when asked to verify', () => {
    const bad = patch(udp4, IPV4_TTL, 63); // TTL changed, checksum not updated
    expect(decode(bad, 0, 36, newIpv4View(), true)).toBe(Drop.OuterIpBadChecksum);
    const v = newIpv4View();
    expect(decode(bad, 0, 36, v, false)).toBe(0);
    expect(v.ttl).toBe(63);
    expect(decode(patch(withOptions, 22, 0x02), 0, 32)).toBe(Drop.OuterIpBadChecksum); // an option byte
  });

  it('never throws on random bytes at random offsets', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), fc.nat(90), fc.boolean(), (bytes, end, verify) => {
        const c = decodeIpv4(bytes, 0, Math.min(end, bytes.length), newIpv4View(), verify);
        expect(Number.isInteger(c)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('writeIpv4Header', () => {
  it('reproduces the known packet byte for byte', () => {
    const buf = new Uint8Array(36);
    expect(writeIpv4Header(buf, 0, 0, 36, 0xabcd, IPV4_DF, 64, IPPROTO_UDP, 0xc6336401, 0xc6336402)).toBe(20);
    expect(buf.subarray(0, 20)).toEqual(udp4.subarray(0, 20));
  });

  it('round-trips random fields at offsets 0, odd and even; checksum equals the reference', () => {
    fc.assert(
      fc.property(
        fc.record({
          tos: fc.integer({ min: 0, max: 255 }),
          payload: fc.integer({ min: 0, max: 64 }),
          id: fc.integer({ min: 0, max: 0xffff }),
          flagsFrag: fc.integer({ min: 0, max: 0xffff }),
          ttl: fc.integer({ min: 0, max: 255 }),
          proto: fc.integer({ min: 0, max: 255 }),
          src: fc.integer({ min: 0, max: 0xffffffff }),
          dst: fc.integer({ min: 0, max: 0xffffffff }),
        }),
        (f) => {
          const total = 20 + f.payload;
          const enc = expectRoundTrip({
            write: (buf, off) => {
              writeIpv4Header(buf, off, f.tos, total, f.id, f.flagsFrag, f.ttl, f.proto, f.src, f.dst);
              buf.fill(0x11, off + 20, off + total);
              return total;
            },
            newView: newIpv4View,
            decode: (b, o, e, v) => decodeIpv4(b, o, e, v, true),
            check: (v, _buf, off) => {
              expect(v).toEqual({
                hdrLen: 20,
                totalLen: total,
                tos: f.tos,
                id: f.id,
                ttl: f.ttl,
                proto: f.proto,
                src: f.src,
                dst: f.dst,
                df: (f.flagsFrag & IPV4_DF) !== 0,
                mf: (f.flagsFrag & IPV4_MF) !== 0,
                fragOff: f.flagsFrag & 0x1fff,
                payloadOff: off + 20,
                payloadEnd: off + total,
              });
            },
          });
          const zeroed = enc.slice(0, 20);
          zeroed[IPV4_CSUM] = 0;
          zeroed[IPV4_CSUM + 1] = 0;
          expect((enc[IPV4_CSUM]! << 8) | enc[IPV4_CSUM + 1]!).toBe(refChecksum(zeroed));
        },
      ),
      { numRuns: 200 },
    );
  });

  it.skipIf(!haveTshark())('tshark agrees: header checksum good, fields as written', () => {
    const frames = [udp4, withOptions];
    const b = new Uint8Array(40);
    writeIpv4Header(b, 0, 0xb8, 40, 0xffff, IPV4_DF | 7, 1, 253, 0xc6336464, 0xc63364fe);
    frames.push(b);
    const rows = tsharkFields(LINKTYPE_RAW, frames, ['ip.checksum.status', 'ip.dsfield', 'ip.id', 'ip.flags.df', 'ip.flags.mf', 'ip.ttl', 'ip.proto', 'ip.src', 'ip.dst', 'ip.frag_offset']);
    expect(rows[0]).toEqual(['1', '0x00', '0xabcd', '1', '0', '64', '17', '198.51.100.1', '198.51.100.2', '0']);
    expect(rows[1]!.slice(0, 5)).toEqual(['1', '0x00', '0x0001', '0', '1']);
    expect(rows[2]!.slice(0, 9)).toEqual(['1', '0xb8', '0xffff', '1', '0', '1', '253', '198.51.100.100', '198.51.100.254']);
    // Wireshark 4.0 shows the offset in 8-octet units, later versions in bytes
    expect(['7', '56']).toContain(rows[2]![9]);
  });
});

describe('ipv4 text (config time)', () => {
  it('parses and formats dotted quads', () => {
    expect(parseIpv4('198.51.100.1')).toBe(0xc6336401);
    expect(parseIpv4('0.0.0.0')).toBe(0);
    expect(parseIpv4('255.255.255.255')).toBe(0xffffffff);
    expect(ipv4ToString(0xffffffff)).toBe('255.255.255.255');
    expect(ipv4ToString(parseIpv4('10.244.1.0'))).toBe('10.244.1.0');
  });

  it('rejects malformed text with -1', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.-4', '1.2.3.4 ', 'a.b.c.d', '1..2.3', '1.2.3.4/24', '0x1.2.3.4']) {
      expect(parseIpv4(bad), bad).toBe(-1);
    }
  });

  it('formats and parses every random address back to itself', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
        expect(parseIpv4(ipv4ToString(a))).toBe(a);
      }),
    );
  });
});
