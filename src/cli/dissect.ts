/**
 * A small dissector for diagnostics (`replay --expect`): turns a frame into an ordered list of named
 * fields (`ip.ttl`, `udp.srcport`, `vxlan.vni`, `inner.ip.dst`, …, Wireshark's names where there is one) so
 * two packets can be compared field by field. Not on the hot path: it allocates freely.
 *
 *   frame.len → [eth.* [vlan.id]] → ip.* | ipv6.* → udp.* → vxlan.* → inner.eth.* → inner.ip.* | inner.ipv6.*
 *                                                 → (IPIP, protocol 4 / 41) inner.ip.* | inner.ipv6.*
 *   → tcp.* | udp.* | icmp.* | icmpv6.* → payload (the remaining bytes, hex)
 */
import { ipv6ToString } from '../packet/ipv6.ts';
import { LINKTYPE_ETHERNET, locateL3, newL3Location } from '../io/linktype.ts';

export interface Field {
  /** The protocol layer, e.g. `ip`, `inner.eth`, `payload`. */
  layer: string;
  /** The full field name, `<layer>.<field>` (what `--ignore` takes), e.g. `inner.ip.ttl`. */
  name: string;
  value: string;
}

const hex = (n: number, w: number) => '0x' + n.toString(16).padStart(w, '0');
const mac = (b: Uint8Array, o: number) => Array.from(b.subarray(o, o + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
const u32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const ip4 = (b: Uint8Array, o: number) => `${b[o]}.${b[o + 1]}.${b[o + 2]}.${b[o + 3]}`;

/** Every field name {@link dissect} can produce (for checking `--ignore` lists). */
export const FIELD_NAMES: readonly string[] = (() => {
  const l4 = [
    'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum',
    'tcp.srcport', 'tcp.dstport', 'tcp.seq', 'tcp.ack', 'tcp.flags', 'tcp.window', 'tcp.checksum',
    'icmp.type', 'icmp.code', 'icmp.checksum', 'icmpv6.type', 'icmpv6.code', 'icmpv6.checksum',
  ];
  const ip = [
    'ip.version', 'ip.hdr_len', 'ip.dsfield', 'ip.len', 'ip.id', 'ip.flags', 'ip.frag_offset', 'ip.ttl', 'ip.proto',
    'ip.checksum', 'ip.src', 'ip.dst',
    'ipv6.version', 'ipv6.tclass', 'ipv6.flow', 'ipv6.plen', 'ipv6.nxt', 'ipv6.hlim', 'ipv6.src', 'ipv6.dst',
  ];
  const inner = ['eth.dst', 'eth.src', 'eth.type', ...ip, ...l4, 'payload'].map((f) => `inner.${f}`);
  return ['frame.len', 'frame.linktype', 'eth.dst', 'eth.src', 'eth.type', 'vlan.id', ...ip, ...l4, 'vxlan.flags', 'vxlan.vni', ...inner, 'payload'];
})();

class Fields {
  readonly list: Field[] = [];
  add(layer: string, field: string, value: string | number): void {
    this.list.push({ layer, name: `${layer}.${field}`, value: String(value) });
  }
  payload(prefix: string, b: Uint8Array, from: number, to: number): void {
    const name = `${prefix}payload`;
    this.list.push({ layer: name, name, value: Buffer.from(b.subarray(Math.min(from, to), to)).toString('hex') });
  }
}

/**
 * Dissect a captured frame of the given link type. The first field is `frame.len`; the last is `payload`
 * (or `inner.payload`: the bytes after the last layer understood, as hex).
 */
export function dissect(linkType: number, buf: Uint8Array): Field[] {
  const f = new Fields();
  f.add('frame', 'len', buf.length);
  const l3 = newL3Location();
  if (linkType === LINKTYPE_ETHERNET && buf.length >= 14) {
    f.add('eth', 'dst', mac(buf, 0));
    f.add('eth', 'src', mac(buf, 6));
  }
  if (locateL3(linkType, buf, 0, buf.length, l3) !== 0) {
    if (linkType === LINKTYPE_ETHERNET && buf.length >= 14) f.add('eth', 'type', hex(u16(buf, 12), 4));
    f.payload('', buf, linkType === LINKTYPE_ETHERNET ? 14 : 0, buf.length);
    return f.list;
  }
  if (linkType === LINKTYPE_ETHERNET) {
    if (l3.l3Off === 18) f.add('vlan', 'id', u16(buf, 14) & 0x0fff);
    f.add('eth', 'type', hex(l3.etherType, 4));
  }
  dissectIp(buf, l3.l3Off, buf.length, '', f);
  return f.list;
}

function dissectIp(b: Uint8Array, o: number, frameEnd: number, pfx: string, f: Fields): void {
  if (o >= frameEnd) return f.payload(pfx, b, o, frameEnd);
  const v = b[o]! >>> 4;
  let proto: number;
  let l4: number;
  let end: number;
  if (v === 4 && o + 20 <= frameEnd) {
    const L = `${pfx}ip`;
    const ihl = (b[o]! & 15) * 4;
    f.add(L, 'version', 4);
    f.add(L, 'hdr_len', ihl);
    f.add(L, 'dsfield', hex(b[o + 1]!, 2));
    f.add(L, 'len', u16(b, o + 2));
    f.add(L, 'id', hex(u16(b, o + 4), 4));
    f.add(L, 'flags', hex(b[o + 6]! >>> 5, 1));
    f.add(L, 'frag_offset', u16(b, o + 6) & 0x1fff);
    f.add(L, 'ttl', b[o + 8]!);
    f.add(L, 'proto', b[o + 9]!);
    f.add(L, 'checksum', hex(u16(b, o + 10), 4));
    f.add(L, 'src', ip4(b, o + 12));
    f.add(L, 'dst', ip4(b, o + 16));
    proto = (u16(b, o + 6) & 0x3fff) !== 0 ? -1 : b[o + 9]!; // a fragment: no L4 header to read
    l4 = o + Math.max(20, ihl);
    end = Math.min(frameEnd, o + u16(b, o + 2));
  } else if (v === 6 && o + 40 <= frameEnd) {
    const L = `${pfx}ipv6`;
    f.add(L, 'version', 6);
    f.add(L, 'tclass', hex(((b[o]! & 15) << 4) | (b[o + 1]! >>> 4), 2));
    f.add(L, 'flow', hex(u32(b, o) & 0xfffff, 5));
    f.add(L, 'plen', u16(b, o + 4));
    f.add(L, 'nxt', b[o + 6]!);
    f.add(L, 'hlim', b[o + 7]!);
    f.add(L, 'src', ipv6ToString(b, o + 8));
    f.add(L, 'dst', ipv6ToString(b, o + 24));
    proto = b[o + 6]!;
    l4 = o + 40;
    end = Math.min(frameEnd, o + 40 + u16(b, o + 4));
  } else {
    return f.payload(pfx, b, o, frameEnd);
  }
  if (end < l4) end = l4;
  if (proto === 17 && l4 + 8 <= end) {
    const L = `${pfx}udp`;
    f.add(L, 'srcport', u16(b, l4));
    f.add(L, 'dstport', u16(b, l4 + 2));
    f.add(L, 'length', u16(b, l4 + 4));
    f.add(L, 'checksum', hex(u16(b, l4 + 6), 4));
    const vx = l4 + 8;
    if (pfx === '' && vx + 8 + 14 <= end && (b[vx]! & 0x08) !== 0) {
      f.add('vxlan', 'flags', hex(b[vx]!, 2));
      f.add('vxlan', 'vni', (b[vx + 4]! << 16) | (b[vx + 5]! << 8) | b[vx + 6]!);
      const e = vx + 8;
      f.add('inner.eth', 'dst', mac(b, e));
      f.add('inner.eth', 'src', mac(b, e + 6));
      f.add('inner.eth', 'type', hex(u16(b, e + 12), 4));
      return dissectIp(b, e + 14, end, 'inner.', f);
    }
    return f.payload(pfx, b, vx, end);
  }
  if ((proto === 4 || proto === 41) && pfx === '') return dissectIp(b, l4, end, 'inner.', f);
  if (proto === 6 && l4 + 20 <= end) {
    const L = `${pfx}tcp`;
    f.add(L, 'srcport', u16(b, l4));
    f.add(L, 'dstport', u16(b, l4 + 2));
    f.add(L, 'seq', u32(b, l4 + 4));
    f.add(L, 'ack', u32(b, l4 + 8));
    f.add(L, 'flags', hex(u16(b, l4 + 12) & 0x1ff, 3));
    f.add(L, 'window', u16(b, l4 + 14));
    f.add(L, 'checksum', hex(u16(b, l4 + 16), 4));
    return f.payload(pfx, b, l4 + 20, end); // options stay in the payload
  }
  if ((proto === 1 || proto === 58) && l4 + 4 <= end) {
    const L = `${pfx}${proto === 1 ? 'icmp' : 'icmpv6'}`;
    f.add(L, 'type', b[l4]!);
    f.add(L, 'code', b[l4 + 1]!);
    f.add(L, 'checksum', hex(u16(b, l4 + 2), 4));
    return f.payload(pfx, b, l4 + 4, end);
  }
  return f.payload(pfx, b, l4, end);
}

export interface FieldDiff {
  layer: string;
  field: string;
  expected: string;
  got: string;
}

/** For a long hex value: where the first difference is, with a few bytes of context on each side. */
function describePayload(e: string, g: string): [string, string] {
  if (e.length <= 48 && g.length <= 48) return [e || '(empty)', g || '(empty)'];
  let i = 0;
  while (i < e.length && i < g.length && e[i] === g[i]) i++;
  const byte = i >> 1;
  const from = Math.max(0, byte - 4) * 2;
  const show = (h: string) => `${h.length / 2} B, @${byte}: ${from > 0 ? '…' : ''}${h.slice(from, from + 24)}${from + 24 < h.length ? '…' : ''}`;
  return [show(e), show(g)];
}

/**
 * Fields that differ between two dissections (skipping names in `ignore`), in packet order. Once the
 * layers no longer line up (different field names) the rest is one row for that field and the scan stops.
 */
export function diffFields(expected: Field[], got: Field[], ignore: ReadonlySet<string>): FieldDiff[] {
  const diffs: FieldDiff[] = [];
  const n = Math.max(expected.length, got.length);
  for (let i = 0; i < n; i++) {
    const e = expected[i];
    const g = got[i];
    const ref = (e ?? g)!;
    if (ignore.has(ref.name) || (g !== undefined && e !== undefined && e.name === g.name && ignore.has(g.name))) continue;
    if (e !== undefined && g !== undefined && e.name === g.name && e.value === g.value) continue;
    if (e !== undefined && g !== undefined && e.name === g.name) {
      const [ev, gv] = ref.layer.endsWith('payload') ? describePayload(e.value, g.value) : [e.value, g.value];
      diffs.push({ layer: ref.layer, field: ref.name, expected: ev, got: gv });
      continue;
    }
    // the layers no longer line up: say which field each side has here, then stop
    diffs.push({
      layer: ref.layer,
      field: e !== undefined && g !== undefined ? `${e.name} / ${g.name}` : ref.name,
      expected: e === undefined ? '(absent)' : `${e.name}=${e.value.slice(0, 40)}`,
      got: g === undefined ? '(absent)' : `${g.name}=${g.value.slice(0, 40)}`,
    });
    break;
  }
  return diffs;
}
