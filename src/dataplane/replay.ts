/**
 * Offline replay: a capture reader where the TUN/socket reads are, a capture writer where the writes are,
 * the same engine in the middle.
 *
 *   encap: 1. read a record  2. find the IP packet (raw / Ethernet / SLL / SLL2)  3. copy it into the slot
 *          behind ENCAP_HEADROOM  4. engine.encap → Ethernet underlay frame  5. write it (link type 1)
 *   decap: 1. read a record  2. find the outer IP packet  3. engine.decapIp in the reader's buffer (no copy)
 *          4. write the inner Ethernet frame (VXLAN, link type 1) or the inner IP packet (IPIP, link type 101)
 *
 * Every record not written is counted under a drop reason; nothing is allocated per packet.
 */
import { CaptureReader, type PcapRecord } from '../io/pcap-reader.ts';
import { PcapWriter } from '../io/pcap-writer.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, locateL3 } from '../io/linktype.ts';
import { Engine, EncapLayer, ENCAP_HEADROOM } from '../engine/engine.ts';
import { Drop, dropsToRecord } from '../engine/drops.ts';

export type ReplayMode = 'encap' | 'decap';

export interface ReplaySummary {
  mode: ReplayMode;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: Record<string, number>;
  seconds: number;
  /** ICMP Fragmentation Needed / Packet Too Big replies the engine built for too-big packets. */
  icmpBuilt: number;
  /** Set when the input ended in the middle of a record (everything before it was processed). */
  truncatedTail: { recordIndex: number; byteOffset: number; missingBytes: number } | null;
}

export interface ReplayProgress {
  (bytesRead: number, fileSize: number, packets: number): void;
}

/** Largest record the encap slot takes (pcap snaplen maximum). */
const SLOT_CAPACITY = 262_144;

export interface OutputSink {
  write(buf: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number): void;
}

/**
 * Run one capture through the engine. `sink` receives every output packet (a PcapWriter, or a
 * comparator for --expect). Returns the summary; the engine's drop counters hold the reasons.
 */
export function replayCapture(
  mode: ReplayMode,
  engine: Engine,
  reader: CaptureReader,
  sink: OutputSink,
  progress?: ReplayProgress,
): ReplaySummary {
  const t0 = performance.now();
  const rec: PcapRecord = { linkType: 0, interfaceId: 0, tsSec: 0, tsNsec: 0, capLen: 0, origLen: 0, buf: new Uint8Array(0), off: 0 };
  const l3 = { l3Off: 0, etherType: 0 };
  const slot = Buffer.alloc(ENCAP_HEADROOM + SLOT_CAPACITY);
  const drops = engine.drops;
  let packetsIn = 0;
  let packetsOut = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  const ipip = engine.opts.backend === 'ipip';

  while (reader.next(rec)) {
    packetsIn++;
    bytesIn += rec.capLen;
    if (progress !== undefined && (packetsIn & 0xffff) === 0) progress(reader.byteOffset, reader.fileSize, packetsIn);
    if (rec.capLen < rec.origLen) {
      drops[Drop.SnaplenTruncated]!++;
      continue;
    }
    const rc = locateL3(rec.linkType, rec.buf, rec.off, rec.capLen, l3);
    if (rc !== 0) {
      drops[rc]!++;
      continue;
    }
    const ipLen = rec.capLen - (l3.l3Off - rec.off);
    if (mode === 'encap') {
      slot.set(rec.buf.subarray(l3.l3Off, l3.l3Off + ipLen), ENCAP_HEADROOM);
      if (engine.encap(slot, ENCAP_HEADROOM, ipLen, EncapLayer.Ethernet) !== 0) continue;
      sink.write(slot, engine.outOff, engine.outLen, rec.tsSec, rec.tsNsec);
      bytesOut += engine.outLen;
    } else {
      if (engine.decapIp(rec.buf, l3.l3Off, ipLen) !== 0) continue;
      if (ipip) {
        sink.write(rec.buf, engine.innerIpOff, engine.innerIpLen, rec.tsSec, rec.tsNsec);
        bytesOut += engine.innerIpLen;
      } else {
        sink.write(rec.buf, engine.innerFrameOff, engine.innerFrameLen, rec.tsSec, rec.tsNsec);
        bytesOut += engine.innerFrameLen;
      }
    }
    packetsOut++;
  }
  if (progress !== undefined) progress(reader.byteOffset, reader.fileSize, packetsIn);
  return {
    mode,
    packetsIn,
    packetsOut,
    bytesIn,
    bytesOut,
    drops: dropsToRecord(drops),
    seconds: (performance.now() - t0) / 1000,
    icmpBuilt: engine.icmpBuilt,
    truncatedTail: reader.truncatedTail,
  };
}

/** The link type of replay output for a mode and backend. */
export function outputLinkType(mode: ReplayMode, backend: 'vxlan' | 'ipip'): number {
  return mode === 'decap' && backend === 'ipip' ? LINKTYPE_RAW : LINKTYPE_ETHERNET;
}

export { PcapWriter };
