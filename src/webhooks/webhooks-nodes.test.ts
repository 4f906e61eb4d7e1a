// Several nodes sharing one database (PGlite, or Postgres with DATABASE_URL): each webhook runs on
// the one node holding its lease, moves to another when its node stops or dies, and a node that
// lost the lease cannot commit progress. Real HTTP receivers; the nodes share one in-memory log.
import { randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterEach, describe, expect, it } from 'vitest';
import { openMigratedTestDb } from '../../test/support/database.js';
import { Leases } from '../cluster/leases.js';
import { createMemoryLogStore, type LogStore, type PartitionLog } from '../log/index.js';
import type { MetadataDb } from '../metadata/connection.js';
import { leases } from '../metadata/schema/leases.js';
import { HttpSender, type AttemptResult, type SendRequest, type WebhookSender } from './http-sender.js';
import { UrlPolicy } from './url-policy.js';
import { WebhookRepository } from './webhook-repository.js';
import { webhookLease, WebhooksService } from './webhooks-service.js';
import { TestReceiver } from './webhooks-test-kit.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const policy = new UrlPolicy({ allowPrivate: true, allowHosts: [] });

/** A node's network: tags each request with the node's name; once `dead`, requests never complete. */
class NodeSender implements WebhookSender {
  dead = false;
  private readonly inner = new HttpSender(policy);
  constructor(readonly node: string) {}
  send(req: SendRequest): Promise<AttemptResult> {
    if (this.dead) {
      return new Promise((resolve) =>
        req.signal.addEventListener('abort', () =>
          resolve({ kind: 'error', message: 'aborted', timedOut: false, aborted: true }),
        ),
      );
    }
    return this.inner.send({ ...req, headers: { ...req.headers, 'x-node': this.node } });
  }
  close(): void {
    this.inner.close();
  }
}

/** Leases whose every call fails once `dead` (the node's database connection is gone). */
class NodeLeases extends Leases {
  dead = false;
  private check(): void {
    if (this.dead) throw new Error('node is dead');
  }
  override async acquire(name: string) {
    this.check();
    return super.acquire(name);
  }
  override async renew(names: string[]) {
    this.check();
    return super.renew(names);
  }
  override async holds(tx: MetadataDb, lease: { name: string; epoch: number }) {
    this.check();
    return super.holds(tx, lease);
  }
  override async holders(prefix: string) {
    this.check();
    return super.holders(prefix);
  }
}

interface Cluster {
  db: MetadataDb;
  topic: { id: string; name: string; partitions: number; config: { value_format: 'json' } };
  logs: PartitionLog[];
  append(n: number): Promise<void>;
  node(name: string, ttlMs: number): Promise<Node>;
}

interface Node {
  service: WebhooksService;
  sender: NodeSender;
  leases: NodeLeases;
  /** Simulated kill -9: its network and database calls stop; nothing is released. */
  kill(): void;
}

async function cluster(partitions = 2): Promise<Cluster> {
  const { db } = await openMigratedTestDb();
  const log: LogStore = createMemoryLogStore({ retentionCheckIntervalMs: 0 });
  await log.open();
  cleanups.push(() => log.close());
  const topic = { id: randomUUID(), name: `t-${randomUUID()}`, partitions, config: { value_format: 'json' as const } };
  const logs: PartitionLog[] = [];
  for (let p = 0; p < partitions; p++)
    logs.push(
      await log.createPartition(topic.id, p, {
        segmentBytes: 1 << 20,
        segmentMs: -1,
        retentionMs: -1,
        retentionBytes: -1,
      }),
    );
  let n = 0;
  return {
    db,
    topic,
    logs,
    append: async (count) => {
      for (let i = 0; i < count; i++) {
        const value = Buffer.from(JSON.stringify({ n: n++ }));
        const r = await logs[i % partitions]!.append([{ key: null, value, headers: [], timestamp: Date.now() }], {
          durability: 'write',
        });
        if (!r.ok) throw new Error(r.error.reason);
      }
    },
    node: async (name, ttlMs) => {
      const sender = new NodeSender(name);
      const leasesOfNode = new NodeLeases(db, { ttlMs, exclusive: false, nodeId: `node-${name}` });
      const service = new WebhooksService({
        db,
        topics: {
          lookup: (t) => (t === topic.name ? topic : undefined),
          onChange: () => () => {},
          onTopicDeleted: () => () => {},
        },
        log,
        producer: {
          produce: async () => ({ ok: false, error: { code: 'topic_not_found', message: 'none' } }) as never,
        },
        policy,
        maxConcurrency: 16,
        deliveriesKept: 100,
        logger: quiet,
        leases: leasesOfNode,
        sender,
      });
      await service.start();
      let stopped = false;
      cleanups.push(async () => {
        if (!stopped) await service.stop();
      });
      return {
        service,
        sender,
        leases: leasesOfNode,
        kill: () => {
          sender.dead = true;
          leasesOfNode.dead = true;
        },
        stop: async () => {
          stopped = true;
          await service.stop();
        },
      } as Node & { stop(): Promise<void> };
    },
  };
}

async function receiver(): Promise<TestReceiver> {
  const r = await TestReceiver.start();
  cleanups.push(() => r.close());
  return r;
}

async function createWebhook(node: Node, topic: string, url: string): Promise<string> {
  const created = await node.service.create({
    topic,
    url,
    from: 'earliest',
    batch: { max_records: 5, max_wait_ms: 0 },
    retry: { initial_backoff_ms: 5, max_backoff_ms: 50 },
  });
  if (!created.ok) throw new Error(created.error.message);
  return created.value.view.row.id;
}

/** Accepted offsets per partition, and how many of them were accepted more than once. */
function duplicates(r: TestReceiver): number {
  let dup = 0;
  for (const offsets of r.acceptedOffsets().values()) dup += offsets.length - new Set(offsets).size;
  return dup;
}

const nodesOf = (r: TestReceiver) => new Set(r.requests.map((q) => q.headers['x-node']));
const delivered = (r: TestReceiver, total: number) => () =>
  [...r.acceptedOffsets().values()].reduce((s, o) => s + new Set(o).size, 0) >= total;

describe('webhooks on several nodes sharing one database', () => {
  it('delivers each webhook from one node at a time: no concurrent or duplicate deliveries', async () => {
    const c = await cluster();
    const r = await receiver();
    r.script = () => ({ status: 200, delayMs: 5 });
    const a = await c.node('a', 3_000);
    await c.append(20);
    const id = await createWebhook(a, c.topic.name, r.url);
    // A second node comes up (or was already up): it must not run the webhook too.
    const b = await c.node('b', 3_000);
    for (let i = 0; i < 10; i++) {
      await c.append(20);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await r.waitFor(delivered(r, 220), 30_000, 'every record delivered');
    // Through a few renewal rounds of both nodes.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await c.append(10);
    await r.waitFor(delivered(r, 230), 30_000, 'the later records delivered');
    expect(r.maxInFlightPerPartition).toBe(1);
    expect(duplicates(r)).toBe(0);
    expect([...nodesOf(r)]).toEqual(['a']);
    expect(a.service.leasesHeld() + b.service.leasesHeld()).toBe(1);
    // GET names the owner on either node; only the owner shows batches in flight.
    const onA = await a.service.get(id);
    const onB = await b.service.get(id);
    expect(onA.ok && onA.value.owner).toEqual({ node: 'node-a', thisNode: true });
    expect(onB.ok && onB.value.owner).toEqual({ node: 'node-a', thisNode: false });
    expect(onB.ok && onB.value.partitions.every((p) => p.inFlight === null)).toBe(true);
  }, 90_000);

  it('moves a webhook to another node at once when its node stops, within the lease time when it dies', async () => {
    const c = await cluster();
    const r = await receiver();
    const ttlMs = 6_000;
    const a = (await c.node('a', ttlMs)) as Node & { stop(): Promise<void> };
    const b = (await c.node('b', ttlMs)) as Node & { stop(): Promise<void> };
    await c.append(10);
    await createWebhook(a, c.topic.name, r.url);
    await r.waitFor(delivered(r, 10), 20_000, 'first records');
    expect([...nodesOf(r)]).toEqual(['a']);

    // Graceful stop: A releases the lease and B takes it at its next round (a third of the lease time).
    await a.stop();
    let since = Date.now();
    await c.append(10);
    await r.waitFor(delivered(r, 20), 20_000, 'records delivered by b');
    const gracefulMs = Date.now() - since;
    expect(nodesOf(r).has('b')).toBe(true);
    expect(gracefulMs).toBeLessThan(ttlMs);

    // B dies without releasing: a third node takes over once the lease expired, within the lease time (+ one round).
    const d = (await c.node('d', ttlMs)) as Node;
    b.kill();
    since = Date.now();
    await c.append(10);
    await r.waitFor(delivered(r, 30), 30_000, 'records delivered by d');
    const killedMs = Date.now() - since;
    expect(nodesOf(r).has('d')).toBe(true);
    expect(killedMs).toBeLessThan(ttlMs + ttlMs / 3 + 3_000);
    expect(d.service.leasesHeld()).toBe(1);
    console.log(`webhook failover: graceful ${gracefulMs} ms, killed ${killedMs} ms (lease ${ttlMs} ms)`);
  }, 120_000);

  it('refuses the progress commit of a node that lost the lease, and stops it there', async () => {
    const c = await cluster(1);
    const r = await receiver();
    const a = await c.node('a', 60_000);
    await c.append(3);
    // A's first batch is held at the receiver while the lease moves on; B's attempts fail.
    r.script = (req) => (req.headers['x-node'] === 'a' ? { status: 200, delayMs: 3_000 } : { status: 503 });
    const id = await createWebhook(a, c.topic.name, r.url);
    await r.waitFor(() => r.requests.length >= 1, 10_000, "a's first request");
    // The lease expires (A is stuck) and another node takes it over.
    await c.db
      .update(leases)
      .set({ expiresAt: sql`now() - interval '1 second'` })
      .where(sql`${leases.name} = ${webhookLease(id)}`);
    const thief = new Leases(c.db, { ttlMs: 60_000, exclusive: false, nodeId: 'node-b' });
    expect(await thief.acquire(webhookLease(id))).toBeDefined();
    await r.waitFor(() => r.requests.some((q) => q.accepted), 10_000, "a's batch accepted");
    const repo = new WebhookRepository(c.db, 100);
    const committed = async () => (await repo.loadProgress(id, c.topic.name)).get(0)?.offset ?? 0;
    const deadline = Date.now() + 10_000;
    while (a.service.leasesHeld() > 0 && (await committed()) === 0) {
      if (Date.now() > deadline) throw new Error('A kept running the webhook after its commit was fenced');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(await committed()).toBe(0); // A's delivery was not committed: B re-sends it
    expect(a.service.leasesHeld()).toBe(0);
    expect(r.requests.filter((q) => q.headers['x-node'] === 'a')).toHaveLength(1);
  }, 60_000);
});
