/**
 * Software TSO / GRO benchmark cases (the harness is bench/hotpath.ts): src/engine/gso.ts against the obvious
 * allocating version of the same work, on the same bytes.
 *
 *   segment   one 64 KiB IPv4 TCP packet (IP total length 65,535, TCP with timestamps: 52 header bytes,
 *             65,483 payload bytes) cut at MSS 1,398 (pod MTU 1,450) into 47 segments with a 22-byte gap
 *             in front of each (VXLAN + inner Ethernet, as live.ts lays out a UDP GSO run).
 *             vtep: TcpSegmenter.segment in place. Baseline: per segment Buffer.concat([header, payload view]),
 *             then lengths, ID, seq, flags and both checksums rewritten with the same sumBE.
 *   coalesce  those 47 segments merged back into one packet: TcpCoalescer start + 46 × (canAppend + append)
 *             + finish. Baseline: views of each segment, the same checks (flow, ID, seq, flags, IPv4 header and
 *             TCP checksums with the same sumBE), Buffer.concat of a vnet header, the first header and every
 *             payload, then lengths, header checksum, pseudo-header sum and vnet header written.
 *
 * Before timing, both sides' outputs are compared byte for byte (segments; coalesced packet, which must also
 * be the original TSO packet again): a case that does not do the same work throws instead of reporting.
 * Each call handles one TSO packet (47 segments); rows count segments. Results fold into `sink[0]`.
 */
import { foldSum, pseudoSum4, sumBE } from '../src/packet/checksum.ts';
import { TcpCoalescer, TcpSegmenter, VNET_HDR_LEN, VnetFlag, VnetGso, VnetHdr, writeVnetHdr } from '../src/engine/gso.ts';
import { buildTcp, payloadOf, TS_OPTIONS } from '../test/engine/gso-helpers.ts';

/** Accumulated results (a typed array: a module-level `let` number would allocate HeapNumbers on `+=`). */
export const sink = new Float64Array(1);

/** TCP MSS of a 1,450-byte pod MTU with timestamps (1,450 − 20 IPv4 − 32 TCP). */
export const GSO_MSS = 1398;
/** Bytes in front of each segment: VXLAN (8) + inner Ethernet (14), live.ts's VXLAN_PAYLOAD_GAP. */
export const GSO_GAP = 22;
const IP_LEN = 20;
const TCP_LEN = 20 + TS_OPTIONS.length;
const HDR_LEN = IP_LEN + TCP_LEN;
/** The largest IPv4 TSO packet: total length 65,535. */
const PKT_LEN = 65535;
export const GSO_PAYLOAD = PKT_LEN - HDR_LEN;
export const GSO_SEGMENTS = Math.ceil(GSO_PAYLOAD / GSO_MSS);

export interface GsoBenchCase {
  name: string;
  /** Segments handled per call. */
  perCall: number;
  /** TCP payload bytes handled per call. */
  payloadPerCall: number;
  candidate: () => void;
  baseline: () => void;
}

// ------------------------------------------------------------------------------------------- baselines

/** The allocating way to segment: a fresh Buffer per segment (Buffer.concat), headers rewritten, sumBE. */
export function naiveSegment(pkt: Buffer, mss: number): Buffer[] {
  const ipLen = (pkt[0]! & 15) * 4;
  const tcpLen = (pkt[ipLen + 12]! >>> 4) * 4;
  const hdrLen = ipLen + tcpLen;
  const hdr = pkt.subarray(0, hdrLen);
  const id0 = pkt.readUInt16BE(4);
  const seq0 = pkt.readUInt32BE(ipLen + 4);
  const flags0 = pkt[ipLen + 13]!;
  const src = pkt.readUInt32BE(12);
  const dst = pkt.readUInt32BE(16);
  const out: Buffer[] = [];
  for (let k = 0, at = hdrLen; at < pkt.length; k++, at += mss) {
    const seg = Buffer.concat([hdr, pkt.subarray(at, Math.min(at + mss, pkt.length))]);
    const last = at + mss >= pkt.length;
    seg.writeUInt16BE(seg.length, 2);
    seg.writeUInt16BE((id0 + k) & 0xffff, 4);
    seg.writeUInt16BE(0, 10);
    seg.writeUInt16BE(~foldSum(sumBE(seg, 0, ipLen)) & 0xffff, 10);
    seg.writeUInt32BE((seq0 + k * mss) >>> 0, ipLen + 4);
    let f = flags0;
    if (k > 0) f &= ~0x80; // CWR on the first only
    if (!last) f &= ~0x09; // FIN, PSH on the last only
    seg[ipLen + 13] = f;
    seg.writeUInt16BE(0, ipLen + 16);
    const l4 = seg.length - ipLen;
    seg.writeUInt16BE(~foldSum(pseudoSum4(src, dst, 6, l4) + sumBE(seg, ipLen, l4)) & 0xffff, ipLen + 16);
    out.push(seg);
  }
  return out;
}

const sameBytes = (a: Buffer, aOff: number, b: Buffer, bOff: number, len: number): boolean =>
  a.subarray(aOff, aOff + len).equals(b.subarray(bOff, bOff + len));

/**
 * The allocating way to coalesce IPv4 TCP segments (views, checks, one Buffer.concat): returns vnet header +
 * packet, or null at the first segment that does not continue the flow (the baseline does not split runs).
 */
export function naiveCoalesce(segs: Buffer[]): Buffer | null {
  const first = segs[0]!;
  const ipLen = 20;
  const hdrLen = ipLen + (first[ipLen + 12]! >>> 4) * 4;
  const mss = first.length - hdrLen;
  const id0 = first.readUInt16BE(4);
  let nextSeq = first.readUInt32BE(ipLen + 4);
  const parts: Buffer[] = [Buffer.alloc(VNET_HDR_LEN), first.subarray(0, hdrLen)];
  let total = hdrLen;
  if ((first[ipLen + 13]! & 0xaf) !== 0 || (first[ipLen + 13]! & 0x10) === 0) return null; // SYN FIN RST PSH URG CWR; ACK
  for (let k = 0; k < segs.length; k++) {
    const s = segs[k]!;
    const payload = s.length - hdrLen;
    if (s[0] !== 0x45 || s[9] !== 6 || s.readUInt16BE(2) !== s.length || payload <= 0 || payload > mss) return null;
    if (~foldSum(sumBE(s, 0, ipLen)) & 0xffff) return null;
    const l4 = s.length - ipLen;
    if (~foldSum(pseudoSum4(s.readUInt32BE(12), s.readUInt32BE(16), 6, l4) + sumBE(s, ipLen, l4)) & 0xffff) return null;
    if (k > 0) {
      if (s[1] !== first[1] || s[8] !== first[8] || ((s[6]! ^ first[6]!) & 0x40) !== 0) return null;
      if (s.readUInt16BE(4) !== ((id0 + k) & 0xffff) || !sameBytes(s, 12, first, 12, 8)) return null;
      if (!sameBytes(s, ipLen, first, ipLen, 4) || !sameBytes(s, ipLen + 8, first, ipLen + 8, 5)) return null;
      if (!sameBytes(s, ipLen + 14, first, ipLen + 14, 2) || !sameBytes(s, ipLen + 18, first, ipLen + 18, hdrLen - ipLen - 18)) return null;
      if ((s[ipLen + 13]! & ~0x08) !== (first[ipLen + 13]! & ~0x08)) return null;
    }
    if (s.readUInt32BE(ipLen + 4) !== nextSeq) return null;
    nextSeq = (nextSeq + payload) >>> 0;
    total += payload;
    if (total > 65535) return null;
    parts.push(s.subarray(hdrLen));
  }
  const out = Buffer.concat(parts, VNET_HDR_LEN + total);
  const p = out.subarray(VNET_HDR_LEN);
  p.writeUInt16BE(total, 2);
  p.writeUInt16BE(0, 10);
  p.writeUInt16BE(~foldSum(sumBE(p, 0, ipLen)) & 0xffff, 10);
  if (segs.some((s) => (s[ipLen + 13]! & 0x08) !== 0)) p[ipLen + 13] = p[ipLen + 13]! | 0x08;
  p.writeUInt16BE(foldSum(pseudoSum4(p.readUInt32BE(12), p.readUInt32BE(16), 6, total - ipLen)), ipLen + 16);
  writeVnetHdr(out, 0, VnetFlag.NeedsCsum, VnetGso.TcpV4, hdrLen, mss, ipLen, 16);
  return out;
}

// ----------------------------------------------------------------------------------------------- cases

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`bench/gso-cases: ${what}`);
}

/** The 64 KiB TSO packet as the TUN hands it over: TCP checksum field = pseudo-header sum (NEEDS_CSUM). */
export function tsoPacket(): Buffer {
  return buildTcp({ family: 4, payload: payloadOf(GSO_PAYLOAD, 3), options: TS_OPTIONS, flags: 0x10, seq: 0x7fff_f000, id: 0xfff0, csum: 'pseudo' });
}

export function gsoBenchCases(): GsoBenchCase[] {
  const tso = tsoPacket();
  const vh = new VnetHdr();
  vh.gsoType = VnetGso.TcpV4;
  vh.gsoSize = GSO_MSS;
  vh.hdrLen = HDR_LEN;
  vh.csumStart = IP_LEN;
  vh.csumOffset = 16;

  // one pool like a slot pool: the TSO packet at SRC, its segments from DST, the coalesced packet at OUT
  const SRC = 64;
  const DST = 128 * 1024;
  const DST_END = DST + GSO_SEGMENTS * (GSO_GAP + HDR_LEN + GSO_MSS) + 64;
  const OUT = 256 * 1024;
  const OUT_CAP = VNET_HDR_LEN + PKT_LEN + 64;
  const pool = Buffer.alloc(OUT + OUT_CAP);
  tso.copy(pool, SRC);
  const seg = new TcpSegmenter();
  check(seg.segment(pool, SRC, PKT_LEN, vh, DST, DST_END, GSO_GAP) === GSO_SEGMENTS, 'segment count');
  const offs = Int32Array.from(seg.offs.subarray(0, GSO_SEGMENTS));
  const lens = Int32Array.from(seg.lens.subarray(0, GSO_SEGMENTS));

  // baseline inputs, and both sides' outputs compared
  const tsoView = pool.subarray(SRC, SRC + PKT_LEN);
  const naiveSegs = naiveSegment(tsoView, GSO_MSS);
  check(naiveSegs.length === GSO_SEGMENTS, 'baseline segment count');
  naiveSegs.forEach((s, k) => check(s.equals(pool.subarray(offs[k]!, offs[k]! + lens[k]!)), `segment ${k} differs from the baseline's`));
  const co = new TcpCoalescer();
  const coalesce = (): number => {
    co.start(pool, offs[0]!, lens[0]!, OUT, OUT_CAP);
    for (let k = 1; k < GSO_SEGMENTS; k++) if (co.canAppend(pool, offs[k]!, lens[k]!)) co.append(pool, offs[k]!, lens[k]!);
    return co.finish(pool);
  };
  check(coalesce() === VNET_HDR_LEN + PKT_LEN && co.segments === GSO_SEGMENTS, 'coalesced length');
  const coalesced = pool.subarray(OUT, OUT + VNET_HDR_LEN + PKT_LEN);
  check(coalesced.subarray(VNET_HDR_LEN).equals(tso), 'coalesced packet is not the TSO packet again');
  // the segments as separate views over the pool (what a per-packet read would give the baseline)
  const segViews = Array.from(offs, (o, k) => pool.subarray(o, o + lens[k]!));
  const naiveOut = naiveCoalesce(segViews);
  check(naiveOut !== null && naiveOut.equals(coalesced), 'coalesced packet differs from the baseline\'s');

  return [
    {
      name: `gso segment v4 64KiB MSS ${GSO_MSS} (${GSO_SEGMENTS} segs)`,
      perCall: GSO_SEGMENTS,
      payloadPerCall: GSO_PAYLOAD,
      candidate: () => {
        sink[0] += seg.segment(pool, SRC, PKT_LEN, vh, DST, DST_END, GSO_GAP);
      },
      baseline: () => {
        const out = naiveSegment(tsoView, GSO_MSS);
        sink[0] += out.length + out[out.length - 1]!.length;
      },
    },
    {
      name: `gso coalesce v4 ${GSO_SEGMENTS} segs MSS ${GSO_MSS}`,
      perCall: GSO_SEGMENTS,
      payloadPerCall: GSO_PAYLOAD,
      candidate: () => {
        sink[0] += coalesce();
      },
      baseline: () => {
        sink[0] += naiveCoalesce(segViews)!.length;
      },
    },
  ];
}
