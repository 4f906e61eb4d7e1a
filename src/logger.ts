// The process logger: pino writing one JSON object per line to stdout, at the level from
// config. A request's lines carry its request_id because the request hands its logger
// (requestLogger in src/http/middleware/request-context.ts) to the work it asks for: no
// AsyncLocalStorage, whose async hooks cost every promise of the process (about a tenth of a
// single-record produce's CPU on Node 20), and whose context leaked a request's id into the
// timers and shared work (group commits, sweeps) that request happened to start.
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/** The process logger; `destination` (default stdout) lets tests read the lines written. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: 'sluice' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
