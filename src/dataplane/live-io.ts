/**
 * Opening the real underlay sockets of a live plan, in either I/O mode:
 * - 'native' (default): the addon's recvmmsg/sendmmsg UDP socket or raw IP socket, no per-packet copy
 * - 'node': node:dgram for VXLAN (NodeUdpSocket) and the `raw-socket` package for IPIP (NodeRawSocket
 *   below): one JS Buffer per datagram, copied into / out of the slots. For comparison, and for hosts
 *   where the addon cannot be built.
 */
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { errnoText, native, requireNative } from '../io/native.ts';
import { NativeRawSocket, NativeUdpSocket, NodeUdpSocket, POLL_READABLE, POLL_WRITABLE, formatIp, parseIpInto, type DatagramBatchIo } from '../io/udp.ts';
import { VtepError } from '../util/errors.ts';
import type { ChannelPlan } from './live-plan.ts';

export type IoMode = 'native' | 'node';

const IPPROTO_IP = 0;
const IP_HDRINCL = 3;
const SO_NO_CHECK = 11;
const UDP_NO_CHECK6_TX = 101;
const UDP_NO_CHECK6_RX = 102;
const { EBADF, EINVAL } = osConstants.errno;

/** Open one channel's socket. Throws / rejects VtepError ('IO', 'PERMISSION', 'NATIVE'). */
export async function openChannel(c: ChannelPlan, readCapacity: number, io: IoMode): Promise<DatagramBatchIo> {
  if (c.kind === 'udp') {
    // recvTos: the outer ECN field for RFC 6040 decapsulation (a UDP socket never sees the outer header)
    const opts = { family: c.family, address: c.address, port: c.port, readCapacity, pmtuDiscovery: c.df, recvTos: true, gso: c.gso, gro: c.gro, rxAge: c.rxAge };
    // dgram: the kernel's defaults for TTL, TOS, checksums; no received TOS (decap sees outer Not-ECT)
    if (io === 'node') return NodeUdpSocket.open(opts);
    const s = NativeUdpSocket.open(opts);
    return withOptions(s, s.fd, c);
  }
  if (io === 'node') return NodeRawSocket.open(c, readCapacity);
  // IPv6 raw sockets strip the outer header: ask for its traffic class (IPv4 receives carry the header)
  const s = NativeRawSocket.open({ family: c.family, protocol: c.protocol, readCapacity, recvTos: c.family === 6 });
  return withOptions(s, s.fd, c);
}

/** Socket options from the plan (native sockets); closes the socket and throws on failure. */
function withOptions<T extends DatagramBatchIo>(s: T, fd: number, c: ChannelPlan): T {
  const addon = requireNative('socket options');
  const k = addon.constants;
  const opts: [string, number, number, number][] = [];
  if (c.hdrincl) opts.push(['IP_HDRINCL', IPPROTO_IP, IP_HDRINCL, 1]);
  else {
    if (c.ttl > 0) opts.push(c.family === 4 ? ['IP_TTL', k.IPPROTO_IP, k.IP_TTL, c.ttl] : ['IPV6_UNICAST_HOPS', k.IPPROTO_IPV6, k.IPV6_UNICAST_HOPS, c.ttl]);
    if (c.tos >= 0) opts.push(c.family === 4 ? ['IP_TOS', k.IPPROTO_IP, k.IP_TOS, c.tos] : ['IPV6_TCLASS', k.IPPROTO_IPV6, k.IPV6_TCLASS, c.tos]);
  }
  if (c.udpZeroTx) opts.push(c.family === 4 ? ['SO_NO_CHECK', k.SOL_SOCKET, SO_NO_CHECK, 1] : ['UDP_NO_CHECK6_TX', k.IPPROTO_UDP, UDP_NO_CHECK6_TX, 1]);
  if (c.udpZeroRx) opts.push(['UDP_NO_CHECK6_RX', k.IPPROTO_UDP, UDP_NO_CHECK6_RX, 1]);
  for (const [name, level, opt, value] of opts) {
    const r = addon.setsockoptInt(fd, level, opt, value);
    if (r < 0) {
      s.close();
      throw new VtepError('IO', `${c.kind} ipv${c.family} socket: setsockopt ${name} ${value} failed: ${errnoText(r)}`);
    }
  }
  return s;
}

export function nativeReady(): boolean {
  return native !== null;
}

interface RawSocketModule {
  createSocket(o: { protocol: number; addressFamily: number; bufferSize?: number }): RawSocketLike;
  AddressFamily: { IPv4: number; IPv6: number };
  SocketLevel: Record<string, number>;
  SocketOption: Record<string, number>;
}
interface RawSocketLike {
  on(ev: 'message', cb: (buf: Buffer, source: string) => void): void;
  on(ev: 'error', cb: (e: Error) => void): void;
  send(buf: Buffer, off: number, len: number, addr: string, after: (err: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number): void;
  close(): void;
}

/**
 * The `raw-socket` package behind the datagram batch shape (like NodeUdpSocket: a queue filled by
 * 'message' events, copied into the slots by recvBatch; sends copied out). IPv4 receives carry the
 * outer IPv4 header, as with the addon. No control messages: recvBatch's `tos` gets 0 (an IPv6 outer
 * traffic class is lost here).
 */
export class NodeRawSocket implements DatagramBatchIo {
  readonly gsoCapable = false;
  readonly groCapable = false;
  readonly kind = 'raw' as const;
  readonly readCapacity: number;
  queueDrops = 0;
  sendErrors = 0;
  private readonly queue: { buf: Buffer; addr: Uint8Array }[] = [];
  private readonly queueLimit = 4096;
  private pending = 0;
  private readonly sendLimit = 1024;
  private cb: ((events: number) => void) | null = null;
  private events = 0;
  private scheduled = false;
  private closed = false;
  private readonly onSent: (err: Error | null) => void;

  private constructor(private readonly sock: RawSocketLike, private readonly family: 4 | 6, readCapacity: number) {
    this.readCapacity = readCapacity;
    this.onSent = (err) => {
      this.pending--;
      if (err) this.sendErrors++;
      if ((this.events & POLL_WRITABLE) !== 0) this.schedule();
    };
    sock.on('message', (buf, source) => {
      if (this.closed) return;
      if (this.queue.length >= this.queueLimit) {
        this.queueDrops++;
        return;
      }
      const addr = new Uint8Array(16);
      parseIpInto(source, addr, 0);
      this.queue.push({ buf, addr });
      if ((this.events & POLL_READABLE) !== 0) this.schedule();
    });
    sock.on('error', () => {
      this.sendErrors++;
    });
  }

  static open(c: ChannelPlan, readCapacity: number): NodeRawSocket {
    let raw: RawSocketModule;
    try {
      raw = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    } catch (e) {
      throw new VtepError('NATIVE', `raw-socket package unavailable (${(e as Error).message.split('\n')[0]}): IPIP with --io node needs it`);
    }
    let sock: RawSocketLike;
    try {
      sock = raw.createSocket({
        protocol: c.protocol,
        addressFamily: c.family === 4 ? raw.AddressFamily.IPv4 : raw.AddressFamily.IPv6,
        bufferSize: readCapacity,
      });
      if (c.hdrincl) sock.setOption(raw.SocketLevel.IPPROTO_IP!, raw.SocketOption.IP_HDRINCL!, 1);
    } catch (e) {
      const msg = (e as Error).message;
      const perm = /not permitted|EPERM|EACCES/i.test(msg);
      throw new VtepError(perm ? 'PERMISSION' : 'IO', `raw ipv${c.family} protocol ${c.protocol}: open failed: ${msg}`);
    }
    return new NodeRawSocket(sock, c.family, readCapacity);
  }

  private schedule(): void {
    if (this.scheduled || this.cb === null) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const cb = this.cb;
      if (cb === null || this.closed) return;
      const ev = (this.queue.length > 0 ? this.events & POLL_READABLE : 0) | (this.pending < this.sendLimit ? this.events & POLL_WRITABLE : 0);
      if (ev === 0) return;
      cb(ev);
      this.schedule();
    });
  }

  recvBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array, ports: Uint16Array, max: number,
    tos: Uint8Array | null = null): number {
    if (this.closed) return -EBADF;
    const n = Math.min(max, this.queue.length, offsets.length, lengths.length, addrs.length >>> 4, ports.length,
      tos === null ? max : tos.length);
    const cap = this.readCapacity;
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      if (off < 0 || off + cap > pool.length) return i > 0 ? i : -EINVAL;
      const m = this.queue.shift()!;
      pool.set(m.buf.length <= cap ? m.buf : m.buf.subarray(0, cap), off);
      lengths[i] = m.buf.length;
      addrs.set(m.addr, 16 * i);
      ports[i] = 0;
      if (tos !== null) tos[i] = 0;
    }
    return n;
  }

  sendBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array, _ports: Uint16Array, end: number, first = 0): number {
    if (this.closed) return -EBADF;
    let i = first;
    for (; i < end && this.pending < this.sendLimit; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (off < 0 || len < 0 || off + len > pool.length) return i > first ? i - first : -EINVAL;
      this.pending++;
      this.sock.send(Buffer.from(pool.subarray(off, off + len)), 0, len, formatIp(addrs, 16 * i, this.family), this.onSent);
    }
    return i - first;
  }

  watch(cb: (events: number) => void, events = POLL_READABLE): void {
    this.cb = cb;
    this.events = events;
    this.schedule();
  }

  watchEvents(events: number): void {
    this.events = events;
    this.schedule();
  }

  watchRef(_keepAlive: boolean): void {}

  unwatch(): void {
    this.cb = null;
    this.events = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = null;
    this.queue.length = 0;
    this.sock.close();
  }
}
