/**
 * Prometheus metrics for `vtep run` (prom-client registry, text format at GET /metrics).
 *
 * Everything is read from the dataplane's typed-array counters at scrape time: the hot path never
 * calls prom-client. Metric names:
 *
 * | name | type | labels | meaning |
 * |---|---|---|---|
 * | vtep_peer_tx_packets_total / vtep_peer_tx_bytes_total | counter | peer | packets / inner IP bytes sent to the peer |
 * | vtep_peer_rx_packets_total / vtep_peer_rx_bytes_total | counter | peer | packets / inner IP bytes accepted from the peer |
 * | vtep_drops_total | counter | reason | every drop: engine reasons (src/engine/drops.ts) and I/O reasons (IO_DROP_NAMES) |
 * | vtep_io_errors_total | counter | op, errno | failed system calls by operation and errno name |
 * | vtep_packets_total | counter | op | packets through each I/O operation (tun-read, socket-recv, socket-send, tun-write) |
 * | vtep_batch_size | histogram | op | packets per batch call, buckets 1, 2, 4 … 2048 |
 * | vtep_rx_queue_delay_microseconds | histogram | | how long received VXLAN datagrams waited in the underlay socket queue (native I/O), buckets 1, 2, 4 … 32768 µs |
 * | vtep_offload_total | counter | counter (tsoPackets, tsoSegments, gsoSends, gsoDatagrams, groReads, groDatagrams, coalescedWrites, coalescedSegments) | what each offload did (`vtep run --offload`) |
 * | vtep_icmp_sent_total | counter | | ICMP too-big replies written into the TUN |
 * | vtep_fdb_peers / vtep_fdb_prefixes | gauge | | peers and pod CIDRs in the current FDB |
 * | vtep_config_reloads_total | counter | result (applied, rejected, restart-required, unchanged) | config file changes |
 * | process_*, nodejs_* | | | prom-client's default process metrics (CPU, memory, event-loop lag) |
 */
import { createServer, type Server } from 'node:http';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { DROP_NAMES } from '../engine/drops.ts';
import { errnoName } from '../io/native.ts';
import { BATCH_BUCKETS, IO_DROP_NAMES, IO_OP_NAMES, IoOp, RX_DELAY_BUCKETS, type LiveDataplane } from '../dataplane/live.ts';
import { VtepError } from '../util/errors.ts';

interface Value {
  value: number;
  labels?: Record<string, string | number>;
  metricName?: string;
}

/** A metric computed at scrape time (the shape prom-client's Registry serialises). */
class Computed {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly values: () => Value[],
  ) {}
  get(): { name: string; help: string; type: string; values: Value[]; aggregator: 'sum' } {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }
}

export interface MetricsSource {
  /** Read at every scrape (may be a getter). */
  readonly dp: LiveDataplane;
  /** Extra drops counted by the I/O objects themselves (e.g. the dgram fallback's full queue), by reason. */
  extraDrops?: () => Record<string, number>;
  reloads: Record<string, number>;
}

/** Operations whose packets and batch sizes are exported. */
const PACKET_OPS = [IoOp.TunRead, IoOp.SocketRecv, IoOp.SocketSend, IoOp.TunWrite];

export function createRegistry(src: MetricsSource, defaults = true): Registry {
  const reg = new Registry();
  const peerMetric = (name: string, help: string, key: 'txPackets' | 'txBytes' | 'rxPackets' | 'rxBytes') =>
    new Computed(name, help, 'counter', () => [...src.dp.peerCounters()].map(([peer, c]) => ({ value: c[key], labels: { peer } })));
  const metrics = [
    peerMetric('vtep_peer_tx_packets_total', 'Packets encapsulated and sent to the peer.', 'txPackets'),
    peerMetric('vtep_peer_tx_bytes_total', 'Inner IP bytes encapsulated and sent to the peer.', 'txBytes'),
    peerMetric('vtep_peer_rx_packets_total', 'Packets from the peer decapsulated and accepted.', 'rxPackets'),
    peerMetric('vtep_peer_rx_bytes_total', 'Inner IP bytes from the peer decapsulated and accepted.', 'rxBytes'),
    new Computed('vtep_drops_total', 'Packets dropped, by reason (`vtep drops` lists them).', 'counter', () => {
      const by = new Map<string, number>();
      const d = src.dp.engine.drops;
      for (let i = 1; i < DROP_NAMES.length; i++) by.set(DROP_NAMES[i]!, d[i]!);
      for (let i = 0; i < IO_DROP_NAMES.length; i++) by.set(IO_DROP_NAMES[i]!, (by.get(IO_DROP_NAMES[i]!) ?? 0) + src.dp.ioDrops[i]!);
      for (const [reason, value] of Object.entries(src.extraDrops?.() ?? {})) by.set(reason, (by.get(reason) ?? 0) + value);
      return [...by].map(([reason, value]) => ({ value, labels: { reason } }));
    }),
    new Computed('vtep_io_errors_total', 'Failed system calls, by operation and errno.', 'counter', () =>
      src.dp.ioErrorList().map((e) => ({ value: e.count, labels: { op: e.op, errno: errnoName(e.errno) } }))),
    new Computed('vtep_packets_total', 'Packets through each I/O operation.', 'counter', () => [
      { value: src.dp.tunReadPackets, labels: { op: 'tun-read' } },
      { value: src.dp.socketRecvPackets, labels: { op: 'socket-recv' } },
      { value: src.dp.socketSendPackets, labels: { op: 'socket-send' } },
      { value: src.dp.tunWritePackets, labels: { op: 'tun-write' } },
    ]),
    new Computed('vtep_rx_queue_delay_microseconds', 'How long received VXLAN datagrams waited in the underlay socket queue, microseconds.', 'histogram', () => {
      const out: Value[] = [];
      let cum = 0;
      for (let b = 0; b < RX_DELAY_BUCKETS - 1; b++) {
        cum += src.dp.rxDelayHist[b]!;
        out.push({ metricName: 'vtep_rx_queue_delay_microseconds_bucket', value: cum, labels: { le: 2 ** b } });
      }
      out.push({ metricName: 'vtep_rx_queue_delay_microseconds_bucket', value: src.dp.rxDelayCount, labels: { le: '+Inf' } });
      out.push({ metricName: 'vtep_rx_queue_delay_microseconds_sum', value: src.dp.rxDelaySumUs });
      out.push({ metricName: 'vtep_rx_queue_delay_microseconds_count', value: src.dp.rxDelayCount });
      return out;
    }),
    new Computed('vtep_offload_total', 'What each offload did: TSO reads and their segments, GSO sends and their datagrams, GRO reads and their datagrams, coalesced TUN writes and their segments.', 'counter', () =>
      Object.entries(src.dp.offloadCounters()).map(([counter, value]) => ({ value, labels: { counter } }))),
    new Computed('vtep_batch_size', 'Packets per batch system call.', 'histogram', () => {
      const out: Value[] = [];
      for (const op of PACKET_OPS) {
        const name = IO_OP_NAMES[op]!;
        let cum = 0;
        for (let b = 0; b < BATCH_BUCKETS; b++) {
          cum += src.dp.batchHist[op * BATCH_BUCKETS + b]!;
          out.push({ metricName: 'vtep_batch_size_bucket', value: cum, labels: { op: name, le: 2 ** b } });
        }
        out.push({ metricName: 'vtep_batch_size_bucket', value: src.dp.batchCount[op]!, labels: { op: name, le: '+Inf' } });
        out.push({ metricName: 'vtep_batch_size_sum', value: src.dp.batchSum[op]!, labels: { op: name } });
        out.push({ metricName: 'vtep_batch_size_count', value: src.dp.batchCount[op]!, labels: { op: name } });
      }
      return out;
    }),
    new Computed('vtep_icmp_sent_total', 'ICMP Fragmentation Needed / Packet Too Big replies written into the TUN.', 'counter', () => [
      { value: src.dp.icmpQueued },
    ]),
    new Computed('vtep_fdb_peers', 'Peers in the current FDB.', 'gauge', () => [{ value: src.dp.engine.currentFdb().peers.length }]),
    new Computed('vtep_fdb_prefixes', 'Pod CIDRs (local and peers) in the current FDB.', 'gauge', () => [{ value: src.dp.engine.currentFdb().prefixCount }]),
    new Computed('vtep_config_reloads_total', 'Config file changes, by result.', 'counter', () =>
      Object.entries(src.reloads).map(([result, value]) => ({ value, labels: { result } }))),
  ];
  for (const m of metrics) reg.registerMetric(m as never);
  if (defaults) collectDefaultMetrics({ register: reg });
  return reg;
}

/** Parse `--metrics`: `HOST:PORT`, `[V6]:PORT` or `PORT` (127.0.0.1). */
export function parseListen(text: string): { host: string; port: number } {
  let host = '127.0.0.1';
  let portText = text;
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]*):(\d+)$/.exec(text);
  if (m) {
    host = m[1] === '' ? '127.0.0.1' : m[1]!;
    portText = m[2]!;
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new VtepError('USAGE', `--metrics ${JSON.stringify(text)}: expected HOST:PORT, [IPV6]:PORT or PORT (1..65535), e.g. 127.0.0.1:9587`);
  }
  return { host, port };
}

/** Serve GET /metrics. Rejects with VtepError('IO') when the address cannot be bound. */
export function serveMetrics(reg: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && !req.url?.startsWith('/metrics?'))) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      reject(new VtepError('IO', `metrics ${host}:${port}: listen failed: ${e.code ?? e.message}${e.code === 'EADDRINUSE' ? ' (address already in use)' : ''}`));
    });
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}
