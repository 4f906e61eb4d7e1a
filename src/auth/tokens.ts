// Browser tokens: short-lived HS256 JWTs (jose) carrying their grants and the id of the key
// that minted them, verified without a database look-up; the signing key is kept in DATA_DIR
// (or, for nodes sharing one database, in its cluster row).
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { jwtVerify, SignJWT } from 'jose';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { MetadataDb } from '../metadata/connection.js';
import { cluster } from '../metadata/schema.js';
import { Grants, type Grant } from './grants.js';

/** Longest lifetime a token may be given. */
export const MAX_TOKEN_TTL_MS = 24 * 3_600_000;
export const TOKEN_KEY_FILE = 'token-signing.key';
const ISSUER = 'sluice';

export interface TokenClaims {
  grants: Grant[];
  /** The minting key's id (`admin` for SLUICE_ADMIN_KEY), or null when minted anonymously. */
  keyId: string | null;
  /** For admin-minted tokens: a fingerprint of the admin key, so changing it ends them. */
  adminFingerprint: string | null;
  /** Unix ms. */
  expiresAt: number;
}

const Payload = z.object({
  gr: Grants,
  k: z.string().nullable(),
  afp: z.string().optional(),
  exp: z.number(),
});

/**
 * The signing secret: SLUICE_TOKEN_SECRET, else DATA_DIR/token-signing.key (32 random bytes,
 * created with mode 0600 on first start; a looser mode found later is tightened, with a warning).
 * With `shared` (several nodes, each with its own DATA_DIR, on one database: the Kafka store) the
 * key lives in the cluster row instead, so a token minted on one node is accepted by all.
 */
export async function loadSigningSecret(
  dataDir: string,
  fromEnv: string | null,
  logger: Logger,
  shared?: { db: MetadataDb },
): Promise<Uint8Array> {
  if (fromEnv !== null) return new TextEncoder().encode(fromEnv);
  if (shared) return new TextEncoder().encode(await sharedSigningKey(shared.db, logger));
  const file = path.join(dataDir, TOKEN_KEY_FILE);
  try {
    await fs.writeFile(file, randomBytes(32).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
    logger.info({ file }, 'created the browser-token signing key');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const stat = await fs.stat(file);
  if ((stat.mode & 0o077) !== 0) {
    logger.warn(
      { file, mode: (stat.mode & 0o777).toString(8) },
      'token signing key was readable by others: set to 0600',
    );
    await fs.chmod(file, 0o600);
  }
  const text = (await fs.readFile(file, 'utf8')).trim();
  if (text.length < 32) throw new Error(`${file} holds no usable signing key (delete it to have a new one made)`);
  return new TextEncoder().encode(text);
}

/** The cluster row's signing key; the first node to ask makes it (one statement, so all agree). */
async function sharedSigningKey(db: MetadataDb, logger: Logger): Promise<string> {
  const fresh = randomBytes(32).toString('base64url');
  const rows = await db
    .update(cluster)
    .set({ tokenSecret: sql`coalesce(${cluster.tokenSecret}, ${fresh})` })
    .returning({ secret: cluster.tokenSecret });
  const secret = rows[0]?.secret;
  if (!secret) throw new Error('the metadata database has no cluster row to keep the browser-token signing key in');
  if (secret === fresh) logger.info('created the browser-token signing key (kept in the metadata database)');
  return secret;
}

export class TokenSigner {
  /** Verified tokens, so a stream of requests with one token pays for the HMAC once. */
  private readonly verified = new Map<string, TokenClaims>();

  constructor(
    private readonly secret: Uint8Array,
    /** The cluster id: tokens are only valid on the cluster that made them. */
    private readonly audience: string,
  ) {}

  /**
   * A token for `ttlMs` from `now`, never past `notAfter` (Unix ms). `exp` is whole seconds, as most
   * JWT libraries read it: the lifetime asked for rounded up to the next second, unless that would pass
   * `notAfter` (then rounded down). `expiresAt` is exactly `exp` × 1000.
   */
  async mint(
    claims: Omit<TokenClaims, 'expiresAt'>,
    ttlMs: number,
    now = Date.now(),
    notAfter = Infinity,
  ): Promise<{ token: string; expiresAt: number }> {
    let exp = Math.ceil((now + ttlMs) / 1000);
    if (exp * 1000 > notAfter) exp = Math.floor(notAfter / 1000);
    const expiresAt = exp * 1000;
    const jwt = new SignJWT({
      gr: claims.grants,
      k: claims.keyId,
      ...(claims.adminFingerprint ? { afp: claims.adminFingerprint } : {}),
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setAudience(this.audience)
      .setIssuedAt(Math.floor(now / 1000))
      .setExpirationTime(exp);
    return { token: await jwt.sign(this.secret), expiresAt };
  }

  /**
   * The token's claims if its signature, issuer and audience check out (expiry is the caller's to judge), else null.
   * Tokens minted before `exp` was whole seconds carry a fraction: read to the millisecond, they stay valid until then.
   */
  async verify(token: string): Promise<TokenClaims | null> {
    const cached = this.verified.get(token);
    if (cached) return cached;
    let claims: TokenClaims;
    try {
      const { payload } = await jwtVerify(token, this.secret, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        audience: this.audience,
        // Expiry is checked by the caller to the millisecond, with a precise message.
        currentDate: new Date(0),
      });
      const p = Payload.parse(payload);
      claims = { grants: p.gr, keyId: p.k, adminFingerprint: p.afp ?? null, expiresAt: Math.round(p.exp * 1000) };
    } catch {
      return null;
    }
    if (this.verified.size >= 10_000) this.verified.clear();
    this.verified.set(token, claims);
    return claims;
  }
}
