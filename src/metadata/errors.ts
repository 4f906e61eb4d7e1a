// Recognises "the database is unreachable" among driver errors, so callers can answer
// 503 `unavailable` (and retry later) instead of 500 when Postgres is down.
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/** SQLSTATEs meaning the server cannot serve us right now (not that the query is wrong). */
function isUnavailableSqlState(code: string): boolean {
  return (
    code.startsWith('08') || // connection exception
    code === '57P01' || // admin shutdown
    code === '57P02' || // crash shutdown
    code === '57P03' || // cannot connect now
    code === '53300' || // too many connections
    code === '3D000' // database does not exist (dropped under us)
  );
}

/** Whether `error` (or any error in its cause chain) means the database is unreachable. */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (CONNECTION_ERROR_CODES.has(code) || isUnavailableSqlState(code))) return true;
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /no answer from the database|write CONNECTION_CLOSED/.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/** Postgres unique_violation, possibly wrapped by drizzle. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  for (let e: unknown = error, depth = 0; e && typeof e === 'object' && depth < 8; depth++) {
    const { code } = e as { code?: unknown };
    if (code === '23505') {
      if (constraint === undefined) return true;
      const c = e as { constraint_name?: string; constraint?: string };
      return (c.constraint_name ?? c.constraint) === constraint;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
