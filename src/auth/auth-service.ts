// Access control as a service: the mode (auto|keys|none), who a credential belongs to (API
// key, admin key, browser token), and minting keys and tokens without escalation.
import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { err, ok, type Result } from '../lib/result.js';
import type { Logger } from '../logger.js';
import type { ApiKeyStore } from './api-keys.js';
import { hashSecret, KEY_PREFIX, keyUnusable, type ApiKey } from './api-keys.js';
import { ALL_GRANTS, describeGrant, uncovered, type Grant } from './grants.js';
import { effectiveQuotas, inheritQuotas, quotaEscalation, type EffectiveQuotas, type KeyQuotas } from './key-quotas.js';
import type { Principal } from './principal.js';
import type { TokenSigner } from './tokens.js';
import { NOT_READY } from './fresh-cache.js';
import { MAX_TOKEN_TTL_MS, type TokenClaims } from './tokens.js';

/** The key id of SLUICE_ADMIN_KEY in principals, tokens and audit lines. */
export const ADMIN_KEY_ID = 'admin';

export const ANONYMOUS: Principal = Object.freeze({
  kind: 'anonymous',
  keyId: null,
  grants: ALL_GRANTS,
  expiresAt: null,
});

/** Who is asking, as far as the mode needs to know. */
export interface Peer {
  /** The TCP peer is a loopback address and no proxy forwarded the request. */
  loopback: boolean;
}

export type AuthFailure = { code: 'unauthorized'; message: string };
export type GrantFailure = { code: 'forbidden' | 'bad_request'; message: string };

export class AuthService {
  private readonly adminHash: string | null;
  /** Tokens minted by the admin key carry this, so replacing SLUICE_ADMIN_KEY ends them. */
  private readonly adminFingerprint: string | null;
  private readonly adminPrincipal: Principal = Object.freeze({
    kind: 'admin',
    keyId: ADMIN_KEY_ID,
    grants: ALL_GRANTS,
    expiresAt: null,
  });

  constructor(
    private readonly config: Config['auth'],
    readonly keys: ApiKeyStore,
    readonly tokens: TokenSigner,
    private readonly logger: Logger,
    /** SLUICE_KEY_* quotas, for keys without overrides. */
    readonly quotaDefaults: EffectiveQuotas = { produceBytesPerSec: 0, readBytesPerSec: 0, maxStreams: 1_000 },
  ) {
    this.adminHash = config.adminKey === null ? null : hashSecret(config.adminKey);
    this.adminFingerprint =
      this.adminHash === null ? null : createHash('sha256').update(this.adminHash).digest('hex').slice(0, 16);
  }

  get mode(): Config['auth']['mode'] {
    return this.config.mode;
  }

  /** Log what the mode means for this start (loudly when it is open). */
  async announce(listenHost: string): Promise<void> {
    const mode = this.config.mode;
    if (mode === 'none') {
      this.logger.warn(
        { auth: mode, host: listenHost },
        'SLUICE_AUTH=none: NO ACCESS CONTROL — anyone who can reach this port can read, write and delete everything. Use only on a trusted network.',
      );
    } else if (mode === 'auto' && this.config.adminKey === null && !(await this.keys.anyExists())) {
      this.logger.warn(
        { auth: mode },
        'no API key exists yet: requests from this machine (loopback) are allowed without credentials, all others get 401. ' +
          'Create a key (POST /v1/keys) or set SLUICE_ADMIN_KEY to require credentials everywhere.',
      );
    } else {
      this.logger.info({ auth: mode, admin_key: this.config.adminKey !== null }, 'API credentials required');
    }
  }

  /** Whether a request without a credential is let in, and why not if it isn't. */
  async anonymousAllowed(peer: Peer): Promise<Result<true, AuthFailure>> {
    const now = this.anonymousAllowedNow(peer);
    if (now !== NOT_READY) return now;
    return this.anonymousAnswer(peer, await this.keys.anyExists());
  }

  /** anonymousAllowed() when it can answer without waiting for the database; NOT_READY otherwise. */
  anonymousAllowedNow(peer: Peer): Result<true, AuthFailure> | typeof NOT_READY {
    if (this.config.mode !== 'auto' || this.config.adminKey !== null) return this.anonymousAnswer(peer, false);
    const anyKey = this.keys.anyExistsNow();
    return anyKey === NOT_READY ? NOT_READY : this.anonymousAnswer(peer, anyKey);
  }

  private anonymousAnswer(peer: Peer, anyKey: boolean): Result<true, AuthFailure> {
    switch (this.config.mode) {
      case 'none':
        return ok(true);
      case 'keys':
        return err(unauthorized('an API key or token is required: send `Authorization: Bearer <key or token>`'));
      case 'auto':
        if (this.config.adminKey !== null || anyKey) {
          return err(unauthorized('an API key or token is required: send `Authorization: Bearer <key or token>`'));
        }
        if (peer.loopback) return ok(true);
        return err(
          unauthorized(
            'protected mode: no API key exists yet, so only this machine (loopback) may connect without one. ' +
              'On the server run `curl -X POST http://127.0.0.1:<port>/v1/keys -H "content-type: application/json" ' +
              '-d \'{"name":"me","grants":[...]}\'` (or set SLUICE_ADMIN_KEY) and send `Authorization: Bearer <key>`.',
          ),
        );
    }
  }

  /**
   * The principal a credential stands for, or 401. `anonymous` says whether an unauthenticated
   * caller would be let in (tokens minted anonymously are valid only then).
   */
  async authenticate(
    credential: string,
    anonymous: () => Promise<Result<true, AuthFailure>>,
    now = Date.now(),
  ): Promise<Result<Principal, AuthFailure>> {
    const isToken = credential.startsWith('eyJ');
    if (isToken) {
      const claims = await this.tokens.verify(credential);
      if (claims !== null) return this.authenticateToken(claims, anonymous, now);
    }
    const secretHash = hashSecret(credential);
    // Comparing hashes, not secrets: timing reveals nothing an attacker can use.
    if (secretHash === this.adminHash) {
      return ok(this.adminPrincipal);
    }
    if (isToken) return err(unauthorized('invalid browser token'));
    if (credential.startsWith(KEY_PREFIX)) return this.keyPrincipal(await this.keys.findByHash(secretHash), now);
    return err(unauthorized('not a Sluice API key (`slk_…`) or browser token'));
  }

  /**
   * authenticate() for an API key (or the admin key) when it can answer without waiting for the
   * database; NOT_READY for browser tokens (verified asynchronously) and keys not cached.
   */
  authenticateKeyNow(credential: string, now = Date.now()): Result<Principal, AuthFailure> | typeof NOT_READY {
    if (credential.startsWith('eyJ')) return NOT_READY;
    const secretHash = hashSecret(credential);
    if (secretHash === this.adminHash) return ok(this.adminPrincipal);
    if (!credential.startsWith(KEY_PREFIX)) return err(unauthorized('not a Sluice API key (`slk_…`) or browser token'));
    const key = this.keys.findByHashNow(secretHash);
    if (key === NOT_READY) return NOT_READY;
    return this.keyPrincipal(key, now);
  }

  private keyPrincipal(key: ApiKey | null, now: number): Result<Principal, AuthFailure> {
    if (key === null) return err(unauthorized('unknown API key'));
    const unusable = keyUnusable(key, now);
    if (unusable) return err(unauthorized(`API key ${key.id} is ${unusable}`));
    return ok({ kind: 'key', keyId: key.id, grants: key.grants, expiresAt: key.expiresAt, quotas: key.quotas });
  }

  private async authenticateToken(
    claims: TokenClaims,
    anonymous: () => Promise<Result<true, AuthFailure>>,
    now: number,
  ): Promise<Result<Principal, AuthFailure>> {
    if (claims.expiresAt <= now) {
      return err(unauthorized(`browser token expired at ${new Date(claims.expiresAt).toISOString()}`));
    }
    let expiresAt = claims.expiresAt;
    let quotas: KeyQuotas | null = null;
    if (claims.keyId === null) {
      // Minted without a key (open mode): worth nothing once credentials are required.
      const open = await anonymous();
      if (!open.ok) return err(unauthorized('this token was minted without a key and credentials are now required'));
    } else if (claims.keyId === ADMIN_KEY_ID) {
      if (this.adminFingerprint === null || claims.adminFingerprint !== this.adminFingerprint) {
        return err(unauthorized('the admin key that minted this token is no longer configured'));
      }
    } else {
      const key = await this.keys.findById(claims.keyId);
      const unusable = key === null ? 'revoked' : keyUnusable(key, now);
      if (unusable) return err(unauthorized(`the key that minted this token (${claims.keyId}) is ${unusable}`));
      if (key?.expiresAt != null) expiresAt = Math.min(expiresAt, key.expiresAt);
      quotas = key?.quotas ?? null;
    }
    return ok({ kind: 'token', keyId: claims.keyId, grants: claims.grants, expiresAt, quotas });
  }

  /** Whether the key behind a principal still stands (for open streams): null if so, else why not. */
  async stillValid(principal: Principal, now = Date.now()): Promise<string | null> {
    if (principal.expiresAt !== null && principal.expiresAt <= now) return 'credential expired';
    if (principal.keyId === null || principal.keyId === ADMIN_KEY_ID) return null;
    const key = await this.keys.findById(principal.keyId);
    const unusable = key === null ? 'revoked' : keyUnusable(key, now);
    return unusable ? `key ${principal.keyId} is ${unusable}` : null;
  }

  /** Create an API key holding `grants`, which the caller must hold itself. */
  async createKey(
    caller: Principal,
    input: { name: string; grants: Grant[]; expiresAt: number | null; quotas?: KeyQuotas | null },
    now = Date.now(),
  ): Promise<Result<{ key: ApiKey; secret: string }, GrantFailure>> {
    if (caller.kind === 'token') {
      // A browser token is short-lived by design; a key it minted would outlive it.
      return err({ code: 'forbidden', message: 'a browser token cannot create API keys; use an API key' });
    }
    const escalation = uncovered(caller.grants, input.grants);
    if (escalation) return err(forbiddenEscalation(escalation));
    // In auto mode an anonymous caller is creating the first key, which ends anonymous access:
    // anything less than every grant would lock everyone out of what it lacks (keys included).
    if (caller.kind === 'anonymous' && this.config.mode === 'auto') {
      const missing = uncovered(input.grants, ALL_GRANTS);
      if (missing) {
        return err({
          code: 'bad_request',
          message:
            'the first API key ends anonymous access (SLUICE_AUTH=auto), so it must hold every grant — it is the key ' +
            `that creates all others — but it lacks ${describeGrant(missing)}. Give it ` +
            '{"resource": R, "name": "*", "actions": ["read","write","create","delete","alter","describe"]} for each of ' +
            'topic, group, webhook, key and cluster, or set SLUICE_ADMIN_KEY instead',
        });
      }
    }
    const quotaProblem = this.quotaEscalation(caller, input.quotas ?? null);
    if (quotaProblem) return err({ code: 'forbidden', message: quotaProblem });
    if (input.expiresAt !== null && input.expiresAt <= now) {
      return err({ code: 'bad_request', message: 'expires_at must be in the future' });
    }
    // A key never outlives the key that created it: no expires_at means the creator's.
    let expiresAt = input.expiresAt;
    if (caller.expiresAt !== null) {
      if (expiresAt !== null && expiresAt > caller.expiresAt) {
        return err({
          code: 'bad_request',
          message: `expires_at must not be later than the creating key's own expiry (${caller.expiresAt})`,
        });
      }
      expiresAt ??= caller.expiresAt;
    }
    // What a child leaves out follows its creator's overrides: a limited key makes limited keys.
    const quotas = caller.kind === 'key' ? inheritQuotas(caller.quotas ?? null, input.quotas ?? null) : input.quotas;
    return ok(await this.keys.create({ ...input, quotas, expiresAt, createdBy: caller.keyId }, now));
  }

  /** Set a key's quota overrides (null: the defaults), within the caller's own quotas. */
  async setKeyQuotas(
    caller: Principal,
    id: string,
    quotas: KeyQuotas | null,
  ): Promise<Result<ApiKey, GrantFailure | { code: 'not_found'; message: string }>> {
    if (caller.kind === 'token') {
      return err({ code: 'forbidden', message: 'a browser token cannot change API keys; use an API key' });
    }
    // Judged on what the key ends up with: fields left out fall back to the defaults.
    const problem = this.quotaEscalation(caller, effectiveQuotas(quotas, this.quotaDefaults));
    if (problem) return err({ code: 'forbidden', message: problem });
    const updated = await this.keys.setQuotas(id, quotas);
    return updated.ok ? updated : err({ code: 'not_found', message: updated.error.message });
  }

  /** Whether `requested` exceeds what the caller may hand out: keys are bound by their own quotas; admin and anonymous callers are not. */
  private quotaEscalation(caller: Principal, requested: KeyQuotas | null): string | null {
    if (caller.kind !== 'key') return null;
    return quotaEscalation(effectiveQuotas(caller.quotas, this.quotaDefaults), requested);
  }

  /** Mint a browser token holding `grants` (⊆ the caller's) for `ttlMs` (≤ 24 h). */
  async mintToken(
    caller: Principal,
    grants: Grant[],
    ttlMs: number,
    now = Date.now(),
  ): Promise<Result<{ token: string; expiresAt: number }, GrantFailure>> {
    const escalation = uncovered(caller.grants, grants);
    if (escalation) return err(forbiddenEscalation(escalation));
    let expiresIn = Math.min(ttlMs, MAX_TOKEN_TTL_MS);
    if (caller.expiresAt !== null) expiresIn = Math.min(expiresIn, caller.expiresAt - now);
    const minted = await this.tokens.mint(
      {
        grants,
        keyId: caller.keyId,
        adminFingerprint: caller.keyId === ADMIN_KEY_ID ? this.adminFingerprint : null,
      },
      expiresIn,
      now,
      caller.expiresAt ?? Infinity,
    );
    return ok(minted);
  }
}

function unauthorized(message: string): AuthFailure {
  return { code: 'unauthorized', message };
}

function forbiddenEscalation(g: Grant): GrantFailure {
  return { code: 'forbidden', message: `you cannot grant what you do not hold: ${describeGrant(g)}` };
}
