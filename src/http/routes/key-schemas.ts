// OpenAPI/zod schemas of the API key and browser token endpoints, and the mapping from a
// stored key to its wire shape (the secret appears only in the creation answer).
import { z } from '@hono/zod-openapi';
import type { ApiKey } from '../../auth/api-keys.js';
import { Grants } from '../../auth/grants.js';
import { MAX_TOKEN_TTL_MS } from '../../auth/tokens.js';

const KEY_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export const KeyIdParam = z.object({
  id: z.string().openapi({ param: { name: 'id', in: 'path' }, example: '6f1c2a7e-51b4-4f0e-9d8c-2b3a4c5d6e7f' }),
});

const GrantList = Grants.openapi({
  description:
    'What the key may do (deny by default). `{"resource":"topic","name":"*","actions":["read","write","create","delete","alter","describe"]}` ' +
    'is every topic action; see the Security section of the README for the permission each operation needs.',
});

export const CreateKeyBody = z
  .strictObject({
    name: z.string().regex(KEY_NAME, 'must be 1–249 characters of a-z, A-Z, 0-9, ".", "_" or "-"').openapi({
      description: 'A label (not unique); `key` grants are checked against it.',
      example: 'orders-producer',
    }),
    grants: GrantList,
    expires_at: z
      .number()
      .int()
      .min(0)
      .nullable()
      .optional()
      .openapi({ description: 'Unix ms after which the key is refused; omit or null for no expiry.' }),
  })
  .openapi('CreateKeyRequest');

export const ApiKeyJson = z
  .object({
    id: z.string(),
    name: z.string(),
    grants: GrantList,
    created_at: z.number().int(),
    expires_at: z.number().int().nullable(),
    revoked_at: z.number().int().nullable().openapi({ description: 'Unix ms of revocation; null while usable.' }),
    created_by: z.string().nullable().openapi({
      description: 'Id of the key that created it (`admin`: SLUICE_ADMIN_KEY; null: created anonymously).',
    }),
  })
  .openapi('ApiKey');

export const ApiKeyWithSecret = ApiKeyJson.extend({
  key: z.string().openapi({
    description: 'The secret (`slk_…`), shown only in this answer: send it as `Authorization: Bearer <key>`.',
  }),
}).openapi('ApiKeyWithSecret');

export function keyJson(key: ApiKey): z.infer<typeof ApiKeyJson> {
  return {
    id: key.id,
    name: key.name,
    grants: key.grants,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
    created_by: key.createdBy,
  };
}

export const CreateTokenBody = z
  .strictObject({
    grants: GrantList,
    ttl_ms: z.number().int().min(1_000).max(MAX_TOKEN_TTL_MS).openapi({
      description: 'Lifetime in ms (1 s – 24 h); never beyond the expiry of the caller’s key.',
      example: 600_000,
    }),
  })
  .openapi('CreateTokenRequest');

export const TokenJson = z
  .object({
    token: z.string().openapi({
      description:
        'A signed token: `Authorization: Bearer <token>`, or `?access_token=<token>` on GET streams (SSE, long-poll) for EventSource.',
    }),
    expires_at: z.number().int().openapi({ description: 'Unix ms.' }),
  })
  .openapi('Token');
