/**
 * `vtep run`: the live tunnel endpoint (runtime behaviour documented at the top of
 * src/dataplane/live.ts). This file is the edge: flags, startup in order with undo on failure,
 * config reloads, signals, final counters.
 */
import { Command, Option } from 'commander';
import { writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { loadConfig, type VtepConfig } from '../control/config.ts';
import type { LogLevel, Logger } from '../control/log.ts';
import type { FileWatch, ReloadOutcome } from '../control/watch.ts';
import { dropsToRecord } from '../engine/drops.ts';
import type { Fdb } from '../fdb/fdb.ts';
import type { TunDevice } from '../io/tun.ts';
import type { DatagramBatchIo } from '../io/udp.ts';
import type { IoMode } from '../dataplane/live-io.ts';
import type { LiveDataplane } from '../dataplane/live.ts';
import { VtepError } from '../util/errors.ts';

// Everything else `vtep run` needs is imported dynamically in runNode: the bundle (scripts/bundle.mjs, code
// splitting) then loads pino, prom-client, the native addon and the live dataplane only for `vtep run`, not at
// every start of the CLI (`vtep replay` on a small capture took about as long to start as to run).

/** control/log.ts's LOG_LEVELS (not imported: that module loads pino); the compiler checks they agree. */
const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LogLevel[];
type MissingLevel = Exclude<LogLevel, (typeof LOG_LEVELS)[number]>;
const allLevels: [MissingLevel] extends [never] ? true : MissingLevel = true;
void allLevels;

export interface RunFlags {
  config: string;
  metrics?: string;
  logLevel: LogLevel;
  io: IoMode;
  batch: string;
  statsInterval: string;
  offload: string;
}

const HELP_AFTER = `
What it does (as root, inside the node's network namespace):
  creates   TUN device tun.name (default vtep0), IFF_TUN|IFF_NO_PI, MTU tun.mtu (underlay MTU − 50 for
            VXLAN/IPv4, − 70 VXLAN/IPv6, − 20 IPIP), txqueuelen tun.txqueuelen, address = network address
            of this node's pod CIDR (10.244.N.0/32; IPv6 /128), link up
  routes    every peer pod CIDR (v4 and v6): ip route replace CIDR dev vtep0 src 10.244.N.0
  opens     VXLAN: UDP socket node.underlayIP:vxlan.port; IPIP: raw IP sockets (protocol 4, and 41 for IPv6 pods)
  forwards  TUN → FDB → encap → socket, socket → strict decap → TUN; too-big packets get ICMP
            Fragmentation Needed / Packet Too Big back
  watches   the config file: peers added/removed/changed apply within a second; an invalid file is
            rejected (logged, old config kept); node/backend/port/tun changes need a restart

Offloads (--offload; "auto" = every one the config and --io allow; the "ready" log lists them):
  tso       TUN with IFF_VNET_HDR + TUNSETOFFLOAD: the kernel hands over TCP packets of up to 64 KiB, vtep cuts
            them into MSS-sized segments (headers rewritten, checksums computed) and encapsulates each
  gso       VXLAN: the segments of one such packet leave in one UDP GSO send (UDP_SEGMENT), and so do runs of
            equal-size datagrams to one peer (small packets, ACKs), gathered from their slots. Needs outer UDP
            checksums: with vxlan.udpChecksum: false (as flannel.1 sends) "auto" leaves gso off
  gro       VXLAN: UDP_GRO on the socket: a run of datagrams from a peer arrives in one read
  coalesce  consecutive TCP segments of a flow are written to the TUN as one packet (as the kernel's GRO merges
            them); checksums are verified first, a bad one goes alone
  none      one packet per read and write, as a plain TUN (what the kernel's flannel.1 path looks like to pods)

Signals:
  SIGINT, SIGTERM   remove routes and device, close sockets, log final counters, exit 0
                    (a second signal exits at once with status 1)

Logs: JSON lines on stdout; {"msg":"ready",...} once forwarding runs. Exit status: 0 after a signal,
2 for a bad config or usage, 1 for other startup failures (not root, port in use, device exists,
native addon missing), each with one line on stderr.

Metrics (--metrics): GET http://HOST:PORT/metrics, Prometheus text: vtep_peer_{tx,rx}_{packets,bytes}_total{peer},
vtep_drops_total{reason}, vtep_io_errors_total{op,errno}, vtep_batch_size{op}, vtep_offload_total{counter},
vtep_rx_queue_delay_microseconds, vtep_fdb_peers, ...

Examples:
  sudo ip netns exec n1 npx vtep run --config n1.yaml
  sudo ip netns exec n1 npx vtep run --config n1.yaml --metrics 127.0.0.1:9587 --log-level debug
  sudo vtep run --config /etc/vtep/node.yaml --io node      # without the native addon's batched sockets
  curl -s 127.0.0.1:9587/metrics | grep vtep_drops_total
`;

export function runCommand(onExit: (code: number) => void): Command {
  return new Command('run')
    .description('run the live tunnel endpoint: TUN device + VXLAN/IPIP underlay socket, routes for every peer')
    .requiredOption('--config <file>', 'node config (YAML; see src/control/config.ts for every key)')
    .option('--metrics <host:port>', 'serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9587)')
    .addOption(new Option('--log-level <level>', 'log level').choices([...LOG_LEVELS]).default('info'))
    .addOption(new Option('--io <kind>', 'underlay I/O: native (addon, recvmmsg/sendmmsg) or node (dgram / raw-socket)').choices(['native', 'node']).default('native'))
    .option('--batch <n>', 'packets per batch system call, 32..1024', '64')
    .option('--offload <list>', 'auto | none | comma list of tso,gso,gro,coalesce (see below)', 'auto')
    .option('--stats-interval <seconds>', 'log counters every N seconds (0 = never)', '0')
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: RunFlags) => {
      onExit(await runNode(flags));
    });
}

function intFlag(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new VtepError('USAGE', `${name} ${JSON.stringify(text)}: must be an integer ${min}..${max}`);
  return n;
}

/** Undo steps, run in reverse; each one is tried even if an earlier one failed. */
class Undo {
  private readonly steps: { what: string; fn: () => void }[] = [];
  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }
  run(log?: Logger): void {
    while (this.steps.length > 0) {
      const s = this.steps.pop()!;
      try {
        s.fn();
      } catch (e) {
        log?.warn({ step: s.what, err: (e as Error).message }, 'cleanup step failed');
      }
    }
  }
}

/**
 * Per-device sysctls for the TUN. The kernel's own IPv6 chatter (router solicitations from a link-local
 * address, MLD reports) has no peer to go to and would only count as fdb-miss: no link-local address,
 * no RA/RS (and multicast off, set with the address). IPv4 accept_local: see below. Best effort (a
 * kernel without IPv6 has no such files).
 */
function tunSysctls(dev: string, log: Logger): void {
  const sysctls = [
    ['ipv6', 'addr_gen_mode', '1'],
    ['ipv6', 'accept_ra', '0'],
    ['ipv6', 'router_solicitations', '0'],
    // ICMP too-big replies that vtep writes into the TUN come from the TUN's own address: without
    // accept_local the kernel drops them as martians (a local source arriving from outside)
    ['ipv4', 'accept_local', '1'],
  ] as const;
  for (const [fam, key, value] of sysctls) {
    try {
      writeFileSync(`/proc/sys/net/${fam}/conf/${dev}/${key}`, value);
    } catch (e) {
      log.debug({ key, err: (e as Error).message }, 'ipv6 sysctl not set');
    }
  }
}

function summary(dp: LiveDataplane, reloads: Record<string, number>, IO_DROP_NAMES: readonly string[]): Record<string, unknown> {
  const ioDrops: Record<string, number> = {};
  IO_DROP_NAMES.forEach((n, i) => {
    if (dp.ioDrops[i] !== 0) ioDrops[n] = dp.ioDrops[i]!;
  });
  return {
    packets: { tunRead: dp.tunReadPackets, socketSend: dp.socketSendPackets, socketRecv: dp.socketRecvPackets, tunWrite: dp.tunWritePackets, icmp: dp.icmpQueued },
    offload: dp.offloadCounters(),
    drops: { ...dropsToRecord(dp.engine.drops), ...ioDrops },
    ioErrors: dp.ioErrorList(),
    peers: Object.fromEntries(dp.peerCounters()),
    reloads,
  };
}

/** Start, run until a signal, stop. Resolves with the exit status; throws VtepError for startup failures. */
export async function runNode(flags: RunFlags): Promise<number> {
  const [
    { createLogger },
    { createRegistry, parseListen, serveMetrics },
    { ConfigReloader, watchFile },
    { addrAdd, ipAsync, ipSync, linkExists, routeDel, routeReplace },
    { nativeLoadError, native },
    { TunDevice },
    { openChannel },
    { buildLive, liveEngine, parseOffloads, peerRoutes, planLive, tunAddresses, underlayFamily, vnetOf, OFFLOAD_NAMES },
    { IO_DROP_NAMES, MAX_TSO_SEGMENTS },
  ] = await Promise.all([
    import('../control/log.ts'),
    import('../control/metrics.ts'),
    import('../control/watch.ts'),
    import('../io/iproute.ts'),
    import('../io/native.ts'),
    import('../io/tun.ts'),
    import('../dataplane/live-io.ts'),
    import('../dataplane/live-plan.ts'),
    import('../dataplane/live.ts'),
  ]);
  const batch = intFlag('--batch', flags.batch, 32, 1024);
  const statsEvery = intFlag('--stats-interval', flags.statsInterval, 0, 86400);
  const listen = flags.metrics !== undefined ? parseListen(flags.metrics) : null;
  const io = flags.io;
  const log = createLogger(flags.logLevel);

  const cfg: VtepConfig = loadConfig(flags.config);
  const engine = liveEngine(cfg); // Fdb.build validates peers once more
  if (native === null) {
    // the TUN device is opened through the addon in both modes; --io node replaces the socket side only
    throw new VtepError('NATIVE', io === 'native' ? nativeLoadError : `${nativeLoadError.replace(/, or use --io node/, '')} (the TUN device needs it even with --io node)`);
  }
  if (process.geteuid?.() !== 0) {
    throw new VtepError('PERMISSION', 'vtep run must run as root: it creates a TUN device, addresses and routes (e.g. `sudo ip netns exec n1 vtep run --config n1.yaml`)');
  }
  const tunName = cfg.tun.name;
  if (linkExists(tunName)) {
    throw new VtepError('IO', `device ${tunName} already exists (another vtep running in this namespace? remove a leftover with \`ip link del ${tunName}\`, or set tun.name)`);
  }

  const offloads = parseOffloads(flags.offload, cfg, io);
  const plan = planLive(cfg, offloads);
  const undo = new Undo();
  const t0 = Date.now();
  let dp: LiveDataplane;
  let tun: TunDevice;
  let server: Server | null = null;
  let watcher: FileWatch | null = null;
  const socks: DatagramBatchIo[] = [];
  let routes: string[] = [];
  const own = tunAddresses(cfg.node);
  const srcFor = (cidr: string) => (cidr.includes(':') ? own.v6 : own.v4);
  const reloads: Record<string, number> = {};
  try {
    for (const c of plan.channels) {
      const s = await openChannel(c, plan.readCapacity, io);
      socks.push(s);
      undo.push(`close ${c.kind} socket`, () => s.close());
    }
    let dpRef: LiveDataplane | null = null;
    if (listen) {
      const reg = createRegistry({
        get dp() {
          return dpRef!;
        },
        reloads,
        extraDrops: () => {
          // the dgram / raw-socket fallbacks queue in JS and send asynchronously: their own losses
          let q = 0;
          let e = 0;
          for (const s of socks) {
            q += (s as { queueDrops?: number }).queueDrops ?? 0;
            e += (s as { sendErrors?: number }).sendErrors ?? 0;
          }
          return { 'socket-queue-full': q, 'send-error': e };
        },
      });
      server = await serveMetrics(reg, listen.host, listen.port);
      const srv = server;
      undo.push('close metrics', () => srv.close());
    }
    tun = TunDevice.open({ name: tunName, readCapacity: plan.tunReadCapacity, exclusive: true, mtu: cfg.tun.mtu, txQueueLen: cfg.tun.txqueuelen, vnetHdr: vnetOf(offloads) });
    const dev = tun;
    undo.push(`delete ${tunName}`, () => dev.close());
    if (offloads.tso) {
      const k = native.constants;
      dev.setOffload(k.TUN_F_CSUM | k.TUN_F_TSO4 | k.TUN_F_TSO6 | k.TUN_F_TSO_ECN);
    }
    const addrCmds = [own.v4, own.v6].filter((a): a is string => a !== null).map((a) => addrAdd(a, tunName));
    tunSysctls(tunName, log);
    // TSO reads: at most MAX_TSO_SEGMENTS segments each (a small MSS would need more; the kernel cuts those itself)
    const gsoSegs = offloads.tso ? [['link', 'set', 'dev', tunName, 'gso_max_segs', String(MAX_TSO_SEGMENTS)]] : [];
    ipSync([...addrCmds, ['link', 'set', 'dev', tunName, 'multicast', 'off'], ...gsoSegs]);
    tun.setUp(true);
    routes = peerRoutes(cfg.peers);
    ipSync(routes.map((c) => routeReplace(c, tunName, srcFor(c))));
    undo.push('delete routes', () => {
      try {
        ipSync(routes.map((c) => routeDel(c, tunName)));
      } catch {
        /* gone with the device anyway */
      }
    });
    dp = buildLive(plan, engine, tun, socks, batch);
    dpRef = dp;
    dp.start();
    undo.push('stop dataplane', () => dp.stop());
  } catch (e) {
    undo.run(log);
    throw e;
  }

  // ---- config reloads
  const reloader = new ConfigReloader(cfg, {
    setFdb: (fdb: Fdb) => dp.setFdb(fdb),
    routes: async (add, del) => {
      const errs = await ipAsync([...add.map((c) => routeReplace(c, tunName, srcFor(c))), ...del.map((c) => routeDel(c, tunName))]);
      routes = peerRoutes(reloader.config.peers);
      return errs.map((e) => e.message);
    },
  });
  const onReload = (o: ReloadOutcome) => {
    reloads[o.result] = (reloads[o.result] ?? 0) + 1;
    const p = o.plan;
    if (o.result === 'applied') {
      const fields = { added: p!.added, removed: p!.removed, changed: p!.changed, routesAdded: p!.routesAdd, routesRemoved: p!.routesDel, peers: reloader.config.peers.length };
      if (o.errors.length > 0) log.error({ ...fields, errors: o.errors }, 'config reloaded');
      else log.info(fields, 'config reloaded');
    } else if (o.result === 'rejected') {
      log.error({ file: cfg.file, errors: o.errors, kept: 'running config' }, 'config rejected');
    } else if (o.result === 'restart-required') {
      log.warn({ file: cfg.file, keys: p!.restart, kept: 'running config' }, 'config change requires restart');
    } else {
      log.debug({ file: cfg.file }, 'config unchanged');
    }
  };
  try {
    watcher = watchFile(cfg.file, () => void reloader.reload(onReload));
  } catch (e) {
    undo.run(log);
    throw e;
  }
  undo.push('stop watching', () => watcher!.close());

  const stats = statsEvery > 0 ? setInterval(() => log.info(summary(dp, reloads, IO_DROP_NAMES), 'stats'), statsEvery * 1000) : null;
  if (stats) undo.push('stop stats', () => clearInterval(stats));

  log.info(
    {
      tun: tunName,
      mtu: cfg.tun.mtu,
      backend: cfg.backend,
      underlay: cfg.backend === 'vxlan' ? (underlayFamily(cfg) === 6 ? `[${cfg.node.underlayIP}]:${cfg.engine.port}` : `${cfg.node.underlayIP}:${cfg.engine.port}`) : cfg.node.underlayIP,
      addresses: [own.v4, own.v6].filter(Boolean),
      peers: cfg.peers.length,
      routes: routes.length,
      io,
      batch,
      offloads: OFFLOAD_NAMES.filter((o) => offloads[o]),
      metrics: listen ? `${listen.host}:${listen.port}` : null,
      startupMs: Date.now() - t0,
    },
    'ready',
  );

  // ---- run until a signal
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    const handlers: Partial<Record<NodeJS.Signals, () => void>> = {};
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      handlers[sig] = () => {
        for (const s of ['SIGINT', 'SIGTERM'] as const) process.off(s, handlers[s]!);
        // a second signal during shutdown: leave at once (the kernel removes the TUN with the process)
        const hard = () => process.exit(1);
        process.once('SIGINT', hard);
        process.once('SIGTERM', hard);
        resolve(sig);
      };
      process.on(sig, handlers[sig]!);
    }
  });
  log.info({ signal }, 'shutdown');
  dp.stop();
  const final = summary(dp, reloads, IO_DROP_NAMES);
  undo.run(log);
  log.info(final, 'stopped');
  // anything still holding the event loop open after this is a bug; do not hang on it
  setTimeout(() => process.exit(0), 2000).unref();
  return 0;
}
