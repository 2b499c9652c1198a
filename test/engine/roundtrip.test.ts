import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EncapLayer } from '../../src/engine/engine.ts';
import { Drop, DROP_NAMES } from '../../src/engine/drops.ts';
import { buildInner, engineOf, inSlot, refSum, type InnerSpec } from './helpers.ts';

const innerArb = (family: 4 | 6): fc.Arbitrary<InnerSpec> =>
  fc.record({
    family: fc.constant(family),
    proto: fc.constantFrom(6 as const, 17 as const, 1 as const),
    src: fc.constant(1),
    dst: fc.constantFrom(2, 3),
    srcHost: fc.integer({ min: 1, max: 254 }),
    dstHost: fc.integer({ min: 1, max: 254 }),
    payload: fc.uint8Array({ minLength: 0, maxLength: 1300 }),
    tos: fc.integer({ min: 0, max: 255 }),
    ttl: fc.integer({ min: 1, max: 255 }),
    df: fc.boolean(),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.integer({ min: 0, max: 65535 }),
    udpZeroChecksum: fc.boolean(),
  });

describe('decap(encap(p)) == p', () => {
  for (const backend of ['vxlan', 'ipip'] as const) {
    for (const underlay of [4, 6] as const) {
      for (const inner of [4, 6] as const) {
        it(`${backend}, v${underlay} underlay, v${inner} inner`, () => {
          fc.assert(
            fc.property(innerArb(inner), fc.constantFrom(EncapLayer.Ethernet, EncapLayer.Ip), (spec, layer) => {
              const pkt = buildInner(spec);
              // outer CE never arises here: the inner ECN is copied, so inner CE stays CE
              const tx = engineOf(1, underlay, backend);
              const rx = engineOf(spec.dst, underlay, backend);
              const { buf, off, len } = inSlot(pkt);
              const rc = tx.encap(buf, off, len, layer);
              expect(DROP_NAMES[rc]).toBe('none');
              expect(Buffer.compare(buf.subarray(off, off + len), pkt)).toBe(0); // inner untouched
              const drc = layer === EncapLayer.Ethernet ? rx.decapFrame(buf, tx.outOff, tx.outLen) : rx.decapIp(buf, tx.outOff, tx.outLen);
              expect(DROP_NAMES[drc]).toBe('none');
              expect(rx.peer).toBe(0); // node 1 is peer index 0 for nodes 2 and 3
              expect(Buffer.compare(buf.subarray(rx.innerIpOff, rx.innerIpOff + rx.innerIpLen), pkt)).toBe(0);
            }),
            { numRuns: 150 },
          );
        });
      }
    }
  }
});

describe('outer UDP checksum: local checksum offload equals a full sum', () => {
  for (const underlay of [4, 6] as const) {
    it(`v${underlay} underlay`, () => {
      fc.assert(
        fc.property(innerArb(4).chain((s) => fc.constant(s)), fc.boolean(), (spec, v6inner) => {
          const s = { ...spec, family: v6inner ? (6 as const) : (4 as const) };
          const pkt = buildInner(s);
          const tx = engineOf(1, underlay, 'vxlan');
          const { buf, off, len } = inSlot(pkt);
          expect(tx.encap(buf, off, len, EncapLayer.Ip)).toBe(0);
          const o = tx.outOff;
          const ipHdr = underlay === 4 ? 20 : 40;
          const u = o + ipHdr;
          const udpLen = buf.readUInt16BE(u + 4);
          const got = buf.readUInt16BE(u + 6);
          // reference: zero the field, sum pseudo-header + whole datagram byte by byte
          const copy = Buffer.from(buf.subarray(o, o + tx.outLen));
          copy.writeUInt16BE(0, ipHdr + 6);
          const pseudo = underlay === 4 ? refSum(copy, 12, 8, 17 + udpLen) : refSum(copy, 8, 32, 17 + udpLen);
          let want = ~refSum(copy, ipHdr, udpLen, pseudo) & 0xffff;
          if (want === 0) want = 0xffff;
          expect(got).toBe(want);
        }),
        { numRuns: 300 },
      );
    });
  }
});

describe('random and mutated bytes never throw and always give a named reason', () => {
  const engines = [
    engineOf(2, 4, 'vxlan'),
    engineOf(2, 6, 'vxlan'),
    engineOf(2, 4, 'ipip'),
    engineOf(2, 6, 'ipip'),
  ];
  it('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.integer({ min: 0, max: 3 }), (bytes, k) => {
        const e = engines[k]!;
        const { buf, off, len } = inSlot(bytes);
        for (const rc of [e.decapFrame(buf, off, len), e.decapIp(buf, off, len), e.encap(buf, off, len, EncapLayer.Ethernet)]) {
          expect(rc).toBeGreaterThanOrEqual(0);
          expect(DROP_NAMES[rc]).toBeTypeOf('string');
        }
      }),
      { numRuns: 3000 },
    );
  });
  for (const [i, e] of engines.entries()) {
    it(`mutations of a valid frame (engine ${i})`, () => {
      const underlay = i % 2 === 0 ? 4 : 6;
      const backend = i < 2 ? 'vxlan' : 'ipip';
      const tx = engineOf(1, underlay, backend);
      const pkt = buildInner({ family: 4, proto: 17, src: 1, dst: 2, srcHost: 5, dstHost: 6, payload: new Uint8Array(40), tos: 0, ttl: 64, df: false, sport: 1, dport: 2 });
      const s = inSlot(pkt);
      expect(tx.encap(s.buf, s.off, s.len, EncapLayer.Ethernet)).toBe(0);
      const frame = Buffer.from(s.buf.subarray(tx.outOff, tx.outOff + tx.outLen));
      expect(e.decapFrame(Buffer.from(frame), 0, frame.length)).toBe(Drop.None);
      fc.assert(
        fc.property(
          fc.array(fc.record({ at: fc.nat(frame.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
          fc.nat(frame.length),
          (muts, cut) => {
            const m = Buffer.from(frame);
            for (const { at, value } of muts) m[at] = value;
            const rc = e.decapFrame(m, 0, Math.min(cut + 1, m.length));
            expect(DROP_NAMES[rc]).toBeTypeOf('string');
          },
        ),
        { numRuns: 2000 },
      );
      // every cut of a valid frame is a truncation (or a length mismatch), never a throw or a pass
      for (let cut = 0; cut < frame.length; cut++) {
        const rc = e.decapFrame(Buffer.from(frame), 0, cut);
        expect(rc, `cut at ${cut}`).not.toBe(Drop.None);
        expect(DROP_NAMES[rc]!, `cut at ${cut}`).toMatch(/^truncated-|bad-length$/);
      }
    });
  }
});
