/**
 * Value parsers for the config loader (src/control/config.ts): IP addresses, CIDRs, MACs, interface
 * names, and the "did you mean" helper. Config-time only (allocates freely, never on the hot path).
 *
 * Each parser returns the parsed value or a `string` reason that completes a sentence after the quoted
 * value, e.g. `has host bits set (did you mean 10.244.2.0/24?)`; config.ts prefixes file, key path and
 * value. Addresses are parsed by the strict grammar of src/fdb/text.ts, else checked with ip-num's Validator
 * (loaded only then), and formatted canonically here (dotted quad; RFC 5952 lowercase compressed IPv6).
 */
import { ipNum, parseIPv4Strict, parseIPv6Strict } from '../fdb/text.ts';

export type Family = 4 | 6;

/** A validated IP address. `text` is canonical (RFC 5952 for IPv6). */
export interface ParsedIP {
  family: Family;
  value: bigint;
  text: string;
}

/** A validated CIDR with no host bits set. `text` is canonical, e.g. "fd00:10:244:2::/64". */
export interface ParsedCIDR {
  family: Family;
  network: bigint;
  prefix: number;
  text: string;
}

const V4_BITS = 32;
const V6_BITS = 128;

export function bitsOf(family: Family): number {
  return family === 4 ? V4_BITS : V6_BITS;
}

/** Dotted-quad text of a 32-bit value. */
export function formatIPv4(value: bigint): string {
  const n = Number(value);
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** RFC 5952 text of a 128-bit value: lowercase, no leading zeros, the longest run (≥ 2) of zero groups as "::". */
export function formatIPv6(value: bigint): string {
  const groups: number[] = [];
  for (let i = 7; i >= 0; i--) groups.push(Number((value >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 1; // a single zero group is never compressed (RFC 5952 §4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  const head = hex.slice(0, bestStart).join(':');
  const tail = hex.slice(bestStart + bestLen).join(':');
  return `${head}::${tail}`;
}

export function formatIP(family: Family, value: bigint): string {
  return family === 4 ? formatIPv4(value) : formatIPv6(value);
}

/** Parses an IPv4 or IPv6 address (no prefix, no zone index, no brackets). */
export function parseIP(text: string): ParsedIP | string {
  if (text.includes('/')) return 'is a CIDR; an address without a prefix is expected';
  if (text.includes(':')) {
    if (text.includes('%')) return 'has a zone index; a global address without %zone is expected';
    // the strict grammar (src/fdb/text.ts) is a subset of ip-num's with the same values: ip-num (slow to load)
    // only for the rest
    const bytes = new Uint8Array(16);
    if (parseIPv6Strict(text, bytes)) {
      let value = 0n;
      for (let k = 0; k < 16; k++) value = (value << 8n) | BigInt(bytes[k]!);
      return { family: 6, value, text: formatIPv6(value) };
    }
    const { Validator, IPv6 } = ipNum();
    const [ok] = Validator.isValidIPv6String(text);
    if (!ok) return 'is not a valid IPv6 address';
    const value = new IPv6(text).getValue();
    return { family: 6, value, text: formatIPv6(value) };
  }
  const strict = parseIPv4Strict(text);
  if (strict >= 0) return { family: 4, value: BigInt(strict), text: formatIPv4(BigInt(strict)) };
  const { Validator, IPv4 } = ipNum();
  const [ok] = Validator.isValidIPv4String(text);
  if (!ok) return 'is not a valid IPv4 or IPv6 address';
  const value = new IPv4(text).getValue();
  return { family: 4, value, text: formatIPv4(value) };
}

/** Parses "address/prefix"; rejects host bits, naming the network the user probably meant. */
export function parseCIDR(text: string): ParsedCIDR | string {
  const slash = text.indexOf('/');
  if (slash < 0) return 'is not a CIDR (expected address/prefix, e.g. 10.244.1.0/24)';
  const addr = parseIP(text.slice(0, slash));
  if (typeof addr === 'string') return `is not a CIDR: address ${addr.replace(/^is /, '')}`;
  const prefixText = text.slice(slash + 1);
  const bits = bitsOf(addr.family);
  if (!/^[0-9]{1,3}$/.test(prefixText) || Number(prefixText) > bits) {
    return `has an invalid prefix length "/${prefixText}" (IPv${addr.family}: 0..${bits})`;
  }
  const prefix = Number(prefixText);
  const hostMask = (1n << BigInt(bits - prefix)) - 1n;
  const network = addr.value & ~hostMask;
  const canonical = `${formatIP(addr.family, network)}/${prefix}`;
  if (addr.value !== network) return `has host bits set (did you mean ${canonical}?)`;
  return { family: addr.family, network, prefix, text: canonical };
}

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** Parses a unicast MAC "02:00:00:00:00:01" into canonical lowercase text. */
export function parseUnicastMAC(text: string): string | { text: string; bytes: Uint8Array } {
  if (!MAC_RE.test(text)) return 'is not a MAC address (expected six colon-separated hex pairs, e.g. "02:00:00:00:00:01")';
  const bytes = Uint8Array.from(text.split(':').map((h) => parseInt(h, 16)));
  const canonical = text.toLowerCase();
  if (bytes.every((b) => b === 0xff)) return 'is the broadcast MAC; a unicast MAC is required';
  if ((bytes[0]! & 1) !== 0) return 'is a multicast MAC (low bit of the first octet set); a unicast MAC is required';
  if (bytes.every((b) => b === 0)) return 'is the all-zero MAC; a unicast MAC is required';
  return { text: canonical, bytes };
}

/** Linux IFNAMSIZ is 16 including the terminating NUL. */
export const IFNAME_MAX = 15;

/** Checks an interface name the way Linux dev_valid_name() does. Returns a reason, or null if valid. */
export function checkIfName(name: string): string | null {
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0) return 'is empty; an interface name is required';
  if (bytes > IFNAME_MAX) return `is ${bytes} bytes long; Linux interface names are at most ${IFNAME_MAX}`;
  if (name === '.' || name === '..') return 'is not a valid interface name';
  // dev_valid_name(): no '/', ':' or whitespace; we also refuse control characters and '%' (a name template).
  if (/[/:%\s\x00-\x1f\x7f]/.test(name)) return 'contains a character not allowed in interface names (/ : % whitespace or control)';
  return null;
}

/** Edit distance counting an adjacent transposition as one edit (optimal string alignment), for "did you mean". */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1);
    row[0] = i;
    rows.push(row);
  }
  for (let j = 0; j <= b.length; j++) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = rows[i]!;
    const up = rows[i - 1]!;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(up[j]! + 1, row[j - 1]! + 1, up[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2]![j - 2]! + 1);
      row[j] = d;
    }
  }
  return rows[a.length]![b.length]!;
}

/**
 * The candidate nearest to `word` if it is a near miss: equal ignoring case/punctuation, or within an edit
 * distance of 2 (1 for words of up to 4 letters). Returns undefined if nothing is close.
 */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  const squash = (s: string) => s.toLowerCase().replace(/[-_\s]/g, '');
  const w = squash(word);
  let best: string | undefined;
  let bestDist = Infinity;
  for (const c of candidates) {
    const d = squash(c) === w ? 0 : editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDist) {
      best = c;
      bestDist = d;
    }
  }
  const limit = word.length <= 4 ? 1 : 2;
  return bestDist <= limit ? best : undefined;
}

/** Quotes a config value for a message: strings in double quotes, others as compact JSON, cut at 60 chars. */
export function show(value: unknown): string {
  let s: string;
  if (value === undefined) s = 'undefined';
  else if (typeof value === 'bigint') s = value.toString();
  else {
    try {
      s = JSON.stringify(value) ?? String(value);
    } catch {
      s = String(value);
    }
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** "a string", "a number", "a list", "a mapping", "null" — for type-mismatch reasons. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'number') return Number.isInteger(value) ? 'an integer' : 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return `a ${typeof value}`;
}
