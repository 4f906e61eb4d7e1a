// Counts a request body's bytes as Node's HTTP parser hands them to the request stream, for the
// produce quota of a body sent without Content-Length (chunked).
import type { IncomingMessage } from 'node:http';

/**
 * Starts counting `incoming`'s body bytes and returns the count so far: what the parser has
 * pushed into its buffer already (call it before anything reads the body) plus every chunk it
 * pushes from now on. Only this request's de-chunked body bytes: not its chunk framing, nor a
 * request pipelined behind it on the connection (which the socket's byte count would include),
 * and nothing is missed when a body limit or auth step reads the body before the quota's turn.
 */
export function countBodyBytes(incoming: IncomingMessage): () => number {
  let bytes = incoming.readableLength;
  const push = incoming.push;
  incoming.push = function (this: IncomingMessage, chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) bytes += (chunk as Buffer | string).length;
    return push.call(this, chunk, encoding);
  };
  return () => bytes;
}
