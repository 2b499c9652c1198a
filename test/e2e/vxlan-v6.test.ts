// Issue 5, test 3 — VXLAN over an IPv6 underlay (2001:db8:100::/64, nodad), IPv6 pods (fd00:10:244:N::/64);
// tunnel MTU 1430 (underlay − 70, as the kernel clamps flannel-v6.1):
// 1. kernel ↔ kernel, flannel-style (flannel-v6.1): the reference
// 2. vtep ↔ vtep: the checks of checks.ts
// 3. vtep ↔ kernel VXLAN, both directions
import { afterAll, beforeAll, describe } from 'vitest';
import { connectivityCases, dumpOnFailure, underlayCaptureCase } from './checks.ts';
import { canRunE2e, Topology } from './harness.ts';

describe.skipIf(!canRunE2e)('VXLAN/IPv6: kernel ↔ kernel (flannel-style reference)', () => {
  let t: Topology;
  beforeAll(() => {
    t = new Topology('k6', { family: 6 }).up();
    t.kernelVxlan(1);
    t.kernelVxlan(2);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7100 });
  underlayCaptureCase(() => t);
});

describe.skipIf(!canRunE2e)('VXLAN/IPv6: vtep ↔ vtep', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('v6', { family: 6 }).up();
    await Promise.all([t.startVtep(1), t.startVtep(2)]);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7200 });
  underlayCaptureCase(() => t);
});

describe.skipIf(!canRunE2e)('VXLAN/IPv6: vtep ↔ kernel VXLAN (flannel-style)', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('x6', { family: 6 }).up();
    t.kernelVxlan(2);
    await t.startVtep(1);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7300 });
  connectivityCases(() => t, 2, 1, { tcpPort: 7400 });
  underlayCaptureCase(() => t);
});
