/**
 * Forwarding database: pod subnet → VTEP node (longest-prefix match, IPv4 and IPv6) and underlay address →
 * node (sender lookup on decap).
 *
 * Data structures (raced in bench/fdb-cases.ts against a linear scan / ip-num):
 * - IPv4 pod CIDRs: DIR-16-8-8 multibit trie in three Int32Arrays with controlled prefix expansion
 *   (lpm.ts). dir16 (65,536 entries, 256 KiB, indexed by the top 16 bits) holds a leaf or a link to a dir24
 *   chunk (indexed by bits 15..8); a dir24 entry holds a leaf or a link to a dir32 chunk (bits 7..0). A /24 pod
 *   CIDR — the flannel case — resolves in two loads, a /16-or-shorter in one, a /25../32 in three.
 *   Chunks are 256 plain entries (1 KiB) while the table has at most 4,096 of them (≤ 4 MiB, e.g. 5,000 /24
 *   nodes: 0.9 MiB). Past that, chunks with ≤ 128 runs of equal entries are stored compressed (Lulea /
 *   poptrie style: 256-bit run bitmap + per-word counts + run values, read with a popcount), which keeps
 *   100,000 random /8../32 prefixes at ~5 MiB instead of ~82 MiB: at that size lookups are bound by cache
 *   and TLB misses, so the smaller table is the faster one (measured ~3× faster there), while small tables
 *   keep the branch-light plain chunks.
 *   Chosen over a stride-8 trie (one more load for a /24) and DIR-24-8 (64 MiB up front even for ten nodes).
 * - IPv6 pod CIDRs: byte-stride trie, 256-entry plain chunks in one Int32Array, at most 16 loads. A /64 pod
 *   CIDR under a shared /48 costs one 1 KiB chunk per distinct 7th byte plus the shared path; each prefix
 *   costs at most ceil(len/8) − 1 chunks (so 100,000 random /128s would need ~1.5 GiB: not a target here).
 * - Underlay → peer: open-addressing hash tables (linear probing, load ≤ 1/2) in Int32Arrays, one for IPv4
 *   keys, one for 16-byte IPv6 keys stored as four int32 words.
 * Leaves store result + 2 so that results (peer index ≥ 0, FDB_LOCAL = -2, FDB_MISS = -1) are non-negative;
 * negative entries are links to chunks (lpm.ts).
 *
 * Lookups never allocate, never throw and never touch strings, Maps or BigInt. Tables are immutable: `with`
 * and `without` return a new Fdb (only the changed entry is parsed again; tables are rebuilt from integers),
 * and callers swap the reference in one assignment, so a lookup in flight only ever sees a complete table.
 * Peer indexes are positions in `peers` of the Fdb that returned them; a replaced peer keeps its index, a
 * removed one shifts the later ones down.
 *
 * Config-time validation (VtepError 'CONFIG', message naming the node and the value): text syntax (ip-num is
 * the authority, see text.ts), host bits set in a CIDR, duplicate node names, duplicate underlay IPs,
 * unspecified or multicast underlay IPs, multicast or zero MACs, the same pod CIDR owned twice (nested
 * prefixes are fine: the longest wins).
 */
import { VtepError } from '../util/errors.ts';
import type { NodeEntry } from './types.ts';
import { buildHash4, buildHash6, buildLpm4, buildLpm6, chunkEntry, hash6Words, HASH_MUL, LEAF_BIAS } from './lpm.ts';
import {
  formatIPv4,
  formatIPv6,
  mask4,
  maskBytes6,
  parseCidr4,
  parseCidr6,
  parseIPv4,
  parseIPv6,
  parseMac,
  TextError,
} from './text.ts';

export type { NodeEntry } from './types.ts';

/** Lookup result: no pod CIDR covers the address. */
export const FDB_MISS = -1;
/** Lookup result: the address is in one of the local node's pod CIDRs. */
export const FDB_LOCAL = -2;

/** A resolved node. All fields are read-only by contract (the byte arrays are shared between Fdb versions). */
export interface Peer {
  /** Position in `fdb.peers`; FDB_LOCAL for `fdb.local`. */
  index: number;
  name: string;
  /** Underlay address family. */
  family: 4 | 6;
  /** Underlay IPv4 address as uint32 when family is 4, else 0. */
  underlay4: number;
  /** Underlay address bytes: 4 (family 4) or 16 (family 6). */
  underlayBytes: Uint8Array;
  /** VTEP MAC (6 bytes). */
  vtepMAC: Uint8Array;
  /** Underlay Ethernet MAC (6 bytes) if configured. */
  underlayMAC: Uint8Array | null;
  /** Pod CIDRs in canonical text (dotted quad / RFC 5952), in configured order. */
  podCIDRs: readonly string[];
}

/** A node parsed once; kept so that with/without re-parse only the entry that changed. */
interface Resolved {
  name: string;
  family: 4 | 6;
  underlay4: number;
  underlayBytes: Uint8Array;
  underlayText: string;
  vtepMAC: Uint8Array;
  underlayMAC: Uint8Array | null;
  podCIDRs: readonly string[];
  v4Addr: Uint32Array;
  v4Len: Uint8Array;
  /** 16 bytes per IPv6 prefix. */
  v6Bytes: Uint8Array;
  v6Len: Uint8Array;
}

function configError(name: string, what: string): VtepError {
  return new VtepError('CONFIG', `node ${JSON.stringify(name)}: ${what}`);
}

function parseMacOf(name: string, field: string, text: string): Uint8Array {
  let mac: Uint8Array;
  try {
    mac = parseMac(text);
  } catch (e) {
    throw configError(name, `${field} ${JSON.stringify(text)} is not a MAC address (${(e as Error).message})`);
  }
  if ((mac[0]! & 1) !== 0) throw configError(name, `${field} ${JSON.stringify(text)} is a multicast MAC`);
  if (mac.every((b) => b === 0)) throw configError(name, `${field} ${JSON.stringify(text)} is all-zero`);
  return mac;
}

function resolve(entry: NodeEntry): Resolved {
  if (entry === null || typeof entry !== 'object') throw new VtepError('CONFIG', `node entry is not an object`);
  const name = entry.name;
  if (typeof name !== 'string' || name === '') throw new VtepError('CONFIG', `node has no name (${JSON.stringify(name)})`);

  // underlay IP
  const ipText = entry.underlayIP;
  if (typeof ipText !== 'string') throw configError(name, `underlayIP missing`);
  let family: 4 | 6;
  let underlay4 = 0;
  let underlayBytes: Uint8Array;
  let underlayText: string;
  try {
    if (ipText.includes(':')) {
      family = 6;
      underlayBytes = parseIPv6(ipText);
      underlayText = formatIPv6(underlayBytes);
    } else {
      family = 4;
      underlay4 = parseIPv4(ipText);
      underlayBytes = new Uint8Array([underlay4 >>> 24, (underlay4 >>> 16) & 255, (underlay4 >>> 8) & 255, underlay4 & 255]);
      underlayText = formatIPv4(underlay4);
    }
  } catch (e) {
    if (!(e instanceof TextError)) throw e;
    throw configError(name, `underlayIP ${JSON.stringify(ipText)} is not an IP address (${e.message})`);
  }
  const unspecified = underlayBytes.every((b) => b === 0);
  const multicast = family === 4 ? underlayBytes[0]! >= 224 && underlayBytes[0]! <= 239 : underlayBytes[0] === 0xff;
  if (unspecified || multicast || (family === 4 && underlay4 === 0xffffffff)) {
    throw configError(name, `underlayIP ${JSON.stringify(ipText)} is not a unicast address`);
  }

  const vtepMAC = parseMacOf(name, 'vtepMAC', entry.vtepMAC);
  const underlayMAC = entry.underlayMAC === undefined ? null : parseMacOf(name, 'underlayMAC', entry.underlayMAC);

  // pod CIDRs
  const cidrs = entry.podCIDRs ?? [];
  if (!Array.isArray(cidrs)) throw configError(name, `podCIDRs is not a list`);
  const v4: { addr: number; len: number }[] = [];
  const v6: { bytes: Uint8Array; len: number }[] = [];
  const podCIDRs: string[] = [];
  for (const text of cidrs) {
    if (typeof text !== 'string') throw configError(name, `pod CIDR ${JSON.stringify(text)} is not a string`);
    let canonical: string;
    try {
      if (text.includes(':')) {
        const c = parseCidr6(text);
        const net = c.bytes.slice();
        maskBytes6(net, c.len);
        canonical = `${formatIPv6(net)}/${c.len}`;
        if (!net.every((b, k) => b === c.bytes[k])) {
          throw configError(name, `pod CIDR ${JSON.stringify(text)} has host bits set (network is ${canonical})`);
        }
        v6.push({ bytes: net, len: c.len });
      } else {
        const c = parseCidr4(text);
        const net = (c.addr & mask4(c.len)) >>> 0;
        canonical = `${formatIPv4(net)}/${c.len}`;
        if (net !== c.addr) {
          throw configError(name, `pod CIDR ${JSON.stringify(text)} has host bits set (network is ${canonical})`);
        }
        v4.push({ addr: net, len: c.len });
      }
    } catch (e) {
      if (!(e instanceof TextError)) throw e;
      throw configError(name, `pod CIDR ${JSON.stringify(text)} is not a CIDR (${e.message})`);
    }
    podCIDRs.push(canonical);
  }
  const v4Addr = new Uint32Array(v4.length);
  const v4Len = new Uint8Array(v4.length);
  v4.forEach((p, k) => {
    v4Addr[k] = p.addr;
    v4Len[k] = p.len;
  });
  const v6Bytes = new Uint8Array(16 * v6.length);
  const v6Len = new Uint8Array(v6.length);
  v6.forEach((p, k) => {
    v6Bytes.set(p.bytes, 16 * k);
    v6Len[k] = p.len;
  });
  return {
    name,
    family,
    underlay4,
    underlayBytes,
    underlayText,
    vtepMAC,
    underlayMAC,
    podCIDRs: Object.freeze(podCIDRs),
    v4Addr,
    v4Len,
    v6Bytes,
    v6Len,
  };
}

function toPeer(r: Resolved, index: number): Peer {
  return Object.freeze({
    index,
    name: r.name,
    family: r.family,
    underlay4: r.underlay4,
    underlayBytes: r.underlayBytes,
    vtepMAC: r.vtepMAC,
    underlayMAC: r.underlayMAC,
    podCIDRs: r.podCIDRs,
  });
}

function underlayKey(r: Resolved): string {
  return r.family === 4 ? `4:${r.underlay4}` : `6:${r.underlayText}`;
}

export class Fdb {
  readonly local: Peer;
  readonly peers: readonly Peer[];
  /** Number of pod CIDRs (IPv4 + IPv6) of the local node and all peers. */
  readonly prefixCount: number;
  /** Bytes held by the lookup tables (typed arrays). */
  readonly tableBytes: number;

  // hot-path tables (see the comment on top of the file)
  private readonly dir16: Int32Array;
  private readonly dir24: Int32Array;
  private readonly dir32: Int32Array;
  private readonly trie6: Int32Array;
  private readonly u4keys: Int32Array;
  private readonly u4vals: Int32Array;
  private readonly u4shift: number;
  private readonly u4mask: number;
  private readonly u6keys: Int32Array;
  private readonly u6vals: Int32Array;
  private readonly u6shift: number;
  private readonly u6mask: number;

  // config-time state
  private readonly localRec: Resolved;
  private readonly recs: readonly Resolved[];
  private readonly byName: Map<string, number>;

  /**
   * Resolves and validates the nodes and builds the tables.
   * @throws VtepError('CONFIG') naming the node and the offending value.
   */
  static build(local: NodeEntry, peers: readonly NodeEntry[]): Fdb {
    return new Fdb(resolve(local), peers.map(resolve));
  }

  private constructor(localRec: Resolved, recs: readonly Resolved[]) {
    // --- validation across nodes
    const byName = new Map<string, number>();
    const byUnderlay = new Map<string, string>([[underlayKey(localRec), localRec.name]]);
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i]!;
      if (r.name === localRec.name) throw configError(r.name, `peer has the same name as the local node`);
      if (byName.has(r.name)) throw configError(r.name, `node name is listed twice`);
      byName.set(r.name, i);
      const other = byUnderlay.get(underlayKey(r));
      if (other !== undefined) {
        throw configError(r.name, `underlayIP ${r.underlayText} is already used by node ${JSON.stringify(other)}`);
      }
      byUnderlay.set(underlayKey(r), r.name);
    }

    // --- gather prefixes (owner: FDB_LOCAL or peer index), rejecting the same prefix twice
    const all = [localRec, ...recs];
    let n4 = 0;
    let n6 = 0;
    for (const r of all) {
      n4 += r.v4Len.length;
      n6 += r.v6Len.length;
    }
    const addr4 = new Uint32Array(n4);
    const len4 = new Uint8Array(n4);
    const res4 = new Int32Array(n4);
    const bytes6 = new Uint8Array(16 * n6);
    const len6 = new Uint8Array(n6);
    const res6 = new Int32Array(n6);
    const owner6 = new Map<string, number>();
    const nameOf = (owner: number) => (owner === FDB_LOCAL ? localRec.name : recs[owner]!.name);
    const duplicate = (r: Resolved, cidr: string, prev: number): VtepError =>
      nameOf(prev) === r.name
        ? configError(r.name, `pod CIDR ${cidr} is listed twice`)
        : configError(r.name, `pod CIDR ${cidr} is already owned by node ${JSON.stringify(nameOf(prev))}`);
    let k4 = 0;
    let k6 = 0;
    for (let j = 0; j < all.length; j++) {
      const r = all[j]!;
      const owner = j === 0 ? FDB_LOCAL : j - 1;
      for (let p = 0; p < r.v4Len.length; p++) {
        addr4[k4] = r.v4Addr[p]!;
        len4[k4] = r.v4Len[p]!;
        res4[k4++] = owner;
      }
      for (let p = 0; p < r.v6Len.length; p++) {
        const cidr = `${formatIPv6(r.v6Bytes, 16 * p)}/${r.v6Len[p]}`;
        const prev = owner6.get(cidr);
        if (prev !== undefined) throw duplicate(r, cidr, prev);
        owner6.set(cidr, owner);
        bytes6.set(r.v6Bytes.subarray(16 * p, 16 * p + 16), 16 * k6);
        len6[k6] = r.v6Len[p]!;
        res6[k6++] = owner;
      }
    }

    // the same IPv4 prefix twice: sort exact keys (a Map of 100,000 non-Smi keys costs ~80 ms, this ~10 ms)
    const keys4 = new Float64Array(n4);
    for (let k = 0; k < n4; k++) keys4[k] = addr4[k]! * 64 + len4[k]!;
    keys4.sort();
    for (let k = 1; k < n4; k++) {
      if (keys4[k] !== keys4[k - 1]) continue;
      const key = keys4[k]!;
      const at: number[] = [];
      for (let q = 0; q < n4; q++) if (addr4[q]! * 64 + len4[q]! === key) at.push(q);
      const cidr = `${formatIPv4(addr4[at[0]!]!)}/${len4[at[0]!]}`;
      throw duplicate(all[res4[at[1]!]! + 1]!, cidr, res4[at[0]!]!);
    }

    // --- tables
    const lpm4 = buildLpm4(addr4, len4, res4, n4);
    this.dir16 = lpm4.dir16;
    this.dir24 = lpm4.dir24;
    this.dir32 = lpm4.dir32;
    this.trie6 = buildLpm6(bytes6, len6, res6, n6);
    const v4peers = recs.flatMap((r, i) => (r.family === 4 ? [i] : []));
    const v6peers = recs.flatMap((r, i) => (r.family === 6 ? [i] : []));
    const h4 = buildHash4(v4peers.map((i) => recs[i]!.underlay4), v4peers);
    const h6 = buildHash6(v6peers.map((i) => recs[i]!.underlayBytes), v6peers);
    this.u4keys = h4.keys;
    this.u4vals = h4.vals;
    this.u4shift = h4.shift;
    this.u4mask = h4.mask;
    this.u6keys = h6.keys;
    this.u6vals = h6.vals;
    this.u6shift = h6.shift;
    this.u6mask = h6.mask;

    this.localRec = localRec;
    this.recs = recs;
    this.byName = byName;
    this.local = toPeer(localRec, FDB_LOCAL);
    this.peers = Object.freeze(recs.map(toPeer));
    this.prefixCount = n4 + n6;
    this.tableBytes = [this.dir16, this.dir24, this.dir32, this.trie6, h4.keys, h4.vals, h6.keys, h6.vals].reduce(
      (s, a) => s + a.byteLength,
      0,
    );
  }

  /**
   * Longest-prefix match of an inner IPv4 destination (uint32; an int32 works too) over the pod CIDRs of the
   * local node and all peers. Returns the peer index, FDB_LOCAL or FDB_MISS. Hot path: no allocation.
   */
  lookup4(addr: number): number {
    let e = this.dir16[addr >>> 16]!;
    if (e < 0) {
      // full chunks read in place (chunkEntry's first case): lookup4 is inlined into large callers (encap,
      // decap) that share V8's inlining budget, and two inlined chunkEntry bodies left too little of it
      let link = ~e;
      e = (link & 1) === 0 ? this.dir24[(link >>> 1) + ((addr >>> 8) & 255)]! : chunkEntry(this.dir24, link, (addr >>> 8) & 255);
      if (e < 0) {
        link = ~e;
        e = (link & 1) === 0 ? this.dir32[(link >>> 1) + (addr & 255)]! : chunkEntry(this.dir32, link, addr & 255);
      }
    }
    return e - LEAF_BIAS;
  }

  /**
   * Same as lookup4 for the IPv6 address in buf[off, off+16). The caller guarantees off+16 <= buf.length
   * (it has bounds-checked the header). Hot path: no allocation.
   */
  lookup6(buf: Uint8Array, off: number): number {
    const t = this.trie6;
    let e = t[buf[off]!]!;
    let i = off + 1;
    while (e < 0) e = t[(~e << 8) | buf[i++]!]!;
    return e - LEAF_BIAS;
  }

  /** Peer index whose underlay IPv4 address is `addr` (uint32 or int32), or FDB_MISS. Hot path. */
  peerByUnderlay4(addr: number): number {
    const key = addr | 0;
    const keys = this.u4keys;
    const vals = this.u4vals;
    let s = Math.imul(key, HASH_MUL) >>> this.u4shift;
    for (;;) {
      const v = vals[s]!;
      if (v < 0 || keys[s] === key) return v;
      s = (s + 1) & this.u4mask;
    }
  }

  /** Peer index whose underlay IPv6 address is buf[off, off+16), or FDB_MISS. Caller bounds-checks. Hot path. */
  peerByUnderlay6(buf: Uint8Array, off: number): number {
    const w0 = (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
    const w1 = (buf[off + 4]! << 24) | (buf[off + 5]! << 16) | (buf[off + 6]! << 8) | buf[off + 7]!;
    const w2 = (buf[off + 8]! << 24) | (buf[off + 9]! << 16) | (buf[off + 10]! << 8) | buf[off + 11]!;
    const w3 = (buf[off + 12]! << 24) | (buf[off + 13]! << 16) | (buf[off + 14]! << 8) | buf[off + 15]!;
    const keys = this.u6keys;
    const vals = this.u6vals;
    let s = hash6Words(w0, w1, w2, w3) >>> this.u6shift;
    for (;;) {
      const v = vals[s]!;
      if (v < 0) return v;
      const k = 4 * s;
      if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return v;
      s = (s + 1) & this.u6mask;
    }
  }

  /** Index of the peer named `name` in `peers`, or FDB_MISS (also for the local node's name). Not hot path. */
  peerIndexByName(name: string): number {
    return this.byName.get(name) ?? FDB_MISS;
  }

  /**
   * A new table with `entry` added (appended) or, if a peer of that name exists, replaced (same index).
   * Only `entry` is parsed; this table is unchanged.
   * @throws VtepError('CONFIG') as build does, or if `entry` names the local node.
   */
  with(entry: NodeEntry): Fdb {
    const r = resolve(entry);
    if (r.name === this.localRec.name) throw configError(r.name, `is the local node, not a peer`);
    const i = this.byName.get(r.name);
    const recs = this.recs.slice();
    if (i === undefined) recs.push(r);
    else recs[i] = r;
    return new Fdb(this.localRec, recs);
  }

  /**
   * A new table without the peer `name` (later peers move down one index).
   * @throws VtepError('CONFIG') if there is no such peer.
   */
  without(name: string): Fdb {
    const i = this.byName.get(name);
    if (i === undefined) throw configError(name, `no such peer to remove`);
    return new Fdb(this.localRec, this.recs.filter((_, k) => k !== i));
  }
}

