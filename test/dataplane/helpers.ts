/**
 * Live dataplanes on the memory fakes: configs for nodes n1..n4 (underlay 198.51.100.i or
 * 2001:db8:100::i, pods 10.244.i.0/24 and fd00:10:244:i::/64), wired through one MemoryNet.
 */
import { parseConfig, type VtepConfig } from '../../src/control/config.ts';
import { buildLive, liveEngine, planLive } from '../../src/dataplane/live-plan.ts';
import type { LiveDataplane } from '../../src/dataplane/live.ts';
import type { Engine } from '../../src/engine/engine.ts';
import { MemoryNet, MemorySocket, MemoryTun } from '../../src/io/memory.ts';

export interface NodeOpts {
  family?: 4 | 6;
  backend?: 'vxlan' | 'ipip';
  peers?: number[];
  /** Pod CIDR families. Defaults to both. */
  pods?: 'v4' | 'v6' | 'both';
  extra?: string;
}

export function nodeYaml(i: number, family: 4 | 6, pods: 'v4' | 'v6' | 'both'): string {
  const cidrs = [pods !== 'v6' ? `10.244.${i}.0/24` : '', pods !== 'v4' ? `fd00:10:244:${i}::/64` : ''].filter(Boolean);
  return [
    `name: n${i}`,
    `underlayIP: ${family === 4 ? `198.51.100.${i}` : `2001:db8:100::${i}`}`,
    `vtepMAC: "02:00:00:00:00:0${i}"`,
    `podCIDRs: [${cidrs.join(', ')}]`,
  ].join('\n');
}

const indent = (text: string, pad: string) => text.split('\n').map((l, k) => (k === 0 ? l : pad + l)).join('\n');

export function configText(i: number, o: NodeOpts = {}): string {
  const family = o.family ?? 4;
  const pods = o.pods ?? 'both';
  const peers = o.peers ?? [1, 2, 3].filter((k) => k !== i);
  const lines = [`backend: ${o.backend ?? 'vxlan'}`, `node:`, `  ${indent(nodeYaml(i, family, pods), '  ')}`];
  if (peers.length > 0) {
    lines.push('peers:');
    for (const k of peers) lines.push(`  - ${indent(nodeYaml(k, family, pods), '    ')}`);
  }
  if (o.extra) lines.push(o.extra);
  return lines.join('\n') + '\n';
}

export function configOf(i: number, o: NodeOpts = {}): VtepConfig {
  return parseConfig(configText(i, o), `n${i}.yaml`);
}

export interface MemNode {
  cfg: VtepConfig;
  dp: LiveDataplane;
  engine: Engine;
  tun: MemoryTun;
  socks: MemorySocket[];
}

export function memNode(net: MemoryNet, cfg: VtepConfig, batch = 64): MemNode {
  const plan = planLive(cfg);
  const engine = liveEngine(cfg);
  const tun = new MemoryTun({ name: cfg.tun.name, readCapacity: plan.readCapacity });
  const socks = plan.channels.map((c) =>
    net.socket({
      family: c.family,
      address: c.address,
      port: c.port,
      readCapacity: plan.readCapacity,
      kind: c.kind === 'udp' ? 'native' : 'raw',
      protocol: c.protocol,
    }),
  );
  const dp = buildLive(plan, engine, tun, socks, batch);
  dp.start();
  return { cfg, dp, engine, tun, socks };
}

/** Resolve once `cond()` holds (checked every turn), or fail after `ms`. */
export async function until(cond: () => boolean, ms = 2000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Let pending immediates and short timers run. */
export async function settle(ms = 20): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}
