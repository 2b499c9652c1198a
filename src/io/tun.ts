/**
 * The TUN edge: a Linux TUN device (IFF_TUN | IFF_NO_PI, non-blocking) read and written in batches
 * through the native addon. Packets are bare IPv4/IPv6 (no packet-info header; with `vnetHdr` each
 * packet is preceded by a virtio_net_hdr).
 *
 * Batch shape (shared with the other packet edges):
 *   readBatch(pool, offsets, lengths, max): n       fills lengths[0..n) at offsets[0..n)
 *   writeBatch(pool, offsets, lengths, end, first)   writes [first, end), returns how many went
 * `pool` is the caller's slot pool; each read may use `readCapacity` bytes at `offsets[i]` (leave
 * headroom in front of the offset for the outer headers). Hot-path calls never throw and never
 * allocate: they return a count or -errno. Setup calls (open, MTU, up) throw VtepError.
 */
import { constants as osConstants } from 'node:os';
import { ioError, PolledFd, requireNative, type NativeAddon } from './native.ts';

const { EBUSY, EINVAL, ENOENT, ENODEV } = osConstants.errno;

/** Caller-owned packet batch I/O over a slot pool. */
export interface PacketBatchIo {
  /**
   * Read up to `max` packets into `pool` at `offsets[i]`, lengths into `lengths[i]`.
   * Returns n >= 0 (0: nothing ready) or -errno. `lengths[i] > readCapacity` means truncated.
   */
  readBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, max: number): number;
  /**
   * Write packets `[first, end)`. Returns how many went counting from `first` (0: would block, wait
   * for writable), or -errno when packet `first` itself failed (count it, skip it, call again).
   */
  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, end: number, first?: number): number;
}

export interface TunOpenOptions {
  /** Interface name (at most 15 bytes; may be a pattern such as 'vtep%d'). */
  name: string;
  /** Bytes the kernel may write at each read offset (slot size minus headroom). Must cover MTU (+ vnet header). */
  readCapacity: number;
  /** IFF_MULTI_QUEUE: open one more queue of the same device per call. Defaults to false. */
  multiQueue?: boolean;
  /** IFF_VNET_HDR: each packet is preceded by a virtio_net_hdr. Defaults to false. */
  vnetHdr?: boolean;
  /** Fail with EBUSY if an interface of that name already exists (IFF_TUN_EXCL). Defaults to false. */
  exclusive?: boolean;
  /** Set the MTU after opening. Defaults to leaving the kernel's (1500). */
  mtu?: number;
  /** Set txqueuelen after opening. Defaults to leaving the kernel's (500). */
  txQueueLen?: number;
  /** Bring the link up after opening. Defaults to false. */
  up?: boolean;
}

/**
 * One open TUN queue. `fd`, `watch`, `watchEvents`, `watchRef`, `unwatch` and `close` come from PolledFd:
 * `watch(cb, events)` calls `cb(events)` on the JS thread whenever the device is readable (and writable, if
 * asked), replacing any earlier watch; `close()` stops watching and closes the fd (a non-persistent device
 * then disappears), idempotent.
 */
export class TunDevice extends PolledFd implements PacketBatchIo {
  /** The kernel's name for the device. */
  readonly name: string;
  readonly readCapacity: number;

  private constructor(addon: NativeAddon, fd: number, name: string, readCapacity: number) {
    super(addon, fd, `tun ${name}`);
    this.name = name;
    this.readCapacity = readCapacity;
  }

  /**
   * Open (or attach to) a TUN device. Throws VtepError: 'NATIVE' when the addon is missing,
   * 'PERMISSION' without CAP_NET_ADMIN, 'IO' otherwise, e.g. `tun vtep0: open failed: EBUSY (device
   * or resource busy) …` when another process holds it, EINVAL when the name is taken by a non-TUN
   * interface.
   */
  static open(opts: TunOpenOptions): TunDevice {
    const addon = requireNative(`tun ${opts.name}`);
    const c = addon.constants;
    if (!Number.isInteger(opts.readCapacity) || opts.readCapacity <= 0) {
      throw ioError(`tun ${opts.name}: open failed`, -EINVAL, `(readCapacity ${opts.readCapacity} must be a positive integer)`);
    }
    const flags = (opts.multiQueue ? c.TUN_MULTI_QUEUE : 0) | (opts.vnetHdr ? c.TUN_VNET_HDR : 0) |
      (opts.exclusive ? c.TUN_EXCLUSIVE : 0);
    const fd = addon.tunOpen(opts.name, flags);
    if (fd < 0) throw ioError(`tun ${opts.name}: open failed`, fd, openHint(fd));
    const real = addon.tunName(fd);
    const name = typeof real === 'string' ? real : opts.name;
    const dev = new TunDevice(addon, fd, name, opts.readCapacity);
    try {
      if (opts.mtu !== undefined) dev.setMtu(opts.mtu);
      if (opts.txQueueLen !== undefined) dev.setTxQueueLen(opts.txQueueLen);
      if (opts.up) dev.setUp(true);
    } catch (e) {
      dev.close();
      throw e;
    }
    return dev;
  }

  readBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, max: number): number {
    return this.addon.tunReadBatch(this.fdValue, pool, offsets, this.readCapacity, lengths, max);
  }

  writeBatch(pool: Uint8Array, offsets: Int32Array, lengths: Int32Array, end: number, first = 0): number {
    return this.addon.tunWriteBatch(this.fdValue, pool, offsets, lengths, first, end);
  }

  setMtu(mtu: number): void {
    const r = this.addon.ifSetMtu(this.name, mtu);
    if (r < 0) throw ioError(`tun ${this.name}: set mtu ${mtu} failed`, r);
  }

  getMtu(): number {
    const r = this.addon.ifGetMtu(this.name);
    if (r < 0) throw ioError(`tun ${this.name}: get mtu failed`, r);
    return r;
  }

  setTxQueueLen(len: number): void {
    const r = this.addon.ifSetTxQueueLen(this.name, len);
    if (r < 0) throw ioError(`tun ${this.name}: set txqueuelen ${len} failed`, r);
  }

  setUp(up: boolean): void {
    const r = this.addon.ifSetUp(this.name, up);
    if (r < 0) throw ioError(`tun ${this.name}: set link ${up ? 'up' : 'down'} failed`, r);
  }

  /** TUNSETOFFLOAD with TUN_F_* bits (needs vnetHdr for anything but 0). */
  setOffload(flags: number): void {
    const r = this.addon.tunSetOffload(this.fdValue, flags);
    if (r < 0) throw ioError(`tun ${this.name}: set offload 0x${flags.toString(16)} failed`, r);
  }
}

function openHint(code: number): string {
  switch (-code) {
    case EBUSY:
      return '(the device exists and is held by another process, or exclusive was asked)';
    case EINVAL:
      return '(an interface of that name exists but is not a TUN device of the same queue mode)';
    case ENOENT:
    case ENODEV:
      return '(no /dev/net/tun: load the tun module)';
    default:
      return '';
  }
}
