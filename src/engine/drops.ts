/**
 * Every reason a packet can be dropped, in one table (after FD.io VPP's vxlan_error.def).
 *
 * `Drop` maps a code to a small integer used on the hot path (`drops[code]++` into a typed array);
 * `DROP_NAMES[code]` is the stable kebab-case name shown in replay summaries, metrics
 * (`vtep_drops_total{reason="…"}`) and tests; `DROP_HELP[code]` is a one-line meaning.
 * Codes are only ever appended: names and numbers are stable.
 */
export const Drop = {
  None: 0,
  // -- capture / framing (replay and live input)
  UnsupportedLinkType: 1,
  SnaplenTruncated: 2,
  // -- outer (underlay) layers, decap
  TruncatedEthernet: 3,
  OuterNotIp: 4,
  TruncatedOuterIp: 5,
  OuterIpBadVersion: 6,
  OuterIpBadIhl: 7,
  OuterIpBadLength: 8,
  OuterIpBadChecksum: 9,
  OuterIpFragment: 10,
  OuterIpBadExtHeader: 11,
  OuterDstNotLocal: 12,
  OuterProtoUnexpected: 13,
  TruncatedUdp: 14,
  UdpBadLength: 15,
  UdpBadChecksum: 16,
  UdpZeroChecksumIpv6: 17,
  UdpDstPortMismatch: 18,
  TruncatedVxlan: 19,
  VxlanFlagIClear: 20,
  VniMismatch: 21,
  UnknownVtepSource: 22,
  // -- inner layers, decap
  TruncatedInnerEthernet: 23,
  InnerDstMacBroadcast: 24,
  InnerDstMacMulticast: 25,
  InnerDstMacNotLocal: 26,
  InnerNotIp: 27,
  TruncatedInnerIp: 28,
  InnerIpInvalid: 29,
  InnerFamilyMismatch: 30,
  InnerSrcNotSenderPod: 31,
  InnerDstNotLocal: 32,
  // -- encap
  FdbMiss: 33,
  DstLocalPod: 34,
  MtuExceeded: 35,
  UnderlayFamilyUnsupported: 36,
  OuterCeInnerNotEct: 37,
  // -- offloads (TUN virtio-net header, TSO segmentation)
  VnetHdrInvalid: 38,
  GsoNotTcp: 39,
  GsoTooManySegments: 40,
} as const;

export type DropCode = (typeof Drop)[keyof typeof Drop];

/** Stable names, indexed by code. */
export const DROP_NAMES: readonly string[] = [
  'none',
  'unsupported-link-type',
  'snaplen-truncated',
  'truncated-ethernet',
  'outer-not-ip',
  'truncated-outer-ip',
  'outer-ip-bad-version',
  'outer-ip-bad-ihl',
  'outer-ip-bad-length',
  'outer-ip-bad-checksum',
  'outer-ip-fragment',
  'outer-ip-bad-ext-header',
  'outer-dst-not-local',
  'outer-proto-unexpected',
  'truncated-udp',
  'udp-bad-length',
  'udp-bad-checksum',
  'udp-zero-checksum-ipv6',
  'udp-dst-port-mismatch',
  'truncated-vxlan',
  'vxlan-flag-i-clear',
  'vni-mismatch',
  'unknown-vtep-source',
  'truncated-inner-ethernet',
  'inner-dst-mac-broadcast',
  'inner-dst-mac-multicast',
  'inner-dst-mac-not-local',
  'inner-not-ip',
  'truncated-inner-ip',
  'inner-ip-invalid',
  'inner-family-mismatch',
  'inner-src-not-sender-pod',
  'inner-dst-not-local',
  'fdb-miss',
  'dst-local-pod',
  'mtu-exceeded',
  'underlay-family-unsupported',
  'outer-ce-inner-not-ect',
  'vnet-hdr-invalid',
  'gso-not-tcp',
  'gso-too-many-segments',
];

/** One-line meanings, indexed by code (shown by `vtep drops` and in the README). */
export const DROP_HELP: readonly string[] = [
  'not dropped',
  'capture link type is not Ethernet, raw IP, SLL or SLL2',
  'capture record is shorter than the packet on the wire (snaplen)',
  'frame shorter than an Ethernet header (or its 802.1Q tag)',
  'underlay EtherType is neither IPv4 nor IPv6',
  'outer IP header or payload cut short',
  'outer IP version field does not match the EtherType / is not 4 or 6',
  'outer IPv4 IHL below 5 or beyond the packet',
  'outer IP total/payload length disagrees with the bytes present',
  'outer IPv4 header checksum wrong',
  'outer IP packet is a fragment (more-fragments or offset set, or IPv6 fragment header)',
  'outer IPv6 extension header chain malformed or cut short',
  'outer destination is not this node\'s underlay IP',
  'outer protocol is not UDP (vxlan) or IPIP/IPv6-in-IP (ipip)',
  'UDP header cut short',
  'UDP length field disagrees with the IP payload',
  'UDP checksum wrong',
  'UDP checksum zero over IPv6 (RFC 6935) and zero checksums are not accepted',
  'UDP destination port is not the configured VXLAN port',
  'VXLAN header cut short',
  'VXLAN I flag clear (RFC 7348: VNI not valid)',
  'VXLAN VNI is not the configured one',
  'outer source is not a known peer VTEP (anti-spoofing)',
  'inner Ethernet header cut short',
  'inner Ethernet destination is broadcast',
  'inner Ethernet destination is multicast',
  'inner Ethernet destination is not this node\'s VTEP MAC',
  'inner packet is neither IPv4 nor IPv6',
  'inner IP header or payload cut short',
  'inner IP header invalid (version, IHL, length or checksum)',
  'inner IP version does not match what carried it (EtherType or IPIP protocol)',
  'inner source is outside the sending node\'s pod CIDRs',
  'inner destination is outside this node\'s pod CIDRs',
  'no FDB entry (peer pod CIDR) matches the destination',
  'destination is in this node\'s own pod CIDRs: nothing to tunnel',
  'packet does not fit the underlay MTU after encapsulation',
  'peer underlay address family not usable for this backend/socket',
  'outer ECN is CE but the inner packet is Not-ECT (RFC 6040 §4.2: drop)',
  'TUN virtio-net header invalid (GSO type, size, checksum start/offset beyond the packet)',
  'GSO packet from the TUN is not TCP over IPv4/IPv6 matching its GSO type (or IPv6 with extension headers)',
  'GSO packet would need more segments than the segmenter holds, or does not fit its output slot',
];

export const DROP_COUNT = DROP_NAMES.length;

/** A fresh counter array, one slot per reason. */
export function newDropCounters(): Float64Array {
  return new Float64Array(DROP_COUNT);
}

/** `{name: count}` for every non-zero reason (for summaries and JSON). */
export function dropsToRecord(drops: ArrayLike<number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 1; i < DROP_COUNT; i++) if (drops[i] !== 0) out[DROP_NAMES[i]!] = drops[i]!;
  return out;
}
