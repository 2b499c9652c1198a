/**
 * The engine's fast paths against its general path (`fastPaths = false`, built on the src/packet codecs):
 * two engines with the same options run the same packets in lockstep, each on its own copy of the buffer,
 * and must agree on everything observable — return code, every result field, every drop counter, and every
 * byte of the buffer (headroom included) — for valid packets, mutated and cut ones, at aligned and
 * unaligned offsets, for every output layer and option that changes the bytes.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EncapLayer, type Engine } from '../../src/engine/engine.ts';
import type { EngineOptions } from '../../src/engine/options.ts';
import { buildInner, engineOf, type InnerSpec } from './helpers.ts';

type Over = Partial<EngineOptions>;

function pair(node: number, underlay: 4 | 6, backend: 'vxlan' | 'ipip', over: Over): [Engine, Engine] {
  const fast = engineOf(node, underlay, backend, over);
  const slow = engineOf(node, underlay, backend, over);
  slow.fastPaths = false;
  expect(fast.fastPaths).toBe(true);
  return [fast, slow];
}

function state(e: Engine): unknown {
  return {
    outOff: e.outOff,
    outLen: e.outLen,
    peer: e.peer,
    outPort: e.outPort,
    innerFrameOff: e.innerFrameOff,
    innerFrameLen: e.innerFrameLen,
    innerIpOff: e.innerIpOff,
    innerIpLen: e.innerIpLen,
    icmpLen: e.icmpLen,
    icmp: Buffer.from(e.icmpView.subarray(0, e.icmpLen)).toString('hex'),
    encapOk: e.encapOk,
    decapOk: e.decapOk,
    icmpBuilt: e.icmpBuilt,
    drops: Array.from(e.drops),
  };
}

/** Run `op` on both engines, each on its own copy of `buf`; assert the same outcome; return the fast copy. */
function lockstep(fast: Engine, slow: Engine, buf: Buffer, op: (e: Engine, b: Buffer) => number): { rc: number; buf: Buffer } {
  const bf = Buffer.from(buf);
  const bs = Buffer.from(buf);
  const rf = op(fast, bf);
  const rs = op(slow, bs);
  expect(rf).toBe(rs);
  expect(state(fast)).toEqual(state(slow));
  if (bf.compare(bs) !== 0) {
    let k = 0;
    while (bf[k] === bs[k]) k++;
    expect.fail(`buffers differ first at byte ${k}: fast ${bf[k]} general ${bs[k]}`);
  }
  return { rc: rf, buf: bf };
}

const HEAD = 128;

/** The packet at HEAD + shift in a fresh buffer (shift 0..3 moves it off 4-byte alignment), with slack after it. */
function place(pkt: Uint8Array, shift: number): { buf: Buffer; off: number } {
  const buf = Buffer.alloc(HEAD + shift + pkt.length + 16, 0xa5);
  buf.set(pkt, HEAD + shift);
  return { buf, off: HEAD + shift };
}

const specArb = (family: 4 | 6): fc.Arbitrary<InnerSpec> =>
  fc.record({
    family: fc.constant(family),
    proto: fc.constantFrom(6 as const, 17 as const, 1 as const),
    src: fc.constant(1),
    dst: fc.constantFrom(1, 2, 3),
    srcHost: fc.integer({ min: 1, max: 254 }),
    dstHost: fc.integer({ min: 1, max: 254 }),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1450 }),
    tos: fc.integer({ min: 0, max: 255 }),
    ttl: fc.integer({ min: 1, max: 255 }),
    df: fc.boolean(),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.integer({ min: 0, max: 65535 }),
    udpZeroChecksum: fc.boolean(),
  });

const mutationsArb = fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 });

function mutate(pkt: Buffer, muts: { at: number; value: number }[], cut: number | null): Buffer {
  const m = Buffer.from(pkt);
  for (const { at, value } of muts) if (m.length > 0) m[at % m.length] = value;
  return cut === null ? m : m.subarray(0, cut % (m.length + 1));
}

const optionSets: [string, Over][] = [
  ['defaults', {}],
  ['tos fixed, ttl inherit, df set, no v4 checksum, small MTU', { tos: 0xb9, ttl: 0, df: 'set', udpChecksum: false, underlayMTU: 600 }],
  ['df inherit, other VNI and port, zero v6 checksum', { df: 'inherit', vni: 0xabcdef, port: 8472, udp6ZeroChecksumTx: true, srcPortMin: 1000, srcPortMax: 1009 }],
];

describe('fast paths agree with the general path', () => {
  for (const [name, over] of optionSets) {
    for (const backend of ['vxlan', 'ipip'] as const) {
      for (const underlay of [4, 6] as const) {
        it(`encap, ${backend} over v${underlay}, ${name}`, () => {
          const [fast, slow] = pair(1, underlay, backend, over);
          fc.assert(
            fc.property(
              fc.oneof(specArb(4), specArb(6)),
              fc.integer({ min: 0, max: 3 }),
              fc.constantFrom(EncapLayer.Ethernet, EncapLayer.Ip, EncapLayer.Payload),
              fc.option(mutationsArb, { nil: null, freq: 2 }),
              fc.option(fc.nat(), { nil: null, freq: 2 }),
              (spec, shift, layer, muts, cut) => {
                const pkt = muts === null && cut === null ? buildInner(spec) : mutate(buildInner(spec), muts ?? [], cut);
                const { buf, off } = place(pkt, shift);
                lockstep(fast, slow, buf, (e, b) => e.encap(b, off, pkt.length, layer));
              },
            ),
            { numRuns: 400 },
          );
          expect(fast.encapOk).toBeGreaterThan(20); // valid packets did get through
        });
      }
    }
  }

  for (const [name, over] of [...optionSets, ['trusting the UDP checksum, zero v6 checksums accepted', { verifyUdpChecksum: false, udp6ZeroChecksumRx: true }] as [string, Over]]) {
    for (const backend of ['vxlan', 'ipip'] as const) {
      for (const underlay of [4, 6] as const) {
        it(`decap, ${backend} over v${underlay}, ${name}`, () => {
          const [fast, slow] = pair(1, underlay, backend, over);
          const senders = [2, 3].map((n) => engineOf(n, underlay, backend, over));
          fc.assert(
            fc.property(
              fc.oneof(specArb(4), specArb(6)),
              fc.integer({ min: 0, max: 1 }),
              fc.integer({ min: 0, max: 3 }),
              fc.option(mutationsArb, { nil: null, freq: 2 }),
              fc.option(fc.nat(), { nil: null, freq: 2 }),
              fc.constantFrom('frame', 'ip', 'payload'),
              fc.integer({ min: 0, max: 3 }),
              (spec0, k, shift, muts, cut, entry, outerEcn) => {
                // a packet from a peer's pod to ours (or elsewhere: dst 1..3), made by that peer's engine
                const spec = { ...spec0, src: k + 2 };
                const tx = senders[k]!;
                const inner = buildInner(spec);
                const s = place(inner, 0);
                const layer = entry === 'frame' ? EncapLayer.Ethernet : entry === 'ip' ? EncapLayer.Ip : EncapLayer.Payload;
                if (tx.encap(s.buf, s.off, inner.length, layer) !== 0) return;
                const wire = Buffer.from(s.buf.subarray(tx.outOff, tx.outOff + tx.outLen));
                // outer ECN CE (RFC 6040 paths) on some packets
                if (outerEcn === 3 && entry !== 'payload') {
                  const ip = entry === 'frame' ? 14 : 0;
                  if (underlay === 4) {
                    wire[ip + 1] = wire[ip + 1]! | 3;
                    wire.writeUInt16BE(0, ip + 10);
                    let sum = 0;
                    for (let i = 0; i < 20; i += 2) sum += wire.readUInt16BE(ip + i);
                    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
                    wire.writeUInt16BE(~sum & 0xffff, ip + 10);
                  } else {
                    wire[ip + 1] = wire[ip + 1]! | 0x30;
                  }
                }
                const pkt = muts === null && cut === null ? wire : mutate(wire, muts ?? [], cut);
                const { buf, off } = place(pkt, shift);
                if (entry === 'frame') lockstep(fast, slow, buf, (e, b) => e.decapFrame(b, off, pkt.length));
                else if (entry === 'ip') lockstep(fast, slow, buf, (e, b) => e.decapIp(b, off, pkt.length));
                else if (backend === 'vxlan') {
                  const src = Buffer.alloc(16);
                  if (underlay === 4) src.set([198, 51, 100, k + 2]);
                  else src.set([0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, k + 2]);
                  lockstep(fast, slow, buf, (e, b) => e.decapVxlanPayload(b, off, pkt.length, underlay, src, 0));
                }
              },
            ),
            { numRuns: 400 },
          );
          expect(fast.decapOk).toBeGreaterThan(10);
        });
      }
    }
  }

  it('encap: the IPv4 ID sequence and a buffer moving between ArrayBuffers stay in step', () => {
    const [fast, slow] = pair(1, 4, 'vxlan', {});
    const spec: InnerSpec = { family: 4, proto: 6, src: 1, dst: 2, srcHost: 9, dstHost: 7, payload: new Uint8Array(30), tos: 0, ttl: 64, df: true, sport: 5, dport: 80 };
    const pkt = buildInner(spec);
    for (let i = 0; i < 50; i++) {
      const { buf, off } = place(pkt, i % 4 === 3 ? 2 : 0);
      lockstep(fast, slow, buf, (e, b) => e.encap(b, off, pkt.length, [EncapLayer.Ethernet, EncapLayer.Ip, EncapLayer.Payload][i % 3]!));
    }
    // a Buffer from Node's shared pool: non-zero byteOffset into a bigger ArrayBuffer
    const pooled = Buffer.from(Buffer.concat([Buffer.alloc(HEAD + 1), pkt]));
    lockstep(fast, slow, pooled, (e, b) => e.encap(b, HEAD + 1, pkt.length, EncapLayer.Ethernet));
  });
});
