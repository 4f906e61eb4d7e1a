// A small typed HTTP client over the committed openapi-typescript types: paths, params,
// bodies and per-status response bodies are checked at compile time against the API.
import type { paths } from '../../openapi/schema.js';

type Method = 'get' | 'post' | 'put' | 'patch' | 'delete';
type Op<P extends keyof paths, M extends Method> = NonNullable<paths[P][M]>;
/** Paths that have an operation for method M. */
export type PathsFor<M extends Method> = {
  [P in keyof paths]: [NonNullable<paths[P][M]>] extends [never] ? never : P;
}[keyof paths];

type PathParams<O> = O extends { parameters: { path: infer X } } ? ([X] extends [never] ? undefined : X) : undefined;
type QueryParams<O> = O extends { parameters: { query?: infer Q } } ? ([Q] extends [never] ? undefined : Q) : undefined;
type JsonBody<O> = O extends { requestBody?: { content: { 'application/json': infer B } } } ? B : undefined;
type Responses<O> = O extends { responses: infer R } ? R : never;
type BodyOf<R> = R extends { content: { 'application/json': infer B } }
  ? B
  : R extends { content: { 'text/plain': infer T } }
    ? T
    : undefined;

/** One variant per documented status, so checking `status` narrows `body`. */
export type TypedResponse<O> = {
  [S in keyof Responses<O>]: { status: S; body: BodyOf<Responses<O>[S]>; headers: Headers };
}[keyof Responses<O>];

export interface RequestOptions<O> {
  params?: PathParams<O>;
  query?: QueryParams<O>;
  body?: JsonBody<O>;
  headers?: Record<string, string>;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed JSON body, or undefined if the body is not JSON. */
  json: unknown;
}

export interface Client {
  readonly baseUrl: string;
  request<M extends Method, P extends PathsFor<M>>(
    method: M,
    path: P,
    options?: RequestOptions<Op<P, M>>,
  ): Promise<TypedResponse<Op<P, M>>>;
  get<P extends PathsFor<'get'>>(path: P, options?: RequestOptions<Op<P, 'get'>>): Promise<TypedResponse<Op<P, 'get'>>>;
  post<P extends PathsFor<'post'>>(
    path: P,
    options?: RequestOptions<Op<P, 'post'>>,
  ): Promise<TypedResponse<Op<P, 'post'>>>;
  patch<P extends PathsFor<'patch'>>(
    path: P,
    options?: RequestOptions<Op<P, 'patch'>>,
  ): Promise<TypedResponse<Op<P, 'patch'>>>;
  delete<P extends PathsFor<'delete'>>(
    path: P,
    options?: RequestOptions<Op<P, 'delete'>>,
  ): Promise<TypedResponse<Op<P, 'delete'>>>;
  /** Untyped escape hatch for malformed requests: any method, path, body and headers. */
  raw(
    method: string,
    path: string,
    init?: { body?: string | Uint8Array; headers?: Record<string, string> },
  ): Promise<RawResponse>;
}

export function createClient(baseUrl: string): Client {
  const raw: Client['raw'] = async (method, path, init = {}) => {
    const res = await fetch(new URL(path, baseUrl), { method, headers: init.headers, body: init.body });
    const text = await res.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, headers: res.headers, text, json };
  };

  const request = async (method: Method, path: string, options: RequestOptions<unknown> = {}) => {
    let url = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = (options.params as Record<string, unknown> | undefined)?.[name];
      if (value === undefined) throw new Error(`missing path parameter ${name} for ${path}`);
      return encodeURIComponent(String(value));
    });
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries((options.query as Record<string, unknown> | undefined) ?? {})) {
      if (v !== undefined) query.set(k, String(v));
    }
    if ([...query].length > 0) url += `?${query}`;
    const headers: Record<string, string> = { ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await raw(method.toUpperCase(), url, { body, headers });
    return { status: res.status, body: res.json ?? (res.text === '' ? undefined : res.text), headers: res.headers };
  };

  const typed = request as unknown as Client['request'];
  return {
    baseUrl,
    request: typed,
    get: (path, options) => typed('get', path, options as never) as never,
    post: (path, options) => typed('post', path, options as never) as never,
    patch: (path, options) => typed('patch', path, options as never) as never,
    delete: (path, options) => typed('delete', path, options as never) as never,
    raw,
  };
}

/** Assert the status and return the body narrowed to that status's schema. */
export function expectStatus<R extends { status: unknown; body: unknown }, const S extends number>(
  res: R,
  status: S & R['status'],
): Extract<R, { status: S }>['body'] {
  if (res.status !== status) {
    throw new Error(`expected HTTP ${String(status)}, got ${String(res.status)}: ${JSON.stringify(res.body)}`);
  }
  return res.body as Extract<R, { status: S }>['body'];
}
