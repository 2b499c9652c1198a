/**
 * Every input container and link type through `vtep replay`, made from the kernel fixtures: classic pcap
 * µs/ns × little/big endian (editcap and a hand-written writer), pcapng via editcap (µs and ns if_tsresol),
 * multi-interface pcapng (mergecap, and a hand-built one with SPB/EPB, three link types, several
 * resolutions and a big-endian section), Linux SLL / SLL2 and raw IP (101, 228, 229). Each gives the same
 * packets out; the timestamps keep their resolution (ns in → ns magic out, values kept). The command runs
 * in this process (vtepIn: the same main() as `npx vtep`) to keep the many runs fast.
 */
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pcapng, type NgBlock } from '../io/pcap-fixtures.ts';
import { fx, jsonOf, readCapture, run, tmpDir, toRaw, toSll, toSll2, tsharkCheck, vtepIn, writeClassic, type Rec } from './helpers.ts';

const dir = tmpDir('formats');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const tmp = (name: string) => path.join(dir, name);

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;

const k4 = (f: string) => fx('kernel-v4', f);
const underlay = readCapture(k4('underlay.pcap')).records;
// distinct nanosecond parts, so that a lost digit shows
const underlayNs = underlay.map((r, i) => ({ ...r, tsNsec: r.tsNsec + ((i * 37) % 1000) }));
const decapN1 = readCapture(k4('decap-n1.pcap')).records;
const MAC_N1 = Buffer.from([2, 0, 0, 0, 0, 1]);
const toN1 = readCapture(k4('flannel.pcap')).records.map((r) => r.data.subarray(0, 6).equals(MAC_N1));

async function decapN1From(input: string, name: string) {
  const o = tmp(`${name}.out.pcap`);
  const r = await vtepIn(['replay', 'decap', '--config', k4('n1.yaml'), '--in', input, '--out', o, '--expect', k4('decap-n1.pcap'), '--json']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const s = jsonOf(r);
  expect(s.packetsIn).toBe(underlay.length);
  expect(s.packetsOut).toBe(decapN1.length);
  expect(s.drops).toEqual({ 'outer-dst-not-local': underlay.length - decapN1.length });
  return { file: o, cap: readCapture(o) };
}

/** The timestamps of the frames to node1, from a record list of the whole underlay. */
const n1Times = (recs: { tsSec: number; tsNsec: number }[], usec: boolean) =>
  recs.flatMap((r, i) => (toN1[i] ? [`${r.tsSec}.${usec ? Math.floor(r.tsNsec / 1000) * 1000 : r.tsNsec}`] : []));
const times = (c: { records: Rec[] }) => c.records.map((r) => `${r.tsSec}.${r.tsNsec}`);

describe('classic pcap variants', () => {
  const cases: { name: string; le: boolean; nsec: boolean; tool: 'editcap' | 'hand' }[] = [
    { name: 'us-le', le: true, nsec: false, tool: 'editcap' },
    { name: 'ns-le', le: true, nsec: true, tool: 'editcap' },
    { name: 'us-be', le: false, nsec: false, tool: 'hand' },
    { name: 'ns-be', le: false, nsec: true, tool: 'hand' },
  ];
  const nsRef = tmp('ref-ns.pcap');
  writeClassic(nsRef, underlayNs, { nsec: true });
  for (const c of cases) {
    it(`${c.name} (${c.tool})`, async () => {
      const f = tmp(`${c.name}.pcap`);
      if (c.tool === 'editcap') run('editcap', ['-F', c.nsec ? 'nsecpcap' : 'pcap', nsRef, f]);
      else writeClassic(f, underlayNs, { le: c.le, nsec: c.nsec });
      const { cap } = await decapN1From(f, c.name);
      expect(cap.magic).toBe(c.nsec ? MAGIC_NS : MAGIC_US);
      expect(times(cap)).toEqual(n1Times(underlayNs, !c.nsec));
    });
  }
});

describe('pcapng', () => {
  it('editcap -F pcapng: µs (no if_tsresol) and ns (if_tsresol 9)', async () => {
    const us = tmp('us.pcapng');
    const ns = tmp('ns.pcapng');
    run('editcap', ['-F', 'pcapng', k4('underlay.pcap'), us]);
    writeClassic(tmp('ns-src.pcap'), underlayNs, { nsec: true });
    run('editcap', ['-F', 'pcapng', tmp('ns-src.pcap'), ns]);
    const a = (await decapN1From(us, 'us-ng')).cap;
    expect(a.magic).toBe(MAGIC_US);
    expect(times(a)).toEqual(n1Times(underlay, true));
    const b = (await decapN1From(ns, 'ns-ng')).cap;
    expect(b.magic).toBe(MAGIC_NS);
    expect(times(b)).toEqual(n1Times(underlayNs, false));
  });

  it('mergecap -a -F pcapng: an Ethernet and an SLL2 interface in one file', async () => {
    const eth = tmp('odd-eth.pcap');
    const sll2 = tmp('even-sll2.pcap');
    const odd = underlay.filter((_, i) => i % 2 === 0);
    const even = underlay.filter((_, i) => i % 2 === 1);
    writeClassic(eth, odd);
    writeClassic(sll2, even.map((r) => ({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: toSll2(r.data) })), { linkType: 276 });
    const merged = tmp('merged.pcapng');
    run('mergecap', ['-a', '-F', 'pcapng', '-w', merged, eth, sll2]);
    expect(new Set(readCapture(merged).records.map((r) => `${r.interfaceId}:${r.linkType}`))).toEqual(new Set(['0:1', '1:276']));
    const o = tmp('merged.out.pcap');
    const r = await vtepIn(['replay', 'decap', '--config', k4('n1.yaml'), '--in', merged, '--out', o, '--json']);
    expect(r.status).toBe(0);
    expect(jsonOf(r).packetsOut).toBe(decapN1.length);
    // decap-n1.pcap holds node1's frames in underlay order: the k-th frame to node1 is decapN1[k]
    const rank = new Map<number, number>();
    toN1.forEach((v, i) => v && rank.set(i, rank.size));
    const pick = (parity: number) => underlay.flatMap((_, i) => (i % 2 === parity && toN1[i] ? [decapN1[rank.get(i)!]!] : []));
    const want = [...pick(0), ...pick(1)].map((x) => x.data.toString('hex'));
    expect(readCapture(o).records.map((x) => x.data.toString('hex'))).toEqual(want);
  });

  it('hand-built: EPB on Ethernet / SLL / raw interfaces with ns, µs and 2^-20 s resolutions, SPBs, skipped blocks, a big-endian second section', async () => {
    // records 0..n-1 in order, spread over interfaces round-robin; every 7th as an SPB (interface 0, no time)
    const ifaces = [
      { linkType: 1, tsresol: 9 },
      { linkType: 113 },
      { linkType: 101, tsresol: 0x80 | 20 },
    ];
    const conv = [(b: Buffer) => b, toSll, toRaw];
    const half = Math.floor(underlayNs.length / 2);
    const ticks = (r: { tsSec: number; tsNsec: number }, ifId: number): bigint =>
      ifId === 0 ? BigInt(r.tsSec) * 1_000_000_000n + BigInt(r.tsNsec) : ifId === 1 ? BigInt(r.tsSec) * 1_000_000n + BigInt(Math.floor(r.tsNsec / 1000)) : (BigInt(r.tsSec) << 20n) + (BigInt(r.tsNsec) << 20n) / 1_000_000_000n;
    const blocks = (from: number, to: number): NgBlock[] =>
      underlayNs.slice(from, to).map((r, j): NgBlock => {
        const i = from + j;
        if (i % 7 === 3) return { kind: 'spb', data: r.data };
        const ifId = i % 3;
        return { kind: 'epb', interfaceId: ifId, ticks: ticks(r, ifId), data: conv[ifId]!(r.data) };
      });
    const img = pcapng([
      { le: true, interfaces: ifaces, blocks: [{ kind: 'raw', type: 4, body: Buffer.alloc(4) }, ...blocks(0, half)] },
      { le: false, interfaces: ifaces, blocks: [...blocks(half, underlayNs.length), { kind: 'raw', type: 5, body: Buffer.alloc(12) }] },
    ]);
    const f = tmp('hand.pcapng');
    fs.writeFileSync(f, img);
    const { cap } = await decapN1From(f, 'hand-ng');
    expect(cap.magic).toBe(MAGIC_NS);
    // each output packet keeps its record's time at that interface's resolution (SPB: none)
    const want = underlayNs.flatMap((r, i) => {
      if (!toN1[i]) return [];
      if (i % 7 === 3) return ['0.0'];
      const ifId = i % 3;
      const ns = ifId === 0 ? r.tsNsec : ifId === 1 ? Math.floor(r.tsNsec / 1000) * 1000 : Math.floor((Math.floor((r.tsNsec * 2 ** 20) / 1e9) * 1e9) / 2 ** 20);
      return [`${r.tsSec}.${ns}`];
    });
    expect(times(cap)).toEqual(want);
  });

  it('an interface of an unsupported link type: its records are dropped as unsupported-link-type', async () => {
    const img = pcapng([
      {
        le: true,
        interfaces: [{ linkType: 1 }, { linkType: 147 }],
        blocks: underlay.slice(0, 40).map((r, i): NgBlock => ({ kind: 'epb', interfaceId: i % 2, ticks: BigInt(r.tsSec) * 1_000_000n, data: r.data })),
      },
    ]);
    const f = tmp('user0.pcapng');
    fs.writeFileSync(f, img);
    const r = await vtepIn(['replay', 'decap', '--config', k4('n1.yaml'), '--in', f, '--out', tmp('user0.out.pcap'), '--json']);
    expect(r.status).toBe(0);
    const s = jsonOf(r);
    const even = underlay.slice(0, 40).filter((_, i) => i % 2 === 0);
    const toMe = toN1.slice(0, 40).filter((v, i) => v && i % 2 === 0).length;
    expect(s.packetsIn).toBe(40);
    expect(s.packetsOut).toBe(toMe);
    expect(s.drops).toEqual({ 'unsupported-link-type': 20, ...(even.length - toMe > 0 ? { 'outer-dst-not-local': even.length - toMe } : {}) });
  });
});

describe('link types', () => {
  for (const [name, lt, conv] of [
    ['sll', 113, toSll],
    ['sll2', 276, toSll2],
    ['raw', 101, toRaw],
    ['ipv4', 228, toRaw],
  ] as const) {
    it(`decap from ${name} (${lt})`, async () => {
      const f = tmp(`u-${name}.pcap`);
      writeClassic(f, underlayNs.map((r) => ({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: conv(r.data) })), { linkType: lt, nsec: true });
      const { cap } = await decapN1From(f, `lt-${name}`);
      expect(cap.records.every((r) => r.linkType === 1)).toBe(true);
    });
  }

  for (const fam of ['v4', 'v6'] as const) {
    for (const [name, lt, conv] of [
      ['raw', 101, toRaw],
      [fam === 'v4' ? 'ipv4' : 'ipv6', fam === 'v4' ? 228 : 229, toRaw],
      ['sll', 113, toSll],
      ['sll2', 276, toSll2],
    ] as const) {
      it(`encap ${fam} from ${name} (${lt}) pod packets`, async () => {
        const k = (f: string) => fx(`kernel-${fam}`, f);
        const flannel = readCapture(k('flannel.pcap')).records;
        const f = tmp(`p-${fam}-${name}.pcap`);
        writeClassic(f, flannel.map((r) => ({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: conv(r.data) })), { linkType: lt });
        const o = tmp(`p-${fam}-${name}.out.pcap`);
        const r = await vtepIn(['replay', 'encap', '--config', k('n1.yaml'), '--in', f, '--out', o, '--expect', k('encap-n1.pcap'), '--ignore', 'kernel-variance', '--json']);
        expect(r.stderr).toBe('');
        expect(r.status).toBe(0);
        expect(jsonOf(r).drops).toEqual({ 'dst-local-pod': flannel.length - readCapture(k('encap-n1.pcap')).records.length });
        if (name === 'raw') expect(tsharkCheck(o).errors).toEqual([]);
      });
    }
  }

  it('a frame whose IP version disagrees with its link layer is dropped, not re-typed', async () => {
    const flannel = readCapture(k4('flannel.pcap')).records.slice(0, 10);
    const f = tmp('mistyped.pcap');
    // IPv4 packets declared as IPv6 by the link type (229)
    writeClassic(f, flannel.map((r) => ({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: toRaw(r.data) })), { linkType: 229 });
    const r = await vtepIn(['replay', 'encap', '--config', k4('n1.yaml'), '--in', f, '--out', tmp('mistyped.out.pcap'), '--json']);
    expect(r.status).toBe(0);
    expect(jsonOf(r)).toMatchObject({ packetsIn: 10, packetsOut: 0, drops: { 'inner-family-mismatch': 10 } });
    const d = await vtepIn(['replay', 'decap', '--config', k4('n1.yaml'), '--in', f, '--out', tmp('mistyped.out.pcap'), '--json']);
    expect(jsonOf(d)).toMatchObject({ packetsIn: 10, packetsOut: 0, drops: { 'outer-ip-bad-version': 10 } });
  });
});

describe('outer Ethernet addresses', () => {
  it('from the config (node underlayMAC → source, peer underlayMAC → destination), else zero', async () => {
    const flannel = readCapture(k4('flannel.pcap')).records.slice(0, 20);
    const f = tmp('twenty.pcap');
    writeClassic(f, flannel.map((r) => ({ tsSec: r.tsSec, tsNsec: r.tsNsec, data: r.data })));
    const noMacs = tmp('n1-no-macs.yaml');
    fs.writeFileSync(noMacs, fs.readFileSync(k4('n1.yaml'), 'utf8').replace(/^\s*underlayMAC:.*\n/gm, ''));
    for (const [cfg, src, dst] of [
      [k4('n1.yaml'), '0200 00aa 0001', '0200 00aa 0002'],
      [noMacs, '0000 0000 0000', '0000 0000 0000'],
    ] as const) {
      const o = tmp(`macs-${path.basename(cfg)}.pcap`);
      const r = await vtepIn(['replay', 'encap', '--config', cfg, '--in', f, '--out', o]);
      expect(r.status).toBe(0);
      const out = readCapture(o).records;
      expect(out.length).toBeGreaterThan(5);
      for (const x of out) {
        expect(x.data.subarray(0, 6).toString('hex')).toBe(dst.replace(/ /g, ''));
        expect(x.data.subarray(6, 12).toString('hex')).toBe(src.replace(/ /g, ''));
        expect(x.data.readUInt16BE(12)).toBe(0x0800);
      }
    }
  });
});
