// A scripted tour of every kind of operation, written against types generated from
// /openapi.json with openapi-typescript's DEFAULT options (no --default-non-nullable false).
// test/generated-client.test.ts generates ./schema.d.ts beside a copy of this file, compiles
// it with tsc --strict and runs it against a live server. Not part of the project's typecheck
// (./schema.js exists only in that temporary copy).
import type { paths } from './schema.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
type Params<O> = O extends { parameters: infer X } ? X : never;
type Body<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
type Json<R> = R extends { content: { 'application/json': infer J } } ? J : undefined;
type Success<O> = O extends { responses: infer R }
  ? { [S in keyof R]: S extends 200 | 201 | 204 | '200' | '201' | '204' ? Json<R[S]> : never }[keyof R]
  : never;

type Init<O> = { params?: Params<O>; body?: Body<O>; headers?: Record<string, string> };

/** openapi-fetch's shape in a few lines: typed path, params, body and success data. */
export function createClient(baseUrl: string, headers: Record<string, string> = {}) {
  return async function call<P extends keyof paths, M extends Method>(
    method: M,
    path: P,
    init: Init<Op<P, M>> = {},
  ): Promise<Success<Op<P, M>>> {
    const params = (init.params ?? {}) as { path?: Record<string, unknown>; query?: Record<string, unknown> };
    let url = String(path).replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = params.path?.[name];
      if (value === undefined) throw new Error(`missing path parameter ${name}`);
      return encodeURIComponent(String(value));
    });
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params.query ?? {})) if (v !== undefined) query.set(k, String(v));
    if ([...query].length > 0) url += `?${query}`;
    const res = await fetch(new URL(url, baseUrl), {
      method: method.toUpperCase(),
      headers: {
        ...headers,
        ...init.headers,
        ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method.toUpperCase()} ${url} → ${res.status} ${text}`);
    return (
      text === '' ? undefined : res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text
    ) as Success<Op<P, M>>;
  };
}

/** Opens an SSE stream, reads its first bytes, closes it. */
async function peekStream(baseUrl: string, path: string, headers: Record<string, string>): Promise<number> {
  const controller = new AbortController();
  const res = await fetch(new URL(path, baseUrl), { headers, signal: controller.signal });
  const reader = res.body!.getReader();
  await reader.read();
  controller.abort();
  return res.status;
}

/** Runs every operation kind once; returns the operationIds it called. */
export async function tour(baseUrl: string, suffix: string): Promise<string[]> {
  const called: string[] = [];
  const done = (id: string) => called.push(id);
  let call = createClient(baseUrl);
  const topic = `tour-${suffix}`;
  const group = `tour-group-${suffix}`;

  await call('get', '/healthz');
  done('healthz');
  await call('get', '/readyz');
  done('readyz');

  // The first key (loopback, none yet): from here on every request carries it.
  const admin = await call('post', '/v1/keys', {
    body: {
      name: 'tour-admin',
      grants: [
        ...(['topic', 'group', 'webhook', 'key', 'cluster'] as const).map((resource) => ({
          resource,
          name: '*',
          actions: [
            'read' as const,
            'write' as const,
            'create' as const,
            'delete' as const,
            'alter' as const,
            'describe' as const,
          ],
        })),
      ],
    },
  });
  done('createKey');
  const auth = { authorization: `Bearer ${admin.key}` };
  call = createClient(baseUrl, auth);
  await call('get', '/metrics');
  done('metrics');

  const created = await call('post', '/v1/topics', { body: { name: topic, partitions: 2 } });
  done('createTopic');
  await call('post', '/v1/topics', { body: { name: `${topic}-dlq` } });
  await call('get', '/v1/topics');
  done('listTopics');
  const described = await call('get', '/v1/topics/{topic}', { params: { path: { topic: created.name } } });
  done('getTopic');
  await call('patch', '/v1/topics/{topic}', {
    params: { path: { topic } },
    body: { partitions: described.partition_count + 1 },
  });
  done('updateTopic');

  // The README's produce and join bodies, as written there.
  const produced = await call('post', '/v1/topics/{topic}/records', {
    params: { path: { topic } },
    body: { records: [{ key: 'customer-1', value: { total: 12.5 } }, { value: 'no key' }, { value: 1, partition: 0 }] },
  });
  done('produceRecords');
  const read = await call('get', '/v1/topics/{topic}/partitions/{partition}/records', {
    params: { path: { topic, partition: 0 }, query: { offset: 0, max_records: 100 } },
  });
  done('readRecords');
  if (read.records.length === 0 || produced.offsets.length !== 3) throw new Error('nothing read back');
  await peekStream(baseUrl, `/v1/topics/${topic}/partitions/0/events?from=earliest`, auth);
  done('streamPartitionEvents');
  await peekStream(baseUrl, `/v1/topics/${topic}/events?from=earliest`, auth);
  done('streamTopicEvents');

  const joined = await call('post', '/v1/groups/{group}/members', {
    params: { path: { group } },
    body: { topics: [topic], auto_offset_reset: 'earliest' },
  });
  done('joinGroup');
  const member = { group, member: joined.member_id };
  const fetched = await call('get', '/v1/groups/{group}/members/{member}/records', {
    params: { path: member, query: { wait_ms: 1000 } },
  });
  done('fetchGroupRecords');
  await call('post', '/v1/groups/{group}/members/{member}/heartbeat', { params: { path: member } });
  done('heartbeatGroupMember');
  await call('post', '/v1/groups/{group}/offsets', {
    params: { path: { group } },
    body: {
      member_id: joined.member_id,
      generation: fetched.generation,
      offsets: [{ topic, partition: 0, offset: 1 }],
    },
  });
  done('commitGroupOffsets');
  await call('get', '/v1/groups');
  done('listGroups');
  await call('get', '/v1/groups/{group}', { params: { path: { group } } });
  done('getGroup');
  await call('delete', '/v1/groups/{group}/members/{member}', { params: { path: member } });
  done('leaveGroup');
  await call('post', '/v1/groups/{group}/offsets/reset', {
    params: { path: { group } },
    body: { topic, to: 'earliest' },
  });
  done('resetGroupOffsets');
  await peekStream(baseUrl, `/v1/groups/${group}/events?topics=${topic}`, auth);
  done('streamGroupEvents');
  // The SSE member leaves when its connection closes; delete once the group is empty.
  for (let i = 0; ; i++) {
    try {
      await call('delete', '/v1/groups/{group}', { params: { path: { group } } });
      break;
    } catch (e) {
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  done('deleteGroup');

  const hook = await call('post', '/v1/webhooks', {
    body: { topic, url: 'https://hooks.example.com/sluice', dead_letter_topic: `${topic}-dlq` },
  });
  done('createWebhook');
  await call('get', '/v1/webhooks');
  done('listWebhooks');
  await call('get', '/v1/webhooks/{id}', { params: { path: { id: hook.id } } });
  done('getWebhook');
  await call('patch', '/v1/webhooks/{id}', { params: { path: { id: hook.id } }, body: { state: 'paused' } });
  done('updateWebhook');
  await call('post', '/v1/webhooks/{id}/rotate-secret', { params: { path: { id: hook.id } }, body: {} });
  done('rotateWebhookSecret');
  await call('get', '/v1/webhooks/{id}/deliveries', { params: { path: { id: hook.id } } });
  done('listWebhookDeliveries');
  await call('delete', '/v1/webhooks/{id}', { params: { path: { id: hook.id } } });
  done('deleteWebhook');

  const queue = { topic, queue: `tour-queue-${suffix}` };
  await call('put', '/v1/topics/{topic}/queues/{queue}', { params: { path: queue }, body: { start: 'earliest' } });
  done('putQueue');
  await call('get', '/v1/topics/{topic}/queues', { params: { path: { topic } } });
  done('listQueues');
  await call('get', '/v1/topics/{topic}/queues/{queue}', { params: { path: queue } });
  done('getQueue');
  const received = await call('post', '/v1/topics/{topic}/queues/{queue}/receive', {
    params: { path: queue, query: { max_records: 10 } },
  });
  done('receiveFromQueue');
  await call('post', '/v1/topics/{topic}/queues/{queue}/ack', {
    params: { path: queue },
    body: { acks: received.records.map((r) => ({ lease: r.lease, action: 'accept' as const })) },
  });
  done('ackQueueRecords');
  await peekStream(baseUrl, `/v1/topics/${topic}/queues/${queue.queue}/events`, auth);
  done('streamQueueEvents');
  await call('delete', '/v1/topics/{topic}/queues/{queue}', { params: { path: queue } });
  done('deleteQueue');

  const token = await call('post', '/v1/tokens', {
    body: { grants: [{ resource: 'topic', name: topic, actions: ['read'] }], ttl_ms: 60_000 },
  });
  if (!token.token) throw new Error('no token');
  done('createToken');
  const keys = await call('get', '/v1/keys');
  done('listKeys');
  const other = await call('post', '/v1/keys', {
    body: { name: 'tour-reader', grants: [{ resource: 'topic', name: topic, actions: ['read'] }] },
  });
  await call('get', '/v1/keys/{id}', { params: { path: { id: other.id } } });
  done('getKey');
  const limited = await call('patch', '/v1/keys/{id}', {
    params: { path: { id: other.id } },
    body: { quotas: { produce_bytes_per_sec: 1_048_576, max_streams: 10 } },
  });
  if (limited.quotas?.max_streams !== 10) throw new Error('quotas not set');
  done('updateKey');
  await call('delete', '/v1/keys/{id}', { params: { path: { id: other.id } } });
  done('revokeKey');
  if (keys.keys.length === 0) throw new Error('no keys listed');

  const me = await call('get', '/v1/whoami');
  if (!me) throw new Error('whoami answered nothing');
  done('whoami');
  await peekStream(baseUrl, '/v1/overview/events', auth);
  done('streamOverview');

  // Durable Streams: bodies are the stream's own bytes, so appends go through fetch directly.
  const stream = { path: `tour-stream-${suffix}` };
  await call('put', '/v1/stream/{path}', {
    params: { path: stream },
    headers: { 'content-type': 'application/json' },
  });
  done('createStream');
  const appended = await fetch(new URL(`/v1/stream/${stream.path}`, baseUrl), {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify([{ n: 1 }, { n: 2 }]),
  });
  if (!appended.ok) throw new Error(`append → ${appended.status}`);
  done('appendToStream');
  await call('get', '/v1/stream/{path}', { params: { path: stream, query: { offset: '-1' } } });
  done('readStream');
  const head = await fetch(new URL(`/v1/stream/${stream.path}`, baseUrl), { method: 'HEAD', headers: auth });
  if (!head.ok) throw new Error(`HEAD stream → ${head.status}`);
  done('headStream');
  await call('delete', '/v1/stream/{path}', { params: { path: stream } });
  done('deleteStream');

  await call('delete', '/v1/topics/{topic}', { params: { path: { topic } } });
  done('deleteTopic');
  return called;
}
