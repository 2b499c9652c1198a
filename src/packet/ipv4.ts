/**
 * IPv4 header (RFC 791 §3.1).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version|  IHL  |Type of Service|          Total Length         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Identification        |Flags|      Fragment Offset    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Time to Live |    Protocol   |         Header Checksum       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                       Source Address                          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Destination Address                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                    Options                    |    Padding    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The TOS octet is DSCP (6 bits, RFC 2474) + ECN (2 bits, RFC 3168). Flags: bit 0 reserved (must be
 * zero), DF, MF. The fragment offset counts 8-octet units. The header checksum is the RFC 1071 sum over
 * the header only (RFC 791 §3.1; RFC 1624 for incremental updates).
 */
import { Drop } from '../engine/drops.ts';
import { checksumOf } from './checksum.ts';

/** Version (4 bits, = 4) and IHL (4 bits, header length in 32-bit words, ≥ 5). */
export const IPV4_VER_IHL = 0;
/** Type of service: DSCP (6) + ECN (2). */
export const IPV4_TOS = IPV4_VER_IHL + 1;
/** Total length of the datagram in octets, header included (16 bits). */
export const IPV4_TOTAL_LEN = IPV4_TOS + 1;
/** Identification (16 bits). */
export const IPV4_ID = IPV4_TOTAL_LEN + 2;
/** Flags (3 bits: reserved, DF, MF) and fragment offset (13 bits, 8-octet units). */
export const IPV4_FRAG = IPV4_ID + 2;
/** Time to live (8 bits). */
export const IPV4_TTL = IPV4_FRAG + 2;
/** Protocol of the payload (8 bits, IANA protocol numbers). */
export const IPV4_PROTO = IPV4_TTL + 1;
/** Header checksum (16 bits). */
export const IPV4_CSUM = IPV4_PROTO + 1;
/** Source address (32 bits). */
export const IPV4_SRC = IPV4_CSUM + 2;
/** Destination address (32 bits). */
export const IPV4_DST = IPV4_SRC + 4;
/** Length of a header without options. */
export const IPV4_HDR_LEN = IPV4_DST + 4;
/** Largest header (IHL 15). */
export const IPV4_MAX_HDR_LEN = 60;

/** Flag bits of the 16-bit flags/fragment-offset field. */
export const IPV4_DF = 0x4000;
export const IPV4_MF = 0x2000;
export const IPV4_FRAG_OFF_MASK = 0x1fff;

/** IANA protocol numbers used here. */
export const IPPROTO_HOPOPTS = 0;
export const IPPROTO_ICMP = 1;
export const IPPROTO_IPIP = 4;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_NONE = 59;

/** A decoded IPv4 header: integer fields and offsets into the decoded buffer (nothing is copied). */
export interface Ipv4View {
  /** Header length in bytes (IHL × 4), 20..60. */
  hdrLen: number;
  /** Total length field: header + payload, in bytes. */
  totalLen: number;
  /** The TOS octet (DSCP << 2 | ECN). */
  tos: number;
  /** Identification field. */
  id: number;
  ttl: number;
  /** Protocol of the payload. */
  proto: number;
  /** Source address as an unsigned 32-bit integer (network order read big-endian). */
  src: number;
  /** Destination address as an unsigned 32-bit integer. */
  dst: number;
  /** Don't Fragment flag. */
  df: boolean;
  /** More Fragments flag. */
  mf: boolean;
  /** Fragment offset field, in 8-octet units (0 for a first or unfragmented datagram). */
  fragOff: number;
  /** Offset of the first payload byte (off + hdrLen). */
  payloadOff: number;
  /** Offset just past the datagram (off + totalLen); Ethernet padding beyond it is not payload. */
  payloadEnd: number;
}

export function newIpv4View(): Ipv4View {
  return {
    hdrLen: 0,
    totalLen: 0,
    tos: 0,
    id: 0,
    ttl: 0,
    proto: 0,
    src: 0,
    dst: 0,
    df: false,
    mf: false,
    fragOff: 0,
    payloadOff: 0,
    payloadEnd: 0,
  };
}

/** Big-endian unsigned 32-bit read at buf[off] (the caller has checked the bounds). */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/** Big-endian 32-bit write at buf[off]. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = v >>> 16;
  buf[off + 2] = v >>> 8;
  buf[off + 3] = v;
}

/**
 * Decode the IPv4 header at buf[off, end) into `out`. Bytes after `off + totalLen` (Ethernet padding)
 * are allowed and excluded from the payload (`payloadEnd`).
 *
 * Returns 0 or, checked in this order:
 *  - `Drop.TruncatedOuterIp`   fewer than 20 bytes;
 *  - `Drop.OuterIpBadVersion`  version is not 4;
 *  - `Drop.OuterIpBadIhl`      IHL < 5;
 *  - `Drop.OuterIpBadLength`   total length < 20 (cannot even hold a header);
 *  - `Drop.OuterIpBadIhl`      header (IHL × 4) longer than the total length;
 *  - `Drop.TruncatedOuterIp`   fewer bytes present than the total length;
 *  - `Drop.OuterIpBadChecksum` (only if `verifyChecksum`) header checksum wrong.
 * Callers decoding an inner packet map these to their inner codes.
 */
export function decodeIpv4(buf: Uint8Array, off: number, end: number, out: Ipv4View, verifyChecksum: boolean): number {
  if (end - off < IPV4_HDR_LEN) return Drop.TruncatedOuterIp;
  const verIhl = buf[off + IPV4_VER_IHL]!;
  if (verIhl >>> 4 !== 4) return Drop.OuterIpBadVersion;
  const hdrLen = (verIhl & 0x0f) << 2;
  if (hdrLen < IPV4_HDR_LEN) return Drop.OuterIpBadIhl;
  const totalLen = (buf[off + IPV4_TOTAL_LEN]! << 8) | buf[off + IPV4_TOTAL_LEN + 1]!;
  if (totalLen < IPV4_HDR_LEN) return Drop.OuterIpBadLength;
  if (totalLen < hdrLen) return Drop.OuterIpBadIhl;
  if (end - off < totalLen) return Drop.TruncatedOuterIp;
  if (verifyChecksum && checksumOf(buf, off, hdrLen) !== 0) return Drop.OuterIpBadChecksum;
  const frag = (buf[off + IPV4_FRAG]! << 8) | buf[off + IPV4_FRAG + 1]!;
  out.hdrLen = hdrLen;
  out.totalLen = totalLen;
  out.tos = buf[off + IPV4_TOS]!;
  out.id = (buf[off + IPV4_ID]! << 8) | buf[off + IPV4_ID + 1]!;
  out.ttl = buf[off + IPV4_TTL]!;
  out.proto = buf[off + IPV4_PROTO]!;
  out.src = readU32(buf, off + IPV4_SRC);
  out.dst = readU32(buf, off + IPV4_DST);
  out.df = (frag & IPV4_DF) !== 0;
  out.mf = (frag & IPV4_MF) !== 0;
  out.fragOff = frag & IPV4_FRAG_OFF_MASK;
  out.payloadOff = off + hdrLen;
  out.payloadEnd = off + totalLen;
  return 0;
}

/**
 * Write a 20-byte IPv4 header (no options) at buf[off, off+20) with its checksum. `flagsFrag` is the
 * 16-bit flags + fragment offset field (e.g. `IPV4_DF` or 0); `src`/`dst` are uint32. The caller
 * guarantees the room. Returns 20.
 */
export function writeIpv4Header(
  buf: Uint8Array,
  off: number,
  tos: number,
  totalLen: number,
  id: number,
  flagsFrag: number,
  ttl: number,
  proto: number,
  src: number,
  dst: number,
): number {
  tos &= 0xff;
  totalLen &= 0xffff;
  id &= 0xffff;
  flagsFrag &= 0xffff;
  ttl &= 0xff;
  proto &= 0xff;
  src >>>= 0;
  dst >>>= 0;
  buf[off + IPV4_VER_IHL] = 0x45;
  buf[off + IPV4_TOS] = tos;
  buf[off + IPV4_TOTAL_LEN] = totalLen >>> 8;
  buf[off + IPV4_TOTAL_LEN + 1] = totalLen;
  buf[off + IPV4_ID] = id >>> 8;
  buf[off + IPV4_ID + 1] = id;
  buf[off + IPV4_FRAG] = flagsFrag >>> 8;
  buf[off + IPV4_FRAG + 1] = flagsFrag;
  buf[off + IPV4_TTL] = ttl;
  buf[off + IPV4_PROTO] = proto;
  writeU32(buf, off + IPV4_SRC, src);
  writeU32(buf, off + IPV4_DST, dst);
  // RFC 1071 sum of the ten 16-bit words, from the fields (no second pass over memory).
  let sum =
    ((0x45 << 8) | tos) +
    totalLen +
    id +
    flagsFrag +
    ((ttl << 8) | proto) +
    (src >>> 16) +
    (src & 0xffff) +
    (dst >>> 16) +
    (dst & 0xffff);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const csum = ~sum & 0xffff;
  buf[off + IPV4_CSUM] = csum >>> 8;
  buf[off + IPV4_CSUM + 1] = csum;
  return IPV4_HDR_LEN;
}

/** Recompute the checksum of the header at buf[off] in place (after editing fields). Returns the checksum. */
export function updateIpv4Checksum(buf: Uint8Array, off: number, hdrLen: number): number {
  buf[off + IPV4_CSUM] = 0;
  buf[off + IPV4_CSUM + 1] = 0;
  const csum = checksumOf(buf, off, hdrLen);
  buf[off + IPV4_CSUM] = csum >>> 8;
  buf[off + IPV4_CSUM + 1] = csum;
  return csum;
}

/** "10.244.1.0" for a uint32 address. Not for the hot path. */
export function ipv4ToString(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

const OCTET_RE = /^(0|[1-9][0-9]{0,2})$/;

/**
 * Parse a dotted quad ("198.51.100.1") into a uint32, or -1 if malformed. Strict: exactly four decimal
 * octets 0..255, no leading zeros (which some parsers read as octal). Config time only.
 */
export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!OCTET_RE.test(p)) return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v;
}
