import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';
import { PcapWriter } from '../../src/io/pcap-writer.ts';
import { pcapng, readAll, run, sampleRecords, tmpDir, type NgBlock } from './pcap-fixtures.ts';

const N = 200_000;
const LEN = 1000;
let dir: string;
let file: string;

beforeAll(() => {
  dir = tmpDir('pcap-large');
  file = path.join(dir, 'large.pcap');
  // 200k records × 1000 B ≈ 203 MB, streamed out through the writer (its buffer is the only memory used).
  const w = PcapWriter.open(file, 1, true);
  const frame = new Uint8Array(LEN);
  for (let i = 0; i < N; i++) {
    frame[0] = i & 255;
    frame[1] = (i >>> 8) & 255;
    frame[2] = (i >>> 16) & 255;
    frame[LEN - 1] = (i * 7) & 255;
    w.write(frame, 0, LEN, 1_700_000_000 + Math.floor(i / 1000), (i % 1000) * 1_000_000 + (i % 997));
  }
  w.close();
}, 120_000);

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('large capture', () => {
  it('200k records: every record read in order while RSS grows far less than the file size', () => {
    const size = fs.statSync(file).size;
    expect(size).toBe(24 + N * (16 + LEN));
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const r = CaptureReader.open(file);
    const rec = newPcapRecord();
    let n = 0;
    let bad = 0;
    while (r.next(rec)) {
      const b = rec.buf;
      const o = rec.off;
      const id = b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16);
      if (id !== n || b[o + LEN - 1] !== ((n * 7) & 255) || rec.capLen !== LEN || rec.tsNsec !== (n % 1000) * 1_000_000 + (n % 997)) bad++;
      n++;
      if ((n & 8191) === 0) rssMax = Math.max(rssMax, process.memoryUsage().rss);
    }
    expect(r.truncatedTail).toBeNull();
    expect(r.byteOffset).toBe(size);
    r.close();
    rssMax = Math.max(rssMax, process.memoryUsage().rss);
    expect(n).toBe(N);
    expect(bad).toBe(0);
    const delta = rssMax - rss0;
    console.log(`large.pcap ${(size / 1e6).toFixed(0)} MB: RSS +${(delta / 1e6).toFixed(1)} MB while reading`);
    // The 8 MiB read buffer plus noise; a reader holding the file would add ~200 MB.
    expect(delta).toBeLessThan(size / 8);
  });

  it('capinfos counts the same records in the writer-made file', () => {
    const out = run('capinfos', ['-M', '-c', file]);
    expect(out).toMatch(new RegExp(`Number of packets:\\s+${N}\\b`));
  });

  it('offsets beyond 4 GiB: a sparse pcapng with two 2.5 GB skippable blocks before the last packets', () => {
    const recs = sampleRecords().slice(0, 3);
    const epb = (i: number): NgBlock => ({ kind: 'epb', interfaceId: 0, ticks: BigInt(recs[i]!.tsSec) * 1_000_000n, data: recs[i]!.data });
    const head = pcapng([{ le: true, interfaces: [{ linkType: 1 }], blocks: [epb(0)] }]);
    const tail1 = pcapng([{ le: true, interfaces: [{ linkType: 1 }], blocks: [epb(1)] }]);
    const tail2 = pcapng([{ le: true, interfaces: [{ linkType: 1 }], blocks: [epb(2)] }]);
    // The last block (the EPB) of the second and third image, without their SHB and IDB.
    const epbOf = (img: Uint8Array): Uint8Array => img.subarray(img.length - new DataView(img.buffer, img.byteOffset).getUint32(img.length - 4, true));
    const bigLen = 2_500_000_000; // multiple of 4; body is a hole
    const f = path.join(dir, 'sparse.pcapng');
    const fd = fs.openSync(f, 'w');
    let at = 0;
    const put = (b: Uint8Array): void => {
      fs.writeSync(fd, b, 0, b.length, at);
      at += b.length;
    };
    const bigBlock = (): void => {
      const h = Buffer.alloc(8);
      h.writeUInt32LE(0x80000bad, 0);
      h.writeUInt32LE(bigLen, 4);
      const t = Buffer.alloc(4);
      t.writeUInt32LE(bigLen, 0);
      fs.writeSync(fd, h, 0, 8, at);
      fs.writeSync(fd, t, 0, 4, at + bigLen - 4);
      at += bigLen;
    };
    put(head);
    bigBlock();
    put(epbOf(tail1));
    bigBlock();
    const lastOff = at;
    put(epbOf(tail2));
    fs.closeSync(fd);
    expect(fs.statSync(f).size).toBe(at);
    expect(at).toBeGreaterThan(2 ** 32);
    const r = CaptureReader.open(f);
    const rec = newPcapRecord();
    const seen: number[] = [];
    let offBeforeLast = -1;
    for (;;) {
      const before = r.byteOffset;
      if (!r.next(rec)) break;
      seen.push(rec.capLen);
      if (seen.length === 3) offBeforeLast = before;
    }
    expect(seen).toEqual(recs.map((x) => x.data.length));
    expect(offBeforeLast).toBeGreaterThan(2 ** 31); // the reader had already skipped to the last block
    expect(r.byteOffset).toBe(at);
    expect(lastOff).toBeGreaterThan(2 ** 32);
    r.close();
    // Cut inside the second big block: the tail is reported at its offset, above 2^32.
    fs.truncateSync(f, lastOff - 1000);
    const cut = readAll(f);
    expect(cut.records).toHaveLength(2);
    expect(cut.tail).toEqual({ recordIndex: 2, byteOffset: lastOff - bigLen, missingBytes: 1000 });
  });
});
