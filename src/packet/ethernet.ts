/**
 * Ethernet II framing (IEEE 802.3, RFC 894) with one optional IEEE 802.1Q VLAN tag.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  Destination MAC address                      |
 *  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                               |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *  |                    Source MAC address                         |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      EtherType (or TPID)      |   (802.1Q tag only:)          |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+ PCP |D|        VID            |
 *  |     (inner EtherType)         |  3  |E|        12             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * MAC addresses: bit 0 of the first octet is the I/G (group) bit, bit 1 the U/L (locally administered)
 * bit (IEEE 802-2014 §8.2). The frame check sequence is not part of what we see (TUN, sockets, pcap).
 */
import { Drop } from '../engine/drops.ts';

export const ETH_ALEN = 6;
/** Destination MAC, 48 bits. */
export const ETH_DST = 0;
/** Source MAC, 48 bits. */
export const ETH_SRC = ETH_DST + ETH_ALEN;
/** EtherType (≥ 0x0600) or, for a tagged frame, the TPID 0x8100 / 0x88a8. 16 bits. */
export const ETH_TYPE = ETH_SRC + ETH_ALEN;
export const ETH_HDR_LEN = ETH_TYPE + 2;
/** An 802.1Q tag: TPID (16) + TCI (PCP 3, DEI 1, VID 12). The TPID sits where the EtherType would. */
export const VLAN_TAG_LEN = 4;
/** Offset of the TCI within a tagged frame; the real EtherType follows it. */
export const VLAN_TCI = ETH_TYPE + 2;
export const VLAN_ETH_TYPE = VLAN_TCI + 2;
export const VLAN_VID_MASK = 0x0fff;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
export const ETHERTYPE_IPV6 = 0x86dd;

/**
 * A decoded Ethernet header. Offsets point into the decoded buffer (nothing is copied); the view is
 * valid as long as those bytes are.
 */
export interface EthernetView {
  /** Offset of the destination MAC in the buffer. */
  dstOff: number;
  /** Offset of the source MAC in the buffer. */
  srcOff: number;
  /** The EtherType of the payload (after the VLAN tag, if any). */
  etherType: number;
  /** VLAN ID (0..4095) of the 802.1Q / 802.1ad tag, or -1 if the frame is untagged. */
  vlanId: number;
  /** Offset of the first payload byte (14, or 18 when tagged, past `off`). */
  payloadOff: number;
}

export function newEthernetView(): EthernetView {
  return { dstOff: 0, srcOff: 0, etherType: 0, vlanId: -1, payloadOff: 0 };
}

/**
 * Decode the Ethernet header at buf[off, end) into `out`. One tag with TPID 0x8100 (802.1Q) or 0x88a8
 * (802.1ad S-tag) is stripped; a second tag is not: its TPID is then reported as `etherType`, which
 * the caller treats as "not IP".
 *
 * Returns 0, or `Drop.TruncatedEthernet` when fewer than 14 (18 when tagged) bytes are present.
 */
export function decodeEthernet(buf: Uint8Array, off: number, end: number, out: EthernetView): number {
  if (end - off < ETH_HDR_LEN) return Drop.TruncatedEthernet;
  let etherType = (buf[off + ETH_TYPE]! << 8) | buf[off + ETH_TYPE + 1]!;
  let payloadOff = off + ETH_HDR_LEN;
  let vlanId = -1;
  if (etherType === ETHERTYPE_VLAN || etherType === ETHERTYPE_QINQ) {
    if (end - off < ETH_HDR_LEN + VLAN_TAG_LEN) return Drop.TruncatedEthernet;
    vlanId = ((buf[off + VLAN_TCI]! << 8) | buf[off + VLAN_TCI + 1]!) & VLAN_VID_MASK;
    etherType = (buf[off + VLAN_ETH_TYPE]! << 8) | buf[off + VLAN_ETH_TYPE + 1]!;
    payloadOff += VLAN_TAG_LEN;
  }
  out.dstOff = off + ETH_DST;
  out.srcOff = off + ETH_SRC;
  out.etherType = etherType;
  out.vlanId = vlanId;
  out.payloadOff = payloadOff;
  return 0;
}

/**
 * Write an untagged Ethernet header at buf[off, off+14): `dst` and `src` are 6-byte MACs (copied).
 * The caller guarantees the room. Returns 14.
 */
export function writeEthernet(buf: Uint8Array, off: number, dst: Uint8Array, src: Uint8Array, etherType: number): number {
  for (let i = 0; i < ETH_ALEN; i++) {
    buf[off + ETH_DST + i] = dst[i]!;
    buf[off + ETH_SRC + i] = src[i]!;
  }
  buf[off + ETH_TYPE] = etherType >>> 8;
  buf[off + ETH_TYPE + 1] = etherType;
  return ETH_HDR_LEN;
}

/** True if the 6 bytes at buf[off] are ff:ff:ff:ff:ff:ff. */
export function macIsBroadcast(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & buf[off + 1]! & buf[off + 2]! & buf[off + 3]! & buf[off + 4]! & buf[off + 5]!) === 0xff;
}

/** True if the I/G (group) bit of the MAC at buf[off] is set. Broadcast is a group address too. */
export function macIsMulticast(buf: Uint8Array, off: number): boolean {
  return (buf[off]! & 0x01) !== 0;
}

/** True if the 6 bytes at buf[off] equal `mac`. */
export function macEquals(buf: Uint8Array, off: number, mac: Uint8Array): boolean {
  return (
    buf[off] === mac[0] &&
    buf[off + 1] === mac[1] &&
    buf[off + 2] === mac[2] &&
    buf[off + 3] === mac[3] &&
    buf[off + 4] === mac[4] &&
    buf[off + 5] === mac[5]
  );
}

const MAC_RE = /^([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})[:-]([0-9a-fA-F]{2})$/;

/**
 * Parse "02:00:0a:f4:01:00" (or with '-' separators) into a new 6-byte array; null if malformed.
 * Config time only (allocates).
 */
export function parseMac(text: string): Uint8Array | null {
  const m = MAC_RE.exec(text);
  if (m === null) return null;
  const sep = text[2];
  if (text[5] !== sep || text[8] !== sep || text[11] !== sep || text[14] !== sep) return null;
  const mac = new Uint8Array(ETH_ALEN);
  for (let i = 0; i < ETH_ALEN; i++) mac[i] = parseInt(m[i + 1]!, 16);
  return mac;
}

/** "02:00:0a:f4:01:00" for the 6 bytes at buf[off] (lower case). Not for the hot path. */
export function formatMac(buf: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < ETH_ALEN; i++) {
    if (i > 0) s += ':';
    s += (buf[off + i]! | 0x100).toString(16).slice(1);
  }
  return s;
}
