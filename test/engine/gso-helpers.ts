/** TCP packet builder for the offload tests (gso.test.ts, gso-kernel.test.ts): plain Buffer writes, reference sums. */
import { refChecksum, refSum } from './helpers.ts';

export interface TcpSpec {
  family: 4 | 6;
  payload: Uint8Array;
  seq?: number;
  ack?: number;
  flags?: number; // TCP flag byte
  window?: number;
  options?: Uint8Array; // multiple of 4
  id?: number;
  tos?: number;
  ttl?: number;
  df?: boolean;
  flowLabel?: number;
  sport?: number;
  dport?: number;
  srcHost?: number;
  /** 'full': valid checksum; 'pseudo': the folded pseudo-header sum (virtio NEEDS_CSUM / GSO); 'bad'. */
  csum?: 'full' | 'pseudo' | 'bad';
}

export const TS_OPTIONS = Uint8Array.from([1, 1, 8, 10, 0, 0, 0x12, 0x34, 0, 0, 0x56, 0x78]); // NOP NOP TS

/** IPv4 10.244.1.x → 10.244.2.9, IPv6 fd00:10:244:1::x → fd00:10:244:2::9. */
export function buildTcp(s: TcpSpec): Buffer {
  const ipLen = s.family === 4 ? 20 : 40;
  const opt = s.options ?? new Uint8Array(0);
  const tcpLen = 20 + opt.length;
  const l4Len = tcpLen + s.payload.length;
  const pkt = Buffer.alloc(ipLen + l4Len);
  let pseudo: number;
  if (s.family === 4) {
    pkt[0] = 0x45;
    pkt[1] = s.tos ?? 0;
    pkt.writeUInt16BE(pkt.length, 2);
    pkt.writeUInt16BE(s.id ?? 0x1234, 4);
    pkt.writeUInt16BE(s.df === false ? 0 : 0x4000, 6);
    pkt[8] = s.ttl ?? 64;
    pkt[9] = 6;
    pkt.set([10, 244, 1, s.srcHost ?? 5], 12);
    pkt.set([10, 244, 2, 9], 16);
    pkt.writeUInt16BE(refChecksum(pkt, 0, 20), 10);
    pseudo = refSum(pkt, 12, 8, 6 + l4Len);
  } else {
    pkt.writeUInt32BE(((6 << 28) | ((s.tos ?? 0) << 20) | (s.flowLabel ?? 0x12345)) >>> 0, 0);
    pkt.writeUInt16BE(l4Len, 4);
    pkt[6] = 6;
    pkt[7] = s.ttl ?? 64;
    pkt.set([0xfd, 0, 0, 0x10, 2, 0x44, 0, 1], 8);
    pkt[23] = s.srcHost ?? 5;
    pkt.set([0xfd, 0, 0, 0x10, 2, 0x44, 0, 2], 24);
    pkt[39] = 9;
    pseudo = refSum(pkt, 8, 32, 6 + l4Len);
  }
  const t = ipLen;
  pkt.writeUInt16BE(s.sport ?? 40000, t);
  pkt.writeUInt16BE(s.dport ?? 5201, t + 2);
  pkt.writeUInt32BE((s.seq ?? 1_000_000) >>> 0, t + 4);
  pkt.writeUInt32BE((s.ack ?? 77) >>> 0, t + 8);
  pkt[t + 12] = (tcpLen / 4) << 4;
  pkt[t + 13] = s.flags ?? 0x10;
  pkt.writeUInt16BE(s.window ?? 501, t + 14);
  pkt.set(opt, t + 20);
  Buffer.from(s.payload).copy(pkt, t + tcpLen);
  const mode = s.csum ?? 'full';
  if (mode === 'pseudo') pkt.writeUInt16BE(refSum(pkt, 0, 0, pseudo), t + 16);
  else {
    const c = refChecksum(pkt, t, l4Len, pseudo);
    pkt.writeUInt16BE(mode === 'bad' ? c ^ 0x0101 : c, t + 16);
  }
  return pkt;
}

/** Deterministic payload bytes. */
export function payloadOf(n: number, seed = 1): Uint8Array {
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return p;
}
