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
//
// The app refuses some requests before reading their body too (the body budget's 503, a declared
// length over the body limit's 413, any answer sent before a large body has arrived): when Node
// then closes the connection, it closes with the same lingering close.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { ErrorCode } from './errors.js';

/** How long, and how many bytes, a refused client may keep sending before it is cut. */
export const LINGER_MS = 2_000;
export const LINGER_MAX_BYTES = 4 * 1024 * 1024;
/** The byte bound when the rest of a refused request's body is what is still arriving (@hono/node-server drains as much). */
export const LINGER_MAX_BODY_BYTES = 64 * 1024 * 1024;

export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  /** The limit it hit (as `limit` in every limit's answer and in sluice_limit_refusals_total). */
  limit?: string;
}

/**
 * What Node's parser refused. A 408 names the one timeout that fired: the request's body was
 * still arriving (SLUICE_REQUEST_TIMEOUT_MS), or its headers were (SLUICE_HEADERS_TIMEOUT_MS).
 */
export function refusal(err: NodeJS.ErrnoException, socket?: Socket): Refusal {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return {
        status: 431,
        code: 'headers_too_large',
        message: 'the request line and headers exceed 32 KiB; nothing was done',
        limit: 'max_header_bytes',
      };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return socket !== undefined && latest.get(socket)?.complete === false
        ? {
            status: 408,
            code: 'request_timeout',
            message: 'the request body was not received in time (SLUICE_REQUEST_TIMEOUT_MS)',
            limit: 'request_timeout_ms',
          }
        : {
            status: 408,
            code: 'request_timeout',
            message: 'the request line and headers were not received in time (SLUICE_HEADERS_TIMEOUT_MS)',
            limit: 'headers_timeout_ms',
          };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'payload_too_large', message: 'chunk extensions too large' };
    default:
      return { status: 400, code: 'bad_request', message: `malformed HTTP request (${err.code ?? 'parse error'})` };
  }
}

/** The raw HTTP/1.1 answer: the error envelope, `Connection: close`, `X-Request-Id` (as every answer), an exact Content-Length. */
export function refusalResponse(r: Refusal, requestId: string = randomUUID()): string {
  const body = JSON.stringify({
    error: { code: r.code, message: r.message, ...(r.limit && { limit: r.limit }), request_id: requestId },
  });
  return (
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? ''}\r\n` +
    'Connection: close\r\n' +
    `X-Request-Id: ${requestId}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
  );
}

/** Replace Node's default 'clientError' behaviour on `server` (see the file comment). */
export function answerClientErrors(
  server: Server,
  onRefused: (r: Refusal & { requestId: string; remoteAddress: string | undefined }) => void = () => {},
): void {
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
    const r = refusal(err, socket);
    const requestId = randomUUID();
    onRefused({ ...r, requestId, remoteAddress: socket.remoteAddress });
    lingeringClose(socket, { answer: refusalResponse(r, requestId) });
  });
}

const lingering = new WeakSet<Socket>();

/**
 * Write `answer` (if any), half-close, then read and drop what the client still sends until it
 * closes, for at most LINGER_MS and `maxBytes`. With `unread`, the request whose body is still
 * arriving, Node's HTTP parser keeps reading the connection and drops that body.
 */
export function lingeringClose(
  socket: Socket,
  options: { answer?: string; maxBytes?: number; unread?: IncomingMessage } = {},
): void {
  const { answer, maxBytes = LINGER_MAX_BYTES, unread } = options;
  if (lingering.has(socket)) return;
  lingering.add(socket);
  if (socket.writable) {
    if (answer === undefined) socket.end();
    else socket.end(answer);
  }
  const start = socket.bytesRead;
  const overBudget = () => {
    if (socket.bytesRead - start > maxBytes) socket.destroy();
  };
  const cut = setTimeout(() => socket.destroy(), LINGER_MS);
  cut.unref();
  let poll: NodeJS.Timeout | undefined;
  if (unread) {
    // A 'data' listener on the socket would take it from the parser mid-body, and the parser
    // may have stopped reading it (backpressure from the unread body): reading would stall.
    // Instead the body flows without a reader (the web stream @hono/node-server made of it
    // pauses it when nobody reads), which the parser drops, as Node's own req._dump() does.
    unread.removeAllListeners('data');
    unread.resume();
    poll = setInterval(overBudget, 50);
    poll.unref();
  } else {
    socket.on('data', overBudget);
    socket.resume();
  }
  socket.once('close', () => {
    clearTimeout(cut);
    clearInterval(poll);
  });
}

/** The request last received on each connection. */
const latest = new WeakMap<Socket, IncomingMessage>();

/**
 * Call for every request: if its connection is closed while the request's body has not been
 * received in full, the close lingers (see the file comment) instead of resetting the client.
 *
 * Node ends a connection after a `Connection: close` answer (and @hono/node-server ends one
 * whose unread body takes too long to drain) through `socket.destroySoon()`, which destroys the
 * socket once the answer is flushed, unread bytes or not; that one method is replaced on the
 * connection. A connection whose request was read in full closes as before.
 */
export function lingerOnUnreadBody(req: IncomingMessage): void {
  const socket = req.socket;
  const known = latest.has(socket);
  latest.set(socket, req);
  if (known) return;
  const destroySoon = socket.destroySoon.bind(socket);
  socket.destroySoon = () => {
    const unread = latest.get(socket);
    if (unread?.complete !== false || socket.destroyed) return destroySoon();
    lingeringClose(socket, { maxBytes: LINGER_MAX_BODY_BYTES, unread });
  };
}
