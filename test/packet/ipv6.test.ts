import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Drop } from '../../src/engine/drops.ts';
import {
  IPV6_DST,
  IPV6_HDR_LEN,
  IPV6_HOP,
  IPV6_NEXT,
  IPV6_PAYLOAD_LEN,
  IPV6_SRC,
  IPV6_VTC,
  decodeIpv6,
  ipv6Equals,
  ipv6ToString,
  newIpv6View,
  parseIpv6,
  writeIpv6Header,
} from '../../src/packet/ipv6.ts';
import { IPPROTO_NONE, IPPROTO_UDP } from '../../src/packet/ipv4.ts';
import { concat, cutCodes, expectRoundTrip, haveTshark, hex, LINKTYPE_RAW, placeAt, tsharkFields } from './helpers.ts';

const SRC = '20010db8010000000000000000000001'; // 2001:db8:100::1
const DST = '20010db8010000000000000000000002'; // 2001:db8:100::2

// IPv6: ver 6, TC 0, flow label 0x12345, payload length 15, next header 17 (UDP), hop limit 64,
//       2001:db8:100::1 -> 2001:db8:100::2
// UDP:  40001 -> 4789, length 15, csum 0xb409, data "vtep-v6"        (checksum verified with tshark)
const udp6 = hex(`6001 2345 000f 1140 ${SRC} ${DST}
  9c41 12b5 000f b409 7674 6570 2d76 36`);

/** A fixed header with the given payload length and next header, then `rest`. */
function v6(payloadLen: number, next: number, rest: string): Uint8Array {
  const pl = payloadLen.toString(16).padStart(4, '0');
  const nh = next.toString(16).padStart(2, '0');
  return hex(`6000 0000 ${pl} ${nh}40 ${SRC} ${DST} ${rest}`);
}

// Hop-by-hop (next 60 = dst opts, len 0, PadN 4) | Destination options (next 44, len 0, PadN 4) |
// Fragment (next 17, offset 0, M=1, id 0x12345678) | UDP 40001 -> 4789, length 8, no checksum
const chain = v6(32, 0, `3c00 0104 0000 0000   2c00 0104 0000 0000   1100 0001 1234 5678   9c41 12b5 0008 0000`);

const decode = (buf: Uint8Array, end = buf.length, out = newIpv6View()) => decodeIpv6(buf, 0, end, out);

describe('ipv6 constants', () => {
  it('offsets are built from each other and match RFC 8200', () => {
    expect([IPV6_VTC, IPV6_PAYLOAD_LEN, IPV6_NEXT, IPV6_HOP, IPV6_SRC, IPV6_DST, IPV6_HDR_LEN]).toEqual([0, 4, 6, 7, 8, 24, 40]);
  });
});

describe('decodeIpv6', () => {
  it('decodes a UDP packet at offset 0 and odd/even offsets', () => {
    for (const off of [0, 1, 8]) {
      const buf = placeAt(udp6, off);
      const v = newIpv6View();
      expect(decodeIpv6(buf, off, off + udp6.length, v)).toBe(0);
      expect(v).toEqual({
        payloadLen: 15,
        trafficClass: 0,
        flowLabel: 0x12345,
        hopLimit: 64,
        nextHeader: 17,
        upperProto: 17,
        upperOff: off + 40,
        payloadEnd: off + 55,
        fragment: false,
        srcOff: off + 8,
        dstOff: off + 24,
      });
      expect(ipv6ToString(buf, v.srcOff)).toBe('2001:db8:100::1');
      expect(ipv6Equals(buf, v.dstOff, parseIpv6('2001:db8:100::2')!, 0)).toBe(true);
    }
  });

  it('splits traffic class and flow label across the first word', () => {
    // ver 6, TC 0xb9 (DSCP 46 EF, ECN 01), flow label 0xfedcb
    const b = udp6.slice();
    b.set([0x6b, 0x9f, 0xed, 0xcb], 0);
    const v = newIpv6View();
    expect(decode(b, b.length, v)).toBe(0);
    expect([v.trafficClass, v.flowLabel]).toEqual([0xb9, 0xfedcb]);
  });

  it('walks hop-by-hop, destination options and a first fragment to the upper layer', () => {
    const v = newIpv6View();
    expect(decode(chain, chain.length, v)).toBe(0);
    expect([v.nextHeader, v.upperProto, v.upperOff, v.fragment, v.payloadEnd]).toEqual([0, 17, 64, true, 72]);
  });

  it('stops at a later fragment: what follows is data, not headers', () => {
    // Fragment (next 17, offset 185 = 1480 bytes, M=1) then data that would be a bogus hop-by-hop header
    const later = v6(16, 44, `1100 05c9 1234 5678   00ff 0000 0000 0000`);
    const v = newIpv6View();
    expect(decode(later, later.length, v)).toBe(0);
    expect([v.upperProto, v.upperOff, v.fragment]).toEqual([17, 48, true]);
  });

  it('walks routing and AH headers; ESP and No Next Header end the walk', () => {
    // Routing (next 51, len 0, type 4, segments left 0, reserved) | AH (next 17, payload len 4 = 24 bytes) | UDP
    const ah = v6(40, 43, `3300 0400 0000 0000   1104 0000 0000 0100 0000 0001 aaaa aaaa bbbb bbbb cccc cccc   9c41 12b5 0008 0000`);
    const v = newIpv6View();
    expect(decode(ah, ah.length, v)).toBe(0);
    expect([v.upperProto, v.upperOff, v.fragment]).toEqual([17, 72, false]);
    // Destination options (next 50 = ESP) | ESP (SPI, seq, ...): ESP is the upper layer
    const esp = v6(16, 60, `3200 0104 0000 0000   0000 0100 0000 0001`);
    expect(decode(esp, esp.length, v)).toBe(0);
    expect([v.upperProto, v.upperOff]).toEqual([50, 48]);
    // No next header with nothing after it
    const none = v6(0, IPPROTO_NONE, ``);
    expect(decode(none, none.length, v)).toBe(0);
    expect([v.upperProto, v.upperOff, v.payloadEnd]).toEqual([59, 40, 40]);
  });

  it('accepts Ethernet padding after the payload length', () => {
    const padded = concat(udp6, new Uint8Array(9));
    const v = newIpv6View();
    expect(decode(padded, padded.length, v)).toBe(0);
    expect(v.payloadEnd).toBe(55);
  });

  it('every cut of a valid packet gives truncated-outer-ip, never a throw', () => {
    for (const pkt of [udp6, chain]) {
      const codes = cutCodes(pkt, newIpv6View, decodeIpv6);
      expect(new Set(codes)).toEqual(new Set([Drop.TruncatedOuterIp]));
    }
  });

  it('truncated-outer-ip: payload length beyond the bytes present', () => {
    const b = udp6.slice();
    b[IPV6_PAYLOAD_LEN + 1] = 16;
    expect(decode(b)).toBe(Drop.TruncatedOuterIp);
  });

  it('outer-ip-bad-version', () => {
    for (const first of [0x40, 0x00, 0x70, 0xf0]) {
      const b = udp6.slice();
      b[0] = first;
      expect(decode(b)).toBe(Drop.OuterIpBadVersion);
    }
  });

  it('outer-ip-bad-length: a jumbogram (payload length 0 with hop-by-hop, RFC 2675)', () => {
    // Hop-by-hop with the Jumbo Payload option (type 0xc2, len 4, 65536 + 8)
    const jumbo = v6(0, 0, `1100 c204 0001 0008   9c41 12b5 0000 0000`);
    expect(decode(jumbo)).toBe(Drop.OuterIpBadLength);
  });

  it('outer-ip-bad-ext-header: headers running past the payload, cut short, or hop-by-hop not first', () => {
    const cases: [string, Uint8Array][] = [
      // hop-by-hop claims 16 bytes (len 1), only 8 in the payload
      ['hbh too long', v6(8, 0, `1101 0104 0000 0000`)],
      // payload of 4 bytes: not even the 8-byte minimum of a destination options header
      ['dstopts cut short', v6(4, 60, `1100 0102`)],
      // fragment header needs 8 bytes, payload has 6
      ['fragment cut short', v6(6, 44, `1100 0001 1234`)],
      // AH payload len 4 means 24 bytes; 16 present
      ['ah too long', v6(16, 51, `1104 0000 0000 0100 0000 0001 aaaa aaaa`)],
      // destination options then hop-by-hop (RFC 8200 §4.1: hop-by-hop only first)
      ['hbh not first', v6(16, 60, `0000 0104 0000 0000   1100 0104 0000 0000`)],
      // a routing header whose length runs past the payload end even though bytes exist after it (padding)
      ['past payloadEnd', concat(v6(8, 43, `1101 0000 0000 0000`), new Uint8Array(8))],
    ];
    for (const [name, pkt] of cases) expect(decode(pkt), name).toBe(Drop.OuterIpBadExtHeader);
  });

  it('terminates on a long chain of destination options and never throws on random bytes', () => {
    const n = 200;
    const long = v6(8 * n + 8, 60, `${'3c00 0104 0000 0000 '.repeat(n - 1)}1100 0104 0000 0000 9c41 12b5 0008 0000`);
    const v = newIpv6View();
    expect(decode(long, long.length, v)).toBe(0);
    expect([v.upperProto, v.upperOff]).toEqual([17, 40 + 8 * n]);
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 40, maxLength: 120 }), fc.nat(130), (bytes, end) => {
        bytes[0] = 0x60 | (bytes[0]! & 0x0f);
        const c = decodeIpv6(bytes, 0, Math.min(end, bytes.length), newIpv6View());
        expect(Number.isInteger(c)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('writeIpv6Header', () => {
  it('reproduces the known packet byte for byte, addresses copied from any offset', () => {
    const addrs = placeAt(hex(SRC + DST), 5);
    const buf = new Uint8Array(40);
    expect(writeIpv6Header(buf, 0, 0, 0x12345, 15, IPPROTO_UDP, 64, addrs, 5, addrs, 21)).toBe(40);
    expect(buf).toEqual(udp6.subarray(0, 40));
  });

  it('round-trips random fields at offsets 0, odd and even', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 255 }),
        fc.integer({ min: 0, max: 0xfffff }),
        fc.integer({ min: 0, max: 64 }),
        fc.constantFrom(IPPROTO_UDP, 6, 58, 4, 41, IPPROTO_NONE, 50),
        fc.integer({ min: 0, max: 255 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (tc, flow, plen, next, hop, src, dst) => {
          expectRoundTrip({
            write: (buf, off) => {
              writeIpv6Header(buf, off, tc, flow, plen, next, hop, src, 0, dst, 0);
              buf.fill(0x22, off + 40, off + 40 + plen);
              return 40 + plen;
            },
            newView: newIpv6View,
            decode: decodeIpv6,
            check: (v, buf, off) => {
              expect([v.trafficClass, v.flowLabel, v.payloadLen, v.nextHeader, v.upperProto, v.hopLimit]).toEqual([tc, flow, plen, next, next, hop]);
              expect([v.upperOff, v.payloadEnd, v.fragment]).toEqual([off + 40, off + 40 + plen, false]);
              expect(ipv6Equals(buf, v.srcOff, src, 0) && ipv6Equals(buf, v.dstOff, dst, 0)).toBe(true);
            },
          });
        },
      ),
      { numRuns: 150 },
    );
  });

  it.skipIf(!haveTshark())('tshark agrees with the written and hand-made headers', () => {
    const b = new Uint8Array(40);
    writeIpv6Header(b, 0, 0xb9, 0xfedcb, 0, IPPROTO_NONE, 255, parseIpv6('fd00:10:244:1::5')!, 0, parseIpv6('fd00:10:244:2::7')!, 0);
    const rows = tsharkFields(LINKTYPE_RAW, [udp6, b, chain], ['ipv6.tclass', 'ipv6.flow', 'ipv6.plen', 'ipv6.nxt', 'ipv6.hlim', 'ipv6.src', 'ipv6.dst', 'udp.srcport', 'udp.checksum.status']);
    // hex widths differ between Wireshark versions: compare numbers
    const num = (row: string[]) => row.map((f) => (/^(0x[0-9a-f]+|\d+)$/.test(f) ? Number(f) : f));
    expect(num(rows[0]!)).toEqual([0, 0x12345, 15, 17, 64, '2001:db8:100::1', '2001:db8:100::2', 40001, 1]);
    expect(num(rows[1]!).slice(0, 7)).toEqual([0xb9, 0xfedcb, 0, 59, 255, 'fd00:10:244:1::5', 'fd00:10:244:2::7']);
    expect(rows[2]!.slice(2, 4)).toEqual(['32', '0']);
  });
});

describe('ipv6 text (config time)', () => {
  const fmt = (t: string) => ipv6ToString(parseIpv6(t)!);

  it('formats as RFC 5952 §4 canonical text', () => {
    expect(fmt('2001:0db8:0100:0000:0000:0000:0000:0001')).toBe('2001:db8:100::1');
    expect(fmt('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1'); // one zero group is not "::"
    expect(fmt('2001:0:0:1:0:0:0:1')).toBe('2001:0:0:1::1'); // longest run
    expect(fmt('2001:db8:0:0:1:0:0:1')).toBe('2001:db8::1:0:0:1'); // first of equal runs
    expect(fmt('0:0:0:0:0:0:0:0')).toBe('::');
    expect(fmt('::1')).toBe('::1');
    expect(fmt('fd00:10:244:0:0:0:0:0')).toBe('fd00:10:244::');
    expect(fmt('2001:DB8::ABCD')).toBe('2001:db8::abcd');
    expect(fmt('::ffff:198.51.100.1')).toBe('::ffff:198.51.100.1'); // §5 IPv4-mapped
    expect(fmt('::ffff:c633:6401')).toBe('::ffff:198.51.100.1');
  });

  it('parses the forms RFC 4291 §2.2 allows', () => {
    expect(Array.from(parseIpv6('1:2:3:4:5:6:7::')!)).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 0]);
    expect(Array.from(parseIpv6('::2:3:4:5:6:7:8')!.subarray(0, 4))).toEqual([0, 0, 0, 2]);
    expect(Array.from(parseIpv6('1:2:3:4:5:6:198.51.100.1')!.subarray(12))).toEqual([198, 51, 100, 1]);
    expect(Array.from(parseIpv6('::198.51.100.1')!.subarray(10))).toEqual([0, 0, 198, 51, 100, 1]);
  });

  it('rejects malformed text with null', () => {
    for (const bad of [
      '', ':', ':::', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', 'g::1', '::1%eth0', '2001:db8::/64',
      '1:2:3:4:5:6:7:8::', '::1:2:3:4:5:6:7:8', ':1::', '1::2:', '::256.1.1.1', '::1.2.3', '1.2.3.4::', ' ::1',
    ]) {
      expect(parseIpv6(bad), bad).toBeNull();
    }
  });

  it('matches the WHATWG URL serializer on random addresses and parses its own output back', () => {
    fc.assert(
      fc.property(
        // bias towards zero groups so that "::" placement is exercised
        fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
        (groups) => {
          const bytes = new Uint8Array(16);
          groups.forEach((g, i) => bytes.set([g >>> 8, g & 0xff], 2 * i));
          const text = ipv6ToString(bytes);
          expect(parseIpv6(text)).toEqual(bytes);
          const mapped = groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff;
          if (!mapped) expect(text).toBe(new URL(`http://[${text}]/`).hostname.slice(1, -1));
          const full = groups.map((g) => g.toString(16)).join(':');
          expect(parseIpv6(full)).toEqual(bytes);
        },
      ),
      { numRuns: 500 },
    );
  });
});
