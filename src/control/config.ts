/**
 * The config loader: one YAML file describes this node, its peers and the tunnel. It is validated once,
 * here, so that the engine can trust every value (VNI < 2^24, ports, MTU, canonical addresses).
 *
 * ## Config reference
 *
 * | key | type / range | default | meaning |
 * |---|---|---|---|
 * | `backend` | `vxlan` \| `ipip` | `vxlan` | Encapsulation. `ipip` carries inner IPv4 as protocol 4 and inner IPv6 as protocol 41, over either underlay family. |
 * | `vxlan.vni` | 0..16777215 | `1` | VXLAN Network Identifier (flannel uses 1). |
 * | `vxlan.port` | 1..65535 | `4789` | UDP destination port, and the port we listen on (IANA 4789; flannel's own default is 8472). |
 * | `vxlan.srcPortRange` | `[low, high]`, 1..65535, low ≤ high | `[32768, 60999]` | Outer UDP source port range for the inner-flow hash, inclusive (Linux `ip_local_port_range`). |
 * | `vxlan.udpChecksum` | boolean | `true` | Compute the outer UDP checksum over an IPv4 underlay. Setting `false` over IPv6 is an error (use `udp6ZeroChecksumTx`). |
 * | `vxlan.udp6ZeroChecksumTx` | boolean | `false` | Send a zero outer UDP checksum over IPv6 (RFC 6935). `true` over IPv4 is an error. |
 * | `vxlan.udp6ZeroChecksumRx` | boolean | `false` | Accept a zero outer UDP checksum over IPv6. `true` over IPv4 is an error. |
 * | `vxlan.verifyUdpChecksum` | boolean | `true` | Verify non-zero outer UDP checksums on receive; `false` = trust (the kernel socket already verified). |
 * | `underlay.mtu` | 576..65535 (IPv6 underlay: 1280..65535) | `1500` | Underlay MTU: the largest outer IP packet. |
 * | `underlay.ttl` | 1..255 or `inherit` | `64` | Outer TTL / hop limit; `inherit` copies the inner one. |
 * | `underlay.tos` | 0..255 or `inherit` | `inherit` | Outer TOS / traffic class; `inherit` copies DSCP and ECN (RFC 6040 normal mode). |
 * | `underlay.df` | `unset` \| `set` \| `inherit` | `unset` | Outer IPv4 DF bit. A value other than `unset` over an IPv6 underlay is an error. |
 * | `node` | mapping | required | This node: `name`, `underlayIP`, `vtepMAC`, `underlayMAC`, `podCIDRs` as for a peer. |
 * | `node.name` / `peers[i].name` | string, unique | required | Node name. |
 * | `node.underlayIP` / `peers[i].underlayIP` | IPv4 or IPv6 address, unique | required | Node (underlay) address. Every peer must be in the same family as `node.underlayIP`. |
 * | `node.vtepMAC` / `peers[i].vtepMAC` | unicast MAC, unique | required | MAC of the node's VTEP (flannel.1 `VtepMAC`): inner Ethernet source / destination. Quote it. |
 * | `node.underlayMAC` / `peers[i].underlayMAC` | unicast MAC | none (zeros) | Outer Ethernet source (node) / destination (peer) MAC in Ethernet-framed output (replay). |
 * | `node.podCIDRs` / `peers[i].podCIDRs` | list of IPv4 / IPv6 CIDRs, ≥ 1 | required | Pod subnets the node owns. No host bits; no CIDR may overlap another (in the same node or any other). |
 * | `peers` | list of nodes | `[]` | The other nodes. |
 * | `tun.name` | interface name, ≤ 15 bytes | `vtep0` | TUN device name (Linux `dev_valid_name` rules; no `%`). |
 * | `tun.mtu` | `auto` or 68..65535 | `auto` | TUN MTU. `auto` = `underlay.mtu` − 50 (vxlan/IPv4), − 70 (vxlan/IPv6), − 20 (ipip/IPv4), − 40 (ipip/IPv6). A number above `auto` is an error; with IPv6 pod CIDRs it must be ≥ 1280. |
 * | `tun.txqueuelen` | 0..4294967295 | `10000` | TUN transmit queue length. |
 *
 * A `vxlan:` section with `backend: ipip` is an error. Unknown keys are errors (with "did you mean" for
 * near misses): a typo silently ignored is the worst outcome.
 *
 * ## Errors
 * Every problem is one line, `<file>: <key path>: <value> <reason>`, e.g.
 * `node.yaml: peers[1].podCIDRs[0]: "10.244.2.5/24" has host bits set (did you mean 10.244.2.0/24?)`.
 * All problems found are reported together in one `VtepError('CONFIG', lines.join('\n'))`: one line
 * each, at most {@link MAX_PROBLEMS}, in a fixed order (node, peers, underlay, vxlan, cross-node checks,
 * tun). YAML syntax errors are `<file>:<line>:<col>: <reason>`; an unreadable file is
 * `<file>: cannot read: <errno code>`.
 */
import { readFileSync } from 'node:fs';
import { parseDocument, type YAMLError } from 'yaml';
import { defaultEngineOptions, type Backend, type EngineOptions } from '../engine/options.ts';
import type { NodeEntry } from '../fdb/types.ts';
import { VtepError } from '../util/errors.ts';
import {
  bitsOf,
  checkIfName,
  kindOf,
  nearest,
  parseCIDR,
  parseIP,
  parseUnicastMAC,
  show,
  type Family,
  type ParsedCIDR,
  type ParsedIP,
} from './config-values.ts';

export interface VtepConfig {
  /** The file name the config came from, as given (used in messages). */
  file: string;
  backend: Backend;
  /** Everything the engine needs; underlaySrcMAC = node.underlayMAC or zeros, underlayDstMAC = zeros. */
  engine: EngineOptions;
  /** This node, with canonical address / MAC / CIDR text. */
  node: NodeEntry;
  /** The other nodes, in file order, canonical text. Per-peer underlayMAC stays here. */
  peers: NodeEntry[];
  tun: { name: string; mtu: number; txqueuelen: number };
}

/** Bytes of outer headers each backend adds, per underlay family (outer IP + UDP + VXLAN + inner Ethernet). */
export function tunnelOverhead(backend: Backend, family: Family): number {
  if (backend === 'vxlan') return family === 4 ? 50 : 70; // 20/40 IP + 8 UDP + 8 VXLAN + 14 inner Ethernet
  return family === 4 ? 20 : 40; // the outer IP header only
}

/** At most this many problem lines are reported in one error; then a count of the rest. */
export const MAX_PROBLEMS = 20;

export const DEFAULT_TUN_NAME = 'vtep0';
export const DEFAULT_TXQUEUELEN = 10000;

const IPV6_MIN_MTU = 1280;
const IPV4_MIN_MTU = 68;
const UNDERLAY_MIN_MTU = 576;
const MAX_MTU = 65535;
const VNI_MAX = 0xffffff;
const NAME_MAX = 253;

const ROOT_KEYS = ['backend', 'vxlan', 'underlay', 'node', 'peers', 'tun'] as const;
const VXLAN_KEYS = ['vni', 'port', 'srcPortRange', 'udpChecksum', 'udp6ZeroChecksumTx', 'udp6ZeroChecksumRx', 'verifyUdpChecksum'] as const;
const UNDERLAY_KEYS = ['mtu', 'ttl', 'tos', 'df'] as const;
const NODE_KEYS = ['name', 'underlayIP', 'vtepMAC', 'underlayMAC', 'podCIDRs'] as const;
const TUN_KEYS = ['name', 'mtu', 'txqueuelen'] as const;

type Obj = Record<string, unknown>;

/** Collects problem lines; every check adds to it and carries on, so one run reports them all. */
class Problems {
  readonly lines: string[] = [];
  constructor(readonly file: string) {}
  add(path: string, message: string): void {
    this.lines.push(`${this.file}: ${path}: ${message}`);
  }
  /** `<path>: <value> <reason>` */
  bad(path: string, value: unknown, reason: string): void {
    this.add(path, `${show(value)} ${reason}`);
  }
  error(): VtepError {
    const shown = this.lines.slice(0, MAX_PROBLEMS);
    if (this.lines.length > MAX_PROBLEMS) shown.push(`${this.file}: ... and ${this.lines.length - MAX_PROBLEMS} more problems`);
    return new VtepError('CONFIG', shown.join('\n'));
  }
  throwIfAny(): void {
    if (this.lines.length > 0) throw this.error();
  }
}

const join = (parent: string, key: string): string => (parent ? `${parent}.${key}` : key);

/**
 * A mapping section: null (an empty `key:`) counts as an empty mapping. Reports unknown keys, with a
 * "did you mean" for near misses. Returns undefined if the value is not a mapping.
 */
function section(p: Problems, value: unknown, path: string, keys: readonly string[]): Obj | undefined {
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    p.bad(path || '(top level)', value, `must be a mapping, not ${kindOf(value)}`);
    return undefined;
  }
  const obj = value as Obj;
  for (const key of Object.keys(obj)) {
    if (keys.includes(key)) continue;
    const guess = nearest(key, keys);
    p.add(join(path, key), `unknown key${guess ? ` (did you mean ${guess}?)` : ` (expected one of: ${keys.join(', ')})`}`);
  }
  return obj;
}

function intIn(p: Problems, value: unknown, path: string, min: number, max: number, extra = ''): number | undefined {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    p.bad(path, value, `must be an integer${extra}, not ${kindOf(value)}`);
    return undefined;
  }
  if (value < min || value > max) {
    p.bad(path, value, `is out of range ${min}..${max}${extra}`);
    return undefined;
  }
  return value;
}

/**
 * An optional key: absent → `dflt`; present but empty → problem; else `parse(value, path)`.
 * Returns undefined whenever a problem was reported.
 */
function opt<T>(p: Problems, obj: Obj, key: string, parent: string, dflt: T, parse: (v: unknown, at: string) => T | undefined): T | undefined {
  const at = join(parent, key);
  if (!Object.hasOwn(obj, key)) return dflt;
  if (obj[key] === null) {
    const shown = dflt === undefined ? 'none' : Array.isArray(dflt) ? `[${dflt.join(', ')}]` : String(dflt);
    p.add(at, `has no value (remove the key to use the default, ${shown})`);
    return undefined;
  }
  return parse(obj[key], at);
}

function optInt(p: Problems, obj: Obj, key: string, parent: string, min: number, max: number, dflt: number): number | undefined {
  return opt(p, obj, key, parent, dflt, (v, at) => intIn(p, v, at, min, max));
}

function optBool(p: Problems, obj: Obj, key: string, parent: string, dflt: boolean): boolean | undefined {
  return opt(p, obj, key, parent, dflt, (v, at) => {
    if (typeof v === 'boolean') return v;
    p.bad(at, v, `must be true or false, not ${kindOf(v)}`);
    return undefined;
  });
}

function oneOf<T extends string>(p: Problems, value: unknown, path: string, choices: readonly T[]): T | undefined {
  if (typeof value === 'string' && (choices as readonly string[]).includes(value)) return value as T;
  const guess = typeof value === 'string' ? nearest(value, choices) : undefined;
  p.bad(path, value, `must be one of ${choices.join(', ')}${guess ? ` (did you mean ${guess}?)` : ''}`);
  return undefined;
}

/** Integer in range, or the one keyword (e.g. "inherit"). */
function intOrWord<W extends string>(p: Problems, value: unknown, path: string, min: number, max: number, word: W): number | W | undefined {
  if (value === word) return word;
  if (typeof value === 'string') {
    const guess = nearest(value, [word]);
    p.bad(path, value, `must be ${min}..${max} or ${word}${guess ? ` (did you mean ${guess}?)` : ''}`);
    return undefined;
  }
  return intIn(p, value, path, min, max, ` or ${word}`);
}

function str(p: Problems, value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return value;
  p.bad(path, value, `must be a string, not ${kindOf(value)}${typeof value === 'number' ? ' (quote it)' : ''}`);
  return undefined;
}

// ---------------------------------------------------------------------------------------------- nodes

interface CidrAt {
  path: string;
  cidr: ParsedCIDR;
}

interface ParsedNode {
  path: string;
  name?: string;
  ip?: ParsedIP;
  vtepMAC?: string;
  underlayMAC?: { text: string; bytes: Uint8Array };
  /** The valid pod CIDRs (all of them once the config has no problems). */
  cidrs: CidrAt[];
}

function required(p: Problems, obj: Obj, key: string, path: string, what: string): unknown {
  const at = join(path, key);
  if (!Object.hasOwn(obj, key) || obj[key] === null) {
    p.add(at, `is required (${what})`);
    return undefined;
  }
  return obj[key];
}

function underlayAddressProblem(ip: ParsedIP): string | null {
  const v = ip.value;
  if (ip.family === 4) {
    if (v === 0n) return 'is the unspecified address; a node address is required';
    if (v === 0xffffffffn) return 'is the broadcast address; a unicast node address is required';
    if (v >> 28n === 0xen) return 'is a multicast address; a unicast node address is required';
    return null;
  }
  if (v === 0n) return 'is the unspecified address; a node address is required';
  if (v >> 120n === 0xffn) return 'is a multicast address; a unicast node address is required';
  if (v >> 32n === 0xffffn) return 'is an IPv4-mapped IPv6 address; write the IPv4 address instead';
  return null;
}

function parseNode(p: Problems, value: unknown, path: string): ParsedNode {
  const out: ParsedNode = { path, cidrs: [] };
  const obj = section(p, value, path, NODE_KEYS);
  if (!obj) return out;

  const name = required(p, obj, 'name', path, 'the node name');
  if (name !== undefined) {
    const s = str(p, name, join(path, 'name'));
    if (s !== undefined) {
      if (s.length === 0 || s.length > NAME_MAX) p.bad(join(path, 'name'), s, `must be 1..${NAME_MAX} characters`);
      else if (/[\s\x00-\x1f\x7f]/.test(s)) p.bad(join(path, 'name'), s, 'must not contain whitespace or control characters');
      else out.name = s;
    }
  }

  const ipValue = required(p, obj, 'underlayIP', path, 'the node\'s IPv4 or IPv6 underlay address');
  if (ipValue !== undefined) {
    const at = join(path, 'underlayIP');
    const s = str(p, ipValue, at);
    if (s !== undefined) {
      const ip = parseIP(s);
      if (typeof ip === 'string') p.bad(at, s, ip);
      else {
        const why = underlayAddressProblem(ip);
        if (why) p.bad(at, s, why);
        else out.ip = ip;
      }
    }
  }

  const macValue = required(p, obj, 'vtepMAC', path, 'the MAC of the node\'s VTEP device, e.g. "02:00:00:00:00:01"');
  if (macValue !== undefined) {
    const at = join(path, 'vtepMAC');
    const s = str(p, macValue, at);
    if (s !== undefined) {
      const mac = parseUnicastMAC(s);
      if (typeof mac === 'string') p.bad(at, s, mac);
      else out.vtepMAC = mac.text;
    }
  }

  out.underlayMAC = opt(p, obj, 'underlayMAC', path, undefined, (v, at) => {
    const s = str(p, v, at);
    const mac = s === undefined ? undefined : parseUnicastMAC(s);
    if (typeof mac === 'string') p.bad(at, s, mac);
    return typeof mac === 'string' ? undefined : mac;
  });

  const list = required(p, obj, 'podCIDRs', path, 'a list of at least one pod CIDR, e.g. [10.244.1.0/24]');
  if (list !== undefined) {
    const at = join(path, 'podCIDRs');
    if (!Array.isArray(list)) {
      p.bad(at, list, `must be a list, not ${kindOf(list)}${typeof list === 'string' ? ` (write [${list}])` : ''}`);
    } else if (list.length === 0) {
      p.add(at, 'must list at least one pod CIDR');
    } else {
      list.forEach((item, i) => {
        const itemAt = `${at}[${i}]`;
        const s = str(p, item, itemAt);
        const cidr = s === undefined ? undefined : parseCIDR(s);
        if (typeof cidr === 'string') p.bad(itemAt, s, cidr);
        else if (cidr !== undefined) out.cidrs.push({ path: itemAt, cidr });
      });
    }
  }

  return out;
}

function toEntry(n: ParsedNode): NodeEntry {
  const entry: NodeEntry = {
    name: n.name!,
    underlayIP: n.ip!.text,
    vtepMAC: n.vtepMAC!,
    podCIDRs: n.cidrs.map((c) => c.cidr.text),
  };
  if (n.underlayMAC) entry.underlayMAC = n.underlayMAC.text;
  return entry;
}

/** The name to show next to a node's path in cross-node messages. */
const who = (n: ParsedNode): string => (n.name !== undefined ? ` (${n.name})` : '');

function checkUnique(p: Problems, nodes: ParsedNode[], field: 'name' | 'ip' | 'vtepMAC', key: string): void {
  const seen = new Map<string, ParsedNode>();
  for (const n of nodes) {
    const v = field === 'ip' ? n.ip?.text : n[field];
    if (v === undefined) continue;
    const first = seen.get(v);
    if (first) p.bad(join(n.path, key), v, `is already used by ${first.path}${field === 'name' ? '' : who(first)}`);
    else seen.set(v, n);
  }
}

/**
 * No two pod CIDRs may overlap, within one node or across nodes. Each CIDR that overlaps an earlier one
 * (in file order) is reported once, naming the first earlier one it overlaps. A sorted sweep cuts the
 * CIDRs into groups of mutually nested ones (CIDRs are either nested or disjoint), so only CIDRs within
 * a group are compared pairwise; groups are almost always of size one.
 */
function checkPodOverlap(p: Problems, nodes: ParsedNode[]): void {
  interface Item {
    node: ParsedNode;
    at: CidrAt;
    order: number;
    end: bigint;
  }
  const items: Item[] = [];
  for (const node of nodes) {
    for (const at of node.cidrs) {
      const hostBits = BigInt(bitsOf(at.cidr.family) - at.cidr.prefix);
      items.push({ node, at, order: items.length, end: at.cidr.network | ((1n << hostBits) - 1n) });
    }
  }
  const byStart = [...items].sort(
    (a, b) => a.at.cidr.family - b.at.cidr.family || (a.at.cidr.network < b.at.cidr.network ? -1 : a.at.cidr.network > b.at.cidr.network ? 1 : 0),
  );
  const found: Item[][] = [];
  let group: Item[] = [];
  let groupEnd = -1n;
  const flush = (): void => {
    if (group.length < 2) return;
    group.sort((a, b) => a.order - b.order);
    for (let i = 1; i < group.length; i++) {
      const late = group[i]!;
      for (let j = 0; j < i; j++) {
        const early = group[j]!;
        if (late.at.cidr.network <= early.end && early.at.cidr.network <= late.end) {
          found.push([late, early]);
          break;
        }
      }
    }
  };
  for (const it of byStart) {
    if (group.length > 0 && it.at.cidr.family === group[0]!.at.cidr.family && it.at.cidr.network <= groupEnd) {
      group.push(it);
      if (it.end > groupEnd) groupEnd = it.end;
    } else {
      flush();
      group = [it];
      groupEnd = it.end;
    }
  }
  flush();
  found.sort((a, b) => a[0].order - b[0].order);
  for (const [late, early] of found) {
    const owner = early.node === late.node ? ' in the same node' : `${who(early.node)}; a pod CIDR must belong to one node`;
    p.add(late.at.path, `${show(late.at.cidr.text)}${who(late.node)} overlaps ${early.at.path} ${show(early.at.cidr.text)}${owner}`);
  }
}

// ---------------------------------------------------------------------------------------------- sections

/** Cross-node checks: one underlay family, unique names / IPs / MACs, no pod CIDR owned twice. */
function checkNodes(p: Problems, all: ParsedNode[]): void {
  const [node, ...peers] = all as [ParsedNode, ...ParsedNode[]];
  if (node.ip) {
    for (const peer of peers) {
      if (peer.ip && peer.ip.family !== node.ip.family) {
        p.bad(
          join(peer.path, 'underlayIP'),
          peer.ip.text,
          `is IPv${peer.ip.family} but node.underlayIP ${show(node.ip.text)} is IPv${node.ip.family}; all nodes must share one underlay family`,
        );
      }
    }
  }
  checkUnique(p, all, 'name', 'name');
  checkUnique(p, all, 'ip', 'underlayIP');
  checkUnique(p, all, 'vtepMAC', 'vtepMAC');
  checkPodOverlap(p, all);
}

interface UnderlaySection {
  mtu?: number;
  ttl?: number;
  tos?: number | 'inherit';
  df?: EngineOptions['df'];
}

function parseUnderlay(p: Problems, value: unknown, family: Family | undefined): UnderlaySection {
  const u = section(p, value, 'underlay', UNDERLAY_KEYS) ?? {};
  const mtu = optInt(p, u, 'mtu', 'underlay', UNDERLAY_MIN_MTU, MAX_MTU, 1500);
  if (mtu !== undefined && family === 6 && mtu < IPV6_MIN_MTU) {
    p.bad('underlay.mtu', mtu, `is below ${IPV6_MIN_MTU}, the IPv6 minimum (node.underlayIP is IPv6)`);
  }
  const ttl = opt(p, u, 'ttl', 'underlay', 64, (v, at) => {
    const t = intOrWord(p, v, at, 1, 255, 'inherit');
    return t === 'inherit' ? 0 : t;
  });
  const tos = opt(p, u, 'tos', 'underlay', 'inherit' as const, (v, at) => intOrWord(p, v, at, 0, 255, 'inherit'));
  const df = opt(p, u, 'df', 'underlay', 'unset' as const, (v, at) => oneOf(p, v, at, ['unset', 'set', 'inherit'] as const));
  if (df !== undefined && df !== 'unset' && family === 6) {
    p.bad('underlay.df', df, 'only applies to an IPv4 underlay (node.underlayIP is IPv6; IPv6 routers never fragment)');
  }
  return { mtu, ttl, tos, df };
}

/** Writes the vxlan section's values into `engine` (which holds the defaults). */
function parseVxlan(p: Problems, value: unknown, family: Family | undefined, engine: EngineOptions): void {
  const vx = section(p, value, 'vxlan', VXLAN_KEYS) ?? {};
  const vni = optInt(p, vx, 'vni', 'vxlan', 0, VNI_MAX, engine.vni);
  const port = optInt(p, vx, 'port', 'vxlan', 1, 65535, engine.port);
  const range = opt(p, vx, 'srcPortRange', 'vxlan', [engine.srcPortMin, engine.srcPortMax], (r, at) => {
    if (!Array.isArray(r) || r.length !== 2) {
      p.bad(at, r, 'must be a list [low, high] of two ports');
      return undefined;
    }
    const lo = intIn(p, r[0], `${at}[0]`, 1, 65535);
    const hi = intIn(p, r[1], `${at}[1]`, 1, 65535);
    if (lo === undefined || hi === undefined) return undefined;
    if (lo <= hi) return [lo, hi];
    p.bad(at, r, 'has low > high (the range is [low, high], inclusive)');
    return undefined;
  });
  const udpChecksum = optBool(p, vx, 'udpChecksum', 'vxlan', engine.udpChecksum);
  const zeroTx = optBool(p, vx, 'udp6ZeroChecksumTx', 'vxlan', engine.udp6ZeroChecksumTx);
  const zeroRx = optBool(p, vx, 'udp6ZeroChecksumRx', 'vxlan', engine.udp6ZeroChecksumRx);
  const verify = optBool(p, vx, 'verifyUdpChecksum', 'vxlan', engine.verifyUdpChecksum);
  if (udpChecksum === false && family === 6) {
    p.bad('vxlan.udpChecksum', false, 'only applies to an IPv4 underlay (node.underlayIP is IPv6; use udp6ZeroChecksumTx)');
  }
  if (zeroTx === true && family === 4) p.bad('vxlan.udp6ZeroChecksumTx', true, 'only applies to an IPv6 underlay (node.underlayIP is IPv4)');
  if (zeroRx === true && family === 4) p.bad('vxlan.udp6ZeroChecksumRx', true, 'only applies to an IPv6 underlay (node.underlayIP is IPv4)');
  if (vni !== undefined) engine.vni = vni;
  if (port !== undefined) engine.port = port;
  if (range !== undefined) [engine.srcPortMin, engine.srcPortMax] = range as [number, number];
  if (udpChecksum !== undefined) engine.udpChecksum = udpChecksum;
  if (zeroTx !== undefined) engine.udp6ZeroChecksumTx = zeroTx;
  if (zeroRx !== undefined) engine.udp6ZeroChecksumRx = zeroRx;
  if (verify !== undefined) engine.verifyUdpChecksum = verify;
}

/** What `tun.mtu: auto` is computed from; undefined when an error elsewhere leaves it unknown. */
interface AutoMTU {
  backend: Backend;
  family: Family;
  underlayMTU: number;
}

function parseTun(p: Problems, value: unknown, auto: AutoMTU | undefined, hasV6Pods: boolean): { name?: string; mtu?: number; txqueuelen?: number } {
  const t = section(p, value, 'tun', TUN_KEYS) ?? {};
  const name = opt(p, t, 'name', 'tun', DEFAULT_TUN_NAME, (v, at) => {
    const s = str(p, v, at);
    const why = s === undefined ? null : checkIfName(s);
    if (why) p.bad(at, s, why);
    return why ? undefined : s;
  });
  const txqueuelen = optInt(p, t, 'txqueuelen', 'tun', 0, 0xffffffff, DEFAULT_TXQUEUELEN);
  const want = opt(p, t, 'mtu', 'tun', 'auto' as const, (v, at) => intOrWord(p, v, at, IPV4_MIN_MTU, MAX_MTU, 'auto'));
  if (want === undefined || auto === undefined) return { name, txqueuelen };

  const overhead = tunnelOverhead(auto.backend, auto.family);
  const most = auto.underlayMTU - overhead;
  const how = `underlay.mtu ${auto.underlayMTU} − ${overhead} for ${auto.backend} over IPv${auto.family}`;
  if (want !== 'auto' && want > most) {
    p.bad('tun.mtu', want, `exceeds ${most}, the largest that fits (${how}); use auto or raise underlay.mtu`);
    return { name, txqueuelen };
  }
  const mtu = want === 'auto' ? most : want;
  if (hasV6Pods && mtu < IPV6_MIN_MTU) {
    const what = want === 'auto' ? `auto = ${most} (${how})` : String(want);
    const fix = want === 'auto' ? `; raise underlay.mtu to at least ${IPV6_MIN_MTU + overhead}` : '';
    p.add('tun.mtu', `${what} is below ${IPV6_MIN_MTU}, the IPv6 minimum link MTU, and IPv6 pod CIDRs are configured${fix}`);
    return { name, txqueuelen };
  }
  return { name, mtu, txqueuelen };
}

// ---------------------------------------------------------------------------------------------- parse

/** Turns a yaml error into `file:line:col: reason` (its first sentence, without the code frame). */
function yamlProblem(file: string, e: YAMLError): string {
  const reason = e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  const pos = e.linePos?.[0];
  return pos ? `${file}:${pos.line}:${pos.col}: ${reason}` : `${file}: ${reason}`;
}

/**
 * Parses and validates a config text. `file` is used in messages only.
 * @throws VtepError('CONFIG', lines) listing every problem, one line each (see the module doc).
 */
export function parseConfig(text: string, file: string): VtepConfig {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  const yamlIssues = [...doc.errors, ...doc.warnings];
  if (yamlIssues.length > 0) {
    throw new VtepError('CONFIG', yamlIssues.slice(0, MAX_PROBLEMS).map((e) => yamlProblem(file, e)).join('\n'));
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new VtepError('CONFIG', `${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (data === null || data === undefined) {
    throw new VtepError('CONFIG', `${file}: is empty; a mapping with at least a node: section is required`);
  }

  const p = new Problems(file);
  const root = section(p, data, '', ROOT_KEYS);
  if (!root) throw p.error();

  const backend = opt(p, root, 'backend', '', 'vxlan' as Backend, (v, at) => oneOf(p, v, at, ['vxlan', 'ipip'] as const));

  // nodes first: the underlay family decides several other checks
  let node: ParsedNode;
  if (!Object.hasOwn(root, 'node') || root.node === null) {
    p.add('node', 'is required (this node: name, underlayIP, vtepMAC, podCIDRs)');
    node = { path: 'node', cidrs: [] };
  } else node = parseNode(p, root.node, 'node');
  const peers: ParsedNode[] = [];
  if (Object.hasOwn(root, 'peers') && root.peers !== null) {
    if (!Array.isArray(root.peers)) p.bad('peers', root.peers, `must be a list, not ${kindOf(root.peers)}`);
    else root.peers.forEach((v, i) => peers.push(parseNode(p, v, `peers[${i}]`)));
  }
  const family = node.ip?.family;

  const engine = defaultEngineOptions();
  const underlay = parseUnderlay(p, root.underlay, family);
  if (Object.hasOwn(root, 'vxlan') && backend === 'ipip') {
    p.add('vxlan', 'only valid with backend: vxlan (backend is ipip; remove the vxlan: section)');
  } else parseVxlan(p, root.vxlan, family, engine);

  const all = [node, ...peers];
  checkNodes(p, all);
  const hasV6Pods = all.some((n) => n.cidrs.some((c) => c.cidr.family === 6));
  const auto = backend !== undefined && family !== undefined && underlay.mtu !== undefined ? { backend, family, underlayMTU: underlay.mtu } : undefined;
  const tun = parseTun(p, root.tun, auto, hasV6Pods);

  p.throwIfAny();
  // No problems: every value above is defined.
  engine.backend = backend!;
  engine.underlayMTU = underlay.mtu!;
  engine.ttl = underlay.ttl!;
  engine.tos = underlay.tos!;
  engine.df = underlay.df!;
  if (node.underlayMAC) engine.underlaySrcMAC = node.underlayMAC.bytes;
  return {
    file,
    backend: backend!,
    engine,
    node: toEntry(node),
    peers: peers.map(toEntry),
    tun: { name: tun.name!, mtu: tun.mtu!, txqueuelen: tun.txqueuelen! },
  };
}

/**
 * Reads and validates a config file.
 * @throws VtepError('CONFIG') — `<file>: cannot read: ENOENT` (or another errno code, or `not valid UTF-8`),
 *   or the problems {@link parseConfig} finds.
 */
export function loadConfig(file: string): VtepConfig {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new VtepError('CONFIG', `${file}: cannot read: ${code}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new VtepError('CONFIG', `${file}: cannot read: not valid UTF-8`);
  }
  return parseConfig(text, file);
}
