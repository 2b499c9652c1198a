/**
 * Loader and types for the `vtep_native` addon (native/vtep_native.cc, built by binding.gyp at the
 * repository root into build/Release/vtep_native.node). Linux only.
 *
 * Importing this module never throws: when the addon is missing or cannot load, `nativeAvailable` is
 * false, `native` is null and `nativeLoadError` says why, so the CLI can print
 * "native addon missing: … (run `npm rebuild` or use --io node)".
 *
 * Every addon call returns an integer: a count, fd or id (>= 0) or `-errno` (< 0). Turn a negative
 * result into an error at the edge with `errnoName()` / `errnoText()`; on the hot path keep it an
 * integer. Argument *type* errors (a Float64Array where an Int32Array belongs) throw TypeError: they
 * are programming errors, never runtime conditions.
 *
 * Batch arguments (see the C++ header comment for the full contract):
 * - `pool`: one Uint8Array (Buffer) owned by the caller, cut into slots; the addon reads and writes
 *   only inside `[offsets[i], offsets[i] + capacity)` (reads) or `[offsets[i], offsets[i] + lengths[i])`
 *   (writes), checked against the pool's length before any system call (-EINVAL if outside).
 * - `offsets`, `lengths`: Int32Array, one entry per message. After a read, `lengths[i] > capacity`
 *   means the message was truncated (the kernel reported its real length).
 * - `addrs`: Uint8Array, 16 bytes per message: IPv6, or IPv4 as v4-mapped `::ffff:a.b.c.d` (the IPv4
 *   address is always bytes 12..15). `ports`: Uint16Array or Int32Array, host order.
 * - `tos` (reads, optional): Uint8Array, 1 byte per message: the outer IPv4 TOS / IPv6 traffic class
 *   from the IP_TOS / IPV6_TCLASS control message, 0 when there was none (enable it on the socket with
 *   setsockoptInt IP_RECVTOS / IPV6_RECVTCLASS; an IPv6 socket receiving IPv4 needs IP_RECVTOS too).
 * - Reads fill messages `[0, n)` and return n (0 = nothing to read). Writes take `[first, end)` and
 *   return how many went counting from `first` (0 = would block: wait for POLL_WRITABLE); an error on
 *   message `first` itself returns -errno so the caller can count it and skip it.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { constants as osConstants } from 'node:os';
import { VtepError } from '../util/errors.ts';

export interface NativeConstants {
  readonly MAX_BATCH: number;
  readonly TUN_MULTI_QUEUE: number;
  readonly TUN_VNET_HDR: number;
  readonly TUN_EXCLUSIVE: number;
  readonly TUN_F_CSUM: number;
  readonly TUN_F_TSO4: number;
  readonly TUN_F_TSO6: number;
  readonly TUN_F_TSO_ECN: number;
  readonly TUN_F_UFO: number;
  readonly UDP_V6ONLY: number;
  readonly UDP_REUSEPORT: number;
  readonly POLL_READABLE: number;
  readonly POLL_WRITABLE: number;
  readonly SOL_SOCKET: number;
  readonly SO_RCVBUF: number;
  readonly SO_SNDBUF: number;
  readonly SO_MARK: number;
  readonly IPPROTO_IP: number;
  readonly IPPROTO_IPV6: number;
  readonly IPPROTO_UDP: number;
  readonly IPPROTO_IPIP: number;
  readonly IP_MTU_DISCOVER: number;
  readonly IP_PMTUDISC_DONT: number;
  readonly IP_PMTUDISC_DO: number;
  readonly IP_TOS: number;
  readonly IP_RECVTOS: number;
  readonly IP_TTL: number;
  readonly IPV6_MTU_DISCOVER: number;
  readonly IPV6_PMTUDISC_DONT: number;
  readonly IPV6_UNICAST_HOPS: number;
  readonly IPV6_TCLASS: number;
  readonly IPV6_RECVTCLASS: number;
  readonly UDP_SEGMENT?: number;
  readonly UDP_GRO?: number;
  readonly SO_TIMESTAMPNS: number;
}

/** Byte pool accepted by the addon: a view (offsets relative to its start) or a whole ArrayBuffer. */
export type NativePool = Uint8Array | ArrayBuffer;

/** The addon's functions. All results: >= 0 success (count / fd / id), < 0 = -errno. */
export interface NativeAddon {
  /** Open /dev/net/tun (O_NONBLOCK) and TUNSETIFF with IFF_TUN|IFF_NO_PI (+ TUN_* flags) → fd. */
  tunOpen(name: string, flags: number): number;
  /** The interface name the kernel gave (TUNGETIFF). */
  tunName(fd: number): string | number;
  /** TUNSETOFFLOAD with TUN_F_* flags. */
  tunSetOffload(fd: number, flags: number): number;
  /** TUNSETVNETHDRSZ (10 or 12) for fds opened with TUN_VNET_HDR. */
  tunSetVnetHdrSize(fd: number, size: number): number;
  /** read() until EAGAIN or maxN packets; fills lengths[0..n). */
  tunReadBatch(fd: number, pool: NativePool, offsets: Int32Array, capacity: number | Int32Array,
    lengths: Int32Array, maxN: number): number;
  /** write() messages [first, end) until EAGAIN; → count written from first. */
  tunWriteBatch(fd: number, pool: NativePool, offsets: Int32Array, lengths: Int32Array,
    first: number, end: number): number;
  /** SIOCSIFMTU in the current network namespace. */
  ifSetMtu(name: string, mtu: number): number;
  /** SIOCGIFMTU → mtu. */
  ifGetMtu(name: string): number;
  /** SIOCSIFTXQLEN. */
  ifSetTxQueueLen(name: string, len: number): number;
  /** Set or clear IFF_UP. */
  ifSetUp(name: string, up: boolean): number;
  /** if_nametoindex → ifindex. */
  ifIndex(name: string): number;
  /** UDP socket, O_NONBLOCK, bound; SO_REUSEADDR off (a bound port gives -EADDRINUSE). flags: UDP_*. */
  udpOpen(family: 4 | 6, bindAddr: string, port: number, rcvbuf: number, sndbuf: number, flags: number): number;
  /** Raw IP socket for `protocol` (4 = IPIP, 41 = IPv6-in-IPv4), O_NONBLOCK. */
  rawOpen(family: 4 | 6, protocol: number, rcvbuf: number, sndbuf: number): number;
  /** getsockname → local port. */
  sockLocalPort(fd: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  getsockoptInt(fd: number, level: number, name: number): number;
  /**
   * recvmmsg(MSG_DONTWAIT|MSG_TRUNC) up to min(maxN, MAX_BATCH) → n. With `tos`, each message gets a
   * control buffer and tos[i] its outer TOS / traffic class (0 when the kernel attached none). With `gso`,
   * gso[i] is the segment size of a datagram the kernel coalesced (UDP_GRO socket option; 0: not coalesced).
   * With `ageUs` (socket with SO_TIMESTAMPNS), ageUs[i] is how long the datagram waited in the socket, µs (-1: unknown).
   */
  recvBatch(fd: number, pool: NativePool, offsets: Int32Array, capacity: number | Int32Array,
    lengths: Int32Array, addrs: Uint8Array | null, ports: Uint16Array | Int32Array | null, maxN: number,
    tos?: Uint8Array | null, gso?: Uint16Array | null, ageUs?: Int32Array | null): number;
  /**
   * sendmmsg(MSG_DONTWAIT) of messages [first, end) (at most MAX_BATCH) → count sent from first. With `gso`,
   * a message with 0 < gso[i] < lengths[i] goes as one UDP GSO send (UDP_SEGMENT: cut into gso[i]-byte datagrams).
   * With `runs`, runs[i] > 1 gathers entries [i, i + runs[i]) into one such message (address, port and gso from
   * entry i). The count returned is of entries.
   */
  sendBatch(fd: number, pool: NativePool, offsets: Int32Array, lengths: Int32Array,
    addrs: Uint8Array | null, ports: Uint16Array | Int32Array | null, first: number, end: number,
    gso?: Uint16Array | null, runs?: Uint16Array | null): number;
  closeFd(fd: number): number;
  /** uv_poll_t on fd; cb(POLL_* bits, or -errno) on the JS thread → poll id. */
  pollStart(fd: number, events: number, cb: (events: number) => void): number;
  pollUpdate(id: number, events: number): number;
  /** An unref'd poll does not keep the process alive. */
  pollRef(id: number, ref: boolean): number;
  /** Stop now (no callback after return); handle closed on the next loop turn. Stop before closeFd. */
  pollStop(id: number): number;
  readonly constants: NativeConstants;
}

const ADDON_CANDIDATES = ['../../build/Release/vtep_native.node', '../../build/Debug/vtep_native.node'];

function load(): { addon: NativeAddon | null; reason: string; path: string } {
  if (process.platform !== 'linux') {
    return { addon: null, reason: `native addon is Linux only (this is ${process.platform})`, path: '' };
  }
  const override = process.env.VTEP_NATIVE_PATH;
  const candidates = override ? [override] : ADDON_CANDIDATES.map((p) => fileURLToPath(new URL(p, import.meta.url)));
  const path = candidates.find((p) => existsSync(p));
  if (path === undefined) {
    return {
      addon: null,
      reason: `native addon missing (${candidates[0]} not built): run \`npm rebuild\` or \`npx node-gyp rebuild\`, or use --io node`,
      path: '',
    };
  }
  try {
    const require = createRequire(import.meta.url);
    return { addon: require(path) as NativeAddon, reason: '', path };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return { addon: null, reason: `native addon ${path} failed to load: ${msg} (rebuild it with \`npm rebuild\`, or use --io node)`, path };
  }
}

const loaded = load();

/** The addon, or null when it is not available (see `nativeLoadError`). */
export const native: NativeAddon | null = loaded.addon;
/** True when the addon loaded. */
export const nativeAvailable: boolean = loaded.addon !== null;
/** Why the addon is not available ('' when it is). One line, fit for the CLI. */
export const nativeLoadError: string = loaded.reason;
/** Path the addon was loaded from ('' when not loaded). */
export const nativePath: string = loaded.path;

const ERRNO_NAMES: string[] = [];
for (const [name, num] of Object.entries(osConstants.errno)) {
  if (ERRNO_NAMES[num] === undefined) ERRNO_NAMES[num] = name;
}
const ERRNO_TEXT: Record<string, string> = {
  EBUSY: 'device or resource busy',
  EEXIST: 'already exists',
  EINVAL: 'invalid argument',
  EPERM: 'operation not permitted',
  EACCES: 'permission denied',
  ENOENT: 'no such file or directory',
  ENODEV: 'no such device',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  EAFNOSUPPORT: 'address family not supported',
  ENAMETOOLONG: 'name too long',
  EMSGSIZE: 'message too long',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  ENOBUFS: 'no buffer space available',
  EBADF: 'bad file descriptor',
};

/** 'EBUSY' for -16 (or 16); 'E?<n>' when unknown. */
export function errnoName(code: number): string {
  const n = code < 0 ? -code : code;
  return ERRNO_NAMES[n] ?? `errno ${n}`;
}

/** 'EBUSY (device or resource busy)' for -16. For error messages at the edge. */
export function errnoText(code: number): string {
  const name = errnoName(code);
  const text = ERRNO_TEXT[name];
  return text === undefined ? name : `${name} (${text})`;
}

/** The addon, or a VtepError('NATIVE') naming `what` and why the addon is unavailable. */
export function requireNative(what: string): NativeAddon {
  if (native === null) throw new VtepError('NATIVE', `${what}: ${nativeLoadError}`);
  return native;
}

/** VtepError for a failed setup call: EPERM/EACCES → 'PERMISSION', anything else → 'IO'. */
export function ioError(what: string, code: number, hint = ''): VtepError {
  const n = code < 0 ? -code : code;
  const perm = n === osConstants.errno.EPERM || n === osConstants.errno.EACCES;
  const extra = hint !== '' ? ` ${hint}` : perm ? ' (needs root or CAP_NET_ADMIN)' : '';
  return new VtepError(perm ? 'PERMISSION' : 'IO', `${what}: ${errnoText(code)}${extra}`);
}

/**
 * Readiness notifications for one fd on the Node event loop (uv_poll_t). The callback gets
 * POLL_READABLE / POLL_WRITABLE bits, or -errno. One closure per watch, none per packet.
 * `stop()` must come before the fd is closed; after it the process can exit.
 */
export class FdPoll {
  private id = -1;
  private events = 0;
  constructor(private readonly addon: NativeAddon, private readonly fd: number, private readonly what: string) {}

  get active(): boolean {
    return this.id >= 0;
  }

  /** Start watching (or change the callback: restarts the watch). Throws VtepError on failure. */
  start(events: number, cb: (events: number) => void): void {
    this.stop();
    const id = this.addon.pollStart(this.fd, events, cb);
    if (id < 0) throw ioError(`${this.what}: poll start failed`, id);
    this.id = id;
    this.events = events;
  }

  /** Change the interest set (e.g. add POLL_WRITABLE after a write returned 0). No-op when unchanged. */
  update(events: number): void {
    if (this.id < 0 || events === this.events) return;
    const r = this.addon.pollUpdate(this.id, events);
    if (r < 0) throw ioError(`${this.what}: poll update failed`, r);
    this.events = events;
  }

  /** Whether an active watch keeps the process alive. Defaults to true. */
  ref(keepAlive: boolean): void {
    if (this.id >= 0) this.addon.pollRef(this.id, keepAlive);
  }

  stop(): void {
    if (this.id < 0) return;
    this.addon.pollStop(this.id);
    this.id = -1;
    this.events = 0;
  }
}

/**
 * An addon-owned fd watched through one FdPoll: the fd, watch and close plumbing shared by TunDevice,
 * NativeUdpSocket and NativeRawSocket (their batch calls pass `fdValue` to the addon).
 */
export abstract class PolledFd {
  protected fdValue: number;
  protected readonly addon: NativeAddon;
  private readonly poller: FdPoll;

  /** `what` names the fd in poll errors, e.g. 'tun vtep0', 'udp 0.0.0.0:4789'. */
  protected constructor(addon: NativeAddon, fd: number, what: string) {
    this.addon = addon;
    this.fdValue = fd;
    this.poller = new FdPoll(addon, fd, what);
  }

  /** The file descriptor (-1 after close). */
  get fd(): number {
    return this.fdValue;
  }

  /**
   * Call `cb(events)` on the JS thread whenever the fd is readable (and writable, if asked:
   * `events` is a mix of POLL_READABLE | POLL_WRITABLE). Replaces any earlier watch.
   */
  watch(cb: (events: number) => void, events: number = this.addon.constants.POLL_READABLE): void {
    this.poller.start(events, cb);
  }

  /** Change what the watch waits for (e.g. add POLL_WRITABLE after a batch write returned 0). */
  watchEvents(events: number): void {
    this.poller.update(events);
  }

  /** Whether the watch keeps the process alive. Defaults to true. */
  watchRef(keepAlive: boolean): void {
    this.poller.ref(keepAlive);
  }

  unwatch(): void {
    this.poller.stop();
  }

  /** Stop watching and close the fd. Idempotent. */
  close(): void {
    if (this.fdValue < 0) return;
    this.poller.stop();
    this.addon.closeFd(this.fdValue);
    this.fdValue = -1;
  }
}
