/**
 * Config-time text forms for the FDB: IPv4 / IPv6 addresses and CIDRs, MAC addresses, and their canonical text.
 * Never used on the hot path (these allocate and may throw).
 *
 * Parsing is two-tier:
 *   1. A strict hand-written parser accepts only the plain forms config files actually contain: dotted-quad
 *      IPv4 without leading zeros, and IPv6 as 1..4-digit hex groups with at most one `::` (no embedded IPv4,
 *      no zone). It runs in well under a microsecond, so building a 100,000-prefix table stays fast.
 *   2. Anything the strict parser does not accept goes to ip-num, which has the final word: its Validator
 *      either accepts the text (then ip-num's value is used) or supplies the reason quoted in the VtepError.
 * test/fdb/text.test.ts checks with fast-check that every text the strict parser accepts is accepted by
 * ip-num with the same value, so tier 1 is only a shortcut, never a different grammar.
 * ip-num costs ~4–30 µs per call (BigInt inside), which is why it is not tier 1.
 */
import { createRequire } from 'node:module';

type IpNum = typeof import('ip-num');
let ipNumModule: IpNum | undefined;

/**
 * ip-num, loaded on first use: requiring it costs ~0.1 s of CPU at startup, and tier 1 decides every address
 * in the usual configs, so most runs (e.g. `vtep replay`) never need it.
 */
export function ipNum(): IpNum {
  return (ipNumModule ??= createRequire(import.meta.url)('ip-num') as IpNum);
}

/** A parsed IPv4 prefix: network address (uint32, host bits as written) and length 0..32. */
export interface Cidr4Text {
  addr: number;
  len: number;
}

/** A parsed IPv6 prefix: 16 address bytes (host bits as written) and length 0..128. */
export interface Cidr6Text {
  bytes: Uint8Array;
  len: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Tier 1: strict parsers

/** Strict dotted-quad IPv4 in s[start, end): uint32, or -1 if not in the strict grammar. */
export function parseIPv4Strict(s: string, start = 0, end = s.length): number {
  let value = 0;
  let parts = 0;
  let i = start;
  while (parts < 4) {
    const first = i;
    let octet = 0;
    while (i < end) {
      const c = s.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      octet = octet * 10 + c;
      i++;
      if (i - first > 3) return -1;
    }
    const digits = i - first;
    if (digits === 0 || octet > 255 || (digits > 1 && s.charCodeAt(first) === 48)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= end || s.charCodeAt(i) !== 46 /* . */) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parses colon-separated 1..4-digit hex groups of s[start, end) into `groups`; returns the count or -1. */
function parseGroups(s: string, start: number, end: number, groups: number[]): number {
  if (start === end) return 0;
  let n = 0;
  let i = start;
  for (;;) {
    const first = i;
    let g = 0;
    while (i < end) {
      const d = hexDigit(s.charCodeAt(i));
      if (d < 0) break;
      g = g * 16 + d;
      i++;
    }
    if (i === first || i - first > 4) return -1;
    groups.push(g);
    n++;
    if (i === end) return n;
    if (s.charCodeAt(i) !== 58 /* : */) return -1;
    i++;
    if (i === end) return -1; // trailing single colon
  }
}

/**
 * Strict IPv6 (RFC 4291 section 2.2 forms 1 and 2: hex groups, at most one `::`) in s[start, end), written to
 * out[o, o+16). Returns false (out unspecified) if not in the strict grammar.
 */
export function parseIPv6Strict(s: string, out: Uint8Array, o = 0, start = 0, end = s.length): boolean {
  if (end - start < 2 || end - start > 39) return false;
  const dc = s.indexOf('::', start);
  const head: number[] = [];
  const tail: number[] = [];
  if (dc < 0 || dc >= end) {
    if (parseGroups(s, start, end, head) !== 8) return false;
  } else {
    const again = s.indexOf('::', dc + 1);
    if (again >= 0 && again < end) return false; // a second '::' (or ':::')
    if (parseGroups(s, start, dc, head) < 0) return false;
    if (parseGroups(s, dc + 2, end, tail) < 0) return false;
    if (head.length + tail.length > 7) return false; // '::' stands for at least one group
  }
  out.fill(0, o, o + 16);
  for (let k = 0; k < head.length; k++) {
    out[o + 2 * k] = head[k]! >>> 8;
    out[o + 2 * k + 1] = head[k]! & 255;
  }
  const t0 = 8 - tail.length;
  for (let k = 0; k < tail.length; k++) {
    out[o + 2 * (t0 + k)] = tail[k]! >>> 8;
    out[o + 2 * (t0 + k) + 1] = tail[k]! & 255;
  }
  return true;
}

/** Strict decimal prefix length 0..max without leading zeros in s[start, end), or -1. */
function parsePrefixLenStrict(s: string, start: number, end: number, max: number): number {
  const digits = end - start;
  if (digits < 1 || digits > 3 || (digits > 1 && s.charCodeAt(start) === 48)) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v <= max ? v : -1;
}

// ---------------------------------------------------------------------------------------------------------------
// Tier 2: ip-num (authority for everything outside the strict grammar)

function ipNumVerdict(check: () => [boolean, string[]]): string | null {
  try {
    const [ok, why] = check();
    return ok ? null : why.join('; ') || 'invalid';
  } catch (e) {
    // ip-num throws (instead of answering false) on some malformed text, e.g. a zone index inside a CIDR
    return e instanceof Error ? e.message : 'invalid';
  }
}

function bigToBytes(v: bigint, out: Uint8Array): void {
  for (let k = 15; k >= 0; k--) {
    out[k] = Number(v & 0xffn);
    v >>= 8n;
  }
}

/** Why the text is not an address/CIDR, thrown as a plain Error for the caller to wrap with the node name. */
export class TextError extends Error {}

/** IPv4 address text → uint32. Throws TextError. */
export function parseIPv4(s: string): number {
  const v = parseIPv4Strict(s);
  if (v >= 0) return v;
  const why = ipNumVerdict(() => ipNum().Validator.isValidIPv4String(s));
  if (why !== null) throw new TextError(why);
  return Number(ipNum().IPv4.fromString(s).getValue());
}

/** IPv6 address text → 16 bytes. Zone indexes (`%eth0`) are refused. Throws TextError. */
export function parseIPv6(s: string): Uint8Array {
  const out = new Uint8Array(16);
  if (parseIPv6Strict(s, out)) return out;
  if (s.includes('%')) throw new TextError('zone index (%…) not supported');
  const why = ipNumVerdict(() => ipNum().Validator.isValidIPv6String(s));
  if (why !== null) throw new TextError(why);
  bigToBytes(new (ipNum().IPv6)(s).getValue(), out);
  return out;
}

/** IPv4 CIDR text → {addr, len}, host bits kept as written (the caller rejects them). Throws TextError. */
export function parseCidr4(s: string): Cidr4Text {
  const slash = s.indexOf('/');
  if (slash > 0) {
    const addr = parseIPv4Strict(s, 0, slash);
    const len = addr >= 0 ? parsePrefixLenStrict(s, slash + 1, s.length, 32) : -1;
    if (len >= 0) return { addr, len };
  }
  const why = ipNumVerdict(() => ipNum().Validator.isValidIPv4CidrNotation(s));
  if (why !== null) throw new TextError(why);
  const len = Number(ipNum().IPv4CidrRange.fromCidr(s).getPrefix().getValue());
  const addr = Number(ipNum().IPv4.fromString(s.slice(0, slash)).getValue());
  if (!(len >= 0 && len <= 32) || !(addr >= 0 && addr <= 0xffffffff)) throw new TextError('invalid');
  return { addr, len };
}

/** IPv6 CIDR text → {bytes, len}, host bits kept as written. Throws TextError. */
export function parseCidr6(s: string): Cidr6Text {
  const bytes = new Uint8Array(16);
  const slash = s.indexOf('/');
  if (slash > 0 && parseIPv6Strict(s, bytes, 0, 0, slash)) {
    const len = parsePrefixLenStrict(s, slash + 1, s.length, 128);
    if (len >= 0) return { bytes, len };
  }
  if (s.includes('%')) throw new TextError('zone index (%…) not supported');
  const why = ipNumVerdict(() => ipNum().Validator.isValidIPv6CidrNotation(s));
  if (why !== null) throw new TextError(why);
  const len = Number(ipNum().IPv6CidrRange.fromCidr(s).getPrefix().getValue());
  bigToBytes(new (ipNum().IPv6)(s.slice(0, slash)).getValue(), bytes);
  if (!(len >= 0 && len <= 128)) throw new TextError('invalid');
  return { bytes, len };
}

/** MAC text "02:00:00:00:00:0a" (colon-separated, case-insensitive) → 6 bytes. Throws TextError. */
export function parseMac(s: string): Uint8Array {
  if (typeof s !== 'string' || s.length !== 17) throw new TextError('expected 6 colon-separated hex bytes');
  const out = new Uint8Array(6);
  for (let k = 0; k < 6; k++) {
    const hi = hexDigit(s.charCodeAt(3 * k));
    const lo = hexDigit(s.charCodeAt(3 * k + 1));
    if (hi < 0 || lo < 0 || (k < 5 && s.charCodeAt(3 * k + 2) !== 58)) {
      throw new TextError('expected 6 colon-separated hex bytes');
    }
    out[k] = hi * 16 + lo;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Masks and canonical text

/** uint32 network mask for a prefix length 0..32. */
export function mask4(len: number): number {
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** Zeroes the host bits of bytes[o, o+16) beyond `len` in place. */
export function maskBytes6(bytes: Uint8Array, len: number, o = 0): void {
  for (let k = 0; k < 16; k++) {
    const keep = len - 8 * k;
    if (keep >= 8) continue;
    bytes[o + k] = keep <= 0 ? 0 : bytes[o + k]! & ((0xff << (8 - keep)) & 0xff);
  }
}

export function formatIPv4(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest (first on a tie) run of ≥ 2 zero groups as `::`. */
export function formatIPv6(bytes: Uint8Array, o = 0): string {
  const g: number[] = [];
  for (let k = 0; k < 8; k++) g.push((bytes[o + 2 * k]! << 8) | bytes[o + 2 * k + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let k = 0; k < 8; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let j = k;
    while (j < 8 && g[j] === 0) j++;
    if (j - k > bestLen) {
      bestAt = k;
      bestLen = j - k;
    }
    k = j;
  }
  const hex = (a: number, b: number) => g.slice(a, b).map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

export function formatMac(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}
