// Peer server (child process): the Durable Streams reference server, file-backed (it
// fdatasyncs every append), on the port and data directory the runner passes.
import { DurableStreamTestServer } from '@durable-streams/server';

const server = new DurableStreamTestServer({
  host: '127.0.0.1',
  port: Number(process.env['PORT']),
  dataDir: process.env['DATA_DIR'],
  // Compare like with like: Sluice does not compress responses.
  compression: false,
  longPollTimeout: 30_000,
});
await server.start();
process.stdout.write(`listening ${server.url}\n`);
const stop = () => void server.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
