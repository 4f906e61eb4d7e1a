// The one middleware that enforces the permission table: finds the operation a request is
// for, establishes its principal (401 when it has none), and checks every declared grant (403).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { matchedRoutes } from 'hono/route';
import type { App, AppEnv } from '../http/app-env.js';
import { ApiError } from '../http/errors.js';
import type { Services } from '../services.js';
import { ANONYMOUS, type Peer } from './auth-service.js';
import { KEY_PREFIX } from './api-keys.js';
import { allows, allowsSome, type Action, type Resource } from './grants.js';
import {
  extraRoutePermissions,
  operationPermissions,
  type Declaration,
  type NameSource,
  type Requirement,
} from './permissions.js';
import { describePrincipal, type Principal } from './principal.js';
import { streamTopicOfUrlPath } from '../durable-streams/stream-path.js';
import type { StreamWatch } from './stream-watch.js';

/** What the request is for: its operation (null for routes outside the OpenAPI document). */
interface Target {
  operationId: string | null;
  declaration: Declaration | undefined;
  params: (path: string) => Record<string, string>;
}

const NO_GRANTS: Principal = Object.freeze({ kind: 'anonymous', keyId: null, grants: [], expiresAt: null });

export function authMiddleware(services: Services, app: () => App, watch: StreamWatch): MiddlewareHandler<AppEnv> {
  const { auth, config } = services;
  let targets: Map<string, Target> | undefined;
  const targetFor = (method: string, path: string): Target | undefined => {
    targets ??= buildTargets(app(), config.auth);
    return targets.get(`${method} ${path}`);
  };

  return async (c, next) => {
    const route = matchedRoutes(c)
      .filter((r) => r.method !== 'ALL')
      .at(-1);
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    // `:path{.+}` (a parameter that may hold '/') is documented as `{path}`.
    const routePath = route?.path.replace(/(:[A-Za-z0-9_]+)\{[^}]*\}/g, '$1');
    const routeMethod = route?.method === 'HEAD' ? 'GET' : route?.method;
    // HEAD is served by the GET handler; an operation documented for HEAD declares its own permission.
    const target =
      route && routePath !== undefined && routeMethod !== undefined
        ? ((c.req.method === 'HEAD' ? targetFor('HEAD', routePath) : undefined) ?? targetFor(routeMethod, routePath))
        : undefined;
    c.set('operationId', target?.operationId ?? null);
    if (target?.declaration?.requires === 'public') {
      c.set('principal', NO_GRANTS);
      return next();
    }

    const principal = await establish(c, method, target?.declaration);
    c.set('principal', principal);
    // An unknown path or method: a credential was required, the 404/405 follows.
    if (!route || !target) return next();
    const declaration = target.declaration;
    if (!declaration) {
      throw new ApiError(
        'forbidden',
        `operation ${target.operationId ?? route.path} declares no permission, so it is refused (deny by default)`,
      );
    }
    const params = target.params(c.req.path);
    for (const requirement of declaration.requires as Requirement[]) {
      await check(c, principal, requirement, params);
    }
    await next();
    // An SSE stream outlives this call: it ends when its credential does.
    if (
      (principal.kind === 'token' || principal.kind === 'key') &&
      (c.res.headers.get('content-type') ?? '').startsWith('text/event-stream')
    ) {
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (outgoing && !outgoing.writableEnded && !outgoing.destroyed) watch.add(principal, outgoing);
    }
  };

  async function establish(c: Context<AppEnv>, method: string, declaration: Declaration | undefined) {
    const peer = (): Peer => ({ loopback: isLoopbackPeer(c) });
    const header = c.req.header('authorization');
    let credential: string | undefined;
    if (header !== undefined) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (!m) throw new ApiError('unauthorized', 'the Authorization header must be `Bearer <key or token>`');
      credential = m[1];
    } else if (c.req.url.includes('access_token=')) {
      const fromQuery = c.req.query('access_token');
      if (fromQuery) {
        if (fromQuery.startsWith(KEY_PREFIX)) {
          throw new ApiError(
            'unauthorized',
            'API keys are never accepted in the URL (URLs end up in logs and histories): send `Authorization: Bearer`, or mint a browser token (POST /v1/tokens)',
          );
        }
        if (method !== 'GET' || !declaration?.queryToken) {
          throw new ApiError(
            'unauthorized',
            '`?access_token=` is accepted only on GET streams (SSE, long-poll reads) and the API reference (/docs, /openapi.json); send `Authorization: Bearer <token>`',
          );
        }
        credential = fromQuery;
      }
    }
    if (credential === undefined) {
      const open = await auth.anonymousAllowed(peer());
      if (!open.ok) throw new ApiError('unauthorized', open.error.message, {}, { 'www-authenticate': 'Bearer' });
      return ANONYMOUS;
    }
    const result = await auth.authenticate(credential, () => auth.anonymousAllowed(peer()));
    if (!result.ok) {
      throw new ApiError(
        'unauthorized',
        result.error.message,
        {},
        { 'www-authenticate': 'Bearer error="invalid_token"' },
      );
    }
    return result.value;
  }

  async function check(
    c: Context<AppEnv>,
    principal: Principal,
    req: Requirement,
    params: Record<string, string>,
  ): Promise<void> {
    const names = await resolveNames(c, services, req.name, params);
    if (names === 'any') {
      if (!allowsSome(principal.grants, req.resource, req.action))
        throw denied(principal, req.resource, req.action, null);
      return;
    }
    if (names === 'missing') {
      // The named thing does not exist: the handler answers 404 to anyone who could act on some name.
      if (!allowsSome(principal.grants, req.resource, req.action))
        throw denied(principal, req.resource, req.action, null);
      return;
    }
    for (const name of names) {
      if (!allows(principal.grants, req.resource, name, req.action))
        throw denied(principal, req.resource, req.action, name);
    }
  }
}

function denied(p: Principal, resource: Resource, action: Action, name: string | null): ApiError {
  const what = name === null ? `any ${resource}` : `${resource} ${JSON.stringify(name)}`;
  return new ApiError('forbidden', `${describePrincipal(p)} may not ${action} ${what} (needs ${resource}:${action})`, {
    needs: { resource, action, ...(name === null ? {} : { name }) },
  });
}

/**
 * The names a requirement is checked against: a list, `any` (list operations), or `missing`
 * (a looked-up id that does not exist). A body or query that cannot be read yields `*`, which
 * only an unrestricted grant matches; the operation's own validation then answers 400.
 */
async function resolveNames(
  c: Context<AppEnv>,
  services: Services,
  source: NameSource,
  params: Record<string, string>,
): Promise<string[] | 'any' | 'missing'> {
  if ('any' in source) return 'any';
  if ('streamTopic' in source) return [streamTopicOfUrlPath(new URL(c.req.url).pathname)];
  if ('fixed' in source) return [source.fixed];
  if ('lookup' in source) {
    const id = params[source.param] ?? '';
    if (source.lookup === 'webhookTopic') {
      const found = await services.webhooks.get(id);
      return found.ok ? [found.value.row.topic] : 'missing';
    }
    const found = await services.auth.keys.get(id);
    return found.ok ? [found.value.name] : 'missing';
  }
  if ('param' in source) return [params[source.param] ?? '*'];
  if ('query' in source) {
    const raw = c.req.query(source.query);
    if (raw === undefined) return ['*'];
    const names = source.list ? raw.split(',').map((s) => s.trim()) : [raw];
    const nonEmpty = names.filter((n) => n !== '');
    return nonEmpty.length > 0 ? nonEmpty : ['*'];
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    return ['*'];
  }
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[source.body] : undefined;
  if (source.optional && (value === undefined || value === null)) return [];
  if (source.list) {
    if (!Array.isArray(value) || value.length === 0 || !value.every((v) => typeof v === 'string')) return ['*'];
    return value as string[];
  }
  return typeof value === 'string' && value !== '' ? [value] : ['*'];
}

/** The TCP peer is loopback and no proxy in front says it forwarded someone else. */
function isLoopbackPeer(c: Context<AppEnv>): boolean {
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const address = incoming?.socket?.remoteAddress;
  if (!address) return false;
  if (c.req.header('x-forwarded-for') !== undefined || c.req.header('forwarded') !== undefined) return false;
  return isLoopbackAddress(address);
}

export function isLoopbackAddress(address: string): boolean {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return v4.startsWith('127.') || address === '::1';
}

/** Method + hono path → the operation and its declaration (settings can make /metrics, /docs public). */
function buildTargets(app: App, settings: Services['config']['auth']): Map<string, Target> {
  const map = new Map<string, Target>();
  const publicDeclaration: Declaration = { requires: 'public' };
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== 'route') continue;
    const honoPath = def.route.path.replace(/\{([^}]+)\}/g, ':$1');
    const operationId = def.route.operationId ?? null;
    let declaration = operationId === null ? undefined : operationPermissions[operationId];
    if (operationId === 'metrics' && settings.metricsPublic) declaration = publicDeclaration;
    map.set(`${def.route.method.toUpperCase()} ${honoPath}`, {
      operationId,
      declaration,
      params: paramExtractor(honoPath),
    });
  }
  for (const [key, declaration] of Object.entries(extraRoutePermissions)) {
    const [method = '', path = ''] = key.split(' ');
    const docs = path === '/docs' || path === '/openapi.json';
    map.set(`${method} ${path}`, {
      operationId: null,
      declaration: docs && settings.docsPublic ? publicDeclaration : declaration,
      params: paramExtractor(path),
    });
  }
  return map;
}

function paramExtractor(template: string): (path: string) => Record<string, string> {
  const names: string[] = [];
  const source = template
    .split('/')
    .map((segment) => {
      if (!segment.startsWith(':')) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      names.push(segment.slice(1));
      return '([^/]+)';
    })
    .join('/');
  if (names.length === 0) return () => ({});
  const regex = new RegExp(`^${source}/?$`);
  return (path) => {
    const m = regex.exec(path);
    const out: Record<string, string> = {};
    names.forEach((name, i) => {
      const raw = m?.[i + 1];
      if (raw === undefined) return;
      try {
        out[name] = decodeURIComponent(raw);
      } catch {
        out[name] = raw;
      }
    });
    return out;
  };
}
