// Requests Node's HTTP parser refuses before any route runs — a URL and headers over 32 KiB
// (431), headers or a body too slow (408), malformed syntax (400) — answered in the API's error
// shape, then closed without resetting the connection.
//
// Node's own handler writes a bare status line and destroys the socket at once. A client that
// is still sending (a 1 MiB URL: curl, python-requests and fetch send the whole request before
// they read) leaves unread bytes on our side; closing then makes the kernel answer with a reset,
// and the client loses the answer: it sees `Connection reset by peer`, not a 431. Instead the
// answer is written, our side half-closes, and what still arrives is read and dropped until the
// client closes, bounded in time and bytes: the "lingering close" of nginx and Apache.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from './errors.js';

/** How long, and how many bytes, a refused client may keep sending before it is cut. */
export const LINGER_MS = 2_000;
export const LINGER_MAX_BYTES = 4 * 1024 * 1024;

interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
}

function refusal(err: NodeJS.ErrnoException): Refusal {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'headers_too_large',
        message: 'the request line and headers exceed 32 KiB; nothing was done',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return {
        status: 408,
        code: 'request_timeout',
        message: 'the request was not received in time (SLUICE_HEADERS_TIMEOUT_MS / SLUICE_REQUEST_TIMEOUT_MS)',
      };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'payload_too_large', message: 'chunk extensions too large' };
    default:
      return { status: 400, code: 'bad_request', message: `malformed HTTP request (${err.code ?? 'parse error'})` };
  }
}

/** The raw HTTP/1.1 answer: the error envelope, `Connection: close`, an exact Content-Length. */
export function refusalResponse(err: NodeJS.ErrnoException): string {
  const r = refusal(err);
  const body = JSON.stringify({ error: { code: r.code, message: r.message, request_id: randomUUID() } });
  return (
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\n` +
    'Connection: close\r\n' +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Replace Node's default 'clientError' behaviour on `server` (see the file comment). */
export function answerClientErrors(server: Server): void {
  const handled = new WeakSet<Socket>();
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // The parser reports each further chunk of a refused request again: drop it.
    if (handled.has(socket)) return;
    handled.add(socket);
    // Nothing to answer on a dead connection, or once a response has started on it.
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent) {
      socket.destroy();
      return;
    }
    socket.end(refusalResponse(err));
    let dropped = 0;
    const cut = setTimeout(() => socket.destroy(), LINGER_MS);
    cut.unref();
    socket.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > LINGER_MAX_BYTES) socket.destroy();
    });
    socket.once('close', () => clearTimeout(cut));
    socket.resume();
  });
}
