// CoDel (RFC 8289) control law as used on the underlay receive queue (src/dataplane/codel.ts).
import { describe, expect, it } from 'vitest';
import { Codel } from '../../src/dataplane/codel.ts';

/** Feed one packet every `stepUs` with the given sojourn; return the times at which it signalled. */
function run(c: Codel, fromUs: number, toUs: number, stepUs: number, sojournUs: number): number[] {
  const at: number[] = [];
  for (let t = fromUs; t < toUs; t += stepUs) if (c.onDequeue(sojournUs, t)) at.push(t);
  return at;
}

describe('Codel', () => {
  it('never signals while the sojourn stays below target, however long', () => {
    const c = new Codel(500, 5000);
    expect(run(c, 1000, 1_000_000, 10, 499)).toEqual([]);
    expect(c.signals).toBe(0);
  });

  it('first signal one interval after the sojourn went above target, then at interval/√count', () => {
    const c = new Codel(500, 5000);
    const at = run(c, 1000, 1000 + 20_000, 10, 800);
    // above target from t=1000: ok to drop from 1000 + 5000
    expect(at[0]).toBe(6000);
    // then after 5000/√1 (count 1), 5000/√2, 5000/√3 … (RFC 8289 control law; to the next 10 µs step)
    let t = 6000;
    for (let k = 1; k <= 4; k++) {
      t += 5000 / Math.sqrt(k);
      expect(at[k]).toBe(Math.ceil(t / 10) * 10);
    }
    expect(c.signals).toBe(at.length);
  });

  it('a dip below target resets the clock: no signal unless above target for a whole interval', () => {
    const c = new Codel(500, 5000);
    const at: number[] = [];
    // above for 4 ms, below once, above for 4 ms, below once … never 5 ms in a row
    for (let t = 1000; t < 200_000; t += 10) {
      const below = (t - 1000) % 4000 === 0;
      if (c.onDequeue(below ? 100 : 900, t)) at.push(t);
    }
    expect(at).toEqual([]);
  });

  it('leaves the dropping state when the queue drains, and resumes near the old rate if it comes back soon', () => {
    const c = new Codel(500, 5000);
    const first = run(c, 1000, 40_000, 10, 800); // many signals: count grows
    expect(first.length).toBeGreaterThan(4);
    expect(run(c, 40_000, 41_000, 10, 100)).toEqual([]); // drained: dropping ends
    // back above target: first signal again after a full interval, then faster than a fresh start
    const again = run(c, 41_000, 41_000 + 12_000, 10, 800);
    expect(again[0]).toBe(46_000);
    const fresh = run(new Codel(500, 5000), 41_000, 41_000 + 12_000, 10, 800);
    expect(again.length).toBeGreaterThan(fresh.length);
  });

  it('an unknown sojourn (-1) counts as below target', () => {
    const c = new Codel(500, 5000);
    expect(run(c, 0, 100_000, 10, -1)).toEqual([]);
  });

  it('refuses a target not below the interval', () => {
    expect(() => new Codel(5000, 5000)).toThrow(RangeError);
    expect(() => new Codel(0, 5000)).toThrow(RangeError);
  });
});
