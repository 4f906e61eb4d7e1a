// GET /v1/whoami — the caller as the server sees it: kind, key id, grants, expiry and the access
// mode; what a page needs to show only what its key may do and to mint a token with those grants.
import { createRoute, z } from '@hono/zod-openapi';
import { Grant } from '../../auth/grants.js';
import type { RouteModule } from '../app-env.js';
import { errorResponses } from '../errors.js';

export const WhoamiJson = z
  .object({
    kind: z.enum(['anonymous', 'key', 'admin', 'token']).openapi({
      description:
        '`anonymous`: no credential was needed (SLUICE_AUTH=none, or auto mode on loopback before the first key); ' +
        '`key`, `admin` (SLUICE_ADMIN_KEY) or `token` (a browser token).',
    }),
    key_id: z
      .string()
      .nullable()
      .openapi({ description: 'The key behind the request (`admin` for SLUICE_ADMIN_KEY); never a secret.' }),
    grants: z
      .array(Grant)
      .openapi({ description: 'What the caller may do; anonymous and admin callers hold every grant.' }),
    expires_at: z
      .number()
      .int()
      .nullable()
      .openapi({ description: 'Unix ms after which the credential is refused; null = no expiry.' }),
    auth_mode: z.enum(['auto', 'keys', 'none']).openapi({ description: 'SLUICE_AUTH.' }),
  })
  .openapi('Whoami');

export const whoamiRoute = createRoute({
  method: 'get',
  path: '/v1/whoami',
  tags: ['Access control'],
  operationId: 'whoami',
  summary: 'Who the caller is and what it may do',
  description:
    'Any valid credential (or none, where none is needed) may ask. A dashboard uses it to hide what the key may not do ' +
    'and to mint a browser token (POST /v1/tokens) with the same grants for its `EventSource` streams.',
  responses: {
    200: { description: 'The caller', content: { 'application/json': { schema: WhoamiJson } } },
    ...errorResponses(401, 503),
  },
});

export const registerWhoami: RouteModule = (app) =>
  app.openapi(whoamiRoute, (c) => {
    const p = c.get('principal');
    return c.json(
      {
        kind: p.kind,
        key_id: p.keyId,
        grants: [...p.grants],
        expires_at: p.expiresAt,
        auth_mode: c.get('services').auth.mode,
      },
      200,
    );
  });
