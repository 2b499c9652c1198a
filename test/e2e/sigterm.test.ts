// Issue 5, test 8 — stopping `vtep run` leaves nothing behind. For VXLAN/IPv4, VXLAN/IPv6 and IPIP/IPv4
// (raw sockets), vtep ↔ vtep with traffic flowing (a background echo stream pod1 → pod2):
// 1. SIGTERM to node1's vtep: exit status 0 within 5 s
// 2. node1's namespace is exactly as before vtep started: the same links, addresses and routes (both
//    families), no socket (UDP, raw, TCP — the metrics listener) and no process left in it
// 3. the same for SIGINT on node2 (src/dataplane/live.ts: SIGINT and SIGTERM behave alike)
import { execFileSync } from 'node:child_process';
import { dumpOnFailure } from './checks.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRunE2e, fmtStatus, ipJson, nsExec, pollUntil, Topology, startPing, type Backend, type Family, type Proc } from './harness.ts';

/** Everything `vtep run` could leave behind in a namespace, in comparable form. */
function snapshot(ns: string): Record<string, unknown> {
  const strip = (o: any[]): any[] => o.map(({ ifindex: _i, ...rest }) => rest);
  return {
    links: strip(ipJson(ns, 'link', 'show')),
    addrs: strip(ipJson(ns, 'addr', 'show')),
    routes4: ipJson(ns, '-4', 'route', 'show', 'table', 'all'),
    routes6: ipJson(ns, '-6', 'route', 'show', 'table', 'all'),
    // TIME-WAIT entries belong to no process (the kernel's end of closed metrics scrapes): not a leak
    sockets: nsExec(ns, 'ss', '-H', '-n', '-a', '-u', '-w', '-t', '-x').trim().split('\n')
      .filter((l) => l !== '' && !/\bTIME-WAIT\b/.test(l)),
    pids: execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).trim().split(/\s+/).filter((s) => s !== ''),
  };
}

const variants: Array<{ tag: string; family: Family; backend: Backend }> = [
  { tag: 's4', family: 4, backend: 'vxlan' },
  { tag: 's6', family: 6, backend: 'vxlan' },
  { tag: 'si', family: 4, backend: 'ipip' },
];

for (const v of variants) {
  describe.skipIf(!canRunE2e)(`stop: ${v.backend}/IPv${v.family}`, () => {
    let t: Topology;
    const before: Record<number, Record<string, unknown>> = {};
    let echo: Proc;

    beforeAll(async () => {
      t = new Topology(v.tag, { family: v.family, backend: v.backend }).up();
      // settled first: a veth end reads NO-CARRIER / DOWN until its peer is up
      const settled = (ns: string): boolean => ipJson(ns, 'link', 'show').every((l: any) => !(l.flags as string[]).includes('NO-CARRIER'));
      await pollUntil(() => settled(t.nodeNs(1)) && settled(t.nodeNs(2)), (x) => x, 3000, 20);
      before[1] = snapshot(t.nodeNs(1));
      before[2] = snapshot(t.nodeNs(2));
      await Promise.all([t.startVtep(1), t.startVtep(2)]);
      // traffic in flight while the signals arrive (it fails once the tunnel is gone; only its start matters)
      echo = startPing(t.podNs(1), t.podIP(2), 1000, 2000, 0.002, 0.2);
      const n1 = t.vteps.get(1)!;
      const flowing = await pollUntil(() => /vtep_peer_tx_packets_total\{[^}]*\} [1-9]/.test(n1.metricsText()), (x) => x, 5000, 50);
      if (!flowing) throw new Error(`no packets through node1's vtep\n${n1.metricsText()}`);
    });
    afterAll(async () => {
      echo?.killNow('SIGKILL');
      await t?.down();
    });
    dumpOnFailure(() => t);

    for (const [node, sig] of [[1, 'SIGTERM'], [2, 'SIGINT']] as const) {
      it(`${sig} on node${node}: exit 0, and the namespace is as before vtep started`, async () => {
        const vt = t.vteps.get(node)!;
        expect(vt.proc.status, `vtep on node${node} running before the signal`).toBeNull();
        expect(snapshot(t.nodeNs(node)).links).not.toEqual(before[node]!.links); // vtep0 is there
        vt.proc.killNow(sig);
        const st = await vt.proc.waitExit(5000);
        expect(st, `exited within 5 s of ${sig}\n${vt.proc.tail()}`).not.toBeNull();
        expect(st, `${fmtStatus(st!)}\n${vt.proc.tail()}`).toEqual({ code: 0, signal: null });
        expect(snapshot(t.nodeNs(node))).toEqual(before[node]);
      });
    }
  });
}
