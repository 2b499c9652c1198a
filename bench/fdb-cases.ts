/**
 * FDB IPv4 lookup benchmark cases (the harness is bench/hotpath.ts): Fdb.lookup4 (DIR-16-8-8 trie) against a
 * naive lookup on the same table and the same addresses.
 *
 *   10 prefixes       baseline: ip-num IPv4CidrRange.contains over every prefix (what config code would do)
 *   5,000 prefixes    baseline: linear scan over {addr, mask, len, owner} objects, longest match kept
 *   100,000 prefixes  baseline: the same linear scan
 *
 * Tables are synthetic and deterministic (xorshift32, fixed seeds). Node underlay addresses are taken from
 * 2001:db8:100::/64; pod prefixes are spread over 10.0.0.0/8 (5,000 case: 4,900 /24s + 50 shorter + 50 longer)
 * or over the whole space with mixed lengths /8../32 (100,000 case). Addresses: 3/4 inside a random prefix
 * of the table, 1/4 uniformly random (mostly misses), precomputed in a Uint32Array and cycled through.
 * Each call does exactly one lookup and folds the result into `sink[0]` so V8 cannot drop it.
 */
import { IPv4, IPv4CidrRange } from 'ip-num';
import { Fdb, type NodeEntry } from '../src/fdb/fdb.ts';

export interface FdbBenchCase {
  name: string;
  prefixes: number;
  candidate: () => void;
  baseline: () => void;
}

/**
 * Accumulated lookup results (read sink[0] after a run so the work stays observable). A typed array: a
 * module-level `let` number becomes a HeapNumber once it leaves the small-integer range (FDB_MISS is -1),
 * and every `+=` would then allocate one.
 */
export const sink = new Float64Array(1);

function xorshift32(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
}

const mask4 = (len: number) => (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0);
const dotted = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;

/** A synthetic table: the prefixes (owner -2 = local, else peer index) and the NodeEntry list making them. */
export interface SyntheticTable {
  local: NodeEntry;
  peers: NodeEntry[];
  /** One row per prefix, in no particular order. */
  prefixes: { addr: number; len: number; owner: number }[];
}

function node(i: number, cidrs: string[]): NodeEntry {
  const h = (i + 1).toString(16);
  const mac = (i + 1).toString(16).padStart(8, '0');
  return {
    name: i < 0 ? 'local' : `node-${i}`,
    underlayIP: i < 0 ? '2001:db8:100::1' : `2001:db8:100::1:${h}`,
    vtepMAC: `02:00:${mac.slice(0, 2)}:${mac.slice(2, 4)}:${mac.slice(4, 6)}:${mac.slice(6, 8)}`,
    podCIDRs: cidrs,
  };
}

/**
 * Builds `count` distinct prefixes with `draw()` (which returns [addr, len]) and deals them to `nodes` peers
 * round-robin, the first prefix going to the local node.
 */
function dealTable(count: number, nodes: number, draw: () => [number, number]): SyntheticTable {
  const seen = new Set<number>();
  const prefixes: { addr: number; len: number; owner: number }[] = [];
  const cidrs: string[][] = Array.from({ length: nodes + 1 }, () => []);
  while (prefixes.length < count) {
    const [a, len] = draw();
    const addr = (a & mask4(len)) >>> 0;
    const key = addr * 64 + len;
    if (seen.has(key)) continue;
    seen.add(key);
    const slot = prefixes.length === 0 ? 0 : 1 + ((prefixes.length - 1) % nodes);
    prefixes.push({ addr, len, owner: slot === 0 ? -2 : slot - 1 });
    cidrs[slot]!.push(`${dotted(addr)}/${len}`);
  }
  return {
    local: node(-1, cidrs[0]!),
    peers: cidrs.slice(1).map((c, i) => node(i, c)),
    prefixes,
  };
}

/** The tables behind the bench cases (also used by the tests). */
export function syntheticTable(prefixCount: 10 | 5000 | 100000): SyntheticTable {
  if (prefixCount === 10) {
    const rnd = xorshift32(10);
    return dealTable(10, 9, () => [(10 << 24) | (244 << 16) | (rnd() & 0xff00), 24 + (rnd() % 2) * 4]);
  }
  if (prefixCount === 5000) {
    const rnd = xorshift32(5000);
    let k = 0;
    return dealTable(5000, 4900, () => {
      k++;
      if (k % 100 === 0) return [(10 << 24) | (rnd() & 0xffffff), 12 + (rnd() % 9)]; // 50 shorter, /12../20
      if (k % 100 === 1 && k > 1) return [(10 << 24) | (rnd() & 0xffffff), 25 + (rnd() % 8)]; // 50 longer, /25../32
      return [(10 << 24) | (rnd() & 0xffff00), 24];
    });
  }
  const rnd = xorshift32(100000);
  return dealTable(100000, 5000, () => [rnd(), 8 + (rnd() % 25)]);
}

/** Pseudo-random lookup addresses for a table: 3/4 inside one of its prefixes, 1/4 anywhere. */
export function benchAddresses(t: SyntheticTable, count: number, seed: number): Uint32Array {
  const rnd = xorshift32(seed);
  const out = new Uint32Array(count);
  for (let i = 0; i < count; i++) {
    if ((rnd() & 3) === 0) {
      out[i] = rnd();
    } else {
      const p = t.prefixes[rnd() % t.prefixes.length]!;
      out[i] = (p.addr | (rnd() & ~mask4(p.len))) >>> 0;
    }
  }
  return out;
}

export interface NaivePrefix {
  addr: number;
  mask: number;
  len: number;
  owner: number;
}

/** The table as plain {addr, mask, len, owner} objects of one shape (object spread here makes the scan ~15× slower). */
export function naivePrefixes(t: SyntheticTable): NaivePrefix[] {
  return t.prefixes.map((p) => ({ addr: p.addr, mask: mask4(p.len), len: p.len, owner: p.owner }));
}

/** Reference longest-prefix match by linear scan (also the baseline). */
export function naiveLookup4(table: readonly NaivePrefix[], addr: number): number {
  let best = -1;
  let bestLen = -1;
  for (let i = 0; i < table.length; i++) {
    const p = table[i]!;
    if (((addr & p.mask) >>> 0) === p.addr && p.len > bestLen) {
      best = p.owner;
      bestLen = p.len;
    }
  }
  return best;
}

export function fdbBenchCases(): FdbBenchCase[] {
  const cases: FdbBenchCase[] = [];
  for (const n of [10, 5000, 100000] as const) {
    const t = syntheticTable(n);
    const fdb = Fdb.build(t.local, t.peers);
    const addrs = benchAddresses(t, 1 << 16, n);
    const amask = addrs.length - 1;
    let i = 0;
    let j = 0;
    const candidate = () => {
      sink[0] += fdb.lookup4(addrs[i]!);
      i = (i + 1) & amask;
    };
    let baseline: () => void;
    if (n === 10) {
      const ranges = t.prefixes.map((p) => ({ range: IPv4CidrRange.fromCidr(`${dotted(p.addr)}/${p.len}`), len: p.len, owner: p.owner }));
      const ipAddrs = Array.from(addrs.subarray(0, 1024), (a) => IPv4.fromNumber(a));
      baseline = () => {
        const a = ipAddrs[j]!;
        let best = -1;
        let bestLen = -1;
        for (const r of ranges) {
          if (r.len > bestLen && r.range.contains(a)) {
            best = r.owner;
            bestLen = r.len;
          }
        }
        sink[0] += best;
        j = (j + 1) & 1023;
      };
    } else {
      const table = naivePrefixes(t);
      baseline = () => {
        sink[0] += naiveLookup4(table, addrs[j]!);
        j = (j + 1) & amask;
      };
    }
    cases.push({ name: `Fdb.lookup4, ${n} prefixes`, prefixes: fdb.prefixCount, candidate, baseline });
  }
  return cases;
}
