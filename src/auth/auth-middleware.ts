// The one middleware that enforces the permission table: finds the operation a request is
// for, establishes its principal (401 when it has none), and checks every declared grant (403).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Context, MiddlewareHandler, Next } from 'hono';
import type { App, AppEnv } from '../http/app-env.js';
import { ApiError } from '../http/errors.js';
import { matchedRoute, type MatchedRoute } from '../http/matched-route.js';
import { NOT_READY } from './fresh-cache.js';
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
import { forkSourceTopic, streamTopicOfRequestUrl } from '../durable-streams/stream-path.js';
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
  // The operation of each (request method, matched route), resolved once.
  const resolved = new Map<string, Target | null>();
  const resolve = (method: string, route: MatchedRoute): Target | undefined => {
    const key = `${method} ${route.method} ${route.path}`;
    let target = resolved.get(key);
    if (target === undefined) {
      // `:path{.+}` (a parameter that may hold '/') is documented as `{path}`.
      const routePath = route.path.replace(/(:[A-Za-z0-9_]+)\{[^}]*\}/g, '$1');
      const routeMethod = route.method === 'HEAD' ? 'GET' : route.method;
      // HEAD is served by the GET handler; an operation documented for HEAD declares its own permission.
      target =
        (method === 'HEAD' ? targetFor('HEAD', routePath) : undefined) ?? targetFor(routeMethod, routePath) ?? null;
      if (resolved.size < 10_000) resolved.set(key, target);
    }
    return target ?? undefined;
  };

  // Synchronous while everything it needs is known (a cached key, a path parameter), so an
  // ordinary request passes without a promise; whatever has to wait continues in `slow`.
  return (c, next) => {
    const route = matchedRoute(c);
    const method = c.req.method === 'HEAD' ? 'GET' : c.req.method;
    const target = route ? resolve(c.req.method, route) : undefined;
    c.set('operationId', target?.operationId ?? null);
    if (target?.declaration?.requires === 'public') {
      c.set('principal', NO_GRANTS);
      return next();
    }
    const principal = establishNow(c, method, target?.declaration);
    if (principal === NOT_READY) return slow(c, next, route, target, method);
    c.set('principal', principal);
    // An unknown path or method: a credential was required, the 404/405 follows.
    if (!route || !target) return next();
    const requirements = declaredRequirements(target, route);
    const params = target.params(c.req.path);
    for (let i = 0; i < requirements.length; i++) {
      const checked = checkNow(c, principal, requirements[i]!, params);
      if (checked !== undefined) return checked.then(() => rest(c, next, principal, requirements, params, i + 1));
    }
    return proceed(c, next, principal);
  };

  async function slow(
    c: Context<AppEnv>,
    next: Next,
    route: MatchedRoute | null,
    target: Target | undefined,
    method: string,
  ): Promise<void> {
    const principal = await establish(c, method, target?.declaration);
    c.set('principal', principal);
    if (!route || !target) return next();
    const requirements = declaredRequirements(target, route);
    return rest(c, next, principal, requirements, target.params(c.req.path), 0);
  }

  async function rest(
    c: Context<AppEnv>,
    next: Next,
    principal: Principal,
    requirements: Requirement[],
    params: Record<string, string>,
    from: number,
  ): Promise<void> {
    for (let i = from; i < requirements.length; i++) await checkNow(c, principal, requirements[i]!, params);
    return proceed(c, next, principal);
  }

  function proceed(c: Context<AppEnv>, next: Next, principal: Principal): Promise<void> {
    // Only a GET can become an SSE stream (EventSource, `Accept: text/event-stream`); looking at
    // any other answer's headers would make @hono/node-server build a Headers object for it.
    return (principal.kind === 'token' || principal.kind === 'key') && c.req.method === 'GET'
      ? watched(c, next, principal)
      : next();
  }

  /** An SSE stream outlives the request: it ends when its credential does. */
  async function watched(c: Context<AppEnv>, next: Next, principal: Principal): Promise<void> {
    await next();
    if ((c.res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
      if (outgoing && !outgoing.writableEnded && !outgoing.destroyed) watch.add(principal, outgoing);
    }
  }

  /** The credential of the request: undefined for none; throws 401 for a malformed or misplaced one. */
  function credentialOf(c: Context<AppEnv>, method: string, declaration: Declaration | undefined): string | undefined {
    const header = c.req.header('authorization');
    if (header !== undefined) {
      const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
      if (!m) throw new ApiError('unauthorized', 'the Authorization header must be `Bearer <key or token>`');
      return m[1];
    }
    if (!c.req.url.includes('access_token=')) return undefined;
    const fromQuery = c.req.query('access_token');
    if (!fromQuery) return undefined;
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
    return fromQuery;
  }

  /** establish() when nothing has to wait (no credential, or a cached key); NOT_READY otherwise. */
  function establishNow(
    c: Context<AppEnv>,
    method: string,
    declaration: Declaration | undefined,
  ): Principal | typeof NOT_READY {
    const credential = credentialOf(c, method, declaration);
    if (credential === undefined) {
      const open = auth.anonymousAllowedNow({ loopback: isLoopbackPeer(c) });
      if (open === NOT_READY) return NOT_READY;
      if (!open.ok) throw new ApiError('unauthorized', open.error.message, {}, { 'www-authenticate': 'Bearer' });
      return ANONYMOUS;
    }
    const result = auth.authenticateKeyNow(credential);
    if (result === NOT_READY) return NOT_READY;
    if (!result.ok) throw invalidCredential(result.error.message);
    return result.value;
  }

  async function establish(c: Context<AppEnv>, method: string, declaration: Declaration | undefined) {
    const peer = (): Peer => ({ loopback: isLoopbackPeer(c) });
    const credential = credentialOf(c, method, declaration);
    if (credential === undefined) {
      const open = await auth.anonymousAllowed(peer());
      if (!open.ok) throw new ApiError('unauthorized', open.error.message, {}, { 'www-authenticate': 'Bearer' });
      return ANONYMOUS;
    }
    const result = await auth.authenticate(credential, () => auth.anonymousAllowed(peer()));
    if (!result.ok) throw invalidCredential(result.error.message);
    return result.value;
  }

  /** A requirement checked at once when its names are known (undefined), or a promise of the check. */
  function checkNow(
    c: Context<AppEnv>,
    principal: Principal,
    req: Requirement,
    params: Record<string, string>,
  ): Promise<void> | undefined {
    const source = req.name;
    if ('param' in source && !('lookup' in source)) {
      checkNames(principal, req, [params[source.param] ?? '*']);
      return undefined;
    }
    if ('any' in source) {
      checkNames(principal, req, 'any');
      return undefined;
    }
    return check(c, principal, req, params);
  }

  async function check(
    c: Context<AppEnv>,
    principal: Principal,
    req: Requirement,
    params: Record<string, string>,
  ): Promise<void> {
    // A name found by looking up an id (a key's, a webhook's topic) is never told to a caller
    // refused it: the answer is the one an id that does not exist gets.
    checkNames(principal, req, await resolveNames(c, services, req.name, params), !('lookup' in req.name));
  }
}

/** The requirements of an operation; one without a declaration is refused (deny by default). */
function declaredRequirements(target: Target, route: MatchedRoute): Requirement[] {
  const declaration = target.declaration;
  if (!declaration) {
    throw new ApiError(
      'forbidden',
      `operation ${target.operationId ?? route.path} declares no permission, so it is refused (deny by default)`,
    );
  }
  return declaration.requires as Requirement[];
}

function checkNames(
  principal: Principal,
  req: Requirement,
  names: string[] | 'any' | 'missing',
  disclose = true,
): void {
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
      throw denied(principal, req.resource, req.action, disclose ? name : null);
  }
}

function invalidCredential(message: string): ApiError {
  return new ApiError('unauthorized', message, {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
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
  if ('streamTopic' in source) return [streamTopicOfRequestUrl(c.req.url)];
  if ('forkSource' in source) {
    const from = c.req.header('stream-forked-from');
    return from === undefined ? [] : [forkSourceTopic(from)];
  }
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
    if (!Array.isArray(value) || value.length === 0) return ['*'];
    const field = source.field;
    const names =
      field === undefined
        ? value
        : value.map((v: unknown) =>
            v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[field] : undefined,
          );
    if (!names.every((v) => typeof v === 'string')) return ['*'];
    return [...new Set(names as string[])];
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
