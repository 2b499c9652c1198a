/**
 * Random tables against a brute-force twin (linear scan, longest prefix wins), IPv4 and IPv6, through the
 * public Fdb API (text in, lookups out) and through buildLpm4 in both chunk formats.
 * Queries: random addresses plus, for every prefix, its first and last address and the ones just outside.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { benchAddresses, naiveLookup4, naivePrefixes, syntheticTable } from '../../bench/fdb-cases.ts';
import { Fdb, FDB_LOCAL, FDB_MISS, type NodeEntry } from '../../src/fdb/fdb.ts';
import { buildLpm4, chunkEntry, LEAF_BIAS, type Lpm4 } from '../../src/fdb/lpm.ts';
import { formatIPv4, formatIPv6, mask4 } from '../../src/fdb/text.ts';

// ------------------------------------------------------------------------------------------------------------
// generators

/**
 * A recipe for one prefix: either fresh (random address and length) or derived from an earlier one (same
 * leading bits, longer or shorter), so that tables have nested prefixes and shared paths.
 */
const recipe = (maxLen: number) =>
  fc.record({
    derive: fc.nat(3), // 0 = fresh, else derived from an earlier prefix
    parent: fc.nat(),
    len: fc.oneof(fc.integer({ min: 0, max: maxLen }), fc.constantFrom(0, maxLen, maxLen - 1, 8, 16, 24)),
    delta: fc.integer({ min: -8, max: 12 }),
    bits: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 4, maxLength: 4 }),
    owner: fc.nat(),
  });

type Recipe = ReturnType<typeof recipe> extends fc.Arbitrary<infer T> ? T : never;

const table4 = fc.record({
  peers: fc.integer({ min: 1, max: 6 }),
  recipes: fc.array(recipe(32), { maxLength: 60, size: 'medium' }),
  queries: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 60, size: 'medium' }),
});

const table6 = fc.record({
  peers: fc.integer({ min: 1, max: 6 }),
  recipes: fc.array(recipe(128), { maxLength: 40, size: 'medium' }),
  queries: fc.array(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), { maxLength: 40, size: 'medium' }),
});

interface P4 {
  addr: number;
  len: number;
  owner: number;
}
interface P6 {
  addr: bigint;
  len: number;
  owner: number;
}

const clamp = (v: number, max: number) => Math.max(0, Math.min(max, v));

/** Distinct prefixes from recipes; owner -2 (local) or a peer index. */
function prefixes4(recipes: readonly Recipe[], peers: number): P4[] {
  const out: P4[] = [];
  const seen = new Set<number>();
  for (const r of recipes) {
    let addr = r.bits[0]! >>> 0;
    let len = r.len;
    if (r.derive > 0 && out.length > 0) {
      const p = out[r.parent % out.length]!;
      len = clamp(p.len + r.delta, 32);
      addr = (p.addr & mask4(Math.min(p.len, len))) | (addr & ~mask4(Math.min(p.len, len)));
    }
    addr = (addr & mask4(len)) >>> 0;
    if (seen.has(addr * 64 + len)) continue;
    seen.add(addr * 64 + len);
    const o = (r.owner % (peers + 1)) - 1;
    out.push({ addr, len, owner: o === -1 ? FDB_LOCAL : o });
  }
  return out;
}

const ALL128 = (1n << 128n) - 1n;
const mask6 = (len: number) => (len === 0 ? 0n : (ALL128 << BigInt(128 - len)) & ALL128);

function prefixes6(recipes: readonly Recipe[], peers: number): P6[] {
  const out: P6[] = [];
  const seen = new Set<string>();
  for (const r of recipes) {
    let addr = r.bits.reduce((a, w) => (a << 32n) | BigInt(w >>> 0), 0n);
    let len = r.len;
    if (r.derive > 0 && out.length > 0) {
      const p = out[r.parent % out.length]!;
      len = clamp(p.len + r.delta * 4, 128);
      const keep = mask6(Math.min(p.len, len));
      addr = (p.addr & keep) | (addr & ~keep & ALL128);
    }
    addr &= mask6(len);
    const key = `${addr}/${len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const o = (r.owner % (peers + 1)) - 1;
    out.push({ addr, len, owner: o === -1 ? FDB_LOCAL : o });
  }
  return out;
}

function ref4(ps: readonly P4[], a: number): number {
  let best = FDB_MISS;
  let bestLen = -1;
  for (const p of ps) {
    if (((a & mask4(p.len)) >>> 0) === p.addr && p.len > bestLen) {
      best = p.owner;
      bestLen = p.len;
    }
  }
  return best;
}

function ref6(ps: readonly P6[], a: bigint): number {
  let best = FDB_MISS;
  let bestLen = -1;
  for (const p of ps) {
    if ((a & mask6(p.len)) === p.addr && p.len > bestLen) {
      best = p.owner;
      bestLen = p.len;
    }
  }
  return best;
}

function bytes6(v: bigint, out = new Uint8Array(16), off = 0): Uint8Array {
  for (let k = 15; k >= 0; k--) {
    out[off + k] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** First, last, and just-outside addresses of every prefix, plus the random ones. */
function edges4(ps: readonly P4[], random: readonly number[]): number[] {
  const q = [...random, 0, 0xffffffff];
  for (const p of ps) {
    const last = (p.addr | ~mask4(p.len)) >>> 0;
    q.push(p.addr, last, (p.addr - 1) >>> 0, (last + 1) >>> 0, (p.addr + ((last - p.addr) >>> 1)) >>> 0);
  }
  return q;
}

function edges6(ps: readonly P6[], random: readonly bigint[]): bigint[] {
  const q = [...random, 0n, ALL128];
  for (const p of ps) {
    const last = p.addr | (~mask6(p.len) & ALL128);
    q.push(p.addr, last, (p.addr - 1n) & ALL128, (last + 1n) & ALL128);
  }
  return q;
}

/** NodeEntry list for a table: local gets owner -2, peer i gets owner i. */
function nodes(peers: number, v4: readonly P4[], v6: readonly P6[]): { local: NodeEntry; peers: NodeEntry[] } {
  const cidrs = (owner: number) => [
    ...v4.filter((p) => p.owner === owner).map((p) => `${formatIPv4(p.addr)}/${p.len}`),
    ...v6.filter((p) => p.owner === owner).map((p) => `${formatIPv6(bytes6(p.addr))}/${p.len}`),
  ];
  const entry = (i: number, owner: number): NodeEntry => ({
    name: `n${i}`,
    underlayIP: `198.51.100.${i + 1}`,
    vtepMAC: `02:00:00:00:00:${(i + 1).toString(16).padStart(2, '0')}`,
    podCIDRs: cidrs(owner),
  });
  return { local: entry(0, FDB_LOCAL), peers: Array.from({ length: peers }, (_, i) => entry(i + 1, i)) };
}

function lookupIn(t: Lpm4, a: number): number {
  let e = t.dir16[a >>> 16]!;
  if (e < 0) {
    e = chunkEntry(t.dir24, ~e, (a >>> 8) & 255);
    if (e < 0) e = chunkEntry(t.dir32, ~e, a & 255);
  }
  return e - LEAF_BIAS;
}

// ------------------------------------------------------------------------------------------------------------

describe('IPv4 longest-prefix match equals linear scan', () => {
  it('Fdb.lookup4 on random tables with nested prefixes', () => {
    fc.assert(
      fc.property(table4, ({ peers, recipes, queries }) => {
        const ps = prefixes4(recipes, peers);
        const n = nodes(peers, ps, []);
        const fdb = Fdb.build(n.local, n.peers);
        expect(fdb.prefixCount).toBe(ps.length);
        for (const a of edges4(ps, queries)) {
          if (fdb.lookup4(a) !== ref4(ps, a)) {
            throw new Error(`lookup4(${formatIPv4(a)}) = ${fdb.lookup4(a)}, expected ${ref4(ps, a)}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('buildLpm4 full and compressed chunks agree with each other and the reference', () => {
    fc.assert(
      fc.property(table4, ({ peers, recipes, queries }) => {
        const ps = prefixes4(recipes, peers);
        const addr = Uint32Array.from(ps, (p) => p.addr);
        const len = Uint8Array.from(ps, (p) => p.len);
        const res = Int32Array.from(ps, (p) => p.owner);
        const full = buildLpm4(addr, len, res, ps.length, 'full');
        const compact = buildLpm4(addr, len, res, ps.length, 'compact');
        for (const a of edges4(ps, queries)) {
          const want = ref4(ps, a);
          expect(lookupIn(full, a)).toBe(want);
          expect(lookupIn(compact, a)).toBe(want);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('dense chunks (more runs than a compressed chunk holds) in compact mode', () => {
    // many prefixes inside one /16 (dir24 chunk) or one /24 (dir32 chunk), spread evenly (no small-value bias)
    const dense = fc.record({
      span: fc.constantFrom(8, 16),
      base: fc.integer({ min: 0, max: 0xffffffff }),
      hosts: fc.uniqueArray(fc.noBias(fc.integer({ min: 0, max: 0xffff })), { minLength: 60, maxLength: 400, size: 'max' }),
      lens: fc.array(fc.noBias(fc.integer({ min: 0, max: 15 })), { minLength: 400, maxLength: 400 }),
    });
    fc.assert(
      fc.property(dense, ({ span, base, hosts, lens }) => {
        const seen = new Set<number>();
        const ps: P4[] = [];
        hosts.forEach((h, k) => {
          const len = 32 - span + 1 + (lens[k]! % span);
          const a = (((base & mask4(32 - span)) | (h & ~mask4(32 - span))) & mask4(len)) >>> 0;
          if (seen.has(a * 64 + len)) return;
          seen.add(a * 64 + len);
          ps.push({ addr: a, len, owner: k % 7 });
        });
        const t = buildLpm4(
          Uint32Array.from(ps, (p) => p.addr),
          Uint8Array.from(ps, (p) => p.len),
          Int32Array.from(ps, (p) => p.owner),
          ps.length,
          'compact',
        );
        for (const a of edges4(ps, [])) expect(lookupIn(t, a)).toBe(ref4(ps, a));
      }),
      // shrinking hundreds of unique prefixes takes minutes; the seed and the failing table are printed anyway
      { numRuns: 40, endOnFailure: true },
    );
  });

  it('the bench tables (5,000 full chunks; 100,000 compact) agree with the linear scan', () => {
    for (const size of [5000, 100000] as const) {
      const t = syntheticTable(size);
      const fdb = Fdb.build(t.local, t.peers);
      const table = naivePrefixes(t);
      for (const a of benchAddresses(t, size === 5000 ? 2000 : 400, 99)) {
        expect(fdb.lookup4(a)).toBe(naiveLookup4(table, a));
      }
    }
  });
});

describe('IPv6 longest-prefix match equals linear scan', () => {
  it('Fdb.lookup6 on random tables with nested prefixes, address at an offset', () => {
    fc.assert(
      fc.property(table6, fc.nat(40), ({ peers, recipes, queries }, off) => {
        const ps = prefixes6(recipes, peers);
        const n = nodes(peers, [], ps);
        const fdb = Fdb.build(n.local, n.peers);
        const buf = new Uint8Array(off + 16);
        for (const a of edges6(ps, queries)) {
          bytes6(a, buf, off);
          const want = ref6(ps, a);
          if (fdb.lookup6(buf, off) !== want) {
            throw new Error(`lookup6(${formatIPv6(buf, off)}) = ${fdb.lookup6(buf, off)}, expected ${want}`);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it('v4 and v6 prefixes in one table do not disturb each other', () => {
    fc.assert(
      fc.property(table4, table6, (t4, t6) => {
        const peers = Math.min(t4.peers, t6.peers);
        const p4 = prefixes4(t4.recipes, peers);
        const p6 = prefixes6(t6.recipes, peers);
        const n = nodes(peers, p4, p6);
        const fdb = Fdb.build(n.local, n.peers);
        for (const a of edges4(p4, t4.queries)) expect(fdb.lookup4(a)).toBe(ref4(p4, a));
        for (const a of edges6(p6, t6.queries)) expect(fdb.lookup6(bytes6(a), 0)).toBe(ref6(p6, a));
      }),
      { numRuns: 60 },
    );
  });
});

describe('with / without agree with a table built from scratch', () => {
  it('random sequences of updates', () => {
    const op = fc.record({ remove: fc.boolean(), who: fc.nat(7), recipes: fc.array(recipe(32), { maxLength: 6 }) });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 12 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { maxLength: 30 }), (ops, queries) => {
        const local: NodeEntry = { name: 'local', underlayIP: '198.51.100.1', vtepMAC: '02:00:00:00:00:01', podCIDRs: ['10.244.0.0/24'] };
        let fdb = Fdb.build(local, []);
        const model = new Map<string, string[]>(); // insertion order = peer order
        const taken = (cidr: string, except: string) =>
          cidr === '10.244.0.0/24' || [...model].some(([name, cs]) => name !== except && cs.includes(cidr));
        for (const o of ops) {
          const name = `p${o.who}`;
          if (o.remove) {
            if (!model.has(name)) continue;
            fdb = fdb.without(name);
            model.delete(name);
            continue;
          }
          const cidrs = [
            ...new Set(prefixes4(o.recipes, 1).map((p) => `${formatIPv4(p.addr)}/${p.len}`)),
          ].filter((c) => !taken(c, name));
          fdb = fdb.with({ name, underlayIP: `198.51.100.${10 + o.who}`, vtepMAC: `02:00:00:00:01:0${o.who}`, podCIDRs: cidrs });
          model.set(name, cidrs);
        }
        expect(fdb.peers.map((p) => p.name)).toEqual([...model.keys()]);
        const fresh = Fdb.build(
          local,
          [...model].map(([name, cidrs]) => ({
            name,
            underlayIP: `198.51.100.${10 + Number(name.slice(1))}`,
            vtepMAC: `02:00:00:00:01:0${name.slice(1)}`,
            podCIDRs: cidrs,
          })),
        );
        const ps: P4[] = [];
        for (const p of fresh.peers) for (const c of p.podCIDRs) ps.push({ ...cidrOf(c), owner: p.index });
        ps.push({ addr: 0x0af40000, len: 24, owner: FDB_LOCAL });
        for (const a of edges4(ps, queries)) expect(fdb.lookup4(a)).toBe(fresh.lookup4(a));
        for (const p of fresh.peers) expect(fdb.peerByUnderlay4(p.underlay4)).toBe(p.index);
      }),
      { numRuns: 60 },
    );
  });
});

function cidrOf(c: string): { addr: number; len: number } {
  const [a, l] = c.split('/');
  return { addr: a!.split('.').reduce((x, b) => x * 256 + Number(b), 0), len: Number(l) };
}
