/**
 * Structured logs for `vtep run`: one JSON object per line on stdout (pino), e.g.
 * `{"level":30,"time":1700000000000,"pid":1234,"msg":"ready","tun":"vtep0",...}`.
 * Levels: trace debug info warn error fatal silent. Never used per packet.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A logger writing synchronously to `fd` (stdout by default): lines are out before a signal-driven exit,
 * and a test reading the child's stdout sees each line as it happens.
 */
export function createLogger(level: LogLevel = 'info', fd = 1): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.epochTime,
      formatters: { level: (label, number) => ({ level: number, levelName: label }) },
    },
    pino.destination({ fd, sync: true }),
  );
}
