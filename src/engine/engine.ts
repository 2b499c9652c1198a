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
 * the next call) so nothing is allocated per packet.
 */
import { sumBE, foldSum, pseudoSum4, pseudoSum6, udpChecksumField } from '../packet/checksum.ts';
import {
  ETH_HDR_LEN,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  decodeEthernet,
  macIsBroadcast,
  macIsMulticast,
  newEthernetView,
} from '../packet/ethernet.ts';
import {
  IPV4_HDR_LEN,
  IPV4_DF,
  IPV4_MF,
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
import { Fdb, FDB_LOCAL, FDB_MISS } from '../fdb/fdb.ts';
import { Drop, newDropCounters } from './drops.ts';
import type { EngineOptions } from './options.ts';
import { flowHash4, flowHash6, portFromHash } from './flowhash.ts';

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

function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

function bytesEqual16(a: Uint8Array, aOff: number, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[aOff + i] !== b[i]) return false;
  return true;
}

/** RFC 6040 normal mode: the outer ECN field is a copy of the inner one. */
function outerTos(optTos: 'inherit' | number, innerTos: number): number {
  const dscp = optTos === 'inherit' ? innerTos & ~ECN_MASK : optTos & ~ECN_MASK;
  return (dscp | (innerTos & ECN_MASK)) & 0xff;
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
  private readonly local6: Uint8Array;
  private readonly localFamily: 4 | 6;
  private readonly localVtepMac: Uint8Array;
  private readonly localMacSum: number;
  private readonly localAddrSum: number;
  private readonly icmpSrc4: number;
  private readonly icmpSrc6: Uint8Array;
  private readonly isVxlan: boolean;
  private readonly vniHi: number;
  private readonly vniLo: number;
  private ipId = 0;
  private peerMacSum = new Float64Array(0);
  private peerAddrSum = new Float64Array(0);

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
    this.local6 = local.family === 6 ? local.underlayBytes : new Uint8Array(16);
    this.localVtepMac = local.vtepMAC;
    this.localMacSum = macWordSum(local.vtepMAC);
    this.localAddrSum = local.family === 6 ? sumBE(this.local6, 0, 16) : 0;
    this.isVxlan = opts.backend === 'vxlan';
    this.vniHi = (opts.vni >>> 8) & 0xffff;
    this.vniLo = (opts.vni & 0xff) << 8;
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
    const macSum = new Float64Array(n);
    const addrSum = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const p = fdb.peers[i]!;
      macSum[i] = macWordSum(p.vtepMAC);
      addrSum[i] = p.family === 6 ? sumBE(p.underlayBytes, 0, 16) : 0;
    }
    this.peerMacSum = macSum;
    this.peerAddrSum = addrSum;
    this.fdb = fdb;
  }

  currentFdb(): Fdb {
    return this.fdb;
  }

  private drop(code: number): number {
    this.drops[code]!++;
    return code;
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

    let innerLen: number;
    let innerTos: number;
    let innerTtl: number;
    let innerDf: boolean;
    let peer: number;
    let l4Sum: number; // a number congruent to the sum of the inner IP header + L4 bytes (mod 0xffff)
    let hash: number;

    if (version === 4) {
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
      peer = this.fdb.lookup4(v.dst);
      if (peer < 0) return this.drop(peer === FDB_LOCAL ? Drop.DstLocalPod : Drop.FdbMiss);
      const frag = v.mf || v.fragOff !== 0;
      const l4Off = off + v.hdrLen;
      const l4Len = v.totalLen - v.hdrLen;
      const ports = !frag && hasPorts(v.proto) && l4Len >= 4 ? readU32(buf, l4Off) : 0;
      hash = flowHash4(v.src, v.dst, v.proto, ports);
      l4Sum = this.isVxlan ? this.l4Sum4(buf, l4Off, l4Len, v.proto, v.src, v.dst, frag) : 0;
    } else if (version === 6) {
      const v = this.inner6;
      const rc = decodeIpv6(buf, off, end, v);
      if (rc !== 0) return this.drop(rc === Drop.TruncatedOuterIp ? Drop.TruncatedInnerIp : Drop.InnerIpInvalid);
      innerLen = IPV6_HDR_LEN + v.payloadLen;
      innerTos = v.trafficClass;
      innerTtl = v.hopLimit;
      innerDf = true;
      peer = this.fdb.lookup6(buf, off + 24);
      if (peer < 0) return this.drop(peer === FDB_LOCAL ? Drop.DstLocalPod : Drop.FdbMiss);
      const l4Len = v.payloadEnd - v.upperOff;
      const ports = !v.fragment && hasPorts(v.upperProto) && l4Len >= 4 ? readU32(buf, v.upperOff) : 0;
      hash = flowHash6(buf, off + 8, off + 24, v.upperProto, ports);
      l4Sum = this.isVxlan ? this.l4Sum6(buf, off, v.upperOff, l4Len, v.upperProto, v.fragment) : 0;
    } else {
      return this.drop(Drop.InnerNotIp);
    }

    const p = this.fdb.peers[peer]!;
    if (p.family !== this.localFamily) return this.drop(Drop.UnderlayFamilyUnsupported);
    const outer6 = p.family === 6;
    const ipHdr = outer6 ? IPV6_HDR_LEN : IPV4_HDR_LEN;
    const tunnelHdr = this.isVxlan ? UDP_HDR_LEN + VXLAN_HDR_LEN + ETH_HDR_LEN : 0;
    const outerIpLen = ipHdr + tunnelHdr + innerLen;
    if (outerIpLen > this.opts.underlayMTU) {
      this.buildTooBig(buf, off, innerLen, version, innerDf, this.opts.underlayMTU - ipHdr - tunnelHdr);
      return this.drop(Drop.MtuExceeded);
    }
    this.peer = peer;

    const tos = outerTos(this.opts.tos, innerTos);
    const ttl = this.opts.ttl === 0 ? innerTtl : this.opts.ttl;
    let start = off; // first byte written so far

    if (this.isVxlan) {
      // inner Ethernet: dst = peer VTEP MAC, src = our VTEP MAC
      start -= ETH_HDR_LEN;
      copyMac(buf, start, p.vtepMAC);
      copyMac(buf, start + 6, this.localVtepMac);
      const etherType = version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6;
      buf[start + 12] = etherType >>> 8;
      buf[start + 13] = etherType & 0xff;
      // VXLAN: I flag, 24-bit VNI, reserved zero (RFC 7348 §5)
      start -= VXLAN_HDR_LEN;
      buf[start] = VXLAN_FLAG_I;
      buf[start + 1] = 0;
      buf[start + 2] = 0;
      buf[start + 3] = 0;
      buf[start + 4] = this.opts.vni >>> 16;
      buf[start + 5] = (this.opts.vni >>> 8) & 0xff;
      buf[start + 6] = this.opts.vni & 0xff;
      buf[start + 7] = 0;
      if (layer === EncapLayer.Payload) return this.done(start, off + innerLen);
      // UDP
      const udpLen = UDP_HDR_LEN + VXLAN_HDR_LEN + ETH_HDR_LEN + innerLen;
      const sport = portFromHash(hash, this.opts.srcPortMin, this.opts.srcPortMax);
      const dport = this.opts.port;
      start -= UDP_HDR_LEN;
      buf[start] = sport >>> 8;
      buf[start + 1] = sport & 0xff;
      buf[start + 2] = dport >>> 8;
      buf[start + 3] = dport & 0xff;
      buf[start + 4] = udpLen >>> 8;
      buf[start + 5] = udpLen & 0xff;
      let csum = 0;
      const wantCsum = outer6 ? !this.opts.udp6ZeroChecksumTx : this.opts.udpChecksum;
      if (wantCsum) {
        // UDP header (checksum field as zero) + VXLAN + inner Ethernet + inner IP header and L4 (l4Sum)
        let acc =
          sport + dport + udpLen +
          (VXLAN_FLAG_I << 8) + this.vniHi + this.vniLo +
          this.peerMacSum[peer]! + this.localMacSum + (version === 4 ? ETHERTYPE_IPV4 : ETHERTYPE_IPV6) +
          l4Sum;
        acc += outer6
          ? this.localAddrSum + this.peerAddrSum[peer]! + IPPROTO_UDP + udpLen
          : pseudoSum4(this.local4, p.underlay4, IPPROTO_UDP, udpLen);
        csum = udpChecksumField(acc);
      }
      buf[start + 6] = csum >>> 8;
      buf[start + 7] = csum & 0xff;
      start = this.writeOuterIp(buf, start, off + innerLen, outer6, tos, ttl, innerDf, IPPROTO_UDP, p);
    } else {
      if (layer === EncapLayer.Payload) return this.done(start, off + innerLen);
      const proto = version === 4 ? IPPROTO_IPIP : IPPROTO_IPV6;
      start = this.writeOuterIp(buf, start, off + innerLen, outer6, tos, ttl, innerDf, proto, p);
    }
    if (layer === EncapLayer.Ethernet) {
      start -= ETH_HDR_LEN;
      const dstMac = p.underlayMAC ?? this.opts.underlayDstMAC;
      copyMac(buf, start, dstMac);
      copyMac(buf, start + 6, this.opts.underlaySrcMAC);
      const t = outer6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4;
      buf[start + 12] = t >>> 8;
      buf[start + 13] = t & 0xff;
    }
    return this.done(start, off + innerLen);
  }

  private done(start: number, innerEnd: number): number {
    this.outOff = start;
    this.outLen = innerEnd - start;
    this.outPort = this.opts.port;
    this.encapOk++;
    return 0;
  }

  /** Write the outer IPv4/IPv6 header ending at `start`; returns its first byte. */
  private writeOuterIp(
    buf: Uint8Array,
    start: number,
    payloadEnd: number,
    outer6: boolean,
    tos: number,
    ttl: number,
    innerDf: boolean,
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
    const df = this.opts.df === 'set' || (this.opts.df === 'inherit' && innerDf) ? IPV4_DF : 0;
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
   * checksum, other protocols) the bytes are summed.
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

  /** IPv6 flavour of l4Sum4; the bytes between the fixed header and the upper layer are summed as they are. */
  private l4Sum6(buf: Uint8Array, ipOff: number, upperOff: number, l4Len: number, proto: number, frag: boolean): number {
    const addrSum = sumBE(buf, ipOff + 8, 32);
    const hdrSum = sumBE(buf, ipOff, IPV6_HDR_LEN) + (upperOff > ipOff + IPV6_HDR_LEN ? sumBE(buf, ipOff + IPV6_HDR_LEN, upperOff - ipOff - IPV6_HDR_LEN) : 0);
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
    const rc = decodeEthernet(buf, off, end, this.eth);
    if (rc !== 0) return this.decapFail(rc);
    const t = this.eth.etherType;
    if (t !== ETHERTYPE_IPV4 && t !== ETHERTYPE_IPV6) return this.decapFail(Drop.OuterNotIp);
    const ipOff = this.eth.payloadOff;
    if (ipOff < end && (buf[ipOff]! >>> 4) !== (t === ETHERTYPE_IPV4 ? 4 : 6)) return this.decapFail(Drop.OuterIpBadVersion);
    return this.decapIp(buf, ipOff, end - ipOff);
  }

  /** Decapsulate an outer IP packet buf[off, off+len) (raw socket input, or after the Ethernet header). */
  decapIp(buf: Uint8Array, off: number, len: number): number {
    const end = off + len;
    if (len < 1) return this.decapFail(Drop.TruncatedOuterIp);
    const version = buf[off]! >>> 4;
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
      if (u.dstPort !== this.opts.port) return this.decapFail(Drop.UdpDstPortMismatch);
      if (u.checksum === 0) {
        if (version === 6 && !this.opts.udp6ZeroChecksumRx) return this.decapFail(Drop.UdpZeroChecksumIpv6);
      } else if (this.opts.verifyUdpChecksum) {
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
   * srcAddr[srcOff, srcOff+4) for IPv4 or +16 for IPv6.
   */
  decapVxlanPayload(buf: Uint8Array, off: number, len: number, family: 4 | 6, srcAddr: Uint8Array, srcOff: number): number {
    const sender = family === 4 ? this.fdb.peerByUnderlay4(readU32(srcAddr, srcOff)) : this.fdb.peerByUnderlay6(srcAddr, srcOff);
    return this.decapVxlanAt(buf, off, off + len, sender, 0);
  }

  private decapVxlanAt(buf: Uint8Array, off: number, end: number, sender: number, outerEcn: number): number {
    if (end - off < VXLAN_HDR_LEN) return this.decapFail(Drop.TruncatedVxlan);
    if ((buf[off]! & VXLAN_FLAG_I) === 0) return this.decapFail(Drop.VxlanFlagIClear);
    const vni = (buf[off + 4]! << 16) | (buf[off + 5]! << 8) | buf[off + 6]!;
    if (vni !== this.opts.vni) return this.decapFail(Drop.VniMismatch);
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
