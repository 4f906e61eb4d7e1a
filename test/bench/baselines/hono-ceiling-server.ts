// Baseline server (child process): bare hono on @hono/node-server that reads and JSON.parses
// the same produce bodies Sluice gets (the ceiling for produce) and a hello-world route.
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();

// Parse exactly what Sluice must parse, answer with as many offsets, store nothing.
app.post('/parse', async (c) => {
  const text = await c.req.text();
  let count = 0;
  if ((c.req.header('content-type') ?? '').startsWith('application/x-ndjson')) {
    for (const line of text.split('\n')) {
      if (line.length === 0) continue;
      JSON.parse(line);
      count++;
    }
  } else {
    count = (JSON.parse(text) as { records: unknown[] }).records.length;
  }
  return c.json({ offsets: Array.from({ length: count }, (_, i) => ({ partition: 0, offset: i })) });
});

app.get('/hello', (c) => c.text('hello'));

const port = Number(process.env['PORT'] ?? 0);
serve({ fetch: app.fetch, hostname: '127.0.0.1', port }, (info) => process.stdout.write(`listening ${info.port}\n`));
