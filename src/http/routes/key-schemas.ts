// OpenAPI/zod schemas of the API key and browser token endpoints, and the mapping from a
// stored key to its wire shape (the secret appears only in the creation answer).
import { z } from '@hono/zod-openapi';
import type { ApiKey } from '../../auth/api-keys.js';
import { Grants } from '../../auth/grants.js';
import type { KeyQuotas } from '../../auth/key-quotas.js';
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

export const KeyQuotasJson = z
  .strictObject({
    produce_bytes_per_sec: z.number().int().min(0).max(1_000_000_000_000).optional().openapi({
      description: 'Bytes/s this key may produce (0: no quota); default SLUICE_KEY_PRODUCE_BYTES_PER_SEC.',
      example: 1_048_576,
    }),
    read_bytes_per_sec: z.number().int().min(0).max(1_000_000_000_000).optional().openapi({
      description: 'Bytes/s of records this key may read (0: no quota); default SLUICE_KEY_READ_BYTES_PER_SEC.',
    }),
    max_streams: z.number().int().min(1).max(1_000_000).optional().openapi({
      description: 'SSE streams and long-polls this key may hold open at once; default SLUICE_KEY_MAX_STREAMS.',
      example: 10,
    }),
  })
  .openapi('KeyQuotas', {
    description:
      'Overrides of the per-key quotas (a field left out follows the server default). Counted per server process; ' +
      'a browser token counts against the key that minted it. A key cannot give more than its own quotas (403).',
  });

export function quotasFromJson(q: z.infer<typeof KeyQuotasJson> | null | undefined): KeyQuotas | null {
  if (!q) return null;
  const out: KeyQuotas = {};
  if (q.produce_bytes_per_sec !== undefined) out.produceBytesPerSec = q.produce_bytes_per_sec;
  if (q.read_bytes_per_sec !== undefined) out.readBytesPerSec = q.read_bytes_per_sec;
  if (q.max_streams !== undefined) out.maxStreams = q.max_streams;
  return Object.keys(out).length > 0 ? out : null;
}

function quotasJson(q: KeyQuotas | null): z.infer<typeof KeyQuotasJson> | null {
  if (!q) return null;
  return {
    ...(q.produceBytesPerSec === undefined ? {} : { produce_bytes_per_sec: q.produceBytesPerSec }),
    ...(q.readBytesPerSec === undefined ? {} : { read_bytes_per_sec: q.readBytesPerSec }),
    ...(q.maxStreams === undefined ? {} : { max_streams: q.maxStreams }),
  };
}

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
    quotas: KeyQuotasJson.nullable().optional().openapi({
      description: 'Quota overrides; omitted fields follow the creating key’s own overrides, else the server defaults.',
    }),
  })
  .openapi('CreateKeyRequest');

export const UpdateKeyBody = z
  .strictObject({
    quotas: KeyQuotasJson.nullable().openapi({
      description: 'The key’s quota overrides, replacing the previous ones; null: back to the server defaults.',
    }),
  })
  .openapi('UpdateKeyRequest');

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
    quotas: KeyQuotasJson.nullable().openapi({
      description: 'The key’s quota overrides; null (or a field left out): the server defaults.',
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
    quotas: quotasJson(key.quotas),
  };
}

export const CreateTokenBody = z
  .strictObject({
    grants: GrantList,
    ttl_ms: z.number().int().min(1_000).max(MAX_TOKEN_TTL_MS).openapi({
      description:
        'Lifetime in ms (1 s – 24 h), rounded up to the whole second the token’s `exp` states; never beyond the expiry of the caller’s key (then rounded down).',
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
    expires_at: z
      .number()
      .int()
      .openapi({ description: 'Unix ms: exactly the token’s `exp` claim (whole seconds) × 1000.' }),
  })
  .openapi('Token');
