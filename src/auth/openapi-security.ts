// Publishes the permission table in the OpenAPI document: `securitySchemes`, and on every
// operation its `security`, an `x-sluice-permission` extension and the 401/403 answers.
import { describeRequirement, operationPermissions, type Requirement } from './permissions.js';

interface Operation {
  operationId?: string;
  responses?: Record<string, unknown>;
  security?: Array<Record<string, string[]>>;
  [extension: `x-${string}`]: unknown;
}

interface Document {
  paths?: Record<string, Record<string, unknown>>;
  components?: { securitySchemes?: Record<string, unknown>; schemas?: Record<string, unknown> };
}

export const securitySchemes = {
  bearerAuth: {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key (`slk_…`, POST /v1/keys) or a browser token (POST /v1/tokens). Not needed in `SLUICE_AUTH=none`, ' +
      'nor in `auto` mode from loopback while no key exists.',
  },
  accessToken: {
    type: 'apiKey',
    in: 'query',
    name: 'access_token',
    description: 'A browser token in the URL, for `EventSource`: accepted only on GET streams (SSE, long-poll reads).',
  },
} as const;

const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

/** The published form of an operation's declaration (also used by the README table). */
export function permissionExtension(operationId: string): Record<string, unknown> | null {
  const declaration = operationPermissions[operationId];
  if (!declaration) return null;
  if (declaration.requires === 'public') return { public: true };
  return {
    requires: declaration.requires.map((r: Requirement) => ({
      resource: r.resource,
      action: r.action,
      name: describeRequirement(r).replace(/^[a-z]+:[a-z]+ on /, ''),
    })),
    ...(declaration.queryToken ? { query_token: true } : {}),
    ...(declaration.note ? { note: declaration.note } : {}),
  };
}

/** Add the security information to `document` in place (operations without a declaration get none, and a test fails). */
export function publishPermissions<D extends object>(document: D): D {
  const doc = document as Document;
  const components = (doc.components ??= {});
  components.securitySchemes = { ...components.securitySchemes, ...securitySchemes };
  const errorRef = { $ref: '#/components/schemas/Error' };
  for (const item of Object.values(doc.paths ?? {})) {
    for (const [method, value] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const op = value as Operation;
      const declaration = op.operationId ? operationPermissions[op.operationId] : undefined;
      if (!declaration || !op.operationId) continue;
      op['x-sluice-permission'] = permissionExtension(op.operationId);
      if (declaration.requires === 'public') {
        op.security = [];
        continue;
      }
      op.security = declaration.queryToken ? [{ bearerAuth: [] }, { accessToken: [] }] : [{ bearerAuth: [] }];
      const responses = (op.responses ??= {});
      responses['401'] ??= {
        description: 'Unauthorized: no valid credential',
        content: { 'application/json': { schema: errorRef } },
      };
      if (declaration.requires.length > 0 || op.operationId === 'createToken' || op.operationId === 'createKey') {
        responses['403'] ??= {
          description: 'Forbidden: the credential lacks a grant this operation needs (see x-sluice-permission)',
          content: { 'application/json': { schema: errorRef } },
        };
      }
    }
  }
  return document;
}

/**
 * The README's permission table (one Markdown row per operation, in document order), built from
 * the published document so the two cannot drift apart (a test compares them).
 */
export function permissionTableRows(document: object): string[] {
  const rows: string[] = [];
  const paths = (document as Document).paths ?? {};
  for (const [path, item] of Object.entries(paths)) {
    for (const [method, value] of Object.entries(item)) {
      if (!METHODS.has(method)) continue;
      const op = value as Operation;
      const ext = op['x-sluice-permission'] as
        | {
            public?: true;
            requires?: Array<{ resource: string; action: string; name: string }>;
            note?: string;
            query_token?: true;
          }
        | undefined;
      if (!ext) continue;
      const needs = ext.public
        ? 'none (public)'
        : ext.requires!.length === 0
          ? 'any valid credential'
          : ext.requires!.map((r) => `\`${r.resource}:${r.action}\` on ${r.name}`).join(' and ');
      const extra = [ext.note, ext.query_token ? 'token also as `?access_token=`' : undefined].filter(Boolean);
      rows.push(`| \`${method.toUpperCase()} ${path}\` | ${needs}${extra.length ? ` (${extra.join('; ')})` : ''} |`);
    }
  }
  return rows;
}
