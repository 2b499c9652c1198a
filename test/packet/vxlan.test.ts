import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Drop } from '../../src/engine/drops.ts';
import { checksumOf } from '../../src/packet/checksum.ts';
import { ETHERTYPE_IPV4, ETHERTYPE_IPV6, decodeEthernet, newEthernetView, parseMac, writeEthernet, macEquals } from '../../src/packet/ethernet.ts';
import { IPPROTO_ICMP, IPPROTO_UDP, decodeIpv4, newIpv4View, parseIpv4, writeIpv4Header } from '../../src/packet/ipv4.ts';
import { decodeIpv6, newIpv6View, parseIpv6, writeIpv6Header } from '../../src/packet/ipv6.ts';
import { decodeUdp, newUdpView, setUdpChecksum, udpChecksum4, udpChecksum6, verifyUdp4, verifyUdp6, writeUdpHeader } from '../../src/packet/udp.ts';
import {
  VXLAN_FLAG_I,
  VXLAN_FLAGS,
  VXLAN_HDR_LEN,
  VXLAN_OVERHEAD_IPV4,
  VXLAN_OVERHEAD_IPV6,
  VXLAN_PORT,
  VXLAN_VNI,
  decodeVxlan,
  newVxlanView,
  writeVxlan,
} from '../../src/packet/vxlan.ts';
import { cutCodes, expectRoundTrip, haveTshark, hex, LINKTYPE_ETHERNET, tsharkFields } from './helpers.ts';

// flags 0x08 (I), reserved 000000, VNI 0x000001, reserved 00  (flannel's VNI 1)
const vni1 = hex('08 000000 000001 00');

describe('vxlan header', () => {
  it('constants follow RFC 7348 §5', () => {
    expect([VXLAN_FLAGS, VXLAN_VNI, VXLAN_HDR_LEN, VXLAN_FLAG_I, VXLAN_PORT]).toEqual([0, 4, 8, 0x08, 4789]);
    expect([VXLAN_OVERHEAD_IPV4, VXLAN_OVERHEAD_IPV6]).toEqual([50, 70]);
  });

  it('decodes VNI 1', () => {
    const v = newVxlanView();
    expect(decodeVxlan(vni1, 0, 8, v)).toBe(0);
    expect(v).toEqual({ flags: 0x08, vni: 1 });
  });

  it('ignores reserved bits on receipt (RFC 7348 §5)', () => {
    // flags 0xff (I plus all reserved flag bits), reserved ffffff, VNI 0xabcdef, reserved ff
    const v = newVxlanView();
    expect(decodeVxlan(hex('ff ffffff abcdef ff'), 0, 8, v)).toBe(0);
    expect(v).toEqual({ flags: 0xff, vni: 0xabcdef });
  });

  it('vxlan-flag-i-clear when the I flag is 0, whatever else is set', () => {
    for (const flags of [0x00, 0xf7, 0x80, 0x04]) {
      const b = vni1.slice();
      b[0] = flags;
      expect(decodeVxlan(b, 0, 8, newVxlanView()), `flags ${flags}`).toBe(Drop.VxlanFlagIClear);
    }
  });

  it('truncated-vxlan for every cut, never a throw', () => {
    expect(cutCodes(vni1, newVxlanView, decodeVxlan)).toEqual(new Array(8).fill(Drop.TruncatedVxlan));
  });

  it('round-trips every VNI width at offsets 0, odd and even; reserved bits written as zero', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffff }), (vni) => {
        const enc = expectRoundTrip({
          write: (buf, off) => writeVxlan(buf, off, vni),
          newView: newVxlanView,
          decode: decodeVxlan,
          check: (v) => expect(v).toEqual({ flags: VXLAN_FLAG_I, vni }),
        });
        expect(Array.from(enc)).toEqual([8, 0, 0, 0, vni >>> 16, (vni >>> 8) & 0xff, vni & 0xff, 0]);
      }),
      { numRuns: 100 },
    );
    expect(writeVxlan(new Uint8Array(8), 0, 1)).toBe(8);
  });
});

/**
 * A whole flannel-style VXLAN frame built with the writers: outer Ethernet / IPv4 or IPv6 / UDP 4789 /
 * VXLAN VNI 1 / inner Ethernet (VTEP MACs) / inner IPv4 10.244.1.5 -> 10.244.2.7 ICMP echo request.
 */
function buildFrame(family: 4 | 6, vni: number): Uint8Array {
  const innerIcmp = hex('0800 0000 1234 0001 7674 6570'); // echo request id 0x1234 seq 1, data "vtep"
  const ck = checksumOf(innerIcmp, 0, innerIcmp.length);
  innerIcmp[2] = ck >>> 8;
  innerIcmp[3] = ck & 0xff;
  const innerIpLen = 20 + innerIcmp.length;
  const innerLen = 14 + innerIpLen;
  const udpLen = 8 + VXLAN_HDR_LEN + innerLen;
  const ipHdr = family === 4 ? 20 : 40;
  const f = new Uint8Array(14 + ipHdr + udpLen);
  const underMac = parseMac('02:00:c6:33:64:02')!;
  const underMacSrc = parseMac('02:00:c6:33:64:01')!;
  let o = writeEthernet(f, 0, underMac, underMacSrc, family === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6);
  const ipOff = o;
  const s6 = parseIpv6('2001:db8:100::1')!;
  const d6 = parseIpv6('2001:db8:100::2')!;
  if (family === 4) o += writeIpv4Header(f, o, 0, 20 + udpLen, 0, 0, 64, IPPROTO_UDP, parseIpv4('198.51.100.1'), parseIpv4('198.51.100.2'));
  else o += writeIpv6Header(f, o, 0, 0, udpLen, IPPROTO_UDP, 64, s6, 0, d6, 0);
  const udpOff = o;
  o += writeUdpHeader(f, o, 51234, VXLAN_PORT, udpLen, 0);
  o += writeVxlan(f, o, vni);
  o += writeEthernet(f, o, parseMac('02:42:0a:f4:02:00')!, parseMac('02:42:0a:f4:01:00')!, ETHERTYPE_IPV4);
  o += writeIpv4Header(f, o, 0, innerIpLen, 7, 0x4000, 63, IPPROTO_ICMP, parseIpv4('10.244.1.5'), parseIpv4('10.244.2.7'));
  f.set(innerIcmp, o);
  const c =
    family === 4
      ? udpChecksum4(f, udpOff, udpLen, parseIpv4('198.51.100.1'), parseIpv4('198.51.100.2'))
      : udpChecksum6(f, udpOff, udpLen, f, ipOff + 8, f, ipOff + 24);
  setUdpChecksum(f, udpOff, c);
  return f;
}

describe('a whole VXLAN frame', () => {
  it('decodes layer by layer with the codecs (IPv4 and IPv6 underlay)', () => {
    for (const family of [4, 6] as const) {
      const f = buildFrame(family, 1);
      const eth = newEthernetView();
      expect(decodeEthernet(f, 0, f.length, eth)).toBe(0);
      let l4Off: number;
      let l4End: number;
      if (family === 4) {
        const ip = newIpv4View();
        expect(decodeIpv4(f, eth.payloadOff, f.length, ip, true)).toBe(0);
        expect(ip.proto).toBe(IPPROTO_UDP);
        [l4Off, l4End] = [ip.payloadOff, ip.payloadEnd];
        expect(verifyUdp4(f, l4Off, l4End - l4Off, ip.src, ip.dst)).toBe(true);
      } else {
        const ip = newIpv6View();
        expect(decodeIpv6(f, eth.payloadOff, f.length, ip)).toBe(0);
        expect(ip.upperProto).toBe(IPPROTO_UDP);
        [l4Off, l4End] = [ip.upperOff, ip.payloadEnd];
        expect(verifyUdp6(f, l4Off, l4End - l4Off, f, ip.srcOff, f, ip.dstOff)).toBe(true);
      }
      const udp = newUdpView();
      expect(decodeUdp(f, l4Off, l4End, udp)).toBe(0);
      expect(udp.dstPort).toBe(4789);
      const vx = newVxlanView();
      expect(decodeVxlan(f, udp.payloadOff, udp.payloadEnd, vx)).toBe(0);
      expect(vx.vni).toBe(1);
      const inner = newEthernetView();
      expect(decodeEthernet(f, udp.payloadOff + VXLAN_HDR_LEN, udp.payloadEnd, inner)).toBe(0);
      expect(macEquals(f, inner.dstOff, parseMac('02:42:0a:f4:02:00')!)).toBe(true);
      const ip4 = newIpv4View();
      expect(decodeIpv4(f, inner.payloadOff, udp.payloadEnd, ip4, true)).toBe(0);
      expect([ip4.src, ip4.dst, ip4.proto, ip4.payloadEnd]).toEqual([parseIpv4('10.244.1.5'), parseIpv4('10.244.2.7'), IPPROTO_ICMP, f.length]);
      // the inner IP packet starts exactly VXLAN_OVERHEAD_* bytes after the outer IP header
      expect(inner.payloadOff - eth.payloadOff).toBe(family === 4 ? VXLAN_OVERHEAD_IPV4 : VXLAN_OVERHEAD_IPV6);
    }
  });

  it.skipIf(!haveTshark())('tshark dissects it as VXLAN with good checksums', () => {
    const frames = [buildFrame(4, 1), buildFrame(6, 1), buildFrame(4, 0xabcdef)];
    const rows = tsharkFields(LINKTYPE_ETHERNET, frames, [
      'vxlan.vni',
      'vxlan.flag_i',
      'udp.checksum.status',
      'ip.checksum.status',
      'ip.src',
      'eth.dst',
      'icmp.type',
      'icmp.checksum.status',
      '_ws.malformed',
    ]);
    expect(rows[0]).toEqual(['1', '1', '1', '1,1', '198.51.100.1,10.244.1.5', '02:00:c6:33:64:02,02:42:0a:f4:02:00', '8', '1', '']);
    expect(rows[1]).toEqual(['1', '1', '1', '1', '10.244.1.5', '02:00:c6:33:64:02,02:42:0a:f4:02:00', '8', '1', '']);
    expect(rows[2]!.slice(0, 3)).toEqual([String(0xabcdef), '1', '1']);
  });
});
