/**
 * Test topology and packet builders for engine tests: three dual-stack nodes, inner packets with valid
 * checksums built the plain way (Buffer writes, a byte-pair reference checksum).
 */
import { Fdb } from '../../src/fdb/fdb.ts';
import type { NodeEntry } from '../../src/fdb/types.ts';
import { Engine } from '../../src/engine/engine.ts';
import { defaultEngineOptions, type EngineOptions, type Backend } from '../../src/engine/options.ts';

export function node(i: number, family: 4 | 6): NodeEntry {
  return {
    name: `n${i}`,
    underlayIP: family === 4 ? `198.51.100.${i}` : `2001:db8:100::${i}`,
    vtepMAC: `02:00:00:00:00:0${i}`,
    underlayMAC: `02:00:00:aa:00:0${i}`,
    podCIDRs: [`10.244.${i}.0/24`, `fd00:10:244:${i}::/64`],
  };
}

export function engineOf(i: number, family: 4 | 6, backend: Backend, over: Partial<EngineOptions> = {}): Engine {
  const all = [1, 2, 3].map((k) => node(k, family));
  const opts = { ...defaultEngineOptions(), backend, ...over };
  return new Engine(opts, Fdb.build(all[i - 1]!, all.filter((_, k) => k !== i - 1)));
}

/** Plain reference: RFC 1071 over byte pairs with end-around carry. */
export function refSum(b: Uint8Array, off: number, len: number, init = 0): number {
  let s = init;
  for (let i = 0; i < len; i += 2) {
    s += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
    s = (s & 0xffff) + (s >>> 16);
  }
  return s;
}
export const refChecksum = (b: Uint8Array, off: number, len: number, init = 0) => ~refSum(b, off, len, init) & 0xffff;

export function pod4(nodeI: number, host: number): number {
  return ((10 << 24) | (244 << 16) | (nodeI << 8) | host) >>> 0;
}
export function pod6(nodeI: number, host: number): Buffer {
  const a = Buffer.alloc(16);
  a.writeUInt32BE(0xfd000010, 0);
  a.writeUInt32BE((0x0244 << 16) | nodeI, 4);
  a.writeUInt32BE(host, 12);
  return a;
}

export interface InnerSpec {
  family: 4 | 6;
  proto: 6 | 17 | 1 | 58; // TCP, UDP, ICMP (v4) / ICMPv6 (v6)
  src: number; // node index
  dst: number;
  srcHost: number;
  dstHost: number;
  payload: Uint8Array;
  tos: number;
  ttl: number;
  df: boolean;
  sport: number;
  dport: number;
  udpZeroChecksum?: boolean;
}

/** Build a complete inner IP packet with valid checksums into a new Buffer (test side: allocation is fine). */
export function buildInner(s: InnerSpec): Buffer {
  const ipHdr = s.family === 4 ? 20 : 40;
  const proto = s.family === 6 && s.proto === 1 ? 58 : s.family === 4 && s.proto === 58 ? 1 : s.proto;
  const l4Hdr = proto === 6 ? 20 : proto === 17 ? 8 : 8;
  const l4Len = l4Hdr + s.payload.length;
  const pkt = Buffer.alloc(ipHdr + l4Len);
  let pseudo = 0;
  if (s.family === 4) {
    pkt[0] = 0x45;
    pkt[1] = s.tos;
    pkt.writeUInt16BE(pkt.length, 2);
    pkt.writeUInt16BE(0x1234, 4);
    pkt.writeUInt16BE(s.df ? 0x4000 : 0, 6);
    pkt[8] = s.ttl;
    pkt[9] = proto;
    pkt.writeUInt32BE(pod4(s.src, s.srcHost), 12);
    pkt.writeUInt32BE(pod4(s.dst, s.dstHost), 16);
    pkt.writeUInt16BE(refChecksum(pkt, 0, 20), 10);
    pseudo = refSum(pkt, 12, 8, proto + l4Len);
  } else {
    pkt.writeUInt32BE((6 << 28) | (s.tos << 20) | 0x12345, 0);
    pkt.writeUInt16BE(l4Len, 4);
    pkt[6] = proto;
    pkt[7] = s.ttl;
    pod6(s.src, s.srcHost).copy(pkt, 8);
    pod6(s.dst, s.dstHost).copy(pkt, 24);
    pseudo = refSum(pkt, 8, 32, proto + l4Len);
  }
  const t = ipHdr;
  Buffer.from(s.payload).copy(pkt, t + l4Hdr);
  if (proto === 6) {
    pkt.writeUInt16BE(s.sport, t);
    pkt.writeUInt16BE(s.dport, t + 2);
    pkt.writeUInt32BE(1000, t + 4);
    pkt.writeUInt16BE(0x5018, t + 12);
    pkt.writeUInt16BE(1024, t + 14);
    pkt.writeUInt16BE(refChecksum(pkt, t, l4Len, pseudo), t + 16);
  } else if (proto === 17) {
    pkt.writeUInt16BE(s.sport, t);
    pkt.writeUInt16BE(s.dport, t + 2);
    pkt.writeUInt16BE(l4Len, t + 4);
    if (!(s.udpZeroChecksum && s.family === 4)) {
      const c = refChecksum(pkt, t, l4Len, pseudo);
      pkt.writeUInt16BE(c === 0 ? 0xffff : c, t + 6);
    }
  } else {
    pkt[t] = proto === 1 ? 8 : 128; // echo request
    pkt.writeUInt16BE(s.sport, t + 4);
    pkt.writeUInt16BE(s.dport, t + 6);
    pkt.writeUInt16BE(refChecksum(pkt, t, l4Len, proto === 58 ? pseudo : 0), t + 2);
  }
  return pkt;
}

export const HEADROOM = 128;

/** A slot with the packet at HEADROOM. */
export function inSlot(pkt: Uint8Array, extra = 0): { buf: Buffer; off: number; len: number } {
  const buf = Buffer.alloc(HEADROOM + pkt.length + extra);
  buf.set(pkt, HEADROOM);
  return { buf, off: HEADROOM, len: pkt.length };
}
