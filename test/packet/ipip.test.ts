import { describe, expect, it } from 'vitest';
import * as packet from '../../src/packet/index.ts';
import * as checksum from '../../src/packet/checksum.ts';
import * as ethernet from '../../src/packet/ethernet.ts';
import * as icmp from '../../src/packet/icmp.ts';
import * as ipip from '../../src/packet/ipip.ts';
import * as ipv4 from '../../src/packet/ipv4.ts';
import * as ipv6 from '../../src/packet/ipv6.ts';
import * as udp from '../../src/packet/udp.ts';
import * as vxlan from '../../src/packet/vxlan.ts';
import {
  IPIP_OVERHEAD_IPV4,
  IPIP_OVERHEAD_IPV6,
  IPIP_PROTO_IPV4,
  IPIP_PROTO_IPV6,
  innerProtoForVersion,
  ipVersionAt,
  versionForInnerProto,
} from '../../src/packet/ipip.ts';
import { IPPROTO_ICMP, IPPROTO_NONE, decodeIpv4, newIpv4View, parseIpv4, writeIpv4Header } from '../../src/packet/ipv4.ts';
import { decodeIpv6, newIpv6View, parseIpv6, writeIpv6Header } from '../../src/packet/ipv6.ts';
import { checksumOf } from '../../src/packet/checksum.ts';
import { haveTshark, hex, LINKTYPE_RAW, tsharkFields } from './helpers.ts';

const NODE1 = parseIpv4('198.51.100.1');
const NODE2 = parseIpv4('198.51.100.2');
const NODE1_6 = parseIpv6('2001:db8:100::1')!;
const NODE2_6 = parseIpv6('2001:db8:100::2')!;

/** Inner IPv4 ICMP echo request 10.244.1.5 -> 10.244.2.7 (36 bytes). */
function inner4(): Uint8Array {
  const p = new Uint8Array(36);
  writeIpv4Header(p, 0, 0, 36, 1, 0x4000, 63, IPPROTO_ICMP, parseIpv4('10.244.1.5'), parseIpv4('10.244.2.7'));
  p.set(hex('0800 0000 1234 0001 7674 6570 2d69 7069'), 20); // echo request, data "vtep-ipi"
  const c = checksumOf(p, 20, 16);
  p[22] = c >>> 8;
  p[23] = c & 0xff;
  return p;
}

/** Inner IPv6 packet fd00:10:244:1::5 -> fd00:10:244:2::7 with No Next Header and 4 bytes (44 bytes). */
function inner6(): Uint8Array {
  const p = new Uint8Array(44);
  writeIpv6Header(p, 0, 0, 0, 4, IPPROTO_NONE, 63, parseIpv6('fd00:10:244:1::5')!, 0, parseIpv6('fd00:10:244:2::7')!, 0);
  return p;
}

/** `inner` behind an outer header of `family`, protocol chosen from the inner version. */
function encap(family: 4 | 6, inner: Uint8Array): Uint8Array {
  const proto = innerProtoForVersion(ipVersionAt(inner, 0, inner.length));
  const hdr = family === 4 ? IPIP_OVERHEAD_IPV4 : IPIP_OVERHEAD_IPV6;
  const p = new Uint8Array(hdr + inner.length);
  if (family === 4) writeIpv4Header(p, 0, 0, p.length, 0, 0, 64, proto, NODE1, NODE2);
  else writeIpv6Header(p, 0, 0, 0, inner.length, proto, 64, NODE1_6, 0, NODE2_6, 0);
  p.set(inner, hdr);
  return p;
}

describe('ipip helpers', () => {
  it('protocol numbers (RFC 2003, RFC 4213) and overheads', () => {
    expect([IPIP_PROTO_IPV4, IPIP_PROTO_IPV6, IPIP_OVERHEAD_IPV4, IPIP_OVERHEAD_IPV6]).toEqual([4, 41, 20, 40]);
    expect([innerProtoForVersion(4), innerProtoForVersion(6), innerProtoForVersion(5), innerProtoForVersion(0)]).toEqual([4, 41, -1, -1]);
    expect([versionForInnerProto(4), versionForInnerProto(41), versionForInnerProto(17), versionForInnerProto(0)]).toEqual([4, 6, -1, -1]);
  });

  it('ipVersionAt reads the nibble and says -1 when nothing is there', () => {
    const b = hex('45 60 f0');
    expect([ipVersionAt(b, 0, 3), ipVersionAt(b, 1, 3), ipVersionAt(b, 2, 3), ipVersionAt(b, 3, 3), ipVersionAt(b, 1, 1)]).toEqual([4, 6, 15, -1, -1]);
  });

  it('all four combinations decode outer then inner, and the carried protocol matches the inner version', () => {
    for (const family of [4, 6] as const) {
      for (const inner of [inner4(), inner6()]) {
        const p = encap(family, inner);
        let proto: number;
        let off: number;
        let end: number;
        if (family === 4) {
          const v = newIpv4View();
          expect(decodeIpv4(p, 0, p.length, v, true)).toBe(0);
          [proto, off, end] = [v.proto, v.payloadOff, v.payloadEnd];
        } else {
          const v = newIpv6View();
          expect(decodeIpv6(p, 0, p.length, v)).toBe(0);
          [proto, off, end] = [v.upperProto, v.upperOff, v.payloadEnd];
        }
        const ver = ipVersionAt(p, off, end);
        expect(versionForInnerProto(proto)).toBe(ver);
        if (ver === 4) expect(decodeIpv4(p, off, end, newIpv4View(), true)).toBe(0);
        else expect(decodeIpv6(p, off, end, newIpv6View())).toBe(0);
        expect(end - off).toBe(inner.length);
      }
    }
  });

  it.skipIf(!haveTshark())('tshark sees the inner packet behind the outer header', () => {
    const frames = [encap(4, inner4()), encap(4, inner6()), encap(6, inner4()), encap(6, inner6())];
    const rows = tsharkFields(LINKTYPE_RAW, frames, ['ip.src', 'ipv6.src', 'ip.checksum.status', 'icmp.checksum.status', '_ws.malformed']);
    expect(rows).toEqual([
      ['198.51.100.1,10.244.1.5', '', '1,1', '1', ''],
      ['198.51.100.1', 'fd00:10:244:1::5', '1', '', ''],
      ['10.244.1.5', '2001:db8:100::1', '1', '1', ''],
      ['', '2001:db8:100::1,fd00:10:244:1::5', '', '', ''],
    ]);
  });
});

describe('index.ts', () => {
  it('re-exports every export of every codec module (no name lost to a clash)', () => {
    const all = { ...checksum, ...ethernet, ...ipv4, ...ipv6, ...udp, ...icmp, ...vxlan, ...ipip };
    const modules = [checksum, ethernet, ipv4, ipv6, udp, icmp, vxlan, ipip];
    const total = modules.reduce((n, m) => n + Object.keys(m).length, 0);
    expect(Object.keys(all).length).toBe(total); // no two modules export the same name
    for (const [name, value] of Object.entries(all)) expect((packet as Record<string, unknown>)[name], name).toBe(value);
  });
});
