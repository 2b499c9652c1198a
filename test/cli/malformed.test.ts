/**
 * The malformed underlay corpus (fixtures/malformed, scripts/make-replay-fixtures.ts): one good frame and
 * one frame per decap drop reason. Through the CLI: exactly one output packet (the good frame's inner
 * frame), exactly the listed reason counts, exit 0. Frame by frame in-process: each frame alone gives its
 * listed reason. Together the v4 and v6 corpora cover every reason decap can give; the others are listed
 * with why.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig } from '../../src/control/config.ts';
import { Fdb } from '../../src/fdb/fdb.ts';
import { Engine } from '../../src/engine/engine.ts';
import { DROP_NAMES } from '../../src/engine/drops.ts';
import { CaptureReader } from '../../src/io/pcap-reader.ts';
import { replayCapture } from '../../src/dataplane/replay.ts';
import { fx, jsonOf, readCapture, tmpDir, tsharkCheck, vtep, writeClassic } from './helpers.ts';

const dir = tmpDir('malformed');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

interface CorpusDoc {
  expect: { packetsIn: number; packetsOut: number; drops: Record<string, number> };
  frames: { frame: number; reason: string; what: string }[];
  notInThisCorpus: Record<string, string>;
}

const doc = (fam: string): CorpusDoc => JSON.parse(fs.readFileSync(fx('malformed', `underlay-${fam}.json`), 'utf8')) as CorpusDoc;

for (const fam of ['v4', 'v6'] as const) {
  describe(`underlay-${fam}.pcap`, () => {
    const d = doc(fam);
    const cfg = fx('malformed', `n1-${fam}.yaml`);
    const corpus = fx('malformed', `underlay-${fam}.pcap`);

    it('through the CLI: one output packet, the listed reason counts, exit 0; tshark reads the output cleanly', () => {
      const o = path.join(dir, `${fam}.out.pcap`);
      const r = vtep(['replay', 'decap', '--config', cfg, '--in', corpus, '--out', o, '--json']);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const s = jsonOf(r);
      expect(s.packetsIn).toBe(d.expect.packetsIn);
      expect(s.packetsOut).toBe(1);
      expect(s.drops).toEqual(d.expect.drops);
      expect(Object.values(s.drops).every((n) => n === 1)).toBe(true);
      // the one packet is the good frame's inner frame, exactly what the kernel delivered
      const good = readCapture(corpus).records[d.frames.findIndex((f) => f.reason === 'none')]!.data;
      const out = readCapture(o);
      expect(out.records.length).toBe(1);
      expect(out.magic).toBe(0xa1b23c4d); // ns in, ns out
      expect(out.records[0]!.data.equals(good.subarray(fam === 'v4' ? 50 : 70))).toBe(true);
      expect(tsharkCheck(o)).toEqual({ errors: [], frames: 1 });
    });

    it('frame by frame: each frame alone is dropped for its listed reason (or written)', () => {
      const recs = readCapture(corpus).records;
      expect(recs.length).toBe(d.frames.length);
      const c = loadConfig(cfg);
      const got: string[] = [];
      recs.forEach((rec, i) => {
        const one = path.join(dir, `${fam}-frame-${i + 1}.pcap`);
        writeClassic(one, [rec]);
        const engine = new Engine(c.engine, Fdb.build(c.node, c.peers));
        const reader = CaptureReader.open(one);
        let written = 0;
        const s = replayCapture('decap', engine, reader, { write: () => void written++ });
        reader.close();
        const reasons = Object.keys(s.drops);
        expect(reasons.length + written, `frame ${i + 1}`).toBe(1);
        got.push(written === 1 ? 'none' : reasons[0]!);
      });
      expect(got).toEqual(d.frames.map((f) => f.reason));
    });
  });
}

it('the two corpora and the listed exceptions cover every drop reason, each exactly once', () => {
  const v4 = doc('v4');
  const v6 = doc('v6');
  const inCorpus = new Set([...Object.keys(v4.expect.drops), ...Object.keys(v6.expect.drops)]);
  // reasons neither corpus can hold, whatever the family: the same list in both documents
  const neither = Object.keys(v4.notInThisCorpus).filter((r) => r in v6.notInThisCorpus);
  expect(neither.sort()).toEqual(['dst-local-pod', 'fdb-miss', 'gso-not-tcp', 'gso-too-many-segments', 'mtu-exceeded', 'underlay-family-unsupported', 'unsupported-link-type', 'vnet-hdr-invalid']);
  for (const r of neither) expect(inCorpus.has(r), r).toBe(false);
  expect([...inCorpus, ...neither].sort()).toEqual(DROP_NAMES.slice(1).slice().sort());
  // what one family's corpus lacks, the other has
  for (const [a, b] of [[v4, v6], [v6, v4]] as const) {
    for (const r of Object.keys(a.notInThisCorpus)) if (!neither.includes(r)) expect(b.expect.drops[r], r).toBe(1);
  }
});

it('unsupported-link-type comes from the record, not the frame: the good frame under link type 147', () => {
  const c = loadConfig(fx('kernel-v4', 'n1.yaml'));
  const engine = new Engine(c.engine, Fdb.build(c.node, c.peers));
  const f = path.join(dir, 'user0.pcap');
  const frame = readCapture(fx('malformed', 'underlay-v4.pcap')).records[0]!.data;
  writeClassic(f, [{ tsSec: 1, tsNsec: 0, data: frame }], { linkType: 147 });
  const reader = CaptureReader.open(f);
  const s = replayCapture('decap', engine, reader, { write() {} });
  reader.close();
  expect(s.drops).toEqual({ 'unsupported-link-type': 1 });
});
