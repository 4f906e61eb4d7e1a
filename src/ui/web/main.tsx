// The dashboard at /ui: a hash-routed single page (overview, topic, group, webhook) on the public
// API, with the API key asked for once per tab when access control needs one.
import 'uplot/dist/uPlot.min.css';
import './app.css';
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { auth, docsUrl, type AuthState } from './api.js';
import { needs } from './grants.js';
import { startOverview, stopOverview, useOverview } from './overview-store.js';
import { GroupPage } from './pages/group.js';
import { OverviewPage } from './pages/overview.js';
import { TopicPage } from './pages/topic.js';
import { WebhookPage } from './pages/webhook.js';

type Route = { page: 'overview' } | { page: 'topic' | 'group' | 'webhook'; name: string };

function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .map((p) => {
      try {
        return decodeURIComponent(p);
      } catch {
        return p;
      }
    });
  const [kind, name] = parts;
  if (name && kind === 'topics') return { page: 'topic', name };
  if (name && kind === 'groups') return { page: 'group', name };
  if (name && kind === 'webhooks') return { page: 'webhook', name };
  return { page: 'overview' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

function useAuth(): AuthState {
  const [state, setState] = useState(auth.state);
  useEffect(() => auth.subscribe(setState), []);
  return state;
}

function KeyPrompt(props: { message: string | null }) {
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <main class="page narrow">
      <h1>Sluice</h1>
      <form
        class="stack card"
        aria-label="API key"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void auth.useKey(value).finally(() => setBusy(false));
        }}
      >
        <p>
          Access control is on: enter an API key. It is kept in this tab only (sessionStorage) and sent only to this
          server.
        </p>
        {props.message ? (
          <p class="error" role="alert">
            {props.message}
          </p>
        ) : null}
        <label>
          API key{' '}
          <input
            name="api-key"
            type="password"
            autoComplete="off"
            autoFocus
            required
            value={value}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </label>
        <button type="submit" disabled={busy}>
          Use this key
        </button>
      </form>
    </main>
  );
}

/** The API reference: with a key, opened through a browser token (a link cannot send the key). */
function DocsLink() {
  const [failure, setFailure] = useState<string | null>(null);
  if (auth.hasKey() && !auth.can('cluster', 'describe', 'cluster')) {
    return (
      <span class="link-disabled" aria-disabled="true" title={needs('cluster', 'describe')}>
        API reference
      </span>
    );
  }
  const open = (e: MouseEvent) => {
    if (!auth.hasKey() || e.button > 1) return;
    e.preventDefault();
    // A new tab must be opened now, inside the click, or the browser blocks it.
    const tab = e.ctrlKey || e.metaKey || e.shiftKey || e.button === 1 ? window.open('', '_blank') : null;
    docsUrl().then(
      (url) => (tab ? (tab.location.href = url) : location.assign(url)),
      (err: unknown) => {
        tab?.close();
        setFailure(`Could not open the API reference: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
  };
  return (
    <a href="/docs" onClick={open} onAuxClick={open} title={failure ?? undefined}>
      API reference
    </a>
  );
}

function Shell(props: { who: Extract<AuthState, { status: 'ok' }>['who'] }) {
  const route = useRoute();
  const { connected } = useOverview();
  useEffect(() => {
    startOverview();
    return stopOverview;
  }, [props.who.key_id]);
  const current = (p: Route['page']) => (route.page === p ? 'page' : undefined);
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <a href="#/" class="brand" aria-current={current('overview')}>
            Sluice
          </a>
          <a href="#/" aria-current={current('overview')}>
            Overview
          </a>
          <DocsLink />
        </nav>
        <span class="who">
          <span class={connected ? 'dot on' : 'dot'} title={connected ? 'live' : 'not connected'} aria-hidden="true" />
          {connected ? 'live' : 'offline'} ·{' '}
          {props.who.kind === 'anonymous' ? 'no access control' : `${props.who.kind} ${props.who.key_id ?? ''}`}
          {auth.hasKey() ? (
            <button type="button" class="link" onClick={() => auth.forget()}>
              Forget key
            </button>
          ) : null}
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {route.page === 'overview' ? <OverviewPage /> : null}
        {route.page === 'topic' ? <TopicPage key={route.name} name={route.name} /> : null}
        {route.page === 'group' ? <GroupPage key={route.name} name={route.name} /> : null}
        {route.page === 'webhook' ? <WebhookPage key={route.name} id={route.name} /> : null}
      </main>
    </>
  );
}

function App() {
  const state = useAuth();
  const [failure, setFailure] = useState<string | null>(null);
  useEffect(() => {
    auth.check().catch((e: unknown) => setFailure(`The server did not answer: ${String(e)}`));
  }, []);
  if (failure)
    return (
      <p class="error" role="alert">
        {failure}
      </p>
    );
  if (state.status === 'checking') return <p>Connecting…</p>;
  if (state.status === 'needs_key') return <KeyPrompt message={state.message} />;
  return <Shell who={state.who} />;
}

render(<App />, document.getElementById('app')!);
