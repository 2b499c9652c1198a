/**
 * Interface addresses and routes through iproute2's `ip` (setup and config reloads only, never per
 * packet). Many commands go to one `ip -batch -` process. Failures become VtepError('IO') naming the
 * command and ip's own message.
 */
import { execFileSync, spawn } from 'node:child_process';
import { VtepError } from '../util/errors.ts';

export const IP_BIN = process.env.VTEP_IP_BIN ?? 'ip';

/** One `ip` command line for the batch (arguments joined by spaces; none contain spaces). */
export type IpCommand = string[];

/** `route replace CIDR dev DEV [src SRC]`: the family follows from the CIDR. */
export function routeReplace(cidr: string, dev: string, src: string | null): IpCommand {
  return ['route', 'replace', cidr, 'dev', dev, ...(src ? ['src', src] : [])];
}

export function routeDel(cidr: string, dev: string): IpCommand {
  return ['route', 'del', cidr, 'dev', dev];
}

/** `addr add ADDR/32|128 dev DEV` (IPv6: nodad, usable at once). */
export function addrAdd(addr: string, dev: string): IpCommand {
  const v6 = addr.includes(':');
  return ['addr', 'add', `${addr}/${v6 ? 128 : 32}`, 'dev', dev, ...(v6 ? ['nodad'] : [])];
}

function failure(cmds: IpCommand[], status: number | null, stderr: string): VtepError {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  // with -batch, ip reports "Command failed -:N" after the error of line N
  const failed: string[] = [];
  for (let k = 0; k < lines.length; k++) {
    const m = /^Command failed -:(\d+)$/.exec(lines[k]!);
    if (m) failed.push(`\`ip ${cmds[Number(m[1]) - 1]?.join(' ') ?? '?'}\`: ${lines[k - 1] ?? 'failed'}`);
  }
  const text = failed.length > 0 ? failed.join('; ') : `\`ip ${cmds.length === 1 ? cmds[0]!.join(' ') : '-batch'}\` exited ${status}: ${lines.join(' ') || 'no message'}`;
  return new VtepError('IO', text);
}

/** Run commands synchronously (startup / shutdown). Throws VtepError('IO') on the first failure. */
export function ipSync(cmds: IpCommand[]): void {
  if (cmds.length === 0) return;
  try {
    execFileSync(IP_BIN, ['-batch', '-'], { input: cmds.map((c) => c.join(' ')).join('\n') + '\n', stdio: ['pipe', 'ignore', 'pipe'] });
  } catch (e) {
    const err = e as { status: number | null; stderr?: Buffer; code?: string };
    if (err.code === 'ENOENT') throw new VtepError('IO', `${IP_BIN}: not found (install iproute2)`);
    throw failure(cmds, err.status, err.stderr?.toString() ?? '');
  }
}

/**
 * Run commands without blocking the event loop; every command is tried (-force). Resolves with the
 * failures (empty when all went).
 */
export function ipAsync(cmds: IpCommand[]): Promise<VtepError[]> {
  if (cmds.length === 0) return Promise.resolve([]);
  return new Promise((resolve) => {
    const child = spawn(IP_BIN, ['-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => resolve([new VtepError('IO', `${IP_BIN}: ${e.message}`)]));
    child.on('close', (status) => resolve(status === 0 ? [] : [failure(cmds, status, stderr)]));
    child.stdin.end(cmds.map((c) => c.join(' ')).join('\n') + '\n');
  });
}

/** Whether a network interface of that name exists in this namespace. */
export function linkExists(name: string): boolean {
  try {
    execFileSync(IP_BIN, ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
