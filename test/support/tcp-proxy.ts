// A TCP proxy on 127.0.0.1 that tests can cut and restore, to make a real Postgres
// "go down" and come back under a running server.
import net from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Drop every open connection and refuse new ones. */
  cut(): Promise<void>;
  /** Accept connections again on the same port (and end a stall). */
  restore(): Promise<void>;
  /**
   * Keep every connection open and accept new ones, but hold what either side sends (a network
   * partition, or a server that stopped answering): nothing fails, nothing arrives. `restore`
   * delivers what was held and forwards again.
   */
  stall(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let stalled = false;
  const held: Array<() => void> = [];
  const forward = (from: net.Socket, to: net.Socket) =>
    from.on('data', (d: Buffer) => {
      if (stalled) held.push(() => to.write(d));
      else to.write(d);
    });
  const makeServer = () =>
    net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      forward(client, upstream);
      forward(upstream, client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  const listen = (server: net.Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
    });
  let server: net.Server | undefined = makeServer();
  const port = await listen(server, 0);
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const socket of sockets) socket.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    port,
    cut: stop,
    stall: () => {
      stalled = true;
    },
    restore: async () => {
      stalled = false;
      for (const deliver of held.splice(0)) deliver();
      if (server) return;
      server = makeServer();
      await listen(server, port);
    },
    close: stop,
  };
}
