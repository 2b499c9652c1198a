/**
 * What a live node needs, derived from its config (pure; no I/O): which underlay sockets to open, how
 * encapsulated packets are routed to them, how big the slots are, and which routes and addresses the
 * TUN gets. `vtep run` opens real devices from this plan; the unit tests open memory fakes from it.
 */
import type { VtepConfig } from '../control/config.ts';
import { Engine, EncapLayer } from '../engine/engine.ts';
import { Fdb } from '../fdb/fdb.ts';
import type { NodeEntry } from '../fdb/types.ts';
import type { DatagramBatchIo } from '../io/udp.ts';
import { LIVE_GSO_SLACK, LiveDataplane, RxFormat, liveSlotSize, type LiveTun, type UnderlayChannel } from './live.ts';
import { VtepError } from '../util/errors.ts';
import { VNET_HDR_LEN } from '../engine/gso.ts';
import { SLOT_HEADROOM } from './slots.ts';

export interface ChannelPlan {
  /** 'udp': VXLAN socket bound to address:port. 'raw': IP socket for `protocol` (IPIP). */
  kind: 'udp' | 'raw';
  family: 4 | 6;
  address: string;
  port: number;
  /** Raw: 4 (inner IPv4) or 41 (inner IPv6). UDP: 17. */
  protocol: number;
  rx: RxFormat;
  /** Raw IPv4: send whole IPv4 packets (IP_HDRINCL) built by the engine. */
  hdrincl: boolean;
  /**
   * Socket options that stand for the engine's outer-header settings where the kernel writes the outer
   * header (UDP sockets, IPv6 raw sockets): fixed TTL/hop limit (0 = leave), fixed TOS/traffic class
   * (-1 = leave; 'inherit' cannot be done per packet by a socket), DF on IPv4 (underlay.df: set), zero UDP
   * checksums (vxlan.udpChecksum false on IPv4, udp6ZeroChecksumTx / Rx on IPv6).
   */
  ttl: number;
  tos: number;
  df: boolean;
  udpZeroTx: boolean;
  udpZeroRx: boolean;
  /** UDP only: GSO sends (UDP_SEGMENT) and GRO receives (UDP_GRO), from the offloads. */
  gso: boolean;
  gro: boolean;
  /** UDP only: per-datagram queue wait (SO_TIMESTAMPNS), for vtep_rx_queue_delay_microseconds. */
  rxAge: boolean;
}

/**
 * Offloads of the live dataplane (`vtep run --offload`), each switchable so the benchmark can show what it buys:
 * - tso: TUN with IFF_VNET_HDR + TUNSETOFFLOAD(CSUM, TSO4, TSO6, TSO_ECN): the kernel hands over TCP packets of up
 *   to 64 KiB; the engine cuts them into MSS-sized segments (src/engine/gso.ts), each encapsulated
 * - gso: the segments of one such packet leave in one UDP GSO send (VXLAN; needs outer UDP checksums)
 * - gro: UDP_GRO on the underlay socket: runs of datagrams from one peer arrive as one read (VXLAN)
 * - coalesce: consecutive inner TCP segments of a flow are written to the TUN as one GSO packet (as the kernel's
 *   GRO would have merged them), IFF_VNET_HDR
 */
export interface Offloads {
  tso: boolean;
  gso: boolean;
  gro: boolean;
  coalesce: boolean;
}
export const OFFLOAD_NAMES = ['tso', 'gso', 'gro', 'coalesce'] as const;
export const NO_OFFLOADS: Offloads = { tso: false, gso: false, gro: false, coalesce: false };

/** TUN packets carry a virtio-net header (both directions) when any TUN-side offload is on. */
export function vnetOf(o: Offloads): boolean {
  return o.tso || o.coalesce;
}

/**
 * `--offload` text → Offloads. 'auto': every offload the config and I/O mode allow (gso only with outer UDP
 * checksums; gso/gro only for VXLAN; nothing with --io node). 'none', or a comma list of OFFLOAD_NAMES: exactly
 * those, and one that the config or mode rules out is an error naming the reason. Throws VtepError('USAGE'|'CONFIG').
 */
export function parseOffloads(text: string, cfg: VtepConfig, io: 'native' | 'node'): Offloads {
  const vxlan = cfg.backend === 'vxlan';
  const family = underlayFamily(cfg);
  const zeroTx = family === 4 ? !cfg.engine.udpChecksum : cfg.engine.udp6ZeroChecksumTx;
  if (text === 'none') return { ...NO_OFFLOADS };
  if (text === 'auto') {
    if (io === 'node') return { ...NO_OFFLOADS };
    return { tso: true, gso: vxlan && !zeroTx, gro: vxlan, coalesce: true };
  }
  const o = { ...NO_OFFLOADS };
  for (const name of text.split(',')) {
    if (!(OFFLOAD_NAMES as readonly string[]).includes(name)) {
      throw new VtepError('USAGE', `--offload ${JSON.stringify(text)}: unknown offload ${JSON.stringify(name)} (auto, none, or a comma list of ${OFFLOAD_NAMES.join(', ')})`);
    }
    o[name as keyof Offloads] = true;
  }
  if (io === 'node') throw new VtepError('USAGE', `--offload ${text}: offloads need --io native (the addon)`);
  if ((o.gso || o.gro) && !vxlan) throw new VtepError('USAGE', `--offload ${text}: gso and gro are VXLAN (UDP) offloads; backend is ${cfg.backend}`);
  if (o.gso && zeroTx) {
    const key = family === 4 ? 'vxlan.udpChecksum: false' : 'vxlan.udp6ZeroChecksumTx: true';
    throw new VtepError('CONFIG', `${cfg.file}: --offload gso needs outer UDP checksums (the kernel refuses UDP GSO without them), but ${key}`);
  }
  return o;
}

export interface LivePlan {
  offloads: Offloads;
  channels: ChannelPlan[];
  txChannel4: number;
  txChannel6: number;
  encapLayer: EncapLayer;
  slotSize: number;
  /** Read capacity to open every socket with (slot size − headroom; 64 KiB with offloads). */
  readCapacity: number;
  /** Read capacity to open the TUN with (with a virtio-net header: 64 KiB + the header). */
  tunReadCapacity: number;
}

function familiesOf(nodes: readonly NodeEntry[]): { v4: boolean; v6: boolean } {
  let v4 = false;
  let v6 = false;
  for (const n of nodes) for (const c of n.podCIDRs) (c.includes(':') ? (v6 = true) : (v4 = true));
  return { v4, v6 };
}

export function underlayFamily(cfg: VtepConfig): 4 | 6 {
  return cfg.node.underlayIP.includes(':') ? 6 : 4;
}

/** Largest IP packet a TSO read, a GRO receive or a coalesced write carries. */
export const GSO_MAX_PACKET = 65535;

export function planLive(cfg: VtepConfig, offloads: Offloads = NO_OFFLOADS): LivePlan {
  const family = underlayFamily(cfg);
  const big = offloads.tso || offloads.gro || offloads.coalesce;
  // offloads: 64 KiB packets, plus the virtio-net header, plus the headers each TSO segment gets (see LiveDataplane)
  const maxPacket = big ? GSO_MAX_PACKET + LIVE_GSO_SLACK : Math.max(cfg.tun.mtu, cfg.engine.underlayMTU);
  const e = cfg.engine;
  const sockOpts = {
    ttl: e.ttl,
    tos: e.tos === 'inherit' ? -1 : e.tos,
    df: e.df === 'set',
    udpZeroTx: family === 4 ? !e.udpChecksum : e.udp6ZeroChecksumTx,
    udpZeroRx: family === 6 && e.udp6ZeroChecksumRx,
    gso: false,
    gro: false,
    rxAge: false,
  };
  const slotSize = liveSlotSize(maxPacket);
  const readCapacity = big ? GSO_MAX_PACKET : slotSize - SLOT_HEADROOM;
  const tunReadCapacity = big ? GSO_MAX_PACKET + (vnetOf(offloads) ? VNET_HDR_LEN : 0) : readCapacity;
  if (cfg.backend === 'vxlan') {
    return {
      offloads,
      channels: [{ kind: 'udp', family, address: cfg.node.underlayIP, port: cfg.engine.port, protocol: 17, rx: RxFormat.VxlanPayload, hdrincl: false, ...sockOpts, gso: offloads.gso, gro: offloads.gro, rxAge: true }],
      txChannel4: 0,
      txChannel6: 0,
      encapLayer: EncapLayer.Payload,
      slotSize,
      readCapacity,
      tunReadCapacity,
    };
  }
  const fams = familiesOf([cfg.node, ...cfg.peers]);
  const channels: ChannelPlan[] = [];
  let txChannel4 = -1;
  let txChannel6 = -1;
  const raw = (protocol: number): ChannelPlan => ({
    kind: 'raw',
    family,
    address: cfg.node.underlayIP,
    port: 0,
    protocol,
    rx: family === 4 ? RxFormat.Ip : RxFormat.Ip6Payload,
    hdrincl: family === 4,
    ...sockOpts,
    udpZeroTx: false,
    udpZeroRx: false,
  });
  if (fams.v4) {
    txChannel4 = channels.length;
    channels.push(raw(4));
  }
  if (fams.v6) {
    txChannel6 = channels.length;
    channels.push(raw(41));
  }
  return { offloads, channels, txChannel4, txChannel6, encapLayer: family === 4 ? EncapLayer.Ip : EncapLayer.Payload, slotSize, readCapacity, tunReadCapacity };
}

/** The engine for live use: the kernel's UDP socket has verified the outer UDP checksum already. */
export function liveEngine(cfg: VtepConfig): Engine {
  const opts = { ...cfg.engine, verifyUdpChecksum: cfg.backend === 'vxlan' ? false : cfg.engine.verifyUdpChecksum };
  return new Engine(opts, Fdb.build(cfg.node, cfg.peers));
}

/** A dataplane over opened devices; `ios[i]` must be opened per `plan.channels[i]`. */
export function buildLive(plan: LivePlan, engine: Engine, tun: LiveTun, ios: DatagramBatchIo[], batch?: number): LiveDataplane {
  const channels: UnderlayChannel[] = plan.channels.map((c, i) => ({ io: ios[i]!, rx: c.rx, family: c.family, protocol: c.protocol }));
  return new LiveDataplane({
    engine,
    tun,
    channels,
    txChannel4: plan.txChannel4,
    txChannel6: plan.txChannel6,
    encapLayer: plan.encapLayer,
    slotSize: plan.slotSize,
    batch,
    offloads: plan.offloads,
  });
}

/** Network address of a CIDR ("10.244.1.0/24" → "10.244.1.0"). Config CIDRs have no host bits. */
export function networkAddress(cidr: string): string {
  return cidr.slice(0, cidr.indexOf('/'));
}

/** Addresses for the TUN: the network address of the node's first pod CIDR of each family (/32, /128). */
export function tunAddresses(node: NodeEntry): { v4: string | null; v6: string | null } {
  const v4 = node.podCIDRs.find((c) => !c.includes(':'));
  const v6 = node.podCIDRs.find((c) => c.includes(':'));
  return { v4: v4 ? networkAddress(v4) : null, v6: v6 ? networkAddress(v6) : null };
}

/** Every peer pod CIDR (v4 and v6), the routes that point at the TUN. */
export function peerRoutes(peers: readonly NodeEntry[]): string[] {
  const out: string[] = [];
  for (const p of peers) for (const c of p.podCIDRs) out.push(c);
  return out;
}
