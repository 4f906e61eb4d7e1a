// Free text that Sluice keeps in PostgreSQL (text and jsonb columns), which cannot hold U+0000:
// such input is refused with a 400 naming the field, rather than failing at the insert (500).
import { z } from '@hono/zod-openapi';

export const NO_NUL_MESSAGE = 'must not contain U+0000 (PostgreSQL cannot store it)';

/** A string stored in PostgreSQL: any text but U+0000. */
export const storedText = () => z.string().regex(/^[^\u0000]*$/, NO_NUL_MESSAGE);
