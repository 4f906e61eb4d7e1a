// The logging port of the log package: pino-compatible, optional, silent by default so the
// library never writes to the console on its own.
export interface LogLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: LogLogger = {
  info: () => {},
  warn: () => {},
  error: () => {},
};
