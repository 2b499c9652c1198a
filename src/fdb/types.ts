/**
 * A node as config describes it (text form, validated by src/control/config.ts before it gets here).
 * The FDB resolves these into integer / byte forms for the hot path.
 */
export interface NodeEntry {
  /** Node name (unique). */
  name: string;
  /** Underlay (node) IP, IPv4 or IPv6 text, e.g. "198.51.100.2" or "2001:db8:100::2". */
  underlayIP: string;
  /** VTEP MAC, "02:00:00:00:00:02" (the MAC of the node's flannel.1 / vtep device). */
  vtepMAC: string;
  /** Pod CIDRs owned by the node, IPv4 and/or IPv6, e.g. ["10.244.2.0/24", "fd00:10:244:2::/64"]. */
  podCIDRs: string[];
  /** Optional underlay Ethernet MAC of the node (only used for Ethernet-framed output, i.e. replay). */
  underlayMAC?: string;
}
