// Integers in query strings and paths: canonical decimals only. z.coerce.number() alone reads an
// empty `offset=` or a `%20` partition as 0 and `0x10` as 16; those, `00`, `-0` and `+1` are 400s here.
import { z } from '@hono/zod-openapi';

const INTEGER = 'must be an integer written in decimal digits, without leading zeros';

/** One spelling per number, as the SSE routes' patterns accept: no sign on 0, no leading zeros. */
const DECIMAL = /^(0|-?[1-9][0-9]*)$/;

/** An integer from `min` to `max`, written in decimal digits without leading zeros (a leading `-` for negatives). */
export const intString = (min: number, max: number, maxMessage?: { error: string }) =>
  z.preprocess(
    (v) => (typeof v === 'string' && !DECIMAL.test(v) ? 'not a number' : v),
    // Each check words its own error: the schema-level one would name every issue (`0` as "not decimal").
    z.coerce
      .number({ error: INTEGER })
      .int({ error: INTEGER })
      .min(min, { error: `must be ≥ ${min}` })
      .max(max, maxMessage ?? { error: `must be ≤ ${max}` }),
  );
