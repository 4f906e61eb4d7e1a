// A webhook: state, backlog, per-partition progress, last error, the recent deliveries log, and
// pause/resume and secret rotation; refreshed when the overview stream reports a change.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, auth } from '../api.js';
import { ActionButton, Badge, ErrorNotice, href, Section, Table } from '../components.js';
import { count, time } from '../format.js';
import { needs } from '../grants.js';
import { useOverview } from '../overview-store.js';

interface Webhook {
  id: string;
  topic: string;
  url: string;
  state: string;
  state_reason: string | null;
  lag: number;
  consecutive_failures: number;
  last_success_at: number | null;
  last_error_at: number | null;
  last_error: string | null;
  dead_letter_topic: string | null;
  partitions: Array<{ partition: number; next_offset: number; end_offset: number; lag: number; in_flight: unknown }>;
}

interface Delivery {
  partition: number;
  first_offset: number;
  last_offset: number;
  record_count: number;
  attempt: number;
  outcome: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  at: number;
}

const errorText = (e: unknown): string => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));

export function WebhookPage(props: { id: string }) {
  const { overview } = useOverview();
  const [hook, setHook] = useState<Webhook | null>(null);
  const [deliveries, setDeliveries] = useState<Delivery[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [secret, setSecret] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const s = overview?.webhooks.find((w) => w.id === props.id);
  const version = s ? `${s.state}/${s.lag}/${overview?.at ?? 0}` : 'none';
  const path = `/v1/webhooks/${encodeURIComponent(props.id)}`;
  const load = async () => {
    try {
      const [h, d] = await Promise.all([
        api.get<Webhook>(path),
        api.get<{ deliveries: Delivery[] }>(`${path}/deliveries`),
      ]);
      setHook(h);
      setDeliveries(d.deliveries);
    } catch (e) {
      setError(e instanceof ApiError && e.status === 404 ? `Webhook ${props.id} does not exist.` : errorText(e));
    }
  };
  // Deliveries change without the state or lag changing: follow each snapshot, but only while the
  // webhook is being worked on (a backlog, or failing); an idle one is loaded once per change. Its
  // topic's end offset is part of the change: records produced and delivered between two snapshots
  // never show as a backlog, yet add deliveries.
  const busyHook = s !== undefined && (s.lag > 0 || s.state === 'failing');
  const topicEnd = s ? overview?.topics.find((t) => t.name === s.topic)?.end_offset : undefined;
  useEffect(() => {
    void load();
  }, [props.id, busyHook ? version : `${s?.state}/${s?.lag}/${topicEnd}`]);

  if (!hook) return <div class="page">{error ? <ErrorNotice error={error} /> : <p>Loading…</p>}</div>;
  const alterDenied = auth.can('webhook', 'alter', hook.topic) ? null : needs('webhook', 'alter', hook.topic);
  // A change (PATCH) also needs topic:read on the webhook's topic; rotating the secret does not.
  const changeDenied =
    alterDenied ?? (auth.can('topic', 'read', hook.topic) ? null : needs('topic', 'read', hook.topic));
  const paused = hook.state === 'paused';
  const setState = async (state: 'paused' | 'active') => {
    setBusy(true);
    setError(null);
    try {
      setHook(await api.patch<Webhook>(path, { state }));
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const rotate = async () => {
    setBusy(true);
    setError(null);
    try {
      const res = await api.post<{ secret: string }>(`${path}/rotate-secret`, {});
      setSecret(res.secret);
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  const canToggle = hook.state === 'active' || hook.state === 'failing' || paused;
  return (
    <div class="page">
      <h1>Webhook {hook.id}</h1>
      <p>
        <span data-testid="webhook-state">
          <Badge state={hook.state} />
        </span>{' '}
        delivers <a href={href('topics', hook.topic)}>{hook.topic}</a> to <code>{hook.url}</code> · backlog{' '}
        <strong>{count(hook.lag)}</strong>
        {hook.state_reason ? ` · ${hook.state_reason}` : ''}
      </p>
      <div class="inline">
        <ActionButton
          denied={changeDenied ?? (canToggle ? null : `a ${hook.state} webhook cannot be paused or resumed`)}
          busy={busy}
          onClick={() => void setState(paused ? 'active' : 'paused')}
        >
          {paused ? 'Resume' : 'Pause'}
        </ActionButton>
        <ActionButton denied={alterDenied} busy={busy} onClick={() => void rotate()}>
          Rotate secret
        </ActionButton>
      </div>
      {secret ? (
        <p class="secret" role="status">
          New signing secret (shown once; the previous one stays valid for its grace period): <code>{secret}</code>
        </p>
      ) : null}
      <ErrorNotice error={error} />
      <div class="grid two">
        <Section title="Progress per partition" id="h-progress">
          <Table
            rows={hook.partitions}
            rowKey={(p) => p.partition}
            columns={[
              { label: 'Partition', cell: (p) => p.partition },
              { label: 'Next', num: true, cell: (p) => p.next_offset },
              { label: 'End', num: true, cell: (p) => p.end_offset },
              { label: 'Lag', num: true, cell: (p) => p.lag },
              { label: 'In flight', cell: (p) => (p.in_flight ? 'yes' : '—') },
            ]}
          />
        </Section>
        <Section title="Health" id="h-webhook-health">
          <dl class="stats">
            <dt>last success</dt>
            <dd>{time(hook.last_success_at)}</dd>
            <dt>consecutive failures</dt>
            <dd>{hook.consecutive_failures}</dd>
            <dt>last error</dt>
            <dd>{hook.last_error ? `${time(hook.last_error_at)}: ${hook.last_error}` : '—'}</dd>
            <dt>dead-letter topic</dt>
            <dd>{hook.dead_letter_topic ?? '—'}</dd>
          </dl>
        </Section>
      </div>
      <Section title="Recent deliveries" id="h-deliveries">
        <table data-testid="deliveries">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Partition</th>
              <th scope="col">Offsets</th>
              <th scope="col" class="num">
                Attempt
              </th>
              <th scope="col">Outcome</th>
              <th scope="col">Status</th>
              <th scope="col" class="num">
                Latency
              </th>
              <th scope="col">Error</th>
            </tr>
          </thead>
          <tbody>
            {deliveries.map((d, i) => (
              <tr key={i}>
                <td>{time(d.at)}</td>
                <td>{d.partition}</td>
                <td>
                  {d.first_offset}–{d.last_offset}
                </td>
                <td class="num">{d.attempt}</td>
                <td>
                  <Badge state={d.outcome} />
                </td>
                <td>{d.status_code ?? '—'}</td>
                <td class="num">{d.duration_ms} ms</td>
                <td>{d.error ?? ''}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
    </div>
  );
}
