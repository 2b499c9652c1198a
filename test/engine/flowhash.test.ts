import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { portFromHash, portFromHashScaled, portScale } from '../../src/engine/flowhash.ts';

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
