// Integers in query strings and paths: decimal digits only. z.coerce.number() alone reads an
// empty `offset=` or a `%20` partition as 0 and `0x10` as 16; those are 400s here.
import { z } from '@hono/zod-openapi';

const DECIMAL = /^-?[0-9]+$/;

/** An integer from `min` to `max`, written in decimal digits (a leading `-` for negatives). */
export const intString = (min: number, max: number, maxMessage?: { error: string }) =>
  z.preprocess(
    (v) => (typeof v === 'string' && !DECIMAL.test(v) ? 'not a number' : v),
    // Each check words its own error: the schema-level one would name every issue (`0` as "not decimal").
    z.coerce
      .number({ error: 'must be an integer written in decimal digits' })
      .int({ error: 'must be an integer written in decimal digits' })
      .min(min, { error: `must be ≥ ${min}` })
      .max(max, maxMessage ?? { error: `must be ≤ ${max}` }),
  );
