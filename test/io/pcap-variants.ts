/**
 * The committed capture variants in fixtures/pcap-variants/: the same 17 packets (sampleRecords()) in every
 * container the reader supports. This module builds the hand-made ones; make-pcap-variants.ts adds the
 * editcap/mergecap ones. pcap-variants.test.ts checks the committed bytes against both.
 */
import { classicPcap, pcapng, sampleRecords, skippableBlocks, sll, sll2, type NgBlock, type TestRecord } from './pcap-fixtures.ts';

export const VARIANTS_DIR = 'fixtures/pcap-variants';

/** The IP packet inside one of sampleRecords()' Ethernet frames (one is 802.1Q-tagged). */
export function ipOf(frame: Uint8Array): Uint8Array {
  return frame.subarray(frame[12] === 0x81 && frame[13] === 0x00 ? 18 : 14);
}

/** The sample packets as raw IP, each 500 ns after its Ethernet twin (so a merge interleaves them). */
export function rawRecords(): TestRecord[] {
  return sampleRecords().map((r) => {
    const ip = ipOf(r.data);
    const cut = (r.origLen ?? r.data.length) - r.data.length;
    const ns = r.tsNsec + 500;
    return { tsSec: r.tsSec + Math.floor(ns / 1e9), tsNsec: ns % 1e9, data: ip, origLen: ip.length + cut, linkType: 101 };
  });
}

/** Ticks of a record's timestamp at `unitsPerSec` (truncated). */
export function ticksOf(r: TestRecord, unitsPerSec: bigint): bigint {
  return ((BigInt(r.tsSec) * 1_000_000_000n + BigInt(r.tsNsec)) * unitsPerSec) / 1_000_000_000n;
}

/** Big-endian pcapng: IDB 0 Ethernet 2^-30 s, IDB 1 Ethernet 10^-3 s + if_tsoffset 1000; EPB, OPB, SPB, skipped blocks. */
export function beMixedBlocks(recs: TestRecord[]): NgBlock[] {
  return [
    ...skippableBlocks(false),
    ...recs.slice(0, 5).map((r): NgBlock => ({ kind: 'epb', interfaceId: 0, ticks: ticksOf(r, 1n << 30n), data: r.data, origLen: r.origLen })),
    ...recs.slice(5, 9).map((r): NgBlock => ({ kind: 'opb', interfaceId: 1, ticks: ticksOf(r, 1000n) - 1_000_000n, data: r.data, origLen: r.origLen })),
    ...recs.slice(9, 12).map((r): NgBlock => ({ kind: 'spb', data: r.data })),
  ];
}

/** Hand-built variants by file name. */
export function variantImages(): Record<string, Uint8Array> {
  const recs = sampleRecords();
  const raw = rawRecords();
  const rawNoShift = raw.map((r, i) => ({ ...r, tsSec: recs[i]!.tsSec, tsNsec: recs[i]!.tsNsec }));
  return {
    'eth-ns.pcap': classicPcap(recs, { nsec: true }),
    'eth-be-us.pcap': classicPcap(recs, { le: false }),
    'eth-be-ns.pcap': classicPcap(recs, { le: false, nsec: true }),
    'raw-ns.pcap': classicPcap(raw, { nsec: true, linkType: 101 }),
    'sll.pcap': classicPcap(rawNoShift.map((r) => ({ ...r, data: sll(r.data), origLen: (r.origLen ?? r.data.length) + 16 })), { nsec: true, linkType: 113 }),
    'sll2.pcap': classicPcap(rawNoShift.map((r) => ({ ...r, data: sll2(r.data), origLen: (r.origLen ?? r.data.length) + 20 })), { nsec: true, linkType: 276 }),
    'be-mixed.pcapng': pcapng([
      {
        le: false,
        interfaces: [
          { linkType: 1, snaplen: 0, tsresol: 0x80 | 30, name: 'eth0' },
          { linkType: 1, snaplen: 65535, tsresol: 3, tsoffset: 1000 },
        ],
        blocks: beMixedBlocks(recs),
      },
    ]),
  };
}
