// The live dataplane with offloads (--offload tso,gso,gro,coalesce) on the memory fakes, on real bytes:
// 1. a TSO read from the TUN (virtio-net header TcpV4/TcpV6, NEEDS_CSUM, pseudo sum in the field) leaves as VXLAN
//    datagrams whose inner packets are exactly TcpSegmenter's segments (decapsulated by a second Engine), in UDP
//    GSO runs within the kernel's limits on a gsoCapable socket, one datagram each otherwise
// 2. a non-GSO TUN read with NEEDS_CSUM leaves with its checksum completed
// 3. a UDP GRO read of VXLAN datagrams becomes TUN writes: consecutive TCP segments of a flow coalesced behind a
//    GSO vnet header, anything else alone behind a zero header, in order
// 4. TSO at one node → GSO → GRO → coalescing at the other gives back the very packet the first node read
// 5. vnet headers too short or inconsistent are counted (vnet-hdr-invalid, gso-not-tcp), never thrown on
// 6. with offloads off, packets carry no vnet header and every offload counter stays 0
// MemorySocket (src/io/memory.ts) cuts a GSO message into datagrams as the kernel does and records the message
// in gsoSends; with `gro` it merges queued same-source, same-size datagrams (last shorter) into one read.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNet, MemorySocket, MemoryTun, MEMORY_GSO_MAX_BYTES, MEMORY_GSO_MAX_SEGMENTS } from '../../src/io/memory.ts';
import { buildLive, liveEngine, planLive, NO_OFFLOADS, type Offloads } from '../../src/dataplane/live-plan.ts';
import { EncapLayer, type Engine } from '../../src/engine/engine.ts';
import { Drop, DROP_NAMES } from '../../src/engine/drops.ts';
import { TcpSegmenter, VNET_HDR_LEN, VnetFlag, VnetGso, VnetHdr, writeVnetHdr } from '../../src/engine/gso.ts';
import { parseIpInto } from '../../src/io/udp.ts';
import type { VtepConfig } from '../../src/control/config.ts';
import { IoDrop, type LiveDataplane } from '../../src/dataplane/live.ts';
import { TS_OPTIONS, buildTcp, payloadOf, type TcpSpec } from '../engine/gso-helpers.ts';
import { buildInner, refChecksum, refSum } from '../engine/helpers.ts';
import { configOf, until, settle } from './helpers.ts';

const ALL: Offloads = { tso: true, gso: true, gro: true, coalesce: true };
const VXLAN_GAP = 22; // VXLAN header + inner Ethernet in front of each inner packet of a UDP payload

interface OffNode {
  cfg: VtepConfig;
  dp: LiveDataplane;
  engine: Engine;
  tun: MemoryTun;
  sock: MemorySocket;
}

const nodes: OffNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) {
    n.dp.stop();
    n.tun.close();
    n.sock.close();
  }
});

/** A VXLAN node on the fakes opened as `vtep run` opens it for `offloads`; its socket can do GSO / GRO per `caps`. */
function offNode(net: MemoryNet, i: number, family: 4 | 6, offloads: Offloads, caps = { gso: offloads.gso, gro: offloads.gro }): OffNode {
  const cfg = configOf(i, { family, peers: [1, 2].filter((k) => k !== i) });
  const plan = planLive(cfg, offloads);
  const engine = liveEngine(cfg);
  const tun = new MemoryTun({ name: cfg.tun.name, readCapacity: plan.tunReadCapacity });
  const c = plan.channels[0]!;
  expect(c.gso).toBe(offloads.gso);
  expect(c.gro).toBe(offloads.gro);
  const sock = net.socket({ family: c.family, address: c.address, port: c.port, readCapacity: plan.readCapacity, gso: caps.gso, gro: caps.gro });
  const dp = buildLive(plan, engine, tun, [sock]);
  dp.start();
  const n = { cfg, dp, engine, tun, sock };
  nodes.push(n);
  return n;
}

const dropsOf = (e: Engine) => Object.fromEntries([...e.drops].map((v, i) => [DROP_NAMES[i], v]).filter(([, v]) => v !== 0));
const ioDropsOf = (dp: LiveDataplane) => [...dp.ioDrops].reduce((s, v) => s + v, 0);
/** The offload counters this file checks (offloadCounters() may carry more). */
const zeroCounters = { tsoPackets: 0, tsoSegments: 0, gsoSends: 0, gsoDatagrams: 0, groReads: 0, groDatagrams: 0, coalescedWrites: 0, coalescedSegments: 0 };

const offc = (dp: LiveDataplane) => {
  const all = dp.offloadCounters();
  return Object.fromEntries(Object.keys(zeroCounters).map((k) => [k, all[k]]));
};

function withVnet(hdr: [number, number, number, number, number, number], pkt: Uint8Array): Buffer {
  const b = Buffer.alloc(VNET_HDR_LEN + pkt.length);
  writeVnetHdr(b, 0, ...hdr);
  b.set(pkt, VNET_HDR_LEN);
  return b;
}
const ZERO_VNET = Buffer.alloc(VNET_HDR_LEN);

function underlayAddr(i: number, family: 4 | 6): Uint8Array {
  const a = new Uint8Array(16);
  parseIpInto(family === 4 ? `198.51.100.${i}` : `2001:db8:100::${i}`, a, 0);
  return family === 4 ? a.subarray(12) : a; // IPv4: the 4 address bytes (decapVxlanPayload reads them at srcOff)
}

/** Decapsulate VXLAN payloads (as a UDP socket delivers them) from node `from` with node `to`'s own engine. */
function decapAll(datagrams: Buffer[], to: number, from: number, family: 4 | 6): Buffer[] {
  const e = liveEngine(configOf(to, { family, peers: [from] }));
  const src = underlayAddr(from, family);
  return datagrams.map((d, k) => {
    const buf = Buffer.alloc(d.length + 64);
    d.copy(buf, 64);
    const rc = e.decapVxlanPayload(buf, 64, d.length, family, src, 0);
    expect(rc, `datagram ${k}: ${DROP_NAMES[rc]}`).toBe(0);
    return Buffer.from(buf.subarray(e.innerIpOff, e.innerIpOff + e.innerIpLen));
  });
}

/** VXLAN payloads of inner packets, encapsulated by node `from`'s engine (what its socket would send). */
function encapAll(inner: Buffer[], from: number, family: 4 | 6): Buffer[] {
  const e = liveEngine(configOf(from, { family, peers: [2] }));
  return inner.map((p, k) => {
    const buf = Buffer.alloc(p.length + 256);
    p.copy(buf, 128);
    const rc = e.encap(buf, 128, p.length, EncapLayer.Payload);
    expect(rc, `inner ${k}: ${DROP_NAMES[rc]}`).toBe(0);
    return Buffer.from(buf.subarray(e.outOff, e.outOff + e.outLen));
  });
}

/** TcpSegmenter's segments of a GSO packet (the reference for what must leave). */
function refSegments(pkt: Buffer, h: VnetHdr): Buffer[] {
  const seg = new TcpSegmenter(256);
  const buf = Buffer.alloc(pkt.length * 2 + 256 * 200);
  pkt.copy(buf, 0);
  const n = seg.segment(buf, 0, pkt.length, h, pkt.length + 64, buf.length, 40);
  expect(n).toBeGreaterThan(0);
  return Array.from({ length: n }, (_, k) => Buffer.from(buf.subarray(seg.offs[k]!, seg.offs[k]! + seg.lens[k]!)));
}

function gsoHdr(family: 4 | 6, mss: number, hdrLen: number, ecn = false): VnetHdr {
  const h = new VnetHdr();
  h.flags = VnetFlag.NeedsCsum;
  h.gsoType = (family === 4 ? VnetGso.TcpV4 : VnetGso.TcpV6) | (ecn ? VnetGso.Ecn : 0);
  h.hdrLen = hdrLen;
  h.gsoSize = mss;
  h.csumStart = family === 4 ? 20 : 40;
  h.csumOffset = 16;
  return h;
}
const hdrTuple = (h: VnetHdr): [number, number, number, number, number, number] => [h.flags, h.gsoType, h.hdrLen, h.gsoSize, h.csumStart, h.csumOffset];

/** TCP checksum of an IP packet valid? (reference sums) */
function tcpOk(b: Uint8Array): boolean {
  const v6 = b[0]! >> 4 === 6;
  const ipLen = v6 ? 40 : 20;
  const l4 = b.length - ipLen;
  const pseudo = v6 ? refSum(b, 8, 32, 6 + l4) : refSum(b, 12, 8, 6 + l4);
  return refChecksum(b, ipLen, l4, pseudo) === 0;
}

// ============================================================================================== TSO → VXLAN

describe.each([4, 6] as const)('TSO reads from the TUN, IPv%i underlay and pods', (family) => {
  const ipLen = family === 4 ? 20 : 40;
  const hdrLen = ipLen + 20 + TS_OPTIONS.length;

  // mss 1300: 51 segments of a 64 KiB packet, 47 per GSO run (65507 / 1374); mss 536: 123 segments, 64 per run
  for (const { mss, total, gsoCapable } of [
    { mss: 1300, total: 65535, gsoCapable: true },
    { mss: 536, total: 65535, gsoCapable: true },
    { mss: 1300, total: 65535, gsoCapable: false },
    { mss: 1000, total: 5 * 1000 + 3 + hdrLen, gsoCapable: true },
  ]) {
    it(`${total} B at mss ${mss} leaves as TcpSegmenter's segments, ${gsoCapable ? 'in UDP GSO runs within the kernel limits' : 'one datagram each (socket without GSO)'}`, async () => {
      const net = new MemoryNet();
      const a = offNode(net, 1, family, ALL, { gso: gsoCapable, gro: true });
      const pkt = buildTcp({ family, payload: payloadOf(total - hdrLen, mss), options: TS_OPTIONS, flags: 0x18, id: 0xfff0, csum: 'pseudo', seq: 0xfffff000 });
      expect(pkt.length).toBe(total);
      const h = gsoHdr(family, mss, hdrLen);
      const want = refSegments(pkt, h);
      const n = want.length;
      expect(n).toBe(Math.ceil((total - hdrLen) / mss));
      expect(a.tun.inject(withVnet(hdrTuple(h), pkt))).toBe(true);
      await until(() => net.wire.length >= n, 2000, `${n} datagrams`);
      await settle(5);
      expect(net.wire.length).toBe(n);
      expect(dropsOf(a.engine)).toEqual({});
      expect(ioDropsOf(a.dp)).toBe(0);

      // the inner packets, decapsulated by node 2's engine, are the segments byte for byte, in order, all valid
      const inner = decapAll(net.wire.map((w) => w.bytes), 2, 1, family);
      for (let k = 0; k < n; k++) {
        expect(inner[k]!.equals(want[k]!), `segment ${k}`).toBe(true);
        expect(tcpOk(inner[k]!), `segment ${k} checksum`).toBe(true);
      }
      // and they are the original stream: payloads concatenated = the TSO payload
      expect(Buffer.concat(inner.map((s) => s.subarray(hdrLen))).equals(pkt.subarray(hdrLen))).toBe(true);
      for (const w of net.wire) expect(w.bytes.length).toBeLessThanOrEqual(VXLAN_GAP + a.cfg.tun.mtu);

      const size = VXLAN_GAP + hdrLen + mss;
      const runs = a.sock.gsoSends;
      if (gsoCapable && n > 1) {
        const per = Math.min(MEMORY_GSO_MAX_SEGMENTS, Math.floor(MEMORY_GSO_MAX_BYTES / size));
        expect(runs.length).toBe(Math.ceil(n / per));
        for (const r of runs) {
          expect(r.segSize).toBe(size);
          expect(r.datagrams).toBeLessThanOrEqual(64);
          expect(r.bytes).toBeLessThanOrEqual(65507);
        }
        expect(runs.slice(0, -1).every((r) => r.datagrams === per)).toBe(true);
        expect(runs.reduce((s, r) => s + r.datagrams, 0)).toBe(n);
        expect(offc(a.dp)).toEqual({ ...zeroCounters, tsoPackets: 1, tsoSegments: n, gsoSends: runs.length, gsoDatagrams: n });
      } else {
        expect(runs).toEqual([]);
        expect(offc(a.dp)).toEqual({ ...zeroCounters, tsoPackets: 1, tsoSegments: n });
      }
      expect(a.dp.socketSendPackets).toBe(n);
      expect(a.dp.tunReadPackets).toBe(1);
      const innerBytes = want.reduce((s, p) => s + p.length, 0);
      expect(a.dp.peerCounters().get('n2')).toEqual({ txPackets: n, txBytes: innerBytes, rxPackets: 0, rxBytes: 0 });
    });
  }

  it('keeps ECN: a TcpV4|Ecn / TcpV6|Ecn read with CWR sets it on the first segment only', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, family, ALL);
    const mss = 1200;
    const pkt = buildTcp({ family, payload: payloadOf(4000), options: TS_OPTIONS, flags: 0x80 | 0x10, csum: 'pseudo', tos: 2 });
    const h = gsoHdr(family, mss, hdrLen, true);
    a.tun.inject(withVnet(hdrTuple(h), pkt));
    await until(() => net.wire.length >= 4);
    const inner = decapAll(net.wire.map((w) => w.bytes), 2, 1, family);
    expect(inner.map((s) => s[ipLen + 13])).toEqual([0x90, 0x10, 0x10, 0x10]);
    const want = refSegments(pkt, h);
    expect(inner.every((s, k) => s.equals(want[k]!))).toBe(true);
  });
});

// ============================================================================================== NEEDS_CSUM

describe('small datagrams gathered into UDP GSO sends', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: 150 equal UDP packets leave in runs of ≤ 64 per send, byte for byte and in order; a size change ends a run`, async () => {
      const net = new MemoryNet();
      const a = offNode(net, 1, family, ALL);
      const pkts: Buffer[] = [];
      for (let k = 0; k < 150; k++) {
        // 22-byte payloads (a 64-byte frame on the pod's veth), then every 50th one 10 bytes longer
        const payload = Buffer.alloc(k % 50 === 49 ? 32 : 22, k & 0xff);
        pkts.push(buildInner({ family, proto: 17, src: 1, dst: 2, srcHost: 5, dstHost: 9, payload, tos: 0, ttl: 64, df: false, sport: 40000, dport: 9 }));
      }
      for (const p of pkts) a.tun.inject(withVnet([0, 0, 0, 0, 0, 0], p));
      await until(() => net.wire.length >= pkts.length, 2000, `${pkts.length} datagrams`);
      await settle();
      expect(net.wire.length).toBe(pkts.length);
      const inner = decapAll(net.wire.map((w) => w.bytes), 2, 1, family);
      expect(inner.map((p) => p.toString('hex'))).toEqual(pkts.map((p) => p.toString('hex')));
      const gathered = a.sock.gsoSends.filter((g) => (g.gathered ?? 0) > 1);
      expect(gathered.length).toBeGreaterThan(1);
      for (const g of gathered) {
        expect(g.datagrams).toBe(g.gathered);
        expect(g.datagrams).toBeLessThanOrEqual(MEMORY_GSO_MAX_SEGMENTS);
        expect(g.bytes).toBe(g.datagrams * g.segSize);
      }
      // each longer packet stands alone: runs never mix sizes
      const sizes = new Set(gathered.map((g) => g.segSize));
      expect(sizes.size).toBe(1);
      expect(gathered.reduce((n, g) => n + g.datagrams, 0)).toBeLessThanOrEqual(pkts.length - 3);
      const c = offc(a.dp);
      expect(c.gsoSends).toBe(gathered.length);
      expect(c.gsoDatagrams).toBe(gathered.reduce((n, g) => n + g.datagrams, 0));
      expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(pkts.length);
      expect(dropsOf(a.engine)).toEqual({});
    });
  }

  it('a socket without GSO sends the same datagrams one by one', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, 4, ALL, { gso: false, gro: false });
    const pkts = Array.from({ length: 40 }, (_, k) => buildInner({ family: 4, proto: 17, src: 1, dst: 2, srcHost: 5, dstHost: 9, payload: Buffer.alloc(22, k), tos: 0, ttl: 64, df: false, sport: 40000, dport: 9 }));
    for (const p of pkts) a.tun.inject(withVnet([0, 0, 0, 0, 0, 0], p));
    await until(() => net.wire.length >= pkts.length, 2000, `${pkts.length} datagrams`);
    expect(decapAll(net.wire.map((w) => w.bytes), 2, 1, 4).map((p) => p.toString('hex'))).toEqual(pkts.map((p) => p.toString('hex')));
    expect(a.sock.gsoSends).toEqual([]);
    expect(offc(a.dp).gsoSends).toBe(0);
  });
});

describe('non-GSO reads with NEEDS_CSUM', () => {
  for (const family of [4, 6] as const) {
    it(`IPv${family}: TCP and UDP leave with the checksum completed (the field held the pseudo sum)`, async () => {
      const net = new MemoryNet();
      const a = offNode(net, 1, family, ALL);
      const ipLen = family === 4 ? 20 : 40;
      // TCP: csum_start = IP header, csum_offset 16
      const tcpFull = buildTcp({ family, payload: payloadOf(777), options: TS_OPTIONS });
      const tcpPartial = buildTcp({ family, payload: payloadOf(777), options: TS_OPTIONS, csum: 'pseudo' });
      expect(tcpPartial.equals(tcpFull)).toBe(false);
      // UDP: csum_offset 6, the pseudo-header sum (folded, not complemented) in the field
      const udpFull = buildInner({ family, proto: 17, src: 1, dst: 2, srcHost: 5, dstHost: 9, payload: payloadOf(301), tos: 0, ttl: 64, df: true, sport: 999, dport: 53 });
      const udpPartial = Buffer.from(udpFull);
      const l4 = udpFull.length - ipLen;
      const pseudo = family === 4 ? refSum(udpFull, 12, 8, 17 + l4) : refSum(udpFull, 8, 32, 17 + l4);
      udpPartial.writeUInt16BE(pseudo, ipLen + 6);
      expect(udpPartial.equals(udpFull)).toBe(false);
      a.tun.inject(withVnet([VnetFlag.NeedsCsum, VnetGso.None, 0, 0, ipLen, 16], tcpPartial));
      a.tun.inject(withVnet([VnetFlag.NeedsCsum, VnetGso.None, 0, 0, ipLen, 6], udpPartial));
      // DATA_VALID only / no flags: sent as is
      a.tun.inject(withVnet([VnetFlag.DataValid, VnetGso.None, 0, 0, 0, 0], tcpFull));
      a.tun.inject(withVnet([0, 0, 0, 0, 0, 0], udpFull));
      await until(() => net.wire.length >= 4);
      const inner = decapAll(net.wire.map((w) => w.bytes), 2, 1, family);
      expect(inner.map((p) => p.toString('hex'))).toEqual([tcpFull, udpFull, tcpFull, udpFull].map((p) => p.toString('hex')));
      expect(dropsOf(a.engine)).toEqual({});
      expect(offc(a.dp)).toEqual(zeroCounters);
      expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(4);
    });
  }
});

// ============================================================================================== GRO → coalesced TUN writes

/**
 * Inner packets arriving at node 2 in one GRO read, all `len` bytes but the last (shorter): flow A's segments
 * j = 0, 1, 2, a UDP datagram, A 3, A 4 with a bad checksum, an ICMP echo, flow B 0, 1, then A 5, 6 (last,
 * shorter, PSH). IPv4 IDs follow each flow's segment index, as a sender's do.
 */
function groScenario(family: 4 | 6, mss: number) {
  const ipLen = family === 4 ? 20 : 40;
  const len = ipLen + 20 + mss;
  const a = (j: number, o: Partial<TcpSpec> = {}) =>
    buildTcp({ family, payload: payloadOf(mss, 10 + j), seq: 5000 + j * mss, id: 100 + j, sport: 40001, ...o });
  const b = (j: number) => buildTcp({ family, payload: payloadOf(mss, 50 + j), seq: 9_000_000 + j * mss, id: 500 + j, sport: 40002 });
  const filler = (proto: 17 | 1) =>
    buildInner({ family, proto, src: 1, dst: 2, srcHost: 5, dstHost: 9, payload: payloadOf(len - ipLen - 8, proto), tos: 0, ttl: 64, df: true, sport: 7, dport: 8 });
  const lastPayload = payloadOf(mss - 321, 16);
  const aLast = buildTcp({ family, payload: lastPayload, seq: 5000 + 6 * mss, id: 106, sport: 40001, flags: 0x18 });
  const inner = [a(0), a(1), a(2), filler(17), a(3), a(4, { csum: 'bad' }), filler(1), b(0), b(1), a(5), aLast];
  for (const p of inner.slice(0, -1)) expect(p.length).toBe(len);
  expect(aLast.length).toBeLessThan(len);
  // what the TUN must get, in order
  const coalesced = (seg0: number, payloads: Uint8Array[], o: Partial<TcpSpec>) => {
    const p = buildTcp({ family, payload: Buffer.concat(payloads), csum: 'pseudo', ...o });
    return withVnet([VnetFlag.NeedsCsum, family === 4 ? VnetGso.TcpV4 : VnetGso.TcpV6, ipLen + 20, mss, ipLen, 16], p);
  };
  const pay = (p: Buffer) => p.subarray(ipLen + 20);
  const want = [
    coalesced(0, [pay(inner[0]!), pay(inner[1]!), pay(inner[2]!)], { seq: 5000, id: 100, sport: 40001 }),
    Buffer.concat([ZERO_VNET, inner[3]!]),
    Buffer.concat([ZERO_VNET, inner[4]!]), // alone: the next one (bad checksum) cannot join it
    Buffer.concat([ZERO_VNET, inner[5]!]),
    Buffer.concat([ZERO_VNET, inner[6]!]),
    coalesced(0, [pay(inner[7]!), pay(inner[8]!)], { seq: 9_000_000, id: 500, sport: 40002 }),
    coalesced(0, [pay(inner[9]!), lastPayload], { seq: 5000 + 5 * mss, id: 105, sport: 40001, flags: 0x18 }),
  ];
  return { inner, want, len };
}

describe.each([4, 6] as const)('GRO reads and coalescing, IPv%i underlay and pods', (family) => {
  for (const gro of [true, false]) {
    it(`${gro ? 'one GRO read of 11 VXLAN datagrams' : '11 plain datagrams (socket without GRO)'} → 3 coalesced packets and 4 packets alone, in order`, async () => {
      const net = new MemoryNet();
      const b = offNode(net, 2, family, ALL, { gso: true, gro });
      const mss = 1000;
      const { inner, want, len } = groScenario(family, mss);
      const datagrams = encapAll(inner, 1, family);
      const from = family === 4 ? '198.51.100.1' : '2001:db8:100::1';
      const to = family === 4 ? '198.51.100.2' : '2001:db8:100::2';
      for (const d of datagrams) expect(net.deliver(to, 'native', 4789, d, from, 4789)).toBe(true);
      await until(() => b.tun.written.length >= want.length, 2000, `${want.length} TUN writes`);
      await settle(5);
      expect(b.tun.written.length).toBe(want.length);
      for (let k = 0; k < want.length; k++) {
        expect(b.tun.written[k]!.toString('hex'), `TUN write ${k}`).toBe(want[k]!.toString('hex'));
      }
      if (gro) expect(b.sock.groReads).toEqual([{ segSize: VXLAN_GAP + len, datagrams: 11, bytes: datagrams.reduce((s, d) => s + d.length, 0) }]);
      else expect(b.sock.groReads).toEqual([]);
      expect(offc(b.dp)).toEqual({
        ...zeroCounters,
        groReads: gro ? 1 : 0,
        groDatagrams: gro ? 11 : 0,
        coalescedWrites: 3,
        coalescedSegments: 7,
      });
      expect(b.dp.socketRecvPackets).toBe(11);
      expect(b.dp.tunWritePackets).toBe(7);
      expect(b.dp.peerCounters().get('n1')).toEqual({ txPackets: 0, txBytes: 0, rxPackets: 11, rxBytes: inner.reduce((s, p) => s + p.length, 0) });
      expect(dropsOf(b.engine)).toEqual({});
      expect(ioDropsOf(b.dp)).toBe(0);
    });
  }

  it('a GRO read whose datagrams carry packets for nobody here: the bad ones are dropped, the rest still coalesce', async () => {
    const net = new MemoryNet();
    const b = offNode(net, 2, family, ALL);
    const mss = 800;
    const seg = (j: number) => buildTcp({ family, payload: payloadOf(mss, j), seq: 1 + j * mss, id: 7 + j });
    const inner = [seg(0), seg(1), seg(2), seg(3)];
    const datagrams = encapAll(inner, 1, family);
    // the third one's VNI is wrong (same size, so it stays in the GRO run)
    datagrams[2]![6] = 0x02;
    const from = family === 4 ? '198.51.100.1' : '2001:db8:100::1';
    const to = family === 4 ? '198.51.100.2' : '2001:db8:100::2';
    for (const d of datagrams) net.deliver(to, 'native', 4789, d, from, 4789);
    await until(() => b.tun.written.length >= 2);
    await settle(5);
    const ipLen = family === 4 ? 20 : 40;
    // 0+1 coalesced; 3 cannot join (sequence gap), goes as a one-segment packet: zero header, bytes as received
    expect(b.tun.written.length).toBe(2);
    const first = b.tun.written[0]!;
    expect([...first.subarray(0, VNET_HDR_LEN)]).toEqual([1, family === 4 ? 1 : 4, ipLen + 20, 0, mss & 0xff, mss >> 8, ipLen, 0, 16, 0]);
    expect(first.subarray(VNET_HDR_LEN + ipLen + 20).equals(Buffer.concat([inner[0]!, inner[1]!].map((p) => p.subarray(ipLen + 20))))).toBe(true);
    expect(b.tun.written[1]!.equals(Buffer.concat([ZERO_VNET, inner[3]!]))).toBe(true);
    expect(dropsOf(b.engine)).toEqual({ 'vni-mismatch': 1 });
    expect(offc(b.dp)).toMatchObject({ groReads: 1, groDatagrams: 4, coalescedWrites: 1, coalescedSegments: 2 });
    expect(b.dp.peerCounters().get('n1')!.rxPackets).toBe(3);
  });
});

// ============================================================================================== both ends

describe.each([4, 6] as const)('TSO → GSO → GRO → coalescing between two nodes, IPv%i', (family) => {
  it('node 2 writes the packet node 1 read, vnet header and all; and a plain node 2 gets the segments', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, family, ALL);
    const b = offNode(net, 2, family, ALL);
    const ipLen = family === 4 ? 20 : 40;
    const hdrLen = ipLen + 20 + TS_OPTIONS.length;
    const mss = 1300;
    const pkt = buildTcp({ family, payload: payloadOf(65535 - hdrLen, 3), options: TS_OPTIONS, flags: 0x18, id: 4242, csum: 'pseudo' });
    const h = gsoHdr(family, mss, hdrLen);
    const sent = withVnet(hdrTuple(h), pkt);
    a.tun.inject(sent);
    await until(() => b.tun.written.length >= 1);
    await settle(5);
    expect(b.tun.written.length).toBe(1);
    expect(b.tun.written[0]!.toString('hex')).toBe(sent.toString('hex'));
    const n = Math.ceil((65535 - hdrLen) / mss);
    expect(offc(a.dp)).toMatchObject({ tsoPackets: 1, tsoSegments: n, gsoDatagrams: n });
    // the GRO reads are capped at 65535 bytes by the socket's read capacity: 47 + 4 datagrams
    expect(b.sock.groReads.map((r) => r.datagrams)).toEqual([47, 4]);
    expect(offc(b.dp)).toEqual({ ...zeroCounters, groReads: 2, groDatagrams: n, coalescedWrites: 1, coalescedSegments: n });
    expect(b.dp.peerCounters().get('n1')!.rxPackets).toBe(n);
    expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(n);
    expect(dropsOf(a.engine)).toEqual({});
    expect(dropsOf(b.engine)).toEqual({});

    // the same into a node without offloads: the segments themselves, no vnet header
    const net2 = new MemoryNet();
    const a2 = offNode(net2, 1, family, ALL);
    const c = offNode(net2, 2, family, NO_OFFLOADS);
    a2.tun.inject(sent);
    await until(() => c.tun.written.length >= n);
    expect(c.tun.written.map((p) => p.toString('hex'))).toEqual(refSegments(pkt, h).map((p) => p.toString('hex')));
    expect(offc(c.dp)).toEqual(zeroCounters);
  });
});

// ============================================================================================== bad vnet headers

describe('vnet headers too short or inconsistent', () => {
  it('are counted, never thrown on, and the dataplane goes on', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, 4, ALL);
    const tcp = buildTcp({ family: 4, payload: payloadOf(3000), csum: 'pseudo' });
    const tcp6 = buildTcp({ family: 6, payload: payloadOf(3000), csum: 'pseudo' });
    const udp = buildInner({ family: 4, proto: 17, src: 1, dst: 2, srcHost: 5, dstHost: 9, payload: payloadOf(3000), tos: 0, ttl: 64, df: false, sport: 1, dport: 2 });
    // shorter than a vnet header: 0..9 bytes
    for (let l = 0; l < VNET_HDR_LEN; l++) a.tun.inject(Buffer.alloc(l, 0x45));
    const bad: [string, Buffer][] = [
      ['TcpV4 with gso_size 0', withVnet([1, VnetGso.TcpV4, 40, 0, 20, 16], tcp)],
      ['UDP_L4 (not TCP)', withVnet([1, VnetGso.UdpL4, 28, 1000, 20, 6], udp)],
      ['unknown GSO type 3', withVnet([1, 3, 40, 1000, 20, 16], tcp)],
      ['NEEDS_CSUM start beyond the packet', withVnet([1, 0, 0, 0, 5000, 16], udp.subarray(0, 100))],
      ['NEEDS_CSUM offset beyond the packet', withVnet([1, 0, 0, 0, 20, 200], udp.subarray(0, 100))],
    ];
    const notTcp: [string, Buffer][] = [
      ['TcpV4 header on an IPv6 packet', withVnet([1, VnetGso.TcpV4, 60, 1000, 40, 16], tcp6)],
      ['TcpV6 header on an IPv4 packet', withVnet([1, VnetGso.TcpV6, 40, 1000, 20, 16], tcp)],
      ['TcpV4 header on UDP', withVnet([1, VnetGso.TcpV4, 28, 1000, 20, 16], udp)],
    ];
    for (const [, p] of [...bad, ...notTcp]) a.tun.inject(p);
    // then a good one: still forwarded
    const good = buildTcp({ family: 4, payload: payloadOf(100) });
    a.tun.inject(withVnet([0, 0, 0, 0, 0, 0], good));
    await until(() => net.wire.length >= 1);
    await settle(10);
    expect(net.wire.length).toBe(1);
    expect(decapAll([net.wire[0]!.bytes], 2, 1, 4)[0]!.equals(good)).toBe(true);
    expect(a.engine.drops[Drop.VnetHdrInvalid]).toBe(VNET_HDR_LEN + bad.length);
    expect(a.engine.drops[Drop.GsoNotTcp]).toBe(notTcp.length);
    expect(dropsOf(a.engine)).toEqual({ 'vnet-hdr-invalid': VNET_HDR_LEN + bad.length, 'gso-not-tcp': notTcp.length });
    expect(offc(a.dp)).toEqual(zeroCounters);
    expect(a.dp.tunReadPackets).toBe(VNET_HDR_LEN + bad.length + notTcp.length + 1);
    expect(a.dp.isRunning).toBe(true);
  });

  it('a TSO packet cut into more segments than the segmenter holds is counted (gso-too-many-segments)', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, 4, ALL);
    const pkt = buildTcp({ family: 4, payload: payloadOf(60000), csum: 'pseudo' });
    a.tun.inject(withVnet([1, VnetGso.TcpV4, 40, 400, 20, 16], pkt)); // 150 segments > 128
    await until(() => a.dp.tunReadPackets === 1);
    await settle(5);
    expect(net.wire.length).toBe(0);
    expect(dropsOf(a.engine)).toEqual({ 'gso-too-many-segments': 1 });
  });

  it('ICMP too-big replies written to a vnet TUN carry a zero vnet header', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, 4, ALL);
    const big = buildInner({ family: 4, proto: 17, src: 1, dst: 2, srcHost: 5, dstHost: 9, payload: payloadOf(1600), tos: 0, ttl: 64, df: true, sport: 1, dport: 2 });
    a.tun.inject(withVnet([0, 0, 0, 0, 0, 0], big));
    await until(() => a.tun.written.length >= 1);
    const w = a.tun.written[0]!;
    expect(w.subarray(0, VNET_HDR_LEN).equals(ZERO_VNET)).toBe(true);
    expect(w[VNET_HDR_LEN]! >> 4).toBe(4);
    expect(w[VNET_HDR_LEN + 9]).toBe(1); // ICMP
    expect([w[VNET_HDR_LEN + 20], w[VNET_HDR_LEN + 21]]).toEqual([3, 4]); // frag needed
    expect(w.readUInt16BE(VNET_HDR_LEN + 26)).toBe(a.cfg.tun.mtu);
  });
});

// ============================================================================================== offloads off

describe('offloads off', () => {
  it('no vnet header either way, GSO/GRO-capable sockets unused, every offload counter 0', async () => {
    const net = new MemoryNet();
    // sockets able to do GSO/GRO, but the plan has none: nothing may change
    const a = offNode(net, 1, 4, NO_OFFLOADS, { gso: true, gro: true });
    const b = offNode(net, 2, 4, NO_OFFLOADS, { gso: true, gro: true });
    expect(planLive(a.cfg, NO_OFFLOADS).readCapacity).toBeLessThan(4096);
    // a packet whose first bytes would parse as a TcpV4 vnet header is an IP packet here
    const pkts = [0, 1, 2, 3].map((j) => buildTcp({ family: 4, payload: payloadOf(1000, j), seq: 1 + j * 1000, id: 9 + j }));
    for (const p of pkts) a.tun.inject(p);
    await until(() => b.tun.written.length >= 4);
    await settle(5);
    expect(b.tun.written.map((p) => p.toString('hex'))).toEqual(pkts.map((p) => p.toString('hex')));
    expect(a.sock.gsoSends).toEqual([]);
    expect(b.sock.groReads).toEqual([]);
    expect(offc(a.dp)).toEqual(zeroCounters);
    expect(offc(b.dp)).toEqual(zeroCounters);
    // a vnet-headed read is not parsed as one: its first byte (flags 1) is no IP version
    const tso = withVnet([1, VnetGso.TcpV4, 40, 1000, 20, 16], buildTcp({ family: 4, payload: payloadOf(1300), csum: 'pseudo' }));
    a.tun.inject(tso);
    await until(() => a.dp.tunReadPackets === 5);
    await settle(5);
    expect(dropsOf(a.engine)).toEqual({ 'inner-not-ip': 1 });
    expect(offc(a.dp)).toEqual(zeroCounters);
    expect(net.wire.length).toBe(4);
  });
});

// ============================================================================================== the fake itself

describe('MemorySocket GSO / GRO (the fake the tests above rely on)', () => {
  it('cuts a GSO message as the kernel does, refuses what the kernel refuses, and merges same-size runs on GRO', async () => {
    const net = new MemoryNet();
    const tx = net.socket({ family: 4, address: '198.51.100.1', port: 4789, readCapacity: 65535, gso: true });
    const plain = net.socket({ family: 4, address: '198.51.100.3', port: 4789, readCapacity: 65535 });
    const rx = net.socket({ family: 4, address: '198.51.100.2', port: 4789, readCapacity: 65535, gro: true });
    const pool = new Uint8Array(200_000);
    for (let i = 0; i < pool.length; i++) pool[i] = i & 0xff;
    const addrs = new Uint8Array(16 * 4);
    for (let k = 0; k < 4; k++) parseIpInto('198.51.100.2', addrs, 16 * k);
    const ports = new Uint16Array(4).fill(4789);
    const send = (s: MemorySocket, len: number, g: number) =>
      s.sendBatch(pool, Int32Array.of(0), Int32Array.of(len), addrs, ports, 1, 0, Uint16Array.of(g));
    expect(send(tx, 2300, 1000)).toBe(1);
    expect(tx.gsoSends).toEqual([{ segSize: 1000, datagrams: 3, bytes: 2300 }]);
    expect(net.wire.map((w) => w.bytes.length)).toEqual([1000, 1000, 300]);
    expect(send(tx, 65 * 100, 100)).toBe(-22); // 65 segments: EINVAL
    expect(send(tx, 65508, 1100)).toBe(-90); // EMSGSIZE
    expect(send(plain, 2000, 1000)).toBe(-22); // no GSO on this socket
    expect(send(tx, 500, 1000)).toBe(1); // gso ≥ length: one plain datagram
    const off = Int32Array.of(0, 70000, 140000);
    const len = new Int32Array(3);
    const gso = new Uint16Array(3).fill(0xeeee);
    const raddr = new Uint8Array(48);
    const n = rx.recvBatch(new Uint8Array(210_000), off, len, raddr, new Uint16Array(3), 3, null, gso);
    expect(n).toBe(2);
    expect([...len.subarray(0, 2)]).toEqual([2300, 500]);
    expect([...gso.subarray(0, 2)]).toEqual([1000, 0]);
    expect(rx.groReads).toEqual([{ segSize: 1000, datagrams: 3, bytes: 2300 }]);
    for (const s of [tx, plain, rx]) s.close();
  });
});

// ============================================================================================== back-pressure and errors

describe('GSO runs and coalesced writes under back-pressure and send errors', () => {
  const mss = 1300;
  const hdrLen = 20 + 20 + TS_OPTIONS.length;
  const tsoPkt = () => buildTcp({ family: 4, payload: payloadOf(65535 - hdrLen, 9), options: TS_OPTIONS, flags: 0x18, csum: 'pseudo' });
  const n = Math.ceil((65535 - hdrLen) / mss); // 51: runs of 47 + 4

  it('a socket that takes one message and then would block: the second run waits for WRITABLE, nothing lost or repeated', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, 4, ALL);
    const b = offNode(net, 2, 4, ALL);
    a.sock.sendBudget = 1;
    const sent = withVnet(hdrTuple(gsoHdr(4, mss, hdrLen)), tsoPkt());
    a.tun.inject(sent);
    await until(() => net.wire.length >= 47);
    await settle(10);
    expect(net.wire.length).toBe(47);
    expect(a.dp.blocked).toBe(true);
    a.sock.allowSends();
    await until(() => b.tun.written.length >= 1 && net.wire.length >= n);
    await settle(10);
    expect(net.wire.length).toBe(n);
    expect(a.sock.gsoSends.map((r) => r.datagrams)).toEqual([47, 4]);
    expect(offc(a.dp)).toMatchObject({ tsoSegments: n, gsoSends: 2, gsoDatagrams: n });
    expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(n);
    // node 2 read the two runs at different times: two coalesced packets, together the original payload
    const payload = Buffer.concat(b.tun.written.map((w) => w.subarray(VNET_HDR_LEN + hdrLen)));
    expect(payload.equals(sent.subarray(VNET_HDR_LEN + hdrLen))).toBe(true);
    expect(b.tun.written.length).toBe(2);
    expect(offc(b.dp)).toMatchObject({ groReads: 2, groDatagrams: n, coalescedWrites: 2, coalescedSegments: n });
  });

  it('a failed GSO send counts every datagram of the run as send-error, and the next run still goes', async () => {
    const net = new MemoryNet();
    const a = offNode(net, 1, 4, ALL);
    a.sock.failSends = 1;
    a.tun.inject(withVnet(hdrTuple(gsoHdr(4, mss, hdrLen)), tsoPkt()));
    await until(() => net.wire.length >= 4);
    await settle(10);
    expect(net.wire.length).toBe(4);
    expect(a.dp.ioDrops[IoDrop.SendError]).toBe(47);
    expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(4);
    expect(offc(a.dp)).toMatchObject({ tsoSegments: n, gsoSends: 1, gsoDatagrams: 4 });
  });

  it('a TUN that takes two writes and then would block gets the rest, in order, once writable', async () => {
    const net = new MemoryNet();
    const b = offNode(net, 2, 4, ALL);
    b.tun.writeBudget = 2;
    const { inner, want } = groScenario(4, 1000);
    for (const d of encapAll(inner, 1, 4)) net.deliver('198.51.100.2', 'native', 4789, d, '198.51.100.1', 4789);
    await until(() => b.tun.written.length >= 2);
    await settle(10);
    expect(b.tun.written.length).toBe(2);
    b.tun.allowWrites();
    await until(() => b.tun.written.length >= want.length);
    await settle(5);
    expect(b.tun.written.map((w) => w.toString('hex'))).toEqual(want.map((w) => w.toString('hex')));
  });
});
