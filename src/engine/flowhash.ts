/**
 * Inner-flow hash for the outer UDP source port (and IPv6 flow label), as Linux does with
 * skb_get_hash() + udp_flow_src_port(): the same flow always maps to the same port, different flows
 * spread over the configured range. MurmurHash3 (32-bit) mixing over a few integer words; no allocation.
 */

/** MurmurHash3 constants, exported for the engine's written-out copy of flowHash4 (see encap). */
export const C1 = 0xcc9e2d51;
export const C2 = 0x1b873593;

function mix(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, C2);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, nBytes: number): number {
  h ^= nBytes;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0; // int32: stays a small integer across calls (a uint32 above 2^31 would be boxed)
}

export const SEED = 0x7674_6570; // "vtep"

/** Hash (int32) of an IPv4 flow: addresses, protocol and the L4 port word (0 when there are no ports). */
export function flowHash4(src: number, dst: number, proto: number, ports: number): number {
  let h = mix(SEED, src);
  h = mix(h, dst);
  h = mix(h, proto);
  h = mix(h, ports);
  return finish(h, 16);
}

/** Hash (int32) of an IPv6 flow: addresses read from buf, protocol and the L4 port word (0 when none). */
export function flowHash6(buf: Uint8Array, srcOff: number, dstOff: number, proto: number, ports: number): number {
  return flowHash6Words(
    be32(buf, srcOff), be32(buf, srcOff + 4), be32(buf, srcOff + 8), be32(buf, srcOff + 12),
    be32(buf, dstOff), be32(buf, dstOff + 4), be32(buf, dstOff + 8), be32(buf, dstOff + 12),
    proto, ports,
  );
}

/**
 * flowHash6 from the addresses as big-endian 32-bit words (int32 or uint32), as a DataView reads them.
 * `mix` is written out ten times: called from a large caller, V8 stopped inlining it (10 calls per packet).
 */
export function flowHash6Words(
  s0: number, s1: number, s2: number, s3: number,
  d0: number, d1: number, d2: number, d3: number,
  proto: number, ports: number,
): number {
  let h = SEED;
  let k = Math.imul(s0, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(s1, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(s2, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(s3, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(d0, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(d1, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(d2, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(d3, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(proto, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(ports, C1);
  h ^= Math.imul((k << 15) | (k >>> 17), C2);
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  return finish(h, 40);
}

function be32(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

/** Map a 32-bit hash into [min, max] like udp_flow_src_port(): ((u64)hash * range) >> 32. */
export function portFromHash(hash: number, min: number, max: number): number {
  return min + Math.floor(((hash >>> 0) * (max - min + 1)) / 4294967296);
}

/** The range factor of portFromHashScaled: (max - min + 1) / 2^32, exact (a power-of-two scaling). */
export function portScale(min: number, max: number): number {
  return (max - min + 1) / 4294967296;
}

/**
 * portFromHash with the range's factor computed once (hot path: no division). The same value: hash · range
 * is an integer below 2^48, so hash · (range / 2^32) is exactly (hash · range) / 2^32, and truncating that
 * non-negative number below 2^16 is its floor.
 */
export function portFromHashScaled(hash: number, min: number, scale: number): number {
  return min + (((hash >>> 0) * scale) | 0);
}
