/**
 * Golden tests against captures made by the Linux kernel's own VXLAN (fixtures/kernel-v4, kernel-v6;
 * scripts/capture-kernel-fixtures.sh). underlay.pcap frame i carries flannel.pcap frame i.
 *
 * - decap: every underlay frame, given to the engine of the node it is addressed to, yields exactly the
 *   inner frame the kernel carried (flannel.pcap frame i), and the other node's engine drops it as
 *   outer-dst-not-local;
 * - encap: every inner frame, encapsulated by the sending node's engine, equals the kernel's underlay frame
 *   byte for byte except the IPv4 ID (and the header checksum that covers it), the UDP source port (a
 *   hash of the inner flow: in range and constant per flow) and the UDP checksum that covers it.
 */
import { describe, expect, it } from 'vitest';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';
import { loadConfig } from '../../src/control/config.ts';
import { Fdb } from '../../src/fdb/fdb.ts';
import { Engine, EncapLayer, ENCAP_HEADROOM } from '../../src/engine/engine.ts';
import { Drop, DROP_NAMES } from '../../src/engine/drops.ts';

function readAll(path: string): Buffer[] {
  const r = CaptureReader.open(path);
  const rec = newPcapRecord();
  const out: Buffer[] = [];
  while (r.next(rec)) out.push(Buffer.from(rec.buf.subarray(rec.off, rec.off + rec.capLen)));
  r.close();
  return out;
}

function engineFrom(file: string): Engine {
  const cfg = loadConfig(file);
  return new Engine(cfg.engine, Fdb.build(cfg.node, cfg.peers));
}

for (const fam of ['v4', 'v6'] as const) {
  describe(`kernel ${fam} fixtures`, () => {
    const dir = `fixtures/kernel-${fam}`;
    const underlay = readAll(`${dir}/underlay.pcap`);
    const inner = readAll(`${dir}/flannel.pcap`);
    const n1 = engineFrom(`${dir}/n1.yaml`);
    const n2 = engineFrom(`${dir}/n2.yaml`);
    const mac1 = Buffer.from(n1.currentFdb().local.vtepMAC);
    const ipHdr = fam === 'v4' ? 20 : 40;
    const udpOff = 14 + ipHdr;

    it('pairs frame for frame', () => {
      expect(underlay.length).toBeGreaterThan(1500);
      expect(inner.length).toBe(underlay.length);
    });

    it('decap gives exactly the inner frame the kernel carried, both directions', () => {
      let toN1 = 0;
      let toN2 = 0;
      for (let i = 0; i < underlay.length; i++) {
        const fromN1 = Buffer.compare(inner[i]!.subarray(6, 12), mac1) === 0;
        const [rx, other] = fromN1 ? [n2, n1] : [n1, n2];
        const frame = Buffer.from(underlay[i]!);
        const rc = rx.decapFrame(frame, 0, frame.length);
        expect(DROP_NAMES[rc], `frame ${i + 1}`).toBe('none');
        expect(Buffer.compare(frame.subarray(rx.innerFrameOff, rx.innerFrameOff + rx.innerFrameLen), inner[i]!), `frame ${i + 1}`).toBe(0);
        expect(other.decapFrame(Buffer.from(underlay[i]!), 0, frame.length), `frame ${i + 1}`).toBe(Drop.OuterDstNotLocal);
        if (fromN1) toN2++;
        else toN1++;
      }
      expect(toN1).toBeGreaterThan(50); // TCP ACKs and echo replies
      expect(toN2).toBeGreaterThan(100);
    });

    it('encap equals the kernel field by field (IPv4 ID and the flow-hash source port aside)', () => {
      const portOfFlow = new Map<string, number>();
      const slot = Buffer.alloc(ENCAP_HEADROOM + 2048);
      let compared = 0;
      for (let i = 0; i < inner.length; i++) {
        const fromN1 = Buffer.compare(inner[i]!.subarray(6, 12), mac1) === 0;
        const tx = fromN1 ? n1 : n2;
        const ip = inner[i]!.subarray(14);
        slot.set(ip, ENCAP_HEADROOM);
        const rc = tx.encap(slot, ENCAP_HEADROOM, ip.length, EncapLayer.Ethernet);
        expect(DROP_NAMES[rc], `frame ${i + 1}`).toBe('none');
        const got = Buffer.from(slot.subarray(tx.outOff, tx.outOff + tx.outLen));
        const want = underlay[i]!;
        expect(got.length, `frame ${i + 1}`).toBe(want.length);
        // mask the fields that may differ, then compare every other byte
        const masked = (b: Buffer) => {
          const c = Buffer.from(b);
          if (fam === 'v4') c.fill(0, 18, 20).fill(0, 24, 26); // IPv4 ID, header checksum
          c.fill(0, udpOff, udpOff + 2).fill(0, udpOff + 6, udpOff + 8); // UDP source port, checksum
          return c;
        };
        expect(masked(got).equals(masked(want)), `frame ${i + 1} differs outside ID/port/checksum`).toBe(true);
        const sport = got.readUInt16BE(udpOff);
        expect(sport).toBeGreaterThanOrEqual(32768);
        expect(sport).toBeLessThanOrEqual(60999);
        // flow key: inner addresses + protocol + ports (first 4 bytes of L4 when not a fragment)
        const iv6 = (ip[0]! >>> 4) === 6;
        const key = iv6
          ? ip.subarray(8, 40).toString('hex') + ip[6] + (ip[6] === 44 ? '' : ip.subarray(40, 44).toString('hex'))
          : ip.subarray(12, 20).toString('hex') + ip[9] + ((ip.readUInt16BE(6) & 0x3fff) !== 0 ? '' : ip.subarray(20, 24).toString('hex'));
        const prev = portOfFlow.get(key);
        if (prev !== undefined) expect(sport, `frame ${i + 1}: same flow, same port`).toBe(prev);
        portOfFlow.set(key, sport);
        // the peer accepts it: checksums (IPv4 header, UDP) verified by its strict decap
        const rx = fromN1 ? n2 : n1;
        expect(DROP_NAMES[rx.decapFrame(got, 0, got.length)], `frame ${i + 1}`).toBe('none');
        compared++;
      }
      expect(compared).toBe(inner.length);
      // different flows spread over the range: the UDP sizes are one flow, but pings/TCP/UDP differ
      expect(new Set(portOfFlow.values()).size).toBeGreaterThan(2);
    });

    it('DF packet over the edge: dropped with mtu-exceeded and an ICMP too-big reply with the right MTU', () => {
      // the DF echo exactly at the edge (1500 B outer) fits; one byte more does not
      const edge = inner.find((f) => f.length - 14 === (fam === 'v4' ? 1450 : 1430))!;
      expect(edge).toBeDefined();
      const ip = Buffer.alloc(edge.length - 14 + 1);
      edge.copy(ip, 0, 14);
      if (fam === 'v4') {
        ip.writeUInt16BE(ip.length, 2);
        ip.writeUInt16BE(0, 10);
        let s = 0;
        for (let k = 0; k < 20; k += 2) s += ip.readUInt16BE(k);
        while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
        ip.writeUInt16BE(~s & 0xffff, 10);
      } else {
        ip.writeUInt16BE(ip.length - 40, 4);
      }
      const slot = Buffer.alloc(ENCAP_HEADROOM + ip.length);
      ip.copy(slot, ENCAP_HEADROOM);
      const before = n1.drops[Drop.MtuExceeded]!;
      expect(n1.encap(slot, ENCAP_HEADROOM, ip.length, EncapLayer.Ethernet)).toBe(Drop.MtuExceeded);
      expect(n1.drops[Drop.MtuExceeded]).toBe(before + 1);
      expect(n1.icmpLen).toBeGreaterThan(0);
      const icmp = n1.icmpView.subarray(0, n1.icmpLen);
      if (fam === 'v4') {
        expect(icmp[9]).toBe(1);
        expect(icmp[20]).toBe(3);
        expect(icmp[21]).toBe(4);
        expect(icmp.readUInt16BE(26)).toBe(1450);
        expect(icmp.subarray(16, 20).equals(ip.subarray(12, 16))).toBe(true); // back to the sender
      } else {
        expect(icmp[6]).toBe(58);
        expect(icmp[40]).toBe(2);
        expect(icmp.readUInt32BE(44)).toBe(1430);
        expect(icmp.subarray(24, 40).equals(ip.subarray(8, 24))).toBe(true);
      }
    });
  });
}
