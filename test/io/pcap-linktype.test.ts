import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Drop } from '../../src/engine/drops.ts';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';
import {
  LINKTYPE_DLT_RAW12,
  LINKTYPE_DLT_RAW14,
  LINKTYPE_ETHERNET,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_RAW,
  isSupportedLinkType,
  linkHeaderLen,
  linkTypeName,
  locateL3,
  newL3Location,
} from '../../src/io/linktype.ts';
import { classicPcap, ethernet, hexToBytes, ipv4Udp, ipv6Udp, run, sll, sll2, tmpDir, toHex, type TestRecord } from './pcap-fixtures.ts';

const loc = newL3Location();

/** locateL3 on `frame` placed at offset 5 of a larger buffer: [code, l3Off relative to the frame, etherType]. */
function at5(linkType: number, frame: Uint8Array): [number, number, number] {
  const buf = new Uint8Array(frame.length + 11).fill(0xee);
  buf.set(frame, 5);
  loc.l3Off = -1;
  loc.etherType = -1;
  const code = locateL3(linkType, buf, 5, frame.length, loc);
  return code === 0 ? [0, loc.l3Off - 5, loc.etherType] : [code, -1, -1];
}

describe('locateL3', () => {
  const v4 = ipv4Udp(1, 4);
  const v6 = ipv6Udp(2, 4);

  it('Ethernet II, with one 802.1Q or 802.1ad tag', () => {
    // 02:00:00:00:00:0b ← 02:00:00:00:00:0a, 8100 tag VLAN 100, type 0800, then 45 00 … (IPv4)
    const tagged = hexToBytes('02000000000b 02000000000a 8100 0064 0800 4500001c');
    expect(at5(LINKTYPE_ETHERNET, tagged)).toEqual([0, 18, 0x0800]);
    expect(at5(LINKTYPE_ETHERNET, ethernet(v4))).toEqual([0, 14, 0x0800]);
    expect(at5(LINKTYPE_ETHERNET, ethernet(v6))).toEqual([0, 14, 0x86dd]);
    expect(at5(LINKTYPE_ETHERNET, ethernet(v6, 7))).toEqual([0, 18, 0x86dd]);
    const qinq = hexToBytes('02000000000b 02000000000a 88a8 0064 86dd 60000000');
    expect(at5(LINKTYPE_ETHERNET, qinq)).toEqual([0, 18, 0x86dd]);
  });

  it('Ethernet: not IP (ARP, two tags) → outer-not-ip; cut inside the header → truncated-ethernet', () => {
    const arp = hexToBytes('ffffffffffff 02000000000a 0806 00010800060400010200');
    expect(at5(LINKTYPE_ETHERNET, arp)[0]).toBe(Drop.OuterNotIp);
    const twoTags = hexToBytes('02000000000b 02000000000a 88a8 0064 8100 0065 0800 4500');
    expect(at5(LINKTYPE_ETHERNET, twoTags)[0]).toBe(Drop.OuterNotIp);
    const plain = ethernet(v4);
    for (let n = 0; n < 14; n++) expect(at5(LINKTYPE_ETHERNET, plain.subarray(0, n))[0]).toBe(Drop.TruncatedEthernet);
    expect(at5(LINKTYPE_ETHERNET, plain.subarray(0, 14))).toEqual([0, 14, 0x0800]); // header only: the IP decoder judges the rest
    const tagged = ethernet(v4, 5);
    for (let n = 14; n < 18; n++) expect(at5(LINKTYPE_ETHERNET, tagged.subarray(0, n))[0]).toBe(Drop.TruncatedEthernet);
  });

  it('raw IP types: version nibble (101, 12, 14), fixed family (228, 229)', () => {
    for (const lt of [LINKTYPE_RAW, LINKTYPE_DLT_RAW12, LINKTYPE_DLT_RAW14]) {
      expect(at5(lt, v4)).toEqual([0, 0, 0x0800]);
      expect(at5(lt, v6)).toEqual([0, 0, 0x86dd]);
      expect(at5(lt, hexToBytes('55000000'))[0]).toBe(Drop.OuterNotIp);
      expect(at5(lt, new Uint8Array(0))[0]).toBe(Drop.TruncatedOuterIp);
    }
    expect(at5(LINKTYPE_IPV4, v4)).toEqual([0, 0, 0x0800]);
    expect(at5(LINKTYPE_IPV6, v6)).toEqual([0, 0, 0x86dd]);
    // The link type decides the family; a mismatching version nibble is the IP decoder's business.
    expect(at5(LINKTYPE_IPV4, v6)).toEqual([0, 0, 0x0800]);
  });

  it('Linux SLL (protocol at 14, 16-byte header) and SLL2 (protocol at 0, 20-byte header)', () => {
    expect(at5(LINKTYPE_LINUX_SLL, sll(v4))).toEqual([0, 16, 0x0800]);
    expect(at5(LINKTYPE_LINUX_SLL, sll(v6))).toEqual([0, 16, 0x86dd]);
    expect(at5(LINKTYPE_LINUX_SLL2, sll2(v4))).toEqual([0, 20, 0x0800]);
    expect(at5(LINKTYPE_LINUX_SLL2, sll2(v6))).toEqual([0, 20, 0x86dd]);
    // Inline 802.1Q tag after the cooked header.
    const tagged = sll(new Uint8Array([0x00, 0x64, 0x86, 0xdd, ...v6]), 0x8100);
    expect(at5(LINKTYPE_LINUX_SLL, tagged)).toEqual([0, 20, 0x86dd]);
    expect(at5(LINKTYPE_LINUX_SLL, sll(v4, 0x0806))[0]).toBe(Drop.OuterNotIp);
    expect(at5(LINKTYPE_LINUX_SLL2, sll2(v4, 0x0806))[0]).toBe(Drop.OuterNotIp);
    // Netlink captures (hatype 824): the protocol field is a netlink family, never IP.
    expect(at5(LINKTYPE_LINUX_SLL, sll(v4, 0x0800, 824))[0]).toBe(Drop.OuterNotIp);
    expect(at5(LINKTYPE_LINUX_SLL2, sll2(v4, 0x0800, 824))[0]).toBe(Drop.OuterNotIp);
    for (let n = 0; n < 16; n++) expect(at5(LINKTYPE_LINUX_SLL, sll(v4).subarray(0, n))[0]).toBe(Drop.TruncatedEthernet);
    for (let n = 0; n < 20; n++) expect(at5(LINKTYPE_LINUX_SLL2, sll2(v4).subarray(0, n))[0]).toBe(Drop.TruncatedEthernet);
    for (let n = 16; n < 20; n++) expect(at5(LINKTYPE_LINUX_SLL, tagged.subarray(0, n))[0]).toBe(Drop.TruncatedEthernet);
  });

  it('other link types → unsupported-link-type; names and header lengths', () => {
    for (const lt of [0, 105, 108, 127, 147, 275, 277]) {
      expect(at5(lt, ethernet(v4))[0]).toBe(Drop.UnsupportedLinkType);
      expect(isSupportedLinkType(lt)).toBe(false);
      expect(linkHeaderLen(lt)).toBe(-1);
    }
    const supported = [1, 12, 14, 101, 113, 228, 229, 276];
    expect(supported.map(isSupportedLinkType)).toEqual(supported.map(() => true));
    expect(supported.map(linkTypeName)).toEqual(['ethernet', 'raw', 'raw', 'raw', 'linux-sll', 'ipv4', 'ipv6', 'linux-sll2']);
    expect(supported.map(linkHeaderLen)).toEqual([14, 0, 0, 0, 16, 0, 0, 20]);
    expect(linkTypeName(147)).toBe('linktype-147');
  });
});

describe('locateL3 on capture files tshark agrees with', () => {
  let dir: string;
  beforeAll(() => {
    dir = tmpDir('pcap-linktype');
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ips = [ipv4Udp(1, 10), ipv6Udp(2, 20), ipv4Udp(3, 300, [10, 244, 1, 5], [10, 244, 2, 9]), ipv6Udp(4, 1)];
  const cases: [string, number, (ip: Uint8Array) => Uint8Array][] = [
    ['ethernet', LINKTYPE_ETHERNET, (ip) => ethernet(ip, ip.length > 100 ? 42 : -1)],
    ['raw', LINKTYPE_RAW, (ip) => ip],
    ['linux-sll', LINKTYPE_LINUX_SLL, (ip) => sll(ip)],
    ['linux-sll2', LINKTYPE_LINUX_SLL2, (ip) => sll2(ip)],
  ];
  for (const [name, lt, frame] of cases) {
    it(`${name}: the IP packet found is the one tshark dissects`, () => {
      const f = path.join(dir, `${name}.pcap`);
      const rs: TestRecord[] = ips.map((ip, i) => ({ tsSec: 100 + i, tsNsec: 0, data: frame(ip) }));
      fs.writeFileSync(f, classicPcap(rs, { linkType: lt }));
      // tshark: source address and the IP header's first bytes as it sees them
      const tshark = run('tshark', ['-n', '-r', f, '-T', 'fields', '-e', 'ip.src', '-e', 'ipv6.src', '-e', 'ip.len', '-e', 'ipv6.plen'])
        .trim()
        .split('\n')
        .map((l) => l.split('\t').filter((x) => x !== '').join(' '));
      const ours: string[] = [];
      const r = CaptureReader.open(f);
      const rec = newPcapRecord();
      let i = 0;
      while (r.next(rec)) {
        expect(locateL3(rec.linkType, rec.buf, rec.off, rec.capLen, loc)).toBe(0);
        expect(toHex(rec.buf, loc.l3Off, rec.off + rec.capLen - loc.l3Off)).toBe(toHex(ips[i]!));
        const b = rec.buf;
        const o = loc.l3Off;
        if (loc.etherType === 0x0800) ours.push(`${b[o + 12]}.${b[o + 13]}.${b[o + 14]}.${b[o + 15]} ${(b[o + 2]! << 8) | b[o + 3]!}`);
        else ours.push(`2001:db8:100::${b[o + 23]!.toString(16)} ${(b[o + 4]! << 8) | b[o + 5]!}`);
        i++;
      }
      r.close();
      expect(ours).toEqual(tshark);
    });
  }
});
