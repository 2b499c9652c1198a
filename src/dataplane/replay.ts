/**
 * Offline replay: a capture reader where the TUN/socket reads are, a capture writer where the writes are,
 * the same engine in the middle.
 *
 *   encap: 1. read a record  2. find the IP packet (raw / Ethernet / SLL / SLL2) and check its version
 *          against the link layer  3. engine.encap in place, in the reader's buffer (the bytes in front of
 *          the record belong to records already handed out: they are the headroom); a record too close to
 *          the start of the buffer is first copied into a slot behind ENCAP_HEADROOM  4. write the Ethernet
 *          underlay frame (link type 1); a too-big packet's ICMP reply goes to the ICMP sink, if any
 *   decap: 1. read a record  2. find the outer IP packet, check its version against the link layer
 *          3. engine.decapIp in the reader's buffer (no copy)  4. write the inner Ethernet frame (VXLAN,
 *          link type 1) or the inner IP packet (IPIP, link type 101)
 *
 * Every record not written is counted under exactly one drop reason (packetsIn = packetsOut + Σ drops);
 * nothing is allocated per packet. A corrupt record ends the run: the summary then carries the error and
 * counts everything before it.
 */
import { CaptureReader, newPcapRecord } from '../io/pcap-reader.ts';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, locateL3, newL3Location } from '../io/linktype.ts';
import { Engine, EncapLayer, ENCAP_HEADROOM } from '../engine/engine.ts';
import { Drop, DROP_COUNT, DROP_NAMES } from '../engine/drops.ts';
import { VtepError } from '../util/errors.ts';

export type ReplayMode = 'encap' | 'decap';

export interface ReplaySummary {
  mode: ReplayMode;
  /** Records read from the input (each is written or counted under one drop reason). */
  packetsIn: number;
  packetsOut: number;
  /** Captured bytes of the records read / of the packets written (record headers not counted). */
  bytesIn: number;
  bytesOut: number;
  /** Every non-zero drop reason of this run, by stable name. */
  drops: Record<string, number>;
  /** Wall time of the replay loop. */
  seconds: number;
  /** ICMP Fragmentation Needed / Packet Too Big replies the engine built for too-big packets. */
  icmpBuilt: number;
  /** Set when the input ended in the middle of a record (everything before it was processed). */
  truncatedTail: { recordIndex: number; byteOffset: number; missingBytes: number } | null;
  /** A corrupt record (VtepError 'CAPTURE') or a failed write ('IO') that ended the run early. */
  error: VtepError | null;
}

/** The summary as `vtep replay --json` prints it: exactly these keys, in this order. */
export interface ReplaySummaryJson {
  mode: ReplayMode;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: Record<string, number>;
  seconds: number;
}

export function summaryJson(s: ReplaySummary): ReplaySummaryJson {
  return {
    mode: s.mode,
    packetsIn: s.packetsIn,
    packetsOut: s.packetsOut,
    bytesIn: s.bytesIn,
    bytesOut: s.bytesOut,
    drops: s.drops,
    seconds: s.seconds,
  };
}

export interface ReplayProgress {
  (bytesRead: number, fileSize: number, packets: number): void;
}

/** Largest record the encap slot takes (pcap snaplen maximum). */
const SLOT_CAPACITY = 262_144;
/** Progress is reported every this many records (a power of two minus one, used as a mask). */
const PROGRESS_MASK = 0xffff;

const ETHERTYPE_IPV4 = 0x0800;

/** Where output packets go: a PcapWriter, a comparator (--expect), or both. */
export interface OutputSink {
  write(buf: Uint8Array, off: number, len: number, tsSec: number, tsNsec: number): void;
}

export interface ReplayOptions {
  /** Called every 65536 records and once at the end. */
  progress?: ReplayProgress;
  /** Receives the ICMP too-big replies built during encap (complete IP packets: link type 101). */
  icmpSink?: OutputSink;
}

/**
 * Run one capture through the engine. `sink` receives every output packet; the bytes it is given are valid
 * only during the call (it must copy them). Input records are modified in place (encap writes the outer
 * headers in front of the packet, decap may set CE on the inner packet).
 * Returns the summary; corrupt input does not throw but ends the run with `summary.error` set.
 */
export function replayCapture(mode: ReplayMode, engine: Engine, reader: CaptureReader, sink: OutputSink, options: ReplayOptions = {}): ReplaySummary {
  const t0 = performance.now();
  const progress = options.progress;
  const icmpSink = options.icmpSink;
  const rec = newPcapRecord();
  const l3 = newL3Location();
  const drops = engine.drops;
  const dropsBefore = Float64Array.from(drops);
  const icmpBefore = engine.icmpBuilt;
  const encap = mode === 'encap';
  const ipip = engine.opts.backend === 'ipip';
  let slot: Uint8Array | null = null;
  let packetsIn = 0;
  let packetsOut = 0;
  let bytesIn = 0;
  let bytesOut = 0;
  let error: VtepError | null = null;

  try {
    while (reader.next(rec)) {
      packetsIn++;
      const capLen = rec.capLen;
      bytesIn += capLen;
      if (progress !== undefined && (packetsIn & PROGRESS_MASK) === 0) progress(reader.byteOffset, reader.fileSize, packetsIn);
      if (capLen < rec.origLen) {
        drops[Drop.SnaplenTruncated]!++;
        continue;
      }
      const buf = rec.buf;
      const rc = locateL3(rec.linkType, buf, rec.off, capLen, l3);
      if (rc !== 0) {
        drops[rc]!++;
        continue;
      }
      const ipOff = l3.l3Off;
      const ipLen = capLen - (ipOff - rec.off);
      // The link layer names the family; an IP header of the other version is malformed, not re-typed.
      if (ipLen > 0) {
        const v = buf[ipOff]! >>> 4;
        if (v !== (l3.etherType === ETHERTYPE_IPV4 ? 4 : 6)) {
          drops[encap ? (v === 4 || v === 6 ? Drop.InnerFamilyMismatch : Drop.InnerIpInvalid) : Drop.OuterIpBadVersion]!++;
          continue;
        }
      }
      if (encap) {
        let ebuf = buf;
        let eoff = ipOff;
        if (ipOff < ENCAP_HEADROOM) {
          // Too near the start of the read buffer to write the outer headers in front: copy (rare).
          if (slot === null) slot = new Uint8Array(ENCAP_HEADROOM + SLOT_CAPACITY);
          slot.set(buf.subarray(ipOff, ipOff + ipLen), ENCAP_HEADROOM);
          ebuf = slot;
          eoff = ENCAP_HEADROOM;
        }
        if (engine.encap(ebuf, eoff, ipLen, EncapLayer.Ethernet) !== 0) {
          if (icmpSink !== undefined && engine.icmpLen > 0) icmpSink.write(engine.icmpView, 0, engine.icmpLen, rec.tsSec, rec.tsNsec);
          continue;
        }
        sink.write(ebuf, engine.outOff, engine.outLen, rec.tsSec, rec.tsNsec);
        bytesOut += engine.outLen;
      } else {
        if (engine.decapIp(buf, ipOff, ipLen) !== 0) continue;
        if (ipip) {
          sink.write(buf, engine.innerIpOff, engine.innerIpLen, rec.tsSec, rec.tsNsec);
          bytesOut += engine.innerIpLen;
        } else {
          sink.write(buf, engine.innerFrameOff, engine.innerFrameLen, rec.tsSec, rec.tsNsec);
          bytesOut += engine.innerFrameLen;
        }
      }
      packetsOut++;
    }
  } catch (e) {
    if (!(e instanceof VtepError)) throw e;
    error = e;
  }
  if (progress !== undefined) progress(reader.byteOffset, reader.fileSize, packetsIn);
  const out: Record<string, number> = {};
  for (let i = 1; i < DROP_COUNT; i++) {
    const n = drops[i]! - dropsBefore[i]!;
    if (n !== 0) out[DROP_NAMES[i]!] = n;
  }
  return {
    mode,
    packetsIn,
    packetsOut,
    bytesIn,
    bytesOut,
    drops: out,
    seconds: (performance.now() - t0) / 1000,
    icmpBuilt: engine.icmpBuilt - icmpBefore,
    truncatedTail: reader.truncatedTail,
    error,
  };
}

/** The link type of replay output for a mode and backend. */
export function outputLinkType(mode: ReplayMode, backend: 'vxlan' | 'ipip'): number {
  return mode === 'decap' && backend === 'ipip' ? LINKTYPE_RAW : LINKTYPE_ETHERNET;
}

