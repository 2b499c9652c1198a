/**
 * In-process fakes of the two packet edges, with the batch shapes of src/io/tun.ts and src/io/udp.ts
 * (after wireguard-go's tuntest / bindtest): the live dataplane runs on them unchanged in unit tests.
 *
 * - MemoryTun: `inject()` plays the kernel handing a pod packet to the TUN reader; what the dataplane
 *   writes lands in `written` (copies). Knobs: `writeBudget` (writes accepted before "would block",
 *   i.e. EAGAIN), `failWrites`/`failErrno` (the next writes fail with -errno), `queueLimit`.
 * - MemoryNet + MemorySocket: a little underlay. `net.socket({address, port})` binds a datagram socket;
 *   `sendBatch` copies each datagram to the socket bound at the destination (or counts it in
 *   `net.lost`). `kind: 'raw'` sockets behave as the kernel's raw IP sockets used for IPIP: IPv4 ones
 *   send and receive whole IPv4 packets (IP_HDRINCL), IPv6 ones send and receive the payload only.
 * - UDP offloads (opt-in, `gso` / `gro` socket options; off by default, so nothing changes without them):
 *   `gso: true` makes the socket gsoCapable and sendBatch honour its `gso` argument as the kernel does with
 *   UDP_SEGMENT: a message with 0 < gso[i] < length is cut into datagrams of gso[i] bytes (the last may be
 *   shorter), each delivered (and put on `net.wire`) on its own; the message is also recorded in `gsoSends`
 *   (segment size, datagram count, bytes). Limits as udp_send_skb: more than UDP_GSO_MAX_SEGMENTS (64)
 *   segments gives -EINVAL, more than 65507 bytes -EMSGSIZE. A `gso` message on a socket without `gso: true`
 *   gives -EINVAL. `gro: true` makes it groCapable: recvBatch with a `gso` output array hands over runs of
 *   queued datagrams from one source (address and port) as one read, as UDP_GRO does — datagrams of the first
 *   one's size, a shorter one ending the run, at most 64 and readCapacity bytes; gso[i] = the segment size
 *   (0 for a datagram read alone). Runs read are recorded in `groReads`.
 *
 * Readiness follows uv_poll: level-triggered. A watch callback runs (on a later turn, via setImmediate)
 * while there is something to read and READABLE is asked, or while writes are possible and WRITABLE is
 * asked — so a dataplane that keeps asking for WRITABLE without writing spins here as it would on the
 * real fds, and tests see it (`watchCalls`).
 *
 * These are test doubles: they allocate per packet freely. Never used by `vtep run`.
 */
import { constants as osConstants } from 'node:os';
import type { PacketBatchIo } from './tun.ts';
import { POLL_READABLE, POLL_WRITABLE, parseIpInto, formatIp, type DatagramBatchIo } from './udp.ts';

const { EBADF, EINVAL, EMSGSIZE } = osConstants.errno;

/** UDP GSO limits of the kernel (udp_send_skb): segments per send, and bytes (65535 − 20 − 8). */
export const MEMORY_GSO_MAX_SEGMENTS = 64;
export const MEMORY_GSO_MAX_BYTES = 65507;
/** Datagrams the kernel merges into one UDP GRO read at most (UDP_GRO_CNT_MAX). */
export const MEMORY_GRO_MAX_SEGMENTS = 64;

/**
 * What the fakes share: a bounded receive queue (overflow counted in `queueDrops`) and a watch that is
 * level-triggered as uv_poll's: READABLE while the queue holds something, WRITABLE while `canWrite()`.
 * Subclasses add the batch calls.
 */
abstract class MemoryEdge<T> {
  readonly readCapacity: number;
  /** Packets (datagrams) dropped because the receive queue was full. */
  queueDrops = 0;
  closed = false;
  protected readonly queue: T[] = [];
  private readonly queueLimit: number;
  private cb: ((events: number) => void) | null = null;
  private events = 0;
  private calls = 0;
  private scheduled = false;
  private readonly fire: () => void;

  constructor(readCapacity: number, queueLimit: number) {
    this.readCapacity = readCapacity;
    this.queueLimit = queueLimit;
    this.fire = () => {
      this.scheduled = false;
      const cb = this.cb;
      if (cb === null) return;
      const ev = this.ready() & this.events;
      if (ev === 0) return;
      this.calls++;
      cb(ev);
      this.kick();
    };
  }

  /** Whether a write (send) would be taken now: the WRITABLE half of readiness. */
  protected abstract canWrite(): boolean;

  private ready(): number {
    return (this.queue.length > 0 ? POLL_READABLE : 0) | (this.canWrite() ? POLL_WRITABLE : 0);
  }

  /** Re-evaluate readiness on a later turn. */
  protected kick(): void {
    if (this.scheduled || this.cb === null) return;
    if ((this.ready() & this.events) === 0) return;
    this.scheduled = true;
    setImmediate(this.fire);
  }

  /** How many times a watch callback ran. */
  get watchCalls(): number {
    return this.calls;
  }

  /** Current watch interest (POLL_* bits). */
  get watchedEvents(): number {
    return this.cb === null ? 0 : this.events;
  }

  /** Packets (datagrams) queued and not yet read. */
  get pending(): number {
    return this.queue.length;
  }

  /** Queue `item` to be read: it becomes readable. False when closed or the queue is full (counted in `queueDrops`). */
  protected push(item: T): boolean {
    if (this.closed) return false;
    if (this.queue.length >= this.queueLimit) {
      this.queueDrops++;
      return false;
    }
    this.queue.push(item);
    this.kick();
    return true;
  }

  /** A read of `bytes` into pool[off]: cut at readCapacity, the real length in lengths[i]. */
  protected copyIn(bytes: Buffer, pool: Uint8Array, off: number, lengths: Int32Array, i: number): void {
    pool.set(bytes.length <= this.readCapacity ? bytes : bytes.subarray(0, this.readCapacity), off);
    lengths[i] = bytes.length;
  }

  watch(cb: (events: number) => void, events: number = POLL_READABLE): void {
    this.cb = cb;
    this.events = events;
    this.kick();
  }

  watchEvents(events: number): void {
    this.events = events;
    this.kick();
  }

  watchRef(_keepAlive: boolean): void {}

  unwatch(): void {
    this.cb = null;
    this.events = 0;
  }

  close(): void {
    this.closed = true;
    this.unwatch();
    this.queue.length = 0;
  }
}

export interface MemoryTunOptions {
  /** Interface name shown in messages. Defaults to 'mem0'. */
  name?: string;
  /** Bytes a read may write at its offset (packets longer are truncated, with their real length reported). */
  readCapacity: number;
  /** Packets waiting to be read; more are dropped and counted in `queueDrops`. Defaults to 4096. */
  queueLimit?: number;
}

export class MemoryTun extends MemoryEdge<Buffer> implements PacketBatchIo {
  readonly name: string;
  /** Packets the dataplane wrote, in order (copies). */
  readonly written: Buffer[] = [];
  /** Writes accepted before writeBatch reports "would block" (0); decremented per packet. Defaults to Infinity. */
  writeBudget = Infinity;
  /** The next `failWrites` packets fail with -failErrno (each is reported once, as the first of a call). */
  failWrites = 0;
  failErrno = osConstants.errno.EIO;
  readCalls = 0;
  writeCalls = 0;

  constructor(opts: MemoryTunOptions) {
    super(opts.readCapacity, opts.queueLimit ?? 4096);
    this.name = opts.name ?? 'mem0';
  }

  protected canWrite(): boolean {
    return this.writeBudget > 0;
  }

  /** A pod sends `pkt` (an IP packet) into the TUN: it becomes readable. Returns false if the queue was full. */
  inject(pkt: Uint8Array): boolean {
    return this.push(Buffer.from(pkt));
  }

  /** Accept `n` more writes (Infinity: never block again) and wake a WRITABLE watch. */
  allowWrites(n = Infinity): void {
    this.writeBudget = n;
    this.kick();
  }

  readBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, max: number): number {
    if (this.closed) return -EBADF;
    this.readCalls++;
    const n = Math.min(max, this.queue.length, offsets.length, lengths.length);
    for (let i = 0; i < n; i++) {
      const off = offsets[i]!;
      if (off < 0 || off + this.readCapacity > pool.length) return i > 0 ? i : -EINVAL;
      this.copyIn(this.queue.shift()!, pool, off, lengths, i);
    }
    return n;
  }

  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, end: number, first = 0): number {
    if (this.closed) return -EBADF;
    this.writeCalls++;
    const stop = Math.min(end, offsets.length, lengths.length);
    if (first < 0 || first > stop) return -EINVAL;
    let i = first;
    for (; i < stop; i++) {
      if (this.failWrites > 0) {
        if (i > first) break; // report the error as the first packet of the next call, as the addon does
        this.failWrites--;
        return -this.failErrno;
      }
      if (this.writeBudget <= 0) break;
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (off < 0 || len < 0 || off + len > pool.length) return i > first ? i - first : -EINVAL;
      this.written.push(Buffer.from(pool.subarray(off, off + len)));
      this.writeBudget--;
    }
    return i - first;
  }
}

export interface MemorySocketOptions {
  family: 4 | 6;
  /** Local address (one address; wildcards are not modelled). */
  address: string;
  /** UDP: local port (0 picks one). Raw: ignored. */
  port?: number;
  readCapacity: number;
  /** 'native' (a UDP socket) or 'raw' (an IP socket for `protocol`). Defaults to 'native'. */
  kind?: 'native' | 'raw';
  /** Raw sockets: the IP protocol (4 IPIP, 41 IPv6-in-IP). */
  protocol?: number;
  /** Datagrams waiting to be received; more are dropped and counted in `queueDrops`. Defaults to 4096. */
  queueLimit?: number;
  /** UDP GSO sends (see the file comment). Defaults to false. */
  gso?: boolean;
  /** UDP GRO receives (see the file comment). Defaults to false. */
  gro?: boolean;
}

/** One UDP GSO send as the fake saw it. */
export interface MemoryGsoSend {
  /** Segment size (gso[i]). */
  segSize: number;
  /** Datagrams it was cut into. */
  datagrams: number;
  /** Bytes of the message (all datagrams). */
  bytes: number;
  /** Queue entries gathered into it (sendBatch's `runs`); absent for one entry. */
  gathered?: number;
}

interface Datagram {
  bytes: Buffer;
  from: Uint8Array; // 16 bytes
  port: number;
}

/** A fake underlay network joining MemorySockets by address. */
export class MemoryNet {
  /** Datagrams sent to an address/port nobody bound. */
  lost = 0;
  /** Every datagram sent, in order, as it left the sender (copies; for wire-level assertions). */
  readonly wire: { from: string; to: string; bytes: Buffer }[] = [];
  private readonly bound = new Map<string, MemorySocket>();
  private nextPort = 40000;

  socket(opts: MemorySocketOptions): MemorySocket {
    const kind = opts.kind ?? 'native';
    const port = kind === 'raw' ? 0 : opts.port || this.nextPort++;
    const key = MemoryNet.key(opts.address, kind, kind === 'raw' ? (opts.protocol ?? 4) : port);
    if (this.bound.has(key)) throw Object.assign(new Error(`${key}: address already in use`), { code: 'EADDRINUSE' });
    const s = new MemorySocket(this, opts, port, key);
    this.bound.set(key, s);
    return s;
  }

  /** @internal */
  static key(address: string, kind: 'native' | 'raw', portOrProto: number): string {
    const b = new Uint8Array(16);
    if (!parseIpInto(address, b, 0)) throw new Error(`bad address ${address}`);
    return `${kind}|${Buffer.from(b).toString('hex')}|${portOrProto}`;
  }

  /** @internal */
  unbind(key: string): void {
    this.bound.delete(key);
  }

  /** Deliver `bytes` to whoever is bound at (address, kind, port or protocol), as if sent from `from`:`fromPort`. */
  deliver(address: string, kind: 'native' | 'raw', portOrProto: number, bytes: Uint8Array, from: string, fromPort = 0): boolean {
    const to = this.bound.get(MemoryNet.key(address, kind, portOrProto));
    const src = new Uint8Array(16);
    parseIpInto(from, src, 0);
    this.wire.push({ from: `${from}:${fromPort}`, to: `${address}:${portOrProto}`, bytes: Buffer.from(bytes) });
    if (to === undefined) {
      this.lost++;
      return false;
    }
    return to.enqueue({ bytes: Buffer.from(bytes), from: src, port: fromPort });
  }
}

export class MemorySocket extends MemoryEdge<Datagram> implements DatagramBatchIo {
  readonly gsoCapable: boolean;
  readonly groCapable: boolean;
  /** UDP GSO sends, in order (only messages with 0 < gso[i] < length). */
  readonly gsoSends: MemoryGsoSend[] = [];
  /** UDP GRO reads (more than one datagram in one read): segment size, datagrams, bytes. */
  readonly groReads: MemoryGsoSend[] = [];
  readonly kind: 'native' | 'raw';
  readonly family: 4 | 6;
  readonly address: string;
  readonly port: number;
  readonly protocol: number;
  /** Sends accepted before sendBatch reports "would block" (0); decremented per datagram. Defaults to Infinity. */
  sendBudget = Infinity;
  /** The next `failSends` datagrams fail with -failErrno. */
  failSends = 0;
  failErrno = osConstants.errno.ENETUNREACH;
  sendCalls = 0;
  recvCalls = 0;

  /** @internal use MemoryNet.socket */
  constructor(private readonly net: MemoryNet, opts: MemorySocketOptions, port: number, private readonly key: string) {
    super(opts.readCapacity, opts.queueLimit ?? 4096);
    this.kind = opts.kind ?? 'native';
    this.family = opts.family;
    this.address = opts.address;
    this.port = port;
    this.protocol = opts.protocol ?? 4;
    this.gsoCapable = opts.gso === true;
    this.groCapable = opts.gro === true;
  }

  protected canWrite(): boolean {
    return this.sendBudget > 0;
  }

  /** Accept `n` more sends and wake a WRITABLE watch. */
  allowSends(n = Infinity): void {
    this.sendBudget = n;
    this.kick();
  }

  /** @internal */
  enqueue(d: Datagram): boolean {
    return this.push(d);
  }

  recvBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array, ports: Uint16Array, max: number,
    _tos: Uint8Array | null = null, gso: Uint16Array | null = null): number {
    if (this.closed) return -EBADF;
    this.recvCalls++;
    const gro = this.groCapable && gso !== null;
    const n = Math.min(max, this.queue.length, offsets.length, lengths.length, addrs.length >>> 4, ports.length, gro ? gso.length : max);
    let i = 0;
    for (; i < n && this.queue.length > 0; i++) {
      const off = offsets[i]!;
      if (off < 0 || off + this.readCapacity > pool.length) return i > 0 ? i : -EINVAL;
      const d = this.queue.shift()!;
      let bytes = d.bytes;
      let segs = 1;
      if (gro) {
        // UDP GRO: same source, datagrams of d's size, a shorter one ends the run; ≤ 64 and ≤ readCapacity
        const g = d.bytes.length;
        const parts = [d.bytes];
        let total = g;
        while (this.queue.length > 0 && segs < MEMORY_GRO_MAX_SEGMENTS && g > 0) {
          const e = this.queue[0]!;
          if (e.port !== d.port || !Buffer.from(e.from).equals(Buffer.from(d.from))) break;
          const l = e.bytes.length;
          if (l > g || l === 0 || total + l > this.readCapacity) break;
          this.queue.shift();
          parts.push(e.bytes);
          total += l;
          segs++;
          if (l < g) break;
        }
        if (segs > 1) {
          bytes = Buffer.concat(parts);
          this.groReads.push({ segSize: g, datagrams: segs, bytes: total });
        }
        gso![i] = segs > 1 ? g : 0;
      }
      this.copyIn(bytes, pool, off, lengths, i);
      addrs.set(d.from, 16 * i);
      ports[i] = d.port;
    }
    return i;
  }

  sendBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, addrs: Uint8Array, ports: Uint16Array, end: number, first = 0,
    gso: Uint16Array | null = null, runs: Uint16Array | null = null): number {
    if (this.closed) return -EBADF;
    this.sendCalls++;
    const stop = Math.min(end, offsets.length, lengths.length, addrs.length >>> 4, ports.length, gso === null ? end : gso.length);
    if (first < 0 || first > stop) return -EINVAL;
    let i = first;
    for (; i < stop; i++) {
      if (this.failSends > 0) {
        if (i > first) break;
        this.failSends--;
        return -this.failErrno;
      }
      if (this.sendBudget <= 0) break;
      const off = offsets[i]!;
      const len = lengths[i]!;
      if (off < 0 || len < 0 || off + len > pool.length) return i > first ? i - first : -EINVAL;
      const m = runs !== null && runs[i]! > 1 ? Math.min(runs[i]!, stop - i) : 1;
      if (m > 1) {
        // entries [i, i + m) gathered into one UDP GSO message (as the addon's iovecs do), cut at gso[i]
        const g = gso === null ? 0 : gso[i]!;
        let total = 0;
        for (let q = i; q < i + m; q++) total += lengths[q]!;
        const segs = g > 0 ? Math.ceil(total / g) : 1;
        const rc = g <= 0 || !this.gsoCapable || this.kind !== 'native' || segs > MEMORY_GSO_MAX_SEGMENTS ? -EINVAL : total > MEMORY_GSO_MAX_BYTES ? -EMSGSIZE : 0;
        if (rc !== 0) return i > first ? i - first : rc;
        const joined = new Uint8Array(total);
        let at = 0;
        for (let q = i; q < i + m; q++) {
          joined.set(pool.subarray(offsets[q]!, offsets[q]! + lengths[q]!), at);
          at += lengths[q]!;
        }
        this.gsoSends.push({ segSize: g, datagrams: segs, bytes: total, gathered: m });
        for (let from = 0; from < total; from += g) this.deliverOne(joined.subarray(from, Math.min(total, from + g)), addrs, ports, i);
        this.sendBudget--;
        i += m - 1;
        continue;
      }
      const bytes = pool.subarray(off, off + len);
      const g = gso === null ? 0 : gso[i]!;
      if (g > 0 && g < len) {
        // UDP_SEGMENT: refused as the kernel refuses it (reported as this message's error)
        const segs = Math.ceil(len / g);
        const rc = !this.gsoCapable || this.kind !== 'native' || segs > MEMORY_GSO_MAX_SEGMENTS ? -EINVAL : len > MEMORY_GSO_MAX_BYTES ? -EMSGSIZE : 0;
        if (rc !== 0) return i > first ? i - first : rc;
        this.gsoSends.push({ segSize: g, datagrams: segs, bytes: len });
        for (let at = 0; at < len; at += g) this.deliverOne(bytes.subarray(at, Math.min(len, at + g)), addrs, ports, i);
      } else {
        this.deliverOne(bytes, addrs, ports, i);
      }
      this.sendBudget--;
    }
    return i - first;
  }

  private deliverOne(bytes: Uint8Array, addrs: Uint8Array, ports: Uint16Array, i: number): void {
    if (this.kind === 'raw' && this.family === 4) {
      // IP_HDRINCL: the datagram is a whole IPv4 packet; the network routes on its destination
      const dst = `${bytes[16]}.${bytes[17]}.${bytes[18]}.${bytes[19]}`;
      this.net.deliver(dst, 'raw', bytes[9]!, bytes, this.address, 0);
    } else if (this.kind === 'raw') {
      this.net.deliver(formatIp(addrs, 16 * i, 6), 'raw', this.protocol, bytes, this.address, 0);
    } else {
      this.net.deliver(formatIp(addrs, 16 * i, this.family), 'native', ports[i]!, bytes, this.address, this.port);
    }
  }

  close(): void {
    if (this.closed) return;
    super.close();
    this.net.unbind(this.key);
  }
}

export { POLL_READABLE, POLL_WRITABLE };
