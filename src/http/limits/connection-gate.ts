// Caps open client connections (SLUICE_MAX_CONNECTIONS): a connection beyond the cap has its
// first request answered 503 and is then closed; far beyond it, connections are dropped at accept.
import type { Server } from 'node:http';
import type { Socket } from 'node:net';

export class ConnectionGate {
  private open = 0;
  private readonly overCap = new WeakSet<Socket>();

  constructor(readonly max: number) {}

  /** Connections currently open. */
  get size(): number {
    return this.open;
  }

  /**
   * Count the server's connections. Those accepted past `max` are marked (their request gets a
   * clear 503); past `max` + 10% (at least 16 more) Node drops them at accept, so a flood
   * cannot exhaust file descriptors while waiting for its 503.
   */
  attach(server: Server): void {
    server.maxConnections = this.max + Math.max(16, Math.ceil(this.max / 10));
    server.on('connection', (socket: Socket) => {
      this.open++;
      if (this.open > this.max) this.overCap.add(socket);
      socket.once('close', () => this.open--);
    });
  }

  /** Whether the request arrived on a connection accepted beyond the cap. */
  refuses(socket: Socket | undefined): boolean {
    return socket !== undefined && this.overCap.has(socket);
  }
}
