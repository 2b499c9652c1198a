import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, locateL3, newL3Location } from '../../src/io/linktype.ts';
import { VtepError } from '../../src/util/errors.ts';
import {
  classicPcap,
  ethernet,
  expected,
  framesOf,
  ipv4Udp,
  ipv6Udp,
  pcapng,
  readAll,
  run,
  sampleRecords,
  skippableBlocks,
  tmpDir,
  toHex,
  tsharkFrames,
  type NgBlock,
  type TestRecord,
} from './pcap-fixtures.ts';
import { ticksOf } from './pcap-variants.ts';

let dir: string;
const recs = sampleRecords();
const file = (name: string): string => path.join(dir, name);
const write = (name: string, bytes: Uint8Array): string => {
  fs.writeFileSync(file(name), bytes);
  return file(name);
};

/** The ns value ticks at `unitsPerSec` read back as (truncated). */
function nsOfTicks(t: bigint, unitsPerSec: bigint): { tsSec: number; tsNsec: number } {
  return { tsSec: Number(t / unitsPerSec), tsNsec: Number(((t % unitsPerSec) * 1_000_000_000n) / unitsPerSec) };
}
function epbs(records: TestRecord[], unitsPerSec: bigint, interfaceId = 0): NgBlock[] {
  return records.map((r) => ({ kind: 'epb', interfaceId, ticks: ticksOf(r, unitsPerSec), data: r.data, origLen: r.origLen }));
}

beforeAll(() => {
  dir = tmpDir('pcap-reader');
  // Reference: little-endian nanosecond classic pcap written by the test's own builder.
  write('ref-ns.pcap', classicPcap(recs, { nsec: true }));
  run('editcap', ['-F', 'nsecpcap', file('ref-ns.pcap'), file('editcap-ns.pcap')]);
  run('editcap', ['-F', 'pcap', file('ref-ns.pcap'), file('editcap-us.pcap')]);
  run('editcap', ['-F', 'pcapng', file('ref-ns.pcap'), file('editcap-ns.pcapng')]);
  run('editcap', ['-F', 'pcapng', file('editcap-us.pcap'), file('editcap-us.pcapng')]);
  run('editcap', ['-F', 'modpcap', file('ref-ns.pcap'), file('editcap-mod.pcap')]);
  write('be-us.pcap', classicPcap(recs, { le: false }));
  write('be-ns.pcap', classicPcap(recs, { le: false, nsec: true }));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('CaptureReader: every variant yields the same packets and timestamps', () => {
  const nsVariants: [string, 'pcap' | 'pcapng'][] = [
    ['ref-ns.pcap', 'pcap'],
    ['editcap-ns.pcap', 'pcap'],
    ['be-ns.pcap', 'pcap'],
    ['editcap-ns.pcapng', 'pcapng'],
  ];
  const usVariants: [string, 'pcap' | 'pcapng'][] = [
    ['editcap-us.pcap', 'pcap'],
    ['be-us.pcap', 'pcap'],
    ['editcap-us.pcapng', 'pcapng'],
    ['editcap-mod.pcap', 'pcap'],
  ];
  for (const [name, format] of nsVariants) {
    it(`${name}: ns timestamps kept, bytes identical, tshark agrees`, () => {
      const got = readAll(file(name));
      expect(got.format).toBe(format);
      expect(got.nanosecond).toBe(true);
      expect(got.tail).toBeNull();
      expect(got.records).toEqual(expected(recs, false));
      expect(framesOf(got.records)).toEqual(tsharkFrames(file(name)));
    });
  }
  for (const [name, format] of usVariants) {
    it(`${name}: µs timestamps, bytes identical, tshark agrees`, () => {
      const got = readAll(file(name));
      expect(got.format).toBe(format);
      expect(got.nanosecond).toBe(false);
      expect(got.tail).toBeNull();
      expect(got.records).toEqual(expected(recs, true));
      expect(framesOf(got.records)).toEqual(tsharkFrames(file(name)));
    });
  }

  it('the editcap variants really differ on disk (magic, byte order, block structure)', () => {
    const heads = ['ref-ns.pcap', 'editcap-us.pcap', 'be-us.pcap', 'be-ns.pcap', 'editcap-ns.pcapng', 'editcap-mod.pcap'].map((n) =>
      fs.readFileSync(file(n)).subarray(0, 4).toString('hex'),
    );
    expect(heads).toEqual(['4d3cb2a1', 'd4c3b2a1', 'a1b2c3d4', 'a1b23c4d', '0a0d0d0a', '34cdb2a1']);
  });

  it('a reader can be reused for the whole file with a tiny buffer (refills and growth at every boundary)', () => {
    for (const size of [64, 100, 129, 1000]) {
      for (const name of ['ref-ns.pcap', 'be-us.pcap', 'editcap-ns.pcapng', 'editcap-mod.pcap']) {
        const small = readAll(file(name), { bufferSize: size });
        expect(small.records).toEqual(readAll(file(name)).records);
      }
    }
  });

  it('records, byteOffset and recordIndex advance record by record; views alias one reused buffer', () => {
    const r = CaptureReader.open(file('ref-ns.pcap'));
    const rec = newPcapRecord();
    expect(r.linkType).toBe(LINKTYPE_ETHERNET);
    expect(r.snaplen).toBe(262144);
    let expectOff = 24;
    let firstBuf: Uint8Array | null = null;
    for (let i = 0; i < recs.length; i++) {
      expect(r.byteOffset).toBe(expectOff);
      expect(r.next(rec)).toBe(true);
      expect(r.recordIndex).toBe(i + 1);
      firstBuf ??= rec.buf;
      expect(rec.buf).toBe(firstBuf);
      expectOff += 16 + recs[i]!.data.length;
    }
    expect(r.next(rec)).toBe(false);
    expect(r.next(rec)).toBe(false);
    expect(r.byteOffset).toBe(r.fileSize);
    r.close();
    r.close();
  });
});

describe('CaptureReader: pcapng blocks', () => {
  it('big-endian section, if_tsresol 2^-30 and 10^-3, if_tsoffset, SPB, OPB, skipped NRB/ISB/DSB/local blocks', () => {
    const a = recs.slice(0, 5);
    const b = recs.slice(5, 9);
    const c = recs.slice(9, 12);
    const img = pcapng([
      {
        le: false,
        interfaces: [
          { linkType: 1, snaplen: 0, tsresol: 0x80 | 30, name: 'eth0' },
          { linkType: 1, snaplen: 65535, tsresol: 3, tsoffset: 1000 },
        ],
        blocks: [
          ...skippableBlocks(false),
          ...epbs(a, 1n << 30n, 0),
          ...b.map((r): NgBlock => ({ kind: 'opb', interfaceId: 1, ticks: ticksOf(r, 1000n) - 1_000_000n, data: r.data })),
          ...c.map((r): NgBlock => ({ kind: 'spb', data: r.data })),
          { kind: 'epb', interfaceId: 0, ticks: 5n, data: recs[0]!.data, comment: 'an EPB with options' },
        ],
      },
    ]);
    const f = write('be-mixed.pcapng', img);
    const got = readAll(f);
    expect(got.nanosecond).toBe(true); // 2^-30 s is finer than 1 µs
    const want = [
      ...a.map((r) => ({ ...expected([r], false)[0]!, ...nsOfTicks(ticksOf(r, 1n << 30n), 1n << 30n) })),
      ...b.map((r) => ({ ...expected([r], false)[0]!, interfaceId: 1, tsSec: r.tsSec, tsNsec: Math.floor(r.tsNsec / 1e6) * 1e6 })),
      ...c.map((r) => ({ ...expected([r], false)[0]!, tsSec: 0, tsNsec: 0 })),
      { ...expected([recs[0]!], false)[0]!, tsSec: 0, tsNsec: Math.floor((5 * 1e9) / 2 ** 30) },
    ];
    expect(got.records).toEqual(want);
    // tshark reads the same file (our builder is valid pcapng) and sees the same lengths and interfaces.
    const ts = tsharkFrames(f).map((l) => l.split(' ').slice(1).join(' '));
    expect(framesOf(got.records).map((l) => l.split(' ').slice(1).join(' '))).toEqual(ts);
  });

  it('SPB captured length = min(original length, snaplen of IDB 0), padding not included', () => {
    const r = recs[4]!; // 1400 + 42 bytes
    // 98 bytes kept (snaplen), padded to 100 in the block
    const f = write('spb-snap.pcapng', pcapng([{ le: true, interfaces: [{ linkType: 1, snaplen: 98 }], blocks: [{ kind: 'spb', data: r.data.subarray(0, 98), origLen: r.data.length }] }]));
    const got = readAll(f).records;
    expect(got).toHaveLength(1);
    expect(got[0]!.capLen).toBe(98);
    expect(got[0]!.origLen).toBe(r.data.length);
    expect(got[0]!.hex).toBe(toHex(r.data.subarray(0, 98)));
    // And a short packet (origLen 61 < snaplen): 61 bytes, not the 64 of its padded body.
    const g = write('spb-short.pcapng', pcapng([{ le: true, interfaces: [{ linkType: 1, snaplen: 98 }], blocks: [{ kind: 'spb', data: recs[3]!.data.subarray(0, 61) }] }]));
    expect(readAll(g).records.map((x) => x.capLen)).toEqual([61]);
  });

  it('several sections with different byte orders: interface ids restart per section', () => {
    const img = pcapng([
      { le: true, interfaces: [{ linkType: 1, tsresol: 9 }], blocks: epbs(recs.slice(0, 3), 1_000_000_000n) },
      { le: false, interfaces: [{ linkType: 101 }, { linkType: 1, tsresol: 9 }], blocks: [...epbs(recs.slice(3, 5), 1_000_000_000n, 1), ...skippableBlocks(false)] },
      { le: true, interfaces: [{ linkType: 1, tsresol: 6 }], blocks: epbs(recs.slice(5, 7), 1_000_000n) },
    ]);
    const f = write('sections.pcapng', img);
    const r = CaptureReader.open(f);
    const rec = newPcapRecord();
    const seen: string[] = [];
    while (r.next(rec)) seen.push(`${r.sectionCount}/${rec.interfaceId}/${rec.linkType}/${rec.tsNsec}`);
    r.close();
    const ns = (i: number): number => recs[i]!.tsNsec;
    const us = (i: number): number => Math.floor(recs[i]!.tsNsec / 1000) * 1000;
    expect(seen).toEqual([`1/0/1/${ns(0)}`, `1/0/1/${ns(1)}`, `1/0/1/${ns(2)}`, `2/1/1/${ns(3)}`, `2/1/1/${ns(4)}`, `3/0/1/${us(5)}`, `3/0/1/${us(6)}`]);
    expect(tsharkFrames(f)).toHaveLength(7);
  });

  it('if_tsresol beyond 2^-32 / 10^-9 (picoseconds) is converted exactly (truncated to ns)', () => {
    // 64-bit ticks of 1 ps last 213 days from the epoch (2^-40 s: 194 days): use small second counts.
    const rs = recs.slice(0, 2).map((r, i) => ({ ...r, tsSec: 1000 + i * 7_654_321 }));
    const ps = 1_000_000_000_000n;
    const img = pcapng([{ le: true, interfaces: [{ linkType: 1, tsresol: 12 }, { linkType: 1, tsresol: 0x80 | 40 }], blocks: [...epbs(rs, ps, 0), ...epbs(rs, 1n << 40n, 1)] }]);
    const got = readAll(write('ps.pcapng', img));
    expect(got.nanosecond).toBe(true);
    expect(got.records.map((r) => [r.tsSec, r.tsNsec])).toEqual([
      [rs[0]!.tsSec, rs[0]!.tsNsec],
      [rs[1]!.tsSec, rs[1]!.tsNsec],
      ...[0, 1].map((i) => Object.values(nsOfTicks(ticksOf(rs[i]!, 1n << 40n), 1n << 40n))),
    ]);
  });

  it('multi-interface file from mergecap: Ethernet and raw-IP interfaces, locateL3 finds the same IP packets', () => {
    const ips = [ipv4Udp(1, 10), ipv6Udp(2, 20), ipv4Udp(3, 30), ipv6Udp(4, 40)];
    const eth: TestRecord[] = ips.map((ip, i) => ({ tsSec: 1_700_000_000, tsNsec: i * 2000, data: ethernet(ip) }));
    const raw: TestRecord[] = ips.map((ip, i) => ({ tsSec: 1_700_000_000, tsNsec: i * 2000 + 1000, data: ip }));
    write('m-eth.pcap', classicPcap(eth, { linkType: LINKTYPE_ETHERNET }));
    write('m-raw.pcap', classicPcap(raw, { linkType: LINKTYPE_RAW }));
    run('mergecap', ['-F', 'pcapng', '-w', file('merged.pcapng'), file('m-eth.pcap'), file('m-raw.pcap')]);
    const got = readAll(file('merged.pcapng')).records;
    expect(got.map((r) => `${r.interfaceId}:${r.linkType}:${r.tsNsec}`)).toEqual(
      [0, 1, 2, 3].flatMap((i) => [`0:1:${i * 2000}`, `1:101:${i * 2000 + 1000}`]),
    );
    const loc = newL3Location();
    const r = CaptureReader.open(file('merged.pcapng'));
    const rec = newPcapRecord();
    let n = 0;
    while (r.next(rec)) {
      expect(locateL3(rec.linkType, rec.buf, rec.off, rec.capLen, loc)).toBe(0);
      const ip = ips[n >> 1]!;
      expect(loc.etherType).toBe((ip[0]! >> 4) === 4 ? 0x0800 : 0x86dd);
      expect(toHex(rec.buf, loc.l3Off, rec.off + rec.capLen - loc.l3Off)).toBe(toHex(ip));
      n++;
    }
    r.close();
    expect(n).toBe(8);
  });
});

describe('CaptureReader: corrupt, empty and truncated input', () => {
  const expectCapture = (f: () => unknown, re: RegExp): void => {
    let err: unknown;
    try {
      f();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(VtepError);
    expect((err as VtepError).code).toBe('CAPTURE');
    expect((err as VtepError).message).toMatch(re);
  };

  it('empty file, short file, bad magic, bad version name the file', () => {
    expectCapture(() => CaptureReader.open(write('empty.pcap', new Uint8Array(0))), /empty\.pcap: empty file/);
    expectCapture(() => CaptureReader.open(write('short.pcap', new Uint8Array([0xd4, 0xc3]))), /short\.pcap: 2 bytes is too short/);
    expectCapture(() => CaptureReader.open(write('hdr.pcap', classicPcap([]).subarray(0, 20))), /hdr\.pcap: truncated pcap file header/);
    expectCapture(() => CaptureReader.open(write('magic.pcap', new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n........'))), /magic\.pcap: not a pcap or pcapng file \(magic 0x47455420\)/);
    const v = classicPcap(recs.slice(0, 1));
    v[4] = 3;
    expectCapture(() => CaptureReader.open(write('ver.pcap', v)), /ver\.pcap: unsupported pcap version 3\.4/);
    expect(() => CaptureReader.open(file('does-not-exist.pcap'))).toThrow(/does-not-exist\.pcap: cannot open capture/);
  });

  it('a header-only file has no records and no truncated tail', () => {
    expect(readAll(write('hdronly.pcap', classicPcap([])))).toMatchObject({ records: [], tail: null });
    expect(readAll(write('hdronly.pcapng', pcapng([{ le: true, interfaces: [], blocks: [] }])))).toMatchObject({ records: [], tail: null });
  });

  it('capLen beyond snaplen and the 256 KiB floor: record number and byte offset in the message', () => {
    const img = classicPcap(recs.slice(0, 3), { snaplen: 65535 });
    const off = 24 + 16 + recs[0]!.data.length + 16 + recs[1]!.data.length;
    new DataView(img.buffer).setUint32(off + 8, 300000, true);
    expectCapture(() => readAll(write('caplen.pcap', img)), new RegExp(`caplen\\.pcap: record 3 at byte ${off}: capLen 300000 exceeds snaplen 65535`));
    // Between snaplen and the floor is accepted (libpcap does too) — here a truncated tail, since the bytes are missing.
    new DataView(img.buffer).setUint32(off + 8, 70000, true);
    const got = readAll(write('caplen2.pcap', img));
    expect(got.records).toHaveLength(2);
    expect(got.tail).toEqual({ recordIndex: 2, byteOffset: off, missingBytes: 70000 + 16 - (img.length - off) });
  });

  it('pcapng: bad block lengths, trailer mismatch, unknown interface, packet before IDB, bad byte-order magic', () => {
    const good = (): Uint8Array => pcapng([{ le: true, interfaces: [{ linkType: 1 }], blocks: epbs(recs.slice(0, 3), 1_000_000n) }]);
    const shbLen = new DataView(good().buffer).getUint32(4, true);
    const idbLen = new DataView(good().buffer).getUint32(shbLen + 4, true);
    const epb0 = shbLen + idbLen;
    const epb1 = epb0 + new DataView(good().buffer).getUint32(epb0 + 4, true);
    const patch = (off: number, v: number, bytes = 4): Uint8Array => {
      const g = good();
      const dv = new DataView(g.buffer);
      if (bytes === 4) dv.setUint32(off, v, true);
      else dv.setUint16(off, v, true);
      return g;
    };
    expectCapture(() => readAll(write('bl1.pcapng', patch(epb1 + 4, 13))), new RegExp(`bl1\\.pcapng: block 0x00000006 at byte ${epb1}: bad block length 13`));
    expectCapture(() => readAll(write('bl2.pcapng', patch(epb1 + 4, 8))), /bad block length 8/);
    expectCapture(() => readAll(write('bl3.pcapng', patch(epb1 + 4, 0x7ffffff0))), new RegExp(`record 2 at byte ${epb1}: block length 2147483632 exceeds the limit`));
    expectCapture(() => readAll(write('tr.pcapng', patch(epb1 - 4, 999))), new RegExp(`record 1 at byte ${epb0}: trailing block length 999 differs`));
    expectCapture(() => readAll(write('if.pcapng', patch(epb1 + 8, 7))), new RegExp(`record 2 at byte ${epb1}: interface 7 not described \\(section has 1\\)`));
    expectCapture(() => readAll(write('cl.pcapng', patch(epb1 + 20, 5000))), /record 2 at byte \d+: capLen 5000 exceeds the block/);
    expectCapture(() => readAll(write('bom.pcapng', patch(8, 0x11223344))), /bom\.pcapng: block 0x0a0d0d0a at byte 0: bad byte-order magic/);
    expectCapture(() => readAll(write('ver.pcapng', patch(12, 2, 2))), /unsupported pcapng version 2\.0/);
    const noIdb = pcapng([{ le: true, interfaces: [], blocks: epbs(recs.slice(0, 1), 1_000_000n) }]);
    expectCapture(() => readAll(write('noidb.pcapng', noIdb)), /record 1 at byte \d+: interface 0 not described \(section has 0\)/);
    const spbNoIdb = pcapng([{ le: true, interfaces: [], blocks: [{ kind: 'spb', data: recs[0]!.data }] }]);
    expectCapture(() => readAll(write('spb0.pcapng', spbNoIdb)), /simple packet block before any interface/);
    // The error is thrown while reading record 2: record 1 was delivered intact before it.
    const r = CaptureReader.open(file('if.pcapng'));
    const rec = newPcapRecord();
    expect(r.next(rec)).toBe(true);
    expect(toHex(rec.buf, rec.off, rec.capLen)).toBe(toHex(recs[0]!.data));
    expect(() => r.next(rec)).toThrow(VtepError);
    r.close();
  });

  const cutEverywhere = (name: string, img: Uint8Array, lastStart: number, all: ReturnType<typeof readAll>['records'], bufferSize?: number): void => {
    for (let cut = lastStart + 1; cut < img.length; cut++) {
      const got = readAll(write(name, img.subarray(0, cut)), bufferSize === undefined ? undefined : { bufferSize });
      expect(got.records).toEqual(all.slice(0, -1));
      expect(got.tail).not.toBeNull();
      expect(got.tail!.recordIndex).toBe(all.length - 1);
      expect(got.tail!.byteOffset).toBe(lastStart);
      expect(got.tail!.missingBytes).toBeGreaterThan(0);
      expect(got.tail!.missingBytes).toBeLessThanOrEqual(img.length - cut);
    }
    // And the intact file: everything, no tail.
    expect(readAll(write(name, img))).toMatchObject({ records: all, tail: null });
  };

  it('classic pcap cut at every byte of the last record: earlier records intact, tail reported', () => {
    const img = classicPcap(recs.slice(0, 6), { nsec: true });
    const all = readAll(write('cut.pcap', img)).records;
    const lastStart = img.length - 16 - recs[5]!.data.length;
    cutEverywhere('cut.pcap', img, lastStart, all);
    cutEverywhere('cut.pcap', img, lastStart, all, 64);
    // Exact missing count once the record header is complete.
    const got = readAll(write('cut.pcap', img.subarray(0, img.length - 3)));
    expect(got.tail).toEqual({ recordIndex: 5, byteOffset: lastStart, missingBytes: 3 });
  });

  it('pcapng cut at every byte of the last block (EPB and SPB), also with a tiny buffer', () => {
    for (const last of ['epb', 'spb'] as const) {
      const blocks: NgBlock[] = [...epbs(recs.slice(0, 4), 1_000_000_000n)];
      blocks.push(last === 'epb' ? epbs(recs.slice(4, 5), 1_000_000_000n)[0]! : { kind: 'spb', data: recs[4]!.data });
      const img = pcapng([{ le: false, interfaces: [{ linkType: 1, tsresol: 9 }], blocks }]);
      const all = readAll(write('cut.pcapng', img)).records;
      expect(all).toHaveLength(5);
      const lastLen = new DataView(img.buffer).getUint32(img.length - 4, false);
      cutEverywhere('cut.pcapng', img, img.length - lastLen, all);
      cutEverywhere('cut.pcapng', img, img.length - lastLen, all, 64);
    }
  });

  it('pcapng cut inside a trailing skippable block: every packet delivered, tail reported at that block', () => {
    const img = pcapng([{ le: true, interfaces: [{ linkType: 1 }], blocks: [...epbs(recs.slice(0, 2), 1_000_000n), skippableBlocks(true)[0]!] }]);
    const nrbLen = new DataView(img.buffer).getUint32(img.length - 4, true);
    const got = readAll(write('cutnrb.pcapng', img.subarray(0, img.length - 5)));
    expect(got.records).toEqual(expected(recs.slice(0, 2), true));
    expect(got.tail).toEqual({ recordIndex: 2, byteOffset: img.length - nrbLen, missingBytes: 5 });
  });
});

describe('CaptureReader: buffers', () => {
  it('a record larger than the read buffer (jumbo 9000 B, 200 KiB) is delivered whole', () => {
    const jumbo = ethernet(ipv4Udp(7, 9000 - 28));
    const huge = ethernet(ipv6Udp(8, 200 * 1024));
    const rs: TestRecord[] = [recs[0]!, { tsSec: 1, tsNsec: 2, data: jumbo }, recs[1]!, { tsSec: 3, tsNsec: 4, data: huge }, recs[2]!];
    for (const img of [classicPcap(rs, { nsec: true }), pcapng([{ le: true, interfaces: [{ linkType: 1, tsresol: 9 }], blocks: epbs(rs, 1_000_000_000n) }])]) {
      const f = write('jumbo.cap', img);
      expect(readAll(f, { bufferSize: 4096 }).records).toEqual(expected(rs, false));
    }
  });

  it('a skippable block larger than the buffer is jumped over (trailer still checked)', () => {
    const big: NgBlock = { kind: 'raw', type: 0x80000001, body: new Uint8Array(100_000) };
    const img = pcapng([{ le: true, interfaces: [{ linkType: 1 }], blocks: [...epbs(recs.slice(0, 2), 1_000_000n), big, ...epbs(recs.slice(2, 4), 1_000_000n)] }]);
    expect(readAll(write('bigskip.pcapng', img), { bufferSize: 256 }).records).toEqual(expected(recs.slice(0, 4), true));
    // Corrupt its trailer: detected through the small side read, not by buffering the block.
    const dv = new DataView(img.buffer);
    let p = 0;
    while (dv.getUint32(p, true) !== 0x80000001) p += dv.getUint32(p + 4, true);
    const len = dv.getUint32(p + 4, true);
    dv.setUint32(p + len - 4, len + 4, true);
    expect(() => readAll(write('bigskip2.pcapng', img), { bufferSize: 256 })).toThrow(
      new RegExp(`block 0x80000001 at byte ${p}: trailing block length ${len + 4} differs from ${len}`),
    );
  });

  it('random record sets, formats and buffer sizes read back exactly (fast-check)', () => {
    const recArb = fc.record({
      tsSec: fc.integer({ min: 0, max: 0xffffffff }),
      tsNsec: fc.integer({ min: 0, max: 999_999_999 }),
      data: fc.uint8Array({ minLength: 0, maxLength: 3000 }),
    });
    fc.assert(
      fc.property(
        fc.array(recArb, { maxLength: 20 }),
        fc.constantFrom('le-ns', 'be-us', 'mod', 'ng-le', 'ng-be'),
        fc.integer({ min: 64, max: 5000 }),
        (rs, kind, bufferSize) => {
          const img =
            kind === 'le-ns' ? classicPcap(rs, { nsec: true })
            : kind === 'be-us' ? classicPcap(rs, { le: false })
            : kind === 'mod' ? classicPcap(rs, { modified: true })
            : pcapng([{ le: kind === 'ng-le', interfaces: [{ linkType: 1, tsresol: 9 }], blocks: epbs(rs, 1_000_000_000n) }]);
          const got = readAll(write('prop.cap', img), { bufferSize });
          expect(got.tail).toBeNull();
          expect(got.records).toEqual(expected(rs, kind === 'be-us' || kind === 'mod'));
        },
      ),
      { numRuns: 150 },
    );
  });
});
