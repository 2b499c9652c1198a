/**
 * A small dissector for diagnostics (`replay --expect`): turns a frame into an ordered list of named
 * fields (`ip.ttl`, `udp.srcport`, `vxlan.vni`, `inner.ip.dst`, …) so two packets can be compared field by
 * field. Not on the hot path: it allocates freely.
 */
import { LINKTYPE_ETHERNET, locateL3 } from '../io/linktype.ts';

export interface Field {
  name: string;
  value: string;
}

const hex = (n: number, w: number) => '0x' + n.toString(16).padStart(w, '0');
const mac = (b: Uint8Array, o: number) => Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const ip4 = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;
function ip6(b: Uint8Array, o: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 16; i += 2) parts.push(u16(b, o + i).toString(16));
  return parts.join(':').replace(/(^|:)0(:0)+(:|$)/, '::').replace(/:{3,}/, '::');
}

/** Dissect a captured frame of the given link type. The last field is `payload` (remaining bytes as hex). */
export function dissect(linkType: number, buf: Uint8Array): Field[] {
  const out: Field[] = [];
  const l3 = { l3Off: 0, etherType: 0 };
  if (linkType === LINKTYPE_ETHERNET) {
    if (buf.length < 14) return [{ name: 'frame', value: Buffer.from(buf).toString('hex') }];
    out.push({ name: 'eth.dst', value: mac(buf, 0) }, { name: 'eth.src', value: mac(buf, 6) });
  }
  if (locateL3(linkType, buf, 0, buf.length, l3) !== 0) {
    out.push({ name: 'eth.type', value: buf.length >= 14 ? hex(u16(buf, 12), 4) : '?' });
    out.push({ name: 'payload', value: Buffer.from(buf.subarray(Math.min(14, buf.length))).toString('hex') });
    return out;
  }
  if (linkType === LINKTYPE_ETHERNET) out.push({ name: 'eth.type', value: hex(l3.etherType, 4) });
  dissectIp(buf, l3.l3Off, '', out);
  return out;
}

function dissectIp(b: Uint8Array, o: number, pfx: string, out: Field[]): void {
  const f = (name: string, value: string | number): void => {
    out.push({ name: pfx + name, value: String(value) });
  };
  const rest = (at: number): void => f('payload', Buffer.from(b.subarray(Math.min(at, b.length))).toString('hex'));
  if (o >= b.length) return rest(o);
  const v = b[o]! >>> 4;
  let proto: number;
  let l4: number;
  let end: number;
  if (v === 4 && o + 20 <= b.length) {
    const ihl = (b[o]! & 15) * 4;
    f('ip.version', 4);
    f('ip.hdr_len', ihl);
    f('ip.dsfield', hex(b[o + 1]!, 2));
    f('ip.len', u16(b, o + 2));
    f('ip.id', hex(u16(b, o + 4), 4));
    f('ip.flags', hex(b[o + 6]! >>> 5, 1));
    f('ip.frag_offset', u16(b, o + 6) & 0x1fff);
    f('ip.ttl', b[o + 8]!);
    f('ip.proto', b[o + 9]!);
    f('ip.checksum', hex(u16(b, o + 10), 4));
    f('ip.src', ip4(b, o + 12));
    f('ip.dst', ip4(b, o + 16));
    proto = b[o + 9]!;
    l4 = o + ihl;
    end = Math.min(b.length, o + u16(b, o + 2));
  } else if (v === 6 && o + 40 <= b.length) {
    f('ipv6.version', 6);
    f('ipv6.tclass', hex(((b[o]! & 15) << 4) | (b[o + 1]! >>> 4), 2));
    f('ipv6.flow', hex(u32(b, o) & 0xfffff, 5));
    f('ipv6.plen', u16(b, o + 4));
    f('ipv6.nxt', b[o + 6]!);
    f('ipv6.hlim', b[o + 7]!);
    f('ipv6.src', ip6(b, o + 8));
    f('ipv6.dst', ip6(b, o + 24));
    proto = b[o + 6]!;
    l4 = o + 40;
    end = Math.min(b.length, o + 40 + u16(b, o + 4));
  } else {
    return rest(o);
  }
  if (proto === 17 && l4 + 8 <= end) {
    const dport = u16(b, l4 + 2);
    f('udp.srcport', u16(b, l4));
    f('udp.dstport', dport);
    f('udp.length', u16(b, l4 + 4));
    f('udp.checksum', hex(u16(b, l4 + 6), 4));
    const vx = l4 + 8;
    if (pfx === '' && vx + 8 + 14 <= end && (b[vx]! & 0x08) !== 0) {
      f('vxlan.flags', hex(b[vx]!, 2));
      f('vxlan.vni', (b[vx + 4]! << 16) | (b[vx + 5]! << 8) | b[vx + 6]!);
      const e = vx + 8;
      f('inner.eth.dst', mac(b, e));
      f('inner.eth.src', mac(b, e + 6));
      f('inner.eth.type', hex(u16(b, e + 12), 4));
      return dissectIp(b.subarray(0, end), e + 14, 'inner.', out);
    }
    return rest(l4 + 8);
  }
  if ((proto === 4 || proto === 41) && pfx === '') return dissectIp(b.subarray(0, end), l4, 'inner.', out);
  if (proto === 6 && l4 + 20 <= end) {
    f('tcp.srcport', u16(b, l4));
    f('tcp.dstport', u16(b, l4 + 2));
    f('tcp.seq', u32(b, l4 + 4));
    f('tcp.ack', u32(b, l4 + 8));
    f('tcp.flags', hex(u16(b, l4 + 12) & 0x1ff, 3));
    f('tcp.window', u16(b, l4 + 14));
    f('tcp.checksum', hex(u16(b, l4 + 16), 4));
    return rest(l4 + ((b[l4 + 12]! >>> 4) * 4));
  }
  if ((proto === 1 || proto === 58) && l4 + 4 <= end) {
    const p = proto === 1 ? 'icmp' : 'icmpv6';
    f(`${p}.type`, b[l4]!);
    f(`${p}.code`, b[l4 + 1]!);
    f(`${p}.checksum`, hex(u16(b, l4 + 2), 4));
    return rest(l4 + 4);
  }
  return rest(l4);
}

export interface FieldDiff {
  field: string;
  expected: string;
  got: string;
}

/** Fields that differ between two dissections (ignoring names in `ignore`), in packet order. */
export function diffFields(expected: Field[], got: Field[], ignore: ReadonlySet<string>): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const n = Math.max(expected.length, got.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const g = got[i];
    const name = e?.name ?? g!.name;
    if (ignore.has(name) || (g !== undefined && ignore.has(g.name))) continue;
    if (e === undefined || g === undefined || e.name !== g.name || e.value !== g.value) {
      diffs.push({ field: e?.name ?? g!.name, expected: e?.value ?? '(absent)', got: g?.value ?? '(absent)' });
      if (e?.name !== g?.name) break; // the layers no longer line up
    }
  }
  return diffs;
}
