import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Drop } from '../../src/engine/drops.ts';
import { IPPROTO_UDP, writeIpv4Header } from '../../src/packet/ipv4.ts';
import { writeIpv6Header } from '../../src/packet/ipv6.ts';
import {
  UDP_CSUM,
  UDP_DST_PORT,
  UDP_HDR_LEN,
  UDP_LEN,
  UDP_SRC_PORT,
  decodeUdp,
  newUdpView,
  setUdpChecksum,
  udpChecksum4,
  udpChecksum6,
  verifyUdp4,
  verifyUdp6,
  writeUdpHeader,
} from '../../src/packet/udp.ts';
import { concat, cutCodes, expectRoundTrip, haveTshark, hex, LINKTYPE_RAW, placeAt, tsharkFields } from './helpers.ts';

const SRC4 = 0xc6336401; // 198.51.100.1
const DST4 = 0xc6336402; // 198.51.100.2
const ADDRS6 = hex('20010db8010000000000000000000001 20010db8010000000000000000000002'); // 2001:db8:100::1, ::2

// UDP over 198.51.100.1 -> 198.51.100.2: 40000 -> 4789, length 16, csum 0xbef1, data "vtep-v4!"
const dgram4 = hex('9c40 12b5 0010 bef1 7674 6570 2d76 3421');
// UDP over 2001:db8:100::1 -> ::2: 40001 -> 4789, length 15 (odd), csum 0xb409, data "vtep-v6"
const dgram6 = hex('9c41 12b5 000f b409 7674 6570 2d76 36');

describe('udp', () => {
  it('offsets are built from each other (RFC 768)', () => {
    expect([UDP_SRC_PORT, UDP_DST_PORT, UDP_LEN, UDP_CSUM, UDP_HDR_LEN]).toEqual([0, 2, 4, 6, 8]);
  });

  it('decodes at offset 0 and odd/even offsets', () => {
    for (const off of [0, 9, 20]) {
      const buf = placeAt(dgram4, off);
      const v = newUdpView();
      expect(decodeUdp(buf, off, off + 16, v)).toBe(0);
      expect(v).toEqual({ srcPort: 40000, dstPort: 4789, length: 16, checksum: 0xbef1, payloadOff: off + 8, payloadEnd: off + 16 });
    }
  });

  it('accepts a length shorter than the IP payload; the rest is not UDP data (like Linux udp_rcv)', () => {
    const buf = concat(dgram4, hex('0000 0000'));
    const v = newUdpView();
    expect(decodeUdp(buf, 0, buf.length, v)).toBe(0);
    expect(v.payloadEnd).toBe(16);
  });

  it('truncated-udp below 8 bytes, udp-bad-length for a datagram cut after its header; never throws', () => {
    const codes = cutCodes(dgram4, newUdpView, decodeUdp);
    expect(codes.slice(0, 8)).toEqual(new Array(8).fill(Drop.TruncatedUdp));
    expect(codes.slice(8)).toEqual(new Array(8).fill(Drop.UdpBadLength));
  });

  it('udp-bad-length: length below 8 or beyond end', () => {
    for (const len of [0, 1, 7, 17, 0xffff]) {
      const b = dgram4.slice();
      b[UDP_LEN] = len >>> 8;
      b[UDP_LEN + 1] = len & 0xff;
      expect(decodeUdp(b, 0, 16, newUdpView()), `length ${len}`).toBe(Drop.UdpBadLength);
    }
    const eight = hex('9c40 12b5 0008 0000');
    expect(decodeUdp(eight, 0, 8, newUdpView())).toBe(0); // header only is fine
  });

  it('known-answer checksums (verified with tshark) and verification', () => {
    expect(udpChecksum4(dgram4, 0, 16, SRC4, DST4)).toBe(0xbef1);
    expect(verifyUdp4(dgram4, 0, 16, SRC4, DST4)).toBe(true);
    expect(verifyUdp4(dgram4, 0, 16, SRC4, DST4 + 1)).toBe(false);
    expect(udpChecksum6(dgram6, 0, 15, ADDRS6, 0, ADDRS6, 16)).toBe(0xb409);
    expect(verifyUdp6(dgram6, 0, 15, ADDRS6, 0, ADDRS6, 16)).toBe(true);
    // swapped addresses give the same sum (the pseudo-header sum commutes); another address does not
    expect(verifyUdp6(dgram6, 0, 15, ADDRS6, 16, ADDRS6, 0)).toBe(true);
    const other = ADDRS6.slice();
    other[31] = 3; // 2001:db8:100::3
    expect(verifyUdp6(dgram6, 0, 15, other, 0, other, 16)).toBe(false);
  });

  it('round-trips header + checksum at offsets 0, odd and even (v4 and v6)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 101 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.integer({ min: 0, max: 0xffffffff }),
        (sp, dp, data, src, dst) => {
          const len = UDP_HDR_LEN + data.length;
          for (const family of [4, 6]) {
            expectRoundTrip({
              write: (buf, off) => {
                writeUdpHeader(buf, off, sp, dp, len, 0xdead); // a stale value: must be ignored
                buf.set(data, off + UDP_HDR_LEN);
                const c = family === 4 ? udpChecksum4(buf, off, len, src, dst) : udpChecksum6(buf, off, len, ADDRS6, 0, ADDRS6, 16);
                setUdpChecksum(buf, off, c);
                return len;
              },
              newView: newUdpView,
              decode: decodeUdp,
              check: (v, buf, off) => {
                expect([v.srcPort, v.dstPort, v.length, v.payloadOff, v.payloadEnd]).toEqual([sp, dp, len, off + 8, off + len]);
                expect(v.checksum).not.toBe(0);
                const ok = family === 4 ? verifyUdp4(buf, off, len, src, dst) : verifyUdp6(buf, off, len, ADDRS6, 0, ADDRS6, 16);
                expect(ok).toBe(true);
              },
            });
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  it.skipIf(!haveTshark())('tshark finds every computed checksum correct (v4 and v6, odd lengths)', () => {
    const frames: Uint8Array[] = [];
    const s6 = ADDRS6.subarray(0, 16);
    const d6 = ADDRS6.subarray(16);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 301 }), fc.integer({ min: 1024, max: 0xffff }), (data, sp) => {
        const len = UDP_HDR_LEN + data.length;
        const p4 = new Uint8Array(20 + len);
        writeIpv4Header(p4, 0, 0, 20 + len, 1, 0, 64, IPPROTO_UDP, SRC4, DST4);
        writeUdpHeader(p4, 20, sp, 9, len, 0); // port 9 (discard): no dissector guesses at the data
        p4.set(data, 28);
        setUdpChecksum(p4, 20, udpChecksum4(p4, 20, len, SRC4, DST4));
        const p6 = new Uint8Array(40 + len);
        writeIpv6Header(p6, 0, 0, 0, len, IPPROTO_UDP, 64, s6, 0, d6, 0);
        writeUdpHeader(p6, 40, sp, 9, len, 0);
        p6.set(data, 48);
        setUdpChecksum(p6, 40, udpChecksum6(p6, 40, len, s6, 0, d6, 0));
        frames.push(p4, p6);
      }),
      { numRuns: 25 },
    );
    const rows = tsharkFields(LINKTYPE_RAW, frames, ['udp.checksum.status', 'udp.length']);
    expect(rows.length).toBe(frames.length);
    rows.forEach((r, i) => expect(r, `frame ${i + 1}`).toEqual(['1', String(frames[i]!.length - (i % 2 === 0 ? 20 : 40))]));
  });
});
