/**
 * The live dataplane: a TUN device and underlay sockets joined by the engine, on one thread, driven by
 * readiness callbacks on the Node event loop (uv_poll via the addon; no busy spin, no blocking call).
 *
 * ## Runtime behaviour of `vtep run` (contract for operators and the e2e tests)
 * `vtep run --config FILE [--metrics HOST:PORT] [--log-level LEVEL] [--io native|node] [--batch N]
 * [--offload auto|none|LIST] [--stats-interval S]`, as root inside the node's network namespace (src/cli/run.ts).
 * - Start (in this order; a failure undoes what was done, so a failed start leaves nothing behind):
 *   load + validate the config → check addon, root, and that no interface `tun.name` exists → open the
 *   underlay socket(s) (VXLAN: UDP bound to node.underlayIP:vxlan.port; IPIP: raw IP sockets, protocol 4
 *   for inner IPv4 and 41 for inner IPv6 pod CIDRs) → metrics listener (if --metrics) → TUN `tun.name`
 *   (IFF_TUN|IFF_NO_PI, exclusive; with offloads IFF_VNET_HDR, TUNSETOFFLOAD CSUM|TSO4|TSO6|TSO_ECN for tso,
 *   gso_max_segs 128) with `tun.mtu`, `tun.txqueuelen`; IPv6 made quiet (addr_gen_mode 1, no
 *   RA/RS, multicast off: no link-local chatter counted as fdb-miss); IPv4 accept_local 1 (the ICMP
 *   too-big replies vtep writes come from the TUN's own address); address = network address of the
 *   node's first pod CIDR of each family (10.244.N.0/32; fd00:…::/128 nodad); link up → one route per
 *   peer pod CIDR, v4 and v6 (`ip route replace CIDR dev TUN src OWN`) → config watch → log "ready".
 *   Measured: ~0.1 s from process start to "ready" plus Node start (~1–2 s for the whole process on
 *   the 2-core CI machine, bundle cached).
 * - Logs: JSON lines (pino, sync) on stdout, `msg` is the event:
 *   "ready" {tun, mtu, backend, underlay, addresses, peers, routes, io, batch, metrics, startupMs};
 *   "config reloaded" {added, removed, changed, routesAdded, routesRemoved, peers[, errors]};
 *   "config rejected" {file, errors} (old config kept); "config change requires restart" {keys};
 *   "stats" (every --stats-interval s); "shutdown" {signal}; "stopped" {packets, drops, ioErrors, peers, reloads}.
 * - Startup failures: one line `vtep: <reason>` on stderr; exit 2 for a bad config or usage, 1 otherwise
 *   (not root, port in use, device exists, addon missing — that line suggests `--io node`).
 * - Config file changes (written in place or replaced by rename) apply in ~0.15 s (100 ms debounce): the
 *   FDB is swapped between two batches, routes diffed (`ip route replace` / `ip route del`); flows to
 *   unchanged peers are untouched. An invalid file is rejected with a log line; the old config stays.
 *   Changing node identity, backend, VNI, port, underlay or tun settings logs "config change requires
 *   restart" and nothing is applied.
 * - SIGINT / SIGTERM: stop reading, delete routes, close (so delete) the TUN device, close sockets and
 *   the metrics listener, log "stopped" with final counters, exit 0 (~70 ms). A second signal exits at
 *   once with status 1. SIGKILL leaves nothing either: the TUN is not persistent, routes go with it.
 * - Metrics (`--metrics`): Prometheus text at http://HOST:PORT/metrics (see src/control/metrics.ts):
 *   vtep_peer_{tx,rx}_{packets,bytes}_total{peer}, vtep_drops_total{reason} (engine and I/O reasons),
 *   vtep_io_errors_total{op,errno}, vtep_packets_total{op}, vtep_batch_size{op} (histogram),
 *   vtep_icmp_sent_total, vtep_fdb_peers, vtep_fdb_prefixes, vtep_config_reloads_total{result},
 *   vtep_offload_total{counter}, vtep_rx_queue_delay_microseconds (histogram).
 *
 * ## Offloads (LiveOptions.offloads; the "ready" log lists them)
 * - tso: a TUN read may be a TCP packet of up to 64 KiB behind a virtio-net header; TcpSegmenter cuts it into
 *   MSS-sized segments in this slot's TSO output slot, `gap` bytes apart, and each is encapsulated in place. With
 *   gso on a GSO-capable socket the gap is exactly the VXLAN payload layer's 22 bytes, so the segments are one
 *   contiguous run sent by one UDP GSO message (≤ 64 datagrams, ≤ 65507 bytes; longer runs are split);
 *   otherwise each segment is its own datagram. A NEEDS_CSUM packet that is not GSO gets its checksum completed.
 * - gso also gathers: at send time, consecutive queued datagrams to one peer with the same length (small packets
 *   of a flow, ACKs) become one UDP GSO message over their slots (gatherRuns; the addon's `runs`: an iovec each).
 * - gro: a socket read may be a run of datagrams of one segment size (the last may be shorter): each is
 *   decapsulated on its own.
 * - coalesce: decapsulated TCP segments that continue the open coalesced packet (TcpCoalescer: the kernel GRO's
 *   rules) are appended to it in a coalescing slot; anything else closes it and goes alone behind a zero
 *   virtio-net header (written over its own outer headers). The TUN write queue keeps arrival order.
 * - Work per call is sized in bytes (BATCH_BYTES per read, CALLBACK_BYTES per readiness callback), so 64 KiB
 *   reads do not keep the other direction waiting for milliseconds.
 *
 * ## The two directions
 * TUN → underlay (pod packets out):
 *   1. TUN readable: read a batch (≤ `batch` packets) into the TUN region's slots at the read offset
 *   2. per packet: engine.encap in place (FDB lookup, MTU check, outer headers into the headroom);
 *      a too-big packet's ICMP reply (engine.icmpView) is copied to an ICMP slot and queued for the TUN
 *   3. the outputs are queued per underlay socket (VXLAN: one; IPIP: by inner family) with the peer's
 *      underlay address, then sent with one sendBatch (sendmmsg) per socket
 * Underlay → TUN (peer packets in):
 *   1. socket readable: recvBatch (recvmmsg) into that socket's region, with each datagram's outer
 *      TOS / traffic class (IP_TOS / IPV6_TCLASS control message) where the socket strips the outer header
 *   2. per datagram: strict decap (VXLAN payload from a UDP socket, with the outer ECN bits from step 1;
 *      a whole IPv4 packet from an IPv4 raw socket; an IPv6 raw socket's payload gets its IPv6 header
 *      rebuilt in the headroom first, traffic class from step 1), RFC 6040 ECN decapsulation included
 *   3. the inner IP packets are written to the TUN straight from the receive slots (writeBatch)
 *
 * ## Back-pressure (no userspace queue to overflow)
 * A write that would block (sendBatch / writeBatch returning 0: EAGAIN) keeps its batch; the fd is
 * watched for WRITABLE and reading stops on the side that feeds it (TUN reads pause while a socket
 * batch is pending; socket reads pause while a TUN batch is pending). The kernel queues then fill and
 * the kernel drops (UDP RcvbufErrors, TUN tx_dropped), where the usual tools count them. A write that
 * fails with an error skips that one packet and counts it (`send-error`, `tun-write-error`, plus
 * vtep_io_errors_total{op,errno}). Each readiness callback handles at most `rounds` batches, so
 * neither direction starves the other or the timers.
 *
 * The outer UDP source port of VXLAN packets is the bound port (a UDP socket sends from it), not the
 * kernel's flow hash: receivers accept any source port (RFC 7348 §5), but ECMP spreads less.
 * IPIP over IPv6 sends with the socket's defaults for hop limit and traffic class (the kernel writes the
 * outer header); IPIP over IPv4 uses IP_HDRINCL, so the engine's outer header (TTL, TOS/ECN, DF) goes out.
 */
import { Engine, EncapLayer } from '../engine/engine.ts';
import { Drop } from '../engine/drops.ts';
import type { Fdb } from '../fdb/fdb.ts';
import type { PacketBatchIo } from '../io/tun.ts';
import { POLL_READABLE, POLL_WRITABLE, type DatagramBatchIo } from '../io/udp.ts';
import { SlotPool, SLOT_HEADROOM, slotSizeFor } from './slots.ts';
import { TcpCoalescer, TcpSegmenter, VNET_HDR_LEN, VnetFlag, VnetGso, VnetHdr, completeChecksum, readVnetHdr, writeVnetNone } from '../engine/gso.ts';
import type { Offloads } from './live-plan.ts';

/** Most segments one TSO read is cut into (65535 / a 536-byte MSS is 123). */
export const MAX_TSO_SEGMENTS = 128;
/** Most datagrams the kernel coalesces into one UDP GRO read (UDP_GRO_CNT_MAX). */
const MAX_GRO_SEGMENTS = 64;
/** Room in front of each TSO segment for its outer headers, when they are not sent as one UDP GSO run. */
const SEGMENT_GAP = 96;
/** Bytes a slot holds beyond a 64 KiB packet when offloads are on: the virtio-net header, and each TSO
 * segment's own copy of the inner headers (≤ 120) plus its gap. */
export const LIVE_GSO_SLACK = VNET_HDR_LEN + MAX_TSO_SEGMENTS * (120 + SEGMENT_GAP);
/** One UDP GSO send: at most 64 datagrams (UDP_MAX_SEGMENTS in older kernels), and one UDP payload in all
 * (65535 − 20 IPv4 − 8 UDP; EMSGSIZE beyond). */
const UDP_GSO_MAX_SEGMENTS = 64;
const UDP_GSO_MAX_BYTES = 65507;
/** Outer bytes the engine writes in front of a VXLAN payload-layer packet: VXLAN (8) + inner Ethernet (14). */
const VXLAN_PAYLOAD_GAP = 22;

/** A TUN-like packet edge with readiness callbacks (TunDevice, MemoryTun). */
export interface LiveTun extends PacketBatchIo {
  readonly name: string;
  watch(cb: (events: number) => void, events?: number): void;
  watchEvents(events: number): void;
  unwatch(): void;
}

/** How a channel's received datagrams start. */
export const RxFormat = {
  /** UDP socket: the VXLAN header (the kernel checked IP and UDP). */
  VxlanPayload: 0,
  /** IPv4 raw socket: the whole outer IPv4 packet. */
  Ip: 1,
  /** IPv6 raw socket: the outer payload only (the inner packet); the channel's protocol says which. */
  Ip6Payload: 2,
} as const;
export type RxFormat = (typeof RxFormat)[keyof typeof RxFormat];

export interface UnderlayChannel {
  io: DatagramBatchIo;
  rx: RxFormat;
  /** Underlay family of the socket (decides how source addresses are read). */
  family: 4 | 6;
  /** Ip6Payload channels: the IP protocol carried (4 or 41). */
  protocol?: number;
}

export interface LiveOptions {
  engine: Engine;
  tun: LiveTun;
  channels: UnderlayChannel[];
  /** Channel index for encapsulated inner IPv4 / IPv6 packets (-1: none; counted as no-tx-channel). */
  txChannel4: number;
  txChannel6: number;
  /** What encap writes: Payload for UDP and IPv6 raw sockets, Ip for IPv4 raw sockets with IP_HDRINCL. */
  encapLayer: EncapLayer;
  /** Slot size (see liveSlotSize); every io's readCapacity must be ≤ slotSize − SLOT_HEADROOM. */
  slotSize: number;
  /** Packets per batch. Defaults to 64. */
  batch?: number;
  /** Batches handled per readiness callback. Defaults to 8. */
  rounds?: number;
  /**
   * Offloads (see live-plan.ts). tso / coalesce: the TUN was opened with IFF_VNET_HDR (every packet read or
   * written starts with a virtio-net header); gso / gro: the VXLAN channel's socket was opened with them.
   * Slots must then hold 64 KiB packets (planLive sizes them). Defaults to none.
   */
  offloads?: Offloads;
}

/** I/O-level drop reasons (the engine's are in src/engine/drops.ts). Same naming rules. */
export const IoDrop = {
  /** A TUN packet longer than a slot's read capacity. */
  TunReadTruncated: 0,
  /** A datagram longer than a slot's read capacity. */
  SocketReadTruncated: 1,
  /** sendBatch failed for this datagram (errno in vtep_io_errors_total). */
  SendError: 2,
  /** writeBatch to the TUN failed for this packet. */
  TunWriteError: 3,
  /** An encapsulated packet of a family no underlay socket carries (IPIP without that socket). */
  NoTxChannel: 4,
} as const;
export const IO_DROP_NAMES: readonly string[] = ['tun-read-truncated', 'socket-read-truncated', 'send-error', 'tun-write-error', 'no-tx-channel'];
export const IO_DROP_HELP: readonly string[] = [
  'packet read from the TUN is larger than a slot (MTU above what the slots were sized for)',
  'datagram larger than a slot (underlay MTU above what the slots were sized for, or GRO)',
  'the kernel refused to send the datagram (see vtep_io_errors_total for the errno)',
  'the kernel refused the packet written to the TUN device',
  'no underlay socket for the inner packet\'s family (IPIP)',
];

/** I/O operations, for error and batch-size counters. */
export const IoOp = { TunRead: 0, SocketRecv: 1, SocketSend: 2, TunWrite: 3, Poll: 4 } as const;
export const IO_OP_NAMES: readonly string[] = ['tun-read', 'socket-recv', 'socket-send', 'tun-write', 'poll'];

/**
 * Work per read and per readiness callback, in bytes: with offloads a read can be 64 KiB, and 64 of them
 * (4 MiB, milliseconds of work) would keep the other direction and its latency-sensitive packets waiting.
 * The next read asks for about BATCH_BYTES at the last batch's mean packet size (at least MIN_BATCH), and a
 * callback returns to the event loop after CALLBACK_BYTES (the fd is still readable: it fires again).
 */
const BATCH_BYTES = 256 * 1024;
const MIN_BATCH = 4;
const CALLBACK_BYTES = 1024 * 1024;

function bytesOf(lengths: Int32Array, n: number): number {
  let b = 0;
  for (let i = 0; i < n; i++) b += lengths[i]!;
  return b;
}

/** The next read's count: about BATCH_BYTES at this batch's mean size (64 KiB reads: a few), MIN_BATCH..batch. */
function nextReadCount(batchBytes: number, n: number, batch: number): number {
  const per = Math.floor(BATCH_BYTES / (batchBytes / n));
  return per >= batch ? batch : per < MIN_BATCH ? MIN_BATCH : per;
}

/** Receive-queue wait histogram buckets: ≤ 1, 2, 4 … 32768 µs, then more. */
export const RX_DELAY_BUCKETS = 17;

/** Batch-size histogram: bucket b counts batches of size in (2^(b-1), 2^b]; b = 0 is size 1. */
export const BATCH_BUCKETS = 12; // up to 2048
const ERRNO_SLOTS = 256;

/** Slot size for a dataplane whose largest packet (TUN MTU or underlay datagram) is `maxPacket` bytes. */
export function liveSlotSize(maxPacket: number): number {
  return slotSizeFor(maxPacket);
}

/** Totals for one peer (by name: they survive FDB swaps). */
export interface PeerCounters {
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
}

export class LiveDataplane {
  readonly engine: Engine;
  readonly tun: LiveTun;
  readonly channels: readonly UnderlayChannel[];
  readonly slots: SlotPool;
  readonly batch: number;
  readonly rounds: number;

  // ---- counters (typed arrays; read by metrics and the final log)
  /** I/O drops by IoDrop code. */
  readonly ioDrops = new Float64Array(IO_DROP_NAMES.length);
  /** Errors by [op * 256 + errno]. */
  readonly ioErrors = new Float64Array(IO_OP_NAMES.length * ERRNO_SLOTS);
  /** Batch sizes: [op * BATCH_BUCKETS + bucket], plus per-op sums and counts. */
  readonly batchHist = new Float64Array(IO_OP_NAMES.length * BATCH_BUCKETS);
  readonly batchSum = new Float64Array(IO_OP_NAMES.length);
  readonly batchCount = new Float64Array(IO_OP_NAMES.length);
  tunReadPackets = 0;
  tunWritePackets = 0;
  socketRecvPackets = 0;
  socketSendPackets = 0;
  icmpQueued = 0;
  // offload counters
  /** TUN reads that were TSO packets, and the segments they were cut into. */
  tsoPackets = 0;
  tsoSegments = 0;
  /** UDP GSO sends, and the datagrams they carried. */
  gsoSends = 0;
  gsoDatagrams = 0;
  /** Socket reads that were GRO runs, and the datagrams in them. */
  groReads = 0;
  groDatagrams = 0;
  /** TUN writes that were coalesced GSO packets, and the segments merged into them. */
  coalescedWrites = 0;
  coalescedSegments = 0;
  readonly offloads: Offloads;
  /** Per peer index of the current FDB (inner IP bytes). */
  private peerTxPackets = new Float64Array(0);
  private peerTxBytes = new Float64Array(0);
  private peerRxPackets = new Float64Array(0);
  private peerRxBytes = new Float64Array(0);
  /** Totals of peers as of earlier FDBs, by name. */
  private readonly retired = new Map<string, PeerCounters>();
  private peerNames: string[] = [];

  // ---- TUN → underlay
  private readonly tunOffsets: Int32Array;
  private readonly tunLengths: Int32Array;
  private readonly encapLayer: EncapLayer;
  private readonly txChannel4: number;
  private readonly txChannel6: number;
  private readonly txOff: Int32Array[];
  private readonly txLen: Int32Array[];
  private readonly txAddrs: Uint8Array[];
  private readonly txPorts: Uint16Array[];
  private readonly txPeer: Int32Array[];
  private readonly txInner: Int32Array[];
  /** Per queue entry: datagrams it carries (> 1: a UDP GSO run) and its segment size (0: plain). */
  private readonly txSegs: Int32Array[];
  private readonly txGso: Uint16Array[];
  /** Per queue entry: how many entries from it are gathered into one UDP GSO send (see gatherRuns). */
  private readonly txRuns: Uint16Array[];
  private readonly txN: Int32Array;
  private readonly txFirst: Int32Array;
  /** 16 bytes per peer: the underlay address in the batch form (IPv4 v4-mapped). */
  private peerAddr16 = new Uint8Array(0);

  // ---- underlay → TUN
  private readonly rxOffsets: Int32Array[];
  private readonly rxLengths: Int32Array;
  private readonly rxAddrs: Uint8Array;
  private readonly rxPorts: Uint16Array;
  /** Per channel: outer TOS / traffic class of each received datagram (0 where the io cannot tell). */
  private readonly rxTos: Uint8Array[];
  private readonly local6: Uint8Array;
  private readonly icmpOffsets: Int32Array;
  // ---- offloads
  private readonly vnet: boolean;
  private readonly vh = new VnetHdr();
  private readonly segmenter: TcpSegmenter | null;
  private readonly coalescer: TcpCoalescer | null;
  /** Slot starts of the TSO output region (one per TUN read slot) and of the coalescing region. */
  private readonly segBase: Int32Array;
  private readonly coBase: Int32Array;
  private readonly rxGso: Uint16Array;
  /** Packets the next TUN read / socket receive asks for (adapted to packet size: see BATCH_BYTES). */
  private tunMax: number;
  private rxMax: number;
  /** Each datagram's wait in the socket queue (µs; -1 unknown) from the last receive. */
  private readonly rxAge: Int32Array;
  /** Receive-queue wait histogram: bucket b counts datagrams that waited ≤ 2^b µs (last bucket: more). */
  readonly rxDelayHist = new Float64Array(RX_DELAY_BUCKETS);
  rxDelaySumUs = 0;
  rxDelayCount = 0;
  /** Coalescing slots used by the current receive batch. */
  private coUsed = 0;
  /** Segments appended to the open coalesced packet. */
  private coAppended = 0;
  /** The TUN write queue: decapped packets from one receive batch, or ICMP replies from one TUN batch. */
  private readonly twOff: Int32Array;
  private readonly twLen: Int32Array;
  private twN = 0;
  private twFirst = 0;

  // ---- readiness
  private running = false;
  private tunEvents = -1;
  private readonly chanEvents: Int32Array;
  private readonly onTun: (events: number) => void;
  private readonly onChan: ((events: number) => void)[];

  constructor(opts: LiveOptions) {
    this.engine = opts.engine;
    this.tun = opts.tun;
    this.channels = opts.channels;
    this.batch = opts.batch ?? 64;
    this.rounds = opts.rounds ?? 8;
    this.encapLayer = opts.encapLayer;
    this.txChannel4 = opts.txChannel4;
    this.txChannel6 = opts.txChannel6;
    const nc = opts.channels.length;
    const b = this.batch;
    if (!Number.isInteger(b) || b < 1 || b > 1024) throw new RangeError(`batch ${b} must be 1..1024`);
    const off = opts.offloads ?? { tso: false, gso: false, gro: false, coalesce: false };
    this.offloads = off;
    this.vnet = off.tso || off.coalesce;
    // TUN region + one region per channel + ICMP region [+ TSO output region] [+ coalescing region]
    this.slots = new SlotPool(b * (2 + nc + (off.tso ? 1 : 0) + (off.coalesce ? 1 : 0)), opts.slotSize);
    const cap = this.slots.readCapacity;
    const tunCap = (opts.tun as { readCapacity?: number }).readCapacity;
    if (tunCap !== undefined && tunCap > cap) throw new RangeError(`tun readCapacity ${tunCap} exceeds the slot capacity ${cap}`);
    for (const ch of opts.channels) {
      if (ch.io.readCapacity > cap) throw new RangeError(`socket readCapacity ${ch.io.readCapacity} exceeds the slot capacity ${cap}`);
    }
    this.tunOffsets = this.slots.region(b).offsets;
    this.tunLengths = new Int32Array(b);
    this.rxOffsets = [];
    for (let c = 0; c < nc; c++) this.rxOffsets.push(this.slots.region(b).offsets);
    this.icmpOffsets = this.slots.region(b).offsets;
    const starts = (offsets: Int32Array) => offsets.map((o) => o - SLOT_HEADROOM);
    this.segBase = off.tso ? starts(this.slots.region(b).offsets) : new Int32Array(0);
    this.coBase = off.coalesce ? starts(this.slots.region(b).offsets) : new Int32Array(0);
    this.segmenter = off.tso ? new TcpSegmenter(MAX_TSO_SEGMENTS) : null;
    this.coalescer = off.coalesce ? new TcpCoalescer() : null;
    this.rxGso = new Uint16Array(b);
    this.rxAge = new Int32Array(b).fill(-1);
    this.tunMax = b;
    this.rxMax = b;
    // queue lengths: a TUN batch may become b × MAX_TSO_SEGMENTS datagrams, a receive batch b × 64 packets
    const txq = off.tso ? b * MAX_TSO_SEGMENTS : b;
    const twq = off.gro ? b * MAX_GRO_SEGMENTS : b;
    this.rxLengths = new Int32Array(b);
    this.rxAddrs = new Uint8Array(16 * b);
    this.rxPorts = new Uint16Array(b);
    // one per channel: an io that cannot read TOS leaves its array at 0 (outer Not-ECT), never stale values
    this.rxTos = [];
    for (let c = 0; c < nc; c++) this.rxTos.push(new Uint8Array(b));
    this.twOff = new Int32Array(twq);
    this.twLen = new Int32Array(twq);
    this.txOff = [];
    this.txLen = [];
    this.txAddrs = [];
    this.txPorts = [];
    this.txPeer = [];
    this.txInner = [];
    this.txSegs = [];
    this.txGso = [];
    this.txRuns = [];
    for (let c = 0; c < nc; c++) {
      this.txOff.push(new Int32Array(txq));
      this.txLen.push(new Int32Array(txq));
      this.txAddrs.push(new Uint8Array(16 * txq));
      this.txPorts.push(new Uint16Array(txq));
      this.txPeer.push(new Int32Array(txq));
      this.txInner.push(new Int32Array(txq));
      this.txSegs.push(new Int32Array(txq).fill(1));
      this.txGso.push(new Uint16Array(txq));
      this.txRuns.push(new Uint16Array(txq));
    }
    this.txN = new Int32Array(nc);
    this.txFirst = new Int32Array(nc);
    this.chanEvents = new Int32Array(nc).fill(-1);
    const local = this.engine.currentFdb().local;
    this.local6 = local.family === 6 ? local.underlayBytes : new Uint8Array(16);
    this.adoptFdb(this.engine.currentFdb());

    this.onTun = (events: number) => {
      if (!this.running) return;
      if (events < 0) {
        this.countError(IoOp.Poll, events);
        return;
      }
      if ((events & POLL_WRITABLE) !== 0) this.flushTun();
      if ((events & POLL_READABLE) !== 0) this.readTun();
      this.rearm();
    };
    this.onChan = [];
    for (let c = 0; c < nc; c++) {
      this.onChan.push((events: number) => {
        if (!this.running) return;
        if (events < 0) {
          this.countError(IoOp.Poll, events);
          return;
        }
        if ((events & POLL_WRITABLE) !== 0) this.flushTx(c);
        if ((events & POLL_READABLE) !== 0) this.readChannel(c);
        this.rearm();
      });
    }
  }

  /** Start watching the TUN and the sockets. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.tunEvents = POLL_READABLE;
    this.tun.watch(this.onTun, POLL_READABLE);
    for (let c = 0; c < this.channels.length; c++) {
      this.chanEvents[c] = POLL_READABLE;
      this.channels[c]!.io.watch(this.onChan[c]!, POLL_READABLE);
    }
  }

  /** Stop watching (packets still queued in the kernel stay there). The owner closes the devices. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.tun.unwatch();
    for (const ch of this.channels) ch.io.unwatch();
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Swap in a new FDB between two batches: the engine uses it for the next packet; batches already
   * encapsulated go to the addresses they were built for. Per-peer counters carry over by peer name.
   */
  setFdb(fdb: Fdb): void {
    this.engine.setFdb(fdb);
    this.adoptFdb(fdb);
  }

  private adoptFdb(fdb: Fdb): void {
    // fold the current per-peer counters into the by-name totals
    for (let i = 0; i < this.peerNames.length; i++) {
      const name = this.peerNames[i]!;
      const t = this.retired.get(name) ?? { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0 };
      t.txPackets += this.peerTxPackets[i]!;
      t.txBytes += this.peerTxBytes[i]!;
      t.rxPackets += this.peerRxPackets[i]!;
      t.rxBytes += this.peerRxBytes[i]!;
      this.retired.set(name, t);
    }
    const n = fdb.peers.length;
    const newNames = fdb.peers.map((p) => p.name);
    // batches still waiting to be sent name peers by old index: renumber them (-1: peer gone)
    if (this.peerNames.length > 0) {
      const index = new Map(newNames.map((name, i) => [name, i]));
      for (let c = 0; c < this.txN.length; c++) {
        const peers = this.txPeer[c]!;
        for (let k = this.txFirst[c]!; k < this.txN[c]!; k++) peers[k] = index.get(this.peerNames[peers[k]!] ?? '') ?? -1;
      }
    }
    this.peerNames = newNames;
    this.peerTxPackets = new Float64Array(n);
    this.peerTxBytes = new Float64Array(n);
    this.peerRxPackets = new Float64Array(n);
    this.peerRxBytes = new Float64Array(n);
    const addr = new Uint8Array(16 * n);
    for (let i = 0; i < n; i++) {
      const p = fdb.peers[i]!;
      if (p.family === 6) addr.set(p.underlayBytes, 16 * i);
      else {
        addr[16 * i + 10] = 0xff;
        addr[16 * i + 11] = 0xff;
        addr.set(p.underlayBytes, 16 * i + 12);
      }
    }
    this.peerAddr16 = addr;
  }

  /** Offload counters by name (all 0 with offloads off). */
  offloadCounters(): Record<string, number> {
    return {
      tsoPackets: this.tsoPackets,
      tsoSegments: this.tsoSegments,
      gsoSends: this.gsoSends,
      gsoDatagrams: this.gsoDatagrams,
      groReads: this.groReads,
      groDatagrams: this.groDatagrams,
      coalescedWrites: this.coalescedWrites,
      coalescedSegments: this.coalescedSegments,
    };
  }

  /** Per-peer totals by name (peers removed by a reload keep their final totals). */
  peerCounters(): Map<string, PeerCounters> {
    const out = new Map<string, PeerCounters>();
    for (const [name, t] of this.retired) out.set(name, { ...t });
    for (let i = 0; i < this.peerNames.length; i++) {
      const name = this.peerNames[i]!;
      const t = out.get(name) ?? { txPackets: 0, txBytes: 0, rxPackets: 0, rxBytes: 0 };
      t.txPackets += this.peerTxPackets[i]!;
      t.txBytes += this.peerTxBytes[i]!;
      t.rxPackets += this.peerRxPackets[i]!;
      t.rxBytes += this.peerRxBytes[i]!;
      out.set(name, t);
    }
    return out;
  }

  /** Whether a batch is waiting for a writable fd. */
  get blocked(): boolean {
    if (this.twFirst < this.twN) return true;
    for (let c = 0; c < this.channels.length; c++) if (this.txFirst[c]! < this.txN[c]!) return true;
    return false;
  }

  // ============================================================================ TUN → underlay

  private txIdle(): boolean {
    if (this.twFirst < this.twN) return false;
    for (let c = 0; c < this.txN.length; c++) if (this.txFirst[c]! < this.txN[c]!) return false;
    return true;
  }

  private readTun(): void {
    const pool = this.slots.pool;
    const cap = this.slots.readCapacity;
    const offsets = this.tunOffsets;
    const lengths = this.tunLengths;
    const engine = this.engine;
    const layer = this.encapLayer;
    const nc = this.txN.length;
    let bytes = 0;
    for (let round = 0; round < this.rounds; round++) {
      if (!this.txIdle()) return;
      const max = this.tunMax;
      const n = this.tun.readBatch(pool, offsets, lengths, max);
      if (n <= 0) {
        if (n < 0) this.countError(IoOp.TunRead, n);
        return;
      }
      this.observeBatch(IoOp.TunRead, n);
      this.tunReadPackets += n;
      const batchBytes = bytesOf(lengths, n);
      bytes += batchBytes;
      this.tunMax = nextReadCount(batchBytes, n, this.batch);
      for (let c = 0; c < nc; c++) {
        this.txN[c] = 0;
        this.txFirst[c] = 0;
      }
      this.twN = 0;
      this.twFirst = 0;
      for (let i = 0; i < n; i++) {
        let off = offsets[i]!;
        let len = lengths[i]!;
        if (len > cap) {
          this.ioDrops[IoDrop.TunReadTruncated]!++;
          continue;
        }
        if (this.vnet) {
          // [virtio-net header][IP packet]: a TSO packet is cut into segments; a checksum left to
          // "the device" (NEEDS_CSUM) is completed here; then the packet is an ordinary one
          if (len < VNET_HDR_LEN) {
            engine.drops[Drop.VnetHdrInvalid]!++;
            continue;
          }
          const h = this.vh;
          readVnetHdr(pool, off, h);
          off += VNET_HDR_LEN;
          len -= VNET_HDR_LEN;
          if ((h.gsoType & ~VnetGso.Ecn) !== VnetGso.None) {
            this.encapTso(i, off, len);
            continue;
          }
          if ((h.flags & VnetFlag.NeedsCsum) !== 0) {
            const rc = completeChecksum(pool, off, len, h.csumStart, h.csumOffset);
            if (rc !== 0) {
              engine.drops[rc]!++;
              continue;
            }
          }
        }
        const version = pool[off]! >>> 4;
        const rc = engine.encap(pool, off, len, layer);
        if (rc !== 0) {
          if (rc === Drop.MtuExceeded && engine.icmpLen > 0) this.queueIcmp();
          continue;
        }
        const c = version === 4 ? this.txChannel4 : this.txChannel6;
        if (c < 0) {
          this.ioDrops[IoDrop.NoTxChannel]!++;
          continue;
        }
        this.queueTx(c, engine.outOff, engine.outLen, engine.outLen - (off - engine.outOff), 1, 0, engine.peer, engine.outPort);
      }
      for (let c = 0; c < nc; c++) if (this.txN[c]! > 0) this.flushTx(c);
      if (this.twN > 0) this.flushTun();
      if (n < max || bytes >= CALLBACK_BYTES) return;
    }
  }

  /** Append one datagram (or a UDP GSO run of `segs` datagrams of `gso` bytes) to channel c's send queue. */
  private queueTx(c: number, outOff: number, outLen: number, innerBytes: number, segs: number, gso: number, peer: number, port: number): void {
    const k = this.txN[c]!;
    this.txN[c] = k + 1;
    this.txOff[c]![k] = outOff;
    this.txLen[c]![k] = outLen;
    this.txPorts[c]![k] = port;
    this.txSegs[c]![k] = segs;
    this.txGso[c]![k] = gso;
    this.txPeer[c]![k] = peer;
    this.txInner[c]![k] = innerBytes;
    const addrs = this.txAddrs[c]!;
    const src = this.peerAddr16;
    const s = 16 * peer;
    const d = 16 * k;
    for (let j = 0; j < 16; j++) addrs[d + j] = src[s + j]!;
  }

  /**
   * A TSO packet read into TUN slot i (IP packet at off, len; header in this.vh): cut into segments in the
   * TSO output slot i, each encapsulated in place. On a channel with UDP GSO the segments are laid out
   * back to back with exactly the VXLAN gap between them and go as one GSO run; otherwise one datagram each.
   */
  private encapTso(i: number, off: number, len: number): void {
    const pool = this.slots.pool;
    const engine = this.engine;
    const seg = this.segmenter!;
    const version = pool[off]! >>> 4;
    const c = version === 4 ? this.txChannel4 : this.txChannel6;
    if (c < 0) {
      this.ioDrops[IoDrop.NoTxChannel]!++;
      return;
    }
    const gsoRun = this.offloads.gso && this.channels[c]!.io.gsoCapable;
    const gap = gsoRun ? VXLAN_PAYLOAD_GAP : SEGMENT_GAP;
    const base = this.segBase[i]!;
    const n = seg.segment(pool, off, len, this.vh, base, base + this.slots.slotSize, gap);
    if (n < 0) {
      engine.drops[-n]!++;
      return;
    }
    this.tsoPackets++;
    this.tsoSegments += n;
    const layer = this.encapLayer;
    const offs = seg.offs;
    const lens = seg.lens;
    let first = 0;
    if (gsoRun && n > 1) {
      // encapsulate every segment; the run is sent whole when each came out exactly `gap` bytes in front
      // of its inner packet, for one peer (else: the ones done so far and the rest go one datagram each)
      let ok = 0;
      let failed = false;
      let peer = -1;
      let port = 0;
      for (let k = 0; k < n; k++) {
        const rc = engine.encap(pool, offs[k]!, lens[k]!, layer);
        if (rc !== 0) {
          failed = true; // counted by the engine
          break;
        }
        if (engine.outOff !== offs[k]! - gap || engine.outLen !== lens[k]! + gap || (k > 0 && engine.peer !== peer)) break;
        peer = engine.peer;
        port = engine.outPort;
        ok++;
      }
      if (ok === n) {
        // runs within what one UDP GSO send may carry: ≤ UDP_GSO_MAX_SEGMENTS datagrams, ≤ 65507 bytes
        const size = gap + lens[0]!;
        let per = Math.floor(UDP_GSO_MAX_BYTES / size);
        if (per > UDP_GSO_MAX_SEGMENTS) per = UDP_GSO_MAX_SEGMENTS;
        for (let k = 0; k < n; k += per) {
          const last = k + per < n ? k + per - 1 : n - 1;
          const start = offs[k]! - gap;
          let bytes = 0;
          for (let j = k; j <= last; j++) bytes += lens[j]!;
          this.queueTx(c, start, offs[last]! + lens[last]! - start, bytes, last - k + 1, size, peer, port);
        }
        return;
      }
      for (let k = 0; k < ok; k++) this.queueTx(c, offs[k]! - gap, lens[k]! + gap, lens[k]!, 1, 0, peer, port);
      first = failed ? ok + 1 : ok;
    }
    for (let k = first; k < n; k++) {
      const rc = engine.encap(pool, offs[k]!, lens[k]!, layer);
      if (rc !== 0) {
        if (rc === Drop.MtuExceeded && engine.icmpLen > 0 && this.twN === 0) this.queueIcmp();
        continue;
      }
      this.queueTx(c, engine.outOff, engine.outLen, lens[k]!, 1, 0, engine.peer, engine.outPort);
    }
  }

  private queueIcmp(): void {
    const k = this.twN;
    if (k >= this.icmpOffsets.length) return; // cannot happen: at most one reply per packet of a batch
    const off = this.icmpOffsets[k]!;
    const len = this.engine.icmpLen;
    this.slots.pool.set(this.engine.icmpView.subarray(0, len), off);
    this.queueTunWrite(off, len);
    this.icmpQueued++;
  }

  /** Queue the IP packet at pool[off, off+len) for the TUN, behind a zero virtio-net header when the TUN has them. */
  private queueTunWrite(off: number, len: number): void {
    const k = this.twN;
    if (this.vnet) {
      writeVnetNone(this.slots.pool, off - VNET_HDR_LEN);
      this.twOff[k] = off - VNET_HDR_LEN;
      this.twLen[k] = len + VNET_HDR_LEN;
    } else {
      this.twOff[k] = off;
      this.twLen[k] = len;
    }
    this.twN = k + 1;
  }

  /**
   * UDP GSO for datagrams that were not TSO segments (small packets of one flow, say): consecutive queue entries
   * to the same peer and port with the same length go as one GSO send, gathered from their slots (runs[k] = how
   * many from k; gso[k] = their length). The datagrams on the wire are the same, one system call and one trip
   * through the stack carry up to UDP_GSO_MAX_SEGMENTS of them. Entries already holding a TSO run stay alone.
   */
  private gatherRuns(c: number, first: number, end: number): void {
    const runs = this.txRuns[c]!;
    const gso = this.txGso[c]!;
    const segs = this.txSegs[c]!;
    const lens = this.txLen[c]!;
    const peers = this.txPeer[c]!;
    const ports = this.txPorts[c]!;
    let k = first;
    while (k < end) {
      runs[k] = 1;
      const len = lens[k]!;
      if (segs[k]! > 1) {
        k++;
        continue;
      }
      let m = 1;
      let bytes = len;
      while (k + m < end && m < UDP_GSO_MAX_SEGMENTS && bytes + len <= UDP_GSO_MAX_BYTES && segs[k + m] === 1 &&
        lens[k + m] === len && peers[k + m] === peers[k] && ports[k + m] === ports[k]) {
        bytes += len;
        m++;
      }
      runs[k] = m;
      gso[k] = m > 1 ? len : 0;
      for (let q = k + 1; q < k + m; q++) runs[q] = 0; // inside a run: not a message of its own
      k += m;
    }
  }

  /** Send channel c's pending batch; true when nothing is left pending. */
  private flushTx(c: number): boolean {
    const io = this.channels[c]!.io;
    const pool = this.slots.pool;
    const end = this.txN[c]!;
    let first = this.txFirst[c]!;
    const offs = this.txOff[c]!;
    const lens = this.txLen[c]!;
    const addrs = this.txAddrs[c]!;
    const ports = this.txPorts[c]!;
    const peers = this.txPeer[c]!;
    const inner = this.txInner[c]!;
    const segs = this.txSegs[c]!;
    const gsoOn = this.offloads.gso && io.gsoCapable;
    const gso = gsoOn ? this.txGso[c]! : null;
    const runs = gsoOn ? this.txRuns[c]! : null;
    if (runs !== null) this.gatherRuns(c, first, end);
    while (first < end) {
      const r = io.sendBatch(pool, offs, lens, addrs, ports, end, first, gso, runs);
      if (r > 0) {
        this.observeBatch(IoOp.SocketSend, r);
        for (let k = first; k < first + r; k++) {
          const m = segs[k]!;
          this.socketSendPackets += m;
          if (m > 1) {
            this.gsoSends++;
            this.gsoDatagrams += m;
          } else if (runs !== null && runs[k]! > 1) {
            this.gsoSends++;
            this.gsoDatagrams += runs[k]!;
          }
          const p = peers[k]!;
          if (p >= 0 && p < this.peerTxPackets.length) {
            this.peerTxPackets[p]! += m;
            this.peerTxBytes[p]! += inner[k]!;
          }
        }
        first += r;
      } else if (r === 0) {
        break; // would block: keep [first, end), wait for WRITABLE
      } else {
        this.countError(IoOp.SocketSend, r);
        this.ioDrops[IoDrop.SendError]! += segs[first]!;
        first++;
      }
    }
    this.txFirst[c] = first;
    return first >= end;
  }

  // ============================================================================ underlay → TUN

  private readChannel(c: number): void {
    const ch = this.channels[c]!;
    const io = ch.io;
    const pool = this.slots.pool;
    const cap = this.slots.readCapacity;
    const offsets = this.rxOffsets[c]!;
    const lengths = this.rxLengths;
    const addrs = this.rxAddrs;
    const tos = this.rxTos[c]!;
    const engine = this.engine;
    const fmt = ch.rx;
    const fam = ch.family;
    const addrSkip = fam === 4 ? 12 : 0;
    let bytes = 0;
    for (let round = 0; round < this.rounds; round++) {
      if (this.twFirst < this.twN) return;
      const gro = this.offloads.gro && ch.io.groCapable ? this.rxGso : null;
      // each datagram's wait in the socket queue (-1 where the socket does not say: not opened with rxAge)
      const age = fmt === RxFormat.VxlanPayload ? this.rxAge : null;
      const max = this.rxMax;
      const n = io.recvBatch(pool, offsets, lengths, addrs, this.rxPorts, max, tos, gro, age);
      if (n <= 0) {
        if (n < 0) this.countError(IoOp.SocketRecv, n);
        return;
      }
      const batchBytes = bytesOf(lengths, n);
      bytes += batchBytes;
      this.rxMax = nextReadCount(batchBytes, n, this.batch);
      this.observeBatch(IoOp.SocketRecv, n);
      this.twN = 0;
      this.twFirst = 0;
      this.coUsed = 0;
      for (let i = 0; i < n; i++) {
        const off = offsets[i]!;
        const len = lengths[i]!;
        if (len > cap) {
          this.ioDrops[IoDrop.SocketReadTruncated]!++;
          this.socketRecvPackets++;
          continue;
        }
        if (fmt === RxFormat.VxlanPayload) {
          // a GRO read is a run of datagrams of `g` bytes (the last may be shorter): decap each
          let g = gro !== null ? gro[i]! : 0;
          if (g === 0 || g >= len) g = len;
          else this.groReads++;
          const end = off + len;
          const ecn = tos[i]! & 3;
          const src = 16 * i + addrSkip;
          if (age !== null && age[i]! >= 0) this.observeDelay(age[i]!);
          let m = 0;
          for (let at = off; at < end; at += g) {
            m++;
            const sl = end - at < g ? end - at : g;
            if (engine.decapVxlanPayload(pool, at, sl, fam, addrs, src, ecn) === 0) this.queueDecapped();
          }
          this.socketRecvPackets += m;
          if (m > 1) this.groDatagrams += m;
          continue;
        }
        this.socketRecvPackets++;
        let rc: number;
        if (fmt === RxFormat.Ip) {
          rc = engine.decapIp(pool, off, len);
        } else {
          this.writeIpv6Header(pool, off - 40, len, ch.protocol ?? 4, tos[i]!, addrs, 16 * i);
          rc = engine.decapIp(pool, off - 40, len + 40);
        }
        if (rc === 0) this.queueDecapped();
      }
      const co = this.coalescer;
      if (co !== null && co.open) this.closeCoalesced(co);
      if (this.twN > 0) this.flushTun();
      if (n < max || bytes >= CALLBACK_BYTES) return;
    }
  }

  /**
   * Queue the engine's decapsulated packet for the TUN. With a virtio-net header: TCP segments that continue
   * the open coalesced packet are appended to it (coalescing on); anything else closes it and goes as it
   * is, behind a "no offload" header written in front of it (over its own outer headers, already read).
   */
  private queueDecapped(): void {
    const engine = this.engine;
    const p = engine.peer;
    const off = engine.innerIpOff;
    const len = engine.innerIpLen;
    if (p >= 0 && p < this.peerRxPackets.length) {
      this.peerRxPackets[p]!++;
      this.peerRxBytes[p]! += len;
    }
    const pool = this.slots.pool;
    const co = this.coalescer;
    if (co !== null) {
      if (co.open) {
        if (co.canAppend(pool, off, len)) {
          co.append(pool, off, len);
          this.coAppended++;
          return;
        }
        this.closeCoalesced(co);
      }
      if (this.coUsed < this.coBase.length && co.start(pool, off, len, this.coBase[this.coUsed]! + SLOT_HEADROOM, this.slots.readCapacity)) {
        this.coUsed++;
        this.coAppended = 0;
        return;
      }
    }
    this.queueTunWrite(off, len);
  }

  private observeDelay(us: number): void {
    const b = us <= 1 ? 0 : 32 - Math.clz32(us - 1);
    this.rxDelayHist[b < RX_DELAY_BUCKETS ? b : RX_DELAY_BUCKETS - 1]!++;
    this.rxDelaySumUs += us;
    this.rxDelayCount++;
  }

  private closeCoalesced(co: TcpCoalescer): void {
    const at = co.outOff;
    const total = co.finish(this.slots.pool);
    if (this.coAppended > 0) {
      this.coalescedWrites++;
      this.coalescedSegments += this.coAppended + 1;
    }
    const k = this.twN;
    this.twOff[k] = at;
    this.twLen[k] = total;
    this.twN = k + 1;
  }

  /**
   * The outer IPv6 header an IPv6 raw socket strips, rebuilt so that decapIp can check it whole (the
   * traffic class as received, for RFC 6040; flow label 0, hop limit 64: decap reads neither).
   */
  private writeIpv6Header(buf: Uint8Array, at: number, payloadLen: number, proto: number, tclass: number, src: Uint8Array, srcOff: number): void {
    buf[at] = 0x60 | (tclass >>> 4);
    buf[at + 1] = (tclass & 0x0f) << 4;
    buf[at + 2] = 0;
    buf[at + 3] = 0;
    buf[at + 4] = payloadLen >>> 8;
    buf[at + 5] = payloadLen & 0xff;
    buf[at + 6] = proto;
    buf[at + 7] = 64;
    for (let j = 0; j < 16; j++) buf[at + 8 + j] = src[srcOff + j]!;
    const l = this.local6;
    for (let j = 0; j < 16; j++) buf[at + 24 + j] = l[j]!;
  }

  /** Write the pending TUN batch; true when nothing is left pending. */
  private flushTun(): boolean {
    const pool = this.slots.pool;
    const end = this.twN;
    let first = this.twFirst;
    while (first < end) {
      const r = this.tun.writeBatch(pool, this.twOff, this.twLen, end, first);
      if (r > 0) {
        this.observeBatch(IoOp.TunWrite, r);
        this.tunWritePackets += r;
        first += r;
      } else if (r === 0) {
        break;
      } else {
        this.countError(IoOp.TunWrite, r);
        this.ioDrops[IoDrop.TunWriteError]!++;
        first++;
      }
    }
    this.twFirst = first;
    return first >= end;
  }

  // ============================================================================ readiness

  /** Watch for what each fd is needed for now: READABLE where reading may go on, WRITABLE where a batch waits. */
  private rearm(): void {
    if (!this.running) return;
    const twBlocked = this.twFirst < this.twN;
    let txBlocked = false;
    for (let c = 0; c < this.txN.length; c++) if (this.txFirst[c]! < this.txN[c]!) txBlocked = true;
    const tunEv = (twBlocked || txBlocked ? 0 : POLL_READABLE) | (twBlocked ? POLL_WRITABLE : 0);
    if (tunEv !== this.tunEvents) {
      this.tunEvents = tunEv;
      this.tun.watchEvents(tunEv);
    }
    for (let c = 0; c < this.txN.length; c++) {
      const ev = (twBlocked ? 0 : POLL_READABLE) | (this.txFirst[c]! < this.txN[c]! ? POLL_WRITABLE : 0);
      if (ev !== this.chanEvents[c]) {
        this.chanEvents[c] = ev;
        this.channels[c]!.io.watchEvents(ev);
      }
    }
  }

  private observeBatch(op: number, n: number): void {
    const b = n <= 1 ? 0 : 32 - Math.clz32(n - 1);
    this.batchHist[op * BATCH_BUCKETS + (b < BATCH_BUCKETS ? b : BATCH_BUCKETS - 1)]!++;
    this.batchSum[op]! += n;
    this.batchCount[op]!++;
  }

  private countError(op: number, code: number): void {
    const e = code < 0 ? -code : code;
    this.ioErrors[op * ERRNO_SLOTS + (e < ERRNO_SLOTS ? e : 0)]!++;
  }

  /** Non-zero I/O errors as {op, errno number, count}. */
  ioErrorList(): { op: string; errno: number; count: number }[] {
    const out: { op: string; errno: number; count: number }[] = [];
    for (let i = 0; i < this.ioErrors.length; i++) {
      const v = this.ioErrors[i]!;
      if (v !== 0) out.push({ op: IO_OP_NAMES[Math.floor(i / ERRNO_SLOTS)]!, errno: i % ERRNO_SLOTS, count: v });
    }
    return out;
  }
}

export { SLOT_HEADROOM };
