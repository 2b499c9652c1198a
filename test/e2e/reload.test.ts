// Issue 5, test 6 — the config changes while `vtep run` runs (the file is replaced by rename, as config
// management does; src/dataplane/live.ts: applied within ~0.1–0.5 s, FDB swapped, routes diffed):
// three nodes on a bridged IPv4 underlay, VXLAN, vtep everywhere. node1 starts with peer n2 only; n2 and
// n3 list n1 from the start.
// 1. a paced TCP stream pod1 → pod2 starts and runs across every step below
// 2. before: pod1 ↔ pod3 is unreachable (no route on node1)
// 3. n3 added to node1's config → route appears, pod1 ↔ pod3 echo both ways
// 4. n3 removed → route gone, pod1 → pod3 unreachable, and pod3 → pod1 too: node1 now drops n3's frames
//    as unknown-vtep-source
// 5. an invalid config is rejected: vtep keeps running with the old one
// 6. the stream ends intact (sha256 at both ends equal, no reset) — the unrelated transfer survived
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diag, dumpOnFailure } from './checks.ts';
import {
  canRunE2e,
  ipJson,
  ping,
  pollUntil,
  Proc,
  PY,
  resultOf,
  TRAFFIC,
  Topology,
  type VtepNode,
} from './harness.ts';

const STREAM_PORT = 7600;
const STREAM_RATE = 1_000_000; // bytes/s
const STREAM_MAX_S = 60;

describe.skipIf(!canRunE2e)('config changes while running (3 nodes, VXLAN/IPv4)', () => {
  let t: Topology;
  let n1: VtepNode;
  let sink: Proc;
  let stream: Proc;
  let stopFile = '';

  beforeAll(async () => {
    t = new Topology('rl', { family: 4, nodes: 3 }).up();
    [n1] = await Promise.all([t.startVtep(1, { peers: [2] }), t.startVtep(2, { peers: [1] }), t.startVtep(3, { peers: [1] })]);
    stopFile = join(t.dir, 'stop-stream');
  });
  afterAll(async () => {
    if (stopFile !== '' && !existsSync(stopFile)) writeFileSync(stopFile, '');
    sink?.killNow('SIGKILL');
    stream?.killNow('SIGKILL');
    await t?.down();
  });
  dumpOnFailure(() => t);

  const routeTo3 = (): boolean => ipJson(t.nodeNs(1), '-4', 'route', 'show').some((r: any) => r.dst === t.podCIDR(3));
  /** One echo pod a → pod b; true if it came back. */
  const reach = async (a: number, b: number): Promise<boolean> => (await ping(t.podNs(a), t.podIP(b), 56, 1, false, 0.5)).received === 1;

  it('a paced TCP stream pod1 → pod2 starts', async () => {
    sink = new Proc('stream sink', t.podNs(2), [PY, TRAFFIC, 'tcp-sink', t.podIP(2), String(STREAM_PORT), '20']);
    await sink.waitOutput((o) => o.includes('"ready"'), 5000, 'ready');
    stream = new Proc('stream source', t.podNs(1),
      [PY, TRAFFIC, 'tcp-stream', t.podIP(2), String(STREAM_PORT), String(STREAM_MAX_S), String(STREAM_RATE), stopFile]);
    await stream.waitOutput((o) => o.includes('"started"'), 5000, 'connected');
  });

  it('before: pod1 and pod3 cannot reach each other', async () => {
    expect(routeTo3()).toBe(false);
    expect(await reach(1, 3)).toBe(false);
    expect(await reach(3, 1)).toBe(false);
  });

  it('peer n3 added to node1\'s config → route appears, pod1 ↔ pod3 reachable both ways', async () => {
    t.writeConfig(1, [2, 3]);
    const ok = await pollUntil(() => reach(1, 3), (v) => v, 5000, 50);
    expect(ok, `pod1 → pod3 within 5 s of the config change\n${diag(t)}`).toBe(true);
    expect(routeTo3()).toBe(true);
    expect(await ping(t.podNs(1), t.podIP(3), 1000, 3)).toMatchObject({ sent: 3, received: 3 });
    expect(await ping(t.podNs(3), t.podIP(1), 1000, 3)).toMatchObject({ sent: 3, received: 3 });
    expect(n1.proc.stdout).toMatch(/"msg":"config reloaded"/);
  });

  it('peer n3 removed → route gone, pod1 → pod3 and pod3 → pod1 unreachable (unknown-vtep-source)', async () => {
    t.writeConfig(1, [2]);
    const gone = await pollUntil(() => routeTo3(), (v) => !v, 5000, 50);
    expect(gone, `route to ${t.podCIDR(3)} removed within 5 s\n${diag(t)}`).toBe(false);
    expect(await reach(1, 3)).toBe(false);
    const before = n1.drops().get('unknown-vtep-source') ?? 0;
    const back = await ping(t.podNs(3), t.podIP(1), 56, 3, false, 0.5);
    expect(back.received).toBe(0);
    // node3 still encapsulates towards node1; node1 must refuse its frames now
    expect((n1.drops().get('unknown-vtep-source') ?? 0) - before, diag(t)).toBe(3);
  });

  it('an invalid config is rejected and the running config stays', async () => {
    writeFileSync(t.configPath(1) + '.tmp', 'backend: vxlan\nvxlan: { vni: "not a number", port: 4789 }\nnode: {}\n');
    renameSync(t.configPath(1) + '.tmp', t.configPath(1));
    await n1.proc.waitOutput((o) => /"msg":"config rejected/.test(o), 5000, 'a "config rejected" log line');
    expect(n1.proc.status).toBeNull();
    expect(await reach(1, 2)).toBe(true);
    expect(ipJson(t.nodeNs(1), '-4', 'route', 'show').some((r: any) => r.dst === t.podCIDR(2))).toBe(true);
    t.writeConfig(1, [2]); // valid again, unchanged content
  });

  it('the stream pod1 → pod2 that ran across all changes ends intact', async () => {
    writeFileSync(stopFile, '');
    const s = await stream.waitExit(15_000);
    expect(s, 'stream source finished').not.toBeNull();
    const sent = resultOf(stream);
    const r = await sink.waitExit(15_000);
    expect(r, 'stream sink finished').not.toBeNull();
    const received = resultOf(sink);
    expect(sent.bytes).toBeGreaterThan(STREAM_RATE); // it ran for more than a second…
    expect(received.bytes, diag(t)).toBe(sent.bytes); // …and every byte arrived, in order
    expect(received.sha256).toBe(sent.sha256);
  }, 40_000);
});
