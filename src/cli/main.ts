/**
 * The `vtep` command line. Errors become one line on stderr and an exit status:
 * 1 capture/IO, 2 usage/config, 3 --expect mismatch; drops are never failures.
 */
import { Command, CommanderError } from 'commander';
import { replayCommand, EXIT_CAPTURE, EXIT_USAGE } from './replay.ts';
import { DROP_HELP, DROP_NAMES } from '../engine/drops.ts';
import { VtepError } from '../util/errors.ts';
import { runCommand } from './run.ts';

export function buildProgram(onExit: (code: number) => void): Command {
  const program = new Command('vtep')
    .description('userspace VXLAN / IPIP tunnel endpoint for Kubernetes-style pod networks (flannel/Calico compatible)')
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
  program.addCommand(replayCommand(onExit));
  program.addCommand(runCommand(onExit));
  program
    .command('drops')
    .description('list every drop reason with its stable name and meaning')
    .action(() => {
      for (let i = 1; i < DROP_NAMES.length; i++) process.stdout.write(`${DROP_NAMES[i]!.padEnd(30)} ${DROP_HELP[i]}\n`);
      onExit(0);
    });
  for (const c of program.commands) c.exitOverride();
  for (const c of program.commands.flatMap((c) => c.commands)) c.exitOverride();
  return program;
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof VtepError) return err.code === 'CONFIG' || err.code === 'USAGE' ? EXIT_USAGE : EXIT_CAPTURE;
  return EXIT_CAPTURE;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version exit 0; usage errors were already printed by commander
      return err.exitCode === 0 ? 0 : EXIT_USAGE;
    }
    const msg = err instanceof Error ? err.message : String(err);
    // one line per problem (a config error lists them all, first problem first)
    for (const line of msg.split('\n')) process.stderr.write(`vtep: ${line}\n`);
    if (!(err instanceof VtepError) && process.env.VTEP_DEBUG) process.stderr.write(String((err as Error).stack) + '\n');
    return exitCodeFor(err);
  }
  return code;
}
