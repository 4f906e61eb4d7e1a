// The authorization matrix (issue #13), generated from the OpenAPI document: every operation ×
// every kind of caller → the status its published `x-sluice-permission` implies (2xx, 401, 403).
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startIsolatedServer, type TestServer } from './support/server.js';
import { ADMIN_GRANTS, ALL_ACTIONS, bearer, createKey, mintToken } from './auth-support.js';

const ADMIN_KEY = `adm_${randomUUID()}${randomUUID()}`;
const PREFIX = 'mx.';

type Scope = 'inside' | 'outside';

/** One concrete request, ready to send. */
interface Call {
  method: string;
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  /** What `the topic of webhook {id}` / `the name of key {id}` resolves to for this call. */
  lookup?: string;
}

interface Published {
  public?: true;
  requires?: Array<{ resource: string; action: string; name: string }>;
  query_token?: true;
}

interface Grant {
  resource: string;
  name: string;
  pattern?: 'literal' | 'prefixed';
  actions: string[];
}

interface Caller {
  label: string;
  /** Grants it holds; null: it must be refused before any grant is looked at (401). */
  grants: Grant[] | null;
  headers: Record<string, string>;
  query?: Record<string, string>;
  /** The caller only exists for non-GET operations. */
  nonGetOnly?: boolean;
  scope: Scope;
}

// The matcher the document describes (README Security), written independently of src/auth.
const matches = (g: Grant, resource: string, name: string, action: string) =>
  g.resource === resource &&
  g.actions.includes(action) &&
  (g.pattern === 'prefixed' ? name.startsWith(g.name) : g.name === '*' || g.name === name);
const allowed = (grants: Grant[], resource: string, name: string | null, action: string) =>
  name === null
    ? grants.some((g) => g.resource === resource && g.actions.includes(action))
    : grants.some((g) => matches(g, resource, name, action));

describe('authorization matrix', () => {
  let server: TestServer;
  let hook: http.Server;
  let hookUrl: string;
  const admin = bearer(ADMIN_KEY);
  const callers: Caller[] = [];
  const n = (scope: Scope, what: string) =>
    `${scope === 'inside' ? PREFIX : 'out.'}${what}-${randomUUID().slice(0, 8)}`;
  // Shared topics (one per scope) for operations that only read or write them.
  const topics: Record<Scope, string> = { inside: '', outside: '' };

  async function api(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`setup ${method} ${path}: ${res.status} ${text}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  }
  const topic = async (scope: Scope) => {
    const t = n(scope, 'topic');
    await api('POST', '/v1/topics', { name: t });
    return t;
  };
  const group = async (scope: Scope) => {
    const g = n(scope, 'group');
    await api('POST', `/v1/groups/${g}/offsets`, { offsets: [{ topic: topics[scope], partition: 0, offset: 0 }] });
    return g;
  };
  const member = async (scope: Scope) => {
    const g = n(scope, 'group');
    const joined = await api('POST', `/v1/groups/${g}/members`, {
      topics: [topics[scope]],
      session_timeout_ms: 60_000,
    });
    return { g, m: joined['member_id'] as string };
  };
  const queue = async (scope: Scope) => {
    const q = n(scope, 'queue');
    await api('PUT', `/v1/topics/${topics[scope]}/queues/${q}`, {});
    return q;
  };
  const webhook = async (scope: Scope) => {
    const w = await api('POST', '/v1/webhooks', { topic: topics[scope], url: hookUrl });
    return { id: w['id'] as string, topic: topics[scope] };
  };
  /** A Durable Stream under the scope's prefix, one level deep: its topic is `<name>__s`. */
  const stream = async (scope: Scope) => {
    const name = n(scope, 'stream');
    const res = await fetch(`${server.url}/v1/stream/${name}/s`, {
      method: 'PUT',
      headers: { ...admin, 'content-type': 'application/json' },
    });
    if (res.status !== 201) throw new Error(`setup PUT stream: ${res.status} ${await res.text()}`);
    return { path: `/v1/stream/${name}/s`, lookup: `${name}__s` };
  };
  const key = async (scope: Scope) => {
    const name = n(scope, 'key');
    const k = await api('POST', '/v1/keys', { name, grants: [] });
    return { id: k['id'] as string, name };
  };

  /** How to make each operation succeed for a caller allowed to do it. Add one per new operation. */
  const fixtures: Record<string, (scope: Scope) => Promise<Call>> = {
    createTopic: async (s) => ({ method: 'POST', path: '/v1/topics', body: { name: n(s, 'topic') } }),
    listTopics: async () => ({ method: 'GET', path: '/v1/topics' }),
    getTopic: async (s) => ({ method: 'GET', path: `/v1/topics/${topics[s]}` }),
    updateTopic: async (s) => ({ method: 'PATCH', path: `/v1/topics/${await topic(s)}`, body: { partitions: 2 } }),
    deleteTopic: async (s) => ({ method: 'DELETE', path: `/v1/topics/${await topic(s)}` }),
    produceRecords: async (s) => ({
      method: 'POST',
      path: `/v1/topics/${topics[s]}/records`,
      body: { records: [{ value: 1 }] },
    }),
    readRecords: async (s) => ({ method: 'GET', path: `/v1/topics/${topics[s]}/partitions/0/records` }),
    streamPartitionEvents: async (s) => ({ method: 'GET', path: `/v1/topics/${topics[s]}/partitions/0/events` }),
    streamTopicEvents: async (s) => ({ method: 'GET', path: `/v1/topics/${topics[s]}/events` }),
    joinGroup: async (s) => ({
      method: 'POST',
      path: `/v1/groups/${n(s, 'group')}/members`,
      body: { topics: [topics[s]], session_timeout_ms: 60_000 },
    }),
    fetchGroupRecords: async (s) => {
      const { g, m } = await member(s);
      return { method: 'GET', path: `/v1/groups/${g}/members/${m}/records` };
    },
    heartbeatGroupMember: async (s) => {
      const { g, m } = await member(s);
      return { method: 'POST', path: `/v1/groups/${g}/members/${m}/heartbeat` };
    },
    leaveGroup: async (s) => {
      const { g, m } = await member(s);
      return { method: 'DELETE', path: `/v1/groups/${g}/members/${m}` };
    },
    commitGroupOffsets: async (s) => ({
      method: 'POST',
      path: `/v1/groups/${n(s, 'group')}/offsets`,
      body: { offsets: [{ topic: topics[s], partition: 0, offset: 0 }] },
    }),
    resetGroupOffsets: async (s) => ({
      method: 'POST',
      path: `/v1/groups/${await group(s)}/offsets/reset`,
      body: { topic: topics[s], to: 'earliest' },
    }),
    listGroups: async () => ({ method: 'GET', path: '/v1/groups' }),
    getGroup: async (s) => ({ method: 'GET', path: `/v1/groups/${await group(s)}` }),
    deleteGroup: async (s) => ({ method: 'DELETE', path: `/v1/groups/${await group(s)}` }),
    streamGroupEvents: async (s) => ({
      method: 'GET',
      path: `/v1/groups/${n(s, 'group')}/events`,
      query: { topics: topics[s] },
    }),
    listQueues: async (s) => ({ method: 'GET', path: `/v1/topics/${topics[s]}/queues` }),
    getQueue: async (s) => ({ method: 'GET', path: `/v1/topics/${topics[s]}/queues/${await queue(s)}` }),
    putQueue: async (s) => ({ method: 'PUT', path: `/v1/topics/${topics[s]}/queues/${n(s, 'queue')}`, body: {} }),
    deleteQueue: async (s) => ({ method: 'DELETE', path: `/v1/topics/${topics[s]}/queues/${await queue(s)}` }),
    receiveFromQueue: async (s) => ({
      method: 'POST',
      path: `/v1/topics/${topics[s]}/queues/${await queue(s)}/receive`,
    }),
    streamQueueEvents: async (s) => ({
      method: 'GET',
      path: `/v1/topics/${topics[s]}/queues/${await queue(s)}/events`,
    }),
    ackQueueRecords: async (s) => ({
      method: 'POST',
      path: `/v1/topics/${topics[s]}/queues/${await queue(s)}/ack`,
      body: { acks: [{ lease: '0.0.0123456789ab.1', action: 'accept' }] },
    }),
    createWebhook: async (s) => ({ method: 'POST', path: '/v1/webhooks', body: { topic: topics[s], url: hookUrl } }),
    listWebhooks: async () => ({ method: 'GET', path: '/v1/webhooks' }),
    getWebhook: async (s) => {
      const w = await webhook(s);
      return { method: 'GET', path: `/v1/webhooks/${w.id}`, lookup: w.topic };
    },
    updateWebhook: async (s) => {
      const w = await webhook(s);
      return { method: 'PATCH', path: `/v1/webhooks/${w.id}`, body: { state: 'paused' }, lookup: w.topic };
    },
    deleteWebhook: async (s) => {
      const w = await webhook(s);
      return { method: 'DELETE', path: `/v1/webhooks/${w.id}`, lookup: w.topic };
    },
    rotateWebhookSecret: async (s) => {
      const w = await webhook(s);
      return { method: 'POST', path: `/v1/webhooks/${w.id}/rotate-secret`, body: {}, lookup: w.topic };
    },
    listWebhookDeliveries: async (s) => {
      const w = await webhook(s);
      return { method: 'GET', path: `/v1/webhooks/${w.id}/deliveries`, lookup: w.topic };
    },
    createKey: async (s) => ({ method: 'POST', path: '/v1/keys', body: { name: n(s, 'key'), grants: [] } }),
    listKeys: async () => ({ method: 'GET', path: '/v1/keys' }),
    getKey: async (s) => {
      const k = await key(s);
      return { method: 'GET', path: `/v1/keys/${k.id}`, lookup: k.name };
    },
    updateKey: async (s) => {
      const k = await key(s);
      return { method: 'PATCH', path: `/v1/keys/${k.id}`, body: { quotas: { max_streams: 5 } }, lookup: k.name };
    },
    revokeKey: async (s) => {
      const k = await key(s);
      return { method: 'DELETE', path: `/v1/keys/${k.id}`, lookup: k.name };
    },
    createToken: async (s) => ({
      method: 'POST',
      path: '/v1/tokens',
      body: { grants: [{ resource: 'topic', name: topics[s], actions: ['read'] }], ttl_ms: 60_000 },
    }),
    createStream: async (s) => {
      const name = n(s, 'stream');
      return { method: 'PUT', path: `/v1/stream/${name}/s`, lookup: `${name}__s` };
    },
    appendToStream: async (s) => ({ method: 'POST', ...(await stream(s)), body: { n: 1 } }),
    readStream: async (s) => ({ method: 'GET', ...(await stream(s)) }),
    headStream: async (s) => ({ method: 'HEAD', ...(await stream(s)) }),
    deleteStream: async (s) => ({ method: 'DELETE', ...(await stream(s)) }),
    healthz: async () => ({ method: 'GET', path: '/healthz' }),
    readyz: async () => ({ method: 'GET', path: '/readyz' }),
    metrics: async () => ({ method: 'GET', path: '/metrics' }),
    whoami: async () => ({ method: 'GET', path: '/v1/whoami' }),
    streamOverview: async () => ({ method: 'GET', path: '/v1/overview/events' }),
  };

  beforeAll(async () => {
    hook = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    server = await startIsolatedServer({
      SLUICE_AUTH: 'keys',
      SLUICE_ADMIN_KEY: ADMIN_KEY,
      SLUICE_GROUP_REBALANCE_DELAY_MS: '0',
      SLUICE_WEBHOOK_ALLOW_PRIVATE: 'true',
    });
    topics.inside = await topic('inside');
    topics.outside = await topic('outside');

    const withKey = async (label: string, grants: Grant[]) => {
      const k = await createKey(server.url, grants, { as: ADMIN_KEY, name: label });
      return k.key;
    };
    const everything = (actions: string[]): Grant[] =>
      ['topic', 'group', 'webhook', 'key', 'cluster'].map((resource) => ({ resource, name: '*', actions }));
    const prefixed: Grant[] = ['topic', 'group', 'webhook', 'key', 'cluster'].map((resource) => ({
      resource,
      name: PREFIX,
      pattern: 'prefixed',
      actions: ALL_ACTIONS,
    }));
    const readOnly = everything(['read', 'describe']);
    const writeOnly = everything(['write']);
    const noGrantsKey = await withKey('no-grants', []);
    const readKey = await withKey('read-only', readOnly);
    const writeKey = await withKey('write-only', writeOnly);
    const prefixKey = await withKey('prefixed', prefixed);
    const revoked = await createKey(server.url, ADMIN_GRANTS, { as: ADMIN_KEY, name: 'revoked' });
    await api('DELETE', `/v1/keys/${revoked.id}`);
    const expired = await mintToken(server.url, ADMIN_KEY, ADMIN_GRANTS, 1_000);
    const adminToken = await mintToken(server.url, ADMIN_KEY, ADMIN_GRANTS, 3_600_000);
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expired.expires_at - Date.now()) + 50));

    const add = (label: string, grants: Grant[] | null, headers: Record<string, string>, extra: Partial<Caller> = {}) =>
      callers.push({ label, grants, headers, scope: 'inside', ...extra });
    add('no credential', null, {});
    add('key without grants', [], bearer(noGrantsKey));
    add('read-only key', readOnly, bearer(readKey));
    add('write-only key', writeOnly, bearer(writeKey));
    add('prefix-scoped key, inside its prefix', prefixed, bearer(prefixKey));
    add('prefix-scoped key, outside its prefix', prefixed, bearer(prefixKey), { scope: 'outside' });
    add('admin key', ADMIN_GRANTS as Grant[], admin);
    add('expired token', null, bearer(expired.token));
    add('revoked key', null, bearer(revoked.key));
    add('token via query on a non-GET', null, {}, { query: { access_token: adminToken.token }, nonGetOnly: true });
  }, 120_000);

  afterAll(async () => {
    await server?.stop();
    await new Promise<void>((resolve) => (hook ? hook.close(() => resolve()) : resolve()));
  });

  /** The status class the published permission implies for `caller` making `call`. */
  function expected(permission: Published, call: Call, caller: Caller): '2xx' | 401 | 403 {
    if (permission.public) return '2xx';
    if (caller.grants === null) return 401;
    const body = (call.body ?? {}) as Record<string, unknown>;
    const params = matchParams(call.path);
    for (const req of permission.requires ?? []) {
      const names = resolve(req.name, call, params, body);
      for (const name of names) if (!allowed(caller.grants, req.resource, name, req.action)) return 403;
    }
    // Keys and tokens can only be given grants the caller holds.
    const given = (body['grants'] as Grant[] | undefined) ?? [];
    for (const g of given) for (const a of g.actions) if (!allowed(caller.grants, g.resource, g.name, a)) return 403;
    return '2xx';
  }

  let currentTemplate = '';
  function matchParams(path: string): Record<string, string> {
    const names: string[] = [];
    const re = new RegExp(
      `^${currentTemplate.replace(/\{([^}]+)\}/g, (_, p: string) => {
        names.push(p);
        return '([^/]+)';
      })}$`,
    );
    const m = re.exec(path);
    return Object.fromEntries(names.map((p, i) => [p, decodeURIComponent(m?.[i + 1] ?? '')]));
  }

  function resolve(
    published: string,
    call: Call,
    params: Record<string, string>,
    body: Record<string, unknown>,
  ): Array<string | null> {
    let m: RegExpExecArray | null;
    if (published === 'any name') return [null];
    if ((m = /^\{(\w+)\}$/.exec(published))) return [params[m[1]!]!];
    if ((m = /^each of body\.(\w+)$/.exec(published))) return body[m[1]!] as string[];
    if ((m = /^each of body\.(\w+)\[\]\.(\w+)$/.exec(published))) {
      const field = m[2]!;
      return (body[m[1]!] as Array<Record<string, string>>).map((item) => item[field]!);
    }
    if ((m = /^body\.(\w+)$/.exec(published))) return [body[m[1]!] as string];
    // An optional field names nothing when the call leaves it out.
    if ((m = /^body\.(\w+) \(when given\)$/.exec(published))) {
      const value = body[m[1]!];
      return value === undefined || value === null ? [] : [value as string];
    }
    if ((m = /^each of \?(\w+)=$/.exec(published))) return (call.query?.[m[1]!] ?? '').split(',');
    if (/^the (topic of webhook|name of key|topic of stream) \{\w+\}$/.test(published)) return [call.lookup!];
    // An optional header the matrix's calls never send (a fork's source) names nothing.
    if (/^the topic of stream [\w-]+ \(when given\)$/.test(published)) return [];
    if (/^[a-z]+$/.test(published)) return [published];
    throw new Error(`the matrix does not understand the published name ${JSON.stringify(published)}`);
  }

  async function send(call: Call, caller: Caller): Promise<number> {
    const query = new URLSearchParams({ ...call.query, ...caller.query }).toString();
    const controller = new AbortController();
    const res = await fetch(`${server.url}${call.path}${query ? `?${query}` : ''}`, {
      method: call.method,
      headers: { ...caller.headers, ...(call.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: controller.signal,
    });
    // Streams: the status is the answer; close the stream.
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) controller.abort();
    else await res.arrayBuffer();
    return res.status;
  }

  it('answers every operation × caller with the status its published permission implies', async () => {
    const doc = (await (await fetch(`${server.url}/openapi.json`, { headers: admin })).json()) as {
      paths: Record<string, Record<string, { operationId: string; 'x-sluice-permission'?: Published }>>;
    };
    const failures: string[] = [];
    const missing: string[] = [];
    const covered = new Set<string>();
    let operations = 0;
    let cases = 0;
    const byOutcome: Record<string, number> = { '2xx': 0, '401': 0, '403': 0 };
    for (const [template, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        operations++;
        const fixture = fixtures[op.operationId];
        const permission = op['x-sluice-permission'];
        if (!fixture || !permission) {
          missing.push(`${op.operationId} (${method.toUpperCase()} ${template})`);
          continue;
        }
        for (const caller of callers) {
          if (caller.nonGetOnly && method === 'get') continue;
          const call = await fixture(caller.scope);
          expect(call.method).toBe(method.toUpperCase());
          currentTemplate = template;
          const want = expected(permission, call, caller);
          const got = await send(call, caller);
          cases++;
          byOutcome[String(want)]!++;
          const ok = want === '2xx' ? got >= 200 && got < 300 : got === want;
          if (!ok) failures.push(`${op.operationId} × ${caller.label}: expected ${want}, got ${got}`);
        }
        covered.add(op.operationId);
      }
    }
    console.log(
      `authorization matrix: ${cases} cases, ${covered.size}/${operations} operations covered ` +
        `(${byOutcome['2xx']} × 2xx, ${byOutcome['401']} × 401, ${byOutcome['403']} × 403)`,
    );
    expect(missing, 'add a fixture (and a permission) for these operations').toEqual([]);
    expect(failures).toEqual([]);
    expect(covered.size).toBe(operations);
  }, 600_000);
});
