/**
 * Shared bench/test workload: a node with many peers and realistic inner packets (TCP with valid
 * checksums) in a slot pool with headroom, plus underlay frames made by the peers' own engines.
 */
import { Fdb } from '../src/fdb/fdb.ts';
import type { NodeEntry } from '../src/fdb/types.ts';
import { Engine, EncapLayer, ENCAP_HEADROOM } from '../src/engine/engine.ts';
import { defaultEngineOptions, type EngineOptions, type Backend } from '../src/engine/options.ts';
import { sumBE, finishChecksum, pseudoSum4, pseudoSum6 } from '../src/packet/checksum.ts';

export const SLOT = 2048;

export interface Topology {
  family: 4 | 6;
  local: NodeEntry;
  peers: NodeEntry[];
}

function mac(i: number): string {
  return `02:00:${((i >>> 24) & 255).toString(16).padStart(2, '0')}:${((i >>> 16) & 255).toString(16).padStart(2, '0')}:${((i >>> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;
}

/** Node i (1-based, < 8192) owns the /29 at 10.244.0.0 + 8·i — 8,192 of them fit the pod range — or fd00:10:244:i::/64. */
export function podCidr(i: number, family: 4 | 6): string {
  return family === 4 ? `10.244.${i >>> 5}.${(i & 31) << 3}/29` : `fd00:10:244:${i.toString(16)}::/64`;
}

/** Host `host` (1..6) in node i's IPv4 pod CIDR, as uint32. */
export function podAddr4(i: number, host: number): number {
  return (((10 << 24) | (244 << 16) | ((i >>> 5) << 8) | ((i & 31) << 3)) + host) >>> 0;
}

export function underlayIp(i: number, family: 4 | 6): string {
  // documentation ranges only: 198.51.100.0/24 holds 254 hosts; beyond that the addresses are never
  // sent to (the benchmark and tests stay in memory), they only need to be distinct
  return family === 4 ? `198.51.${100 + (i >>> 8)}.${i & 255}` : `2001:db8:100::${i.toString(16)}`;
}

export function topology(nodes: number, family: 4 | 6): Topology {
  const entry = (i: number): NodeEntry => ({
    name: `n${i}`,
    underlayIP: underlayIp(i, family),
    vtepMAC: mac(i),
    podCIDRs: [podCidr(i, family)],
  });
  const peers: NodeEntry[] = [];
  for (let i = 2; i <= nodes; i++) peers.push(entry(i));
  return { family, local: entry(1), peers };
}

/** The same topology seen from node `i`. */
export function viewFrom(t: Topology, i: number): { local: NodeEntry; peers: NodeEntry[] } {
  const all = [t.local, ...t.peers];
  return { local: all[i - 1]!, peers: all.filter((_, k) => k !== i - 1) };
}

export function engineFor(t: Topology, backend: Backend, from = 1, over: Partial<EngineOptions> = {}): Engine {
  const v = viewFrom(t, from);
  const opts = { ...defaultEngineOptions(), backend, ...over };
  return new Engine(opts, Fdb.build(v.local, v.peers));
}

/** Write an inner TCP packet (valid IP and TCP checksums) of `size` bytes from pod of node `srcNode` to node `dstNode`. */
export function writeTcpPacket(buf: Buffer, off: number, size: number, family: 4 | 6, srcNode: number, dstNode: number, flow: number): number {
  const ipHdr = family === 4 ? 20 : 40;
  const l4Len = size - ipHdr;
  if (family === 4) {
    buf[off] = 0x45;
    buf[off + 1] = 0;
    buf.writeUInt16BE(size, off + 2);
    buf.writeUInt16BE(flow & 0xffff, off + 4);
    buf.writeUInt16BE(0x4000, off + 6);
    buf[off + 8] = 63;
    buf[off + 9] = 6;
    buf.writeUInt16BE(0, off + 10);
    const src = podAddr4(srcNode, 2 + (flow % 5));
    const dst = podAddr4(dstNode, 2);
    buf.writeUInt32BE(src, off + 12);
    buf.writeUInt32BE(dst, off + 16);
    buf.writeUInt16BE(finishChecksum(sumBE(buf, off, 20)), off + 10);
  } else {
    buf.writeUInt32BE(0x60000000, off);
    buf.writeUInt16BE(l4Len, off + 4);
    buf[off + 6] = 6;
    buf[off + 7] = 63;
    const a = (node: number, host: number, at: number) => {
      buf.writeUInt32BE(0xfd000010, at);
      buf.writeUInt32BE((0x0244 << 16) | node, at + 4);
      buf.writeUInt32BE(0, at + 8);
      buf.writeUInt32BE(host, at + 12);
    };
    a(srcNode, 2 + (flow % 200), off + 8);
    a(dstNode, 2, off + 24);
  }
  const t = off + ipHdr;
  buf.writeUInt16BE(10000 + (flow % 50000), t);
  buf.writeUInt16BE(80, t + 2);
  buf.writeUInt32BE(flow * 7919, t + 4);
  buf.writeUInt32BE(0, t + 8);
  buf.writeUInt16BE(0x5010, t + 12);
  buf.writeUInt16BE(65535, t + 14);
  buf.writeUInt16BE(0, t + 16);
  buf.writeUInt16BE(0, t + 18);
  for (let i = t + 20; i < off + size; i++) buf[i] = (i * 31 + flow) & 0xff;
  const ps = family === 4 ? pseudoSum4(buf.readUInt32BE(off + 12), buf.readUInt32BE(off + 16), 6, l4Len) : pseudoSum6(buf, off + 8, buf, off + 24, 6, l4Len);
  buf.writeUInt16BE(finishChecksum(ps + sumBE(buf, t, l4Len)), t + 16);
  return size;
}

/** A pool of `n` inner packets of `size` bytes from node 1's pods to random peers, each at ENCAP_HEADROOM in its slot. */
export function innerPool(t: Topology, n: number, size: number, seed = 1): { pool: Buffer; offs: Int32Array; lens: Int32Array } {
  const pool = Buffer.alloc(n * SLOT);
  const offs = new Int32Array(n);
  const lens = new Int32Array(n);
  let x = seed;
  const nodes = t.peers.length + 1;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const dst = 2 + (x % (nodes - 1));
    offs[i] = i * SLOT + ENCAP_HEADROOM;
    lens[i] = writeTcpPacket(pool, offs[i]!, size, t.family, 1, dst, i);
  }
  return { pool, offs, lens };
}

/**
 * `n` underlay frames addressed to node 1, each encapsulated by the engine of the peer that sends it
 * (its pods → node 1's pods), copied to the front of a slot.
 */
export function underlayPool(t: Topology, backend: Backend, n: number, size: number, layer: EncapLayer, over: Partial<EngineOptions> = {}): { pool: Buffer; offs: Int32Array; lens: Int32Array } {
  const pool = Buffer.alloc(n * SLOT);
  const offs = new Int32Array(n);
  const lens = new Int32Array(n);
  const senders = Math.min(8, t.peers.length);
  const engines: Engine[] = [];
  for (let s = 0; s < senders; s++) engines.push(engineFor(t, backend, s + 2, over));
  const scratch = Buffer.alloc(SLOT);
  for (let i = 0; i < n; i++) {
    const s = i % senders;
    writeTcpPacket(scratch, ENCAP_HEADROOM, size, t.family, s + 2, 1, i);
    const e = engines[s]!;
    const rc = e.encap(scratch, ENCAP_HEADROOM, size, layer);
    if (rc !== 0) throw new Error(`workload: encap failed with ${rc}`);
    offs[i] = i * SLOT + 4;
    scratch.copy(pool, offs[i]!, e.outOff, e.outOff + e.outLen);
    lens[i] = e.outLen;
  }
  return { pool, offs, lens };
}
