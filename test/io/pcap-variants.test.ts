import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';
import { locateL3, newL3Location } from '../../src/io/linktype.ts';
import { expected, readAll, sampleRecords, toHex } from './pcap-fixtures.ts';
import { ipOf, rawRecords, ticksOf, variantImages, VARIANTS_DIR } from './pcap-variants.ts';

const recs = sampleRecords();
const fixture = (name: string): string => path.resolve(VARIANTS_DIR, name);

describe('fixtures/pcap-variants', () => {
  it('hand-built files are byte-identical to what the test builders make today', () => {
    for (const [name, bytes] of Object.entries(variantImages())) {
      expect(toHex(fs.readFileSync(fixture(name))), name).toBe(toHex(bytes));
    }
  });

  it('every Ethernet variant reads as the same 17 packets (ns kept where the file has ns)', () => {
    const ns = ['eth-ns.pcap', 'eth-be-ns.pcap', 'eth-ns.pcapng'];
    const us = ['eth-us.pcap', 'eth-be-us.pcap', 'eth-us.pcapng', 'eth-mod.pcap'];
    for (const name of ns) expect(readAll(fixture(name)), name).toMatchObject({ records: expected(recs, false), tail: null, nanosecond: true });
    for (const name of us) expect(readAll(fixture(name)), name).toMatchObject({ records: expected(recs, true), tail: null, nanosecond: false });
  });

  it('be-mixed.pcapng: EPB at 2^-30 s, OPB at ms with if_tsoffset, SPB without timestamp', () => {
    const got = readAll(fixture('be-mixed.pcapng')).records;
    const e = expected(recs, false);
    const toNs = (t: bigint, u: bigint): [number, number] => [Number(t / u), Number(((t % u) * 1_000_000_000n) / u)];
    expect(got.map((g) => [g.interfaceId, g.tsSec, g.tsNsec, g.hex])).toEqual([
      ...recs.slice(0, 5).map((r, i) => [0, ...toNs(ticksOf(r, 1n << 30n), 1n << 30n), e[i]!.hex]),
      ...recs.slice(5, 9).map((r, i) => [1, r.tsSec, Math.floor(r.tsNsec / 1e6) * 1e6, e[5 + i]!.hex]),
      ...recs.slice(9, 12).map((_, i) => [0, 0, 0, e[9 + i]!.hex]),
    ]);
  });

  it('raw, SLL, SLL2 and the two-interface merge all lead locateL3 to the same IP packets', () => {
    const loc = newL3Location();
    const raw = rawRecords();
    const ipsOf = (name: string): { ips: string[]; ifs: string[] } => {
      const r = CaptureReader.open(fixture(name));
      const rec = newPcapRecord();
      const ips: string[] = [];
      const ifs: string[] = [];
      while (r.next(rec)) {
        expect(locateL3(rec.linkType, rec.buf, rec.off, rec.capLen, loc)).toBe(0);
        ips.push(toHex(rec.buf, loc.l3Off, rec.off + rec.capLen - loc.l3Off));
        ifs.push(`${rec.interfaceId}/${rec.linkType}/${rec.tsNsec}`);
      }
      expect(r.truncatedTail).toBeNull();
      r.close();
      return { ips, ifs };
    };
    const want = recs.map((r) => toHex(ipOf(r.data)));
    for (const name of ['eth-ns.pcap', 'raw-ns.pcap', 'sll.pcap', 'sll2.pcap']) expect(ipsOf(name).ips, name).toEqual(want);
    const merged = ipsOf('multi-if.pcapng');
    expect(merged.ips).toEqual(want.flatMap((w) => [w, w]));
    expect(merged.ifs).toEqual(recs.flatMap((r, i) => [`0/1/${r.tsNsec}`, `1/101/${raw[i]!.tsNsec}`]));
  });
});
