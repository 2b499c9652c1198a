/**
 * Derived fixtures for `vtep replay` tests, made from the committed kernel captures (never edits them):
 *
 *   fixtures/kernel-v4|v6/decap-n1.pcap  the flannel.pcap frames the kernel delivered to node1 (frame i
 *                                        where underlay.pcap frame i is addressed to node1), stamped with
 *                                        the underlay frame's time: what `replay decap --config n1.yaml
 *                                        --in underlay.pcap` must write, byte for byte
 *   fixtures/kernel-v4|v6/decap-n2.pcap  the same for node2
 *   fixtures/kernel-v4|v6/encap-n1.pcap  the underlay.pcap frames node1 sent, stamped with the flannel.pcap
 *                                        frame's time: what `replay encap --config n1.yaml --in flannel.pcap`
 *                                        must write, up to --ignore kernel-variance (IPv4 ID, UDP source
 *                                        port and the checksums over them)
 *   fixtures/kernel-v4|v6/encap-n2.pcap  the same for node2
 *   fixtures/kernel-v4|v6/n1-ipip.yaml, n2-ipip.yaml   the same nodes with `backend: ipip`
 *   fixtures/malformed/underlay-v4.pcap, underlay-v6.pcap  one good underlay frame to node1 (a real kernel
 *                                        frame) and one frame per decap drop reason reachable from an
 *                                        underlay frame, each a mutation of the good one that passes every
 *                                        earlier check (checksums fixed up) and fails exactly one
 *   fixtures/malformed/underlay-v4.json, underlay-v6.json  the reason expected for each frame, the summary
 *                                        expected from `replay decap`, and the reasons not reachable (why)
 *   fixtures/malformed/n1-v4.yaml, n1-v6.yaml  node1's config (a copy of kernel-v4|v6/n1.yaml)
 *
 * Run: `npx tsx scripts/make-replay-fixtures.ts [ROOT]` (ROOT defaults to fixtures/). Deterministic: running
 * it again gives the same bytes. test/cli/fixtures.test.ts checks the committed files against a fresh run.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CaptureReader, newPcapRecord } from '../src/io/pcap-reader.ts';
import { PcapWriter } from '../src/io/pcap-writer.ts';

interface Rec {
  tsSec: number;
  tsNsec: number;
  data: Buffer;
  origLen?: number;
}

function readAll(file: string): Rec[] {
  const r = CaptureReader.open(file);
  const rec = newPcapRecord();
  const out: Rec[] = [];
  while (r.next(rec)) out.push({ tsSec: rec.tsSec, tsNsec: rec.tsNsec, data: Buffer.from(rec.buf.subarray(rec.off, rec.off + rec.capLen)) });
  r.close();
  return out;
}

function writeAll(file: string, recs: Rec[], nanosecond: boolean): void {
  const w = PcapWriter.open(file, 1, nanosecond);
  for (const r of recs) w.write(r.data, 0, r.data.length, r.tsSec, r.tsNsec, r.origLen ?? r.data.length);
  w.close();
}

const MAC_N1 = Buffer.from([2, 0, 0, 0, 0, 1]);

// ------------------------------------------------------------------------------------ kernel derivations

function deriveKernel(root: string, fam: 'v4' | 'v6'): void {
  const dir = path.join(root, `kernel-${fam}`);
  const underlay = readAll(path.join(dir, 'underlay.pcap'));
  const inner = readAll(path.join(dir, 'flannel.pcap'));
  if (underlay.length !== inner.length) throw new Error(`${dir}: underlay and flannel captures differ in length`);
  const toN1 = inner.map((f) => f.data.subarray(0, 6).equals(MAC_N1));
  const pick = (wantN1: boolean, frames: Rec[], times: Rec[]) =>
    frames.flatMap((f, i) => (toN1[i] === wantN1 ? [{ tsSec: times[i]!.tsSec, tsNsec: times[i]!.tsNsec, data: f.data }] : []));
  writeAll(path.join(dir, 'decap-n1.pcap'), pick(true, inner, underlay), false);
  writeAll(path.join(dir, 'decap-n2.pcap'), pick(false, inner, underlay), false);
  writeAll(path.join(dir, 'encap-n1.pcap'), pick(false, underlay, inner), false);
  writeAll(path.join(dir, 'encap-n2.pcap'), pick(true, underlay, inner), false);
  for (const n of ['n1', 'n2']) {
    const yaml = fs.readFileSync(path.join(dir, `${n}.yaml`), 'utf8');
    const ipip = yaml.replace(/^backend: vxlan$/m, 'backend: ipip').replace(/^vxlan:.*\n/m, '');
    if (ipip === yaml) throw new Error(`${dir}/${n}.yaml: no backend/vxlan lines to rewrite`);
    fs.writeFileSync(path.join(dir, `${n}-ipip.yaml`), `# Derived from ${n}.yaml by scripts/make-replay-fixtures.ts: the same node with the IPIP backend.\n${ipip}`);
  }
}

// ------------------------------------------------------------------------------------ malformed corpus

/** RFC 1071 sum over byte pairs (plain reference, independent of src/packet). */
function sum16(b: Uint8Array, off: number, len: number, acc = 0): number {
  for (let i = 0; i < len; i += 2) acc += (b[off + i]! << 8) | (i + 1 < len ? b[off + i + 1]! : 0);
  while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000);
  return acc;
}

interface Layout {
  v6: boolean;
  ip: number;
  udp: number;
  vx: number;
  ie: number;
  ii: number;
}

function layout(v6: boolean): Layout {
  const ip = 14;
  const udp = ip + (v6 ? 40 : 20);
  return { v6, ip, udp, vx: udp + 8, ie: udp + 16, ii: udp + 30 };
}

/** A frame being mutated, with the fix-ups that keep the earlier checks passing. */
class Frame {
  constructor(
    public b: Buffer,
    readonly L: Layout,
  ) {}
  static of(base: Buffer, L: Layout): Frame {
    return new Frame(Buffer.from(base), L);
  }
  fixIp(): this {
    if (!this.L.v6) {
      const ip = this.L.ip;
      const ihl = (this.b[ip]! & 15) * 4;
      this.b.writeUInt16BE(0, ip + 10);
      this.b.writeUInt16BE(~sum16(this.b, ip, Math.max(ihl, 20)) & 0xffff, ip + 10);
    }
    return this;
  }
  /** UDP checksum over the pseudo-header and the UDP length the header states (at `udp`). */
  fixUdp(udp = this.L.udp): this {
    const b = this.b;
    const len = b.readUInt16BE(udp + 4);
    b.writeUInt16BE(0, udp + 6);
    const ip = this.L.ip;
    let acc = this.L.v6 ? sum16(b, ip + 8, 32) : sum16(b, ip + 12, 8);
    acc = sum16(b, udp, Math.min(len, b.length - udp), acc + 17 + len);
    const c = ~acc & 0xffff;
    b.writeUInt16BE(c === 0 ? 0xffff : c, udp + 6);
    return this;
  }
  fixInnerIp(): this {
    const ii = this.L.ii;
    if (this.b[ii]! >>> 4 === 4) {
      this.b.writeUInt16BE(0, ii + 10);
      this.b.writeUInt16BE(~sum16(this.b, ii, 20) & 0xffff, ii + 10);
    }
    return this;
  }
  /** Keep `n` bytes of UDP payload: cut the frame, set the UDP and IP lengths, fix the checksums. */
  udpPayload(n: number): this {
    const { ip, udp, v6 } = this.L;
    this.b = Buffer.from(this.b.subarray(0, udp + 8 + n));
    this.b.writeUInt16BE(8 + n, udp + 4);
    if (v6) this.b.writeUInt16BE(8 + n, ip + 4);
    else this.b.writeUInt16BE(20 + 8 + n, ip + 2);
    return this.fixIp().fixUdp();
  }
  /** Put `hdr` between the fixed IPv6 header and the UDP header (next header chain: `nxt` → hdr → UDP). */
  insertExt6(nxt: number, hdr: number[]): this {
    const { ip, udp } = this.L;
    const b = this.b;
    this.b = Buffer.concat([b.subarray(0, udp), Buffer.from(hdr), b.subarray(udp)]);
    this.b[ip + 6] = nxt;
    this.b.writeUInt16BE(b.readUInt16BE(ip + 4) + hdr.length, ip + 4);
    return this;
  }
  set(off: number, bytes: number[]): this {
    for (let i = 0; i < bytes.length; i++) this.b[off + i] = bytes[i]!;
    return this;
  }
}

interface CorpusEntry {
  reason: string;
  what: string;
  rec: Rec;
}

function corpus(fam: 'v4' | 'v6', base: Buffer, ts: number): CorpusEntry[] {
  const v6 = fam === 'v6';
  const L = layout(v6);
  const f = () => Frame.of(base, L);
  const out: CorpusEntry[] = [];
  const add = (reason: string, what: string, fr: Frame | Buffer, origLen?: number) => {
    const data = fr instanceof Frame ? fr.b : fr;
    out.push({ reason, what, rec: { tsSec: ts + out.length, tsNsec: (out.length * 111_111_111 + 7) % 1e9, data, origLen } });
  };
  const innerV6 = base[L.ii]! >>> 4 === 6;
  const addr = (last: number) => (v6 ? [0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, last] : [198, 51, 100, last]);
  const srcOff = v6 ? L.ip + 8 : L.ip + 12;
  const dstOff = v6 ? L.ip + 24 : L.ip + 16;
  const innerSrc = innerV6 ? L.ii + 8 : L.ii + 12;
  const innerDst = innerV6 ? L.ii + 24 : L.ii + 16;
  const pod = (nodeI: number, host: number) =>
    innerV6 ? [0xfd, 0x00, 0x00, 0x10, 0x02, 0x44, 0x00, nodeI, 0, 0, 0, 0, 0, 0, 0, host] : [10, 244, nodeI, host];

  add('none', 'the good frame: a kernel VXLAN frame from node2 to node1 (decapsulated and written)', f());
  add('snaplen-truncated', 'the good frame captured with a 64-byte snaplen (caplen < len)', Buffer.from(base.subarray(0, 64)), base.length);
  add('truncated-ethernet', '12 bytes: no complete Ethernet header', Buffer.from(base.subarray(0, 12)));
  const arp = Buffer.from([
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0xaa, 0, 2, 0x08, 0x06,
    0, 1, 0x08, 0x00, 6, 4, 0, 1, 2, 0, 0, 0xaa, 0, 2, 198, 51, 100, 2, 0, 0, 0, 0, 0, 0, 198, 51, 100, 1,
  ]);
  add('outer-not-ip', 'an ARP request (EtherType 0x0806)', arp);
  add('truncated-outer-ip', `the Ethernet header and ${v6 ? 30 : 12} bytes of the IP header`, Buffer.from(base.subarray(0, L.ip + (v6 ? 30 : 12))));
  add(
    'outer-ip-bad-version',
    v6 ? 'EtherType IPv6 but version nibble 4' : 'EtherType IPv4 but version nibble 6',
    f().set(L.ip, [v6 ? 0x40 : 0x65]),
  );
  if (!v6) {
    add('outer-ip-bad-ihl', 'IHL 4 (16-byte header)', f().set(L.ip, [0x44]).fixIp());
    add('outer-ip-bad-length', 'total length 19 (< 20)', f().set(L.ip + 2, [0, 19]).fixIp());
    add('outer-ip-bad-checksum', 'header checksum off by 0x5555', f().set(L.ip + 10, [base[L.ip + 10]! ^ 0x55, base[L.ip + 11]! ^ 0x55]));
    add('outer-ip-fragment', 'more-fragments flag set', f().set(L.ip + 6, [base[L.ip + 6]! | 0x20]).fixIp());
  } else {
    add('outer-ip-bad-length', 'payload length 0 with a hop-by-hop header next (a jumbogram without its option)', f().set(L.ip + 4, [0, 0]).set(L.ip + 6, [0]));
    add('outer-ip-fragment', 'a fragment header (offset 0, more fragments) before the UDP header', f().insertExt6(44, [17, 0, 0, 1, 0, 0, 0x12, 0x34]));
    add('outer-ip-bad-ext-header', 'a hop-by-hop header whose length (1608 bytes) overruns the packet', f().insertExt6(0, [17, 200, 1, 4, 0, 0, 0, 0]));
  }
  add('outer-dst-not-local', "outer destination is node2's underlay address", f().set(dstOff, addr(2)).fixIp().fixUdp());
  add('outer-proto-unexpected', 'outer protocol TCP (6) instead of UDP', f().set(v6 ? L.ip + 6 : L.ip + 9, [6]).fixIp());
  {
    const t = f();
    t.b = Buffer.from(t.b.subarray(0, L.udp + 4));
    if (v6) t.b.writeUInt16BE(4, L.ip + 4);
    else t.b.writeUInt16BE(24, L.ip + 2);
    add('truncated-udp', 'IP payload of 4 bytes: half a UDP header', t.fixIp());
  }
  add('udp-bad-length', 'UDP length one more than the IP payload', f().set(L.udp + 4, [(base.length - L.udp + 1) >> 8, (base.length - L.udp + 1) & 255]));
  add('udp-bad-checksum', 'UDP checksum off by 0x5555', f().set(L.udp + 6, [base[L.udp + 6]! ^ 0x55, base[L.udp + 7]! ^ 0x55]));
  if (v6) add('udp-zero-checksum-ipv6', 'UDP checksum 0 over IPv6 (RFC 6935; not accepted by default)', f().set(L.udp + 6, [0, 0]));
  add('udp-dst-port-mismatch', 'UDP destination port 8472 (flannel default) instead of the configured 4789', f().set(L.udp + 2, [0x21, 0x18]).fixUdp());
  add('truncated-vxlan', '4 bytes of UDP payload: half a VXLAN header', f().udpPayload(4));
  add('vxlan-flag-i-clear', 'VXLAN flags 0x00 (I flag clear)', f().set(L.vx, [0]).fixUdp());
  add('vni-mismatch', 'VNI 2 instead of 1', f().set(L.vx + 4, [0, 0, 2]).fixUdp());
  add('unknown-vtep-source', 'outer source 198.51.100.9 / 2001:db8:100::9: not a configured peer', f().set(srcOff, addr(9)).fixIp().fixUdp());
  add('truncated-inner-ethernet', 'VXLAN header and 10 bytes of inner Ethernet header', f().udpPayload(8 + 10));
  add('inner-dst-mac-broadcast', 'inner destination MAC ff:ff:ff:ff:ff:ff', f().set(L.ie, [255, 255, 255, 255, 255, 255]).fixUdp());
  add('inner-dst-mac-multicast', 'inner destination MAC 01:00:5e:00:00:fb', f().set(L.ie, [1, 0, 0x5e, 0, 0, 0xfb]).fixUdp());
  add('inner-dst-mac-not-local', "inner destination MAC 02:00:00:00:00:03 (not node1's VTEP)", f().set(L.ie, [2, 0, 0, 0, 0, 3]).fixUdp());
  add('inner-not-ip', 'inner EtherType ARP (0x0806)', f().set(L.ie + 12, [0x08, 0x06]).fixUdp());
  add('truncated-inner-ip', 'inner Ethernet header and 10 bytes of the inner IP header', f().udpPayload(8 + 14 + 10));
  add(
    'inner-ip-invalid',
    innerV6 ? 'inner IPv6 payload length 0 with a hop-by-hop header next' : 'inner IPv4 header checksum off by 0x5555',
    innerV6
      ? f().set(L.ii + 4, [0, 0]).set(L.ii + 6, [0]).fixUdp()
      : f().set(L.ii + 10, [base[L.ii + 10]! ^ 0x55, base[L.ii + 11]! ^ 0x55]).fixUdp(),
  );
  add(
    'inner-family-mismatch',
    innerV6 ? 'inner EtherType IPv4 carrying an IPv6 packet' : 'inner EtherType IPv6 carrying an IPv4 packet',
    f().set(L.ie + 12, innerV6 ? [0x08, 0x00] : [0x86, 0xdd]).fixUdp(),
  );
  add('inner-src-not-sender-pod', 'inner source in 10.244.3.0/24 / fd00:10:244:3::/64 (no node2 pod)', f().set(innerSrc, pod(3, 2)).fixInnerIp().fixUdp());
  add('inner-dst-not-local', "inner destination in node2's own pod CIDR", f().set(innerDst, pod(2, 5)).fixInnerIp().fixUdp());
  {
    const t = f();
    if (v6) t.set(L.ip + 1, [base[L.ip + 1]! | 0x30]);
    else t.set(L.ip + 1, [base[L.ip + 1]! | 0x03]).fixIp();
    add('outer-ce-inner-not-ect', 'outer ECN CE, inner packet Not-ECT (RFC 6040 §4.2)', t);
  }
  return out;
}

/** Decap reasons a single Ethernet underlay frame cannot produce, and why. */
export const NOT_FROM_A_FRAME: Record<string, string> = {
  'unsupported-link-type': 'a property of the capture record (its link type), not of the frame: covered by a pcapng interface test',
  'fdb-miss': 'encap only',
  'dst-local-pod': 'encap only',
  'mtu-exceeded': 'encap only',
  'underlay-family-unsupported': 'encap only',
  'vnet-hdr-invalid': 'live TUN reads with offloads only (test/engine/gso.test.ts)',
  'gso-not-tcp': 'live TUN reads with offloads only (test/engine/gso.test.ts)',
  'gso-too-many-segments': 'live TUN reads with offloads only (test/engine/gso.test.ts)',
};

function makeMalformed(root: string, fam: 'v4' | 'v6'): void {
  const kdir = path.join(root, `kernel-${fam}`);
  const underlay = readAll(path.join(kdir, 'underlay.pcap'));
  const inner = readAll(path.join(kdir, 'flannel.pcap'));
  // The first frame the kernel sent to node1 whose inner packet is Not-ECT (needed for the ECN case).
  const i = inner.findIndex((f) => f.data.subarray(0, 6).equals(MAC_N1));
  if (i < 0) throw new Error(`${kdir}: no frame to node1`);
  const base = underlay[i]!.data;
  const L = layout(fam === 'v6');
  const ecn = base[L.ii]! >>> 4 === 4 ? base[L.ii + 1]! & 3 : (base[L.ii + 1]! >>> 4) & 3;
  if (ecn !== 0) throw new Error(`${kdir}: frame ${i + 1} has an ECN-capable inner packet`);
  const entries = corpus(fam, base, 1_700_000_000);
  const dir = path.join(root, 'malformed');
  fs.mkdirSync(dir, { recursive: true });
  writeAll(path.join(dir, `underlay-${fam}.pcap`), entries.map((e) => e.rec), true);
  fs.copyFileSync(path.join(kdir, 'n1.yaml'), path.join(dir, `n1-${fam}.yaml`));
  const drops: Record<string, number> = {};
  for (const e of entries) if (e.reason !== 'none') drops[e.reason] = (drops[e.reason] ?? 0) + 1;
  const notHere: Record<string, string> = { ...NOT_FROM_A_FRAME };
  if (fam === 'v4') {
    notHere['outer-ip-bad-ext-header'] = 'IPv6 underlay only (see underlay-v6.pcap)';
    notHere['udp-zero-checksum-ipv6'] = 'IPv6 underlay only (see underlay-v6.pcap)';
  } else {
    notHere['outer-ip-bad-ihl'] = 'IPv4 underlay only (see underlay-v4.pcap)';
    notHere['outer-ip-bad-checksum'] = 'IPv4 underlay only (see underlay-v4.pcap)';
  }
  const doc = {
    about: `Malformed underlay corpus for node1 of fixtures/kernel-${fam} (made by scripts/make-replay-fixtures.ts from underlay.pcap frame ${i + 1})`,
    command: `npx vtep replay decap --config fixtures/malformed/n1-${fam}.yaml --in fixtures/malformed/underlay-${fam}.pcap --out OUT --json`,
    expect: { packetsIn: entries.length, packetsOut: 1, drops },
    frames: entries.map((e, k) => ({ frame: k + 1, reason: e.reason, what: e.what })),
    notInThisCorpus: notHere,
  };
  fs.writeFileSync(path.join(dir, `underlay-${fam}.json`), JSON.stringify(doc, null, 2) + '\n');
}

function main(): void {
  const root = process.argv[2] ?? 'fixtures';
  for (const fam of ['v4', 'v6'] as const) {
    deriveKernel(root, fam);
    makeMalformed(root, fam);
  }
  console.log(`replay fixtures written under ${root}/kernel-v4, kernel-v6, malformed`);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]).endsWith(path.join('scripts', 'make-replay-fixtures.ts'))) main();
