/**
 * Topologies for `npm run bench:live`: the two-node / two-pod network of the e2e tests (test/e2e/harness.ts,
 * same addresses and the same flannel-style kernel VXLAN), with one tunnel kind per contender.
 *
 * ```
 *  pod1 eth0 ── veth-pod1 [node1] tunnel ·· eth0 ══ veth underlay ══ eth0 ·· tunnel [node2] veth-pod2 ── eth0 pod2
 *  10.244.1.2    10.244.1.1                198.51.100.1      198.51.100.2               10.244.2.1     10.244.2.2
 * ```
 *
 * 1. namespaces `vtbl<pid><id>-{n1,n2,p1,p2}` (own prefix per run and contender), IPv6 off in all of them
 * 2. underlay: one veth pair, 198.51.100.i/24, MTU 1500, like a wire between two NICs: no segmentation or
 *    checksum offload on transmit (tx tso gso off: a wire carries finished frames; with them on, a veth
 *    hands the other namespace 64 KB GSO "datagrams" and CHECKSUM_PARTIAL packets whose inner checksums
 *    nobody filled in, which no NIC does), GRO on receive (as NIC drivers do; veth then runs NAPI). The
 *    extra contender `a+` leaves the underlay veth at its defaults instead: GSO frames cross the "wire",
 *    the setting in which the issue measured the kernel's ≈ 15 Gbit/s
 * 3. pods: 10.244.i.2/24 via 10.244.i.1 on a veth whose MTU is the tunnel's (VXLAN 1450, IPIP 1480,
 *    socat 1472 = flannel's udp backend), forwarding on in the node namespaces. The pod veths and
 *    flannel.1 keep their default offloads (TSO/GSO/checksum, as on a Kubernetes node) unless
 *    `offloads: false`, which turns them off too
 * 4. tunnel per node: `kernel` (flannel.1 exactly as harness.ts kernelVxlan builds it), `vtep` / `vtep-node`
 *    (`node bin/vtep.js run --io native|node --offload <the contender's, default auto>`, ready = the JSON
 *    log line "msg":"ready"; its "stopped" line on SIGTERM is read back in down()), or `socat`
 *    (TUN 10.244.i.0/16 ↔ UDP 198.51.100.j:8285, one packet per read/write system call: flannel's old
 *    udp backend)
 *
 * Cleanup: every namespace is registered and deleted (its processes killed by pid first) in `down()`, on
 * process exit and on SIGINT/SIGTERM/SIGHUP; namespaces of an earlier run killed hard (`vtbl<pid>` with
 * that pid gone) are deleted before a run starts.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify as yamlStringify } from 'yaml';
import { deleteNamespaceSync as deleteNsAndProcs, fmtStatus, ip, nsExec, pidAlive, Proc, REPO, sleep, VTEP_BIN } from '../test/e2e/harness.ts';
import { vtepReportOf, type VtepNodeReport } from './live-vtep.ts';

export const BENCH_NS_PREFIX = 'vtbl';

export type NodeMode = 'kernel' | 'vtep' | 'vtep-node' | 'socat';
export type TunnelKind = 'vxlan' | 'ipip' | 'udp';

export interface ContenderSpec {
  /**
   * One letter, as in the issue: a … f (and a+, the kernel with GSO frames on the underlay; b0 … b3 and bz,
   * vtep ↔ vtep VXLAN with fewer offloads than b).
   */
  id: string;
  name: string;
  kind: TunnelKind;
  node1: NodeMode;
  node2: NodeMode;
  /** Leave the underlay veth's offloads at the veth defaults (GSO frames cross between the nodes). */
  underlayDefaults?: boolean;
  /** vtep: `--offload` (default 'auto') and the config's vxlan.udpChecksum (default true: lets auto use GSO). */
  offload?: string;
  udpChecksum?: boolean;
  /** vtep: more `vtep run` arguments. */
  args?: readonly string[];
}

export const CONTENDERS: readonly ContenderSpec[] = [
  { id: 'a', name: 'kernel VXLAN ↔ kernel VXLAN (flannel-style)', kind: 'vxlan', node1: 'kernel', node2: 'kernel' },
  { id: 'a+', name: 'kernel VXLAN, underlay veth offloads on', kind: 'vxlan', node1: 'kernel', node2: 'kernel', underlayDefaults: true },
  { id: 'b', name: 'vtep ↔ vtep VXLAN (--offload auto)', kind: 'vxlan', node1: 'vtep', node2: 'vtep' },
  { id: 'c', name: 'vtep ↔ kernel VXLAN', kind: 'vxlan', node1: 'vtep', node2: 'kernel' },
  { id: 'd', name: 'vtep ↔ vtep IPIP', kind: 'ipip', node1: 'vtep', node2: 'vtep' },
  { id: 'e', name: 'socat TUN ↔ UDP (1 packet/syscall)', kind: 'udp', node1: 'socat', node2: 'socat' },
  { id: 'f', name: 'vtep --io node ↔ vtep --io node VXLAN', kind: 'vxlan', node1: 'vtep-node', node2: 'vtep-node' },
  // the offload ladder: b0 none, then one lever more per step (b = auto = all four, as VXLAN with UDP checksums allows)
  { id: 'b0', name: 'vtep VXLAN, --offload none', kind: 'vxlan', node1: 'vtep', node2: 'vtep', offload: 'none' },
  { id: 'b1', name: 'vtep VXLAN, --offload tso', kind: 'vxlan', node1: 'vtep', node2: 'vtep', offload: 'tso' },
  { id: 'b2', name: 'vtep VXLAN, --offload tso,gso', kind: 'vxlan', node1: 'vtep', node2: 'vtep', offload: 'tso,gso' },
  { id: 'b3', name: 'vtep VXLAN, --offload tso,gso,gro', kind: 'vxlan', node1: 'vtep', node2: 'vtep', offload: 'tso,gso,gro' },
  { id: 'bz', name: 'vtep VXLAN, udpChecksum false (auto: no gso)', kind: 'vxlan', node1: 'vtep', node2: 'vtep', udpChecksum: false },
];

/** The offload ladder, in order (each step adds one lever to the one before; b is all of them). */
export const OFFLOAD_LADDER = ['b0', 'b1', 'b2', 'b3', 'b'] as const;

/** UDP port of the socat contender (flannel's udp backend used 8285). */
export const SOCAT_PORT = 8285;
const UNDERLAY_MTU = 1500;

const TUNNEL_MTU: Record<TunnelKind, number> = { vxlan: UNDERLAY_MTU - 50, ipip: UNDERLAY_MTU - 20, udp: UNDERLAY_MTU - 28 };

// ------------------------------------------------------------------------------------------------
// Cleanup registry (namespaces; processes are Procs, which harness.ts kills on exit)

const liveNamespaces = new Set<string>();

/** Kill the processes inside `ns` and delete it (the e2e harness's routine), and forget it here. */
function deleteNamespaceSync(ns: string): void {
  deleteNsAndProcs(ns);
  liveNamespaces.delete(ns);
}

const extraCleanups = new Set<() => void>();

/** Run `fn` once on exit / signal (scratch files). */
export function onCleanup(fn: () => void): void {
  extraCleanups.add(fn);
}

export function cleanupAllSync(): void {
  for (const ns of [...liveNamespaces]) deleteNamespaceSync(ns);
  for (const fn of extraCleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  extraCleanups.clear();
}

let hooked = false;
/** Delete everything on exit and on SIGINT/SIGTERM/SIGHUP (then exit 130 / 143 / 129). */
export function installCleanupHooks(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', cleanupAllSync);
  const codes = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(sig, () => {
      console.error(`\nbench:live: ${sig}: cleaning up`);
      cleanupAllSync();
      process.exit(codes[sig]);
    });
  }
}

/** Delete namespaces of earlier runs of this benchmark whose process is gone. */
export function reapStaleNamespaces(): void {
  let list = '';
  try {
    list = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  } catch {
    return;
  }
  const re = new RegExp(`^(${BENCH_NS_PREFIX}(\\d+)\\S*)`);
  for (const line of list.split('\n')) {
    const m = re.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid) continue;
    const alive = pidAlive(pid);
    if (!alive) deleteNamespaceSync(m[1]!);
  }
}

// ------------------------------------------------------------------------------------------------
// Topology

export interface BenchTopologyOptions {
  /** Pod veths and flannel.1: default offloads (true) or tx/rx/tso/gso/gro off. */
  offloads: boolean;
  /** GRO on the underlay veth's receive side (the underlay's transmit offloads are always off). */
  underlayGro: boolean;
  /** `vtep run --batch`. */
  batch: number;
  /** vtep config `tun.txqueuelen` (undefined: the config default). */
  tunTxqueuelen?: number;
  /** Directory for `node --cpu-prof` profiles of vtep on node 1 and 2 (none when undefined). */
  cpuProfDir?: string;
}

export class BenchTopology {
  readonly prefix: string;
  readonly dir: string;
  readonly mtu: number;
  /** The processes that do the tunnelling (vtep, socat), for CPU accounting; none for the kernel. */
  readonly tunnelProcs: Proc[] = [];
  /** "n1 vtep", "n2 socat", … by pid (same order as tunnelProcs). */
  readonly tunnelLabels = new Map<number, string>();
  /** What each vtep did (its "ready" and "stopped" log lines), filled in by down(); empty for kernel / socat. */
  readonly vtepReports: VtepNodeReport[] = [];
  /** One long-lived process per namespace: /proc/<pid>/net/dev reads that namespace's counters. */
  readonly anchors = new Map<string, Proc>();
  private readonly namespaces: string[] = [];

  constructor(readonly spec: ContenderSpec, readonly opts: BenchTopologyOptions) {
    this.prefix = `${BENCH_NS_PREFIX}${process.pid}${spec.id.replace(/\W/g, 'x')}`;
    this.mtu = TUNNEL_MTU[spec.kind];
    this.dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    onCleanup(() => rmSync(this.dir, { recursive: true, force: true }));
  }

  nodeNs(i: number): string {
    return `${this.prefix}-n${i}`;
  }
  podNs(i: number): string {
    return `${this.prefix}-p${i}`;
  }
  underlayIP(i: number): string {
    return `198.51.100.${i}`;
  }
  podCIDR(i: number): string {
    return `10.244.${i}.0/24`;
  }
  podIP(i: number): string {
    return `10.244.${i}.2`;
  }
  gwIP(i: number): string {
    return `10.244.${i}.1`;
  }
  vtepAddr(i: number): string {
    return `10.244.${i}.0`;
  }
  vtepMAC(i: number): string {
    return `02:00:00:00:00:0${i}`;
  }
  underlayMAC(i: number): string {
    return `02:00:00:aa:00:0${i}`;
  }
  podMAC(i: number): string {
    return `02:00:00:bb:00:0${i}`;
  }
  gwMAC(i: number): string {
    return `02:00:00:cc:00:0${i}`;
  }

  private newNs(name: string): void {
    ip('netns', 'add', name);
    liveNamespaces.add(name);
    this.namespaces.push(name);
    ip('-n', name, 'link', 'set', 'lo', 'up');
    nsExec(name, 'sysctl', '-qw', 'net.ipv6.conf.all.disable_ipv6=1', 'net.ipv6.conf.default.disable_ipv6=1');
  }

  private offloadsOff(ns: string, dev: string, always = false): void {
    if (this.opts.offloads && !always) return;
    try {
      nsExec(ns, 'ethtool', '-K', dev, 'tx', 'off', 'rx', 'off', 'tso', 'off', 'gso', 'off', 'gro', 'off');
    } catch {
      // features a device cannot change are reported and ignored
    }
  }

  /** Namespaces, underlay, pods, then each node's tunnel; resolves when traffic can flow. */
  async up(): Promise<this> {
    for (let i = 1; i <= 2; i++) {
      this.newNs(this.nodeNs(i));
      this.newNs(this.podNs(i));
      nsExec(this.nodeNs(i), 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    }
    ip('-n', this.nodeNs(1), 'link', 'add', 'eth0', 'address', this.underlayMAC(1), 'mtu', String(UNDERLAY_MTU), 'type', 'veth',
      'peer', 'name', 'eth0', 'netns', this.nodeNs(2), 'address', this.underlayMAC(2), 'mtu', String(UNDERLAY_MTU));
    const mtu = String(this.mtu);
    for (let i = 1; i <= 2; i++) {
      const n = this.nodeNs(i);
      const p = this.podNs(i);
      ip('-n', n, 'addr', 'add', `${this.underlayIP(i)}/24`, 'dev', 'eth0');
      if (!this.spec.underlayDefaults) {
        this.offloadsOff(n, 'eth0', true);
        if (this.opts.underlayGro) nsExec(n, 'ethtool', '-K', 'eth0', 'gro', 'on');
      }
      ip('-n', n, 'link', 'set', 'eth0', 'up');
      ip('-n', n, 'link', 'add', `veth-pod${i}`, 'address', this.gwMAC(i), 'mtu', mtu, 'type', 'veth',
        'peer', 'name', 'eth0', 'netns', p, 'address', this.podMAC(i), 'mtu', mtu);
      ip('-n', n, 'addr', 'add', `${this.gwIP(i)}/24`, 'dev', `veth-pod${i}`);
      ip('-n', p, 'addr', 'add', `${this.podIP(i)}/24`, 'dev', 'eth0');
      this.offloadsOff(n, `veth-pod${i}`);
      this.offloadsOff(p, 'eth0');
      ip('-n', n, 'link', 'set', `veth-pod${i}`, 'up');
      ip('-n', p, 'link', 'set', 'eth0', 'up');
      ip('-n', p, 'route', 'add', 'default', 'via', this.gwIP(i), 'dev', 'eth0');
      // the pod's gateway neighbour is static: trafgen writes whole frames with these MACs
      ip('-n', p, 'neigh', 'replace', this.gwIP(i), 'lladdr', this.gwMAC(i), 'dev', 'eth0', 'nud', 'permanent');
    }
    for (const ns of this.namespaces) {
      // bounded: killed in down() or at exit (harness.ts kills every Proc)
      this.anchors.set(ns, new Proc(`anchor ${ns}`, ns, ['sleep', '3600']));
    }
    await Promise.all([1, 2].map((i) => this.startTunnel(i, i === 1 ? this.spec.node1 : this.spec.node2)));
    return this;
  }

  /** pid of a process living in `ns` (for /proc/<pid>/net/dev). */
  anchorPid(ns: string): number {
    const p = this.anchors.get(ns);
    if (!p) throw new Error(`no anchor process in ${ns}`);
    return p.pid;
  }

  private async startTunnel(i: number, mode: NodeMode): Promise<void> {
    if (mode === 'kernel') this.kernelVxlan(i);
    else if (mode === 'socat') await this.startSocat(i);
    else await this.startVtep(i, mode === 'vtep' ? 'native' : 'node');
  }

  /** harness.ts Topology.kernelVxlan (flannel's pkg/backend/vxlan), IPv4 only. */
  private kernelVxlan(i: number): void {
    if (this.spec.kind !== 'vxlan') throw new Error('kernel mode is VXLAN only');
    const ns = this.nodeNs(i);
    const j = 3 - i;
    const dev = 'flannel.1';
    ip('-n', ns, 'link', 'add', dev, 'address', this.vtepMAC(i), 'mtu', String(this.mtu), 'type', 'vxlan', 'id', '1',
      'local', this.underlayIP(i), 'dev', 'eth0', 'dstport', '4789', 'nolearning');
    ip('-n', ns, 'addr', 'add', `${this.vtepAddr(i)}/32`, 'dev', dev);
    this.offloadsOff(ns, dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
    ip('-n', ns, 'neigh', 'add', this.vtepAddr(j), 'lladdr', this.vtepMAC(j), 'dev', dev, 'nud', 'permanent');
    execFileSync('bridge', ['-n', ns, 'fdb', 'append', this.vtepMAC(j), 'dev', dev, 'dst', this.underlayIP(j), 'self', 'permanent']);
    ip('-n', ns, 'route', 'add', this.podCIDR(j), 'via', this.vtepAddr(j), 'dev', dev, 'onlink');
  }

  private nodeEntry(i: number): Record<string, unknown> {
    return { name: `n${i}`, underlayIP: this.underlayIP(i), vtepMAC: this.vtepMAC(i), underlayMAC: this.underlayMAC(i), podCIDRs: [this.podCIDR(i)] };
  }

  /** `vtep run` on node i with the product defaults (tun.mtu auto, tun.txqueuelen default). */
  private async startVtep(i: number, io: 'native' | 'node'): Promise<void> {
    const backend = this.spec.kind === 'ipip' ? 'ipip' : 'vxlan';
    const cfg: Record<string, unknown> = { backend };
    if (backend === 'vxlan') cfg.vxlan = { vni: 1, port: 4789, udpChecksum: this.spec.udpChecksum ?? true };
    cfg.underlay = { mtu: UNDERLAY_MTU };
    cfg.node = this.nodeEntry(i);
    cfg.peers = [this.nodeEntry(3 - i)];
    cfg.tun = { name: 'vtep0', mtu: 'auto', ...(this.opts.tunTxqueuelen !== undefined ? { txqueuelen: this.opts.tunTxqueuelen } : {}) };
    const path = join(this.dir, `n${i}.yaml`);
    writeFileSync(path, yamlStringify(cfg));
    const nodeFlags = this.opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', this.opts.cpuProfDir, '--cpu-prof-name', `${this.spec.id}-n${i}.cpuprofile`] : [];
    const argv = [process.execPath, ...nodeFlags, VTEP_BIN, 'run', '--config', path, '--io', io, '--batch', String(this.opts.batch), '--log-level', 'info',
      '--offload', io === 'node' ? 'none' : this.spec.offload ?? 'auto', ...(this.spec.args ?? [])];
    const proc = new Proc(`vtep run n${i}`, this.nodeNs(i), argv, join(this.dir, `vtep-n${i}.log`));
    this.tunnelProcs.push(proc);
    this.tunnelLabels.set(proc.pid, `n${i} vtep`);
    await proc.waitOutput((o) => /"msg":"ready"/.test(o), 30_000, '"msg":"ready"');
  }

  /**
   * socat as flannel's udp backend: TUN `tun0` with 10.244.i.0/16 (so the kernel routes the whole pod range
   * into it), one UDP datagram per packet to the other node's 198.51.100.j:8285, bound to its own :8285.
   */
  private async startSocat(i: number): Promise<void> {
    const ns = this.nodeNs(i);
    const j = 3 - i;
    const argv = ['socat', '-b', '65536',
      `TUN:${this.vtepAddr(i)}/16,tun-name=tun0,tun-type=tun,iff-no-pi,iff-up`,
      `UDP-DATAGRAM:${this.underlayIP(j)}:${SOCAT_PORT},bind=${this.underlayIP(i)}:${SOCAT_PORT}`];
    const proc = new Proc(`socat n${i}`, ns, argv, join(this.dir, `socat-n${i}.log`));
    this.tunnelProcs.push(proc);
    this.tunnelLabels.set(proc.pid, `n${i} socat`);
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.status) throw new Error(`socat on n${i} exited (${fmtStatus(proc.status)})\n${proc.tail()}`);
      try {
        const out = ip('-n', ns, 'route', 'show', 'dev', 'tun0');
        if (out.includes('10.244.0.0/16')) break;
      } catch {
        // not there yet
      }
      if (Date.now() > deadline) throw new Error(`socat on n${i}: tun0 with its /16 route not up within 10 s\n${proc.tail()}`);
      await sleep(50);
    }
    ip('-n', ns, 'link', 'set', 'tun0', 'mtu', String(this.mtu));
  }

  /**
   * Stop the tunnel processes (SIGTERM, so that vtep writes its CPU profile and its "stopped" totals), read
   * each vtep's log into `vtepReports`, then delete everything.
   */
  async down(): Promise<void> {
    const exits = await Promise.all(this.tunnelProcs.map((p) => p.stop(5000)));
    this.tunnelProcs.forEach((p, k) => {
      const label = this.tunnelLabels.get(p.pid) ?? '';
      if (label.endsWith(' vtep')) this.vtepReports.push(vtepReportOf(label.split(' ')[0]!, p.jsonLines(), exits[k] ? fmtStatus(exits[k]!) : null));
    });
    this.vtepReports.sort((x, y) => x.node.localeCompare(y.node));
    for (const a of this.anchors.values()) a.killNow('SIGKILL');
    await Promise.all([...this.anchors.values()].map((a) => a.exited));
    for (const ns of this.namespaces.reverse()) deleteNamespaceSync(ns);
    this.namespaces.length = 0;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Log files of the tunnel processes (for failure messages). */
  tails(): string {
    return this.tunnelProcs.map((p) => p.tail(15)).join('\n');
  }
}

export { REPO };
