// drizzle-kit settings: `npx drizzle-kit generate` diffs src/metadata/schema/*.ts against
// the last snapshot and writes the next append-only SQL migration into migrations/.
import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './src/metadata/schema/*.ts',
  out: './migrations',
  strict: true,
});
