/**
 * Builders for the FDB's lookup tables (config time). The lookups themselves are inlined in Fdb (fdb.ts);
 * the layouts are described there. Shared entry encoding, all tables:
 *
 *   entry >= 0   leaf: result + LEAF_BIAS  (result: peer index >= 0, FDB_LOCAL = -2, FDB_MISS = -1)
 *   entry <  0   link: ~chunk, the child is table[(chunk << 8) .. (chunk << 8) + 256)
 *
 * Leaves are written by controlled prefix expansion: prefixes are inserted shortest first, each one overwriting
 * the 2^(stride boundary − len) entries it covers, and a new child chunk starts as 256 copies of the leaf it
 * replaces. Because a later (longer-or-equal) prefix never meets a link in the range it fills (links are only
 * made by strictly longer prefixes, which come later), this yields longest-prefix match without a second pass.
 */

/** Added to a result (−2 … n−1) to store it as a non-negative leaf. */
export const LEAF_BIAS = 2;
const MISS_LEAF = -1 + LEAF_BIAS;

/** Indexes 0..n-1 ordered by ascending len (stable counting sort). */
function orderByLength(len: Uint8Array, n: number, maxLen: number): Int32Array {
  const start = new Int32Array(maxLen + 2);
  for (let i = 0; i < n; i++) start[len[i]! + 1]!++;
  for (let l = 1; l <= maxLen + 1; l++) start[l]! += start[l - 1]!;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[start[len[i]!]!++] = i;
  return order;
}

/** DIR-16-8-8 IPv4 table. */
export interface Lpm4 {
  /** 65,536 entries indexed by addr >>> 16. */
  dir16: Int32Array;
  /** Chunks indexed by (addr >>> 8) & 255, one per /16 holding a prefix longer than /16. */
  dir24: Int32Array;
  /** Chunks indexed by addr & 255, one per /24 holding a prefix longer than /24. */
  dir32: Int32Array;
}

/**
 * Above this many chunks (1 KiB each when full) the IPv4 table switches to compact mode, where a chunk with
 * few distinct runs is stored compressed. 4,096 full chunks = 4 MiB, which still sits in the L3 cache.
 */
export const FULL_CHUNK_LIMIT = 4096;
/** In compact mode, chunks with at most this many runs are compressed (10 + runs words instead of 256). */
export const COMPRESS_MAX_RUNS = 128;

/**
 * Chunk formats in dir24 / dir32 (a link is ~(wordOffset << 1 | compressed)):
 *   full:       256 entries, entry x at offset + x.
 *   compressed: words 0..7   bitmap: bit (x & 31) of word (x >>> 5) set where entry x differs from entry x-1
 *                            (bit 0 always set) — each set bit starts a run of equal entries;
 *               words 8..9   bytes: number of set bits in bitmap words before word w (byte w & 3 of word 8 + (w >>> 2));
 *               words 10..   the value of each run, in order.
 *             entry x = values[setBitsBefore(word) + popcount(bitmap word & bits 0..x&31) - 1].
 */
export function chunkEntry(t: Int32Array, link: number, x: number): number {
  const o = link >>> 1;
  if ((link & 1) === 0) return t[o + x]!;
  let v = t[o + (x >>> 5)]! & ((2 << (x & 31)) - 1);
  v = (v - ((v >>> 1) & 0x55555555)) | 0;
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  v = (v + (v >>> 4)) & 0x0f0f0f0f;
  const ones = Math.imul(v, 0x01010101) >>> 24;
  const before = (t[o + 8 + (x >>> 7)]! >>> ((x >>> 2) & 24)) & 255;
  return t[o + 9 + before + ones]!;
}

/** Appends chunks to a growing Int32Array. */
class ChunkWriter {
  table = new Int32Array(1024);
  used = 0;

  private room(words: number): void {
    if (this.used + words <= this.table.length) return;
    let size = this.table.length * 2;
    while (size < this.used + words) size *= 2;
    const grown = new Int32Array(size);
    grown.set(this.table.subarray(0, this.used));
    this.table = grown;
  }

  /** Stores the 256 entries of `chunk`, compressed if `compact` and it has few runs; returns the link. */
  emit(chunk: Int32Array, compact: boolean): number {
    const o = this.used;
    if (compact) {
      // one pass into the compressed form; abandoned for the full form past COMPRESS_MAX_RUNS runs
      this.room(11 + COMPRESS_MAX_RUNS);
      const t = this.table;
      t.fill(0, o, o + 10);
      let runs = 0;
      let prev = 0;
      for (let x = 0; x < 256 && runs <= COMPRESS_MAX_RUNS; x++) {
        const v = chunk[x]!;
        if ((x & 31) === 0) t[o + 8 + (x >>> 7)]! |= runs << ((x >>> 2) & 24);
        if (x === 0 || v !== prev) {
          t[o + (x >>> 5)]! |= 1 << (x & 31);
          t[o + 10 + runs++] = v;
          prev = v;
        }
      }
      if (runs <= COMPRESS_MAX_RUNS) {
        this.used += 10 + runs;
        return ~((o << 1) | 1);
      }
    }
    this.room(256);
    this.table.set(chunk, o);
    this.used += 256;
    return ~(o << 1);
  }

  finish(): Int32Array {
    return this.table.slice(0, this.used);
  }
}

/**
 * Builds the IPv4 table from n distinct prefixes: addr[i] (uint32, host bits clear), len[i] (0..32), result[i].
 * (Fdb rejects duplicates before; here the later of two equal prefixes would win.)
 *
 * Works one /16 at a time in two 256-entry scratch chunks, so no full-size intermediate table is made:
 * prefixes of length <= 16 go straight into dir16 (shortest first); longer ones are bucketed by /16 (stable,
 * so still shortest first in each bucket), applied to a scratch dir24 chunk that starts as copies of the dir16
 * leaf, and those longer than /24 likewise into a scratch dir32 chunk per /24.
 * `mode` forces full or compressed chunks (tests); 'auto' compresses above FULL_CHUNK_LIMIT chunks.
 */
export function buildLpm4(
  addr: Uint32Array,
  len: Uint8Array,
  result: Int32Array,
  n: number,
  mode: 'auto' | 'full' | 'compact' = 'auto',
): Lpm4 {
  const byLen = orderByLength(len, n, 32);
  const dir16 = new Int32Array(65536).fill(MISS_LEAF);
  const start16 = new Int32Array(65537);
  let nLong = 0;
  let nOver24 = 0;
  for (let k = 0; k < n; k++) {
    const i = byLen[k]!;
    const l = len[i]!;
    if (l <= 16) {
      const from = addr[i]! >>> 16;
      dir16.fill(result[i]! + LEAF_BIAS, from, from + (1 << (16 - l)));
    } else {
      start16[(addr[i]! >>> 16) + 1]!++;
      nLong++;
      if (l > 24) nOver24++;
    }
  }
  let groups = 0;
  for (let g = 0; g < 65536; g++) {
    if (start16[g + 1] !== 0) groups++;
    start16[g + 1]! += start16[g]!;
  }
  const compact = mode === 'auto' ? groups + nOver24 > FULL_CHUNK_LIMIT : mode === 'compact';
  const grouped = new Int32Array(nLong);
  const fillAt = start16.slice(0, 65536);
  for (let k = 0; k < n; k++) {
    const i = byLen[k]!;
    if (len[i]! > 16) grouped[fillAt[addr[i]! >>> 16]!++] = i;
  }

  const s24 = new Int32Array(256);
  const s32 = new Int32Array(256);
  const over = new Int32Array(nOver24);
  const overSorted = new Int32Array(nOver24);
  const start8 = new Int32Array(257);
  const w24 = new ChunkWriter();
  const w32 = new ChunkWriter();
  for (let g = 0; g < 65536; g++) {
    const from = start16[g]!;
    const to = start16[g + 1]!;
    if (from === to) continue;
    s24.fill(dir16[g]!);
    let m = 0;
    for (let j = from; j < to; j++) {
      const i = grouped[j]!;
      const l = len[i]!;
      if (l <= 24) {
        const at = (addr[i]! >>> 8) & 255;
        s24.fill(result[i]! + LEAF_BIAS, at, at + (1 << (24 - l)));
      } else {
        over[m++] = i;
      }
    }
    if (m > 0) {
      // stable sort of the > /24 prefixes by their /24 within this /16: insertion sort when few, else buckets
      if (m <= 16) {
        for (let j = 0; j < m; j++) {
          const i = over[j]!;
          const b = (addr[i]! >>> 8) & 255;
          let q = j;
          while (q > 0 && ((addr[overSorted[q - 1]!]! >>> 8) & 255) > b) {
            overSorted[q] = overSorted[q - 1]!;
            q--;
          }
          overSorted[q] = i;
        }
      } else {
        bucketByByte(addr, over, m, overSorted, start8);
      }
      let j = 0;
      while (j < m) {
        const b = (addr[overSorted[j]!]! >>> 8) & 255;
        s32.fill(s24[b]!);
        for (; j < m && ((addr[overSorted[j]!]! >>> 8) & 255) === b; j++) {
          const i = overSorted[j]!;
          const at = addr[i]! & 255;
          s32.fill(result[i]! + LEAF_BIAS, at, at + (1 << (32 - len[i]!)));
        }
        s24[b] = w32.emit(s32, compact);
      }
    }
    dir16[g] = w24.emit(s24, compact);
  }
  return { dir16, dir24: w24.finish(), dir32: w32.finish() };
}

/** Stable counting sort of idx[0, m) by byte 2 of addr (the /24 within a /16) into out. */
function bucketByByte(addr: Uint32Array, idx: Int32Array, m: number, out: Int32Array, start: Int32Array): void {
  start.fill(0);
  for (let j = 0; j < m; j++) start[((addr[idx[j]!]! >>> 8) & 255) + 1]!++;
  for (let b = 0; b < 256; b++) start[b + 1]! += start[b]!;
  for (let j = 0; j < m; j++) {
    const i = idx[j]!;
    out[start[(addr[i]! >>> 8) & 255]!++] = i;
  }
}

/**
 * Builds the IPv6 byte-stride trie (chunk 0 is the root, indexed by address byte 0; a link at depth d is
 * followed with byte d+1; at most 16 steps) from n prefixes: bytes[16i, 16i+16) (host bits clear), len[i]
 * (0..128), result[i]. Same distinctness rule as buildLpm4.
 */
export function buildLpm6(bytes: Uint8Array, len: Uint8Array, result: Int32Array, n: number): Int32Array {
  let table = new Int32Array(256 * Math.max(4, Math.min(n * 2, 1 << 12))).fill(MISS_LEAF, 0, 256);
  let chunks = 1;
  const order = orderByLength(len, n, 128);
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    const l = len[i]!;
    const leaf = result[i]! + LEAF_BIAS;
    if (l === 0) {
      table.fill(leaf, 0, 256);
      continue;
    }
    const depth = (l + 7) >> 3; // bytes looked at; the leaf sits in the chunk reached after depth-1 links
    let chunk = 0;
    for (let d = 0; d < depth - 1; d++) {
      const at = (chunk << 8) | bytes[16 * i + d]!;
      const e = table[at]!;
      if (e < 0) {
        chunk = ~e;
        continue;
      }
      if ((chunks + 1) << 8 > table.length) {
        const grown = new Int32Array(table.length * 2);
        grown.set(table);
        table = grown;
      }
      const c = chunks++;
      table.fill(e, c << 8, (c << 8) + 256);
      table[at] = ~c;
      chunk = c;
    }
    const from = (chunk << 8) | bytes[16 * i + depth - 1]!;
    table.fill(leaf, from, from + (1 << (8 * depth - l)));
  }
  return table.length === chunks << 8 ? table : table.slice(0, chunks << 8);
}

/** Open-addressing hash (linear probing, load ≤ 1/2) from an underlay IPv4 address to a peer index. */
export interface Hash4 {
  /** Key per slot (the address as int32). */
  keys: Int32Array;
  /** Peer index per slot, -1 = empty. */
  vals: Int32Array;
  /** Slot = Math.imul(addr, HASH_MUL) >>> shift. */
  shift: number;
  mask: number;
}

export const HASH_MUL = 0x9e3779b1 | 0;

function slotBits(n: number): number {
  let bits = 3;
  while (1 << bits < 2 * n) bits++;
  return bits;
}

export function buildHash4(addrs: readonly number[], vals: readonly number[]): Hash4 {
  const bits = slotBits(addrs.length);
  const size = 1 << bits;
  const h: Hash4 = { keys: new Int32Array(size), vals: new Int32Array(size).fill(-1), shift: 32 - bits, mask: size - 1 };
  for (let i = 0; i < addrs.length; i++) {
    const key = addrs[i]! | 0;
    let s = Math.imul(key, HASH_MUL) >>> h.shift;
    while (h.vals[s]! >= 0) s = (s + 1) & h.mask;
    h.keys[s] = key;
    h.vals[s] = vals[i]!;
  }
  return h;
}

/** Same as Hash4 for 16-byte keys: keys holds 4 big-endian int32 words per slot. */
export type Hash6 = Hash4;

/** Hash of the 4 big-endian words of a 16-byte address (also used inline by Fdb.peerByUnderlay6). */
export function hash6Words(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0, HASH_MUL) ^ Math.imul(w1, 0x85ebca77 | 0) ^ Math.imul(w2, 0xc2b2ae3d | 0) ^ Math.imul(w3, 0x27d4eb2f);
  h ^= h >>> 15;
  return Math.imul(h, 0x2c1b3c6d);
}

function word(b: Uint8Array, o: number): number {
  return (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
}

export function buildHash6(addrs: readonly Uint8Array[], vals: readonly number[]): Hash6 {
  const bits = slotBits(addrs.length);
  const size = 1 << bits;
  const h: Hash6 = { keys: new Int32Array(4 * size), vals: new Int32Array(size).fill(-1), shift: 32 - bits, mask: size - 1 };
  for (let i = 0; i < addrs.length; i++) {
    const b = addrs[i]!;
    const w0 = word(b, 0);
    const w1 = word(b, 4);
    const w2 = word(b, 8);
    const w3 = word(b, 12);
    let s = hash6Words(w0, w1, w2, w3) >>> h.shift;
    while (h.vals[s]! >= 0) s = (s + 1) & h.mask;
    h.keys[4 * s] = w0;
    h.keys[4 * s + 1] = w1;
    h.keys[4 * s + 2] = w2;
    h.keys[4 * s + 3] = w3;
    h.vals[s] = vals[i]!;
  }
  return h;
}
