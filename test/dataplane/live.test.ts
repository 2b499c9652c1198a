// The live dataplane on the memory fakes: two (or three) nodes wired back to back through MemoryNet.
// Packets injected into one node's fake TUN must come out of the other's byte-exact; drops, batches,
// back-pressure (EAGAIN), write errors and FDB swaps are checked on the counters and the wire.
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryNet } from '../../src/io/memory.ts';
import { POLL_READABLE, POLL_WRITABLE } from '../../src/io/udp.ts';
import { Drop, DROP_NAMES } from '../../src/engine/drops.ts';
import { Fdb } from '../../src/fdb/fdb.ts';
import { BATCH_BUCKETS, IoDrop, IoOp } from '../../src/dataplane/live.ts';
import { buildInner, type InnerSpec } from '../engine/helpers.ts';
import { configOf, memNode, settle, until, type MemNode } from './helpers.ts';

const nodes: MemNode[] = [];
afterEach(() => {
  for (const n of nodes.splice(0)) {
    n.dp.stop();
    n.tun.close();
    for (const s of n.socks) s.close();
  }
});

function track(n: MemNode): MemNode {
  nodes.push(n);
  return n;
}

function pkt(o: Partial<InnerSpec> & { src: number; dst: number }, seq = 0): Buffer {
  return buildInner({
    family: 4,
    proto: 17,
    srcHost: 5,
    dstHost: 7,
    payload: Buffer.from(`payload ${seq} `.repeat(1 + (seq % 7))),
    tos: 0,
    ttl: 64,
    df: true,
    sport: 10000 + seq,
    dport: 53,
    ...o,
  });
}

const dropsOf = (n: MemNode) => Object.fromEntries([...n.engine.drops].map((v, i) => [DROP_NAMES[i], v]).filter(([, v]) => v !== 0));

describe.each([
  { family: 4 as const, backend: 'vxlan' as const },
  { family: 6 as const, backend: 'vxlan' as const },
  { family: 4 as const, backend: 'ipip' as const },
  { family: 6 as const, backend: 'ipip' as const },
])('$backend over IPv$family: two nodes back to back', ({ family, backend }) => {
  it('carries v4 and v6 UDP/TCP/ICMP both ways byte-exact, in order, counted per peer', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { family, backend, peers: [2] })));
    const b = track(memNode(net, configOf(2, { family, backend, peers: [1] })));
    const sent: Buffer[] = [];
    const protos = [17, 6, 1] as const;
    for (let i = 0; i < 150; i++) {
      const p = pkt({ src: 1, dst: 2, family: i % 2 === 0 ? 4 : 6, proto: protos[i % 3]!, dstHost: 1 + (i % 200) }, i);
      sent.push(p);
      expect(a.tun.inject(p)).toBe(true);
    }
    await until(() => b.tun.written.length === 150, 2000, 'b receives 150');
    if (backend === 'vxlan') {
      for (let i = 0; i < 150; i++) expect(b.tun.written[i]!.equals(sent[i]!), `packet ${i}`).toBe(true);
    } else {
      // IPIP: one raw socket per inner family (protocol 4 / 41); order holds within each
      for (const v of [4, 6]) {
        const got = b.tun.written.filter((p) => p[0]! >>> 4 === v);
        const want = sent.filter((p) => p[0]! >>> 4 === v);
        expect(got.length).toBe(want.length);
        for (let i = 0; i < want.length; i++) expect(got[i]!.equals(want[i]!), `IPv${v} packet ${i}`).toBe(true);
      }
    }

    const back = pkt({ src: 2, dst: 1, srcHost: 9, dstHost: 5 }, 1);
    b.tun.inject(back);
    await until(() => a.tun.written.length === 1);
    expect(a.tun.written[0]!.equals(back)).toBe(true);

    expect(dropsOf(a)).toEqual({});
    expect(dropsOf(b)).toEqual({});
    const bytes = sent.reduce((s, p) => s + p.length, 0);
    expect(a.dp.peerCounters().get('n2')).toEqual({ txPackets: 150, txBytes: bytes, rxPackets: 1, rxBytes: back.length });
    expect(b.dp.peerCounters().get('n1')).toEqual({ txPackets: 1, txBytes: back.length, rxPackets: 150, rxBytes: bytes });
    expect(a.dp.ioDrops.every((v) => v === 0)).toBe(true);

    // the wire: what node 1 sent towards node 2
    const first = net.wire[0]!;
    if (backend === 'vxlan') {
      expect(first.from).toBe(family === 4 ? '198.51.100.1:4789' : '2001:db8:100::1:4789');
      expect(first.to).toBe(family === 4 ? '198.51.100.2:4789' : '2001:db8:100:0:0:0:0:2:4789');
      // VXLAN header (I flag, VNI 1), inner Ethernet dst = n2's VTEP MAC, src = n1's, EtherType IPv4
      expect(first.bytes.subarray(0, 22).toString('hex')).toBe('0800000000000100' + '020000000002' + '020000000001' + '0800');
      expect(first.bytes.subarray(22).equals(sent[0]!)).toBe(true);
    } else if (family === 4) {
      // IP_HDRINCL: a whole outer IPv4 packet, protocol 4, n1 → n2, TTL 64, then the inner packet unchanged
      expect(first.bytes[0]).toBe(0x45);
      expect(first.bytes[9]).toBe(4);
      expect(first.bytes[8]).toBe(64);
      expect([...first.bytes.subarray(12, 20)]).toEqual([198, 51, 100, 1, 198, 51, 100, 2]);
      expect(first.bytes.subarray(20).equals(sent[0]!)).toBe(true);
    } else {
      // IPv6 raw socket: the payload is the inner packet itself (protocol 4 socket for inner IPv4)
      expect(first.to).toBe('2001:db8:100:0:0:0:0:2:4');
      expect(first.bytes.equals(sent[0]!)).toBe(true);
    }
  });
});

describe('drops', () => {
  it('counts FDB misses, local destinations and bad packets from the TUN, and forwards the rest', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] })));
    const b = track(memNode(net, configOf(2, { peers: [1] })));
    a.tun.inject(pkt({ src: 1, dst: 9 })); // 10.244.9.7: no peer owns it
    a.tun.inject(pkt({ src: 1, dst: 1 })); // own pod CIDR
    a.tun.inject(Buffer.from('45000014', 'hex')); // cut IPv4 header
    a.tun.inject(Buffer.from('00112233', 'hex')); // not IP
    const good = pkt({ src: 1, dst: 2 });
    a.tun.inject(good);
    await until(() => b.tun.written.length === 1);
    expect(b.tun.written[0]!.equals(good)).toBe(true);
    expect(dropsOf(a)).toEqual({ 'fdb-miss': 1, 'dst-local-pod': 1, 'truncated-inner-ip': 1, 'inner-not-ip': 1 });
  });

  it('rejects underlay datagrams from unknown VTEPs, with a wrong VNI, or with a spoofed inner source', async () => {
    const net = new MemoryNet();
    const b = track(memNode(net, configOf(2, { peers: [1] })));
    const inner = pkt({ src: 1, dst: 2 });
    const frame = (vni: number, dstMac = '020000000002') =>
      Buffer.concat([Buffer.from(`08000000${vni.toString(16).padStart(6, '0')}00`, 'hex'), Buffer.from(dstMac + '020000000001' + '0800', 'hex'), inner]);
    net.deliver('198.51.100.2', 'native', 4789, frame(1), '198.51.100.9', 4789); // not a peer
    net.deliver('198.51.100.2', 'native', 4789, frame(2), '198.51.100.1', 4789); // VNI 2
    net.deliver('198.51.100.2', 'native', 4789, frame(1, '020000000077'), '198.51.100.1', 4789); // not our VTEP MAC
    const spoofed = pkt({ src: 3, dst: 2 }); // n1 sending n3's pod address
    net.deliver('198.51.100.2', 'native', 4789,
      Buffer.concat([Buffer.from('0800000000000100' + '020000000002020000000001' + '0800', 'hex'), spoofed]), '198.51.100.1', 4789);
    net.deliver('198.51.100.2', 'native', 4789, Buffer.from('0800'), '198.51.100.1', 4789); // cut VXLAN header
    net.deliver('198.51.100.2', 'native', 4789, frame(1), '198.51.100.1', 5555); // fine: any source port
    await until(() => b.tun.written.length === 1);
    await settle();
    expect(b.tun.written.length).toBe(1);
    expect(b.tun.written[0]!.equals(inner)).toBe(true);
    expect(dropsOf(b)).toEqual({
      'unknown-vtep-source': 1,
      'vni-mismatch': 1,
      'inner-dst-mac-not-local': 1,
      'inner-src-not-sender-pod': 1,
      'truncated-vxlan': 1,
    });
    expect(b.dp.peerCounters().get('n1')!.rxPackets).toBe(1);
  });

  it('writes ICMP Fragmentation Needed / Packet Too Big back into the TUN for packets over the MTU', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] })));
    track(memNode(net, configOf(2, { peers: [1] })));
    expect(a.cfg.tun.mtu).toBe(1450);
    const big4 = pkt({ src: 1, dst: 2, payload: Buffer.alloc(1451 - 28, 1) });
    const big6 = pkt({ src: 1, dst: 2, family: 6, payload: Buffer.alloc(1451 - 48, 2) });
    expect(big4.length).toBe(1451);
    a.tun.inject(big4);
    a.tun.inject(big6);
    await until(() => a.tun.written.length === 2);
    const [r4, r6] = a.tun.written as [Buffer, Buffer];
    // ICMPv4 type 3 code 4, next-hop MTU 1450, from 10.244.1.0 (the TUN address) to the sender
    expect(r4[9]).toBe(1);
    expect([...r4.subarray(12, 16)]).toEqual([10, 244, 1, 0]);
    expect([...r4.subarray(16, 20)]).toEqual([10, 244, 1, 5]);
    expect([r4[20], r4[21]]).toEqual([3, 4]);
    expect(r4.readUInt16BE(26)).toBe(1450);
    expect(r4.subarray(28, 48).equals(big4.subarray(0, 20))).toBe(true);
    // ICMPv6 Packet Too Big (type 2), MTU 1450
    expect(r6[6]).toBe(58);
    expect(r6[40]).toBe(2);
    expect(r6.readUInt32BE(44)).toBe(1450);
    expect(dropsOf(a)).toEqual({ 'mtu-exceeded': 2 });
    expect(a.dp.icmpQueued).toBe(2);
  });

  it('counts packets longer than a slot as tun-read-truncated', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] })));
    a.tun.inject(Buffer.alloc(a.dp.slots.readCapacity + 1, 0x45));
    await until(() => a.dp.ioDrops[IoDrop.TunReadTruncated] === 1);
  });
});

describe('batches and back-pressure', () => {
  it('reads in batches of at most `batch` and records their sizes', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] }), 32));
    const b = track(memNode(net, configOf(2, { peers: [1] }), 32));
    a.dp.stop(); // queue everything first, then let the dataplane see one readiness event
    for (let i = 0; i < 200; i++) a.tun.inject(pkt({ src: 1, dst: 2 }, i));
    a.dp.start();
    await until(() => b.tun.written.length === 200);
    const h = a.dp.batchHist;
    const at = (op: number, size: number) => h[op * BATCH_BUCKETS + (size <= 1 ? 0 : 32 - Math.clz32(size - 1))];
    // 200 = 6 × 32 + 8
    expect(at(IoOp.TunRead, 32)).toBe(6);
    expect(at(IoOp.TunRead, 8)).toBe(1);
    expect(a.dp.batchSum[IoOp.TunRead]).toBe(200);
    expect(a.dp.batchCount[IoOp.SocketSend]).toBe(7);
    expect(b.dp.batchSum[IoOp.SocketRecv]).toBe(200);
    expect(b.dp.batchSum[IoOp.TunWrite]).toBe(200);
    for (let i = 0; i < 200; i++) expect(b.tun.written[i]!.readUInt16BE(20)).toBe(10000 + i); // order kept
  });

  it('keeps a batch when the socket would block, stops reading the TUN, resumes on writable', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] }), 64));
    const b = track(memNode(net, configOf(2, { peers: [1] }), 64));
    const sock = a.socks[0]!;
    sock.sendBudget = 10;
    a.dp.stop();
    for (let i = 0; i < 100; i++) a.tun.inject(pkt({ src: 1, dst: 2 }, i));
    a.dp.start();
    await until(() => b.tun.written.length === 10);
    await settle(30);
    expect(b.tun.written.length).toBe(10);
    expect(a.tun.pending).toBe(36); // one batch of 64 read, the rest left in the "kernel"
    expect(a.dp.blocked).toBe(true);
    expect(sock.watchedEvents & POLL_WRITABLE).toBe(POLL_WRITABLE);
    expect(a.tun.watchedEvents & POLL_READABLE).toBe(0);
    // no spinning while blocked: the fake fires only while its interest is met
    const calls = sock.watchCalls + a.tun.watchCalls;
    await settle(30);
    expect(sock.watchCalls + a.tun.watchCalls - calls).toBeLessThan(3);

    sock.allowSends();
    await until(() => b.tun.written.length === 100);
    for (let i = 0; i < 100; i++) expect(b.tun.written[i]!.readUInt16BE(20)).toBe(10000 + i);
    expect(a.dp.blocked).toBe(false);
    expect(a.dp.ioDrops.every((v) => v === 0)).toBe(true);
    expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(100);
    expect(a.tun.watchedEvents).toBe(POLL_READABLE);
  });

  it('keeps a TUN write batch on EAGAIN, pauses socket reads, resumes on writable', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] })));
    const b = track(memNode(net, configOf(2, { peers: [1] })));
    b.tun.writeBudget = 5;
    for (let i = 0; i < 50; i++) a.tun.inject(pkt({ src: 1, dst: 2 }, i));
    await until(() => b.tun.written.length === 5);
    await settle(30);
    expect(b.tun.written.length).toBe(5);
    expect(b.dp.blocked).toBe(true);
    expect(b.socks[0]!.watchedEvents & POLL_READABLE).toBe(0);
    expect(b.tun.watchedEvents & POLL_WRITABLE).toBe(POLL_WRITABLE);
    b.tun.allowWrites();
    await until(() => b.tun.written.length === 50);
    for (let i = 0; i < 50; i++) expect(b.tun.written[i]!.readUInt16BE(20)).toBe(10000 + i);
    expect(b.dp.blocked).toBe(false);
  });

  it('skips and counts a datagram the kernel refuses (send-error) and a packet the TUN refuses', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] })));
    const b = track(memNode(net, configOf(2, { peers: [1] })));
    a.socks[0]!.failSends = 3;
    b.tun.failWrites = 2;
    for (let i = 0; i < 20; i++) a.tun.inject(pkt({ src: 1, dst: 2 }, i));
    await until(() => b.tun.written.length === 15);
    await settle();
    expect(b.tun.written.length).toBe(15);
    expect(a.dp.ioDrops[IoDrop.SendError]).toBe(3);
    expect(b.dp.ioDrops[IoDrop.TunWriteError]).toBe(2);
    const errs = a.dp.ioErrorList();
    expect(errs).toEqual([{ op: 'socket-send', errno: a.socks[0]!.failErrno, count: 3 }]);
    expect(b.dp.ioErrorList()).toEqual([{ op: 'tun-write', errno: b.tun.failErrno, count: 2 }]);
    expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(17);
  });

  it('the fake socket counts datagrams beyond its queue limit (what the kernel does with a full rcvbuf)', async () => {
    const net = new MemoryNet();
    const s = net.socket({ family: 4, address: '198.51.100.7', port: 4789, readCapacity: 2000, queueLimit: 3 });
    for (let i = 0; i < 5; i++) net.deliver('198.51.100.7', 'native', 4789, Buffer.from([i]), '198.51.100.1', 1);
    expect(s.pending).toBe(3);
    expect(s.queueDrops).toBe(2);
    s.close();
  });
});

describe('FDB swap (config reload)', () => {
  it('adds a peer, removes one, and keeps other flows and per-peer totals', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2] })));
    const b = track(memNode(net, configOf(2, { peers: [1, 3] })));
    const c = track(memNode(net, configOf(3, { peers: [1, 2] })));
    a.tun.inject(pkt({ src: 1, dst: 3 }, 0));
    a.tun.inject(pkt({ src: 1, dst: 2 }, 1));
    await until(() => b.tun.written.length === 1);
    await settle();
    expect(c.tun.written.length).toBe(0);
    expect(a.engine.drops[Drop.FdbMiss]).toBe(1);

    const withN3 = configOf(1, { peers: [2, 3] });
    a.dp.setFdb(Fdb.build(withN3.node, withN3.peers));
    a.tun.inject(pkt({ src: 1, dst: 3 }, 2));
    a.tun.inject(pkt({ src: 1, dst: 2 }, 3));
    await until(() => c.tun.written.length === 1 && b.tun.written.length === 2);

    const onlyN3 = configOf(1, { peers: [3] });
    a.dp.setFdb(Fdb.build(onlyN3.node, onlyN3.peers));
    a.tun.inject(pkt({ src: 1, dst: 2 }, 4));
    a.tun.inject(pkt({ src: 1, dst: 3 }, 5));
    await until(() => c.tun.written.length === 2);
    await settle();
    expect(b.tun.written.length).toBe(2);
    expect(a.engine.drops[Drop.FdbMiss]).toBe(2);
    // a packet from n2 is now from an unknown VTEP for n1
    b.tun.inject(pkt({ src: 2, dst: 1 }, 6));
    await until(() => a.engine.drops[Drop.UnknownVtepSource] === 1);
    const totals = a.dp.peerCounters();
    expect(totals.get('n2')!.txPackets).toBe(2);
    expect(totals.get('n3')!.txPackets).toBe(2);
  });

  it('renumbers the peers of a batch still waiting to be sent', async () => {
    const net = new MemoryNet();
    const a = track(memNode(net, configOf(1, { peers: [2, 3] })));
    const c = track(memNode(net, configOf(3, { peers: [1, 2] })));
    a.socks[0]!.sendBudget = 0;
    a.tun.inject(pkt({ src: 1, dst: 3 }, 0));
    await until(() => a.dp.blocked);
    const swapped = configOf(1, { peers: [3, 2] }); // n3 is now index 0
    a.dp.setFdb(Fdb.build(swapped.node, swapped.peers));
    a.socks[0]!.allowSends();
    await until(() => c.tun.written.length === 1);
    expect(a.dp.peerCounters().get('n3')!.txPackets).toBe(1);
    expect(a.dp.peerCounters().get('n2')!.txPackets).toBe(0);
  });
});
