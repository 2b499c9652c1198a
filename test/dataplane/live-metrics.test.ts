// The Prometheus text `vtep run --metrics` serves, computed from a live dataplane on the memory fakes.
import { describe, expect, it } from 'vitest';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRegistry, parseListen, serveMetrics } from '../../src/control/metrics.ts';
import { MemoryNet } from '../../src/io/memory.ts';
import { buildInner } from '../engine/helpers.ts';
import { configOf, memNode, until } from './helpers.ts';

const udp = (dst: number, n: number) =>
  buildInner({ family: 4, proto: 17, src: 1, dst, srcHost: 5, dstHost: 7, payload: Buffer.alloc(n, 1), tos: 0, ttl: 64, df: true, sport: 1, dport: 2 });

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(series + ' '));
  if (!line) throw new Error(`no series ${series}`);
  return Number(line.slice(series.length + 1));
}

describe('metrics', () => {
  it('exports per-peer counters, drops by reason, batch histogram and FDB size', async () => {
    const net = new MemoryNet();
    const a = memNode(net, configOf(1, { peers: [2, 3] }));
    const b = memNode(net, configOf(2, { peers: [1] }));
    for (let i = 0; i < 10; i++) a.tun.inject(udp(2, 100));
    a.tun.inject(udp(9, 100)); // fdb-miss
    a.socks[0]!.failSends = 1;
    await until(() => b.tun.written.length === 9);
    const reloads = { applied: 2, rejected: 1 };
    const reg = createRegistry({ dp: a.dp, reloads, extraDrops: () => ({ 'socket-queue-full': 4, 'send-error': 1 }) }, false);
    const text = await reg.metrics();
    expect(value(text, 'vtep_peer_tx_packets_total{peer="n2"}')).toBe(9);
    expect(value(text, 'vtep_peer_tx_bytes_total{peer="n2"}')).toBe(9 * 128);
    expect(value(text, 'vtep_peer_tx_packets_total{peer="n3"}')).toBe(0);
    expect(value(text, 'vtep_drops_total{reason="fdb-miss"}')).toBe(1);
    expect(value(text, 'vtep_drops_total{reason="send-error"}')).toBe(2); // dataplane 1 + fallback 1, one series
    expect(text.match(/vtep_drops_total\{reason="send-error"\}/g)).toHaveLength(1);
    expect(value(text, 'vtep_drops_total{reason="socket-queue-full"}')).toBe(4);
    expect(value(text, 'vtep_drops_total{reason="vni-mismatch"}')).toBe(0);
    expect(text).toMatch(/vtep_io_errors_total\{op="socket-send",errno="ENETUNREACH"\} 1/);
    expect(value(text, 'vtep_packets_total{op="tun-read"}')).toBe(11);
    expect(value(text, 'vtep_fdb_peers')).toBe(2);
    expect(value(text, 'vtep_fdb_prefixes')).toBe(6);
    expect(value(text, 'vtep_config_reloads_total{result="applied"}')).toBe(2);
    expect(text).toMatch(/# TYPE vtep_batch_size histogram/);
    // cumulative buckets end at the count; sum is the packets
    const count = value(text, 'vtep_batch_size_count{op="tun-read"}');
    expect(value(text, 'vtep_batch_size_bucket{op="tun-read",le="+Inf"}')).toBe(count);
    expect(value(text, 'vtep_batch_size_bucket{op="tun-read",le="2048"}')).toBe(count);
    expect(value(text, 'vtep_batch_size_sum{op="tun-read"}')).toBe(11);
    for (const n of [a, b]) {
      n.dp.stop();
      n.tun.close();
      for (const s of n.socks) s.close();
    }
  });

  it('serves GET /metrics over HTTP, 404 elsewhere, and refuses a port in use', async () => {
    const net = new MemoryNet();
    const a = memNode(net, configOf(1, { peers: [2] }));
    const reg = createRegistry({ dp: a.dp, reloads: {} }, false);
    const server = await serveMetrics(reg, '127.0.0.1', 0);
    const port = (server.address() as AddressInfo).port;
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        }).on('error', reject).end();
      });
    try {
      const ok = await get('/metrics');
      expect(ok.status).toBe(200);
      expect(ok.body).toMatch(/^vtep_fdb_peers 1$/m);
      expect((await get('/')).status).toBe(404);
      await expect(serveMetrics(reg, '127.0.0.1', port)).rejects.toThrow(/EADDRINUSE/);
    } finally {
      server.close();
      a.dp.stop();
      a.tun.close();
      for (const s of a.socks) s.close();
    }
  });

  it('parses --metrics addresses', () => {
    expect(parseListen('127.0.0.1:9587')).toEqual({ host: '127.0.0.1', port: 9587 });
    expect(parseListen('[::1]:9587')).toEqual({ host: '::1', port: 9587 });
    expect(parseListen('9587')).toEqual({ host: '127.0.0.1', port: 9587 });
    expect(parseListen(':9587')).toEqual({ host: '127.0.0.1', port: 9587 });
    expect(() => parseListen('localhost:99999')).toThrow(/expected HOST:PORT/);
    expect(() => parseListen('x')).toThrow(/expected HOST:PORT/);
  });
});
