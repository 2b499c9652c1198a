/**
 * Config file watching for `vtep run`: peers added, removed or changed are applied without a restart.
 *
 * 1. `fs.watch` on the file's directory (editors and config tools replace the file by rename, which a
 *    watch on the file itself would lose), filtered to the file's name, debounced (100 ms by default)
 * 2. the file is loaded and validated with loadConfig; an invalid file is rejected (the old config stays)
 * 3. planReload compares it with the running config: only `peers` may change live; a change anywhere
 *    else (node, backend, vxlan, underlay, tun) is reported as "requires restart" and nothing is applied
 * 4. the reloader builds the new FDB (Fdb.build; errors reject the file), swaps it in, then diffs the
 *    routes (added peer CIDRs: `ip route replace`, gone ones: `ip route del`)
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig, type VtepConfig } from './config.ts';
import { Fdb } from '../fdb/fdb.ts';
import type { NodeEntry } from '../fdb/types.ts';
import { VtepError } from '../util/errors.ts';

export interface FileWatch {
  close(): void;
}

/**
 * Call `onChange()` (debounced) whenever `file` may have changed: written in place, replaced by rename,
 * created after deletion. Throws VtepError('IO') if the directory cannot be watched.
 */
export function watchFile(file: string, onChange: () => void, debounceMs = 100): FileWatch {
  const path = resolve(file);
  const dir = dirname(path);
  const name = basename(path);
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const fire = () => {
    timer = null;
    if (!closed) onChange();
  };
  let w: FSWatcher;
  try {
    w = watch(dir, { persistent: false }, (_event, changed) => {
      if (closed) return;
      if (changed !== null && changed !== name) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(fire, debounceMs);
    });
  } catch (e) {
    throw new VtepError('IO', `watch ${dir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  w.on('error', () => {
    /* the directory went away: nothing more to watch; the running config stays */
  });
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      w.close();
    },
  };
}

// ------------------------------------------------------------------------------------------ planning

export interface ReloadPlan {
  /** Keys whose change needs a restart (empty: the change can be applied live). */
  restart: string[];
  added: string[];
  removed: string[];
  changed: string[];
  routesAdd: string[];
  routesDel: string[];
}

function sameNode(a: NodeEntry, b: NodeEntry): boolean {
  return (
    a.name === b.name &&
    a.underlayIP === b.underlayIP &&
    a.vtepMAC === b.vtepMAC &&
    (a.underlayMAC ?? '') === (b.underlayMAC ?? '') &&
    a.podCIDRs.length === b.podCIDRs.length &&
    a.podCIDRs.every((c, i) => c === b.podCIDRs[i])
  );
}

function stable(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x));
}

/** What changes between two valid configs, and whether it can be applied live. */
export function planReload(old: VtepConfig, next: VtepConfig): ReloadPlan {
  const restart: string[] = [];
  if (old.backend !== next.backend) restart.push('backend');
  for (const k of ['name', 'underlayIP', 'vtepMAC', 'underlayMAC', 'podCIDRs'] as const) {
    if (stable(old.node[k]) !== stable(next.node[k])) restart.push(`node.${k}`);
  }
  const eo = old.engine as unknown as Record<string, unknown>;
  const en = next.engine as unknown as Record<string, unknown>;
  for (const k of Object.keys(eo)) if (k !== 'backend' && stable(eo[k]) !== stable(en[k])) restart.push(`engine.${k}`);
  for (const k of ['name', 'mtu', 'txqueuelen'] as const) if (old.tun[k] !== next.tun[k]) restart.push(`tun.${k}`);

  const before = new Map(old.peers.map((p) => [p.name, p]));
  const after = new Map(next.peers.map((p) => [p.name, p]));
  const added = next.peers.filter((p) => !before.has(p.name)).map((p) => p.name);
  const removed = old.peers.filter((p) => !after.has(p.name)).map((p) => p.name);
  const changed = next.peers.filter((p) => before.has(p.name) && !sameNode(before.get(p.name)!, p)).map((p) => p.name);
  const oldRoutes = new Set(old.peers.flatMap((p) => p.podCIDRs));
  const newRoutes = new Set(next.peers.flatMap((p) => p.podCIDRs));
  return {
    restart,
    added,
    removed,
    changed,
    routesAdd: [...newRoutes].filter((c) => !oldRoutes.has(c)),
    routesDel: [...oldRoutes].filter((c) => !newRoutes.has(c)),
  };
}

// ------------------------------------------------------------------------------------------ reloading

export type ReloadResult = 'applied' | 'rejected' | 'restart-required' | 'unchanged';

export interface ReloadOutcome {
  result: ReloadResult;
  plan?: ReloadPlan;
  /** Rejected: the config's problem lines. Applied: route commands that failed (the FDB was swapped). */
  errors: string[];
}

export interface ReloadTarget {
  /** Swap the dataplane's FDB (between two batches). */
  setFdb(fdb: Fdb): void;
  /** Add / delete peer routes; resolves with error lines (empty when all went). */
  routes(add: string[], del: string[]): Promise<string[]>;
}

/** Holds the running config; `reload()` loads the file again and applies what may be applied live. */
export class ConfigReloader {
  private current: VtepConfig;
  private busy: Promise<ReloadOutcome> | null = null;
  private again = false;
  readonly counts: Record<ReloadResult, number> = { applied: 0, rejected: 0, 'restart-required': 0, unchanged: 0 };

  constructor(cfg: VtepConfig, private readonly target: ReloadTarget, private readonly load: (file: string) => VtepConfig = loadConfig) {
    this.current = cfg;
  }

  get config(): VtepConfig {
    return this.current;
  }

  /** Reload now; calls made while one runs are folded into one more run after it. */
  reload(onDone?: (o: ReloadOutcome) => void): Promise<ReloadOutcome> {
    if (this.busy) {
      this.again = true;
      return this.busy;
    }
    const run = async (): Promise<ReloadOutcome> => {
      let out: ReloadOutcome;
      do {
        this.again = false;
        out = await this.once();
        this.counts[out.result]++;
        onDone?.(out);
      } while (this.again);
      this.busy = null;
      return out;
    };
    this.busy = run();
    return this.busy;
  }

  private async once(): Promise<ReloadOutcome> {
    let next: VtepConfig;
    let fdb: Fdb;
    try {
      next = this.load(this.current.file);
      fdb = Fdb.build(next.node, next.peers);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      return { result: 'rejected', errors: msg.split('\n') };
    }
    const plan = planReload(this.current, next);
    if (plan.restart.length > 0) return { result: 'restart-required', plan, errors: [] };
    if (plan.added.length + plan.removed.length + plan.changed.length === 0) return { result: 'unchanged', plan, errors: [] };
    this.target.setFdb(fdb);
    this.current = next;
    const errors = await this.target.routes(plan.routesAdd, plan.routesDel);
    return { result: 'applied', plan, errors };
  }
}
