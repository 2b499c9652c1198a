/**
 * `vtep replay` on the committed kernel captures, through the real CLI, both ways and both families:
 * decap output equals the kernel's inner frames byte for byte (--expect and cmp), encap output equals the
 * kernel's underlay frames up to the kernel-variance fields, the round trip encap(n1) → decap(n2) gives the
 * inner frames back, --expect reports the first difference field by field (exit 3), and tshark reads every
 * output with no expert error.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fx, jsonOf, readCapture, tmpDir, tsharkCheckAll, vtep } from './helpers.ts';

const dir = tmpDir('kernel');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const out = (name: string) => path.join(dir, name);
const outputs: string[] = [];

const MAC_N1 = Buffer.from([2, 0, 0, 0, 0, 1]);

for (const fam of ['v4', 'v6'] as const) {
  describe(`kernel ${fam}`, () => {
    const k = (f: string) => fx(`kernel-${fam}`, f);
    const underlay = readCapture(k('underlay.pcap')).records;
    const inner = readCapture(k('flannel.pcap')).records;
    const toN1 = inner.map((r) => r.data.subarray(0, 6).equals(MAC_N1));
    const nToN1 = toN1.filter(Boolean).length;

    for (const node of ['n1', 'n2'] as const) {
      const mine = (i: number) => toN1[i] === (node === 'n1');

      it(`decap ${node}: exactly the inner frames the kernel delivered to ${node}`, () => {
        const o = out(`decap-${fam}-${node}.pcap`);
        const r = vtep(['replay', 'decap', '--config', k(`${node}.yaml`), '--in', k('underlay.pcap'), '--out', o, '--expect', k(`decap-${node}.pcap`), '--json']);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const s = jsonOf(r);
        const want = inner.filter((_, i) => mine(i));
        expect(Object.keys(s)).toEqual(['mode', 'packetsIn', 'packetsOut', 'bytesIn', 'bytesOut', 'drops', 'seconds']);
        expect(s.mode).toBe('decap');
        expect(s.packetsIn).toBe(underlay.length);
        expect(s.packetsOut).toBe(want.length);
        expect(s.bytesIn).toBe(underlay.reduce((a, x) => a + x.data.length, 0));
        expect(s.bytesOut).toBe(want.reduce((a, x) => a + x.data.length, 0));
        expect(s.drops).toEqual({ 'outer-dst-not-local': underlay.length - want.length });
        expect(s.seconds).toBeGreaterThan(0);
        // byte for byte the derived expectation (made from flannel.pcap, not by vtep)
        expect(fs.readFileSync(o).equals(fs.readFileSync(k(`decap-${node}.pcap`)))).toBe(true);
        // and frame for frame flannel.pcap, each stamped with its underlay frame's time
        const got = readCapture(o).records;
        const idx = underlay.flatMap((_, i) => (mine(i) ? [i] : []));
        got.forEach((g, j) => {
          expect(g.data.equals(inner[idx[j]!]!.data), `packet ${j + 1}`).toBe(true);
          expect([g.tsSec, g.tsNsec]).toEqual([underlay[idx[j]!]!.tsSec, underlay[idx[j]!]!.tsNsec]);
        });
        outputs.push(o);
      });

      it(`encap ${node}: the kernel's underlay frames from ${node}, up to the kernel-variance fields`, () => {
        const o = out(`encap-${fam}-${node}.pcap`);
        const args = ['replay', 'encap', '--config', k(`${node}.yaml`), '--in', k('flannel.pcap'), '--out', o, '--expect', k(`encap-${node}.pcap`)];
        const r = vtep([...args, '--ignore', 'kernel-variance', '--json']);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        const s = jsonOf(r);
        const sent = inner.filter((_, i) => !mine(i));
        expect(s.packetsIn).toBe(inner.length);
        expect(s.packetsOut).toBe(sent.length);
        expect(s.drops).toEqual({ 'dst-local-pod': inner.length - sent.length });
        // each output frame: the kernel frame's length, and the inner frame carried unchanged
        const got = readCapture(o).records;
        const kernel = readCapture(k(`encap-${node}.pcap`)).records;
        expect(got.length).toBe(kernel.length);
        const hdr = fam === 'v4' ? 14 + 20 + 16 : 14 + 40 + 16;
        got.forEach((g, j) => {
          expect(g.data.length).toBe(kernel[j]!.data.length);
          expect(g.data.subarray(hdr).equals(sent[j]!.data), `packet ${j + 1}`).toBe(true);
        });
        outputs.push(o);

        // without --ignore the flow-hash source port differs: exit 3 with a field table
        const strict = vtep(args);
        expect(strict.status).toBe(3);
        expect(strict.stderr).toMatch(/output packet 1 \(input record \d+\) differs from expected packet 1/);
        expect(strict.stderr).toMatch(/layer\s+field\s+expected\s+got/);
        expect(strict.stderr).toMatch(/\n\s+udp\s+udp\.srcport\s+\d+\s+\d+/);
      });
    }

    it('round trip: encap by n1, decap by n2 gives the inner frames the kernel carried', () => {
      const u = out(`rt-${fam}-u.pcap`);
      const p = out(`rt-${fam}-p.pcap`);
      expect(vtep(['replay', 'encap', '--config', k('n1.yaml'), '--in', k('flannel.pcap'), '--out', u]).status).toBe(0);
      const r = vtep(['replay', 'decap', '--config', k('n2.yaml'), '--in', u, '--out', p, '--json']);
      expect(r.status).toBe(0);
      expect(jsonOf(r).drops).toEqual({});
      const got = readCapture(p).records.map((x) => x.data.toString('hex'));
      const want = readCapture(k('decap-n2.pcap')).records.map((x) => x.data.toString('hex'));
      expect(got).toEqual(want);
    });

    it('--expect holding both directions: exit 3 at the first frame of the other direction, with a hint', () => {
      const r = vtep(['replay', 'decap', '--config', k('n1.yaml'), '--in', k('underlay.pcap'), '--out', out('mixed.pcap'), '--expect', k('flannel.pcap')]);
      expect(r.status).toBe(3);
      const first = toN1.indexOf(false) === 0 ? 1 : -1;
      expect(first).toBe(1); // flannel.pcap starts with a frame node1 sends
      expect(r.stderr).toMatch(/output packet 1 \(input record \d+\) differs from expected packet 1 \(record 1\)/);
      expect(r.stderr).toMatch(/\n\s+eth\s+eth\.dst\s+02:00:00:00:00:02\s+02:00:00:00:00:01/);
      expect(r.stderr).toMatch(/hint: the expected frame is addressed to VTEP MAC 02:00:00:00:00:02, not this node's/);
      // the output itself is still complete
      expect(readCapture(out('mixed.pcap')).records.length).toBe(nToN1);
    });

    it('encap of pod.pcap: the over-the-edge DF packet is dropped as mtu-exceeded and its ICMP reply written', () => {
      const icmp = out(`icmp-${fam}.pcap`);
      const r = vtep(['replay', 'encap', '--config', k('n1.yaml'), '--in', k('pod.pcap'), '--out', out(`pod-${fam}.pcap`), '--icmp-out', icmp]);
      expect(r.status).toBe(0);
      expect(r.stderr).toMatch(/mtu-exceeded\s+1\s/);
      expect(r.stderr).toContain(`ICMP too-big replies built for the senders: 1 (written to ${icmp})`);
      const pod = readCapture(k('pod.pcap')).records;
      const edge = pod[pod.length - 2]!.data.subarray(14); // the echo one byte over the edge
      const kernelIcmp = pod[pod.length - 1]!.data.subarray(14); // node1's own ICMP error for it
      const c = readCapture(icmp);
      expect(c.records.length).toBe(1);
      expect(c.records[0]!.linkType).toBe(101);
      const ours = c.records[0]!.data;
      if (fam === 'v4') {
        // type 3 code 4, next-hop MTU 1450, to the sender, quoting the start of the packet (as the kernel)
        expect([ours[20], ours[21], ours.readUInt16BE(26)]).toEqual([3, 4, 1450]);
        expect([kernelIcmp[20], kernelIcmp[21], kernelIcmp.readUInt16BE(26)]).toEqual([3, 4, 1450]);
        expect(ours.subarray(16, 20).equals(edge.subarray(12, 16))).toBe(true);
        expect(ours.subarray(28, 48).equals(edge.subarray(0, 20))).toBe(true);
      } else {
        expect([ours[40], ours[41], ours.readUInt32BE(44)]).toEqual([2, 0, 1430]);
        expect([kernelIcmp[40], kernelIcmp[41], kernelIcmp.readUInt32BE(44)]).toEqual([2, 0, 1430]);
        expect(ours.subarray(24, 40).equals(edge.subarray(8, 24))).toBe(true);
        expect(ours.subarray(48, 88).equals(edge.subarray(0, 40))).toBe(true);
      }
      outputs.push(icmp);
    });
  });
}

it('tshark reads every output with no expert error (checksums checked)', () => {
  expect(outputs.length).toBeGreaterThanOrEqual(10);
  const t = tsharkCheckAll(outputs, dir);
  expect(t.errors).toEqual({});
  expect(t.frames).toBe(outputs.reduce((a, o) => a + readCapture(o).records.length, 0));
});
