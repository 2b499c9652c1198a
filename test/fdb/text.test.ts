/**
 * The strict fast parsers are a shortcut in front of ip-num, never a different grammar: whatever they accept,
 * ip-num accepts with the same value; and parseCidr4/parseCidr6 accept exactly what ip-num accepts.
 */
import fc from 'fast-check';
import { IPv4, IPv4CidrRange, IPv6, Validator } from 'ip-num';
import { describe, expect, it } from 'vitest';
import {
  formatIPv4,
  formatIPv6,
  parseCidr4,
  parseCidr6,
  parseIPv4,
  parseIPv4Strict,
  parseIPv6,
  parseIPv6Strict,
  parseMac,
} from '../../src/fdb/text.ts';

const ipNumOk = (f: () => [boolean, string[]]): boolean => {
  try {
    return f()[0];
  } catch {
    return false;
  }
};
const toBig = (b: Uint8Array) => b.reduce((a, x) => (a << 8n) | BigInt(x), 0n);

/** Near-valid dotted quads: octets 0..300, sometimes with a leading zero; optional prefix 0..40. */
const quad = fc
  .tuple(
    fc.array(fc.tuple(fc.integer({ min: 0, max: 300 }), fc.boolean()), { minLength: 3, maxLength: 5 }),
    fc.option(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.boolean())),
  )
  .map(([octets, prefix]) => {
    const s = octets.map(([v, zero]) => (zero ? `0${v}` : `${v}`)).join('.');
    return prefix === null ? s : `${s}/${prefix[1] ? '0' : ''}${prefix[0]}`;
  });
const junk4 = fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', '.', '/', '3', ' ', '-'), maxLength: 20 });

/** IPv6 text in the many ways it can be written: case, leading zeros, any '::' placement, embedded IPv4. */
const v6text = fc
  .tuple(
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }),
    fc.nat(8),
    fc.nat(8),
    fc.boolean(),
    fc.boolean(),
    fc.boolean(),
  )
  .map(([g, a, b, upper, pad, dotted]) => {
    const from = Math.min(a, b);
    const to = Math.max(a, b); // groups from..to-1 written as '::' (and so zero) when to > from
    const squeeze = to > from;
    const withDots = dotted && (!squeeze || to <= 6);
    const value = g.map((x, k) => (squeeze && k >= from && k < to ? 0 : x)).reduce((v, x) => (v << 16n) | BigInt(x), 0n);
    const hex = (x: number) => {
      const h = pad ? x.toString(16).padStart(4, '0') : x.toString(16);
      return upper ? h.toUpperCase() : h;
    };
    const part = (k0: number, k1: number) => {
      const out: string[] = [];
      for (let k = k0; k < k1; k++) {
        if (withDots && k === 6) {
          out.push(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`);
          break;
        }
        out.push(hex(g[k]!));
      }
      return out.join(':');
    };
    const text = squeeze ? `${part(0, from)}::${part(to, 8)}` : part(0, 8);
    return { text, value, dotted: withDots };
  });
const junk6 = fc.string({ unit: fc.constantFrom('0', '1', 'a', 'F', ':', ':', '.', '/', '%', 'g', '8'), maxLength: 24 });
/** Colon-joined tokens, empty ones included: '1::::', ':1', nine groups, five-digit groups, '::' twice… */
const tokens6 = fc
  .array(fc.constantFrom('', '', '0', '1', 'ffff', 'FfFf', '00000', '12345', 'g', '1.2.3.4'), { minLength: 1, maxLength: 11 })
  .map((t) => t.join(':'));

describe('IPv4 text', () => {
  it('strict parser accepts only what ip-num accepts, with the same value', () => {
    fc.assert(
      fc.property(fc.oneof(quad, junk4), (s) => {
        const v = parseIPv4Strict(s);
        if (v >= 0) {
          expect(ipNumOk(() => Validator.isValidIPv4String(s))).toBe(true);
          expect(v).toBe(Number(IPv4.fromString(s).getValue()));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('strict parser accepts every canonical dotted quad (so the fast path is taken)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
        expect(parseIPv4Strict(formatIPv4(a))).toBe(a);
        expect(parseIPv4(formatIPv4(a))).toBe(a);
      }),
    );
  });

  it('parseCidr4 accepts exactly what ip-num accepts, with the same value', () => {
    fc.assert(
      fc.property(fc.oneof(quad, junk4), (s) => {
        const ok = ipNumOk(() => Validator.isValidIPv4CidrNotation(s));
        let got: { addr: number; len: number } | null = null;
        try {
          got = parseCidr4(s);
        } catch {
          got = null;
        }
        expect(got !== null).toBe(ok);
        if (got) {
          const r = IPv4CidrRange.fromCidr(s);
          expect(got.len).toBe(Number(r.getPrefix().getValue()));
          expect((got.addr & (got.len ? (0xffffffff << (32 - got.len)) >>> 0 : 0)) >>> 0).toBe(Number(r.getFirst().getValue()));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps host bits as written (the FDB rejects them)', () => {
    expect(parseCidr4('10.244.1.5/24')).toEqual({ addr: 0x0af40105, len: 24 });
  });
});

describe('IPv6 text', () => {
  it('strict parser reads every plain form with the right value; ip-num agrees', () => {
    fc.assert(
      fc.property(v6text, ({ text, value, dotted }) => {
        const out = new Uint8Array(16);
        // the strict grammar leaves out only embedded IPv4; ip-num reads those
        expect(parseIPv6Strict(text, out)).toBe(!dotted);
        if (!dotted) expect(toBig(out)).toBe(value);
        expect(new IPv6(text).getValue()).toBe(value);
        expect(toBig(parseIPv6(text))).toBe(value);
      }),
      { numRuns: 2000 },
    );
  });

  it('strict parser accepts only what ip-num accepts, with the same value', () => {
    fc.assert(
      fc.property(fc.oneof(junk6, tokens6), (s) => {
        const out = new Uint8Array(16);
        if (parseIPv6Strict(s, out)) {
          expect(ipNumOk(() => Validator.isValidIPv6String(s))).toBe(true);
          expect(toBig(out)).toBe(new IPv6(s).getValue());
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parseCidr6 accepts exactly what ip-num accepts (zone indexes refused)', () => {
    fc.assert(
      fc.property(fc.oneof(v6text.map((v) => `${v.text}/64`), junk6, tokens6.map((t) => `${t}/48`)), (s) => {
        const ok = !s.includes('%') && ipNumOk(() => Validator.isValidIPv6CidrNotation(s));
        let got: { bytes: Uint8Array; len: number } | null;
        try {
          got = parseCidr6(s);
        } catch {
          got = null;
        }
        expect(got !== null).toBe(ok);
        if (got) expect(toBig(got.bytes)).toBe(new IPv6(s.slice(0, s.indexOf('/'))).getValue());
      }),
      { numRuns: 2000 },
    );
  });

  it('formats RFC 5952 text', () => {
    const b = (s: string) => parseIPv6(s);
    expect(formatIPv6(b('2001:0db8:0000:0000:0000:0000:0000:0001'))).toBe('2001:db8::1');
    expect(formatIPv6(b('2001:db8:0:1:1:1:1:1'))).toBe('2001:db8:0:1:1:1:1:1'); // one zero group stays
    expect(formatIPv6(b('2001:0:0:1:0:0:0:1'))).toBe('2001:0:0:1::1'); // longest run
    expect(formatIPv6(b('2001:db8:0:0:1:0:0:1'))).toBe('2001:db8::1:0:0:1'); // first of equal runs
    expect(formatIPv6(b('0:0:0:0:0:0:0:0'))).toBe('::');
    expect(formatIPv6(b('0:0:0:0:0:0:0:1'))).toBe('::1');
    expect(formatIPv6(b('1:0:0:0:0:0:0:0'))).toBe('1::');
    expect(formatIPv6(b('FD00:10:244::'))).toBe('fd00:10:244::');
  });

  it('formatIPv6 round-trips through the strict parser and ip-num', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.boolean(), (bytes, zeroRun) => {
        if (zeroRun) bytes.fill(0, 4, 10);
        const text = formatIPv6(bytes);
        const out = new Uint8Array(16);
        expect(parseIPv6Strict(text, out)).toBe(true);
        expect([...out]).toEqual([...bytes]);
        expect(new IPv6(text).getValue()).toBe(toBig(bytes));
      }),
    );
  });
});

describe('MAC text', () => {
  it('reads six colon-separated hex bytes, any case', () => {
    expect([...parseMac('02:0a:FF:00:9b:01')]).toEqual([2, 10, 255, 0, 0x9b, 1]);
    for (const bad of ['02:0a:ff:00:9b', '02:0a:ff:00:9b:1', '02-0a-ff-00-9b-01', '02:0a:ff:00:9b:0g', '02:0a:ff:00:9b:01:']) {
      expect(() => parseMac(bad)).toThrow();
    }
  });
});
