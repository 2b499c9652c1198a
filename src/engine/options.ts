/**
 * Engine options: what the validated config (src/control/config.ts) turns into. Invariants (VNI < 2^24,
 * port range, MTU) are checked once at config load; the engine trusts these values.
 */
export type Backend = 'vxlan' | 'ipip';

export interface EngineOptions {
  backend: Backend;
  /** VXLAN Network Identifier, 0..2^24-1. Defaults to 1 (flannel). */
  vni: number;
  /** VXLAN UDP destination port (and the port we listen on). Defaults to 4789. */
  port: number;
  /** Outer UDP source port range for the inner-flow hash, inclusive. Defaults to 32768..60999 (Linux ip_local_port_range). */
  srcPortMin: number;
  srcPortMax: number;
  /** Outer TTL / hop limit: 1..255, or 0 = inherit from the inner packet. Defaults to 64 (Linux vxlan). */
  ttl: number;
  /** Outer TOS / traffic class: 'inherit' (DSCP copied, ECN per RFC 6040 normal mode) or a fixed byte. Defaults to 'inherit'. */
  tos: 'inherit' | number;
  /** Outer IPv4 DF bit: 'unset' (Linux default), 'set', or 'inherit' from an inner IPv4 DF. Defaults to 'unset'. */
  df: 'unset' | 'set' | 'inherit';
  /** Compute the outer UDP checksum over an IPv4 underlay. Defaults to true (Linux `udpcsum` default for v4). */
  udpChecksum: boolean;
  /** Send a zero outer UDP checksum over IPv6 (RFC 6935). Defaults to false. */
  udp6ZeroChecksumTx: boolean;
  /** Accept a zero outer UDP checksum over IPv6 on receive. Defaults to false. */
  udp6ZeroChecksumRx: boolean;
  /** Verify non-zero outer UDP checksums on decap; false = trust (the kernel's UDP socket has verified). Defaults to true. */
  verifyUdpChecksum: boolean;
  /** Underlay MTU (outer IP packet size limit). Defaults to 1500. */
  underlayMTU: number;
  /** Outer Ethernet source / destination MAC for frame output (replay). Defaults to all-zero. */
  underlaySrcMAC: Uint8Array;
  underlayDstMAC: Uint8Array;
}

export function defaultEngineOptions(): EngineOptions {
  return {
    backend: 'vxlan',
    vni: 1,
    port: 4789,
    srcPortMin: 32768,
    srcPortMax: 60999,
    ttl: 64,
    tos: 'inherit',
    df: 'unset',
    udpChecksum: true,
    udp6ZeroChecksumTx: false,
    udp6ZeroChecksumRx: false,
    verifyUdpChecksum: true,
    underlayMTU: 1500,
    underlaySrcMAC: new Uint8Array(6),
    underlayDstMAC: new Uint8Array(6),
  };
}
