// A raw TCP HTTP/1.1 client for tests that must misbehave on purpose: dribble headers or a
// body, hold a connection open, and see exactly what the server wrote before it closed.
import net from 'node:net';

export interface RawConnection {
  readonly socket: net.Socket;
  /** Everything the server has sent so far (latin1). */
  received(): string;
  /** Resolves when the server has closed the connection (or it failed), with the time it took. */
  readonly closed: Promise<{ afterMs: number; error?: string }>;
  /** The status code of the first response, once its status line has arrived. */
  status(): number | undefined;
  /** Resolves with the first complete response (status, headers, body) — needs Content-Length. */
  response(timeoutMs?: number): Promise<{ status: number; headers: Record<string, string>; body: string }>;
  write(data: string | Buffer): void;
  destroy(): void;
}

export async function rawConnect(url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(url);
  const socket = net.connect({ host: hostname, port: Number(port) });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const started = Date.now();
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  const closed = new Promise<{ afterMs: number; error?: string }>((resolve) => {
    let error: string | undefined;
    socket.on('error', (e) => (error = e.message));
    socket.once('close', () => resolve({ afterMs: Date.now() - started, ...(error ? { error } : {}) }));
  });
  const received = () => Buffer.concat(chunks).toString('latin1');
  const parse = () => {
    const text = received();
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return undefined;
    const [statusLine = '', ...lines] = text.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    const body = text.slice(end + 4);
    if (body.length < length) return undefined;
    return { status: Number(statusLine.split(' ')[1]), headers, body: body.slice(0, length) };
  };
  return {
    socket,
    received,
    closed,
    status: () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(received());
      return m ? Number(m[1]) : undefined;
    },
    response: async (timeoutMs = 15_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const r = parse();
        if (r) return r;
        if (socket.destroyed && !parse()) throw new Error(`connection closed without a full response: ${received()}`);
        if (Date.now() > deadline) throw new Error(`no response within ${timeoutMs} ms: ${received()}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
    write: (data) => {
      if (!socket.destroyed) socket.write(data);
    },
    destroy: () => socket.destroy(),
  };
}
