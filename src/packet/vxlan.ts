/**
 * VXLAN header (RFC 7348 §5), carried in UDP (IANA port 4789) over IPv4 or IPv6.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |R|R|R|R|I|R|R|R|            Reserved                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                VXLAN Network Identifier (VNI) |   Reserved    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags (8 bits): the I flag must be 1 for a valid VNI; the other 7 bits and both reserved fields are
 * sent as zero and ignored on receipt (RFC 7348 §5). The inner Ethernet frame (no FCS) follows.
 *
 * Encapsulation overhead in front of the inner IP packet: inner Ethernet 14 + VXLAN 8 + UDP 8 + outer
 * IP 20 (IPv4) or 40 (IPv6) = 50 or 70 octets, the MTU cost Linux and flannel use.
 */
import { Drop } from '../engine/drops.ts';
import { ETH_HDR_LEN } from './ethernet.ts';
import { IPV4_HDR_LEN } from './ipv4.ts';
import { IPV6_HDR_LEN } from './ipv6.ts';
import { UDP_HDR_LEN } from './udp.ts';

/** Flags (8 bits, only I defined) followed by 24 reserved bits. */
export const VXLAN_FLAGS = 0;
/** VNI (24 bits) followed by 8 reserved bits. */
export const VXLAN_VNI = VXLAN_FLAGS + 4;
export const VXLAN_HDR_LEN = VXLAN_VNI + 4;
/** The I flag: "VNI is valid". */
export const VXLAN_FLAG_I = 0x08;
/** Largest VNI (24 bits). */
export const VXLAN_VNI_MAX = 0xffffff;
/** IANA-assigned UDP port (RFC 7348 §5). */
export const VXLAN_PORT = 4789;
/** The Linux kernel's default when a vxlan link has no `dstport` (pre-IANA); flannel's default `Port: 0` means this. */
export const VXLAN_PORT_LINUX_DEFAULT = 8472;
/** Bytes added in front of an inner IP packet: inner Ethernet + VXLAN + UDP + outer IPv4 (50). */
export const VXLAN_OVERHEAD_IPV4 = ETH_HDR_LEN + VXLAN_HDR_LEN + UDP_HDR_LEN + IPV4_HDR_LEN;
/** As VXLAN_OVERHEAD_IPV4 over an IPv6 underlay (70). */
export const VXLAN_OVERHEAD_IPV6 = ETH_HDR_LEN + VXLAN_HDR_LEN + UDP_HDR_LEN + IPV6_HDR_LEN;

/** A decoded VXLAN header. */
export interface VxlanView {
  /** The flags octet as received (reserved bits included). */
  flags: number;
  /** VXLAN Network Identifier, 0..2^24-1. */
  vni: number;
}

export function newVxlanView(): VxlanView {
  return { flags: 0, vni: 0 };
}

/**
 * Decode the VXLAN header at buf[off, end). Reserved bits are ignored (RFC 7348 §5).
 * Returns 0, `Drop.TruncatedVxlan` (fewer than 8 bytes) or `Drop.VxlanFlagIClear` (I flag 0).
 * The inner frame starts at off + VXLAN_HDR_LEN.
 */
export function decodeVxlan(buf: Uint8Array, off: number, end: number, out: VxlanView): number {
  if (end - off < VXLAN_HDR_LEN) return Drop.TruncatedVxlan;
  const flags = buf[off + VXLAN_FLAGS]!;
  if ((flags & VXLAN_FLAG_I) === 0) return Drop.VxlanFlagIClear;
  out.flags = flags;
  out.vni = (buf[off + VXLAN_VNI]! << 16) | (buf[off + VXLAN_VNI + 1]! << 8) | buf[off + VXLAN_VNI + 2]!;
  return 0;
}

/** Write the 8-byte VXLAN header (I flag, reserved bits zero) at buf[off]. Returns 8. */
export function writeVxlan(buf: Uint8Array, off: number, vni: number): number {
  buf[off + VXLAN_FLAGS] = VXLAN_FLAG_I;
  buf[off + VXLAN_FLAGS + 1] = 0;
  buf[off + VXLAN_FLAGS + 2] = 0;
  buf[off + VXLAN_FLAGS + 3] = 0;
  buf[off + VXLAN_VNI] = vni >>> 16;
  buf[off + VXLAN_VNI + 1] = vni >>> 8;
  buf[off + VXLAN_VNI + 2] = vni;
  buf[off + VXLAN_VNI + 3] = 0;
  return VXLAN_HDR_LEN;
}
