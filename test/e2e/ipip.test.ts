// Issue 5, test 4 — IPIP between two vtep nodes (there is no ipip kernel module here, so no kernel
// reference): IPv4 underlay with IPv4 pods (protocol 4, tunnel MTU 1480), and IPv6 underlay with IPv6
// pods (protocol 41, MTU 1460). The checks of checks.ts, and tshark reads node1's underlay capture as
// valid IPIP / IPv6-in-IPv6 (outer and inner addresses, checksums, no expert warnings).
import { afterAll, beforeAll, describe } from 'vitest';
import { connectivityCases, dumpOnFailure, underlayCaptureCase } from './checks.ts';
import { canRunE2e, Topology } from './harness.ts';

describe.skipIf(!canRunE2e)('IPIP/IPv4: vtep ↔ vtep', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('i4', { family: 4, backend: 'ipip' }).up();
    await Promise.all([t.startVtep(1), t.startVtep(2)]);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7200 });
  underlayCaptureCase(() => t);
});

describe.skipIf(!canRunE2e)('IPIP/IPv6 (IPv6-in-IPv6, protocol 41): vtep ↔ vtep', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('i6', { family: 6, backend: 'ipip' }).up();
    await Promise.all([t.startVtep(1), t.startVtep(2)]);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7200 });
  underlayCaptureCase(() => t);
});

// `--io node` (the raw-socket package instead of the addon) on node1.
describe.skipIf(!canRunE2e)('IPIP/IPv4: vtep --io node ↔ vtep --io native', () => {
  let t: Topology;
  beforeAll(async () => {
    t = new Topology('j4', { family: 4, backend: 'ipip' }).up();
    await Promise.all([t.startVtep(1, { io: 'node' }), t.startVtep(2, { io: 'native' })]);
  });
  afterAll(async () => t?.down());
  dumpOnFailure(() => t);
  connectivityCases(() => t, 1, 2, { tcpPort: 7500 });
});
