// The audit trail: every attempt at an operation that changes topics, groups, queues, webhooks,
// keys or committed positions (offset resets) is one JSON log line with `audit: true`, who
// asked (principal kind and key id, never a secret), the resource, the outcome and the request id.
import type { Context } from 'hono';
import type { Logger } from '../../logger.js';
import type { AppEnv } from '../app-env.js';
import { streamPathOfRequestUrl, streamTopicOfRequestUrl } from '../../durable-streams/stream-path.js';
import { matchedRoute } from '../matched-route.js';

type Json = Record<string, unknown>;

interface Audited {
  /** `topic.create`, `group.offsets_reset`, … */
  event: string;
  resource: 'topic' | 'group' | 'queue' | 'webhook' | 'key' | 'token';
  /** The resource's name or id, and any details worth keeping, from the path, request body or response. */
  describe(c: Context<AppEnv>, body: Json, response: Json): { name?: unknown } & Json;
  /** The request body is a stream's data, not JSON to describe: never read. */
  dataBody?: true;
}

/** A Durable Stream, named by its topic (what grants and the topic API name), with its path. */
function streamResource(c: Context<AppEnv>): { name: string; stream: string | null } {
  const path = streamPathOfRequestUrl(c.req.url);
  return { name: streamTopicOfRequestUrl(c.req.url), stream: path.ok ? path.value : null };
}

/**
 * A path parameter of the matched route. Read from the template, not c.req.param(): that
 * answers for the handler being run, and a refused request never reaches its handler.
 */
function pathParam(c: Context<AppEnv>, name: string): string | undefined {
  const template = matchedRoute(c)?.path;
  if (!template) return undefined;
  const at = template.split('/').indexOf(`:${name}`);
  const segment = at < 0 ? undefined : c.req.path.split('/')[at];
  return segment === undefined ? undefined : decodeSegment(segment);
}

/** A path segment decoded as the router decodes it: malformed percent-encoding stays as sent. */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const param = (name: string) => (c: Context<AppEnv>) => ({ name: pathParam(c, name) });

/** The operations audited, by operationId. Reads and consumer traffic (joins, commits) are not. */
export const AUDITED: Record<string, Audited> = {
  createTopic: { event: 'topic.create', resource: 'topic', describe: (_c, b) => ({ name: b['name'] }) },
  updateTopic: { event: 'topic.alter', resource: 'topic', describe: param('topic') },
  deleteTopic: { event: 'topic.delete', resource: 'topic', describe: param('topic') },
  createStream: { event: 'stream.create', resource: 'topic', describe: streamResource, dataBody: true },
  deleteStream: { event: 'stream.delete', resource: 'topic', describe: streamResource, dataBody: true },
  deleteGroup: { event: 'group.delete', resource: 'group', describe: param('group') },
  resetGroupOffsets: {
    event: 'group.offsets_reset',
    resource: 'group',
    describe: (c, b) => ({ name: pathParam(c, 'group'), topic: b['topic'], to: b['to'], partitions: b['partitions'] }),
  },
  putQueue: {
    event: 'queue.put',
    resource: 'queue',
    describe: (c) => ({ name: pathParam(c, 'queue'), topic: pathParam(c, 'topic') }),
  },
  deleteQueue: {
    event: 'queue.delete',
    resource: 'queue',
    describe: (c) => ({ name: pathParam(c, 'queue'), topic: pathParam(c, 'topic') }),
  },
  createWebhook: {
    event: 'webhook.create',
    resource: 'webhook',
    describe: (_c, b, r) => ({ name: r['id'], topic: b['topic'] }),
  },
  updateWebhook: { event: 'webhook.alter', resource: 'webhook', describe: param('id') },
  deleteWebhook: { event: 'webhook.delete', resource: 'webhook', describe: param('id') },
  rotateWebhookSecret: { event: 'webhook.rotate_secret', resource: 'webhook', describe: param('id') },
  createKey: {
    event: 'key.create',
    resource: 'key',
    describe: (_c, b, r) => ({ name: r['id'], key_name: b['name'], grants: b['grants'] }),
  },
  updateKey: {
    event: 'key.alter',
    resource: 'key',
    describe: (c, b) => ({ name: pathParam(c, 'id'), quotas: b['quotas'] }),
  },
  revokeKey: { event: 'key.revoke', resource: 'key', describe: param('id') },
  createToken: {
    event: 'token.create',
    resource: 'token',
    describe: (_c, b) => ({ grants: b['grants'], ttl_ms: b['ttl_ms'] }),
  },
};

async function jsonOf(read: () => Promise<unknown>): Promise<Json> {
  try {
    const v = await read();
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
  } catch {
    return {};
  }
}

/**
 * Run once a request is answered (by the request context, so refused attempts are audited too;
 * it needs the principal and operationId auth set): logs one `audit: true` line per attempt at an
 * audited operation, at info level even when SLUICE_LOG_LEVEL is higher (unless `silent`).
 * Returns undefined at once for every other request.
 */
export function auditLog(logger: Logger): (c: Context<AppEnv>) => Promise<void> | undefined {
  const audit = logger.child({ audit: true }, { level: logger.level === 'silent' ? 'silent' : 'info' });
  return (c) => {
    const operation = c.get('operationId');
    const spec = operation ? AUDITED[operation] : undefined;
    if (!spec || !operation) return undefined;
    return write(c, operation, spec);
  };

  async function write(c: Context<AppEnv>, operation: string, spec: Audited): Promise<void> {
    const status = c.res.status;
    // The request body was parsed (and cached) by the route's validator; nothing is read twice.
    const body = spec.dataBody ? {} : await jsonOf(() => c.req.json());
    // Only the fields `describe` picks are kept: never a created key's secret or a webhook's.
    const response = status < 300 ? await jsonOf(() => c.res.clone().json()) : {};
    const principal = c.get('principal');
    audit.info(
      {
        request_id: c.get('requestId'),
        event: spec.event,
        operation,
        outcome: status < 300 ? 'success' : status === 401 || status === 403 ? 'denied' : 'failed',
        status,
        principal: principal?.kind ?? 'anonymous',
        key_id: principal?.keyId ?? null,
        resource: spec.resource,
        ...spec.describe(c, body, response),
      },
      `audit ${spec.event}`,
    );
  }
}
