/**
 * IPIP replay (no kernel capture of it: the frames are made by node1's engine and checked on the way back
 * and by tshark). Per family: encap of node1's pod packets (flannel.pcap) with `backend: ipip` gives
 * Ethernet frames carrying outer IP protocol 4 (IPv4 inner) / 41 (IPv6 inner) around the unchanged inner
 * packet; decap by node2 gives back exactly those inner packets as raw IP (link type 101); node1 drops
 * them as not addressed to it; tshark decodes both files as valid IP-in-IP with no expert error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fx, jsonOf, readCapture, tmpDir, toRaw, tsharkCheck, tsharkField, vtepIn, writeClassic } from './helpers.ts';

const dir = tmpDir('ipip');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, name);

for (const fam of ['v4', 'v6'] as const) {
  describe(`IPIP over ${fam}`, () => {
    const k = (f: string) => fx(`kernel-${fam}`, f);
    const sent = readCapture(k('encap-n1.pcap')).records.length;
    // node1's pod packets as node2 must receive them: the IP part of the kernel's inner frames to node2
    const want = readCapture(k('decap-n2.pcap')).records.map((r) => toRaw(r.data));
    const u = tmp(`${fam}-underlay.pcap`);
    const p = tmp(`${fam}-pods.pcap`);
    const outerHdr = fam === 'v4' ? 20 : 40;
    const innerProto = fam === 'v4' ? 4 : 41; // the kernel fixtures' inner family is the underlay's

    it('encap by node1: Ethernet / outer IP (protocol 4 or 41) / the unchanged inner packet', async () => {
      const r = await vtepIn(['replay', 'encap', '--config', k('n1-ipip.yaml'), '--in', k('flannel.pcap'), '--out', u, '--json']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const s = jsonOf(r);
      expect(s.packetsOut).toBe(sent);
      expect(s.bytesOut).toBe(want.reduce((a, x) => a + 14 + outerHdr + x.length, 0));
      const frames = readCapture(u).records;
      frames.forEach((f, i) => {
        expect(f.linkType).toBe(1);
        expect(f.data.readUInt16BE(12)).toBe(fam === 'v4' ? 0x0800 : 0x86dd);
        expect(f.data[14 + (fam === 'v4' ? 9 : 6)]).toBe(innerProto);
        expect(f.data.subarray(14 + outerHdr).equals(want[i]!), `frame ${i + 1}`).toBe(true);
      });
    });

    it('decap by node2: exactly the inner packets, as raw IP; node1 drops them all as not addressed to it', async () => {
      const expectRaw = tmp(`${fam}-expect-raw.pcap`);
      writeClassic(expectRaw, want.map((data) => ({ tsSec: 0, tsNsec: 0, data })), { linkType: 101 });
      const r = await vtepIn(['replay', 'decap', '--config', k('n2-ipip.yaml'), '--in', u, '--out', p, '--expect', expectRaw, '--json']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(jsonOf(r)).toMatchObject({ packetsIn: sent, packetsOut: sent, drops: {} });
      const out = readCapture(p);
      expect(out.records.every((x) => x.linkType === 101)).toBe(true);
      expect(out.records.map((x) => x.data.toString('hex'))).toEqual(want.map((x) => x.toString('hex')));

      const n1 = await vtepIn(['replay', 'decap', '--config', k('n1-ipip.yaml'), '--in', u, '--out', tmp(`${fam}-n1.pcap`), '--json']);
      expect(jsonOf(n1)).toMatchObject({ packetsOut: 0, drops: { 'outer-dst-not-local': sent } });
      // and the VXLAN node2 refuses IPIP frames: not UDP
      const vx = await vtepIn(['replay', 'decap', '--config', k('n2.yaml'), '--in', u, '--out', tmp(`${fam}-vx.pcap`), '--json']);
      expect(jsonOf(vx)).toMatchObject({ packetsOut: 0, drops: { 'outer-proto-unexpected': sent } });
    });

    it('tshark decodes both as valid IP-in-IP, no expert errors', async () => {
      expect(tsharkCheck(u)).toEqual({ errors: [], frames: sent });
      expect(tsharkCheck(p)).toEqual({ errors: [], frames: sent });
      const ipField = fam === 'v4' ? 'ip.proto' : 'ipv6.nxt';
      const protos = tsharkField(u, ipField);
      expect(protos.length).toBe(sent);
      // the outer protocol field, then the inner packet's: two IP layers in every frame
      expect(protos.every((x) => x.split(',')[0] === String(innerProto))).toBe(true);
      expect(tsharkField(u, 'frame.protocols').every((x) => x.startsWith(fam === 'v4' ? 'eth:ethertype:ip:ip:' : 'eth:ethertype:ipv6:ipv6:'))).toBe(true);
    });
  });
}
