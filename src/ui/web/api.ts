// The page's only way to the server: the public API with the key from sessionStorage (or none
// when access control is off), a short-lived browser token for EventSource, and auth state.
import { allows, allowsSome, type Action, type Grant, type Resource } from './grants.js';

const KEY_STORAGE = 'sluice.key';
/** Browser tokens live this long; a stream whose token expired reconnects with a new one. */
const TOKEN_TTL_MS = 10 * 60_000;

export interface Whoami {
  kind: 'anonymous' | 'key' | 'admin' | 'token';
  key_id: string | null;
  grants: Grant[];
  expires_at: number | null;
  auth_mode: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type AuthListener = (state: AuthState) => void;
export type AuthState =
  { status: 'checking' } | { status: 'ok'; who: Whoami } | { status: 'needs_key'; message: string | null };

let key: string | null = sessionStorage.getItem(KEY_STORAGE);
let who: Whoami | null = null;
let token: { value: string; expiresAt: number } | null = null;
let state: AuthState = { status: 'checking' };
const listeners = new Set<AuthListener>();

function setState(next: AuthState): void {
  state = next;
  for (const l of [...listeners]) l(state);
}

export const auth = {
  get state(): AuthState {
    return state;
  },
  subscribe(l: AuthListener): () => void {
    listeners.add(l);
    return () => listeners.delete(l);
  },
  hasKey: (): boolean => key !== null,
  /** Whether the caller may do `action` on `name` (on some name when `name` is omitted). */
  can(resource: Resource, action: Action, name?: string): boolean {
    if (!who) return false;
    return name === undefined ? allowsSome(who.grants, resource, action) : allows(who.grants, resource, name, action);
  },
  async useKey(k: string): Promise<void> {
    key = k.trim() || null;
    token = null;
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
    await auth.check();
  },
  forget(): void {
    key = null;
    token = null;
    who = null;
    sessionStorage.removeItem(KEY_STORAGE);
    setState({ status: 'needs_key', message: null });
  },
  /** Ask the server who we are; 401 means a key is needed (or the one we have was refused). */
  async check(): Promise<boolean> {
    try {
      who = await request<Whoami>('GET', '/v1/whoami', undefined, false);
      setState({ status: 'ok', who });
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        who = null;
        token = null;
        setState({ status: 'needs_key', message: key ? `The key was refused: ${e.message}` : null });
        return false;
      }
      throw e;
    }
  },
};

async function request<T>(method: string, path: string, body: unknown, authFailures = true): Promise<T> {
  const headers: Record<string, string> = {};
  if (key) headers['authorization'] = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: reported below
  }
  if (!res.ok) {
    const err = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
    const failure = new ApiError(res.status, err?.code ?? 'error', err?.message ?? `HTTP ${res.status}`);
    // The key stopped working (revoked, expired): ask for one again.
    if (res.status === 401 && authFailures) void auth.check();
    throw failure;
  }
  return parsed as T;
}

export const api = {
  get: <T>(path: string) => request<T>('GET', path, undefined),
  post: <T>(path: string, body: unknown) => request<T>('POST', path, body),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  del: (path: string) => request<void>('DELETE', path, undefined),
};

/** The API reference's token lives this long: enough to read the page and follow its link to the document. */
const DOCS_TOKEN_TTL_MS = 15 * 60_000;
const DOCS_GRANT: Grant = { resource: 'cluster', name: 'cluster', pattern: 'literal', actions: ['describe'] };

/**
 * Where the "API reference" link leads. A browser following a link sends no Authorization header, so
 * with a key in use the URL carries a browser token that may only describe the cluster (all /docs needs).
 */
export async function docsUrl(): Promise<string> {
  if (!key) return '/docs';
  const minted = await request<{ token: string }>('POST', '/v1/tokens', {
    grants: [DOCS_GRANT],
    ttl_ms: DOCS_TOKEN_TTL_MS,
  });
  return `/docs?access_token=${encodeURIComponent(minted.token)}`;
}

/** `?access_token=` for EventSource: a browser token with the key's grants (none without a key). */
async function streamToken(): Promise<string | null> {
  if (!key || !who) return null;
  if (token && token.expiresAt - Date.now() > 30_000) return token.value;
  const minted = await request<{ token: string; expires_at: number }>('POST', '/v1/tokens', {
    grants: who.grants,
    ttl_ms: TOKEN_TTL_MS,
  });
  token = { value: minted.token, expiresAt: minted.expires_at };
  return token.value;
}

export interface StreamHandlers {
  /** Named events (`record`, `overview`, `gap`, `error`, ...) → handler of the event. */
  events: Record<string, (e: MessageEvent<string>) => void>;
  onOpen?(): void;
  /**
   * The stream ended and could not be reopened as it was (the server refused it: the topic may be
   * gone, or the position invalid). Not called when the key itself was refused (auth handles that).
   */
  onFailed?(message: string): void;
}

export interface LiveStream {
  close(): void;
  /** The id of the last event received (the resume cursor). */
  readonly lastEventId: string;
}

/**
 * An EventSource that survives token expiry and dropped connections: when the browser gives up
 * (a non-200 answer), it mints a fresh token and reopens from the last cursor; if the key itself
 * is refused, the page asks for a key; if the stream is refused for another reason, `onFailed`.
 */
export function openStream(path: string, handlers: StreamHandlers): LiveStream {
  let es: EventSource | null = null;
  let closed = false;
  let lastEventId = '';
  let failures = 0;
  const connect = async (): Promise<void> => {
    if (closed) return;
    let t: string | null;
    try {
      t = await streamToken();
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 401)) handlers.onFailed?.(String((e as Error).message));
      return;
    }
    if (closed) return;
    const url = new URL(path, location.origin);
    if (t) url.searchParams.set('access_token', t);
    if (lastEventId) url.searchParams.set('last_event_id', lastEventId);
    const source = new EventSource(url.toString());
    es = source;
    source.onopen = () => {
      failures = 0;
      handlers.onOpen?.();
    };
    for (const [type, handler] of Object.entries(handlers.events)) {
      source.addEventListener(type, (e) => {
        const m = e as MessageEvent<string>;
        if (m.lastEventId) lastEventId = m.lastEventId;
        handler(m);
      });
    }
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED || closed) return;
      // Refused (401, 404, 410, ...): find out whether it is the key, then retry or give up.
      void (async () => {
        const keyOk = await auth.check().catch(() => true);
        if (!keyOk || closed) return;
        token = null;
        failures++;
        if (failures >= 3) {
          handlers.onFailed?.('the stream was refused');
          return;
        }
        setTimeout(() => void connect(), 500 * failures);
      })();
    };
  };
  void connect();
  return {
    close: () => {
      closed = true;
      es?.close();
    },
    get lastEventId() {
      return lastEventId;
    },
  };
}
