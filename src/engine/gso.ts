/**
 * TUN offloads: the virtio-net header, TCP segmentation (TSO) and TCP coalescing (GRO), so that a TUN opened
 * with IFF_VNET_HDR + TUNSETOFFLOAD(TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6) can hand us 64 KiB TCP packets and take
 * coalesced ones back.
 *
 * struct virtio_net_hdr (include/uapi/linux/virtio_net.h; little-endian on a TUN without TUNSETVNETBE):
 *
 *    0      1      2      4      6           8            10
 *   +------+------+------+------+-----------+------------+
 *   |flags |gso_  |hdr_  |gso_  |csum_start |csum_offset |   (num_buffers, 2 more bytes, only with
 *   |      |type  |len   |size  |           |            |    TUNSETVNETHDRSZ 12: not used here)
 *   +------+------+------+------+-----------+------------+
 *
 * Flow of a packet read from the TUN (live.ts):
 *   1. readVnetHdr → gsoType None: NEEDS_CSUM? completeChecksum (skb_checksum_help) — then the packet as is.
 *   2. gsoType TcpV4/TcpV6: TcpSegmenter.segment writes MSS-sized segments, each fully checksummed, with a
 *      gap before each for the outer headers (tcp_gso_segment + inet_gso_segment / ipv6_gso_segment).
 * Flow of packets written to the TUN:
 *   1. TcpCoalescer.start on a TCP packet, canAppend/append for the next ones of the same flow (tcp_gro_receive),
 *      finish → vnet header + one big packet (tcp4_gro_complete / tcp6_gro_complete), like wireguard-go's
 *      tun/tcp_offload_linux.go; anything not coalescable gets writeVnetNone and goes alone.
 *
 * Hot path: no allocation, no closures, no exceptions; every result is an integer or boolean.
 */
import { finishChecksum, foldSum, pseudoSum4, pseudoSum6, sumBE } from '../packet/checksum.ts';
import { Drop } from './drops.ts';

export const VNET_HDR_LEN = 10;
const VNET_FLAGS = 0;
const VNET_GSO_TYPE = 1;
const VNET_HDR_LEN_OFF = 2;
const VNET_GSO_SIZE = 4;
const VNET_CSUM_START = 6;
const VNET_CSUM_OFFSET = 8;

/** virtio_net_hdr.flags bits. */
export const VnetFlag = { NeedsCsum: 1, DataValid: 2 } as const;
/** virtio_net_hdr.gso_type values (Ecn is a bit or'ed onto TcpV4/TcpV6). */
export const VnetGso = { None: 0, TcpV4: 1, UdpL4: 5, TcpV6: 4, Ecn: 0x80 } as const;

const IPV4_HDR_MIN = 20;
const IPV4_TOS = 1;
const IPV4_TOTAL_LEN = 2;
const IPV4_ID = 4;
const IPV4_FRAG = 6;
const IPV4_TTL = 8;
const IPV4_PROTO = 9;
const IPV4_CSUM = 10;
const IPV4_SRC = 12;
const IPV4_DST = 16;
const IPV6_HDR_LEN = 40;
const IPV6_PAYLOAD_LEN = 4;
const IPV6_NEXT = 6;
const IPV6_HOP_LIMIT = 7;
const IPV6_SRC = 8;
const IPV6_DST = 24;
const PROTO_TCP = 6;

const TCP_HDR_MIN = 20;
const TCP_SEQ = 4;
const TCP_ACK = 8;
const TCP_DOFF = 12;
const TCP_FLAGS = 13;
const TCP_WINDOW = 14;
const TCP_CSUM = 16;
/** Where the TCP checksum sits from the TCP header: virtio csum_offset for TCP. */
export const TCP_CSUM_OFFSET = TCP_CSUM;

export const TcpFlag = { Fin: 0x01, Syn: 0x02, Rst: 0x04, Psh: 0x08, Ack: 0x10, Urg: 0x20, Ece: 0x40, Cwr: 0x80 } as const;

/** Caller-owned parsed header. */
export class VnetHdr {
  flags = 0;
  gsoType = 0;
  hdrLen = 0;
  gsoSize = 0;
  csumStart = 0;
  csumOffset = 0;
}

function rd16le(buf: Uint8Array, off: number): number {
  return buf[off]! | (buf[off + 1]! << 8);
}
function wr16le(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v & 0xff;
  buf[off + 1] = (v >>> 8) & 0xff;
}
function rd16(buf: Uint8Array, off: number): number {
  return (buf[off]! << 8) | buf[off + 1]!;
}
function wr16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}
function rd32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}
function wr32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Parse the 10-byte virtio_net_hdr at buf[off] into `out` (caller checks off + VNET_HDR_LEN ≤ end). */
export function readVnetHdr(buf: Uint8Array, off: number, out: VnetHdr): void {
  out.flags = buf[off + VNET_FLAGS]!;
  out.gsoType = buf[off + VNET_GSO_TYPE]!;
  out.hdrLen = rd16le(buf, off + VNET_HDR_LEN_OFF);
  out.gsoSize = rd16le(buf, off + VNET_GSO_SIZE);
  out.csumStart = rd16le(buf, off + VNET_CSUM_START);
  out.csumOffset = rd16le(buf, off + VNET_CSUM_OFFSET);
}

/** Write a 10-byte virtio_net_hdr at buf[off]. */
export function writeVnetHdr(buf: Uint8Array, off: number, flags: number, gsoType: number, hdrLen: number,
  gsoSize: number, csumStart: number, csumOffset: number): void {
  buf[off + VNET_FLAGS] = flags;
  buf[off + VNET_GSO_TYPE] = gsoType;
  wr16le(buf, off + VNET_HDR_LEN_OFF, hdrLen);
  wr16le(buf, off + VNET_GSO_SIZE, gsoSize);
  wr16le(buf, off + VNET_CSUM_START, csumStart);
  wr16le(buf, off + VNET_CSUM_OFFSET, csumOffset);
}

/** Zeroes: "no offload" — what precedes every packet written to the TUN that is not coalesced. */
export function writeVnetNone(buf: Uint8Array, off: number): void {
  for (let i = 0; i < VNET_HDR_LEN; i++) buf[off + i] = 0;
}

/**
 * NEEDS_CSUM on a non-GSO packet (IP packet at pktOff, pktLen): fold the sum of [pktOff+csumStart, end) (the
 * field already holds the pseudo-header sum) and store ~fold at pktOff+csumStart+csumOffset — as
 * skb_checksum_help does, a computed 0 is stored as 0xffff (CSUM_MANGLED_0; the same value for TCP, the
 * required one for UDP). Returns 0, or Drop.VnetHdrInvalid when the field is not inside the packet.
 */
export function completeChecksum(buf: Uint8Array, pktOff: number, pktLen: number, csumStart: number,
  csumOffset: number): number {
  if (csumStart >= pktLen || csumOffset + 2 > pktLen - csumStart) return Drop.VnetHdrInvalid;
  const c = finishChecksum(sumBE(buf, pktOff + csumStart, pktLen - csumStart));
  wr16(buf, pktOff + csumStart + csumOffset, c === 0 ? 0xffff : c);
  return 0;
}

/**
 * TCP segmentation offload in software (tcp_gso_segment + inet_gso_segment / ipv6_gso_segment).
 * Owns only its result arrays: segments are written into the caller's buffer.
 */
export class TcpSegmenter {
  /** Output: count segments; segment k's inner IP packet is at offs[k], length lens[k]. */
  readonly offs: Int32Array;
  readonly lens: Int32Array;
  count = 0;
  /** Largest number of segments one call may produce (the arrays' length). */
  readonly maxSegments: number;

  /**
   * @param maxSegments the most segments one GSO packet may become; more gives Drop.GsoTooManySegments.
   *   Defaults to 128: a 64 KiB packet at MSS 536 is 123 segments (at a 1,400-byte MSS, 47).
   */
  constructor(maxSegments = 128) {
    this.maxSegments = maxSegments;
    this.offs = new Int32Array(maxSegments);
    this.lens = new Int32Array(maxSegments);
  }

  /**
   * Segment the GSO packet buf[pktOff, pktOff+pktLen) (inner IP packet; its vnet header already parsed into h)
   * into h.gsoSize-payload TCP segments written from dstOff: segment k's IP packet goes to
   *   dstOff + gap + k * (gap + hdrLen + h.gsoSize)
   * (hdrLen = IP header + TCP header with options, computed from the packet; h.hdrLen and h.csumStart are not
   * trusted). Each segment: IPv4 total length, ID + k, header checksum / IPv6 payload length; seq + k·mss; CWR
   * only on the first, FIN and PSH only on the last; full TCP checksum. The source must not overlap
   * [dstOff, dstEnd). A payload ≤ mss gives one segment (the kernel sends such a packet unsegmented).
   * Returns the segment count (≥ 1; offs/lens/count filled) or −code: VnetHdrInvalid (GSO type not TCP,
   * gsoSize 0), GsoNotTcp (family differs from the GSO type, not TCP, IPv4 fragment, IPv6 extension header),
   * InnerIpInvalid (version/IHL/length/TCP header beyond the packet), GsoTooManySegments (more than
   * maxSegments, or beyond dstEnd).
   */
  segment(buf: Uint8Array, pktOff: number, pktLen: number, h: VnetHdr, dstOff: number, dstEnd: number,
    gap: number): number {
    this.count = 0;
    const gt = h.gsoType & ~VnetGso.Ecn;
    if ((gt !== VnetGso.TcpV4 && gt !== VnetGso.TcpV6) || h.gsoSize === 0) return -Drop.VnetHdrInvalid;
    if (pktLen < IPV4_HDR_MIN || pktOff < 0 || pktOff + pktLen > buf.length) return -Drop.InnerIpInvalid;
    const version = buf[pktOff]! >>> 4;
    let ipLen: number;
    if (version === 4) {
      if (gt !== VnetGso.TcpV4) return -Drop.GsoNotTcp;
      ipLen = (buf[pktOff]! & 0x0f) << 2;
      if (ipLen < IPV4_HDR_MIN || ipLen > pktLen || rd16(buf, pktOff + IPV4_TOTAL_LEN) !== pktLen) return -Drop.InnerIpInvalid;
      if (buf[pktOff + IPV4_PROTO] !== PROTO_TCP || (rd16(buf, pktOff + IPV4_FRAG) & 0x3fff) !== 0) return -Drop.GsoNotTcp;
    } else if (version === 6) {
      if (gt !== VnetGso.TcpV6) return -Drop.GsoNotTcp;
      ipLen = IPV6_HDR_LEN;
      if (pktLen < IPV6_HDR_LEN || rd16(buf, pktOff + IPV6_PAYLOAD_LEN) !== pktLen - IPV6_HDR_LEN) return -Drop.InnerIpInvalid;
      if (buf[pktOff + IPV6_NEXT] !== PROTO_TCP) return -Drop.GsoNotTcp;
    } else {
      return -Drop.InnerIpInvalid;
    }
    if (ipLen + TCP_HDR_MIN > pktLen) return -Drop.InnerIpInvalid;
    const tcpOff = pktOff + ipLen;
    const tcpLen = (buf[tcpOff + TCP_DOFF]! >>> 4) << 2;
    if (tcpLen < TCP_HDR_MIN || ipLen + tcpLen > pktLen) return -Drop.InnerIpInvalid;
    const hdrLen = ipLen + tcpLen;
    const mss = h.gsoSize;
    const payload = pktLen - hdrLen;
    const n = payload <= mss ? 1 : Math.ceil(payload / mss);
    if (n > this.maxSegments) return -Drop.GsoTooManySegments;
    if (gap < 0 || dstOff < 0) return -Drop.GsoTooManySegments;
    const stride = gap + hdrLen + mss;
    const lastLen = hdrLen + (payload - (n - 1) * mss);
    if (dstOff + (n - 1) * stride + gap + lastLen > dstEnd || dstEnd > buf.length) return -Drop.GsoTooManySegments;

    const seq0 = rd32(buf, tcpOff + TCP_SEQ);
    const flags0 = buf[tcpOff + TCP_FLAGS]!;
    const id0 = version === 4 ? rd16(buf, pktOff + IPV4_ID) : 0;
    // pseudo-header sums without the length (added per segment)
    const pseudoBase = version === 4
      ? pseudoSum4(rd32(buf, pktOff + IPV4_SRC), rd32(buf, pktOff + IPV4_DST), PROTO_TCP, 0)
      : pseudoSum6(buf, pktOff + IPV6_SRC, buf, pktOff + IPV6_DST, PROTO_TCP, 0);
    const offs = this.offs;
    const lens = this.lens;
    for (let k = 0; k < n; k++) {
      const o = dstOff + gap + k * stride;
      const segPayload = k === n - 1 ? payload - k * mss : mss;
      const segLen = hdrLen + segPayload;
      buf.copyWithin(o, pktOff, pktOff + hdrLen);
      const from = pktOff + hdrLen + k * mss;
      buf.copyWithin(o + hdrLen, from, from + segPayload);
      if (version === 4) {
        wr16(buf, o + IPV4_TOTAL_LEN, segLen);
        wr16(buf, o + IPV4_ID, (id0 + k) & 0xffff);
        wr16(buf, o + IPV4_CSUM, 0);
        wr16(buf, o + IPV4_CSUM, finishChecksum(sumBE(buf, o, ipLen)));
      } else {
        wr16(buf, o + IPV6_PAYLOAD_LEN, segLen - IPV6_HDR_LEN);
      }
      const t = o + ipLen;
      wr32(buf, t + TCP_SEQ, (seq0 + k * mss) >>> 0);
      let f = flags0;
      if (k > 0) f &= ~TcpFlag.Cwr;
      if (k < n - 1) f &= ~(TcpFlag.Fin | TcpFlag.Psh);
      buf[t + TCP_FLAGS] = f;
      wr16(buf, t + TCP_CSUM, 0);
      const l4 = segLen - ipLen;
      wr16(buf, t + TCP_CSUM, finishChecksum(pseudoBase + l4 + sumBE(buf, t, l4)));
      offs[k] = o;
      lens[k] = segLen;
    }
    this.count = n;
    return n;
  }
}

/**
 * Check an IP+TCP packet at buf[off, off+len) for coalescing: returns the IP header length (20 or 40) when it is
 * IPv4 (IHL 5, not a fragment, total length = len, header checksum valid) or IPv6 (next header TCP, payload
 * length = len − 40) carrying TCP with a header inside the packet, a payload, and a valid TCP checksum;
 * 0 otherwise. Flags are left to the caller.
 */
function tcpCandidate(buf: Uint8Array, off: number, len: number): number {
  if (len < IPV4_HDR_MIN + TCP_HDR_MIN) return 0;
  const v = buf[off]!;
  let ipLen: number;
  let pseudo: number;
  if (v === 0x45) {
    ipLen = IPV4_HDR_MIN;
    if (rd16(buf, off + IPV4_TOTAL_LEN) !== len || buf[off + IPV4_PROTO] !== PROTO_TCP) return 0;
    if ((rd16(buf, off + IPV4_FRAG) & 0x3fff) !== 0) return 0;
    if (finishChecksum(sumBE(buf, off, IPV4_HDR_MIN)) !== 0) return 0;
    pseudo = pseudoSum4(rd32(buf, off + IPV4_SRC), rd32(buf, off + IPV4_DST), PROTO_TCP, len - IPV4_HDR_MIN);
  } else if (v >>> 4 === 6) {
    ipLen = IPV6_HDR_LEN;
    if (len < IPV6_HDR_LEN + TCP_HDR_MIN || rd16(buf, off + IPV6_PAYLOAD_LEN) !== len - IPV6_HDR_LEN) return 0;
    if (buf[off + IPV6_NEXT] !== PROTO_TCP) return 0;
    pseudo = pseudoSum6(buf, off + IPV6_SRC, buf, off + IPV6_DST, PROTO_TCP, len - IPV6_HDR_LEN);
  } else {
    return 0;
  }
  const tcpLen = (buf[off + ipLen + TCP_DOFF]! >>> 4) << 2;
  if (tcpLen < TCP_HDR_MIN || ipLen + tcpLen >= len) return 0; // no payload: nothing to coalesce
  if (finishChecksum(pseudo + sumBE(buf, off + ipLen, len - ipLen)) !== 0) return 0;
  return ipLen;
}

/**
 * Flags that keep a packet from starting a coalesced packet: tcp_gro_receive flushes a packet carrying any of
 * them at once. CWR too: measured on Linux 6.18 (gso-kernel.test.ts), a CWR segment goes up alone even first.
 */
const BLOCKING_FLAGS = TcpFlag.Syn | TcpFlag.Fin | TcpFlag.Rst | TcpFlag.Urg | TcpFlag.Psh | TcpFlag.Cwr;

/**
 * TCP receive coalescing for packets written to the TUN (tcp_gro_receive / tcp4_gro_complete; wireguard-go
 * tun/tcp_offload_linux.go). One packet open at a time, built in the caller's buffer at outOff: its vnet header
 * at outOff, the IP packet at outOff + VNET_HDR_LEN. Start → canAppend/append… → finish.
 */
export class TcpCoalescer {
  /** Whether a coalesced packet is open. */
  open = false;
  /** Where the open packet starts (its vnet header), valid while open. */
  outOff = 0;
  /** Counters: segments merged into an open packet (appends), packets closed (finish); for metrics. */
  merged = 0;
  flushed = 0;
  /** Segments in the open packet. */
  segments = 0;

  private cap = 0;
  private ipLen = 0;
  private hdrLen = 0;
  private mss = 0;
  /** IP packet length so far. */
  private total = 0;
  private nextSeq = 0;
  private id0 = 0;
  /**
   * No more appends possible: the last one appended was shorter than mss or had PSH. The kernel flushes such a
   * packet at once (tcp_gro_receive: `flush = len < mss`, PSH); a caller doing the same calls finish now.
   */
  ended = false;

  /**
   * Start a new coalesced packet from the IP packet at buf[off, off+len): true when it is coalescable TCP
   * (IPv4 IHL 5 not fragmented, header checksum valid; or IPv6 next header TCP; TCP with payload, flags ACK
   * possibly with ECE — no SYN/FIN/RST/URG/PSH/CWR — and a valid TCP checksum) and was copied to
   * buf[dstOff + VNET_HDR_LEN…] (dstCap bytes available from dstOff, vnet header included). false: nothing
   * started (an open packet stays open), nothing copied; the caller writes that packet on its own.
   * A PSH or CWR packet is refused because the kernel flushes it at once: alone it is the same bytes.
   */
  start(buf: Uint8Array, off: number, len: number, dstOff: number, dstCap: number): boolean {
    if (this.open) return false;
    if (len + VNET_HDR_LEN > dstCap) return false;
    const ipLen = tcpCandidate(buf, off, len);
    if (ipLen === 0) return false;
    const t = off + ipLen;
    const flags = buf[t + TCP_FLAGS]!;
    if ((flags & BLOCKING_FLAGS) !== 0 || (flags & TcpFlag.Ack) === 0) return false;
    const tcpLen = (buf[t + TCP_DOFF]! >>> 4) << 2;
    this.ipLen = ipLen;
    this.hdrLen = ipLen + tcpLen;
    this.mss = len - this.hdrLen;
    this.total = len;
    this.nextSeq = (rd32(buf, t + TCP_SEQ) + this.mss) >>> 0;
    this.id0 = ipLen === IPV4_HDR_MIN ? rd16(buf, off + IPV4_ID) : 0;
    this.cap = dstCap;
    this.ended = false;
    this.segments = 1;
    this.outOff = dstOff;
    this.open = true;
    buf.copyWithin(dstOff + VNET_HDR_LEN, off, off + len);
    return true;
  }

  /**
   * Whether the packet at buf[off, off+len) continues the open packet as the kernel's GRO would merge it: same
   * addresses and ports; IPv4 same TOS, TTL, DF and ID = first ID + segments (so re-segmenting gives the same
   * IDs); IPv6 same traffic class, flow label, hop limit; same TCP header bytes except seq, flags and checksum
   * (so same data offset, options, ack, window); flags the same as the first's, or with PSH added; seq = next
   * expected; payload 1..mss (a shorter one or a PSH ends the packet); result within dstCap and IP length
   * ≤ 65535; TCP checksum valid. Never true when nothing is open.
   */
  canAppend(buf: Uint8Array, off: number, len: number): boolean {
    if (!this.open || this.ended) return false;
    const ipLen = this.ipLen;
    const hdrLen = this.hdrLen;
    const payload = len - hdrLen;
    if (payload <= 0 || payload > this.mss) return false;
    if (this.total + payload > 65535 || VNET_HDR_LEN + this.total + payload > this.cap) return false;
    const p = this.outOff + VNET_HDR_LEN;
    const t = off + ipLen;
    const pt = p + ipLen;
    if (ipLen === IPV4_HDR_MIN) {
      if (buf[off] !== 0x45) return false;
      if (buf[off + IPV4_TOS] !== buf[p + IPV4_TOS] || buf[off + IPV4_TTL] !== buf[p + IPV4_TTL]) return false;
      if (((buf[off + IPV4_FRAG]! ^ buf[p + IPV4_FRAG]!) & 0x40) !== 0) return false;
      if (rd16(buf, off + IPV4_ID) !== ((this.id0 + this.segments) & 0xffff)) return false;
      for (let i = IPV4_SRC; i < IPV4_HDR_MIN; i++) if (buf[off + i] !== buf[p + i]) return false;
    } else {
      if (buf[off]! >>> 4 !== 6) return false;
      // version, traffic class, flow label: bytes 0..3; hop limit 7; addresses 8..39
      for (let i = 0; i < 4; i++) if (buf[off + i] !== buf[p + i]) return false;
      if (buf[off + IPV6_HOP_LIMIT] !== buf[p + IPV6_HOP_LIMIT]) return false;
      for (let i = IPV6_SRC; i < IPV6_HDR_LEN; i++) if (buf[off + i] !== buf[p + i]) return false;
    }
    // ports
    for (let i = 0; i < TCP_SEQ; i++) if (buf[t + i] !== buf[pt + i]) return false;
    if (rd32(buf, t + TCP_SEQ) !== this.nextSeq) return false;
    // ack, data offset, window, urgent pointer, options (flags compared below)
    for (let i = TCP_ACK; i < TCP_FLAGS; i++) if (buf[t + i] !== buf[pt + i]) return false;
    for (let i = TCP_WINDOW; i < TCP_CSUM; i++) if (buf[t + i] !== buf[pt + i]) return false;
    for (let i = TCP_CSUM + 2; i < hdrLen - ipLen; i++) if (buf[t + i] !== buf[pt + i]) return false;
    const flags = buf[t + TCP_FLAGS]!;
    if ((flags & ~TcpFlag.Psh) !== (buf[pt + TCP_FLAGS]! & ~TcpFlag.Psh)) return false;
    // the last full check: a candidate at all (lengths, IPv4 header checksum, TCP checksum)
    return tcpCandidate(buf, off, len) === ipLen;
  }

  /** Append that packet's payload to the open packet (call only right after canAppend returned true). */
  append(buf: Uint8Array, off: number, len: number): void {
    const payload = len - this.hdrLen;
    const p = this.outOff + VNET_HDR_LEN;
    buf.copyWithin(p + this.total, off + this.hdrLen, off + len);
    this.total += payload;
    this.nextSeq = (this.nextSeq + payload) >>> 0;
    this.segments++;
    this.merged++;
    const f = buf[off + this.ipLen + TCP_FLAGS]!;
    if ((f & TcpFlag.Psh) !== 0) {
      buf[p + this.ipLen + TCP_FLAGS] = buf[p + this.ipLen + TCP_FLAGS]! | TcpFlag.Psh;
      this.ended = true;
    }
    if (payload < this.mss) this.ended = true;
  }

  /**
   * Close the open packet and return its total length including the vnet header (0 when nothing is open).
   * One segment: vnet header all zero, the packet bytes exactly as received. Several: vnet {NEEDS_CSUM,
   * TcpV4|TcpV6, hdrLen = IP + TCP header, gsoSize = mss, csumStart = IP header length, csumOffset 16}, IPv4
   * total length + header checksum / IPv6 payload length fixed, TCP checksum field = the folded pseudo-header
   * sum, not complemented (what tcp4_gro_complete / tcp6_gro_complete leave), PSH when any had it.
   */
  finish(buf: Uint8Array): number {
    if (!this.open) return 0;
    this.open = false;
    this.flushed++;
    const o = this.outOff;
    const p = o + VNET_HDR_LEN;
    const total = this.total;
    if (this.segments === 1) {
      writeVnetNone(buf, o);
      return VNET_HDR_LEN + total;
    }
    const ipLen = this.ipLen;
    const l4 = total - ipLen;
    let pseudo: number;
    if (ipLen === IPV4_HDR_MIN) {
      wr16(buf, p + IPV4_TOTAL_LEN, total);
      wr16(buf, p + IPV4_CSUM, 0);
      wr16(buf, p + IPV4_CSUM, finishChecksum(sumBE(buf, p, IPV4_HDR_MIN)));
      pseudo = pseudoSum4(rd32(buf, p + IPV4_SRC), rd32(buf, p + IPV4_DST), PROTO_TCP, l4);
    } else {
      wr16(buf, p + IPV6_PAYLOAD_LEN, l4);
      pseudo = pseudoSum6(buf, p + IPV6_SRC, buf, p + IPV6_DST, PROTO_TCP, l4);
    }
    wr16(buf, p + ipLen + TCP_CSUM, foldSum(pseudo));
    writeVnetHdr(buf, o, VnetFlag.NeedsCsum, ipLen === IPV4_HDR_MIN ? VnetGso.TcpV4 : VnetGso.TcpV6, this.hdrLen,
      this.mss, ipLen, TCP_CSUM_OFFSET);
    return VNET_HDR_LEN + total;
  }

  /** Drop the open packet without writing it (e.g. on shutdown). */
  reset(): void {
    this.open = false;
    this.segments = 0;
  }
}
