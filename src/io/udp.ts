/**
 * The underlay edge: UDP (VXLAN) and raw IP (IPIP) sockets read and written in batches.
 *
 * Batch shape:
 *   recvBatch(pool, offsets, lengths, addrs, ports, max, tos?): n
 *   sendBatch(pool, offsets, lengths, addrs, ports, end, first = 0): count sent from first
 * `addrs` holds 16 bytes per message: an IPv6 address, or IPv4 as v4-mapped ::ffff:a.b.c.d (the IPv4
 * address always in bytes 12..15, whatever the socket family). `ports` are host order. `tos` (optional,
 * one byte per datagram) gets each datagram's outer IPv4 TOS / IPv6 traffic class — the outer ECN field
 * is its low 2 bits (RFC 6040 decapsulation needs it; a UDP socket never sees the outer header) — when
 * the socket was opened with `recvTos`, else 0. Hot-path calls never throw: they return a count or
 * -errno (0 = nothing to read / would block).
 *
 * Two implementations behind the same shape:
 * - NativeUdpSocket / NativeRawSocket: recvmmsg/sendmmsg through the addon, no per-packet allocation.
 * - NodeUdpSocket: node:dgram, one 'message' event per datagram, copied into the caller's slot on
 *   recvBatch (and copied out on send). For hosts without the addon; slower, same results.
 */
import dgram from 'node:dgram';
import { constants as osConstants } from 'node:os';
import { ioError, native, PolledFd, requireNative, type NativeAddon } from './native.ts';
import { VtepError } from '../util/errors.ts';

const { EBADF, EINVAL } = osConstants.errno;

/** Readiness bits passed to watch callbacks (same values as the addon's POLL_*). */
export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;

/** Datagram batch I/O over a caller-owned slot pool. */
export interface DatagramBatchIo {
  readonly kind: 'native' | 'node' | 'raw';
  /** Bytes each receive may write at `offsets[i]`. */
  readonly readCapacity: number;
  /**
   * Receive up to `max` datagrams: payload at `offsets[i]`, real length in `lengths[i]` (> readCapacity
   * means truncated), source address at `addrs[16 i]`, source port in `ports[i]` (0 for raw sockets),
   * and, when `tos` is given, the outer TOS / traffic class in `tos[i]` (0 when unknown: the socket was
   * not opened with `recvTos`, or the implementation cannot see it, as node:dgram). When `gso` is given,
   * gso[i] is the segment size of a datagram the kernel coalesced (0: a plain datagram; always 0 where
   * `groCapable` is false or the socket was opened without `gro`). When `ageUs` is given, ageUs[i] is how long
   * the datagram waited in the socket's queue in µs (-1 where unknown: only sockets opened with `rxAge` know).
   * Returns n >= 0 or -errno.
   */
  recvBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, max: number, tos?: Uint8Array | null, gso?: Uint16Array | null, ageUs?: Int32Array | null): number;
  /**
   * Send datagrams `[first, end)` to `addrs[16 i]`:`ports[i]`. Returns how many went from `first`
   * (0: would block, watch for POLL_WRITABLE), or -errno when datagram `first` itself failed. With `gso`
   * (only where `gsoCapable`), a message with 0 < gso[i] < lengths[i] is a run of gso[i]-byte datagrams
   * sent in one UDP GSO send (the last may be shorter). With `runs` as well (gsoCapable only), runs[i] > 1
   * gathers the equal-size datagrams [i, i + runs[i]) into one such send (address, port, gso[i] from entry i);
   * the count returned is of entries.
   */
  sendBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, end: number, first?: number, gso?: Uint16Array | null, runs?: Uint16Array | null): number;
  /** UDP GSO send (UDP_SEGMENT) works on this socket. */
  readonly gsoCapable: boolean;
  /** UDP GRO receive (UDP_GRO) is on for this socket. */
  readonly groCapable: boolean;
  /** cb(POLL_* bits) on the JS thread while readable (and writable if asked). Replaces any earlier watch. */
  watch(cb: (events: number) => void, events?: number): void;
  /** Change what the watch waits for (e.g. add POLL_WRITABLE after sendBatch returned 0). */
  watchEvents(events: number): void;
  /** Whether the watch keeps the process alive. Defaults to true. */
  watchRef(keepAlive: boolean): void;
  unwatch(): void;
  /** Idempotent. */
  close(): void;
}

export interface UdpOpenOptions {
  family: 4 | 6;
  /** Local address to bind ('0.0.0.0', '::', or one address). */
  address: string;
  /** Local port; 0 picks one (see `.port`). */
  port: number;
  /** Bytes each receive may write at its offset. */
  readCapacity: number;
  /** SO_RCVBUF (SO_RCVBUFFORCE when permitted). Defaults to 4 MiB. */
  rcvbuf?: number;
  /** SO_SNDBUF (SO_SNDBUFFORCE when permitted). Defaults to 4 MiB. */
  sndbuf?: number;
  /** IPv6 sockets only: refuse IPv4 (IPV6_V6ONLY). Defaults to true. */
  v6only?: boolean;
  /** Path MTU discovery on sent datagrams (DF set on IPv4). Defaults to false: DF clear, as the kernel's VXLAN. */
  pmtuDiscovery?: boolean;
  /**
   * Report each datagram's outer TOS / traffic class in recvBatch's `tos` (IP_RECVTOS; IPV6_RECVTCLASS on
   * IPv6, plus IP_RECVTOS when the socket also takes IPv4). Native sockets only: node:dgram has no way to
   * read it and reports 0. Defaults to false.
   */
  recvTos?: boolean;
  /**
   * UDP_GRO: the kernel hands over runs of same-flow datagrams coalesced into one (up to 64 KiB; gso[i] in
   * recvBatch gives the segment size). Native sockets only. Defaults to false.
   */
  gro?: boolean;
  /**
   * Allow UDP GSO sends (sendBatch's `gso`). Needs UDP checksums on (the kernel refuses UDP_SEGMENT on a
   * socket with SO_NO_CHECK). Native sockets only. Defaults to false.
   */
  gso?: boolean;
  /** SO_TIMESTAMPNS: recvBatch's `ageUs` reports each datagram's wait in the socket queue. Native only. */
  rxAge?: boolean;
}

const DEFAULT_BUF = 4 << 20;

function where(family: 4 | 6, address: string, port: number): string {
  return family === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** recvmmsg/sendmmsg UDP socket (the addon). */
export class NativeUdpSocket extends PolledFd implements DatagramBatchIo {
  readonly kind = 'native' as const;
  readonly family: 4 | 6;
  readonly readCapacity: number;
  /** The bound local port. */
  readonly port: number;
  readonly gsoCapable: boolean;
  readonly groCapable: boolean;

  private constructor(addon: NativeAddon, fd: number, family: 4 | 6, readCapacity: number, port: number, what: string,
    gso: boolean, gro: boolean) {
    super(addon, fd, what);
    this.gsoCapable = gso;
    this.groCapable = gro;
    this.family = family;
    this.readCapacity = readCapacity;
    this.port = port;
  }

  /**
   * Open and bind. Throws VtepError: 'NATIVE' without the addon, 'IO' e.g.
   * `udp 0.0.0.0:4789: bind failed: EADDRINUSE (address already in use)`.
   */
  static open(opts: UdpOpenOptions): NativeUdpSocket {
    const what = `udp ${where(opts.family, opts.address, opts.port)}`;
    const addon = requireNative(what);
    const c = addon.constants;
    checkCapacity(what, opts.readCapacity);
    const flags = opts.family === 6 && opts.v6only !== false ? c.UDP_V6ONLY : 0;
    const fd = addon.udpOpen(opts.family, opts.address, opts.port, opts.rcvbuf ?? DEFAULT_BUF,
      opts.sndbuf ?? DEFAULT_BUF, flags);
    if (fd < 0) throw ioError(`${what}: bind failed`, fd);
    let r = 0;
    if (opts.family === 4) {
      r = addon.setsockoptInt(fd, c.IPPROTO_IP, c.IP_MTU_DISCOVER, opts.pmtuDiscovery ? c.IP_PMTUDISC_DO : c.IP_PMTUDISC_DONT);
    } else if (!opts.pmtuDiscovery) {
      r = addon.setsockoptInt(fd, c.IPPROTO_IPV6, c.IPV6_MTU_DISCOVER, c.IPV6_PMTUDISC_DONT);
    }
    if (r >= 0 && opts.recvTos) r = enableRecvTos(addon, fd, opts.family, opts.family === 6 && opts.v6only === false);
    if (r >= 0 && opts.gro) {
      if (c.UDP_GRO === undefined) r = -EINVAL;
      else r = addon.setsockoptInt(fd, c.IPPROTO_UDP, c.UDP_GRO, 1);
      if (r < 0) {
        addon.closeFd(fd);
        throw ioError(`${what}: setsockopt UDP_GRO failed`, r, '(kernel without UDP GRO? run without --offload gro)');
      }
    }
    if (opts.gso && c.UDP_SEGMENT === undefined) r = -EINVAL;
    if (r >= 0 && opts.rxAge) r = addon.setsockoptInt(fd, c.SOL_SOCKET, c.SO_TIMESTAMPNS, 1);
    const port = addon.sockLocalPort(fd);
    if (r < 0 || port < 0) {
      addon.closeFd(fd);
      throw ioError(`${what}: socket setup failed`, r < 0 ? r : port);
    }
    return new NativeUdpSocket(addon, fd, opts.family, opts.readCapacity, port, `udp ${where(opts.family, opts.address, port)}`,
      opts.gso === true, opts.gro === true);
  }

  recvBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, max: number, tos: Uint8Array | null = null, gso: Uint16Array | null = null, ageUs: Int32Array | null = null): number {
    return this.addon.recvBatch(this.fdValue, pool, offsets, this.readCapacity, lengths, addrs, ports, max, tos, gso, ageUs);
  }

  sendBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, end: number, first = 0, gso: Uint16Array | null = null, runs: Uint16Array | null = null): number {
    return this.addon.sendBatch(this.fdValue, pool, offsets, lengths, addrs, ports, first, end, gso, runs);
  }
}

export interface RawOpenOptions {
  family: 4 | 6;
  /** IP protocol: 4 (IPIP), 41 (IPv6 in IPv4). */
  protocol: number;
  readCapacity: number;
  /** Defaults to 4 MiB. */
  rcvbuf?: number;
  /** Defaults to 4 MiB. */
  sndbuf?: number;
  /**
   * Report each packet's outer TOS / traffic class in recvBatch's `tos`. Useful on IPv6, whose raw
   * sockets strip the outer header (IPV6_RECVTCLASS); IPv4 receives carry it in the header already
   * (IP_RECVTOS). Defaults to false.
   */
  recvTos?: boolean;
}

/**
 * Raw IP socket for one protocol (IPIP: family 4, protocol 4). Receives on IPv4 include the outer
 * IPv4 header; sends carry the payload only (the kernel writes the outer header). Ports are
 * ignored on send and 0 on receive.
 */
export class NativeRawSocket extends PolledFd implements DatagramBatchIo {
  readonly gsoCapable = false;
  readonly groCapable = false;
  readonly kind = 'raw' as const;
  readonly family: 4 | 6;
  readonly protocol: number;
  readonly readCapacity: number;

  private constructor(addon: NativeAddon, fd: number, opts: RawOpenOptions, what: string) {
    super(addon, fd, what);
    this.family = opts.family;
    this.protocol = opts.protocol;
    this.readCapacity = opts.readCapacity;
  }

  static open(opts: RawOpenOptions): NativeRawSocket {
    const what = `raw ipv${opts.family} protocol ${opts.protocol}`;
    const addon = requireNative(what);
    checkCapacity(what, opts.readCapacity);
    const fd = addon.rawOpen(opts.family, opts.protocol, opts.rcvbuf ?? DEFAULT_BUF, opts.sndbuf ?? DEFAULT_BUF);
    if (fd < 0) throw ioError(`${what}: open failed`, fd);
    const r = opts.recvTos ? enableRecvTos(addon, fd, opts.family, false) : 0;
    if (r < 0) {
      addon.closeFd(fd);
      throw ioError(`${what}: socket setup failed`, r);
    }
    return new NativeRawSocket(addon, fd, opts, what);
  }

  recvBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, max: number, tos: Uint8Array | null = null): number {
    return this.addon.recvBatch(this.fdValue, pool, offsets, this.readCapacity, lengths, addrs, ports, max, tos);
  }

  sendBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    _ports: Uint16Array, end: number, first = 0): number {
    return this.addon.sendBatch(this.fdValue, pool, offsets, lengths, addrs, null, first, end);
  }
}

export interface NodeUdpOptions extends UdpOpenOptions {
  /** Datagrams held between 'message' events and recvBatch; more are dropped (see `queueDrops`). Defaults to 4096. */
  queueLimit?: number;
  /** Sends in flight before sendBatch reports "would block". Defaults to 1024. */
  sendLimit?: number;
}

/**
 * node:dgram fallback with the same batch shape. Each datagram arrives as its own Buffer (Node
 * allocates it); recvBatch copies it into the caller's slot. Sends copy the slot out, because dgram
 * may send after sendBatch returns. pmtuDiscovery is not settable here (Node's default applies).
 * The outer TOS / traffic class is not available (dgram passes no control messages): recvBatch's
 * `tos` gets 0 for every datagram, whatever `recvTos` says, so RFC 6040 decapsulation sees Not-ECT.
 */
export class NodeUdpSocket implements DatagramBatchIo {
  readonly gsoCapable = false;
  readonly groCapable = false;
  readonly kind = 'node' as const;
  readonly family: 4 | 6;
  readonly readCapacity: number;
  readonly port: number;
  /** Datagrams dropped because the receive queue was full. */
  queueDrops = 0;
  /** Sends that failed in their callback (after sendBatch returned). */
  sendErrors = 0;

  private readonly socket: dgram.Socket;
  private readonly queueLimit: number;
  private readonly sendLimit: number;
  private readonly queue: (Buffer | null)[];
  private readonly queueAddrs: Uint8Array;
  private readonly queuePorts: Uint16Array;
  private head = 0;
  private count = 0;
  private pending = 0;
  private closed = false;
  private cb: ((events: number) => void) | null = null;
  private events = 0;
  private scheduled = false;
  private readonly fire: () => void;
  private readonly onSent: (err: Error | null) => void;

  private constructor(socket: dgram.Socket, opts: NodeUdpOptions, port: number) {
    this.socket = socket;
    this.family = opts.family;
    this.readCapacity = opts.readCapacity;
    this.port = port;
    this.queueLimit = opts.queueLimit ?? 4096;
    this.sendLimit = opts.sendLimit ?? 1024;
    this.queue = new Array<Buffer | null>(this.queueLimit).fill(null);
    this.queueAddrs = new Uint8Array(16 * this.queueLimit);
    this.queuePorts = new Uint16Array(this.queueLimit);
    this.fire = () => {
      this.scheduled = false;
      const cb = this.cb;
      if (cb === null || this.closed) return;
      const ev = (this.count > 0 ? this.events & POLL_READABLE : 0) |
        (this.pending < this.sendLimit ? this.events & POLL_WRITABLE : 0);
      if (ev === 0) return;
      cb(ev);
      // level-triggered like uv_poll: still something to report → once more next turn
      this.schedule();
    };
    this.onSent = (err) => {
      this.pending--;
      if (err) this.sendErrors++;
      if ((this.events & POLL_WRITABLE) !== 0) this.schedule();
    };
    socket.on('message', (msg, rinfo) => this.enqueue(msg, rinfo));
  }

  /** Bind a dgram socket. Rejects with VtepError('IO') e.g. on EADDRINUSE. */
  static open(opts: NodeUdpOptions): Promise<NodeUdpSocket> {
    const what = `udp ${where(opts.family, opts.address, opts.port)}`;
    checkCapacity(what, opts.readCapacity);
    const socket = dgram.createSocket({
      type: opts.family === 6 ? 'udp6' : 'udp4',
      reuseAddr: false,
      ipv6Only: opts.family === 6 && opts.v6only !== false,
      recvBufferSize: opts.rcvbuf ?? DEFAULT_BUF,
      sendBufferSize: opts.sndbuf ?? DEFAULT_BUF,
    });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        const errno = typeof err.errno === 'number' ? err.errno : -EINVAL;
        reject(err.code ? ioError(`${what}: bind failed`, errno < 0 ? errno : -errno) : new VtepError('IO', `${what}: ${err.message}`));
      };
      socket.once('error', onError);
      socket.bind({ address: opts.address, port: opts.port, exclusive: true }, () => {
        socket.off('error', onError);
        resolve(new NodeUdpSocket(socket, opts, socket.address().port));
      });
    });
  }

  private enqueue(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    if (this.count === this.queueLimit) {
      this.queueDrops++;
      return;
    }
    const slot = (this.head + this.count) % this.queueLimit;
    this.queue[slot] = msg;
    if (!parseIpInto(rinfo.address, this.queueAddrs, 16 * slot)) this.queueAddrs.fill(0, 16 * slot, 16 * slot + 16);
    this.queuePorts[slot] = rinfo.port;
    this.count++;
    if ((this.events & POLL_READABLE) !== 0) this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.cb === null) return;
    this.scheduled = true;
    setImmediate(this.fire);
  }

  recvBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, max: number, tos: Uint8Array | null = null): number {
    let n = Math.min(max, this.count, offsets.length, lengths.length, addrs.length >>> 4, ports.length);
    if (tos !== null && tos.length < n) n = tos.length;
    if (n < 0) n = 0;
    const cap = this.readCapacity;
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      if (off < 0 || off + cap > pool.length) return i > 0 ? i : -EINVAL;
      const slot = this.head;
      const msg = this.queue[slot]!;
      pool.set(msg.length <= cap ? msg : msg.subarray(0, cap), off);
      lengths[i] = msg.length;
      addrs.set(this.queueAddrs.subarray(16 * slot, 16 * slot + 16), 16 * i);
      ports[i] = this.queuePorts[slot]!;
      if (tos !== null) tos[i] = 0; // dgram gives no TOS
      this.queue[slot] = null;
      this.head = (slot + 1) % this.queueLimit;
      this.count--;
    }
    return n;
  }

  sendBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array,
    ports: Uint16Array, end: number, first = 0): number {
    if (this.closed) return -EBADF;
    const stop = Math.min(end, offsets.length, lengths.length, addrs.length >>> 4, ports.length);
    if (first < 0 || first > stop) return -EINVAL;
    let i = first;
    for (; i < stop && this.pending < this.sendLimit; i++) {
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (off < 0 || len < 0 || off + len > pool.length) return i > first ? i - first : -EINVAL;
      const copy = Buffer.from(pool.subarray(off, off + len));
      const host = formatIp(addrs, 16 * i, this.family);
      this.pending++;
      this.socket.send(copy, ports[i]!, host, this.onSent);
    }
    return i - first;
  }

  watch(cb: (events: number) => void, events = POLL_READABLE): void {
    this.cb = cb;
    this.events = events;
    if (this.count > 0 || (events & POLL_WRITABLE) !== 0) this.schedule();
  }

  watchEvents(events: number): void {
    this.events = events;
    if (this.count > 0 || (events & POLL_WRITABLE) !== 0) this.schedule();
  }

  watchRef(keepAlive: boolean): void {
    if (keepAlive) this.socket.ref();
    else this.socket.unref();
  }

  unwatch(): void {
    this.cb = null;
    this.events = 0;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.cb = null;
    this.queue.fill(null);
    this.count = 0;
    this.socket.close();
  }
}

export type UdpIoKind = 'native' | 'node';

/** Open a UDP socket of the chosen kind. Defaults to 'native'; throws/rejects VtepError. */
export async function openUdp(opts: NodeUdpOptions & { io?: UdpIoKind }): Promise<NativeUdpSocket | NodeUdpSocket> {
  if ((opts.io ?? 'native') === 'node') return NodeUdpSocket.open(opts);
  return NativeUdpSocket.open(opts);
}

/** True when the native UDP path can be used here. */
export function nativeUdpAvailable(): boolean {
  return native !== null;
}

/**
 * Ask the kernel for the outer TOS / traffic class of every received datagram (a control message that
 * recvBatch turns into `tos[i]`). `alsoV4`: an IPv6 socket that also receives IPv4 (v4-mapped) needs
 * IP_RECVTOS as well. Returns 0 or -errno.
 */
function enableRecvTos(addon: NativeAddon, fd: number, family: 4 | 6, alsoV4: boolean): number {
  const c = addon.constants;
  if (family === 4 || alsoV4) {
    const r = addon.setsockoptInt(fd, c.IPPROTO_IP, c.IP_RECVTOS, 1);
    if (r < 0 || family === 4) return r;
  }
  return addon.setsockoptInt(fd, c.IPPROTO_IPV6, c.IPV6_RECVTCLASS, 1);
}

function checkCapacity(what: string, cap: number): void {
  if (!Number.isInteger(cap) || cap <= 0 || cap > 65535 + 64) {
    throw new VtepError('IO', `${what}: readCapacity ${cap} must be an integer in 1..65599`);
  }
}

// ---------------------------------------------------------------------------------------------
// Address text <-> the 16-byte form (setup and the dgram fallback only; never the native hot path).

/**
 * Parse an IPv4 or IPv6 address (zone suffix '%…' ignored) into 16 bytes at out[off]: IPv4 as
 * v4-mapped. Returns false for anything else (out untouched).
 */
export function parseIpInto(text: string, out: Uint8Array, off: number): boolean {
  const pct = text.indexOf('%');
  const s = pct >= 0 ? text.slice(0, pct) : text;
  if (s.indexOf(':') < 0) {
    const v4 = parseV4(s);
    if (v4 < 0) return false;
    out.fill(0, off, off + 10);
    out[off + 10] = 0xff;
    out[off + 11] = 0xff;
    out[off + 12] = v4 >>> 24;
    out[off + 13] = (v4 >>> 16) & 0xff;
    out[off + 14] = (v4 >>> 8) & 0xff;
    out[off + 15] = v4 & 0xff;
    return true;
  }
  // IPv6: groups before and after an optional '::'; a dotted IPv4 may end the address.
  const dbl = s.indexOf('::');
  if (dbl >= 0 && s.indexOf('::', dbl + 1) >= 0) return false;
  const head = parseGroups(dbl >= 0 ? s.slice(0, dbl) : s, dbl < 0);
  const tail = dbl >= 0 ? parseGroups(s.slice(dbl + 2), true) : [];
  if (head === null || tail === null) return false;
  if (dbl >= 0 ? head.length + tail.length > 7 : head.length !== 8) return false;
  const words = new Array<number>(8).fill(0);
  for (let k = 0; k < head.length; k++) words[k] = head[k]!;
  for (let k = 0; k < tail.length; k++) words[8 - tail.length + k] = tail[k]!;
  for (let k = 0; k < 8; k++) {
    out[off + 2 * k] = words[k]! >>> 8;
    out[off + 2 * k + 1] = words[k]! & 0xff;
  }
  return true;
}

/** '1:2:abcd' → [1, 2, 0xabcd]; a dotted IPv4 is allowed as the last group when `v4Last`. */
function parseGroups(text: string, v4Last: boolean): number[] | null {
  if (text === '') return [];
  const parts = text.split(':');
  const words: number[] = [];
  for (let k = 0; k < parts.length; k++) {
    const g = parts[k]!;
    if (v4Last && k === parts.length - 1 && g.indexOf('.') >= 0) {
      const v4 = parseV4(g);
      if (v4 < 0) return null;
      words.push(v4 >>> 16, v4 & 0xffff);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
      words.push(parseInt(g, 16));
    } else {
      return null;
    }
  }
  return words;
}

function parseV4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p)) return -1;
    const b = Number(p);
    if (b > 255) return -1;
    v = v * 256 + b;
  }
  return v;
}

/** Text for the 16-byte address at buf[off]: dotted IPv4 for family 4 (bytes 12..15), full IPv6 text otherwise. */
export function formatIp(buf: Uint8Array, off: number, family: 4 | 6): string {
  if (family === 4) return `${buf[off + 12]}.${buf[off + 13]}.${buf[off + 14]}.${buf[off + 15]}`;
  let s = '';
  for (let k = 0; k < 8; k++) {
    if (k > 0) s += ':';
    s += ((buf[off + 2 * k]! << 8) | buf[off + 2 * k + 1]!).toString(16);
  }
  return s;
}
