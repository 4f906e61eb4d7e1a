// GET /docs: the API reference rendered on the server from the OpenAPI document, one
// self-contained HTML page (inline CSS, no script, nothing fetched from anywhere else), so it
// works offline and behind any firewall. Every operation is listed with its parameters, body,
// responses and required permission; /openapi.json is linked for tools.

type Json = Record<string, unknown>;
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Json;
}
interface Operation {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Json }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Json }> }>;
  'x-sluice-permission'?: unknown;
}
interface Document {
  info?: { title?: string; version?: string; description?: string };
  tags?: Array<{ name: string; description?: string }>;
  paths?: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Json> };
}

const SPEC_LINK = '<a href="/openapi.json">';

/**
 * The page as served to a browser that came with `?access_token=` (the dashboard's link): its link
 * to /openapi.json carries the same token, since a browser following it sends no Authorization header.
 */
export function docsPageWithToken(page: string, token: string): string {
  return page.replace(SPEC_LINK, `<a href="/openapi.json?access_token=${escape(encodeURIComponent(token))}">`);
}

const METHODS = ['get', 'head', 'put', 'post', 'patch', 'delete', 'options'] as const;

const escape = (s: unknown): string => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** `code` spans for backticked words, as the descriptions use them. */
const prose = (s: unknown): string => escape(s).replace(/`([^`]+)`/g, '<code>$1</code>');

function typeOf(schema: Json | undefined): string {
  if (!schema) return '';
  if (typeof schema['$ref'] === 'string') return (schema['$ref'] as string).split('/').pop()!;
  const type = Array.isArray(schema['type']) ? (schema['type'] as string[]).join(' | ') : (schema['type'] as string);
  if (Array.isArray(schema['enum'])) return (schema['enum'] as unknown[]).map((v) => JSON.stringify(v)).join(' | ');
  if (type === 'array') return `${typeOf(schema['items'] as Json)}[]`;
  const bounds = [
    schema['minimum'] !== undefined ? `≥ ${String(schema['minimum'])}` : '',
    schema['maximum'] !== undefined ? `≤ ${String(schema['maximum'])}` : '',
    schema['default'] !== undefined ? `default ${JSON.stringify(schema['default'])}` : '',
  ].filter(Boolean);
  return `${type ?? 'any'}${bounds.length > 0 ? ` (${bounds.join(', ')})` : ''}`;
}

/** The properties of a body schema (following one $ref), as table rows. */
function bodyRows(schema: Json | undefined, components: Record<string, Json>): string {
  const ref = typeof schema?.['$ref'] === 'string' ? (schema['$ref'] as string).split('/').pop()! : undefined;
  const resolved = ref ? components[ref] : schema;
  const properties = (resolved?.['properties'] ?? {}) as Record<string, Json>;
  const required = new Set((resolved?.['required'] ?? []) as string[]);
  return Object.entries(properties)
    .map(
      ([name, p]) =>
        `<tr><td><code>${escape(name)}</code>${required.has(name) ? ' <em>required</em>' : ''}</td><td>${escape(typeOf(p))}</td><td>${prose(p['description'])}</td></tr>`,
    )
    .join('');
}

function renderOperation(method: string, path: string, op: Operation, components: Record<string, Json>): string {
  const params = (op.parameters ?? [])
    .map(
      (p) =>
        `<tr><td><code>${escape(p.name)}</code> <small>${escape(p.in)}</small>${p.required ? ' <em>required</em>' : ''}</td><td>${escape(typeOf(p.schema))}</td><td>${prose(p.description ?? p.schema?.['description'])}</td></tr>`,
    )
    .join('');
  const body = Object.entries(op.requestBody?.content ?? {})
    .map(([type, media]) => {
      const rows = bodyRows(media.schema, components);
      return `<p>Body <code>${escape(type)}</code>${op.requestBody?.required ? '' : ' (optional)'}${media.schema ? `: ${escape(typeOf(media.schema))}` : ''}</p>${rows ? `<table>${rows}</table>` : ''}`;
    })
    .join('');
  const responses = Object.entries(op.responses ?? {})
    .map(([status, r]) => {
      const schema = Object.values(r.content ?? {})[0]?.schema;
      return `<li><b>${escape(status)}</b> ${prose(r.description)}${schema ? ` — <code>${escape(typeOf(schema))}</code>` : ''}</li>`;
    })
    .join('');
  const permission = op['x-sluice-permission'];
  return `<section class="op" id="${escape(op.operationId)}" data-operation-id="${escape(op.operationId)}">
<h3><span class="m ${method}">${method.toUpperCase()}</span> <code>${escape(path)}</code> <a href="#${escape(op.operationId)}">${escape(op.summary ?? op.operationId)}</a></h3>
${op.description ? `<p>${prose(op.description)}</p>` : ''}
${permission ? `<p class="perm">Permission: <code>${escape(JSON.stringify(permission))}</code></p>` : ''}
${params ? `<table>${params}</table>` : ''}${body}
<ul>${responses}</ul>
</section>`;
}

export function renderDocsPage(document: unknown): string {
  const doc = document as Document;
  const components = doc.components?.schemas ?? {};
  const byTag = new Map<string, string[]>();
  for (const tag of doc.tags ?? []) byTag.set(tag.name, []);
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    for (const method of METHODS) {
      const op = item[method];
      if (!op) continue;
      const tag = op.tags?.[0] ?? 'Other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push(renderOperation(method, path, op, components));
    }
  }
  const descriptions = new Map((doc.tags ?? []).map((t) => [t.name, t.description]));
  const sections = [...byTag]
    .filter(([, ops]) => ops.length > 0)
    .map(
      ([tag, ops]) =>
        `<h2 id="tag-${escape(tag)}">${escape(tag)}</h2>${descriptions.get(tag) ? `<p>${prose(descriptions.get(tag))}</p>` : ''}${ops.join('\n')}`,
    )
    .join('\n');
  const nav = [...byTag]
    .filter(([, ops]) => ops.length > 0)
    .map(([tag]) => `<a href="#tag-${escape(tag)}">${escape(tag)}</a>`)
    .join(' · ');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info?.title ?? 'API')} API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:70rem;margin:0 auto;padding:1rem 2rem;color:#1d2330}
code{font:13px ui-monospace,monospace;background:#f1f3f7;padding:0 .25em;border-radius:3px}
h3{font-size:1rem;margin:.2rem 0} h3 a{color:inherit;text-decoration:none;font-weight:normal}
.op{border:1px solid #dde2ea;border-radius:6px;padding:.6rem 1rem;margin:.8rem 0}
.m{display:inline-block;min-width:4.2em;text-align:center;color:#fff;border-radius:3px;font-size:12px;padding:1px 4px}
.get{background:#2f7d4f}.post{background:#2a63b8}.put{background:#8a5a00}.patch{background:#7a4fb0}.delete{background:#b03a3a}.head,.options{background:#55606e}
table{border-collapse:collapse;margin:.4rem 0;width:100%} td{border-top:1px solid #eef0f4;padding:.2rem .5rem;vertical-align:top}
td:first-child{white-space:nowrap} em{color:#b03a3a;font-style:normal;font-size:12px} .perm{color:#555;font-size:13px}
</style></head><body>
<h1>${escape(doc.info?.title ?? 'API')} <small>${escape(doc.info?.version)}</small></h1>
<p>${prose(doc.info?.description)}</p>
<p>Machine-readable: ${SPEC_LINK}/openapi.json</a> (OpenAPI 3.1). ${nav}</p>
${sections}
</body></html>
`;
}
