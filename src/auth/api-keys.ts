// API keys: creation (a `slk_` secret shown once, stored as its SHA-256), listing, revocation,
// and the per-request look-up through a cache whose answers are at most 1 s old.
import { hash, randomBytes, randomUUID } from 'node:crypto';
import { and, count, eq, isNull } from 'drizzle-orm';
import { err, ok, type Result } from '../lib/result.js';
import type { MetadataDb } from '../metadata/connection.js';
import { apiKeys, type ApiKeyRow } from '../metadata/schema/api-keys.js';
import { FreshCache, type NOT_READY } from './fresh-cache.js';
import { type Grant, Grants } from './grants.js';
import { quotasFromStored, quotasToStored, type KeyQuotas } from './key-quotas.js';

/** Secrets start with this, so secret scanners (and people) recognise a leaked key. */
export const KEY_PREFIX = 'slk_';

/** A revoked or expired key is refused at most this long after the change (on any node). */
export const KEY_CACHE_MAX_AGE_MS = 1_000;

export interface ApiKey {
  id: string;
  name: string;
  grants: Grant[];
  createdBy: string | null;
  createdAt: number;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Overrides of the SLUICE_KEY_* quotas; null: the defaults. */
  quotas: KeyQuotas | null;
}

export interface CreateKeyInput {
  name: string;
  grants: Grant[];
  expiresAt: number | null;
  createdBy: string | null;
  quotas?: KeyQuotas | null;
}

export type KeyError = { code: 'bad_request' | 'not_found'; message: string };

export function hashSecret(secret: string): string {
  return hash('sha256', secret, 'hex');
}

function toKey(row: ApiKeyRow): ApiKey {
  return {
    id: row.id,
    name: row.name,
    grants: Grants.parse(row.grants),
    createdBy: row.createdBy,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: row.revokedAt,
    quotas: quotasFromStored(row.quotas),
  };
}

/** Why a key cannot be used right now, or null if it can. */
export function keyUnusable(key: ApiKey, now: number): 'revoked' | 'expired' | null {
  if (key.revokedAt !== null) return 'revoked';
  if (key.expiresAt !== null && key.expiresAt <= now) return 'expired';
  return null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export class ApiKeyStore {
  private readonly byHash: FreshCache<ApiKey | null>;
  private readonly byId: FreshCache<ApiKey | null>;
  /** Once a key exists (even revoked) auto mode stays closed, so this only ever turns true. */
  private anyKeyKnown = false;
  private readonly anyKey: FreshCache<boolean>;

  constructor(
    private readonly db: MetadataDb,
    options: { onStaleServed?: (what: string, error: unknown) => void } = {},
  ) {
    const common = { maxAgeMs: KEY_CACHE_MAX_AGE_MS, maxEntries: 10_000 };
    const stale = (what: string) => (_key: string, e: unknown) => options.onStaleServed?.(what, e);
    this.byHash = new FreshCache({ ...common, load: (h) => this.load('secretHash', h), onStaleServed: stale('key') });
    this.byId = new FreshCache({ ...common, load: (id) => this.load('id', id), onStaleServed: stale('key') });
    this.anyKey = new FreshCache({
      ...common,
      maxEntries: 1,
      load: async () => {
        const [row] = await this.db.select({ n: count() }).from(apiKeys);
        return (row?.n ?? 0) > 0;
      },
      onStaleServed: stale('key count'),
    });
  }

  private async load(column: 'secretHash' | 'id', value: string): Promise<ApiKey | null> {
    if (column === 'id' && !UUID.test(value)) return null;
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys[column], value)).limit(1);
    return row ? toKey(row) : null;
  }

  /** Whether any key was ever created (at most 1 s stale across nodes; immediate on this one). */
  async anyExists(): Promise<boolean> {
    if (this.anyKeyKnown) return true;
    this.anyKeyKnown = await this.anyKey.get('');
    return this.anyKeyKnown;
  }

  /** anyExists() when it can answer without waiting; NOT_READY otherwise. */
  anyExistsNow(): boolean | typeof NOT_READY {
    if (this.anyKeyKnown) return true;
    const known = this.anyKey.peek('');
    if (known === true) this.anyKeyKnown = true;
    return known;
  }

  /** findByHash() when it can answer without waiting; NOT_READY otherwise. */
  findByHashNow(secretHash: string): ApiKey | null | typeof NOT_READY {
    return this.byHash.peek(secretHash);
  }

  /** The key whose secret has this hashSecret() (revoked and expired ones too: the caller decides), or null. */
  findByHash(secretHash: string): Promise<ApiKey | null> {
    return this.byHash.get(secretHash);
  }

  /** The key with this id, through the same ≤ 1 s cache (checks behind browser tokens). */
  findById(id: string): Promise<ApiKey | null> {
    return this.byId.get(id);
  }

  async create(input: CreateKeyInput, now = Date.now()): Promise<{ key: ApiKey; secret: string }> {
    const secret = KEY_PREFIX + randomBytes(32).toString('base64url');
    const row: ApiKeyRow = {
      id: randomUUID(),
      name: input.name,
      secretHash: hashSecret(secret),
      grants: input.grants,
      createdBy: input.createdBy,
      createdAt: now,
      expiresAt: input.expiresAt,
      revokedAt: null,
      quotas: quotasToStored(input.quotas ?? null),
    };
    await this.db.insert(apiKeys).values(row);
    this.anyKeyKnown = true;
    const key = toKey(row);
    this.byHash.set(row.secretHash, key);
    this.byId.set(key.id, key);
    return { key, secret };
  }

  /** Every key, oldest first (revoked ones too, with `revokedAt`). */
  async list(): Promise<ApiKey[]> {
    const rows = await this.db.select().from(apiKeys).orderBy(apiKeys.createdAt, apiKeys.id);
    return rows.map(toKey);
  }

  async get(id: string): Promise<Result<ApiKey, KeyError>> {
    if (!UUID.test(id)) return err({ code: 'not_found', message: `no key with id ${JSON.stringify(id)}` });
    const [row] = await this.db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1);
    return row ? ok(toKey(row)) : err({ code: 'not_found', message: `no key with id ${id}` });
  }

  /** Replace a key's quota overrides (null: back to the defaults); in force on this node at once, on others within 1 s. */
  async setQuotas(id: string, quotas: KeyQuotas | null): Promise<Result<ApiKey, KeyError>> {
    if (!UUID.test(id)) return err({ code: 'not_found', message: `no key with id ${JSON.stringify(id)}` });
    const [row] = await this.db
      .update(apiKeys)
      .set({ quotas: quotasToStored(quotas) })
      .where(eq(apiKeys.id, id))
      .returning();
    if (!row) return err({ code: 'not_found', message: `no key with id ${id}` });
    const key = toKey(row);
    this.byHash.set(row.secretHash, key);
    this.byId.set(key.id, key);
    return ok(key);
  }

  /** Revoke: refused at once on this node, within 1 s on others. Revoking twice is a no-op. */
  async revoke(id: string, now = Date.now()): Promise<Result<ApiKey, KeyError>> {
    const found = await this.get(id);
    if (!found.ok) return found;
    if (found.value.revokedAt !== null) return found;
    const [row] = await this.db.update(apiKeys).set({ revokedAt: now }).where(eq(apiKeys.id, id)).returning();
    if (!row) return err({ code: 'not_found', message: `no key with id ${id}` });
    const key = toKey(row);
    this.byHash.set(row.secretHash, key);
    this.byId.set(key.id, key);
    // Keys this key created go with it (their grants were delegated by it).
    const children = await this.db
      .select({ id: apiKeys.id })
      .from(apiKeys)
      .where(and(eq(apiKeys.createdBy, id), isNull(apiKeys.revokedAt)));
    for (const child of children) await this.revoke(child.id, now);
    return ok(key);
  }
}
