import { describe, expect, it } from 'vitest';
import { Drop } from '../../src/engine/drops.ts';
import {
  ETH_DST,
  ETH_HDR_LEN,
  ETH_SRC,
  ETH_TYPE,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  VLAN_TAG_LEN,
  decodeEthernet,
  formatMac,
  macEquals,
  macIsBroadcast,
  macIsMulticast,
  newEthernetView,
  parseMac,
  writeEthernet,
} from '../../src/packet/ethernet.ts';
import { cutCodes, expectRoundTrip, hex, placeAt } from './helpers.ts';

// dst 02:42:0a:f4:02:00 (flannel-style VTEP MAC), src 02:42:0a:f4:01:00, EtherType 0x0800 (IPv4),
// then the first payload bytes 45 00.
const untagged = hex('02420af40200 02420af40100 0800 4500');

// dst ff:ff:ff:ff:ff:ff, src 02:00:00:00:00:01, TPID 0x8100, TCI 0x2064 (PCP 1, DEI 0, VID 100),
// EtherType 0x86dd (IPv6), then 60 00.
const tagged = hex('ffffffffffff 020000000001 8100 2064 86dd 6000');

describe('ethernet', () => {
  it('offsets are built from each other', () => {
    expect([ETH_DST, ETH_SRC, ETH_TYPE, ETH_HDR_LEN, VLAN_TAG_LEN]).toEqual([0, 6, 12, 14, 4]);
    expect([ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN, ETHERTYPE_QINQ, ETHERTYPE_ARP]).toEqual([0x0800, 0x86dd, 0x8100, 0x88a8, 0x0806]);
  });

  it('decodes an untagged frame at offset 0 and at an odd offset', () => {
    for (const off of [0, 5]) {
      const buf = placeAt(untagged, off);
      const v = newEthernetView();
      expect(decodeEthernet(buf, off, off + untagged.length, v)).toBe(0);
      expect(v).toEqual({ dstOff: off, srcOff: off + 6, etherType: 0x0800, vlanId: -1, payloadOff: off + 14 });
      expect(formatMac(buf, v.dstOff)).toBe('02:42:0a:f4:02:00');
      expect(formatMac(buf, v.srcOff)).toBe('02:42:0a:f4:01:00');
    }
  });

  it('decodes and strips one 802.1Q tag (and an 802.1ad S-tag)', () => {
    const v = newEthernetView();
    expect(decodeEthernet(tagged, 0, tagged.length, v)).toBe(0);
    expect(v).toEqual({ dstOff: 0, srcOff: 6, etherType: 0x86dd, vlanId: 100, payloadOff: 18 });
    const qinq = tagged.slice();
    qinq[12] = 0x88;
    qinq[13] = 0xa8;
    qinq[14] = 0xff; // PCP 7, DEI 1, VID 0xfff
    qinq[15] = 0xff;
    expect(decodeEthernet(qinq, 0, qinq.length, v)).toBe(0);
    expect([v.etherType, v.vlanId, v.payloadOff]).toEqual([0x86dd, 0xfff, 18]);
  });

  it('leaves a second tag to the caller as the EtherType (not IP)', () => {
    // S-tag 0x88a8 VID 10, then C-tag TPID 0x8100 where the EtherType would be
    const double = hex('ffffffffffff 020000000001 88a8 000a 8100 0014 0800');
    const v = newEthernetView();
    expect(decodeEthernet(double, 0, double.length, v)).toBe(0);
    expect([v.etherType, v.vlanId, v.payloadOff]).toEqual([0x8100, 10, 18]);
  });

  it('returns truncated-ethernet for every cut shorter than the header, never throws', () => {
    const u = cutCodes(untagged, newEthernetView, decodeEthernet);
    expect(u.slice(0, 14).every((c) => c === Drop.TruncatedEthernet)).toBe(true);
    expect(u.slice(14)).toEqual([0, 0]);
    const t = cutCodes(tagged, newEthernetView, decodeEthernet);
    expect(t.slice(0, 18).every((c) => c === Drop.TruncatedEthernet)).toBe(true);
    expect(t.slice(18)).toEqual([0, 0]);
  });

  it('round-trips writeEthernet at offsets 0, odd and even', () => {
    const dst = parseMac('02:42:0a:f4:02:00')!;
    const src = parseMac('02-42-0A-F4-01-00')!;
    expectRoundTrip({
      write: (buf, off) => writeEthernet(buf, off, dst, src, ETHERTYPE_IPV6),
      newView: newEthernetView,
      decode: decodeEthernet,
      check: (v, buf, off) => {
        expect(v.vlanId).toBe(-1);
        expect(v.etherType).toBe(ETHERTYPE_IPV6);
        expect(v.payloadOff).toBe(off + 14);
        expect(macEquals(buf, v.dstOff, dst)).toBe(true);
        expect(macEquals(buf, v.srcOff, src)).toBe(true);
      },
      bytes: hex('02420af40200 02420af40100 86dd'),
    });
  });

  it('MAC predicates: broadcast, group bit, equality', () => {
    const b = hex('ffffffffffff 01005e000001 3333000000fb 02420af40200 ffffffffff fe');
    expect(macIsBroadcast(b, 0)).toBe(true);
    expect(macIsMulticast(b, 0)).toBe(true); // broadcast has the group bit too
    expect(macIsBroadcast(b, 6)).toBe(false);
    expect(macIsMulticast(b, 6)).toBe(true); // IPv4 multicast 01:00:5e
    expect(macIsMulticast(b, 12)).toBe(true); // IPv6 multicast 33:33
    expect(macIsMulticast(b, 18)).toBe(false);
    expect(macIsBroadcast(b, 24)).toBe(false); // ff:ff:ff:ff:ff:fe
    expect(macEquals(b, 18, parseMac('02:42:0a:f4:02:00')!)).toBe(true);
    expect(macEquals(b, 18, parseMac('02:42:0a:f4:02:01')!)).toBe(false);
  });

  it('parseMac accepts one separator style and rejects anything else; formatMac is its inverse', () => {
    expect(Array.from(parseMac('02:00:0A:f4:01:00')!)).toEqual([2, 0, 10, 0xf4, 1, 0]);
    for (const bad of ['', '02:00:0a:f4:01', '02:00:0a:f4:01:00:00', '02:00-0a:f4:01:00', '0200.0af4.0100', '2:0:a:f4:1:0', 'zz:00:0a:f4:01:00', ' 02:00:0a:f4:01:00']) {
      expect(parseMac(bad), bad).toBeNull();
    }
    expect(formatMac(parseMac('fe:ED:00:01:0a:ff')!)).toBe('fe:ed:00:01:0a:ff');
  });
});
