/**
 * IPv6 header (RFC 8200 §3) and the extension-header chain (RFC 8200 §4, AH RFC 4302).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |Version| Traffic Class |           Flow Label                  |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |         Payload Length        |  Next Header  |   Hop Limit   |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +                         Source Address                        +
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +                      Destination Address                      +
 *  |                                                               |
 *  +                                                               +
 *  |                                                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Extension headers walked by the decoder; each starts with its own Next Header (8 bits).
 *
 * Hop-by-Hop Options (0), Routing (43), Destination Options (60), RFC 8200 §4.3-4.6:
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Next Header  |  Hdr Ext Len  |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+      (8 + 8 × Hdr Ext Len     |
 *  |                                  octets in all)               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Fragment (44), RFC 8200 §4.5, always 8 octets:
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         Identification                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Authentication Header (51), RFC 4302 §2.2:
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Next Header  |  Payload Len  |          RESERVED             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     SPI, Sequence Number, ICV ... ((Payload Len + 2) × 4      |
 *  |                     octets in all)                            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * ESP (50), No Next Header (59) and anything else end the walk: that is the upper-layer protocol.
 */
import { Drop } from '../engine/drops.ts';
import { IPPROTO_HOPOPTS } from './ipv4.ts';

/** Version (4 bits, = 6), Traffic Class (8 bits: DSCP 6 + ECN 2), Flow Label (20 bits). */
export const IPV6_VTC = 0;
/** Payload length: octets after this 40-byte header, extension headers included (16 bits). */
export const IPV6_PAYLOAD_LEN = IPV6_VTC + 4;
/** Next Header (8 bits): first extension header or upper-layer protocol. */
export const IPV6_NEXT = IPV6_PAYLOAD_LEN + 2;
/** Hop Limit (8 bits). */
export const IPV6_HOP = IPV6_NEXT + 1;
/** Source address (128 bits). */
export const IPV6_SRC = IPV6_HOP + 1;
/** Destination address (128 bits). */
export const IPV6_DST = IPV6_SRC + 16;
export const IPV6_HDR_LEN = IPV6_DST + 16;
export const IPV6_ADDR_LEN = 16;

/** Extension header protocol numbers (IANA). */
export const IPV6_EXT_HOPOPTS = IPPROTO_HOPOPTS;
export const IPV6_EXT_ROUTING = 43;
export const IPV6_EXT_FRAGMENT = 44;
export const IPV6_EXT_ESP = 50;
export const IPV6_EXT_AH = 51;
export const IPV6_EXT_DSTOPTS = 60;
/** Length of the fragment header (fixed). */
export const IPV6_FRAG_HDR_LEN = 8;
/** Smallest extension header (all are multiples of 8 octets, AH of 4 but at least 12). */
const EXT_MIN_LEN = 8;

/** A decoded IPv6 header: integer fields and offsets into the decoded buffer (nothing is copied). */
export interface Ipv6View {
  /** Payload length field (octets after the fixed header, extension headers included). */
  payloadLen: number;
  /** Traffic class octet (DSCP << 2 | ECN). */
  trafficClass: number;
  /** Flow label, 20 bits. */
  flowLabel: number;
  hopLimit: number;
  /** The fixed header's Next Header field. */
  nextHeader: number;
  /** Protocol after walking hop-by-hop / routing / fragment / destination-options / AH headers. */
  upperProto: number;
  /** Offset of the upper-layer header (`payloadEnd` if `upperProto` is 59, No Next Header, and nothing follows). */
  upperOff: number;
  /** off + 40 + payloadLen; bytes after it (Ethernet padding) are ignored. */
  payloadEnd: number;
  /** A fragment header was seen (first or later fragment). */
  fragment: boolean;
  /** Offset of the 16-byte source address. */
  srcOff: number;
  /** Offset of the 16-byte destination address. */
  dstOff: number;
}

export function newIpv6View(): Ipv6View {
  return {
    payloadLen: 0,
    trafficClass: 0,
    flowLabel: 0,
    hopLimit: 0,
    nextHeader: 0,
    upperProto: 0,
    upperOff: 0,
    payloadEnd: 0,
    fragment: false,
    srcOff: 0,
    dstOff: 0,
  };
}

/**
 * Decode the IPv6 header at buf[off, end) into `out` and walk its extension headers.
 *
 * Returns 0 or, checked in this order:
 *  - `Drop.TruncatedOuterIp`     fewer than 40 bytes;
 *  - `Drop.OuterIpBadVersion`    version is not 6;
 *  - `Drop.OuterIpBadLength`     payload length 0 with a hop-by-hop header (a jumbogram, RFC 2675: unsupported);
 *  - `Drop.TruncatedOuterIp`     fewer bytes present than 40 + payload length;
 *  - `Drop.OuterIpBadExtHeader`  an extension header runs past `payloadEnd`, or hop-by-hop is not first
 *                                (RFC 8200 §4.1).
 * After a fragment header with a non-zero offset the walk stops: what follows is not a header but the
 * middle of the fragmented data, and `upperProto` is the fragment header's Next Header.
 */
export function decodeIpv6(buf: Uint8Array, off: number, end: number, out: Ipv6View): number {
  if (end - off < IPV6_HDR_LEN) return Drop.TruncatedOuterIp;
  const b0 = buf[off]!;
  if (b0 >>> 4 !== 6) return Drop.OuterIpBadVersion;
  const b1 = buf[off + 1]!;
  const payloadLen = (buf[off + IPV6_PAYLOAD_LEN]! << 8) | buf[off + IPV6_PAYLOAD_LEN + 1]!;
  const nextHeader = buf[off + IPV6_NEXT]!;
  if (payloadLen === 0 && nextHeader === IPV6_EXT_HOPOPTS) return Drop.OuterIpBadLength;
  const payloadEnd = off + IPV6_HDR_LEN + payloadLen;
  if (payloadEnd > end) return Drop.TruncatedOuterIp;

  let proto = nextHeader;
  let p = off + IPV6_HDR_LEN;
  let fragment = false;
  for (;;) {
    if (
      proto !== IPV6_EXT_HOPOPTS &&
      proto !== IPV6_EXT_ROUTING &&
      proto !== IPV6_EXT_FRAGMENT &&
      proto !== IPV6_EXT_DSTOPTS &&
      proto !== IPV6_EXT_AH
    ) {
      break;
    }
    // RFC 8200 §4.1: hop-by-hop options only immediately after the fixed header.
    if (proto === IPV6_EXT_HOPOPTS && p !== off + IPV6_HDR_LEN) return Drop.OuterIpBadExtHeader;
    if (payloadEnd - p < EXT_MIN_LEN) return Drop.OuterIpBadExtHeader;
    const next = buf[p]!;
    if (proto === IPV6_EXT_FRAGMENT) {
      fragment = true;
      const fragOff = ((buf[p + 2]! << 8) | buf[p + 3]!) >>> 3;
      p += IPV6_FRAG_HDR_LEN;
      proto = next;
      if (fragOff !== 0) break; // a later fragment: no headers follow, only data
      continue;
    }
    // AH length counts 32-bit words minus 2 (RFC 4302 §2.2); the others 8-octet units minus 1.
    const len = proto === IPV6_EXT_AH ? (buf[p + 1]! + 2) << 2 : (buf[p + 1]! + 1) << 3;
    if (payloadEnd - p < len) return Drop.OuterIpBadExtHeader;
    p += len;
    proto = next;
  }

  out.payloadLen = payloadLen;
  out.trafficClass = ((b0 & 0x0f) << 4) | (b1 >>> 4);
  out.flowLabel = ((b1 & 0x0f) << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
  out.hopLimit = buf[off + IPV6_HOP]!;
  out.nextHeader = nextHeader;
  out.upperProto = proto;
  out.upperOff = p;
  out.payloadEnd = payloadEnd;
  out.fragment = fragment;
  out.srcOff = off + IPV6_SRC;
  out.dstOff = off + IPV6_DST;
  return 0;
}

/**
 * Write a 40-byte IPv6 header at buf[off, off+40). Addresses are copied from src[srcOff, +16) and
 * dst[dstOff, +16) (they may alias `buf`, but not the header being written). The caller guarantees
 * the room. Returns 40.
 */
export function writeIpv6Header(
  buf: Uint8Array,
  off: number,
  trafficClass: number,
  flowLabel: number,
  payloadLen: number,
  nextHeader: number,
  hopLimit: number,
  src: Uint8Array,
  srcOff: number,
  dst: Uint8Array,
  dstOff: number,
): number {
  buf[off] = 0x60 | ((trafficClass >>> 4) & 0x0f);
  buf[off + 1] = ((trafficClass & 0x0f) << 4) | ((flowLabel >>> 16) & 0x0f);
  buf[off + 2] = flowLabel >>> 8;
  buf[off + 3] = flowLabel;
  buf[off + IPV6_PAYLOAD_LEN] = payloadLen >>> 8;
  buf[off + IPV6_PAYLOAD_LEN + 1] = payloadLen;
  buf[off + IPV6_NEXT] = nextHeader;
  buf[off + IPV6_HOP] = hopLimit;
  for (let i = 0; i < IPV6_ADDR_LEN; i++) {
    buf[off + IPV6_SRC + i] = src[srcOff + i]!;
    buf[off + IPV6_DST + i] = dst[dstOff + i]!;
  }
  return IPV6_HDR_LEN;
}

/** True if the 16 bytes at a[aOff] equal those at b[bOff]. */
export function ipv6Equals(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < IPV6_ADDR_LEN; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/**
 * RFC 5952 text for the 16 bytes at buf[off]: lower case, leading zeros dropped, the longest run of two
 * or more zero groups (the first on a tie) as "::", IPv4-mapped addresses as ::ffff:a.b.c.d (§5).
 * Not for the hot path.
 */
export function ipv6ToString(buf: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((buf[off + 2 * i]! << 8) | buf[off + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) bestStart = -1;
  const hex = (n: number) => n.toString(16);
  if (bestStart < 0) return g.map(hex).join(':');
  const head = g.slice(0, bestStart).map(hex).join(':');
  const tail = g.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

const GROUP_RE = /^[0-9a-fA-F]{1,4}$/;

/** Parse the groups of one side of "::" into `out`; returns the count or -1. */
function parseGroups(text: string, out: number[], allowV4Tail: boolean): number {
  if (text === '') return 0;
  const parts = text.split(':');
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (allowV4Tail && i === parts.length - 1 && p.includes('.')) {
      const m = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/.exec(p);
      if (m === null) return -1;
      const o = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])];
      if (o.some((x) => x > 255)) return -1;
      out.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
      continue;
    }
    if (!GROUP_RE.test(p)) return -1;
    out.push(parseInt(p, 16));
  }
  return out.length;
}

/**
 * Parse IPv6 text ("2001:db8:100::1", "::ffff:198.51.100.1") into a new 16-byte array; null if
 * malformed. Zone IDs ("%eth0") and prefixes are rejected. Config time only (allocates).
 */
export function parseIpv6(text: string): Uint8Array | null {
  if (text.length < 2 || text.length > 45) return null;
  const dbl = text.indexOf('::');
  const head: number[] = [];
  const tail: number[] = [];
  if (dbl >= 0) {
    if (text.indexOf('::', dbl + 1) >= 0) return null;
    const left = text.slice(0, dbl);
    const right = text.slice(dbl + 2);
    if (parseGroups(left, head, false) < 0) return null;
    if (parseGroups(right, tail, true) < 0) return null;
    if (head.length + tail.length > 7) return null;
  } else {
    if (parseGroups(text, head, true) !== 8) return null;
  }
  const addr = new Uint8Array(IPV6_ADDR_LEN);
  for (let i = 0; i < head.length; i++) {
    addr[2 * i] = head[i]! >>> 8;
    addr[2 * i + 1] = head[i]! & 0xff;
  }
  const base = 8 - tail.length;
  for (let i = 0; i < tail.length; i++) {
    addr[2 * (base + i)] = tail[i]! >>> 8;
    addr[2 * (base + i) + 1] = tail[i]! & 0xff;
  }
  return addr;
}
