import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { flowHash4, flowHash6, flowHash6Words, portFromHash, portFromHashScaled, portScale } from '../../src/engine/flowhash.ts';

/** udp_flow_src_port(): min + ((u64)hash * range) >> 32, in exact integer arithmetic. */
function refPort(hash: number, min: number, max: number): number {
  return min + Number((BigInt(hash >>> 0) * BigInt(max - min + 1)) >> 32n);
}

describe('source port from the flow hash', () => {
  it('portFromHash and portFromHashScaled equal the exact 64-bit formula', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -0x80000000, max: 0x7fffffff }),
        fc.integer({ min: 0, max: 65535 }),
        fc.integer({ min: 0, max: 65535 }),
        (hash, a, b) => {
          const min = Math.min(a, b);
          const max = Math.max(a, b);
          const want = refPort(hash, min, max);
          expect(portFromHash(hash, min, max)).toBe(want);
          expect(portFromHashScaled(hash, min, portScale(min, max))).toBe(want);
        },
      ),
      { numRuns: 20000 },
    );
  });
  it('edges: hash 0 gives min, hash 0xffffffff gives max', () => {
    for (const [min, max] of [[32768, 60999], [0, 65535], [4789, 4789], [1000, 1009]] as const) {
      for (const h of [0, -1, 0x7fffffff, -0x80000000, 0xffffffff]) {
        expect(portFromHashScaled(h, min, portScale(min, max))).toBe(refPort(h, min, max));
      }
      expect(portFromHashScaled(0, min, portScale(min, max))).toBe(min);
      expect(portFromHashScaled(-1, min, portScale(min, max))).toBe(max);
    }
  });
});

describe('flow hash', () => {
  const b = new Uint8Array(40);
  for (let i = 0; i < 40; i++) b[i] = (i * 37 + 11) & 0xff;

  it('known answers (values of the first implementation: a change here changes every source port)', () => {
    expect(flowHash6(b, 0, 16, 6, 0x1f900050)).toBe(-444808063);
    expect(flowHash6(b, 8, 24, 17, 0)).toBe(1525660941);
    expect(flowHash6(b, 3, 21, 58, 0xffffffff)).toBe(-1715125185);
    expect(flowHash4(0x0af40102, 0x0af40203, 6, 0x9c400050)).toBe(1442245043);
    expect(flowHash4(0xc6336401, 0xffffffff, 17, 0x80000000)).toBe(2128053009);
  });

  it('flowHash6Words over words read as uint32 or int32 equals flowHash6 over the bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.nat(255), fc.integer({ min: -0x80000000, max: 0xffffffff }), (a, proto, ports) => {
        const dv = new DataView(a.buffer, a.byteOffset);
        const u = [0, 4, 8, 12, 16, 20, 24, 28].map((o) => dv.getUint32(o));
        const i = [0, 4, 8, 12, 16, 20, 24, 28].map((o) => dv.getInt32(o));
        const want = flowHash6(a, 0, 16, proto, ports);
        expect(flowHash6Words(u[0]!, u[1]!, u[2]!, u[3]!, u[4]!, u[5]!, u[6]!, u[7]!, proto, ports)).toBe(want);
        expect(flowHash6Words(i[0]!, i[1]!, i[2]!, i[3]!, i[4]!, i[5]!, i[6]!, i[7]!, proto, ports)).toBe(want);
        // IPv4: uint32 and int32 addresses hash alike
        expect(flowHash4(u[0]!, u[1]!, proto, ports)).toBe(flowHash4(i[0]!, i[1]!, proto, ports | 0));
      }),
      { numRuns: 2000 },
    );
  });
});
