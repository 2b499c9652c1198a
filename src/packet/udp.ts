/**
 * UDP header (RFC 768) and its checksum over the IPv4 (RFC 768) or IPv6 (RFC 8200 §8.1) pseudo-header.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |          Source Port          |       Destination Port        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |            Length             |           Checksum            |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length counts header + data. Checksum 0 means "none" over IPv4; a computed 0 is sent as 0xffff
 * (RFC 768). Over IPv6 a zero checksum is only allowed for tunnels that opt in (RFC 6935, RFC 6936);
 * that policy belongs to the caller.
 */
import { Drop } from '../engine/drops.ts';
import { foldSum, pseudoSum4, pseudoSum6, sumBE, udpChecksumField } from './checksum.ts';
import { IPPROTO_UDP } from './ipv4.ts';

/** Source port (16 bits). */
export const UDP_SRC_PORT = 0;
/** Destination port (16 bits). */
export const UDP_DST_PORT = UDP_SRC_PORT + 2;
/** Length of header + data in octets (16 bits, ≥ 8). */
export const UDP_LEN = UDP_DST_PORT + 2;
/** Checksum (16 bits). */
export const UDP_CSUM = UDP_LEN + 2;
export const UDP_HDR_LEN = UDP_CSUM + 2;

/** A decoded UDP header: integer fields and offsets into the decoded buffer (nothing is copied). */
export interface UdpView {
  srcPort: number;
  dstPort: number;
  /** Length field (header + data). */
  length: number;
  /** Checksum field as received (0 = none). */
  checksum: number;
  /** Offset of the first data byte (off + 8). */
  payloadOff: number;
  /** off + length: bytes after it (up to `end`) are not UDP data. */
  payloadEnd: number;
}

export function newUdpView(): UdpView {
  return { srcPort: 0, dstPort: 0, length: 0, checksum: 0, payloadOff: 0, payloadEnd: 0 };
}

/**
 * Decode the UDP header at buf[off, end); `end` is the end of the IP payload. A length shorter than
 * the IP payload is accepted (trailing bytes ignored, like Linux `udp_rcv`); the checksum is not
 * verified here (see `verifyUdp4` / `verifyUdp6`).
 *
 * Returns 0, `Drop.TruncatedUdp` (fewer than 8 bytes) or `Drop.UdpBadLength` (length < 8 or beyond `end`).
 */
export function decodeUdp(buf: Uint8Array, off: number, end: number, out: UdpView): number {
  if (end - off < UDP_HDR_LEN) return Drop.TruncatedUdp;
  const length = (buf[off + UDP_LEN]! << 8) | buf[off + UDP_LEN + 1]!;
  if (length < UDP_HDR_LEN || length > end - off) return Drop.UdpBadLength;
  out.srcPort = (buf[off + UDP_SRC_PORT]! << 8) | buf[off + UDP_SRC_PORT + 1]!;
  out.dstPort = (buf[off + UDP_DST_PORT]! << 8) | buf[off + UDP_DST_PORT + 1]!;
  out.length = length;
  out.checksum = (buf[off + UDP_CSUM]! << 8) | buf[off + UDP_CSUM + 1]!;
  out.payloadOff = off + UDP_HDR_LEN;
  out.payloadEnd = off + length;
  return 0;
}

/** Write the 8-byte UDP header at buf[off]. The caller guarantees the room. Returns 8. */
export function writeUdpHeader(
  buf: Uint8Array,
  off: number,
  srcPort: number,
  dstPort: number,
  length: number,
  checksum: number,
): number {
  buf[off + UDP_SRC_PORT] = srcPort >>> 8;
  buf[off + UDP_SRC_PORT + 1] = srcPort;
  buf[off + UDP_DST_PORT] = dstPort >>> 8;
  buf[off + UDP_DST_PORT + 1] = dstPort;
  buf[off + UDP_LEN] = length >>> 8;
  buf[off + UDP_LEN + 1] = length;
  buf[off + UDP_CSUM] = checksum >>> 8;
  buf[off + UDP_CSUM + 1] = checksum;
  return UDP_HDR_LEN;
}

/** Store a checksum value into the header at buf[off]. */
export function setUdpChecksum(buf: Uint8Array, off: number, checksum: number): void {
  buf[off + UDP_CSUM] = checksum >>> 8;
  buf[off + UDP_CSUM + 1] = checksum;
}

/** Sum of the datagram buf[off, off+len) with its checksum field skipped (read as zero). len ≥ 8. */
function sumWithoutChecksum(buf: Uint8Array, off: number, len: number): number {
  return sumBE(buf, off, UDP_CSUM) + sumBE(buf, off + UDP_HDR_LEN, len - UDP_HDR_LEN);
}

/**
 * The checksum field value for the UDP datagram buf[off, off+len) (len ≥ 8) over IPv4 `src` → `dst`
 * (uint32): pseudo-header + header + data, the header's checksum field read as zero whatever it holds;
 * a computed 0 becomes 0xffff. Does not write it (see `setUdpChecksum`).
 */
export function udpChecksum4(buf: Uint8Array, off: number, len: number, src: number, dst: number): number {
  return udpChecksumField(pseudoSum4(src, dst, IPPROTO_UDP, len) + sumWithoutChecksum(buf, off, len));
}

/** As `udpChecksum4`, over IPv6 with 16-byte addresses at srcBuf[srcOff] and dstBuf[dstOff]. */
export function udpChecksum6(
  buf: Uint8Array,
  off: number,
  len: number,
  srcBuf: Uint8Array,
  srcOff: number,
  dstBuf: Uint8Array,
  dstOff: number,
): number {
  return udpChecksumField(pseudoSum6(srcBuf, srcOff, dstBuf, dstOff, IPPROTO_UDP, len) + sumWithoutChecksum(buf, off, len));
}

/**
 * True if the UDP datagram buf[off, off+len) over IPv4 has a correct checksum: the sum of pseudo-header,
 * header (checksum field included) and data is 0xffff. A zero field is not special here (in one's
 * complement it equals 0xffff): the caller decides what "no checksum" means before calling.
 */
export function verifyUdp4(buf: Uint8Array, off: number, len: number, src: number, dst: number): boolean {
  return foldSum(pseudoSum4(src, dst, IPPROTO_UDP, len) + sumBE(buf, off, len)) === 0xffff;
}

/** As `verifyUdp4`, over IPv6. */
export function verifyUdp6(
  buf: Uint8Array,
  off: number,
  len: number,
  srcBuf: Uint8Array,
  srcOff: number,
  dstBuf: Uint8Array,
  dstOff: number,
): boolean {
  return foldSum(pseudoSum6(srcBuf, srcOff, dstBuf, dstOff, IPPROTO_UDP, len) + sumBE(buf, off, len)) === 0xffff;
}
