/**
 * The connectivity checks every tunnel pairing must pass (issue 5, test 1), registered as vitest cases for
 * one direction `from` → `to` of a topology built by the caller's beforeAll:
 *
 * 1. ICMP echo pod→pod, 56 B and 1000 B payloads (3 each, every reply intact)
 * 2. a DF echo whose packet is exactly the tunnel MTU (1450 B v4/VXLAN, 1430 v6/VXLAN, 1480 IPIP)
 * 3. UDP echo, stop-and-wait, sizes from 1 B to the largest unfragmented datagram, plus 3000 / 8000 B
 *    datagrams that the pod fragments (every fragment crosses the tunnel on its own)
 * 4. a 50 MB TCP transfer of random bytes whose sha256 at the receiver equals the sender's
 * 5. the node itself (source address: its VTEP address) reaches the remote pod: echo and a 1 MB transfer
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { bulkData, ping, startUdpEcho, tcpTransfer, udpProbe, type Topology } from './harness.ts';

export const UDP_ECHO_PORT = 7000;
export const BULK_BYTES = 50 * 1024 * 1024;
/** Upper bound for one 50 MB transfer (the whole e2e set must stay well under 6 minutes). */
export const BULK_TIMEOUT_S = 60;

/** vtep logs of the running nodes, for assertion messages. */
export function diag(t: Topology): string {
  return [...t.vteps.values()].map((v) => v.proc.tail(15)).join('\n');
}

export interface CheckOptions {
  /** TCP port for this direction's transfers (distinct per direction so TIME_WAIT never collides). */
  tcpPort: number;
  /** Skip the bulk transfer (the caller runs its own). */
  noBulk?: boolean;
}

export function connectivityCases(topo: () => Topology, from: number, to: number, o: CheckOptions): void {
  const label = `pod${from} → pod${to}`;

  it(`${label}: ping 56 B and 1000 B`, async () => {
    const t = topo();
    for (const size of [56, 1000]) {
      const r = await ping(t.podNs(from), t.podIP(to), size, 3);
      expect(r, `ping ${size} B\n${diag(t)}`).toEqual({ sent: 3, received: 3, local_errors: [], icmp_errors: [] });
    }
  });

  it(`${label}: DF ping at the MTU edge`, async () => {
    const t = topo();
    const r = await ping(t.podNs(from), t.podIP(to), t.edgePayload, 2, true);
    expect(r, `DF ping ${t.edgePayload} B payload (${t.tunnelMtu} B packet)\n${diag(t)}`)
      .toEqual({ sent: 2, received: 2, local_errors: [], icmp_errors: [] });
  });

  it(`${label}: UDP echo 1 B … MTU edge, and fragmented datagrams`, async () => {
    const t = topo();
    const edge = t.tunnelMtu - (t.family === 4 ? 28 : 48);
    const sizes = [1, 18, 100, 512, 1000, 1200, edge - 1, edge, 3000, 8000];
    const echo = await startUdpEcho(t.podNs(to), t.podIP(to), UDP_ECHO_PORT, 60);
    try {
      const r = await udpProbe(t.podNs(from), t.podIP(to), UDP_ECHO_PORT, sizes);
      expect(r, `UDP probe sizes ${sizes.join(',')}\n${diag(t)}`).toEqual({ sent: sizes.length, ok: sizes.length, lost: 0, bad: 0 });
    } finally {
      echo.killNow('SIGKILL');
      await echo.exited;
    }
  });

  if (!o.noBulk) {
    it(`${label}: 50 MB TCP transfer, sha256 equal at both ends`, async () => {
      const t = topo();
      const data = bulkData(BULK_BYTES);
      const r = await tcpTransfer(t.podNs(from), t.podNs(to), t.podIP(to), o.tcpPort, data.path, BULK_TIMEOUT_S);
      expect(r.sent.bytes).toBe(BULK_BYTES);
      expect(r.sent.sha256).toBe(data.sha256);
      expect(r.received.bytes, diag(t)).toBe(BULK_BYTES);
      expect(r.received.sha256).toBe(data.sha256);
      console.log(`${t.prefix} ${label}: 50 MB in ${r.received.seconds} s (${(BULK_BYTES / 1e6 / r.received.seconds).toFixed(1)} MB/s)`);
    }, (BULK_TIMEOUT_S + 20) * 1000);
  }

  it(`node${from} itself reaches pod${to} (echo and a 1 MB transfer)`, async () => {
    const t = topo();
    const r = await ping(t.nodeNs(from), t.podIP(to), 56, 2);
    expect(r, `ping from node${from}\n${diag(t)}`).toEqual({ sent: 2, received: 2, local_errors: [], icmp_errors: [] });
    const data = bulkData(BULK_BYTES);
    const small = await tcpTransferPrefix(t, from, to, o.tcpPort + 1, data.path);
    expect(small.received.sha256, diag(t)).toBe(small.sent.sha256);
    expect(small.received.bytes).toBe(1 << 20);
  });
}

/** 1 MB (the start of the bulk file) from node `from` itself — not its pod — to pod `to`. */
async function tcpTransferPrefix(t: Topology, from: number, to: number, port: number, bigFile: string) {
  const path = join(t.dir, 'one-mb.bin');
  const buf = Buffer.alloc(1 << 20);
  const fd = openSync(bigFile, 'r');
  readSync(fd, buf, 0, buf.length, 0);
  closeSync(fd);
  writeFileSync(path, buf);
  return tcpTransfer(t.nodeNs(from), t.podNs(to), t.podIP(to), port, path, 20);
}
