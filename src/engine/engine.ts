/**
 * The tunnel engine: encapsulation in place and strict decapsulation, VXLAN and IPIP, IPv4/IPv6 underlay.
 *
 * Encap (a pod packet → an underlay packet):
 *   1. check the inner IP header (version, length, IPv4 header checksum) and find the flow's L4 ports
 *   2. FDB longest-prefix match on the inner destination → peer (miss / own pod CIDR: drop)
 *   3. MTU check; a too-big DF/IPv6 packet gets an ICMP Fragmentation Needed / Packet Too Big reply built
 *      into `icmpView` for the caller to deliver
 *   4. write, in front of the packet (in its headroom): inner Ethernet, VXLAN, UDP, outer IP[, Ethernet]
 *      — the payload is never copied; the outer UDP checksum uses local checksum offload (the inner L4
 *      checksum stands for the bytes it covers) and falls back to a full sum where it can't
 *   5. result: `outOff` / `outLen` in the same buffer
 *
 * Decap (an underlay packet → the inner packet), never throws, returns 0 or a Drop code:
 *   Ethernet → outer IPv4/IPv6 (checksum, length, fragments, destination) → UDP (length, port, checksum)
 *   → VXLAN (I flag, VNI) → sender is a known VTEP → inner Ethernet (destination MAC) → inner IP
 *   (valid, source in the sender's pod CIDRs, destination in ours) → ECN per RFC 6040.
 *   Result: `innerFrameOff/Len` (VXLAN: the inner Ethernet frame as carried) and `innerIpOff/Len` (the
 *   inner IP packet, trimmed to its own length) in the same buffer; `peer` is the sender.
 *
 * Every call counts its drop in `drops[code]`. The engine keeps its results in its own fields (valid until
 * the next call) so nothing is allocated per packet. Options are read once, when the engine is made.
 *
 * Fast paths (bench/hotpath.ts measures them against an allocating baseline):
 *  - headers are read through a DataView over the buffer's ArrayBuffer (big-endian 16/32-bit loads at any
 *    alignment) instead of byte by byte into view objects; 20-byte IPv4 header checksums, the flow hash and
 *    the IPv6 pseudo-header sums come from those words;
 *  - encap writes its headers (64 bytes for VXLAN over IPv4, 84 over IPv6, 34 / 54 for IPIP) as 32-bit
 *    stores from a per-peer template (outer Ethernet, addresses, UDP port, VXLAN, inner Ethernet) with the
 *    per-packet fields put in, when the inner packet is 4-byte aligned in its ArrayBuffer (slot pools are);
 *    the outer checksums come from per-peer partial sums (nothing written is read back);
 *  - decap checks every layer of a packet without IP options / IPv6 extension headers from words, in one
 *    pass (IPv4/IPv6 underlay, VXLAN or IPIP, IPv4/IPv6 inner).
 * A fast path only ever accepts what the general path accepts and writes the same bytes; when anything is
 * unusual (IP options, extension headers, fragments, a VLAN tag, an error of any kind, outer CE on a
 * packet to mark) it declines without a trace and the general path — built on the src/packet codecs, the
 * reference — decides and counts the drop. Per-peer data sits in typed arrays (no Peer object is touched).
 * `fastPaths = false` turns them off (tests compare the two paths on the same packets).
 */
import { sumBE, foldSum, pseudoSum4, pseudoSum6 } from '../packet/checksum.ts';
import {
  ETH_HDR_LEN,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  ETHERTYPE_VLAN,
  ETHERTYPE_QINQ,
  decodeEthernet,
  macIsBroadcast,
  macIsMulticast,
  newEthernetView,
} from '../packet/ethernet.ts';
import {
  IPV4_HDR_LEN,
  IPV4_DF,
  IPV4_MF,
  IPV4_FRAG_OFF_MASK,
  IPPROTO_ICMP,
  IPPROTO_IPIP,
  IPPROTO_IPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_ICMPV6,
  decodeIpv4,
  newIpv4View,
  parseIpv4,
} from '../packet/ipv4.ts';
import { IPV6_HDR_LEN, decodeIpv6, newIpv6View, parseIpv6 } from '../packet/ipv6.ts';
import { UDP_HDR_LEN, decodeUdp, newUdpView } from '../packet/udp.ts';
import { VXLAN_HDR_LEN, VXLAN_FLAG_I } from '../packet/vxlan.ts';
import { writeIcmp4FragNeeded, writeIcmp6PacketTooBig } from '../packet/icmp.ts';
import { Fdb, FDB_LOCAL, FDB_MISS, type Peer } from '../fdb/fdb.ts';
import { Drop, newDropCounters } from './drops.ts';
import type { EngineOptions } from './options.ts';
import { flowHash4, flowHash6, flowHash6Words, portFromHashScaled, portScale, C1 as FH_C1, C2 as FH_C2, SEED as FH_SEED } from './flowhash.ts';

/** What encap writes: the whole Ethernet frame (replay), the outer IP packet (raw socket with
 * IP_HDRINCL), or only what a UDP socket sends (VXLAN header onward; for IPIP: the inner packet). */
export const EncapLayer = { Ethernet: 0, Ip: 1, Payload: 2 } as const;
export type EncapLayer = (typeof EncapLayer)[keyof typeof EncapLayer];

/** Bytes of headroom encap needs in front of the inner packet (largest: Ethernet + IPv6 + UDP + VXLAN + Ethernet = 84). */
export const ENCAP_HEADROOM = 96;

/** VXLAN encapsulation overhead on the underlay MTU (outer IP + UDP + VXLAN + inner Ethernet). */
export const VXLAN_OVERHEAD4 = IPV4_HDR_LEN + UDP_HDR_LEN + VXLAN_HDR_LEN + ETH_HDR_LEN; // 50
export const VXLAN_OVERHEAD6 = IPV6_HDR_LEN + UDP_HDR_LEN + VXLAN_HDR_LEN + ETH_HDR_LEN; // 70

const ECN_MASK = 0x03;
const ECN_CE = 0x03;
const IPPROTO_SCTP = 132;
const IPPROTO_UDPLITE = 136;

/** Largest ICMP reply the engine builds (IPv6 minimum MTU). */
const ICMP_BUF_LEN = 1280;

function hasPorts(proto: number): boolean {
  return proto === IPPROTO_TCP || proto === IPPROTO_UDP || proto === IPPROTO_SCTP || proto === IPPROTO_UDPLITE;
}

function macWordSum(mac: Uint8Array): number {
  return ((mac[0]! << 8) | mac[1]!) + ((mac[2]! << 8) | mac[3]!) + ((mac[4]! << 8) | mac[5]!);
}

/** Six bytes by hand: TypedArray.prototype.set costs more than the copy for a MAC. */
function copyMac(buf: Uint8Array, off: number, mac: Uint8Array): void {
  buf[off] = mac[0]!;
  buf[off + 1] = mac[1]!;
  buf[off + 2] = mac[2]!;
  buf[off + 3] = mac[3]!;
  buf[off + 4] = mac[4]!;
  buf[off + 5] = mac[5]!;
}

/** Byte-swap a 16-bit value: a big-endian field inside a little-endian 32-bit store. */
function sw16(v: number): number {
  return ((v & 0xff) << 8) | ((v >>> 8) & 0xff);
}

/** Fold a non-negative partial sum below 2^32 to 16 bits (two end-around carries suffice). */
function fold32(s: number): number {
  s = (s & 0xffff) + (s >>> 16);
  return (s & 0xffff) + (s >>> 16);
}

/** One's-complement sum (unfolded) of the ten 16-bit words of a 20-byte header read as five int32 words. */
function sum5(w0: number, w1: number, w2: number, w3: number, w4: number): number {
  return (
    (w0 >>> 16) + (w0 & 0xffff) + (w1 >>> 16) + (w1 & 0xffff) + (w2 >>> 16) + (w2 & 0xffff) +
    (w3 >>> 16) + (w3 & 0xffff) + (w4 >>> 16) + (w4 & 0xffff)
  );
}

/** Protocols decodeIpv6 walks as extension headers (hop-by-hop, routing, fragment, destination options, AH). */
function isIpv6ExtHeader(next: number): boolean {
  return next === 0 || next === 43 || next === 44 || next === 60 || next === 51;
}

/** The template stores assume a little-endian host (every platform Node runs on); elsewhere they are off. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Header templates: per peer, the whole Ethernet-layer header of the engine's kind as little-endian words,
 * every per-packet field zero, laid out so that the row ends where the inner packet starts (a 4-aligned
 * `off` makes every store aligned; rows of a header length ≡ 2 mod 4 start with 2 bytes of padding).
 */
const TPL_VXLAN4 = 1; // Ethernet + IPv4 + UDP + VXLAN + Ethernet: 64 bytes
const TPL_VXLAN6 = 2; // Ethernet + IPv6 + UDP + VXLAN + Ethernet: 84 bytes
const TPL_IPIP4 = 3; // Ethernet + IPv4: 34 bytes (+ 2 padding)
const TPL_IPIP6 = 4; // Ethernet + IPv6: 54 bytes (+ 2 padding)
const VXLAN4_FRAME_HDR = ETH_HDR_LEN + VXLAN_OVERHEAD4; // 64
const VXLAN6_FRAME_HDR = ETH_HDR_LEN + VXLAN_OVERHEAD6; // 84
const IPIP4_FRAME_HDR = ETH_HDR_LEN + IPV4_HDR_LEN; // 34
const IPIP6_FRAME_HDR = ETH_HDR_LEN + IPV6_HDR_LEN; // 54

/** peerInfo layout. */
const PEER_INFO = 4;
const PI_FAMILY = 0;
const PI_UDP_SUM = 1;
const PI_IP_SUM4 = 2;

function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

function bytesEqual16(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

export class Engine {
  readonly opts: EngineOptions;
  private fdb: Fdb;
  /** Drop counters indexed by Drop code. */
  readonly drops: Float64Array = newDropCounters();
  /** Successful encap / decap calls. */
  encapOk = 0;
  decapOk = 0;
  /** ICMP errors built (Fragmentation Needed / Packet Too Big). */
  icmpBuilt = 0;
  /** Take the fast paths where they apply (see the file comment). Defaults to true; tests compare with false. */
  fastPaths = true;
  /** Packets handled by a fast path from start to end (a part of encapOk + decapOk): for tests and profiling. */
  fastPathHits = 0;

  // ---- results of the last call (valid until the next call)
  /** Encap: start and length of the output in the caller's buffer. */
  outOff = 0;
  outLen = 0;
  /** Encap: destination peer; decap: sending peer (index into fdb.peers), or -1. */
  peer = -1;
  /** Encap: outer destination port/address for a socket send (peer's underlay). */
  outPort = 0;
  /** Decap: the inner Ethernet frame (VXLAN; for IPIP equals the inner IP packet). */
  innerFrameOff = 0;
  innerFrameLen = 0;
  /** Decap: the inner IP packet, trimmed to its own length. */
  innerIpOff = 0;
  innerIpLen = 0;
  /** Encap with Drop.MtuExceeded: an ICMP reply (a complete IP packet) for the inner sender, or length 0. */
  readonly icmpView: Buffer = Buffer.alloc(ICMP_BUF_LEN);
  icmpLen = 0;

  // ---- derived once per options / FDB
  private readonly local4: number;
  /** local4 as an int32, as the fast paths read addresses. */
  private readonly local4i: number;
  private readonly local6: Uint8Array;
  private readonly localFamily: 4 | 6;
  private readonly localVtepMac: Uint8Array;
  private readonly localMacSum: number;
  private readonly localAddrSum: number;
  /** The local VTEP MAC as a big-endian int32 (bytes 0..3) and uint16 (bytes 4..5). */
  private readonly localMacHi: number;
  private readonly localMacLo: number;
  private readonly icmpSrc4: number;
  private readonly icmpSrc6: Uint8Array;
  private readonly isVxlan: boolean;
  private readonly vni: number;
  private readonly vniHi: number;
  private readonly vniLo: number;
  private readonly port: number;
  private readonly srcPortMin: number;
  private readonly srcPortScale: number;
  private readonly mtu: number;
  private readonly ttlFixed: number;
  private readonly tosInherit: boolean;
  /** Fixed outer DSCP (opts.tos without its ECN bits) when tos is not 'inherit'. */
  private readonly tosDscp: number;
  private readonly dfSet: boolean;
  private readonly dfInherit: boolean;
  private readonly udpCsum4: boolean;
  private readonly udpCsum6: boolean;
  private readonly verifyUdp: boolean;
  private readonly udp6ZeroRx: boolean;
  private readonly underlaySrcMAC: Uint8Array;
  private readonly underlayDstMAC: Uint8Array;
  /** Decap fast paths possible (for VXLAN: the local VTEP MAC is unicast, so "equals it" implies every MAC check). */
  private readonly fastDecap: boolean;
  /** The local IPv6 underlay address as four big-endian int32 words. */
  private readonly local6w: Int32Array;
  private ipId = 0;
  /**
   * Per peer, PEER_INFO words (one cache line holds four peers; the hot path touches no Peer object):
   * underlay family; the constant part of the outer UDP checksum sum (ports, VXLAN, MACs, pseudo-header
   * addresses, protocol); for an IPv4 underlay, the constant part of the outer IPv4 header sum (version/IHL,
   * addresses).
   */
  private peerInfo = new Int32Array(0);
  /** The template kind (TPL_…; 0 on a big-endian host: no template stores), its row in words and bytes. */
  private readonly tplKind: number;
  private readonly tplWords: number;
  /** Per peer, tplWords words: the header template (see TPL_VXLAN4). Rows of other-family peers are unused. */
  private tpl = new Int32Array(0);

  // ---- views of the last buffer's ArrayBuffer (fast paths), replaced when another ArrayBuffer comes along;
  // keyed by the Uint8Array itself first (one compare per packet while the caller keeps its pool)
  private viewOf: Uint8Array | null = null;
  private viewBase = 0;
  private viewBuffer: ArrayBufferLike | null = null;
  private dv: DataView = new DataView(new ArrayBuffer(0));
  private w32: Int32Array = new Int32Array(0);

  // ---- decode scratch views (caller-owned objects for the codecs)
  private readonly eth = newEthernetView();
  private readonly ip4 = newIpv4View();
  private readonly ip6 = newIpv6View();
  private readonly inner4 = newIpv4View();
  private readonly inner6 = newIpv6View();
  private readonly udp = newUdpView();

  constructor(opts: EngineOptions, fdb: Fdb) {
    this.opts = opts;
    this.fdb = fdb;
    const local = fdb.local;
    this.localFamily = local.family;
    this.local4 = local.family === 4 ? local.underlay4 : 0;
    this.local4i = this.local4 | 0;
    this.local6 = local.family === 6 ? local.underlayBytes : new Uint8Array(16);
    const mac = local.vtepMAC;
    this.localVtepMac = mac;
    this.localMacSum = macWordSum(mac);
    this.localMacHi = (mac[0]! << 24) | (mac[1]! << 16) | (mac[2]! << 8) | mac[3]!;
    this.localMacLo = (mac[4]! << 8) | mac[5]!;
    this.localAddrSum = local.family === 6 ? sumBE(this.local6, 0, 16) : 0;
    this.isVxlan = opts.backend === 'vxlan';
    this.vni = opts.vni;
    this.vniHi = (opts.vni >>> 8) & 0xffff;
    this.vniLo = (opts.vni & 0xff) << 8;
    this.port = opts.port;
    this.srcPortMin = opts.srcPortMin;
    this.srcPortScale = portScale(opts.srcPortMin, opts.srcPortMax);
    this.mtu = opts.underlayMTU;
    this.ttlFixed = opts.ttl;
    this.tosInherit = opts.tos === 'inherit';
    this.tosDscp = opts.tos === 'inherit' ? 0 : opts.tos & ~ECN_MASK & 0xff;
    this.dfSet = opts.df === 'set';
    this.dfInherit = opts.df === 'inherit';
    this.udpCsum4 = opts.udpChecksum;
    this.udpCsum6 = !opts.udp6ZeroChecksumTx;
    this.verifyUdp = opts.verifyUdpChecksum;
    this.udp6ZeroRx = opts.udp6ZeroChecksumRx;
    this.underlaySrcMAC = opts.underlaySrcMAC;
    this.underlayDstMAC = opts.underlayDstMAC;
    const hdr = this.isVxlan ? (local.family === 4 ? VXLAN4_FRAME_HDR : VXLAN6_FRAME_HDR) : local.family === 4 ? IPIP4_FRAME_HDR : IPIP6_FRAME_HDR;
    this.tplKind = !LITTLE_ENDIAN ? 0 : this.isVxlan ? (local.family === 4 ? TPL_VXLAN4 : TPL_VXLAN6) : local.family === 4 ? TPL_IPIP4 : TPL_IPIP6;
    this.tplWords = this.tplKind === 0 ? 0 : (hdr + 3) >>> 2;
    this.fastDecap = !this.isVxlan || (mac[0]! & 1) === 0;
    this.local6w = new Int32Array(4);
    for (let k = 0; k < 4; k++) {
      const l6 = this.local6;
      this.local6w[k] = (l6[4 * k]! << 24) | (l6[4 * k + 1]! << 16) | (l6[4 * k + 2]! << 8) | l6[4 * k + 3]!;
    }
    // ICMP errors come from this node's own pod-network address (the network address of its first pod
    // CIDR of that family, which vtep puts on its TUN device, as flannel does on flannel.1).
    let s4 = 0;
    let s6: Uint8Array = new Uint8Array(16);
    for (const cidr of local.podCIDRs) {
      const addr = cidr.slice(0, cidr.indexOf('/'));
      if (cidr.includes(':')) {
        const a = parseIpv6(addr);
        if (a !== null && s6.every((b) => b === 0)) s6 = a;
      } else if (s4 === 0) {
        const a = parseIpv4(addr);
        if (a >= 0) s4 = a;
      }
    }
    this.icmpSrc4 = s4;
    this.icmpSrc6 = s6;
    this.setFdb(fdb);
  }

  /** Swap in a new FDB (built off the hot path); lookups after this call use it. */
  setFdb(fdb: Fdb): void {
    const n = fdb.peers.length;
    const info = new Int32Array(n * PEER_INFO);
    const rowWords = this.tplWords;
    const tpl = new Int32Array(n * rowWords);
    const tb = new Uint8Array(tpl.buffer);
    const l4 = this.local4;
    const localAddr4 = (l4 >>> 16) + (l4 & 0xffff);
    for (let i = 0; i < n; i++) {
      const p = fdb.peers[i]!;
      const u4 = p.underlay4;
      const addrSum = p.family === 6 ? this.localAddrSum + sumBE(p.underlayBytes, 0, 16) : localAddr4 + (u4 >>> 16) + (u4 & 0xffff);
      // everything in the outer UDP checksum but the source port, the length (twice), the inner
      // EtherType and the inner packet
      info[i * PEER_INFO + PI_FAMILY] = p.family;
      info[i * PEER_INFO + PI_UDP_SUM] = this.port + (VXLAN_FLAG_I << 8) + this.vniHi + this.vniLo + macWordSum(p.vtepMAC) + this.localMacSum + addrSum + IPPROTO_UDP;
      info[i * PEER_INFO + PI_IP_SUM4] = (0x45 << 8) + addrSum;
      if (rowWords !== 0 && p.family === this.localFamily) this.writeTemplateRow(tb, i * rowWords * 4, p);
    }
    this.peerInfo = info;
    this.tpl = tpl;
    this.fdb = fdb;
  }

  /** The header template of peer `p` into tb at byte `row` (see TPL_VXLAN4): the general path's bytes, per-packet fields zero. */
  private writeTemplateRow(tb: Uint8Array, row: number, p: Peer): void {
    const v6 = this.localFamily === 6;
    const b = row + (this.tplWords << 2) - (this.isVxlan ? (v6 ? VXLAN6_FRAME_HDR : VXLAN4_FRAME_HDR) : v6 ? IPIP6_FRAME_HDR : IPIP4_FRAME_HDR);
    tb.set(p.underlayMAC ?? this.underlayDstMAC, b);
    tb.set(this.underlaySrcMAC, b + 6);
    const t = v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
    tb[b + 12] = t >>> 8;
    tb[b + 13] = t & 0xff;
    const ip = b + ETH_HDR_LEN;
    let u: number; // the UDP header
    if (v6) {
      tb[ip] = 0x60;
      tb[ip + 6] = this.isVxlan ? IPPROTO_UDP : 0;
      tb.set(this.local6, ip + 8);
      tb.set(p.underlayBytes, ip + 24);
      u = ip + IPV6_HDR_LEN;
    } else {
      tb[ip] = 0x45;
      tb[ip + 9] = this.isVxlan ? IPPROTO_UDP : 0;
      for (let k = 0; k < 4; k++) {
        tb[ip + 12 + k] = (this.local4 >>> (24 - 8 * k)) & 0xff;
        tb[ip + 16 + k] = (p.underlay4 >>> (24 - 8 * k)) & 0xff;
      }
      u = ip + IPV4_HDR_LEN;
    }
    if (!this.isVxlan) return;
    tb[u + 2] = this.port >>> 8;
    tb[u + 3] = this.port & 0xff;
    const x = u + UDP_HDR_LEN;
    tb[x] = VXLAN_FLAG_I;
    tb[x + 4] = this.vni >>> 16;
    tb[x + 5] = (this.vni >>> 8) & 0xff;
    tb[x + 6] = this.vni & 0xff;
    const e = x + VXLAN_HDR_LEN;
    tb.set(p.vtepMAC, e);
    tb.set(this.localVtepMac, e + 6);
    tb[e + 12] = ETHERTYPE_IPV4 >>> 8;
  }

  currentFdb(): Fdb {
    return this.fdb;
  }

  private drop(code: number): number {
    this.drops[code]!++;
    return code;
  }

  /**
   * Point the fast-path views at buf's ArrayBuffer (allocates only for a new ArrayBuffer: a pool of slots
   * keeps the same one); returns buf.byteOffset. Callers check `buf !== this.viewOf` first.
   */
  private setViews(buf: Uint8Array): number {
    const ab = buf.buffer;
    if (ab !== this.viewBuffer) {
      this.viewBuffer = ab;
      this.dv = new DataView(ab);
      this.w32 = new Int32Array(ab, 0, ab.byteLength >>> 2);
    }
    this.viewOf = buf;
    this.viewBase = buf.byteOffset;
    return this.viewBase;
  }

  // ======================================================================================== encap

  /**
   * Encapsulate the IP packet at buf[off, off+len) towards the peer owning its destination.
   * Requires ENCAP_HEADROOM bytes of buf before `off`. The inner bytes are not modified.
   * On 0: the output is buf[outOff, outOff+outLen), `peer` is the destination peer.
   * Drops: TruncatedInnerIp, InnerIpInvalid, InnerNotIp, FdbMiss, DstLocalPod, UnderlayFamilyUnsupported,
   * MtuExceeded (with `icmpLen` > 0 when an ICMP reply was built into `icmpView`).
   */
  encap(buf: Uint8Array, off: number, len: number, layer: EncapLayer): number {
    this.icmpLen = 0;
    this.peer = -1;
    if (len < 1) return this.drop(Drop.TruncatedInnerIp);
    const version = buf[off]! >>> 4;
    const end = off + len;
    const fast = this.fastPaths;
    let at = 0; // fast paths: position of `off` in buf's ArrayBuffer
    if (fast) at = (buf === this.viewOf ? this.viewBase : this.setViews(buf)) + off;

    let innerLen = 0;
    let innerTos = 0;
    let innerTtl = 0;
    let innerDf = false;
    let peer: number;
    let hash: number;
    // the L4 part, for the outer UDP checksum (computed only when it is wanted)
    let proto = 0;
    let frag = false;
    let l4Off = 0;
    let l4Len = 0;
    let src = 0; // IPv4 inner addresses (uint32 or int32: every use reads them as 32 bits)
    let dst = 0;
    let hdrSum6 = 0; // IPv6 inner: sums of the header and of its addresses
    let addrSum6 = 0;
    let parsed = false; // by the fast path

    if (version === 4) {
      if (fast && len >= IPV4_HDR_LEN) {
        // a 20-byte header, complete, with a valid checksum: everything decodeIpv4 + the sum would accept
        const dv = this.dv;
        const w0 = dv.getInt32(at); // version/IHL, TOS, total length
        const w1 = dv.getInt32(at + 4); // identification, flags/fragment offset
        const w2 = dv.getInt32(at + 8); // TTL, protocol, header checksum
        const s = dv.getInt32(at + 12);
        const d = dv.getInt32(at + 16);
        const total = w0 & 0xffff;
        // sum5 + fold32 written out: encap is large and V8's inlining budget ran out before them
        let hs = (w0 >>> 16) + (w0 & 0xffff) + (w1 >>> 16) + (w1 & 0xffff) + (w2 >>> 16) + (w2 & 0xffff) + (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff);
        hs = (hs & 0xffff) + (hs >>> 16);
        hs = (hs & 0xffff) + (hs >>> 16);
        if (w0 >>> 24 === 0x45 && total >= IPV4_HDR_LEN && total <= len && hs === 0xffff) {
          parsed = true;
          innerLen = total;
          innerTos = (w0 >>> 16) & 0xff;
          innerTtl = w2 >>> 24;
          innerDf = (w1 & IPV4_DF) !== 0;
          frag = (w1 & (IPV4_MF | IPV4_FRAG_OFF_MASK)) !== 0;
          proto = (w2 >>> 16) & 0xff;
          src = s;
          dst = d;
          l4Off = off + IPV4_HDR_LEN;
        }
      }
      if (!parsed) {
        const v = this.inner4;
        const rc = decodeIpv4(buf, off, end, v, false);
        if (rc !== 0) return this.drop(rc === Drop.TruncatedOuterIp ? Drop.TruncatedInnerIp : Drop.InnerIpInvalid);
        // header checksum: a valid header sums to 0xffff, i.e. contributes nothing to the outer sum
        const hdrSum = sumBE(buf, off, v.hdrLen);
        if (foldSum(hdrSum) !== 0xffff) return this.drop(Drop.InnerIpInvalid);
        innerLen = v.totalLen;
        innerTos = v.tos;
        innerTtl = v.ttl;
        innerDf = v.df;
        frag = v.mf || v.fragOff !== 0;
        proto = v.proto;
        src = v.src;
        dst = v.dst;
        l4Off = off + v.hdrLen;
      }
      peer = this.fdb.lookup4(dst);
      if (peer < 0) return this.drop(peer === FDB_LOCAL ? Drop.DstLocalPod : Drop.FdbMiss);
      l4Len = off + innerLen - l4Off;
      const ports = !frag && hasPorts(proto) && l4Len >= 4 ? (fast ? this.dv.getInt32(at + (l4Off - off)) : readU32(buf, l4Off)) : 0;
      if (parsed) {
        // flowHash4 written out (the same value; test/engine/fastpath compares with the general path, which
        // calls it): encap is large, and inlining flowHash4 took most of V8's inlining budget, leaving the
        // FDB lookup's chunk read as a call
        let h = FH_SEED;
        let k = Math.imul(src, FH_C1);
        h ^= Math.imul((k << 15) | (k >>> 17), FH_C2);
        h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
        k = Math.imul(dst, FH_C1);
        h ^= Math.imul((k << 15) | (k >>> 17), FH_C2);
        h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
        k = Math.imul(proto, FH_C1);
        h ^= Math.imul((k << 15) | (k >>> 17), FH_C2);
        h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
        k = Math.imul(ports, FH_C1);
        h ^= Math.imul((k << 15) | (k >>> 17), FH_C2);
        h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
        h ^= 16;
        h ^= h >>> 16;
        h = Math.imul(h, 0x85ebca6b);
        h ^= h >>> 13;
        h = Math.imul(h, 0xc2b2ae35);
        h ^= h >>> 16;
        hash = h | 0;
      } else {
        hash = flowHash4(src, dst, proto, ports);
      }
    } else if (version === 6) {
      if (fast && len >= IPV6_HDR_LEN) {
        // no extension headers, complete: what decodeIpv6 accepts without walking a chain
        const dv = this.dv;
        const w0 = dv.getInt32(at); // version, traffic class, flow label
        const w1 = dv.getInt32(at + 4); // payload length, next header, hop limit
        const next = (w1 >>> 8) & 0xff;
        if (w0 >>> 28 === 6 && !isIpv6ExtHeader(next) && IPV6_HDR_LEN + (w1 >>> 16) <= len) {
          parsed = true;
          l4Len = w1 >>> 16;
          innerLen = IPV6_HDR_LEN + l4Len;
          innerTos = (w0 >>> 20) & 0xff;
          innerTtl = w1 & 0xff;
          proto = next;
          l4Off = off + IPV6_HDR_LEN;
        }
      }
      if (!parsed) {
        const v = this.inner6;
        const rc = decodeIpv6(buf, off, end, v);
        if (rc !== 0) return this.drop(rc === Drop.TruncatedOuterIp ? Drop.TruncatedInnerIp : Drop.InnerIpInvalid);
        innerLen = IPV6_HDR_LEN + v.payloadLen;
        innerTos = v.trafficClass;
        innerTtl = v.hopLimit;
        proto = v.upperProto;
        frag = v.fragment;
        l4Off = v.upperOff;
        l4Len = v.payloadEnd - v.upperOff;
      }
      innerDf = true;
      peer = this.fdb.lookup6(buf, off + 24);
      if (peer < 0) return this.drop(peer === FDB_LOCAL ? Drop.DstLocalPod : Drop.FdbMiss);
      if (parsed) {
        const dv = this.dv;
        const s0 = dv.getInt32(at + 8);
        const s1 = dv.getInt32(at + 12);
        const s2 = dv.getInt32(at + 16);
        const s3 = dv.getInt32(at + 20);
        const d0 = dv.getInt32(at + 24);
        const d1 = dv.getInt32(at + 28);
        const d2 = dv.getInt32(at + 32);
        const d3 = dv.getInt32(at + 36);
        const ports = hasPorts(proto) && l4Len >= 4 ? dv.getInt32(at + IPV6_HDR_LEN) : 0;
        hash = flowHash6Words(s0, s1, s2, s3, d0, d1, d2, d3, proto, ports);
        if (this.isVxlan) {
          addrSum6 = sum5(s0, s1, s2, s3, d0) + (d1 >>> 16) + (d1 & 0xffff) + (d2 >>> 16) + (d2 & 0xffff) + (d3 >>> 16) + (d3 & 0xffff);
          const w0 = dv.getInt32(at);
          const w1 = dv.getInt32(at + 4);
          hdrSum6 = addrSum6 + (w0 >>> 16) + (w0 & 0xffff) + (w1 >>> 16) + (w1 & 0xffff);
        }
      } else {
        const ports = !frag && hasPorts(proto) && l4Len >= 4 ? readU32(buf, l4Off) : 0;
        hash = flowHash6(buf, off + 8, off + 24, proto, ports);
        if (this.isVxlan) {
          addrSum6 = sumBE(buf, off + 8, 32);
          hdrSum6 = sumBE(buf, off, IPV6_HDR_LEN) + (l4Off > off + IPV6_HDR_LEN ? sumBE(buf, off + IPV6_HDR_LEN, l4Off - off - IPV6_HDR_LEN) : 0);
        }
      }
    } else {
      return this.drop(Drop.InnerNotIp);
    }

    const info = this.peerInfo;
    const pi = peer * PEER_INFO;
    const family = info[pi + PI_FAMILY]!;
    if (family !== this.localFamily) return this.drop(Drop.UnderlayFamilyUnsupported);
    const outer6 = family === 6;
    const ipHdr = outer6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
    const tunnelHdr = this.isVxlan ? UDP_HDR_LEN + VXLAN_HDR_LEN + ETH_HDR_LEN : 0;
    if (ipHdr + tunnelHdr + innerLen > this.mtu) {
      this.buildTooBig(buf, off, innerLen, version, innerDf, this.mtu - ipHdr - tunnelHdr);
      return this.drop(Drop.MtuExceeded);
    }
    this.peer = peer;

    // RFC 6040 normal mode: the outer ECN field is a copy of the inner one
    const tos = this.tosInherit ? innerTos : this.tosDscp | (innerTos & ECN_MASK);
    const ttl = this.ttlFixed === 0 ? innerTtl : this.ttlFixed;
    const df = this.dfSet || (this.dfInherit && innerDf) ? IPV4_DF : 0;
    const innerEnd = off + innerLen;
    // template stores: the packet 4-aligned in its ArrayBuffer (a slot pool's packets are)
    const words = fast && (at & 3) === 0 && this.tplKind !== 0;
    if (words && parsed) this.fastPathHits++;

    if (this.isVxlan) {
      const etherType = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
      const udpLen = UDP_HDR_LEN + VXLAN_HDR_LEN + ETH_HDR_LEN + innerLen;
      const sport = portFromHashScaled(hash, this.srcPortMin, this.srcPortScale);
      let csum = 0;
      if (layer !== EncapLayer.Payload && (outer6 ? this.udpCsum6 : this.udpCsum4)) {
        // UDP header (checksum field as zero) + VXLAN + inner Ethernet + pseudo-header: the peer's
        // constant part plus the per-packet fields; the inner IP header and L4 bytes: l4Sum
        let l4Sum: number;
        if (version === 4 && proto === IPPROTO_TCP && !frag && l4Len >= 20) {
          // l4Sum4's TCP case written out (encap is large: V8's inlining budget ran out before l4Sum4); the
          // pseudo-header sum is below 2^19, so two carries fold it
          let ps = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_TCP + l4Len;
          ps = (ps & 0xffff) + (ps >>> 16);
          l4Sum = 0xffff - ((ps & 0xffff) + (ps >>> 16));
        } else {
          l4Sum = version === 4 ? this.l4Sum4(buf, l4Off, l4Len, proto, src, dst, frag) : this.l4Sum6(buf, l4Off, l4Len, proto, frag, hdrSum6, addrSum6);
        }
        // the sum stays far below 2^32 (l4Sum is a folded or a short sum): two carries fold it; a computed
        // 0 is sent as 0xffff (RFC 768)
        csum = ~fold32(info[pi + PI_UDP_SUM]! + sport + 2 * udpLen + etherType + l4Sum) & 0xffff;
        if (csum === 0) csum = 0xffff;
      }
      if (words) {
        return outer6
          ? this.writeVxlan6(buf, off, at, innerEnd, layer, peer, version, tos, ttl, sport, udpLen, csum)
          : this.writeVxlan4(buf, off, at, innerEnd, layer, peer, version, tos, ttl, df, sport, udpLen, csum);
      }
      const p = this.fdb.peers[peer]!;
      // inner Ethernet: dst = peer VTEP MAC, src = our VTEP MAC
      let start = off - ETH_HDR_LEN;
      copyMac(buf, start, p.vtepMAC);
      copyMac(buf, start + 6, this.localVtepMac);
      buf[start + 12] = etherType >>> 8;
      buf[start + 13] = etherType & 0xff;
      // VXLAN: I flag, 24-bit VNI, reserved zero (RFC 7348 §5)
      start -= VXLAN_HDR_LEN;
      buf[start] = VXLAN_FLAG_I;
      buf[start + 1] = 0;
      buf[start + 2] = 0;
      buf[start + 3] = 0;
      buf[start + 4] = this.vni >>> 16;
      buf[start + 5] = (this.vni >>> 8) & 0xff;
      buf[start + 6] = this.vni & 0xff;
      buf[start + 7] = 0;
      if (layer === EncapLayer.Payload) return this.done(start, innerEnd);
      // UDP
      const dport = this.port;
      start -= UDP_HDR_LEN;
      buf[start] = sport >>> 8;
      buf[start + 1] = sport & 0xff;
      buf[start + 2] = dport >>> 8;
      buf[start + 3] = dport & 0xff;
      buf[start + 4] = udpLen >>> 8;
      buf[start + 5] = udpLen & 0xff;
      buf[start + 6] = csum >>> 8;
      buf[start + 7] = csum & 0xff;
      start = this.writeOuterIp(buf, start, innerEnd, outer6, tos, ttl, df, IPPROTO_UDP, p);
      if (layer === EncapLayer.Ethernet) start = this.writeOuterEthernet(buf, start, outer6, p.underlayMAC);
      return this.done(start, innerEnd);
    }
    if (layer === EncapLayer.Payload) return this.done(off, innerEnd);
    const ipProto = version === 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
    if (words) {
      return outer6
        ? this.writeIpip6(buf, off, at, innerEnd, layer, peer, ipProto, tos, ttl, innerLen)
        : this.writeIpip4(buf, off, at, innerEnd, layer, peer, ipProto, tos, ttl, df, innerLen);
    }
    const p = this.fdb.peers[peer]!;
    let start = this.writeOuterIp(buf, off, innerEnd, outer6, tos, ttl, df, ipProto, p);
    if (layer === EncapLayer.Ethernet) start = this.writeOuterEthernet(buf, start, outer6, p.underlayMAC);
    return this.done(start, innerEnd);
  }

  // Template writers: the peer's template words with the per-packet fields put in (byte-swapped: the stores
  // are little-endian, the fields big-endian), `at` (off's position in the ArrayBuffer) 4-aligned. Each
  // writes exactly the bytes the general path writes for `layer`, and nothing in front of them.

  /** VXLAN over IPv4: 64 bytes, words 0..15 of the row (frame bytes 4w..4w+3). */
  private writeVxlan4(
    buf: Uint8Array,
    off: number,
    at: number,
    innerEnd: number,
    layer: EncapLayer,
    peer: number,
    version: number,
    tos: number,
    ttl: number,
    df: number,
    sport: number,
    udpLen: number,
    udpCsum: number,
  ): number {
    const W = this.w32;
    const T = this.tpl;
    const a = (at >>> 2) - (VXLAN4_FRAME_HDR >>> 2); // word of the outer Ethernet header
    const t = peer * (VXLAN4_FRAME_HDR >>> 2);
    // bytes 44..63: VXLAN from its third byte, inner Ethernet (its EtherType is the template's for IPv4)
    W[a + 11] = T[t + 11]!;
    W[a + 12] = T[t + 12]!;
    W[a + 13] = T[t + 13]!;
    W[a + 14] = T[t + 14]!;
    W[a + 15] = version === 4 ? T[t + 15]! : (T[t + 15]! & 0xffff) | (sw16(ETHERTYPE_IPV6) << 16);
    if (layer === EncapLayer.Payload) {
      buf[off - 22] = VXLAN_FLAG_I;
      buf[off - 21] = 0;
      return this.done(off - 22, innerEnd);
    }
    // bytes 32..43: IPv4 destination (low half), UDP header, VXLAN flags
    W[a + 8] = T[t + 8]! | (sw16(sport) << 16);
    W[a + 9] = T[t + 9]! | (sw16(udpLen) << 16);
    W[a + 10] = T[t + 10]! | sw16(udpCsum);
    // bytes 16..31: IPv4 from its total length to the destination's high half
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    const totalLen = IPV4_HDR_LEN + udpLen;
    const ipCsum = ~fold32(this.peerInfo[peer * PEER_INFO + PI_IP_SUM4]! + IPPROTO_UDP + tos + totalLen + id + df + (ttl << 8)) & 0xffff;
    W[a + 4] = sw16(totalLen) | (sw16(id) << 16);
    W[a + 5] = T[t + 5]! | (df >>> 8) | (ttl << 16);
    W[a + 6] = T[t + 6]! | sw16(ipCsum);
    W[a + 7] = T[t + 7]!;
    if (layer === EncapLayer.Ip) {
      buf[off - 50] = 0x45;
      buf[off - 49] = tos;
      return this.done(off - 50, innerEnd);
    }
    // bytes 0..15: outer Ethernet, IPv4 version/IHL and TOS
    W[a] = T[t]!;
    W[a + 1] = T[t + 1]!;
    W[a + 2] = T[t + 2]!;
    W[a + 3] = T[t + 3]! | (tos << 24);
    return this.done(off - VXLAN4_FRAME_HDR, innerEnd);
  }

  /** VXLAN over IPv6: 84 bytes, words 0..20. */
  private writeVxlan6(
    buf: Uint8Array,
    off: number,
    at: number,
    innerEnd: number,
    layer: EncapLayer,
    peer: number,
    version: number,
    tos: number,
    ttl: number,
    sport: number,
    udpLen: number,
    udpCsum: number,
  ): number {
    const W = this.w32;
    const T = this.tpl;
    const a = (at >>> 2) - (VXLAN6_FRAME_HDR >>> 2);
    const t = peer * (VXLAN6_FRAME_HDR >>> 2);
    // bytes 64..83: VXLAN from its third byte, inner Ethernet
    W[a + 16] = T[t + 16]!;
    W[a + 17] = T[t + 17]!;
    W[a + 18] = T[t + 18]!;
    W[a + 19] = T[t + 19]!;
    W[a + 20] = version === 4 ? T[t + 20]! : (T[t + 20]! & 0xffff) | (sw16(ETHERTYPE_IPV6) << 16);
    if (layer === EncapLayer.Payload) {
      buf[off - 22] = VXLAN_FLAG_I;
      buf[off - 21] = 0;
      return this.done(off - 22, innerEnd);
    }
    // bytes 52..63: destination (last two bytes), UDP header, VXLAN flags
    W[a + 13] = T[t + 13]! | (sw16(sport) << 16);
    W[a + 14] = T[t + 14]! | (sw16(udpLen) << 16);
    W[a + 15] = T[t + 15]! | sw16(udpCsum);
    // bytes 16..51: flow label (low 16 bits, 0), payload length (the UDP datagram), next header, hop
    // limit, addresses (flow label 0: Linux vxlan's default)
    W[a + 4] = sw16(udpLen) << 16;
    W[a + 5] = T[t + 5]! | (ttl << 8);
    for (let k = 6; k < 13; k++) W[a + k] = T[t + k]!;
    const b0 = 0x60 | (tos >>> 4);
    const b1 = (tos & 0x0f) << 4;
    if (layer === EncapLayer.Ip) {
      buf[off - 70] = b0;
      buf[off - 69] = b1;
      return this.done(off - 70, innerEnd);
    }
    W[a] = T[t]!;
    W[a + 1] = T[t + 1]!;
    W[a + 2] = T[t + 2]!;
    W[a + 3] = (T[t + 3]! & 0xffff) | (b0 << 16) | (b1 << 24);
    return this.done(off - VXLAN6_FRAME_HDR, innerEnd);
  }

  /** IPIP over IPv4: 34 bytes after 2 bytes of row padding, words 0..8 (frame byte f is row byte f + 2). */
  private writeIpip4(
    buf: Uint8Array,
    off: number,
    at: number,
    innerEnd: number,
    layer: EncapLayer,
    peer: number,
    proto: number,
    tos: number,
    ttl: number,
    df: number,
    innerLen: number,
  ): number {
    const W = this.w32;
    const T = this.tpl;
    const n = (IPIP4_FRAME_HDR + 2) >>> 2;
    const a = (at >>> 2) - n;
    const t = peer * n;
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    const totalLen = IPV4_HDR_LEN + innerLen;
    const ipCsum = ~fold32(this.peerInfo[peer * PEER_INFO + PI_IP_SUM4]! + proto + tos + totalLen + id + df + (ttl << 8)) & 0xffff;
    W[a + 4] = 0x45 | (tos << 8) | (sw16(totalLen) << 16);
    W[a + 5] = sw16(id) | ((df >>> 8) << 16);
    W[a + 6] = ttl | (proto << 8) | (sw16(ipCsum) << 16);
    W[a + 7] = T[t + 7]!;
    W[a + 8] = T[t + 8]!;
    if (layer === EncapLayer.Ip) return this.done(off - IPV4_HDR_LEN, innerEnd);
    const w0 = T[t]!;
    buf[off - IPIP4_FRAME_HDR] = (w0 >>> 16) & 0xff;
    buf[off - IPIP4_FRAME_HDR + 1] = w0 >>> 24;
    W[a + 1] = T[t + 1]!;
    W[a + 2] = T[t + 2]!;
    W[a + 3] = T[t + 3]!;
    return this.done(off - IPIP4_FRAME_HDR, innerEnd);
  }

  /** IPIP over IPv6: 54 bytes after 2 bytes of row padding, words 0..13. */
  private writeIpip6(
    buf: Uint8Array,
    off: number,
    at: number,
    innerEnd: number,
    layer: EncapLayer,
    peer: number,
    proto: number,
    tos: number,
    ttl: number,
    innerLen: number,
  ): number {
    const W = this.w32;
    const T = this.tpl;
    const n = (IPIP6_FRAME_HDR + 2) >>> 2;
    const a = (at >>> 2) - n;
    const t = peer * n;
    W[a + 4] = (0x60 | (tos >>> 4)) | (((tos & 0x0f) << 4) << 8);
    W[a + 5] = sw16(innerLen) | (proto << 16) | (ttl << 24);
    for (let k = 6; k < n; k++) W[a + k] = T[t + k]!;
    if (layer === EncapLayer.Ip) return this.done(off - IPV6_HDR_LEN, innerEnd);
    const w0 = T[t]!;
    buf[off - IPIP6_FRAME_HDR] = (w0 >>> 16) & 0xff;
    buf[off - IPIP6_FRAME_HDR + 1] = w0 >>> 24;
    W[a + 1] = T[t + 1]!;
    W[a + 2] = T[t + 2]!;
    W[a + 3] = T[t + 3]!;
    return this.done(off - IPIP6_FRAME_HDR, innerEnd);
  }

  private done(start: number, innerEnd: number): number {
    this.outOff = start;
    this.outLen = innerEnd - start;
    this.outPort = this.port;
    this.encapOk++;
    return 0;
  }

  /** Write the outer Ethernet header ending at `start`; returns its first byte. */
  private writeOuterEthernet(buf: Uint8Array, start: number, outer6: boolean, peerMac: Uint8Array | null): number {
    start -= ETH_HDR_LEN;
    copyMac(buf, start, peerMac ?? this.underlayDstMAC);
    copyMac(buf, start + 6, this.underlaySrcMAC);
    const t = outer6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
    buf[start + 12] = t >>> 8;
    buf[start + 13] = t & 0xff;
    return start;
  }

  /** Write the outer IPv4/IPv6 header ending at `start`; returns its first byte. */
  private writeOuterIp(
    buf: Uint8Array,
    start: number,
    payloadEnd: number,
    outer6: boolean,
    tos: number,
    ttl: number,
    df: number,
    proto: number,
    p: { underlay4: number; underlayBytes: Uint8Array },
  ): number {
    if (outer6) {
      const payloadLen = payloadEnd - start;
      start -= IPV6_HDR_LEN;
      // flow label 0: Linux vxlan's default (`flowlabel 0`, what flannel gets)
      buf[start] = 0x60 | (tos >>> 4);
      buf[start + 1] = (tos & 0x0f) << 4;
      buf[start + 2] = 0;
      buf[start + 3] = 0;
      buf[start + 4] = payloadLen >>> 8;
      buf[start + 5] = payloadLen & 0xff;
      buf[start + 6] = proto;
      buf[start + 7] = ttl;
      buf.set(this.local6, start + 8);
      buf.set(p.underlayBytes, start + 24);
      return start;
    }
    const totalLen = payloadEnd - start + IPV4_HDR_LEN;
    start -= IPV4_HDR_LEN;
    const id = this.ipId;
    this.ipId = (id + 1) & 0xffff;
    const src = this.local4;
    const dst = p.underlay4;
    buf[start] = 0x45;
    buf[start + 1] = tos;
    buf[start + 2] = totalLen >>> 8;
    buf[start + 3] = totalLen & 0xff;
    buf[start + 4] = id >>> 8;
    buf[start + 5] = id & 0xff;
    buf[start + 6] = df >>> 8;
    buf[start + 7] = 0;
    buf[start + 8] = ttl;
    buf[start + 9] = proto;
    const sum =
      ((0x45 << 8) | tos) + totalLen + id + df + ((ttl << 8) | proto) +
      (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    const csum = ~foldSum(sum) & 0xffff;
    buf[start + 10] = csum >>> 8;
    buf[start + 11] = csum & 0xff;
    buf[start + 12] = src >>> 24;
    buf[start + 13] = (src >>> 16) & 0xff;
    buf[start + 14] = (src >>> 8) & 0xff;
    buf[start + 15] = src & 0xff;
    buf[start + 16] = dst >>> 24;
    buf[start + 17] = (dst >>> 16) & 0xff;
    buf[start + 18] = (dst >>> 8) & 0xff;
    buf[start + 19] = dst & 0xff;
    return start;
  }

  /**
   * Sum of the inner IPv4 L4 bytes for the outer UDP checksum. With a complete, valid L4 checksum the
   * L4 bytes sum to the complement of their pseudo-header (local checksum offload,
   * Documentation/networking/checksum-offloads.rst) — constant cost. Otherwise (fragments, UDP without
   * checksum, other protocols) the bytes are summed. `src`/`dst` as uint32 or int32.
   */
  private l4Sum4(buf: Uint8Array, l4Off: number, l4Len: number, proto: number, src: number, dst: number, frag: boolean): number {
    if (!frag) {
      if ((proto === IPPROTO_TCP && l4Len >= 20) || (proto === IPPROTO_UDP && l4Len >= 8 && (buf[l4Off + 6]! | buf[l4Off + 7]!) !== 0 && ((buf[l4Off + 4]! << 8) | buf[l4Off + 5]!) === l4Len)) {
        return 0xffff - foldSum(pseudoSum4(src, dst, proto, l4Len));
      }
      if (proto === IPPROTO_ICMP && l4Len >= 4) return 0; // ICMP checksum covers the message alone: sums to 0xffff ≡ 0
    }
    return sumBE(buf, l4Off, l4Len);
  }

  /**
   * IPv6 flavour of l4Sum4; `hdrSum` sums the header and any extension headers (summed as they are),
   * `addrSum` the two addresses (both as the caller read them: any congruent partial sums).
   */
  private l4Sum6(buf: Uint8Array, upperOff: number, l4Len: number, proto: number, frag: boolean, hdrSum: number, addrSum: number): number {
    if (!frag) {
      if (
        (proto === IPPROTO_TCP && l4Len >= 20) ||
        (proto === IPPROTO_UDP && l4Len >= 8 && ((buf[upperOff + 4]! << 8) | buf[upperOff + 5]!) === l4Len) ||
        (proto === IPPROTO_ICMPV6 && l4Len >= 4)
      ) {
        return hdrSum + 0xffff - foldSum(addrSum + proto + l4Len);
      }
    }
    return hdrSum + sumBE(buf, upperOff, l4Len);
  }

  private buildTooBig(buf: Uint8Array, off: number, innerLen: number, version: number, df: boolean, mtu: number): void {
    if (version === 4) {
      if (!df) return;
      this.icmpLen = writeIcmp4FragNeeded(this.icmpView, 0, buf, off, innerLen, mtu, this.icmpSrc4, 64);
    } else {
      this.icmpLen = writeIcmp6PacketTooBig(this.icmpView, 0, buf, off, innerLen, Math.max(mtu, 1280), this.icmpSrc6, 0, 64);
    }
    if (this.icmpLen > 0) this.icmpBuilt++;
  }

  // ======================================================================================== decap

  /** Decapsulate an underlay Ethernet frame buf[off, off+len). Drops: every outer and inner reason. */
  decapFrame(buf: Uint8Array, off: number, len: number): number {
    const end = off + len;
    if (len < ETH_HDR_LEN) return this.decapFail(Drop.TruncatedEthernet);
    // untagged (the usual case) read in place; a VLAN tag goes through the codec
    let t = (buf[off + 12]! << 8) | buf[off + 13]!;
    let ipOff = off + ETH_HDR_LEN;
    if (t === ETHERTYPE_VLAN || t === ETHERTYPE_QINQ) {
      const rc = decodeEthernet(buf, off, end, this.eth);
      if (rc !== 0) return this.decapFail(rc);
      t = this.eth.etherType;
      ipOff = this.eth.payloadOff;
    }
    if (t !== ETHERTYPE_IPV4 && t !== ETHERTYPE_IPV6) return this.decapFail(Drop.OuterNotIp);
    if (ipOff < end && (buf[ipOff]! >>> 4) !== (t === ETHERTYPE_IPV4 ? 4 : 6)) return this.decapFail(Drop.OuterIpBadVersion);
    return this.decapIp(buf, ipOff, end - ipOff);
  }

  /** Decapsulate an outer IP packet buf[off, off+len) (raw socket input, or after the Ethernet header). */
  decapIp(buf: Uint8Array, off: number, len: number): number {
    const end = off + len;
    if (len < 1) return this.decapFail(Drop.TruncatedOuterIp);
    const version = buf[off]! >>> 4;
    if (this.fastPaths && this.fastDecap) {
      if (version === 4 ? this.localFamily === 4 && this.decap4Fast(buf, off, len) === 0 : version === 6 && this.localFamily === 6 && this.decap6Fast(buf, off, len) === 0) return 0;
    }
    let proto: number;
    let l4Off: number;
    let l4End: number;
    let outerEcn: number;
    let sender: number;
    let pseudo: number;
    if (version === 4) {
      const v = this.ip4;
      const rc = decodeIpv4(buf, off, end, v, true);
      if (rc !== 0) return this.decapFail(rc);
      if (v.mf || v.fragOff !== 0) return this.decapFail(Drop.OuterIpFragment);
      if (this.localFamily !== 4 || v.dst !== this.local4) return this.decapFail(Drop.OuterDstNotLocal);
      proto = v.proto;
      l4Off = v.payloadOff;
      l4End = v.payloadEnd;
      outerEcn = v.tos & ECN_MASK;
      sender = this.fdb.peerByUnderlay4(v.src);
      pseudo = (v.src >>> 16) + (v.src & 0xffff) + (v.dst >>> 16) + (v.dst & 0xffff);
    } else if (version === 6) {
      const v = this.ip6;
      const rc = decodeIpv6(buf, off, end, v);
      if (rc !== 0) return this.decapFail(rc);
      if (v.fragment) return this.decapFail(Drop.OuterIpFragment);
      if (this.localFamily !== 6 || !bytesEqual16(buf, off + 24, this.local6)) return this.decapFail(Drop.OuterDstNotLocal);
      proto = v.upperProto;
      l4Off = v.upperOff;
      l4End = v.payloadEnd;
      outerEcn = v.trafficClass & ECN_MASK;
      sender = this.fdb.peerByUnderlay6(buf, off + 8);
      pseudo = 0;
    } else {
      return this.decapFail(Drop.OuterIpBadVersion);
    }

    if (this.isVxlan) {
      if (proto !== IPPROTO_UDP) return this.decapFail(Drop.OuterProtoUnexpected);
      const u = this.udp;
      const rc = decodeUdp(buf, l4Off, l4End, u);
      if (rc !== 0) return this.decapFail(rc);
      if (u.dstPort !== this.port) return this.decapFail(Drop.UdpDstPortMismatch);
      if (u.checksum === 0) {
        if (version === 6 && !this.udp6ZeroRx) return this.decapFail(Drop.UdpZeroChecksumIpv6);
      } else if (this.verifyUdp) {
        const ps = version === 4 ? pseudo + IPPROTO_UDP + u.length : pseudoSum6(buf, off + 8, buf, off + 24, IPPROTO_UDP, u.length);
        if (foldSum(ps + sumBE(buf, l4Off, u.length)) !== 0xffff) return this.decapFail(Drop.UdpBadChecksum);
      }
      return this.decapVxlanAt(buf, u.payloadOff, l4Off + u.length, sender, outerEcn);
    }
    if (proto !== IPPROTO_IPIP && proto !== IPPROTO_IPV6) return this.decapFail(Drop.OuterProtoUnexpected);
    if (sender === FDB_MISS) return this.decapFail(Drop.UnknownVtepSource);
    return this.decapInnerIp(buf, l4Off, l4End, proto === IPPROTO_IPIP ? 4 : 6, sender, outerEcn, l4Off);
  }

  /**
   * Decapsulate a VXLAN payload as a UDP socket delivers it (the kernel has checked IP, UDP length, port
   * and checksum): buf[off, off+len) starts at the VXLAN header; the sender's address is
   * srcAddr[srcOff, srcOff+4) for IPv4 or +16 for IPv6. `outerEcn` is the outer header's ECN field as
   * the socket reports it (IP_RECVTOS / IPV6_RECVTCLASS), for RFC 6040 decap; 0 (Not-ECT) when unknown.
   */
  decapVxlanPayload(buf: Uint8Array, off: number, len: number, family: 4 | 6, srcAddr: Uint8Array, srcOff: number, outerEcn = 0): number {
    const sender = family === 4 ? this.fdb.peerByUnderlay4(readU32(srcAddr, srcOff)) : this.fdb.peerByUnderlay6(srcAddr, srcOff);
    if (sender >= 0 && this.fastPaths && this.fastDecap && this.isVxlan) {
      const base = buf === this.viewOf ? this.viewBase : this.setViews(buf);
      if (this.vxlanFast(buf, off, off + len, base + off, sender, outerEcn) === 0) return 0;
    }
    return this.decapVxlanAt(buf, off, off + len, sender, outerEcn);
  }

  /**
   * Decap fast path for an outer IPv4 packet: a 20-byte header (not a fragment, to us, valid checksum)
   * carrying VXLAN in UDP (length, port, checksum) or, for IPIP, the inner packet; from a known VTEP.
   * 0 on success (results set), -1 — nothing changed, nothing counted — to let the general path decide.
   */
  private decap4Fast(buf: Uint8Array, off: number, len: number): number {
    if (len < IPV4_HDR_LEN + UDP_HDR_LEN) return -1;
    const base = buf === this.viewOf ? this.viewBase : this.setViews(buf);
    const dv = this.dv;
    const at = base + off;
    const w0 = dv.getInt32(at); // version/IHL, TOS, total length
    const totalLen = w0 & 0xffff;
    if (w0 >>> 24 !== 0x45 || totalLen < IPV4_HDR_LEN + UDP_HDR_LEN || totalLen > len) return -1;
    const w1 = dv.getInt32(at + 4); // identification, flags/fragment offset
    const w2 = dv.getInt32(at + 8); // TTL, protocol, header checksum
    const src = dv.getInt32(at + 12);
    const dst = dv.getInt32(at + 16);
    if ((w1 & (IPV4_MF | IPV4_FRAG_OFF_MASK)) !== 0 || dst !== this.local4i) return -1;
    if (fold32(sum5(w0, w1, w2, src, dst)) !== 0xffff) return -1;
    const sender = this.fdb.peerByUnderlay4(src);
    if (sender < 0) return -1;
    const proto = (w2 >>> 16) & 0xff;
    const outerEcn = (w0 >>> 16) & ECN_MASK;
    const l4Off = off + IPV4_HDR_LEN;
    if (!this.isVxlan) {
      if (proto === IPPROTO_IPIP) return this.innerFast(buf, l4Off, off + totalLen, base + l4Off, 4, sender, outerEcn, l4Off);
      if (proto === IPPROTO_IPV6) return this.innerFast(buf, l4Off, off + totalLen, base + l4Off, 6, sender, outerEcn, l4Off);
      return -1;
    }
    if (proto !== IPPROTO_UDP) return -1;
    const u0 = dv.getInt32(at + IPV4_HDR_LEN); // source port, destination port
    const u1 = dv.getInt32(at + IPV4_HDR_LEN + 4); // length, checksum
    const udpLen = u1 >>> 16;
    if ((u0 & 0xffff) !== this.port || udpLen < UDP_HDR_LEN || udpLen > totalLen - IPV4_HDR_LEN) return -1;
    if ((u1 & 0xffff) !== 0 && this.verifyUdp) {
      const pseudo = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_UDP + udpLen;
      if (foldSum(pseudo + sumBE(buf, l4Off, udpLen)) !== 0xffff) return -1;
    }
    const x = l4Off + UDP_HDR_LEN;
    return this.vxlanFast(buf, x, l4Off + udpLen, base + x, sender, outerEcn);
  }

  /**
   * Decap fast path for an outer IPv6 packet: no extension headers, to us, carrying VXLAN in UDP (length,
   * port, checksum: a zero one only where accepted) or, for IPIP, the inner packet; from a known VTEP.
   */
  private decap6Fast(buf: Uint8Array, off: number, len: number): number {
    if (len < IPV6_HDR_LEN + UDP_HDR_LEN) return -1;
    const base = buf === this.viewOf ? this.viewBase : this.setViews(buf);
    const dv = this.dv;
    const at = base + off;
    const w0 = dv.getInt32(at); // version, traffic class, flow label
    const w1 = dv.getInt32(at + 4); // payload length, next header, hop limit
    const payloadLen = w1 >>> 16;
    const next = (w1 >>> 8) & 0xff;
    if (w0 >>> 28 !== 6 || IPV6_HDR_LEN + payloadLen > len) return -1;
    const l = this.local6w;
    if (dv.getInt32(at + 24) !== l[0] || dv.getInt32(at + 28) !== l[1] || dv.getInt32(at + 32) !== l[2] || dv.getInt32(at + 36) !== l[3]) return -1;
    const sender = this.fdb.peerByUnderlay6(buf, off + 8);
    if (sender < 0) return -1;
    const outerEcn = (w0 >>> 20) & ECN_MASK;
    const l4Off = off + IPV6_HDR_LEN;
    const l4End = l4Off + payloadLen;
    if (!this.isVxlan) {
      if (next === IPPROTO_IPIP) return this.innerFast(buf, l4Off, l4End, base + l4Off, 4, sender, outerEcn, l4Off);
      if (next === IPPROTO_IPV6) return this.innerFast(buf, l4Off, l4End, base + l4Off, 6, sender, outerEcn, l4Off);
      return -1;
    }
    if (next !== IPPROTO_UDP || payloadLen < UDP_HDR_LEN) return -1;
    const u0 = dv.getInt32(at + IPV6_HDR_LEN); // source port, destination port
    const u1 = dv.getInt32(at + IPV6_HDR_LEN + 4); // length, checksum
    const udpLen = u1 >>> 16;
    if ((u0 & 0xffff) !== this.port || udpLen < UDP_HDR_LEN || udpLen > payloadLen) return -1;
    if ((u1 & 0xffff) === 0) {
      if (!this.udp6ZeroRx) return -1;
    } else if (this.verifyUdp) {
      const s0 = dv.getInt32(at + 8);
      const s1 = dv.getInt32(at + 12);
      const s2 = dv.getInt32(at + 16);
      const s3 = dv.getInt32(at + 20);
      const pseudo =
        (s0 >>> 16) + (s0 & 0xffff) + (s1 >>> 16) + (s1 & 0xffff) + (s2 >>> 16) + (s2 & 0xffff) + (s3 >>> 16) + (s3 & 0xffff) +
        this.localAddrSum + IPPROTO_UDP + udpLen;
      if (foldSum(pseudo + sumBE(buf, l4Off, udpLen)) !== 0xffff) return -1;
    }
    const x = l4Off + UDP_HDR_LEN;
    return this.vxlanFast(buf, x, l4Off + udpLen, base + x, sender, outerEcn);
  }

  /**
   * Decap fast path from the VXLAN header at x (ax: its ArrayBuffer position; the views are buf's) to
   * `end`: I flag, VNI, inner Ethernet to our VTEP MAC carrying IPv4 or IPv6, then innerFast.
   */
  private vxlanFast(buf: Uint8Array, x: number, end: number, ax: number, sender: number, outerEcn: number): number {
    if (end - x < VXLAN_HDR_LEN + ETH_HDR_LEN) return -1;
    const dv = this.dv;
    if ((dv.getInt32(ax) & (VXLAN_FLAG_I << 24)) === 0 || dv.getInt32(ax + 4) >>> 8 !== this.vni) return -1;
    const ae = ax + VXLAN_HDR_LEN;
    if (dv.getInt32(ae) !== this.localMacHi || dv.getUint16(ae + 4) !== this.localMacLo) return -1;
    const t = dv.getUint16(ae + 12);
    const family = t === ETHERTYPE_IPV4 ? 4 : t === ETHERTYPE_IPV6 ? 6 : 0;
    if (family === 0) return -1;
    const frameOff = x + VXLAN_HDR_LEN;
    return this.innerFast(buf, frameOff + ETH_HDR_LEN, end, ae + ETH_HDR_LEN, family, sender, outerEcn, frameOff);
  }

  /**
   * Decap fast path for the inner packet at ipOff (ai: its ArrayBuffer position) up to `end`: IPv4 with a
   * 20-byte header and a valid checksum, or IPv6 without extension headers, complete; from the sender's
   * pods to ours; no CE to merge. Sets the results on success (0), else -1.
   */
  private innerFast(buf: Uint8Array, ipOff: number, end: number, ai: number, family: number, sender: number, outerEcn: number, frameOff: number): number {
    const dv = this.dv;
    let ipLen: number;
    let innerEcn: number;
    if (family === 4) {
      if (end - ipOff < IPV4_HDR_LEN) return -1;
      const w0 = dv.getInt32(ai);
      ipLen = w0 & 0xffff;
      if (w0 >>> 24 !== 0x45 || ipLen < IPV4_HDR_LEN || ipLen > end - ipOff) return -1;
      const src = dv.getInt32(ai + 12);
      const dst = dv.getInt32(ai + 16);
      if (fold32(sum5(w0, dv.getInt32(ai + 4), dv.getInt32(ai + 8), src, dst)) !== 0xffff) return -1;
      if (this.fdb.lookup4(src) !== sender || this.fdb.lookup4(dst) !== FDB_LOCAL) return -1;
      innerEcn = (w0 >>> 16) & ECN_MASK;
    } else {
      if (end - ipOff < IPV6_HDR_LEN) return -1;
      const w0 = dv.getInt32(ai);
      const w1 = dv.getInt32(ai + 4);
      ipLen = IPV6_HDR_LEN + (w1 >>> 16);
      if (w0 >>> 28 !== 6 || isIpv6ExtHeader((w1 >>> 8) & 0xff) || ipLen > end - ipOff) return -1;
      if (this.fdb.lookup6(buf, ipOff + 8) !== sender || this.fdb.lookup6(buf, ipOff + 24) !== FDB_LOCAL) return -1;
      innerEcn = (w0 >>> 20) & ECN_MASK;
    }
    if (outerEcn === ECN_CE && innerEcn !== ECN_CE) return -1;
    this.peer = sender;
    this.innerIpOff = ipOff;
    this.innerIpLen = ipLen;
    this.innerFrameOff = frameOff;
    this.innerFrameLen = end - frameOff;
    this.decapOk++;
    this.fastPathHits++;
    return 0;
  }

  private decapVxlanAt(buf: Uint8Array, off: number, end: number, sender: number, outerEcn: number): number {
    if (end - off < VXLAN_HDR_LEN) return this.decapFail(Drop.TruncatedVxlan);
    if ((buf[off]! & VXLAN_FLAG_I) === 0) return this.decapFail(Drop.VxlanFlagIClear);
    const vni = (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!;
    if (vni !== this.vni) return this.decapFail(Drop.VniMismatch);
    if (sender === FDB_MISS) return this.decapFail(Drop.UnknownVtepSource);
    const eOff = off + VXLAN_HDR_LEN;
    if (end - eOff < ETH_HDR_LEN) return this.decapFail(Drop.TruncatedInnerEthernet);
    if (macIsBroadcast(buf, eOff)) return this.decapFail(Drop.InnerDstMacBroadcast);
    if (macIsMulticast(buf, eOff)) return this.decapFail(Drop.InnerDstMacMulticast);
    const mac = this.localVtepMac;
    for (let i = 0; i < 6; i++) if (buf[eOff + i] !== mac[i]) return this.decapFail(Drop.InnerDstMacNotLocal);
    const t = (buf[eOff + 12]! << 8) | buf[eOff + 13]!;
    if (t !== ETHERTYPE_IPV4 && t !== ETHERTYPE_IPV6) return this.decapFail(Drop.InnerNotIp);
    return this.decapInnerIp(buf, eOff + ETH_HDR_LEN, end, t === ETHERTYPE_IPV4 ? 4 : 6, sender, outerEcn, eOff);
  }

  private decapInnerIp(buf: Uint8Array, off: number, end: number, family: 4 | 6, sender: number, outerEcn: number, frameOff: number): number {
    if (end - off < 1) return this.decapFail(Drop.TruncatedInnerIp);
    const version = buf[off]! >>> 4;
    if (version !== family) return this.decapFail(version === 4 || version === 6 ? Drop.InnerFamilyMismatch : Drop.InnerIpInvalid);
    let ipLen: number;
    let innerEcn: number;
    if (family === 4) {
      const v = this.inner4;
      const rc = decodeIpv4(buf, off, end, v, true);
      if (rc !== 0) return this.decapFail(rc === Drop.TruncatedOuterIp ? Drop.TruncatedInnerIp : Drop.InnerIpInvalid);
      if (this.fdb.lookup4(v.src) !== sender) return this.decapFail(Drop.InnerSrcNotSenderPod);
      if (this.fdb.lookup4(v.dst) !== FDB_LOCAL) return this.decapFail(Drop.InnerDstNotLocal);
      ipLen = v.totalLen;
      innerEcn = v.tos & ECN_MASK;
    } else {
      const v = this.inner6;
      const rc = decodeIpv6(buf, off, end, v);
      if (rc !== 0) return this.decapFail(rc === Drop.TruncatedOuterIp ? Drop.TruncatedInnerIp : Drop.InnerIpInvalid);
      if (this.fdb.lookup6(buf, off + 8) !== sender) return this.decapFail(Drop.InnerSrcNotSenderPod);
      if (this.fdb.lookup6(buf, off + 24) !== FDB_LOCAL) return this.decapFail(Drop.InnerDstNotLocal);
      ipLen = IPV6_HDR_LEN + v.payloadLen;
      innerEcn = v.trafficClass & ECN_MASK;
    }
    // RFC 6040 §4.2: outer CE marks an ECN-capable inner packet CE, and drops a Not-ECT one.
    if (outerEcn === ECN_CE && innerEcn !== ECN_CE) {
      if (innerEcn === 0) return this.decapFail(Drop.OuterCeInnerNotEct);
      if (family === 4) {
        const oldWord = (buf[off]! << 8) | buf[off + 1]!;
        buf[off + 1] = buf[off + 1]! | ECN_CE;
        const newWord = (buf[off]! << 8) | buf[off + 1]!;
        // RFC 1624 incremental update: HC' = ~(~HC + ~m + m')
        const hc = (buf[off + 10]! << 8) | buf[off + 11]!;
        const sum = (~hc & 0xffff) + (~oldWord & 0xffff) + newWord;
        const nc = ~foldSum(sum) & 0xffff;
        buf[off + 10] = nc >>> 8;
        buf[off + 11] = nc & 0xff;
      } else {
        buf[off + 1] = buf[off + 1]! | (ECN_CE << 4);
      }
    }
    this.peer = sender;
    this.innerIpOff = off;
    this.innerIpLen = ipLen;
    this.innerFrameOff = frameOff;
    this.innerFrameLen = end - frameOff;
    this.decapOk++;
    return 0;
  }

  private decapFail(code: number): number {
    this.peer = -1;
    this.drops[code]!++;
    return code;
  }
}
