// The permission table: every operation of the API (by operationId) declares what it needs.
// One middleware enforces it, the OpenAPI document publishes it, and a test fails on a gap.
import type { Action, Resource } from './grants.js';

/** Where the checked name comes from. */
export type NameSource =
  /** A path parameter (`{topic}`). */
  | { param: string }
  /** A query parameter; `list`: comma-separated names, each checked. */
  | { query: string; list?: boolean }
  /**
   * A top-level JSON body field (a string, or with `list` an array of strings, each checked).
   * `optional`: an absent or null field names nothing, so the requirement holds trivially.
   * `field` (with `list`): the array holds objects, and each one's string `field` is checked.
   */
  | { body: string; list?: boolean; optional?: boolean; field?: string }
  /** Any one name: list operations, whose handlers then show only what the caller may describe. */
  | { any: true }
  /** A fixed name (`cluster` for cluster-wide operations). */
  | { fixed: string }
  /** Looked up from a path id: a webhook is named by its topic, a key by its name. */
  | { lookup: 'webhookTopic' | 'keyName'; param: string }
  /** The topic of the Durable Stream the request path names (`/v1/stream/{path}`). */
  | { streamTopic: true }
  /** The topic of the stream the `Stream-Forked-From` header names; absent, it names nothing. */
  | { forkSource: true };

export interface Requirement {
  resource: Resource;
  action: Action;
  name: NameSource;
}

export interface Declaration {
  /**
   * `public`: never needs a credential (health probes). An array: every requirement must be
   * granted; an empty array means any valid credential (the grants are checked by the handler
   * against what is asked for, as for creating keys and tokens).
   */
  requires: 'public' | Requirement[];
  /** A GET stream (SSE, long-poll), or a page a browser opens, that accepts a browser token as `?access_token=`. */
  queryToken?: boolean;
  /** Checked by the operation itself in addition (shown in the published table). */
  note?: string;
}

const r = (resource: Resource, action: Action, name: NameSource): Requirement => ({ resource, action, name });
const param = (p: string): NameSource => ({ param: p });
const ANY: NameSource = { any: true };
const CLUSTER: NameSource = { fixed: 'cluster' };
const webhookTopic: NameSource = { lookup: 'webhookTopic', param: 'id' };
const keyName: NameSource = { lookup: 'keyName', param: 'id' };
const streamTopic: NameSource = { streamTopic: true };
const forkSource: NameSource = { forkSource: true };
/** A dead-letter topic is written by Sluice on the caller's behalf: naming one needs topic:write on it. */
const deadLetterWrite = r('topic', 'write', { body: 'dead_letter_topic', optional: true });

/**
 * Every operation's permission, keyed by operationId. Adding a route? Add its line here
 * (test/auth-permissions.test.ts fails until you do; an undeclared operation is refused).
 */
export const operationPermissions: Record<string, Declaration> = {
  // Topics
  // Exposing an existing Kafka topic (`kafka_topic`) reads and writes data Sluice did not create:
  // the caller also needs topic:create on that Kafka topic's name (Kafka's ACLs name it too).
  createTopic: {
    requires: [r('topic', 'create', { body: 'name' }), r('topic', 'create', { body: 'kafka_topic', optional: true })],
  },
  listTopics: { requires: [r('topic', 'describe', ANY)], note: 'lists only topics the caller may describe' },
  getTopic: { requires: [r('topic', 'describe', param('topic'))] },
  updateTopic: { requires: [r('topic', 'alter', param('topic'))] },
  deleteTopic: { requires: [r('topic', 'delete', param('topic'))] },
  // Records
  produceRecords: { requires: [r('topic', 'write', param('topic'))] },
  readRecords: { requires: [r('topic', 'read', param('topic'))], queryToken: true },
  // Live (SSE)
  streamPartitionEvents: { requires: [r('topic', 'read', param('topic'))], queryToken: true },
  streamTopicEvents: { requires: [r('topic', 'read', param('topic'))], queryToken: true },
  // Consumer groups
  joinGroup: { requires: [r('group', 'read', param('group')), r('topic', 'read', { body: 'topics', list: true })] },
  fetchGroupRecords: {
    requires: [r('group', 'read', param('group'))],
    queryToken: true,
    note: 'and topic:read on each of the member’s topics, checked by the fetch',
  },
  heartbeatGroupMember: { requires: [r('group', 'read', param('group'))] },
  leaveGroup: {
    requires: [r('group', 'read', param('group'))],
    note: 'with a cursor, also topic:read on each of the member’s topics, checked by the leave',
  },
  // Moving a group's positions decides which of a topic's records its consumers skip: as Kafka's
  // OffsetCommit needs READ on each topic, a commit or reset needs topic:read on what it moves.
  commitGroupOffsets: {
    requires: [
      r('group', 'write', param('group')),
      r('topic', 'read', { body: 'offsets', list: true, field: 'topic' }),
    ],
  },
  resetGroupOffsets: { requires: [r('group', 'write', param('group')), r('topic', 'read', { body: 'topic' })] },
  listGroups: { requires: [r('group', 'describe', ANY)], note: 'lists only groups the caller may describe' },
  getGroup: {
    requires: [r('group', 'describe', param('group'))],
    note: 'shows offsets and lag only of topics the caller may describe',
  },
  deleteGroup: { requires: [r('group', 'delete', param('group'))] },
  streamGroupEvents: {
    requires: [r('group', 'read', param('group')), r('topic', 'read', { query: 'topics', list: true })],
    queryToken: true,
  },
  // Webhooks (named by the topic they deliver)
  createWebhook: {
    requires: [r('webhook', 'create', { body: 'topic' }), r('topic', 'read', { body: 'topic' }), deadLetterWrite],
  },
  listWebhooks: { requires: [r('webhook', 'describe', ANY)], note: 'lists only webhooks the caller may describe' },
  getWebhook: { requires: [r('webhook', 'describe', webhookTopic)] },
  // Changing a webhook decides where its topic's records go (its URL, or failures into a
  // dead-letter topic): it needs topic:read on that topic, as creating one does.
  updateWebhook: {
    requires: [r('webhook', 'alter', webhookTopic), r('topic', 'read', webhookTopic), deadLetterWrite],
  },
  deleteWebhook: { requires: [r('webhook', 'delete', webhookTopic)] },
  rotateWebhookSecret: { requires: [r('webhook', 'alter', webhookTopic)] },
  listWebhookDeliveries: { requires: [r('webhook', 'describe', webhookTopic)] },
  // Queues: the queue is named as a group (one namespace, as Kafka's share groups use group ACLs)
  putQueue: { requires: [r('topic', 'read', param('topic')), r('group', 'alter', param('queue')), deadLetterWrite] },
  listQueues: {
    requires: [r('topic', 'describe', param('topic')), r('group', 'describe', ANY)],
    note: 'lists only queues whose name the caller may describe as a group',
  },
  getQueue: { requires: [r('topic', 'describe', param('topic')), r('group', 'describe', param('queue'))] },
  deleteQueue: { requires: [r('topic', 'read', param('topic')), r('group', 'delete', param('queue'))] },
  receiveFromQueue: {
    requires: [r('topic', 'read', param('topic')), r('group', 'read', param('queue'))],
    note: 'a receive on a queue that does not exist creates it with defaults',
  },
  ackQueueRecords: { requires: [r('topic', 'read', param('topic')), r('group', 'read', param('queue'))] },
  streamQueueEvents: {
    requires: [r('topic', 'read', param('topic')), r('group', 'read', param('queue'))],
    queryToken: true,
  },
  // Durable Streams: a stream is its topic
  // A fork copies its source's records into a topic the caller may read: as reading the source would.
  createStream: {
    requires: [r('topic', 'create', streamTopic), r('topic', 'read', forkSource)],
    note: 'the topic is the stream path escaped (`/` → `__`); confirming an existing stream needs the same; adopting an existing empty topic also needs topic:delete on it, checked by the operation',
  },
  appendToStream: { requires: [r('topic', 'write', streamTopic)] },
  readStream: { requires: [r('topic', 'read', streamTopic)], queryToken: true },
  headStream: { requires: [r('topic', 'read', streamTopic)] },
  deleteStream: { requires: [r('topic', 'delete', streamTopic)] },
  // Access control
  createKey: {
    requires: [r('key', 'create', { body: 'name' })],
    note: 'the new key’s grants must be held by the caller',
  },
  listKeys: { requires: [r('key', 'describe', ANY)], note: 'lists only keys the caller may describe' },
  getKey: { requires: [r('key', 'describe', keyName)] },
  updateKey: {
    requires: [r('key', 'alter', keyName)],
    note: 'quotas no larger than the caller’s own',
  },
  revokeKey: { requires: [r('key', 'delete', keyName)] },
  createToken: { requires: [], note: 'the token’s grants must be held by the caller' },
  whoami: { requires: [], note: 'answers with the caller’s own grants' },
  // System
  healthz: { requires: 'public' },
  readyz: { requires: 'public' },
  metrics: { requires: [r('cluster', 'describe', CLUSTER)], note: 'public with SLUICE_METRICS_PUBLIC=true' },
  streamOverview: {
    requires: [],
    queryToken: true,
    note: 'shows only the topics, groups and webhooks the caller may describe (a group’s total_lag sums only those topics); health and rates need cluster:describe',
  },
};

/** Routes outside the OpenAPI document, keyed `METHOD path`. */
export const extraRoutePermissions: Record<string, Declaration> = {
  // A browser following a link sends no Authorization header: the dashboard's link to the reference
  // carries a browser token holding only cluster:describe, and the page passes it on to its document.
  'GET /openapi.json': {
    requires: [r('cluster', 'describe', CLUSTER)],
    queryToken: true,
    note: 'public with SLUICE_DOCS_PUBLIC=true',
  },
  'GET /docs': {
    requires: [r('cluster', 'describe', CLUSTER)],
    queryToken: true,
    note: 'public with SLUICE_DOCS_PUBLIC=true',
  },
  // The dashboard's static files hold no data; the page asks for a key and calls the API with it.
  'GET /ui': { requires: 'public' },
  'GET /ui/': { requires: 'public' },
  'GET /ui/app.js': { requires: 'public' },
  'GET /ui/app.css': { requires: 'public' },
};

/** `topic:read on {topic}` style text of a requirement, for the OpenAPI document and errors. */
export function describeRequirement(req: Requirement): string {
  const n = req.name;
  if ('streamTopic' in n) return `${req.resource}:${req.action} on the topic of stream {path}`;
  if ('forkSource' in n) return `${req.resource}:${req.action} on the topic of stream Stream-Forked-From (when given)`;
  const name =
    'param' in n && !('lookup' in n)
      ? `{${n.param}}`
      : 'query' in n
        ? `each of ?${n.query}=`
        : 'body' in n
          ? n.list
            ? n.field !== undefined
              ? `each of body.${n.body}[].${n.field}`
              : `each of body.${n.body}`
            : n.optional
              ? `body.${n.body} (when given)`
              : `body.${n.body}`
          : 'any' in n
            ? 'any name'
            : 'fixed' in n
              ? n.fixed
              : n.lookup === 'webhookTopic'
                ? `the topic of webhook {${n.param}}`
                : `the name of key {${n.param}}`;
  return `${req.resource}:${req.action} on ${name}`;
}
