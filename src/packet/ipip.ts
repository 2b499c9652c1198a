/**
 * IP-in-IP tunnelling: IPv4 in IPv4 (RFC 2003, protocol 4) and IPv6 in IPv4 / IPv6 (RFC 4213, protocol
 * 41; IPv4 in IPv6 uses protocol 4 as well, RFC 2473). There is no header of its own: the outer header
 * (ipv4.ts / ipv6.ts writers) is followed directly by the inner IP packet.
 *
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Outer IP header (Protocol / Next Header = 4 or 41)           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Inner IP header (Version = 4 or 6)                           |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Inner payload                                                |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * RFC 2003 §3.1: outer TTL is the tunnel's own (the inner TTL was already decremented by the router),
 * outer DF copied from the inner packet or set per the tunnel's MTU policy; ECN per RFC 6040.
 * The carried protocol must agree with the inner version nibble (Linux `ipip_rcv` / `ip6_tnl` check it).
 */
import { IPPROTO_IPIP, IPPROTO_IPV6, IPV4_HDR_LEN } from './ipv4.ts';
import { IPV6_HDR_LEN } from './ipv6.ts';

/** Outer protocol number carrying an IPv4 packet (RFC 2003). */
export const IPIP_PROTO_IPV4 = IPPROTO_IPIP;
/** Outer protocol number carrying an IPv6 packet (RFC 4213). */
export const IPIP_PROTO_IPV6 = IPPROTO_IPV6;
/** Bytes IPIP adds in front of the inner packet over an IPv4 underlay (20). */
export const IPIP_OVERHEAD_IPV4 = IPV4_HDR_LEN;
/** Bytes added over an IPv6 underlay (40). */
export const IPIP_OVERHEAD_IPV6 = IPV6_HDR_LEN;

/** Outer protocol number for an inner packet of IP version `v`: 4 → 4, 6 → 41, anything else → -1. */
export function innerProtoForVersion(v: number): number {
  return v === 4 ? IPIP_PROTO_IPV4 : v === 6 ? IPIP_PROTO_IPV6 : -1;
}

/** Inner IP version an outer protocol number announces: 4 → 4, 41 → 6, anything else → -1. */
export function versionForInnerProto(proto: number): number {
  return proto === IPIP_PROTO_IPV4 ? 4 : proto === IPIP_PROTO_IPV6 ? 6 : -1;
}

/** The version nibble of the IP packet at buf[off], or -1 if off ≥ end (nothing there). */
export function ipVersionAt(buf: Uint8Array, off: number, end: number): number {
  return off < end ? buf[off]! >>> 4 : -1;
}
