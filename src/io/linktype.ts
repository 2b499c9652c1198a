/**
 * Capture link types (tcpdump.org LINKTYPE_* numbers, as written in pcap / pcapng files) and where the IP
 * packet starts inside a captured frame.
 *
 *   Ethernet (1)          dst(6) src(6) [0x8100|0x88a8 TCI(2)] ethertype(2) | IP …       14 or 18 bytes
 *   Linux SLL (113)       pkttype(2) hatype(2) halen(2) addr(8) protocol(2) | IP …          16 bytes
 *   Linux SLL2 (276)      protocol(2) mbz(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8) | IP …  20 bytes
 *   raw IP (101; also DLT_RAW 12 and 14)   IP … (version nibble says 4 or 6)
 *   IPv4 (228), IPv6 (229)                 IP … (family fixed by the link type)
 *
 * References: https://www.tcpdump.org/linktypes.html, linktypes/LINKTYPE_LINUX_SLL.html, …_SLL2.html.
 */
import { Drop } from '../engine/drops.ts';

export const LINKTYPE_ETHERNET = 1;
/** DLT_RAW as some BSDs number it (12 on most, 14 on OpenBSD); libpcap maps both to LINKTYPE_RAW in files. */
export const LINKTYPE_DLT_RAW12 = 12;
export const LINKTYPE_DLT_RAW14 = 14;
export const LINKTYPE_RAW = 101;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const ETHERTYPE_VLAN = 0x8100; // IEEE 802.1Q
const ETHERTYPE_QINQ = 0x88a8; // IEEE 802.1ad S-tag (one tag accepted, like 802.1Q)

const ETH_TYPE = 12; // dst(6) + src(6)
const ETH_HDR_LEN = ETH_TYPE + 2;
const VLAN_TAG_LEN = 4; // TPID(2) was the ethertype; TCI(2) + inner ethertype(2)
const SLL_HATYPE = 2;
const SLL_PROTOCOL = 14;
const SLL_HDR_LEN = SLL_PROTOCOL + 2;
const SLL2_PROTOCOL = 0;
const SLL2_HATYPE = 8;
const SLL2_HDR_LEN = 20;
/** ARPHRD_NETLINK: SLL "protocol" is then a netlink family, not an EtherType. */
const ARPHRD_NETLINK = 824;

/** Where the IP packet starts: filled by {@link locateL3}. Caller-owned, reused across packets. */
export interface L3Location {
  /** Offset in the same buffer of the first byte of the IP header. */
  l3Off: number;
  /** 0x0800 (IPv4) or 0x86dd (IPv6): what the link layer says the packet is. */
  etherType: number;
}

export function newL3Location(): L3Location {
  return { l3Off: 0, etherType: 0 };
}

/** True for the link types {@link locateL3} understands. */
export function isSupportedLinkType(linkType: number): boolean {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
    case LINKTYPE_RAW:
    case LINKTYPE_DLT_RAW12:
    case LINKTYPE_DLT_RAW14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_LINUX_SLL2:
      return true;
    default:
      return false;
  }
}

/** A short name for messages and summaries (not for the hot path: may build a string). */
export function linkTypeName(linkType: number): string {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return 'ethernet';
    case LINKTYPE_RAW:
    case LINKTYPE_DLT_RAW12:
    case LINKTYPE_DLT_RAW14:
      return 'raw';
    case LINKTYPE_IPV4:
      return 'ipv4';
    case LINKTYPE_IPV6:
      return 'ipv6';
    case LINKTYPE_LINUX_SLL:
      return 'linux-sll';
    case LINKTYPE_LINUX_SLL2:
      return 'linux-sll2';
    default:
      return `linktype-${linkType}`;
  }
}

/** Length of the link-layer header a writer must put in front of an IP packet (0 for the raw types, -1 unsupported). */
export function linkHeaderLen(linkType: number): number {
  switch (linkType) {
    case LINKTYPE_ETHERNET:
      return ETH_HDR_LEN;
    case LINKTYPE_LINUX_SLL:
      return SLL_HDR_LEN;
    case LINKTYPE_LINUX_SLL2:
      return SLL2_HDR_LEN;
    case LINKTYPE_RAW:
    case LINKTYPE_DLT_RAW12:
    case LINKTYPE_DLT_RAW14:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      return 0;
    default:
      return -1;
  }
}

function ipEtherType(t: number): boolean {
  return t === ETHERTYPE_IPV4 || t === ETHERTYPE_IPV6;
}

/**
 * Find the IP packet inside a captured frame `buf[off, off+len)` of the given link type.
 * Fills `out.l3Off` (offset into `buf`) and `out.etherType` and returns 0, or returns a drop code:
 * - `UnsupportedLinkType`: not one of the link types above;
 * - `TruncatedEthernet`: shorter than the link-layer header (Ethernet incl. one 802.1Q/802.1ad tag, SLL, SLL2);
 * - `TruncatedOuterIp`: a raw-IP frame with no byte at all;
 * - `OuterNotIp`: the EtherType / SLL protocol is not IPv4 or IPv6 (incl. a second VLAN tag), or the raw
 *   IP version nibble is neither 4 nor 6.
 * The IP header itself is not checked here (LINKTYPE_IPV4/IPV6 fix the family; the IP decoder checks the
 * version against it). No allocation; `out` is meaningless after a non-zero return.
 */
export function locateL3(linkType: number, buf: Uint8Array, off: number, len: number, out: L3Location): number {
  let t: number;
  switch (linkType) {
    case LINKTYPE_ETHERNET: {
      if (len < ETH_HDR_LEN) return Drop.TruncatedEthernet;
      t = (buf[off + ETH_TYPE]! << 8) | buf[off + ETH_TYPE + 1]!;
      let l3 = off + ETH_HDR_LEN;
      if (t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) {
        if (len < ETH_HDR_LEN + VLAN_TAG_LEN) return Drop.TruncatedEthernet;
        t = (buf[off + ETH_TYPE + VLAN_TAG_LEN]! << 8) | buf[off + ETH_TYPE + VLAN_TAG_LEN + 1]!;
        l3 += VLAN_TAG_LEN;
      }
      if (!ipEtherType(t)) return Drop.OuterNotIp;
      out.l3Off = l3;
      out.etherType = t;
      return 0;
    }
    case LINKTYPE_RAW:
    case LINKTYPE_DLT_RAW12:
    case LINKTYPE_DLT_RAW14: {
      if (len < 1) return Drop.TruncatedOuterIp;
      const v = buf[off]! >> 4;
      if (v === 4) t = ETHERTYPE_IPV4;
      else if (v === 6) t = ETHERTYPE_IPV6;
      else return Drop.OuterNotIp;
      out.l3Off = off;
      out.etherType = t;
      return 0;
    }
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      out.l3Off = off;
      out.etherType = linkType === LINKTYPE_IPV4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
      return 0;
    case LINKTYPE_LINUX_SLL:
    case LINKTYPE_LINUX_SLL2: {
      const sll2 = linkType === LINKTYPE_LINUX_SLL2;
      const hdr = sll2 ? SLL2_HDR_LEN : SLL_HDR_LEN;
      if (len < hdr) return Drop.TruncatedEthernet;
      const pt = off + (sll2 ? SLL2_PROTOCOL : SLL_PROTOCOL);
      const ht = off + (sll2 ? SLL2_HATYPE : SLL_HATYPE);
      if (((buf[ht]! << 8) | buf[ht + 1]!) === ARPHRD_NETLINK) return Drop.OuterNotIp;
      t = (buf[pt]! << 8) | buf[pt + 1]!;
      let l3 = off + hdr;
      if (t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) {
        // The kernel normally strips the tag (it goes to auxdata); if it is inline it follows the header.
        if (len < hdr + VLAN_TAG_LEN) return Drop.TruncatedEthernet;
        t = (buf[l3 + 2]! << 8) | buf[l3 + 3]!;
        l3 += VLAN_TAG_LEN;
      }
      if (!ipEtherType(t)) return Drop.OuterNotIp;
      out.l3Off = l3;
      out.etherType = t;
      return 0;
    }
    default:
      return Drop.UnsupportedLinkType;
  }
}
