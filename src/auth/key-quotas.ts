// Per-key quota overrides: a key may carry its own produce/read bytes/s and stream cap in place
// of the SLUICE_KEY_* defaults; a key can never give another key more than it has itself.
import type { StoredQuotas } from '../metadata/schema/api-keys.js';

/** Overrides of a key (absent: the default; 0 bytes/s: no quota at all). */
export interface KeyQuotas {
  produceBytesPerSec?: number;
  readBytesPerSec?: number;
  maxStreams?: number;
}

/** The quotas that apply: overrides over defaults. Bytes/s of 0 mean unlimited. */
export type EffectiveQuotas = Required<KeyQuotas>;

export const QUOTA_FIELDS = ['produceBytesPerSec', 'readBytesPerSec', 'maxStreams'] as const;
type QuotaField = (typeof QUOTA_FIELDS)[number];

const WIRE: Record<QuotaField, keyof StoredQuotas> = {
  produceBytesPerSec: 'produce_bytes_per_sec',
  readBytesPerSec: 'read_bytes_per_sec',
  maxStreams: 'max_streams',
};

export function quotasFromStored(stored: StoredQuotas | null | undefined): KeyQuotas | null {
  if (!stored) return null;
  const out: KeyQuotas = {};
  for (const f of QUOTA_FIELDS) {
    const v = stored[WIRE[f]];
    if (typeof v === 'number') out[f] = v;
  }
  return Object.keys(out).length > 0 ? out : null;
}

export function quotasToStored(quotas: KeyQuotas | null): StoredQuotas | null {
  if (!quotas) return null;
  const out: StoredQuotas = {};
  for (const f of QUOTA_FIELDS) if (quotas[f] !== undefined) out[WIRE[f]] = quotas[f];
  return Object.keys(out).length > 0 ? out : null;
}

export function effectiveQuotas(overrides: KeyQuotas | null | undefined, defaults: EffectiveQuotas): EffectiveQuotas {
  return { ...defaults, ...overrides };
}

/** Bytes/s of 0 is no quota: larger than any number. */
const rank = (field: QuotaField, v: number) => (field !== 'maxStreams' && v === 0 ? Infinity : v);

/**
 * The first override in `requested` that exceeds `holder` (the creating or updating key's own
 * effective quotas), as a message, or null when all fit.
 */
export function quotaEscalation(holder: EffectiveQuotas, requested: KeyQuotas | null): string | null {
  if (!requested) return null;
  for (const f of QUOTA_FIELDS) {
    const v = requested[f];
    if (v === undefined) continue;
    if (rank(f, v) > rank(f, holder[f])) {
      const own = holder[f] === 0 && f !== 'maxStreams' ? 'none' : String(holder[f]);
      const asked = v === 0 && f !== 'maxStreams' ? '0 (no quota)' : String(v);
      return `you cannot give a key more than your own quota: ${WIRE[f]} ${asked} exceeds yours (${own})`;
    }
  }
  return null;
}

/**
 * What a key created by `holder` gets when it asks for `requested`: fields it leaves out follow the
 * creator's own overrides, so a child of a limited key is limited too.
 */
export function inheritQuotas(holderOverrides: KeyQuotas | null, requested: KeyQuotas | null): KeyQuotas | null {
  const merged = { ...holderOverrides, ...requested };
  return Object.keys(merged).length > 0 ? merged : null;
}
