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
import { LiveDataplane, RxFormat, liveSlotSize, type LiveTun, type UnderlayChannel } from './live.ts';
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
}

export interface LivePlan {
  channels: ChannelPlan[];
  txChannel4: number;
  txChannel6: number;
  encapLayer: EncapLayer;
  slotSize: number;
  /** Read capacity to open every device with (slot size − headroom). */
  readCapacity: number;
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

export function planLive(cfg: VtepConfig): LivePlan {
  const family = underlayFamily(cfg);
  const maxPacket = Math.max(cfg.tun.mtu, cfg.engine.underlayMTU);
  const e = cfg.engine;
  const sockOpts = {
    ttl: e.ttl,
    tos: e.tos === 'inherit' ? -1 : e.tos,
    df: e.df === 'set',
    udpZeroTx: family === 4 ? !e.udpChecksum : e.udp6ZeroChecksumTx,
    udpZeroRx: family === 6 && e.udp6ZeroChecksumRx,
  };
  const slotSize = liveSlotSize(maxPacket);
  const readCapacity = slotSize - SLOT_HEADROOM;
  if (cfg.backend === 'vxlan') {
    return {
      channels: [{ kind: 'udp', family, address: cfg.node.underlayIP, port: cfg.engine.port, protocol: 17, rx: RxFormat.VxlanPayload, hdrincl: false, ...sockOpts }],
      txChannel4: 0,
      txChannel6: 0,
      encapLayer: EncapLayer.Payload,
      slotSize,
      readCapacity,
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
  return { channels, txChannel4, txChannel6, encapLayer: family === 4 ? EncapLayer.Ip : EncapLayer.Payload, slotSize, readCapacity };
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
