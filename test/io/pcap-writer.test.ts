import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CaptureReader, newPcapRecord } from '../../src/io/pcap-reader.ts';
import { PcapWriter } from '../../src/io/pcap-writer.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW } from '../../src/io/linktype.ts';
import { VtepError } from '../../src/util/errors.ts';
import { classicPcap, expected, framesOf, readAll, run, sampleRecords, tmpDir, toHex, tsharkFrames, type TestRecord } from './pcap-fixtures.ts';

let dir: string;
const recs = sampleRecords();
const file = (name: string): string => path.join(dir, name);

/** Write records, each from its own odd offset inside a larger buffer (Buffer and Uint8Array sources alternate). */
function writeAll(w: PcapWriter, rs: TestRecord[]): void {
  rs.forEach((r, i) => {
    const pad = 3 + (i % 5);
    const src = i % 2 === 0 ? new Uint8Array(pad + r.data.length + 9) : Buffer.alloc(pad + r.data.length + 9);
    src.set(r.data, pad);
    w.write(src, pad, r.data.length, r.tsSec, r.tsNsec, r.origLen ?? r.data.length);
  });
}

function capinfos(f: string): Record<string, string> {
  const out = run('capinfos', ['-M', f]);
  const kv: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /^([^:]+):\s+(.*)$/.exec(line);
    if (m) kv[m[1]!.trim()] = m[2]!.trim();
  }
  return kv;
}

beforeAll(() => {
  dir = tmpDir('pcap-writer');
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('PcapWriter', () => {
  for (const nsec of [true, false]) {
    const unit = nsec ? 'ns' : 'µs';
    it(`${unit}: byte-identical to the reference builder, read back by the reader, tshark and capinfos`, () => {
      const f = file(`w-${nsec ? 'ns' : 'us'}.pcap`);
      const w = PcapWriter.open(f, LINKTYPE_ETHERNET, nsec);
      writeAll(w, recs);
      w.close();
      const bytes = fs.readFileSync(f);
      expect(toHex(bytes)).toBe(toHex(classicPcap(recs, { nsec })));
      expect(w.packets).toBe(recs.length);
      expect(w.bytes).toBe(recs.reduce((s, r) => s + r.data.length, 0));
      expect(w.fileBytes).toBe(bytes.length);

      const got = readAll(f);
      expect(got.nanosecond).toBe(nsec);
      expect(got.records).toEqual(expected(recs, !nsec));
      expect(tsharkFrames(f)).toEqual(framesOf(got.records));
      const info = capinfos(f);
      expect(info['File type']).toBe(nsec ? 'nsecpcap' : 'pcap');
      expect(info['File encapsulation']).toBe('ether');
      expect(info['Number of packets']).toBe(String(recs.length));
      expect(info['File timestamp precision']).toMatch(nsec ? /nanoseconds \(9\)/ : /microseconds \(6\)/);
    });
  }

  it('a round trip reader → writer keeps every byte (ns input stays ns)', () => {
    fs.writeFileSync(file('in.pcap'), classicPcap(recs, { nsec: true }));
    const r = CaptureReader.open(file('in.pcap'));
    const w = PcapWriter.open(file('out.pcap'), r.linkType, r.nanosecond);
    const rec = newPcapRecord();
    while (r.next(rec)) w.write(rec.buf, rec.off, rec.capLen, rec.tsSec, rec.tsNsec, rec.origLen);
    r.close();
    w.close();
    expect(toHex(fs.readFileSync(file('out.pcap')))).toBe(toHex(fs.readFileSync(file('in.pcap'))));
  });

  it('records longer than the snaplen are clipped, origLen kept; link type and snaplen in the header', () => {
    const f = file('snap.pcap');
    const w = PcapWriter.open(f, LINKTYPE_RAW, false, { snaplen: 64 });
    writeAll(w, recs);
    w.close();
    const got = readAll(f).records;
    expect(got).toHaveLength(recs.length);
    got.forEach((g, i) => {
      const r = recs[i]!;
      const cap = Math.min(64, r.data.length);
      expect(g.capLen).toBe(cap);
      expect(g.origLen).toBe(r.origLen ?? r.data.length);
      expect(g.hex).toBe(toHex(r.data.subarray(0, cap)));
      expect(g.linkType).toBe(LINKTYPE_RAW);
    });
    const info = capinfos(f);
    expect(info['File encapsulation']).toBe('rawip');
    expect(info['Packet size limit']).toMatch(/: 64 bytes$/);
    expect(fs.readFileSync(f).readUInt32LE(16)).toBe(64);
    expect(w.bytes).toBe(got.reduce((s, g) => s + g.capLen, 0));
  });

  it('a write buffer smaller than the records (64 B) gives the same file as the default buffer', () => {
    const rs: TestRecord[] = [...recs, { tsSec: 5, tsNsec: 6, data: new Uint8Array(9000).map((_, i) => i) }, ...recs.slice(0, 3)];
    const a = PcapWriter.open(file('small-buf.pcap'), 1, true, { bufferSize: 64 });
    writeAll(a, rs);
    a.close();
    expect(toHex(fs.readFileSync(file('small-buf.pcap')))).toBe(toHex(classicPcap(rs, { nsec: true })));
  });

  it("'-' writes to standard output", () => {
    const script = file('stdout.ts');
    const writerPath = path.resolve('src/io/pcap-writer.ts');
    fs.writeFileSync(
      script,
      `import { PcapWriter } from ${JSON.stringify(writerPath)};\n` +
        `const w = PcapWriter.open('-', 1, true, { bufferSize: 100 });\n` +
        `for (let i = 0; i < 50; i++) w.write(new Uint8Array(60).fill(i), 0, 60, 1_700_000_000 + i, i * 1000 + 7);\n` +
        `w.close();\n`,
    );
    const out = execFileSync(process.execPath, ['--import', 'tsx', script], { cwd: path.resolve('.'), maxBuffer: 1 << 20 });
    const rs: TestRecord[] = Array.from({ length: 50 }, (_, i) => ({ tsSec: 1_700_000_000 + i, tsNsec: i * 1000 + 7, data: new Uint8Array(60).fill(i) }));
    expect(toHex(out)).toBe(toHex(classicPcap(rs, { nsec: true })));
  });

  it('errors: bad link type / snaplen (USAGE), uncreatable path and write after close (IO)', () => {
    const code = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(VtepError);
        return `${(e as VtepError).code}: ${(e as VtepError).message}`;
      }
      return 'no error';
    };
    expect(code(() => PcapWriter.open(file('x.pcap'), -1, false))).toMatch(/^USAGE: .*x\.pcap: bad pcap link type -1/);
    expect(code(() => PcapWriter.open(file('x.pcap'), 1, false, { snaplen: 0 }))).toMatch(/^USAGE: .*bad snaplen 0/);
    expect(code(() => PcapWriter.open(file('no/such/dir.pcap'), 1, false))).toMatch(/^IO: .*dir\.pcap: cannot create capture/);
    const w = PcapWriter.open(file('closed.pcap'), 1, false, { bufferSize: 64 });
    w.close();
    w.close();
    expect(code(() => w.write(new Uint8Array(100), 0, 100, 0, 0))).toMatch(/^IO: .*closed\.pcap: write after close/);
  });
});
