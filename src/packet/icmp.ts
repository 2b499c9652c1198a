/**
 * ICMP errors a tunnel endpoint sends when a packet does not fit the underlay: IPv4 "fragmentation
 * needed" (RFC 792, next-hop MTU per RFC 1191 §4) and ICMPv6 "packet too big" (RFC 4443 §3.2).
 *
 * ICMPv4 Destination Unreachable, code 4 (RFC 1191 §4):
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Type = 3    |   Code = 4    |           Checksum            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |           unused = 0          |         Next-Hop MTU          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      Internet Header + leading octets of original datagram    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * ICMPv6 Packet Too Big (RFC 4443 §3.2):
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   Type = 2    |   Code = 0    |           Checksum            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                             MTU                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |    As much of invoking packet as possible without the ICMPv6  |
 *  +               packet exceeding the minimum IPv6 MTU           +
 *
 * The ICMPv4 checksum covers the ICMP message only (RFC 792); the ICMPv6 checksum adds the IPv6
 * pseudo-header (RFC 4443 §2.3, RFC 8200 §8.1).
 */
import { checksumOf, foldSum, pseudoSum6, sumBE, finishChecksum } from './checksum.ts';
import { IPPROTO_ICMP, IPPROTO_ICMPV6, IPV4_HDR_LEN, IPV4_DF, IPV4_SRC, IPV4_TOS, readU32, writeIpv4Header } from './ipv4.ts';
import { IPV6_ADDR_LEN, IPV6_HDR_LEN, IPV6_SRC, writeIpv6Header } from './ipv6.ts';

/** Message type (8 bits). */
export const ICMP_TYPE = 0;
/** Code (8 bits). */
export const ICMP_CODE = ICMP_TYPE + 1;
/** Checksum (16 bits). */
export const ICMP_CSUM = ICMP_CODE + 1;
/** Rest of header (32 bits): identifier + sequence, unused + MTU, pointer, ... */
export const ICMP_REST = ICMP_CSUM + 2;
/** ICMPv4 type 3 code 4: next-hop MTU in the low 16 bits of the rest of header (RFC 1191 §4). */
export const ICMP4_NEXT_HOP_MTU = ICMP_REST + 2;
/** ICMPv6 type 2: MTU, 32 bits. */
export const ICMP6_MTU = ICMP_REST;
export const ICMP_HDR_LEN = ICMP_REST + 4;

// ICMPv4 types and codes (RFC 792, RFC 1191).
export const ICMP4_ECHO_REPLY = 0;
export const ICMP4_DEST_UNREACH = 3;
export const ICMP4_CODE_NET_UNREACH = 0;
export const ICMP4_CODE_HOST_UNREACH = 1;
export const ICMP4_CODE_PROTO_UNREACH = 2;
export const ICMP4_CODE_PORT_UNREACH = 3;
export const ICMP4_CODE_FRAG_NEEDED = 4;
/** Source quench (deprecated, RFC 6633), still an error type. */
export const ICMP4_SOURCE_QUENCH = 4;
export const ICMP4_REDIRECT = 5;
export const ICMP4_ECHO_REQUEST = 8;
export const ICMP4_TIME_EXCEEDED = 11;
export const ICMP4_CODE_TTL_EXCEEDED = 0;
export const ICMP4_PARAM_PROBLEM = 12;

// ICMPv6 types and codes (RFC 4443).
export const ICMP6_DEST_UNREACH = 1;
export const ICMP6_PACKET_TOO_BIG = 2;
export const ICMP6_TIME_EXCEEDED = 3;
export const ICMP6_PARAM_PROBLEM = 4;
export const ICMP6_ECHO_REQUEST = 128;
export const ICMP6_ECHO_REPLY = 129;

/** RFC 1812 §4.3.2.3: an ICMP error should not exceed 576 octets (Linux caps the quote the same way). */
export const ICMP4_MAX_REPLY_LEN = 576;
/** RFC 4443 §2.4(c): an ICMPv6 error must not exceed the minimum IPv6 MTU. */
export const ICMP6_MAX_REPLY_LEN = 1280;
/** Most octets of the original packet an ICMPv4 error quotes: 576 − 20 − 8 = 548. */
export const ICMP4_MAX_QUOTE = ICMP4_MAX_REPLY_LEN - IPV4_HDR_LEN - ICMP_HDR_LEN;
/** Most octets of the original packet an ICMPv6 error quotes: 1280 − 40 − 8 = 1232. */
export const ICMP6_MAX_QUOTE = ICMP6_MAX_REPLY_LEN - IPV6_HDR_LEN - ICMP_HDR_LEN;
/**
 * TOS of an ICMPv4 error, like Linux `icmp_send`: precedence "internetwork control" (0xc0) plus the
 * original's TOS bits (RT_TOS mask 0x1e); ECN bits are not reflected.
 */
export const ICMP4_ERROR_TOS_PREC = 0xc0;
const RT_TOS_MASK = 0x1e;

/** True for ICMPv4 error types (never answer these with another error, RFC 1812 §4.3.2.7). */
export function isIcmp4Error(type: number): boolean {
  return (
    type === ICMP4_DEST_UNREACH ||
    type === ICMP4_SOURCE_QUENCH ||
    type === ICMP4_REDIRECT ||
    type === ICMP4_TIME_EXCEEDED ||
    type === ICMP4_PARAM_PROBLEM
  );
}

/** True for ICMPv6 error types, 0..127 (RFC 4443 §2.1, §2.4(e)). */
export function isIcmp6Error(type: number): boolean {
  return type < 128;
}

/**
 * memmove: copy n bytes from src[srcOff] to dst[dstOff], correct when both ranges lie in the same
 * ArrayBuffer and overlap (ICMP errors may be built in place, in the headroom before the original).
 */
function moveBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  const dstAbs = dst.byteOffset + dstOff;
  const srcAbs = src.byteOffset + srcOff;
  if (dst.buffer === src.buffer && dstAbs === srcAbs) return;
  if (dst.buffer === src.buffer && dstAbs > srcAbs && dstAbs < srcAbs + n) {
    for (let i = n - 1; i >= 0; i--) dst[dstOff + i] = src[srcOff + i]!;
  } else {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
  }
}

/**
 * Write a complete IPv4 packet at out[outOff]: a 20-byte header from `replySrc` (uint32) to the
 * original's source, then ICMP type 3 code 4 with `nextHopMtu`, quoting orig[origOff, origOff+origLen)
 * (the original IP packet: `origLen` is its total length) up to 548 octets so that the reply is at most
 * 576 octets (RFC 1812 §4.3.2.3, as Linux `icmp_send`). The reply has DF set and ID 0 (an atomic
 * datagram, RFC 6864 §4) and TOS 0xc0 | (original TOS & 0x1e) as Linux. Checksums are filled in.
 *
 * `out` may be the same buffer as `orig`, also overlapping (e.g. built in place at origOff − 28, which
 * then moves nothing). The caller guarantees room for the returned length at `out[outOff]`, that
 * origLen ≥ 20, and has already decided that an error may be sent (not for ICMP errors, broadcasts…).
 * Returns the total length of the reply (≤ 576).
 */
export function writeIcmp4FragNeeded(
  out: Uint8Array,
  outOff: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  nextHopMtu: number,
  replySrc: number,
  ttl: number,
): number {
  let quote = origLen < ICMP4_MAX_QUOTE ? origLen : ICMP4_MAX_QUOTE;
  if (quote < 0) quote = 0;
  // Read what we need from the original before anything may overwrite it.
  const origTos = orig[origOff + IPV4_TOS]!;
  const dst = readU32(orig, origOff + IPV4_SRC);
  const icmpOff = outOff + IPV4_HDR_LEN;
  const icmpLen = ICMP_HDR_LEN + quote;
  moveBytes(out, icmpOff + ICMP_HDR_LEN, orig, origOff, quote);
  out[icmpOff + ICMP_TYPE] = ICMP4_DEST_UNREACH;
  out[icmpOff + ICMP_CODE] = ICMP4_CODE_FRAG_NEEDED;
  out[icmpOff + ICMP_CSUM] = 0;
  out[icmpOff + ICMP_CSUM + 1] = 0;
  out[icmpOff + ICMP_REST] = 0;
  out[icmpOff + ICMP_REST + 1] = 0;
  out[icmpOff + ICMP4_NEXT_HOP_MTU] = nextHopMtu >>> 8;
  out[icmpOff + ICMP4_NEXT_HOP_MTU + 1] = nextHopMtu;
  const csum = checksumOf(out, icmpOff, icmpLen);
  out[icmpOff + ICMP_CSUM] = csum >>> 8;
  out[icmpOff + ICMP_CSUM + 1] = csum;
  const tos = ICMP4_ERROR_TOS_PREC | (origTos & RT_TOS_MASK);
  writeIpv4Header(out, outOff, tos, IPV4_HDR_LEN + icmpLen, 0, IPV4_DF, ttl, IPPROTO_ICMP, replySrc, dst);
  return IPV4_HDR_LEN + icmpLen;
}

/** Addresses of an ICMPv6 reply, saved before an in-place build may overwrite them. Reused, never reallocated. */
const addrScratch = new Uint8Array(2 * IPV6_ADDR_LEN);

/**
 * Write a complete IPv6 packet at out[outOff]: a 40-byte header (traffic class 0, flow label 0) from
 * replySrc[replySrcOff, +16) to the original's source, then ICMPv6 type 2 code 0 with `mtu`, quoting
 * orig[origOff, origOff+origLen) (the original IPv6 packet) up to 1232 octets so that the reply is at
 * most 1280 octets (RFC 4443 §2.4(c), §3.2). The ICMPv6 checksum includes the pseudo-header.
 *
 * `out` may be the same buffer as `orig`, also overlapping (in place at origOff − 48 moves nothing);
 * `replySrc` may point into `orig` (e.g. its destination address). The caller guarantees room for the
 * returned length, origLen ≥ 40, and that an error may be sent. Returns the total length (≤ 1280).
 */
export function writeIcmp6PacketTooBig(
  out: Uint8Array,
  outOff: number,
  orig: Uint8Array,
  origOff: number,
  origLen: number,
  mtu: number,
  replySrc: Uint8Array,
  replySrcOff: number,
  hopLimit: number,
): number {
  let quote = origLen < ICMP6_MAX_QUOTE ? origLen : ICMP6_MAX_QUOTE;
  if (quote < 0) quote = 0;
  const s = addrScratch;
  for (let i = 0; i < IPV6_ADDR_LEN; i++) {
    s[i] = replySrc[replySrcOff + i]!;
    s[IPV6_ADDR_LEN + i] = orig[origOff + IPV6_SRC + i]!;
  }
  const icmpOff = outOff + IPV6_HDR_LEN;
  const icmpLen = ICMP_HDR_LEN + quote;
  moveBytes(out, icmpOff + ICMP_HDR_LEN, orig, origOff, quote);
  out[icmpOff + ICMP_TYPE] = ICMP6_PACKET_TOO_BIG;
  out[icmpOff + ICMP_CODE] = 0;
  out[icmpOff + ICMP_CSUM] = 0;
  out[icmpOff + ICMP_CSUM + 1] = 0;
  out[icmpOff + ICMP6_MTU] = mtu >>> 24;
  out[icmpOff + ICMP6_MTU + 1] = mtu >>> 16;
  out[icmpOff + ICMP6_MTU + 2] = mtu >>> 8;
  out[icmpOff + ICMP6_MTU + 3] = mtu;
  writeIpv6Header(out, outOff, 0, 0, icmpLen, IPPROTO_ICMPV6, hopLimit, s, 0, s, IPV6_ADDR_LEN);
  const csum = finishChecksum(pseudoSum6(s, 0, s, IPV6_ADDR_LEN, IPPROTO_ICMPV6, icmpLen) + sumBE(out, icmpOff, icmpLen));
  out[icmpOff + ICMP_CSUM] = csum >>> 8;
  out[icmpOff + ICMP_CSUM + 1] = csum;
  return IPV6_HDR_LEN + icmpLen;
}

/** True if the ICMPv4 message buf[off, off+len) has a correct checksum. */
export function verifyIcmp4(buf: Uint8Array, off: number, len: number): boolean {
  return foldSum(sumBE(buf, off, len)) === 0xffff;
}

/** True if the ICMPv6 message buf[off, off+len) has a correct checksum over the pseudo-header. */
export function verifyIcmp6(
  buf: Uint8Array,
  off: number,
  len: number,
  srcBuf: Uint8Array,
  srcOff: number,
  dstBuf: Uint8Array,
  dstOff: number,
): boolean {
  return foldSum(pseudoSum6(srcBuf, srcOff, dstBuf, dstOff, IPPROTO_ICMPV6, len) + sumBE(buf, off, len)) === 0xffff;
}
