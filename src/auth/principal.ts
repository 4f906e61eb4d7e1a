// Who is making a request, as the auth middleware established it: set on every request's
// context as `c.get('principal')` for quotas, audit lines and list filtering.
import { allows, type Action, type Grant, type Resource } from './grants.js';
import type { KeyQuotas } from './key-quotas.js';

export type PrincipalKind =
  /** No credential, and none needed (SLUICE_AUTH=none, or auto mode on loopback before any key exists). */
  | 'anonymous'
  /** An API key from the database. */
  | 'key'
  /** SLUICE_ADMIN_KEY. */
  | 'admin'
  /** A browser token (JWT) minted by a key, the admin key or an anonymous caller. */
  | 'token';

export interface Principal {
  readonly kind: PrincipalKind;
  /**
   * The key behind the request: the key's id, `admin` for SLUICE_ADMIN_KEY, for a token the id
   * of the key that minted it; null when anonymous (or a token minted anonymously). Never a secret.
   */
  readonly keyId: string | null;
  /** What the principal may do. Anonymous and admin principals hold every grant. */
  readonly grants: readonly Grant[];
  /** Unix ms after which the credential is refused (tokens, expiring keys); null = no expiry. */
  readonly expiresAt: number | null;
  /** The quota overrides of the key behind the request (a token: its minting key's); absent: the defaults. */
  readonly quotas?: KeyQuotas | null;
}

/** Whether the principal may perform `action` on the `resource` called `name`. */
export function can(principal: Principal, resource: Resource, name: string, action: Action): boolean {
  return allows(principal.grants, resource, name, action);
}

/** `key 0b7c…`, `admin key`, `token of key 0b7c…`, `anonymous caller` — for messages and logs. */
export function describePrincipal(p: Principal): string {
  switch (p.kind) {
    case 'anonymous':
      return 'anonymous caller';
    case 'admin':
      return 'admin key';
    case 'key':
      return `key ${p.keyId}`;
    case 'token':
      return p.keyId === null ? 'anonymous token' : `token of key ${p.keyId}`;
  }
}
