// `npm run openapi`: regenerate openapi/openapi.json and openapi/schema.d.ts from the
// route schemas. Commit both; the openapi test fails when they are out of date.
import { OPENAPI_JSON, OPENAPI_TYPES, writeOpenApiFiles } from './openapi-files.js';

await writeOpenApiFiles();
process.stdout.write(`wrote ${OPENAPI_JSON}\nwrote ${OPENAPI_TYPES}\n`);
