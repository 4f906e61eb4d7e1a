// The process logger: pino writing one JSON object per line to stdout, at the level from
// config. Every line written while a request is being handled carries its request_id.
import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger } from 'pino';

/** The request being handled in the current async context (set by the HTTP middleware). */
export const requestScope = new AsyncLocalStorage<{ requestId: string }>();

/** The process logger; `destination` (default stdout) lets tests read the lines written. */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    base: { service: 'sluice' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    // Services log without knowing about HTTP; the request id still reaches their lines.
    mixin: () => {
      const scope = requestScope.getStore();
      return scope ? { request_id: scope.requestId } : {};
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
