// The addon against the real kernel, inside a network namespace made for this run (root only).
// Each check runs as a child process `ip netns exec NS node --import tsx <script>` (the test process
// itself stays outside the namespace); the child prints one JSON line, the assertions are here.
//
// 1. TUN: open vtep0, 10.244.9.0/32 + route 10.244.99.0/24 → a UDP datagram to 10.244.99.5 comes
//    out of tunReadBatch; an ICMP echo request written in (at a slot offset with headroom) to
//    10.244.9.0 gives an echo reply back out; EBUSY / EINVAL at open.
// 2. recvBatch/sendBatch: 1000 datagrams on 127.0.0.1 and ::1, contents and sources checked, for
//    native→native and the dgram fallback on either end; EADDRINUSE.
// 2b. received TOS / traffic class: datagrams sent by python3 with IP_TOS / IPV6_TCLASS set arrive
//    with that byte in recvBatch's `tos` (v4, v6, v4 on a dual-stack socket, IPv6 raw socket), one
//    batch holding different values; 0 without recvTos and from the dgram fallback.
// 3. poll lifecycle: fires on data, stop lets the process exit, an active poll keeps it alive,
//    unref, process.exit and worker termination with an open poll, exceptions in the callback.
// 4. recvmmsg vs dgram receive rate (bounded, ~1 s each), printed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { native } from '../../src/io/native.ts';
import { checksumOf } from '../../src/packet/checksum.ts';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const isRoot = process.getuid?.() === 0;
const hasIp = (() => {
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const canRun = process.platform === 'linux' && isRoot && hasIp && native !== null;

const NS = `vtnat${process.pid}-n1`;
let dir = '';

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  json: any;
}

const PRELUDE = `
import { TunDevice } from '${REPO}src/io/tun.ts';
import { NativeUdpSocket, NodeUdpSocket, openUdp, parseIpInto, POLL_READABLE } from '${REPO}src/io/udp.ts';
import { native } from '${REPO}src/io/native.ts';
import { checksumOf } from '${REPO}src/packet/checksum.ts';
import { execFileSync } from 'node:child_process';
import dgram from 'node:dgram';
const hex = (b) => Buffer.from(b).toString('hex');
const errOf = (f) => { try { f(); return null; } catch (e) { return { code: e.code, message: e.message }; } };
const errOfAsync = async (f) => { try { await f(); return null; } catch (e) { return { code: e.code, message: e.message }; } };
const done = (o) => { process.stdout.write('\\n' + JSON.stringify(o) + '\\n'); };
`;

let scriptNo = 0;
/** Run `body` (TS, top-level await allowed) in the namespace; kill it after `timeoutMs`. */
function runInNs(body: string, timeoutMs = 20_000, env: Record<string, string> = {}): Promise<ChildResult> {
  const file = join(dir, `child${scriptNo++}.mts`);
  writeFileSync(file, PRELUDE + body);
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', file], {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: unknown = null;
      try {
        json = JSON.parse(last);
      } catch {
        json = null;
      }
      resolve({ code, signal, stdout, stderr, json });
    });
  });
}

function expectOk(r: ChildResult): any {
  expect(r.json, `child failed (code ${r.code}, signal ${r.signal}):\n${r.stderr}\n${r.stdout}`).not.toBeNull();
  return r.json;
}

describe.skipIf(!canRun)('native addon in a network namespace', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vtep-native-test-'));
    execFileSync('ip', ['netns', 'add', NS]);
    execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  });

  afterAll(() => {
    try {
      execFileSync('ip', ['netns', 'del', NS], { stdio: 'ignore' });
    } catch {
      // already gone
    }
    if (dir !== '' && !process.env.VTEP_KEEP_TMP) rmSync(dir, { recursive: true, force: true });
  });

  it('TUN: reads a routed UDP datagram, answers an ICMP echo written in, refuses a busy name', async () => {
    const r = await runInNs(`
const SLOT = 2048, HEAD = 64, N = 16;
const pool = Buffer.alloc(SLOT * N);
const offsets = new Int32Array(N).map((_, i) => i * SLOT + HEAD);
const lengths = new Int32Array(N);
const out = {};
const tun = TunDevice.open({ name: 'vtep0', readCapacity: SLOT - HEAD, mtu: 1400, txQueueLen: 1000 });
out.emptyRead = tun.readBatch(pool, offsets, lengths, N); // link down: nothing queued, EAGAIN → 0
out.name = tun.name;
out.mtu = tun.getMtu();
out.busy = errOf(() => TunDevice.open({ name: 'vtep0', readCapacity: 100 }));
out.exclusive = errOf(() => TunDevice.open({ name: 'vtep0', readCapacity: 100, exclusive: true }));
out.notTun = errOf(() => TunDevice.open({ name: 'lo', readCapacity: 100 }));
tun.setUp(true);
execFileSync('ip', ['addr', 'add', '10.244.9.0/32', 'dev', 'vtep0']);
execFileSync('ip', ['route', 'add', '10.244.99.0/24', 'dev', 'vtep0']);
out.link = JSON.parse(execFileSync('ip', ['-j', 'link', 'show', 'vtep0'], { encoding: 'utf8' }))[0];

// Wait (through the poll, never spinning) for a packet matching pred; resolve with its bytes.
let fired = 0;
const waitFor = (pred, ms) => new Promise((resolve) => {
  const timer = setTimeout(() => { tun.unwatch(); resolve(null); }, ms);
  tun.watch(() => {
    fired++;
    const n = tun.readBatch(pool, offsets, lengths, N);
    for (let i = 0; i < n; i++) {
      const p = pool.subarray(offsets[i], offsets[i] + lengths[i]);
      if (pred(p)) { clearTimeout(timer); tun.unwatch(); resolve(hex(p)); return; }
    }
  });
});

const sock = dgram.createSocket('udp4');
const got = waitFor((p) => (p[0] >> 4) === 4 && p[9] === 17, 3000);
sock.send(Buffer.from('hello through vtep0'), 7777, '10.244.99.5');
out.udp = await got;
out.udpFired = fired;
out.udpSrcPort = sock.address().port;
sock.close();

// ICMP echo request 10.244.99.5 -> 10.244.9.0, written from slot 3 (offset with headroom)
const req = Buffer.alloc(20 + 8 + 24);
req[0] = 0x45; req.writeUInt16BE(req.length, 2); req.writeUInt16BE(0x1234, 4); req[8] = 64; req[9] = 1;
Buffer.from([10, 244, 99, 5]).copy(req, 12); Buffer.from([10, 244, 9, 0]).copy(req, 16);
req.writeUInt16BE(checksumOf(req, 0, 20), 10);
req[20] = 8; req.writeUInt16BE(0xbeef, 24); req.writeUInt16BE(7, 26);
for (let k = 0; k < 24; k++) req[28 + k] = 0x40 + k;
req.writeUInt16BE(checksumOf(req, 20, req.length - 20), 22);
out.request = hex(req);
req.copy(pool, offsets[3]);
lengths[3] = req.length;
const reply = waitFor((p) => (p[0] >> 4) === 4 && p[9] === 1 && p[20] === 0, 3000);
out.written = tun.writeBatch(pool, offsets, lengths, 4, 3);
out.reply = await reply;
// a bad packet in the middle of a batch: [echo, garbage (version 7), echo]
for (const k of [4, 6]) { req.copy(pool, offsets[k]); lengths[k] = req.length; }
pool.fill(0x70, offsets[5], offsets[5] + 40); lengths[5] = 40;
out.partial = [tun.writeBatch(pool, offsets, lengths, 7, 4), tun.writeBatch(pool, offsets, lengths, 7, 5), tun.writeBatch(pool, offsets, lengths, 7, 6)];
tun.close();
out.closedTwice = errOf(() => tun.close());
try { execFileSync('ip', ['link', 'show', 'vtep0'], { stdio: 'ignore' }); out.goneAfterClose = false; } catch { out.goneAfterClose = true; }
done(out);
`);
    const o = expectOk(r);
    expect(o.name).toBe('vtep0');
    expect(o.mtu).toBe(1400);
    expect(o.link.mtu).toBe(1400);
    expect(o.link.txqlen).toBe(1000);
    expect(o.link.flags).toContain('UP');
    expect(o.link.flags).toContain('NOARP'); // IFF_TUN: no link layer
    expect(o.emptyRead).toBe(0);
    expect(o.busy).toMatchObject({ code: 'IO' });
    expect(o.busy.message).toMatch(/^tun vtep0: open failed: EBUSY/);
    expect(o.exclusive.message).toMatch(/^tun vtep0: open failed: EBUSY/);
    expect(o.notTun.message).toMatch(/^tun lo: open failed: EINVAL/);

    // the datagram as the kernel routed it into vtep0: bare IPv4 (IFF_NO_PI), no header in front
    expect(o.udp).not.toBeNull();
    expect(o.udpFired).toBeGreaterThanOrEqual(1);
    const u = Buffer.from(o.udp, 'hex');
    const payload = Buffer.from('hello through vtep0');
    expect(u[0]).toBe(0x45);
    expect(u.readUInt16BE(2)).toBe(u.length);
    expect(u.length).toBe(20 + 8 + payload.length);
    expect([...u.subarray(12, 16)]).toEqual([10, 244, 9, 0]); // source: vtep0's address
    expect([...u.subarray(16, 20)]).toEqual([10, 244, 99, 5]);
    expect(checksumOf(u, 0, 20)).toBe(0);
    expect(u.readUInt16BE(20)).toBe(o.udpSrcPort);
    expect(u.readUInt16BE(22)).toBe(7777);
    expect(u.readUInt16BE(24)).toBe(8 + payload.length);
    expect(u.subarray(28).equals(payload)).toBe(true);

    // the echo reply: addresses swapped, type 0, same id/seq/data, valid checksums
    expect(o.written).toBe(1);
    expect(o.reply).not.toBeNull();
    const q = Buffer.from(o.request, 'hex');
    const p = Buffer.from(o.reply, 'hex');
    expect(p.length).toBe(q.length);
    expect([...p.subarray(12, 16)]).toEqual([10, 244, 9, 0]);
    expect([...p.subarray(16, 20)]).toEqual([10, 244, 99, 5]);
    expect(checksumOf(p, 0, 20)).toBe(0);
    expect(p[20]).toBe(0); // echo reply
    expect(p[21]).toBe(0);
    expect(checksumOf(p, 20, p.length - 20)).toBe(0);
    expect(p.subarray(24).equals(q.subarray(24))).toBe(true); // id, seq, data
    // write contract: stops before the bad packet, which then fails alone with -EINVAL
    expect(o.partial).toEqual([1, -osConstants.errno.EINVAL, 1]);
    expect(o.closedTwice).toBeNull();
    expect(o.goneAfterClose).toBe(true);
  });

  const transfer = (family: 4 | 6, sender: string, receiver: string) => `
const FAMILY = ${family}, COUNT = 1000, BATCH = 64, SLOT = 2048, HEAD = 64;
const LOOP = FAMILY === 4 ? '127.0.0.1' : '::1';
const open = (kind) => openUdp({ io: kind, family: FAMILY, address: LOOP, port: 0, readCapacity: SLOT - HEAD });
const rx = await open('${receiver}');
const tx = await open('${sender}');
const out = { rxPort: rx.port, txPort: tx.port };
out.inUseNative = errOf(() => NativeUdpSocket.open({ family: FAMILY, address: LOOP, port: rx.port, readCapacity: 100 }));
out.inUseNode = await errOfAsync(() => NodeUdpSocket.open({ family: FAMILY, address: LOOP, port: rx.port, readCapacity: 100 }));
const lenOf = (i) => 8 + ((i * 37) % 1200);
const fill = (buf, off, i) => { buf.writeUInt32BE(i, off); buf.writeUInt32BE(lenOf(i), off + 4); for (let k = 8; k < lenOf(i); k++) buf[off + k] = (i * 7 + k) & 0xff; };

const txPool = Buffer.alloc(SLOT * BATCH), rxPool = Buffer.alloc(SLOT * 256);
const txOff = new Int32Array(BATCH).map((_, i) => i * SLOT + HEAD), txLen = new Int32Array(BATCH);
const dst = new Uint8Array(16 * BATCH), dstPort = new Uint16Array(BATCH).fill(rx.port);
const one = new Uint8Array(16); parseIpInto(LOOP, one, 0);
for (let i = 0; i < BATCH; i++) dst.set(one, 16 * i);
const rxOff = new Int32Array(256).map((_, i) => i * SLOT + HEAD), rxLen = new Int32Array(256);
const src = new Uint8Array(16 * 256), srcPort = new Uint16Array(256);
const seen = new Uint8Array(COUNT);
let received = 0, bad = 0, badSrc = 0, dup = 0, batches = 0, maxBatch = 0, sendCalls = 0, sendErr = 0;
const finished = new Promise((resolve) => {
  const timer = setTimeout(resolve, 8000);
  rx.watch(() => {
    for (;;) {
      const n = rx.recvBatch(rxPool, rxOff, rxLen, src, srcPort, 256);
      if (n <= 0) break;
      batches++; maxBatch = Math.max(maxBatch, n);
      for (let j = 0; j < n; j++) {
        const o = rxOff[j], i = rxPool.readUInt32BE(o);
        let ok = i < COUNT && rxLen[j] === lenOf(i) && rxPool.readUInt32BE(o + 4) === rxLen[j];
        for (let k = 8; ok && k < rxLen[j]; k++) if (rxPool[o + k] !== ((i * 7 + k) & 0xff)) ok = false;
        if (!ok) { bad++; continue; }
        if (Buffer.compare(src.subarray(16 * j, 16 * j + 16), one) !== 0 || srcPort[j] !== tx.port) badSrc++;
        if (seen[i]) dup++; seen[i] = 1; received++;
      }
    }
    if (received + bad >= COUNT) { clearTimeout(timer); resolve(); }
  });
});
let next = 0;
const pump = () => {
  while (next < COUNT) {
    const n = Math.min(BATCH, COUNT - next);
    for (let j = 0; j < n; j++) { fill(txPool, txOff[j], next + j); txLen[j] = lenOf(next + j); }
    let first = 0;
    while (first < n) {
      sendCalls++;
      const r = tx.sendBatch(txPool, txOff, txLen, dst, dstPort, n, first);
      if (r < 0) { sendErr++; first++; continue; }
      if (r === 0) break;
      first += r;
    }
    next += first;
    if (first < n) { setImmediate(pump); return; }   // would block: try again next turn
    if ((next / BATCH) % 4 === 0) { setImmediate(pump); return; }  // let the receiver drain
  }
};
pump();
await finished;
Object.assign(out, { received, bad, badSrc, dup, batches, maxBatch, sendCalls, sendErr, srcSample: hex(src.subarray(0, 16)) });
rx.close(); tx.close();
done(out);
`;

  for (const family of [4, 6] as const) {
    for (const [sender, receiver] of [['native', 'native'], ['native', 'node'], ['node', 'native']]) {
      it(`UDP over ${family === 4 ? '127.0.0.1' : '::1'}: 1000 datagrams ${sender} → ${receiver}, contents and sources intact`, async () => {
        const o = expectOk(await runInNs(transfer(family, sender!, receiver!)));
        expect(o.sendErr).toBe(0);
        expect(o.bad).toBe(0);
        expect(o.dup).toBe(0);
        expect(o.badSrc).toBe(0);
        expect(o.received).toBe(1000);
        expect(o.srcSample).toBe(family === 4 ? '00000000000000000000ffff7f000001' : '00000000000000000000000000000001');
        if (receiver === 'native') expect(o.maxBatch).toBeGreaterThan(1); // recvmmsg really batches
        if (sender === 'native') expect(o.sendCalls).toBeLessThan(100); // sendmmsg: ~1000/64 calls
        for (const e of [o.inUseNative, o.inUseNode]) {
          expect(e).toMatchObject({ code: 'IO' });
          expect(e.message).toContain(`:${o.rxPort}: bind failed: EADDRINUSE`);
        }
      });
    }
  }

  it('raw IPIP socket: receives a protocol-4 packet with its outer header, sends payload only', async () => {
    const o = expectOk(await runInNs(`
const { NativeRawSocket } = await import('${REPO}src/io/udp.ts');
const a = NativeRawSocket.open({ family: 4, protocol: 4, readCapacity: 1984 });
const pool = Buffer.alloc(4096), off = Int32Array.of(64, 2112), len = new Int32Array(2);
const addr = new Uint8Array(32), port = new Uint16Array(2);
parseIpInto('127.0.0.1', addr, 0);
// inner IPv4 packet (payload of the IPIP datagram): 10.244.1.2 -> 10.244.2.3, protocol 253
const inner = Buffer.from('4500001c000000004030' + '0000' + '0af40102' + '0af40203' + '0102030405060708', 'hex');
inner[9] = 253; inner.writeUInt16BE(checksumOf(inner, 0, 20), 10);
inner.copy(pool, 64); len[0] = inner.length;
const got = new Promise((resolve) => {
  const t = setTimeout(() => resolve(null), 3000);
  a.watch(() => { const n = a.recvBatch(pool, off.subarray(1), len.subarray(1), addr.subarray(16), port.subarray(1), 1); if (n > 0) { clearTimeout(t); a.unwatch(); resolve(n); } });
});
const sent = a.sendBatch(pool, off, len, addr, port, 1, 0);
const n = await got;
done({ sent, n, pkt: hex(pool.subarray(2112, 2112 + len[1])), src: hex(addr.subarray(16)), srcPort: port[1] });
a.close();
`));
    expect(o.sent).toBe(1);
    expect(o.n).toBe(1);
    const p = Buffer.from(o.pkt, 'hex');
    expect(p[0]).toBe(0x45);
    expect(p[9]).toBe(4); // outer protocol IPIP, written by the kernel
    expect([...p.subarray(12, 16)]).toEqual([127, 0, 0, 1]);
    expect([...p.subarray(16, 20)]).toEqual([127, 0, 0, 1]);
    expect(p.length).toBe(20 + 28);
    expect(p.subarray(20).toString('hex')).toMatch(/^4500001c/);
    expect([...p.subarray(32, 40)]).toEqual([10, 244, 1, 2, 10, 244, 2, 3]);
    expect(o.src).toBe('00000000000000000000ffff7f000001');
    expect(o.srcPort).toBe(0);
  });

  it('received TOS / traffic class: each datagram of a batch reports the byte it was sent with (v4, v6, dual-stack, raw v6)', async () => {
    const o = expectOk(await runInNs(`
const { NativeRawSocket } = await import('${REPO}src/io/udp.ts');
const TOS = [0x00, 0x01, 0x02, 0x03, 0xb9, 0xfe];
// python3 sends one datagram per TOS value, each from a socket with IP_TOS / IPV6_TCLASS set
const PY = [
  'import socket, sys',
  'kind, dst, port = sys.argv[1], sys.argv[2], int(sys.argv[3])',
  'for t in map(int, sys.argv[4:]):',
  '    if kind == "4":',
  '        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, t)',
  '    else:',
  '        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW if kind == "6raw" else socket.SOCK_DGRAM, 4 if kind == "6raw" else 0)',
  '        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_TCLASS, t)',
  '    s.sendto(b"tos=%d" % t, (dst, port)); s.close()',
].join('\\n');
const send = (kind, dst, port) => execFileSync('python3', ['-c', PY, kind, dst, String(port), ...TOS.map(String)]);
const N = 16, SLOT = 256;
const pool = Buffer.alloc(SLOT * N), off = new Int32Array(N).map((_, i) => i * SLOT), len = new Int32Array(N);
const addr = new Uint8Array(16 * N), port = new Uint16Array(N), tos = new Uint8Array(N);
/** Everything queued on s, as [payload, tos, source]; the largest batch. tos prefilled so a value left unwritten shows. */
const drain = async (s, want) => {
  const got = []; let maxBatch = 0;
  const deadline = Date.now() + 3000;
  while (got.length < want && Date.now() < deadline) {
    tos.fill(0xee);
    const n = s.recvBatch(pool, off, len, addr, port, N, tos);
    if (n < 0) return { error: n };
    if (n === 0) { await new Promise((r) => setTimeout(r, 10)); continue; }
    maxBatch = Math.max(maxBatch, n);
    for (let i = 0; i < n; i++) got.push([pool.toString('latin1', off[i], off[i] + len[i]), tos[i], hex(addr.subarray(16 * i, 16 * i + 16))]);
  }
  return { got, maxBatch };
};
const udp = (family, address, extra = {}) => NativeUdpSocket.open({ family, address, port: 0, readCapacity: SLOT, ...extra });
const out = {};
let s = udp(4, '127.0.0.1', { recvTos: true }); send('4', '127.0.0.1', s.port); out.v4 = await drain(s, TOS.length); s.close();
s = udp(6, '::1', { recvTos: true }); send('6', '::1', s.port); out.v6 = await drain(s, TOS.length); s.close();
s = udp(6, '::', { recvTos: true, v6only: false });
send('4', '127.0.0.1', s.port); send('6', '::1', s.port); out.dual = await drain(s, 2 * TOS.length); s.close();
s = udp(4, '127.0.0.1'); send('4', '127.0.0.1', s.port); out.off = await drain(s, TOS.length); s.close();
s = await NodeUdpSocket.open({ family: 4, address: '127.0.0.1', port: 0, readCapacity: SLOT, recvTos: true });
send('4', '127.0.0.1', s.port); out.node = await drain(s, TOS.length); s.close();
s = NativeRawSocket.open({ family: 6, protocol: 4, readCapacity: SLOT, recvTos: true });
send('6raw', '::1', 0); out.raw6 = await drain(s, TOS.length); s.close();
out.TOS = TOS;
done(out);
`));
    const TOS: number[] = o.TOS;
    const v4lo = '00000000000000000000ffff7f000001';
    const v6lo = '00000000000000000000000000000001';
    const strip = (r: { got: [string, number, string][] }) => r.got.map(([p, t]) => [p, t]);
    expect(o.v4.got).toEqual(TOS.map((t) => [`tos=${t}`, t, v4lo]));
    expect(o.v4.maxBatch).toBeGreaterThan(1); // several messages, each with its own control buffer
    expect(o.v6.got).toEqual(TOS.map((t) => [`tos=${t}`, t, v6lo]));
    expect(o.v6.maxBatch).toBeGreaterThan(1);
    // dual-stack: IPv4 datagrams (v4-mapped source) report IP_TOS, IPv6 ones IPV6_TCLASS
    expect(o.dual.got).toEqual([...TOS.map((t) => [`tos=${t}`, t, v4lo]), ...TOS.map((t) => [`tos=${t}`, t, v6lo])]);
    expect(o.raw6.got).toEqual(TOS.map((t) => [`tos=${t}`, t, v6lo]));
    // without recvTos the kernel attaches nothing: 0, written (not the 0xee left from before)
    expect(strip(o.off)).toEqual(TOS.map((t) => [`tos=${t}`, 0]));
    // node:dgram cannot see the TOS: always 0
    expect(strip(o.node)).toEqual(TOS.map((t) => [`tos=${t}`, 0]));
  });

  it('UDP GSO send and GRO receive on loopback: one send of 3 segments arrives as 3 datagrams, or as 1 coalesced with its segment size', async () => {
    const o = expectOk(await runInNs(`
const N = 8, SLOT = 65536;
const pool = Buffer.alloc(SLOT * N), off = new Int32Array(N).map((_, i) => i * SLOT), len = new Int32Array(N);
const addr = new Uint8Array(16 * N), port = new Uint16Array(N), gso = new Uint16Array(N);
// the send message: segments of 1000, 1000 and 300 bytes, each filled with its own byte
const msg = Buffer.alloc(2300);
msg.fill(0x41, 0, 1000); msg.fill(0x42, 1000, 2000); msg.fill(0x43, 2000);
const sendOne = (tx, rx, g) => {
  pool.set(msg, 7 * SLOT);
  const a = new Uint8Array(16); parseIpInto('127.0.0.1', a, 0);
  return tx.sendBatch(pool, Int32Array.of(7 * SLOT), Int32Array.of(msg.length), a, Uint16Array.of(rx.port), 1, 0, Uint16Array.of(g));
};
const drain = async (s, want) => {
  const got = [];
  const deadline = Date.now() + 3000;
  while (got.length < want && Date.now() < deadline) {
    gso.fill(0xeeee);
    const n = s.recvBatch(pool, off, len, addr, port, 6, null, gso);
    if (n < 0) return { error: n };
    if (n === 0) { await new Promise((r) => setTimeout(r, 10)); if (got.length > 0) break; continue; }
    // [length, segment size, the runs of bytes in order: 'A' | 'ABC' …, with each run's length]
    for (let i = 0; i < n; i++) {
      const t = pool.toString('latin1', off[i], off[i] + len[i]);
      got.push([len[i], gso[i], t.replace(/(.)\\1*/g, (m, c) => c + m.length)]);
    }
  }
  return got;
};
const open = (extra) => NativeUdpSocket.open({ family: 4, address: '127.0.0.1', port: 0, readCapacity: SLOT, ...extra });
const out = {};
const tx = open({ gso: true });
let rx = open({});
out.sent = sendOne(tx, rx, 1000); out.plain = await drain(rx, 3); rx.close();
rx = open({ gro: true });
out.sentGro = sendOne(tx, rx, 1000); out.gro = await drain(rx, 1); rx.close();
// a socket with SO_NO_CHECK: the kernel refuses UDP_SEGMENT (EINVAL), reported as -errno
const nock = open({});
native.setsockoptInt(nock.fd, native.constants.SOL_SOCKET, 11, 1);
rx = open({});
out.nocheck = sendOne(nock, rx, 1000); rx.close(); nock.close(); tx.close();
out.flags = [tx.gsoCapable, tx.groCapable];
// runs: three 700-byte datagrams in three separate slots gathered into one GSO send (iovecs), then a lone one
{
  const t3 = open({ gso: true });
  const r2 = open({});
  const a16 = new Uint8Array(16 * 4); for (let k = 0; k < 4; k++) parseIpInto('127.0.0.1', a16, 16 * k);
  const offs = Int32Array.of(2 * SLOT, 4 * SLOT, 6 * SLOT, 3 * SLOT);
  const lens = Int32Array.of(700, 700, 700, 300);
  for (let k = 0; k < 4; k++) pool.fill(0x61 + k, offs[k], offs[k] + lens[k]);
  out.runSent = t3.sendBatch(pool, offs, lens, a16, Uint16Array.of(r2.port, r2.port, r2.port, r2.port), 4, 0,
    Uint16Array.of(700, 0, 0, 0), Uint16Array.of(3, 0, 0, 1));
  out.runGot = await drain(r2, 4);
  r2.close();
  t3.close();
}
// queue wait: a datagram left 200 ms in a socket with rxAge reports ≈ 200 000 µs; without rxAge, -1
const age = new Int32Array(N);
for (const rxAge of [true, false]) {
  const r = open({ rxAge });
  const t2 = open({});
  // the kernel turns receive timestamps on (a static key) from a work queue after the setsockopt: a datagram
  // that arrives before then is stamped when it is read (age ≈ 0). Give it that moment.
  await new Promise((res) => setTimeout(res, 100));
  sendOne(t2, r, 0);
  await new Promise((res) => setTimeout(res, 200));
  age.fill(-7);
  const n = r.recvBatch(pool, off, len, addr, port, 6, null, null, age);
  out[rxAge ? 'age' : 'noAge'] = [n, age[0]];
  r.close(); t2.close();
}
done(out);
`));
    expect(o.sent).toBe(1);
    // without UDP_GRO the kernel cuts the GSO send into datagrams of the segment size; gso reported 0
    expect(o.plain).toEqual([[1000, 0, 'A1000'], [1000, 0, 'B1000'], [300, 0, 'C300']]);
    // with UDP_GRO the run arrives whole, with its segment size
    expect(o.sentGro).toBe(1);
    expect(o.gro).toEqual([[2300, 1000, 'A1000B1000C300']]);
    expect(o.nocheck).toBe(-osConstants.errno.EINVAL);
    expect(o.flags).toEqual([true, false]);
    // a gathered run counts as its 3 entries; the datagrams are the slots' bytes, in order
    expect(o.runSent).toBe(4);
    expect(o.runGot).toEqual([[700, 0, 'a700'], [700, 0, 'b700'], [700, 0, 'c700'], [300, 0, 'd300']]);
    expect(o.age[0]).toBe(1);
    expect(o.age[1]).toBeGreaterThanOrEqual(190_000);
    expect(o.age[1]).toBeLessThan(2_000_000);
    expect(o.noAge).toEqual([1, -1]);
  });

  const pollChild = (mode: string) => `
const s = NativeUdpSocket.open({ family: 4, address: '127.0.0.1', port: 0, readCapacity: 1500 });
const pool = Buffer.alloc(2048), off = Int32Array.of(0), len = new Int32Array(1);
const addr = new Uint8Array(16), port = new Uint16Array(1);
const mode = '${mode}';
let fired = 0;
s.watch(() => {
  fired++;
  const n = s.recvBatch(pool, off, len, addr, port, 1);
  if (mode === 'throw') throw new Error('boom from poll callback');
  if (mode === 'stop') { s.unwatch(); s.close(); }
  console.log('fired', fired, 'n', n, 'len', len[0]);
  if (mode === 'exit') process.exit(0);
});
if (mode === 'unref') s.watchRef(false);
if (mode === 'worker') {
  const { Worker } = await import('node:worker_threads');
  const w = new Worker(\`
    const { createRequire } = require('node:module');
    const a = require(process.env.ADDON);
    const fd = a.udpOpen(4, '127.0.0.1', 0, 0, 0, 0);
    const id = a.pollStart(fd, 1, () => {});
    require('node:worker_threads').parentPort.postMessage({ fd, id });
  \`, { eval: true });
  const m = await new Promise((r) => w.once('message', r));
  await w.terminate();
  console.log('worker', JSON.stringify(m));
  s.close();
} else if (mode !== 'unref') {
  const c = dgram.createSocket('udp4');
  c.send(Buffer.from('ping'), s.port, '127.0.0.1', () => c.close());
}
`;

  it('poll: fires on data; stopping it lets the process exit by itself', async () => {
    const r = await runInNs(pollChild('stop'), 10_000);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('fired 1 n 1 len 4');
  });

  it('poll: an active poll keeps the process alive (killed at the deadline)', async () => {
    const r = await runInNs(pollChild('keep'), 3_000);
    expect(r.stdout).toContain('fired 1 n 1 len 4');
    expect(r.signal).toBe('SIGKILL');
  });

  it('poll: unref, process.exit and worker termination with an open poll end cleanly', async () => {
    const [unref, exit, worker] = await Promise.all([
      runInNs(pollChild('unref'), 10_000),
      runInNs(pollChild('exit'), 10_000),
      runInNs(pollChild('worker'), 10_000, { ADDON: `${REPO}build/Release/vtep_native.node` }),
    ]);
    expect(unref.signal).toBeNull();
    expect(unref.code).toBe(0);
    expect(exit.code).toBe(0);
    expect(exit.stdout).toContain('fired 1');
    expect(worker.code, worker.stderr).toBe(0);
    expect(worker.stdout).toMatch(/worker \{"fd":\d+,"id":0\}/);
  });

  it('poll: an exception in the callback is an uncaught exception, not a crash', async () => {
    const r = await runInNs(pollChild('throw'), 10_000);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('boom from poll callback');
  });

  it('measures recvmmsg vs dgram receive rate on loopback (bounded)', async () => {
    // Receive cost only: each round queues ROUND datagrams (100 B) with sendmmsg while the loop is
    // blocked, then times the receiver draining them through its watch callback. Same harness for
    // both kinds; the socket buffer (4 MiB, net.core.rmem_max for dgram) holds a whole round.
    const script = (kind: string) => `
const ROUNDS = 10, ROUND = 2000, B = 64;
const rx = await openUdp({ io: '${kind}', family: 4, address: '127.0.0.1', port: 0, readCapacity: 1984 });
const tx = NativeUdpSocket.open({ family: 4, address: '127.0.0.1', port: 0, readCapacity: 100 });
const pool = Buffer.alloc(2048 * 256), off = new Int32Array(256).map((_, i) => i * 2048 + 64), len = new Int32Array(256);
const addr = new Uint8Array(16 * 256), port = new Uint16Array(256);
const txPool = Buffer.alloc(2048 * B), txOff = new Int32Array(B).map((_, i) => i * 2048 + 64), txLen = new Int32Array(B).fill(100);
const dst = new Uint8Array(16 * B), dstPort = new Uint16Array(B).fill(rx.port);
for (let i = 0; i < B; i++) parseIpInto('127.0.0.1', dst, 16 * i);
let got = 0, want = 0, wake = null;
rx.watch(() => {
  for (;;) { const n = rx.recvBatch(pool, off, len, addr, port, 256); if (n <= 0) break; got += n; }
  if (got >= want && wake) { const w = wake; wake = null; w(); }
});
let ns = 0n, sent = 0;
for (let r = 0; r < ROUNDS; r++) {
  for (let k = 0; k < ROUND; k += B) { const m = tx.sendBatch(txPool, txOff, txLen, dst, dstPort, B, 0); if (m > 0) sent += m; }
  want = sent;
  const t0 = process.hrtime.bigint();
  await new Promise((resolve) => { wake = resolve; setTimeout(resolve, 500); });
  ns += process.hrtime.bigint() - t0;
}
rx.close(); tx.close();
done({ got, sent, ns: Number(ns) });
`;
    const rates: Record<string, number> = {};
    for (const kind of ['native', 'node']) {
      const o = expectOk(await runInNs(script(kind), 15_000));
      expect(o.got, `${kind}: received ${o.got} of ${o.sent}`).toBeGreaterThan(o.sent * 0.9);
      rates[kind] = o.got / (o.ns / 1e9);
      console.log(`[measure] ${kind} receive: ${Math.round(rates[kind]!)} datagrams/s (${o.got}/${o.sent} of 100 B, ${(o.ns / 1e6).toFixed(1)} ms draining)`);
    }
    expect(rates.native).toBeGreaterThan(0);
    expect(rates.node).toBeGreaterThan(0);
  }, 40_000);
});
