// GET /v1/overview/events and GET /v1/whoami: snapshots arrive at once and then per interval,
// follow traffic (topics, records/s, group lag), and show each caller only what it may describe.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bearer, createKey, mintToken } from './auth-support.js';
import { startIsolatedServer, type TestServer } from './support/server.js';

interface Overview {
  at: number;
  history?: { at: number[]; records_in_per_sec: number[] } | null;
  health: { status: string } | null;
  rates: { records_in_per_sec: number } | null;
  topics: Array<{ name: string; end_offset: number; records_in_per_sec: number }>;
  groups: Array<{ name: string; total_lag: number }>;
}

/** Collects `event: overview` snapshots of one stream. */
function watch(url: string, headers: Record<string, string> = {}) {
  const abort = new AbortController();
  const snapshots: Overview[] = [];
  let status = 0;
  const done = (async () => {
    const res = await fetch(url, { headers, signal: abort.signal });
    status = res.status;
    if (!res.ok || !res.body) return;
    const reader = res.body.getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += new TextDecoder().decode(value);
      let at: number;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (frame.includes('event: overview') && data) snapshots.push(JSON.parse(data) as Overview);
      }
    }
  })().catch(() => undefined);
  return {
    snapshots,
    status: () => status,
    async until(what: string, test: (o: Overview) => boolean, timeoutMs = 15_000): Promise<Overview> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const last = snapshots.at(-1);
        if (last && test(last)) return last;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    close: async () => {
      abort.abort();
      await done;
    },
  };
}

describe('overview stream (open access)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_AUTH: 'none', SLUICE_OVERVIEW_INTERVAL_MS: '200' });
  }, 60_000);
  afterAll(() => server?.stop());

  it('whoami says anonymous with every grant', async () => {
    const res = await fetch(`${server.url}/v1/whoami`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { kind: string; auth_mode: string; grants: unknown[] };
    expect(body).toMatchObject({ kind: 'anonymous', auth_mode: 'none', key_id: null, expires_at: null });
    expect(body.grants).toHaveLength(5);
  });

  it('the first snapshot carries the rates of the last minutes, sampled before anyone watched', async () => {
    expect(server.services.overview.watchers).toBe(0);
    const topic = `h-${randomUUID()}`;
    await fetch(`${server.url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: topic }),
    });
    await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: [{ value: 1 }, { value: 2 }] }),
    });
    // Two sampling intervals, so the append falls between two samples.
    await new Promise((r) => setTimeout(r, 600));
    const w = watch(`${server.url}/v1/overview/events`);
    const first = await w.until('a first snapshot', () => true);
    expect(first.history?.records_in_per_sec.some((r) => r > 0)).toBe(true);
    expect(first.history?.at.every((t) => t <= first.at)).toBe(true);
    await w.until('a second snapshot', () => w.snapshots.length >= 2);
    expect(w.snapshots[1]!.history).toBeUndefined();
    await w.close();
  }, 60_000);

  it('follows topics, records/s and group lag', async () => {
    const w = watch(`${server.url}/v1/overview/events`);
    await w.until('a first snapshot', () => true);
    const topic = `t-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    await fetch(`${server.url}/v1/topics`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: topic, partitions: 2 }),
    });
    await w.until('the topic', (o) => o.topics.some((t) => t.name === topic));
    await fetch(`${server.url}/v1/groups/${group}/offsets`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ offsets: [{ topic, partition: 0, offset: 0 }] }),
    });
    await fetch(`${server.url}/v1/topics/${topic}/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ records: Array.from({ length: 20 }, (_, i) => ({ value: i, partition: 0 })) }),
    });
    const o = await w.until('the records and the lag', (o) =>
      o.groups.some((g) => g.name === group && g.total_lag === 20),
    );
    expect(o.topics.find((t) => t.name === topic)?.end_offset).toBe(20);
    expect(o.health?.status).toBe('ready');
    // Some snapshot saw the 20 records arrive within one interval.
    expect(w.snapshots.some((s) => (s.topics.find((t) => t.name === topic)?.records_in_per_sec ?? 0) > 0)).toBe(true);
    expect(w.snapshots.some((s) => (s.rates?.records_in_per_sec ?? 0) > 0)).toBe(true);
    await w.close();
    // Nobody watches once the server has seen the close (no fixed sleep: a loaded machine takes longer).
    const deadline = Date.now() + 10_000;
    while (server.services.overview.watchers > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(server.services.overview.watchers).toBe(0);
  }, 60_000);
});

describe('overview stream (keys)', () => {
  const ADMIN = `adm_${randomUUID()}${randomUUID()}`;
  let server: TestServer;
  beforeAll(async () => {
    server = await startIsolatedServer({ SLUICE_ADMIN_KEY: ADMIN, SLUICE_OVERVIEW_INTERVAL_MS: '200' });
  }, 60_000);
  afterAll(() => server?.stop());

  it('shows a key only what it may describe, with a token in the URL, and refuses no credential', async () => {
    const mine = `mine-${randomUUID()}`;
    const other = `other-${randomUUID()}`;
    for (const name of [mine, other]) {
      const res = await fetch(`${server.url}/v1/topics`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...bearer(ADMIN) },
        body: JSON.stringify({ name }),
      });
      expect(res.status).toBe(201);
    }
    const grants = [{ resource: 'topic', name: 'mine-', pattern: 'prefixed', actions: ['describe', 'read'] }];
    const key = await createKey(server.url, grants, { as: ADMIN });
    const who = (await (await fetch(`${server.url}/v1/whoami`, { headers: bearer(key.key) })).json()) as {
      kind: string;
      key_id: string;
      grants: unknown[];
    };
    expect(who).toMatchObject({ kind: 'key', key_id: key.id, grants: [{ ...grants[0] }] });
    const { token } = await mintToken(server.url, key.key, who.grants, 60_000);

    expect((await fetch(`${server.url}/v1/overview/events`)).status).toBe(401);
    const w = watch(`${server.url}/v1/overview/events?access_token=${encodeURIComponent(token)}`);
    const o = await w.until('a snapshot', () => true);
    expect(o.topics.map((t) => t.name)).toEqual([mine]);
    expect(o.health).toBeNull();
    expect(o.rates).toBeNull();
    await w.close();

    const admin = watch(`${server.url}/v1/overview/events`, bearer(ADMIN));
    const all = await admin.until('a snapshot', () => true);
    expect(all.topics.map((t) => t.name).sort()).toEqual([mine, other].sort());
    expect(all.health?.status).toBe('ready');
    await admin.close();
  }, 60_000);

  it('a group’s total_lag counts only the topics the caller may describe (as GET /v1/groups/{group})', async () => {
    const api = (method: string, path: string, body: unknown) =>
      fetch(`${server.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', ...bearer(ADMIN) },
        body: JSON.stringify(body),
      });
    const secret = `secret-${randomUUID()}`;
    const open = `open-${randomUUID()}`;
    const group = `g-${randomUUID()}`;
    for (const [name, records] of [
      [secret, 3],
      [open, 2],
    ] as const) {
      expect((await api('POST', '/v1/topics', { name })).status).toBe(201);
      const values = Array.from({ length: records }, (_, i) => ({ value: i }));
      expect((await api('POST', `/v1/topics/${name}/records`, { records: values })).status).toBe(200);
    }
    const offsets = [secret, open].map((topic) => ({ topic, partition: 0, offset: 0 }));
    expect((await api('POST', `/v1/groups/${group}/offsets`, { offsets })).status).toBe(204);
    const grants = [
      { resource: 'group', name: group, actions: ['describe'] },
      { resource: 'topic', name: open, actions: ['describe'] },
    ];
    const key = await createKey(server.url, grants, { as: ADMIN, name: `watcher-${randomUUID()}` });
    const described = (await (
      await fetch(`${server.url}/v1/groups/${group}`, { headers: bearer(key.key) })
    ).json()) as {
      total_lag: number;
    };
    expect(described.total_lag).toBe(2);

    const admin = watch(`${server.url}/v1/overview/events`, bearer(ADMIN));
    await admin.until('the group with both topics’ lag', (o) =>
      o.groups.some((g) => g.name === group && g.total_lag === 5),
    );
    await admin.close();
    const w = watch(`${server.url}/v1/overview/events`, bearer(key.key));
    const o = await w.until('the group', (s) => s.groups.some((g) => g.name === group));
    expect(o.groups.find((g) => g.name === group)?.total_lag).toBe(2);
    await w.close();
  }, 60_000);
});
