// Every operation of the API declares its permission in src/auth/permissions.ts, and the
// OpenAPI document publishes it: a route added without a declaration fails here.
import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { permissionTableRows } from '../src/auth/openapi-security.js';
import { operationPermissions } from '../src/auth/permissions.js';
import { buildOpenApiDocument } from '../src/http/openapi.js';

interface Op {
  operationId?: string;
  security?: unknown[];
  'x-sluice-permission'?: unknown;
  responses: Record<string, unknown>;
}

function operations(): Array<{ method: string; path: string; op: Op }> {
  const doc = buildOpenApiDocument() as unknown as { paths: Record<string, Record<string, Op>> };
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ method: method.toUpperCase(), path, op })),
  );
}

describe('the permission table', () => {
  it('declares a permission for every operation in the OpenAPI document', () => {
    const missing = operations()
      .filter(({ op }) => !op.operationId || !(op.operationId in operationPermissions))
      .map(({ method, path, op }) => `${method} ${path} (${op.operationId ?? 'no operationId'})`);
    expect(missing, `add these operations to operationPermissions in src/auth/permissions.ts`).toEqual([]);
  });

  it('has no entries for operations that do not exist', () => {
    const ids = new Set(operations().map(({ op }) => op.operationId));
    expect(Object.keys(operationPermissions).filter((id) => !ids.has(id))).toEqual([]);
  });

  it('publishes each declaration as security + x-sluice-permission, with 401/403 answers where they can happen', () => {
    const doc = buildOpenApiDocument() as unknown as { components: { securitySchemes: Record<string, unknown> } };
    expect(Object.keys(doc.components.securitySchemes).sort()).toEqual(['accessToken', 'bearerAuth']);
    for (const { method, path, op } of operations()) {
      const where = `${method} ${path}`;
      expect(op['x-sluice-permission'], where).toBeDefined();
      expect(op.security, where).toBeDefined();
      if ((op.security ?? []).length > 0) expect(op.responses['401'], where).toBeDefined();
      const queryToken = JSON.stringify(op.security).includes('accessToken');
      expect(queryToken ? method : 'GET', `${where}: ?access_token= only on GET streams`).toBe('GET');
    }
    const produce = operations().find(({ op }) => op.operationId === 'produceRecords')!.op;
    expect(produce['x-sluice-permission']).toEqual({
      requires: [{ resource: 'topic', action: 'write', name: '{topic}' }],
    });
  });

  it('is shown in the README as declared (rows for operations added since are reported, not required)', async () => {
    const readme = await fs.readFile(new URL('../README.md', import.meta.url), 'utf8');
    const rows = permissionTableRows(buildOpenApiDocument());
    const shown = readme.split('\n').filter((l) => /^\| `(GET|HEAD|POST|PUT|PATCH|DELETE) \//.test(l));
    const stale = shown.filter((l) => !rows.includes(l));
    expect(stale, 'README Security table rows that no longer match src/auth/permissions.ts').toEqual([]);
    const absent = rows.filter((r) => !shown.includes(r));
    if (absent.length > 0) console.warn(`README Security table lacks:\n${absent.join('\n')}`);
  });
});
