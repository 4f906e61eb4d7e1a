// Start-up check that the listen address is usable, done before migrations and log recovery
// so a port already in use is reported in one line instead of a stack after a slow start.
import { createServer } from 'node:net';

/** The listen address cannot be used; `message` is one line naming the address and the fix. */
export class ListenError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
    this.name = 'ListenError';
  }

  static from(e: NodeJS.ErrnoException, listen: { host: string; port: number }): ListenError {
    const where = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
    switch (e.code) {
      case 'EADDRINUSE':
        return new ListenError(
          `cannot listen on ${where}: the port is already in use (another Sluice or program is running there; stop it or set PORT)`,
          e.code,
        );
      case 'EACCES':
        return new ListenError(
          `cannot listen on ${where}: permission denied (ports below 1024 need privileges; set PORT)`,
          e.code,
        );
      case 'EADDRNOTAVAIL':
        return new ListenError(`cannot listen on ${where}: no such local address (set HOST)`, e.code);
      default:
        return new ListenError(`cannot listen on ${where}: ${e.message}`, e.code);
    }
  }
}

/** Binds and releases the address; rejects with a ListenError if it cannot be bound. Port 0 always passes. */
export async function checkPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (e: NodeJS.ErrnoException) => reject(ListenError.from(e, { host, port })));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
