// Issue 5, tests 1 and 2 — VXLAN over an IPv4 underlay, IPv4 pods (see harness.ts for the topology):
// 1. kernel ↔ kernel, flannel-style: the reference (validates the harness itself)
// 2. vtep ↔ vtep: ping 56 / 1000 / DF at the MTU edge, UDP, 50 MB TCP with sha256, node → remote pod
// 3. vtep ↔ Linux kernel VXLAN set up as flannel does (route onlink + permanent neighbour + fdb, VNI 1,
//    port 4789): the same checks in both directions
import { afterAll, beforeAll, describe } from 'vitest';
import { connectivityCases, dumpOnFailure, underlayCaptureCase } from './checks.ts';
import { canRunE2e, Topology } from './harness.ts';

describe.skipIf(!canRunE2e)('VXLAN/IPv4: kernel ↔ kernel (flannel-style reference)', () => {
  let t: Topology;
  beforeAll(() => {
    t = new Topology('k4', { family: 4 }).up();
    t.kernelVxlan(1);
    t.kernelVxlan(2);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7100 });
  underlayCaptureCase(() => t);
});

describe.skipIf(!canRunE2e)('VXLAN/IPv4: vtep ↔ vtep', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('v4', { family: 4 }).up();
    await Promise.all([t.startVtep(1), t.startVtep(2)]);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7200 });
  underlayCaptureCase(() => t);
});

describe.skipIf(!canRunE2e)('VXLAN/IPv4: vtep ↔ kernel VXLAN (flannel-style)', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('x4', { family: 4 }).up();
    t.kernelVxlan(2);
    await t.startVtep(1);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7300 });
  connectivityCases(() => t, 2, 1, { tcpPort: 7400 });
  underlayCaptureCase(() => t);
});

// `--io node` (dgram sockets instead of the addon's recvmmsg/sendmmsg) on node1, native on node2: both
// underlay I/O kinds, against each other.
describe.skipIf(!canRunE2e)('VXLAN/IPv4: vtep --io node ↔ vtep --io native', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('n4', { family: 4 }).up();
    await Promise.all([t.startVtep(1, { io: 'node' }), t.startVtep(2, { io: 'native' })]);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7500 });
  connectivityCases(() => t, 2, 1, { tcpPort: 7600, noBulk: true });
});
