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
import { join } from 'node:path';
import { beforeEach, expect, it, onTestFailed } from 'vitest';
import {
  bulkData,
  bulkPrefix,
  ping,
  startCapture,
  startUdpEcho,
  stopCapture,
  tcpTransfer,
  tsharkExpertProblems,
  tsharkFields,
  udpProbe,
  type Topology,
} from './harness.ts';

export const UDP_ECHO_PORT = 7000;
export const BULK_BYTES = 50 * 1024 * 1024;
/** Upper bound for one 50 MB transfer (the whole e2e set must stay well under 6 minutes). */
export const BULK_TIMEOUT_S = 60;

/** vtep logs of the running nodes, for assertion messages. */
export function diag(t: Topology): string {
  return [...t.vteps.values()].map((v) => v.proc.tail(15)).join('\n');
}

/** Everything known about the running vteps: status, non-zero drops and peer counters, log tails. */
export function diagFull(t: Topology): string {
  const out: string[] = [];
  for (const v of t.vteps.values()) {
    out.push(`=== vtep n${v.index}: ${v.proc.status ? `exited (${JSON.stringify(v.proc.status)})` : 'running'}`);
    if (!v.proc.status && v.metricsPort !== null) {
      try {
        const lines = v.metricsText().split('\n')
          .filter((l) => /^vtep_(drops_total|peer_|io_errors|icmp)/.test(l) && !/ 0$/.test(l));
        out.push(...lines);
      } catch (e) {
        out.push(`metrics: ${(e as Error).message}`);
      }
    }
    out.push(v.proc.tail(20));
  }
  return out.join('\n');
}

/** In the calling describe: when a test fails, print diagFull (metrics are scraped only then). */
export function dumpOnFailure(topo: () => Topology | undefined): void {
  beforeEach(() => {
    onTestFailed(() => {
      const t = topo();
      if (t) console.log(`--- diagnostics for ${t.prefix}\n${diagFull(t)}`);
    });
  });
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
    const small = await tcpTransfer(t.nodeNs(from), t.podNs(to), t.podIP(to), o.tcpPort + 1, bulkPrefix(1 << 20), 20);
    expect(small.received.sha256, diag(t)).toBe(small.sent.sha256);
    expect(small.received.bytes).toBe(1 << 20);
  });
}


/**
 * Capture node1's underlay while pod1 and pod2 exchange echoes and UDP (including a fragmented datagram),
 * then check with tshark (checksum validation on) that every tunnel frame decodes as the backend should:
 * VXLAN: Ethernet/IP/UDP:4789/VXLAN VNI 1/Ethernet (VTEP MACs)/inner IP; IPIP: IP protocol 4 (41 for IPv6
 * pods) with the inner packet right behind; outer addresses the two nodes, inner the two pods; every IPv4
 * and UDP checksum good; no tshark expert warning or error.
 */
export function underlayCaptureCase(topo: () => Topology): void {
  it('the underlay capture decodes as valid tunnel traffic (tshark)', async () => {
    const t = topo();
    const file = join(t.dir, 'underlay.pcap');
    const v4 = t.family === 4;
    const tunnelFilter = t.backend === 'vxlan' ? ['udp', 'port', '4789'] : v4 ? ['ip', 'proto', '4'] : ['ip6', 'proto', '41'];
    const cap = await startCapture(t.nodeNs(1), 'eth0', file, tunnelFilter);
    const echo = await startUdpEcho(t.podNs(2), t.podIP(2), UDP_ECHO_PORT + 1, 30);
    let pingR;
    let udpR;
    try {
      pingR = await ping(t.podNs(1), t.podIP(2), 56, 3);
      udpR = await udpProbe(t.podNs(1), t.podIP(2), UDP_ECHO_PORT + 1, [10, 1000, 3000]);
    } finally {
      echo.killNow('SIGKILL');
      await echo.exited;
      await stopCapture(cap);
    }
    expect(pingR.received).toBe(3);
    expect(udpR.ok).toBe(3);

    const ipL = v4 ? 'ip' : 'ipv6';
    const rows = tsharkFields(file, ['frame.protocols', `${ipL}.src`, `${ipL}.dst`, 'ip.checksum.status', 'udp.checksum.status',
      'vxlan.vni', 'eth.src', 'eth.dst', v4 ? 'ip.proto' : 'ipv6.nxt']);
    // 3 echo pairs + 2 single-frame datagrams each way + the 3000 B one in 3 fragments each way
    expect(rows.length, `frames in ${file}`).toBeGreaterThanOrEqual(2 * 3 + 2 * 2 + 2 * 3);
    const ul = [t.underlayIP(1), t.underlayIP(2)];
    const pods = [t.podIP(1), t.podIP(2)];
    for (const [i, r] of rows.entries()) {
      const [protocols, srcs, dsts, ipSum, udpSum, vni, ethSrc, ethDst, proto] = r as [string, string, string, string, string, string, string, string, string];
      const at = `frame ${i + 1}: ${r.join(' | ')}`;
      const [oSrc, iSrc] = srcs.split(',');
      const [oDst, iDst] = dsts.split(',');
      expect(ul, at).toContain(oSrc);
      expect(ul, at).toContain(oDst);
      expect(oSrc, at).not.toBe(oDst);
      expect(pods, at).toContain(iSrc);
      expect(pods, at).toContain(iDst);
      // requests and replies: the inner pair follows the outer pair (node1 ↔ pod1, node2 ↔ pod2)
      expect(ul.indexOf(oSrc!), at).toBe(pods.indexOf(iSrc!));
      if (ipSum !== '') expect(ipSum.split(',').every((s) => s === '1'), `IPv4 checksums, ${at}`).toBe(true);
      if (udpSum !== '') expect(udpSum.split(',').every((s) => s === '1'), `UDP checksums, ${at}`).toBe(true);
      if (t.backend === 'vxlan') {
        const innerIp = v4 ? 'ip' : 'ipv6';
        expect(protocols.startsWith(`eth:ethertype:${v4 ? 'ip' : 'ipv6'}:udp:vxlan:eth:ethertype:${innerIp}`), at).toBe(true);
        expect(vni, at).toBe('1');
        // inner Ethernet: the two VTEP MACs, in the direction of the outer pair
        const [, innerSrcMac] = ethSrc.split(',');
        const [, innerDstMac] = ethDst.split(',');
        const k = ul.indexOf(oSrc!) + 1;
        expect(innerSrcMac, at).toBe(t.vtepMAC(k));
        expect(innerDstMac, at).toBe(t.vtepMAC(3 - k));
      } else {
        expect(protocols.startsWith(v4 ? 'eth:ethertype:ip:ip' : 'eth:ethertype:ipv6:ipv6'), at).toBe(true);
        expect(proto.split(',')[0], at).toBe(v4 ? '4' : '41');
      }
    }
    expect(tsharkExpertProblems(file)).toEqual([]);
  });
}
