// The overview: health, rates with charts of the last minutes, topics, groups and webhooks,
// all from the overview stream; and a form to create a topic.
import { useState } from 'preact/hooks';
import { api, ApiError, auth } from '../api.js';
import { ActionButton, Badge, Chart, ErrorNotice, href, Section } from '../components.js';
import { bytes, count, rate } from '../format.js';
import { needs } from '../grants.js';
import { useOverview } from '../overview-store.js';

export function OverviewPage() {
  const { overview, connected, history } = useOverview();
  if (!overview) return <p aria-live="polite">{connected ? 'Waiting for the first snapshot…' : 'Connecting…'}</p>;
  const { health, rates } = overview;
  return (
    <div class="page">
      <h1>Overview</h1>
      {overview.stale ? <p class="warn">{overview.stale}</p> : null}
      {health && rates ? (
        <div class="grid">
          <Section title="Health" id="h-health">
            <p data-testid="health">
              <Badge state={health.status} /> database {health.database_ok ? 'reachable' : 'unreachable'} ·{' '}
              {health.quarantined.length} quarantined · {health.read_only.length} read-only partitions
            </p>
            {health.reasons.length > 0 ? (
              <ul>
                {health.reasons.map((r) => (
                  <li key={r}>{r}</li>
                ))}
              </ul>
            ) : null}
            <dl class="stats">
              <dt>records in/s</dt>
              <dd data-testid="rate-in">{rate(rates.records_in_per_sec)}</dd>
              <dt>records read/s</dt>
              <dd>{rate(rates.records_read_per_sec)}</dd>
              <dt>bytes in/s</dt>
              <dd>{bytes(Math.round(rates.bytes_in_per_sec))}</dd>
              <dt>bytes out/s</dt>
              <dd>{bytes(Math.round(rates.bytes_out_per_sec))}</dd>
              <dt>SSE streams</dt>
              <dd>{count(rates.sse_streams)}</dd>
            </dl>
          </Section>
          <Chart
            title="Records per second"
            t={history.t}
            format={rate}
            series={[
              { label: 'in', values: history.recordsIn, color: '#1f6feb' },
              { label: 'read', values: history.recordsRead, color: '#b35900' },
            ]}
          />
          <Chart
            title="Bytes per second"
            t={history.t}
            format={(n) => bytes(Math.round(n))}
            floor={4096}
            series={[
              { label: 'in', values: history.bytesIn, color: '#1f6feb' },
              { label: 'out', values: history.bytesOut, color: '#8250df' },
            ]}
          />
        </div>
      ) : (
        <p class="muted">Health and rates need cluster:describe.</p>
      )}
      <Section title={`Topics (${overview.topics.length})`} id="h-topics">
        <CreateTopic />
        <table>
          <thead>
            <tr>
              <th scope="col">Topic</th>
              <th scope="col" class="num">
                Partitions
              </th>
              <th scope="col" class="num">
                Retained
              </th>
              <th scope="col" class="num">
                Records
              </th>
              <th scope="col" class="num">
                Records in/s
              </th>
            </tr>
          </thead>
          <tbody>
            {overview.topics.map((t) => (
              <tr key={t.name} data-topic={t.name}>
                <td>
                  <a href={href('topics', t.name)}>{t.name}</a>
                </td>
                <td class="num">{t.partitions}</td>
                <td class="num">{bytes(t.size_bytes)}</td>
                <td class="num">{count(t.end_offset - t.start_offset)}</td>
                <td class="num">{rate(t.records_in_per_sec)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <div class="grid two">
        <Section title={`Consumer groups (${overview.groups.length})`} id="h-groups">
          <table>
            <thead>
              <tr>
                <th scope="col">Group</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Members
                </th>
                <th scope="col" class="num">
                  Total lag
                </th>
              </tr>
            </thead>
            <tbody>
              {overview.groups.map((g) => (
                <tr key={g.name} data-group={g.name}>
                  <td>
                    <a href={href('groups', g.name)}>{g.name}</a>
                  </td>
                  <td>
                    <Badge state={g.state} />
                  </td>
                  <td class="num">{g.members}</td>
                  <td class="num" data-testid="group-lag">
                    {count(g.total_lag)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
        <Section title={`Webhooks (${overview.webhooks.length})`} id="h-webhooks">
          <table>
            <thead>
              <tr>
                <th scope="col">Webhook</th>
                <th scope="col">Topic</th>
                <th scope="col">State</th>
                <th scope="col" class="num">
                  Backlog
                </th>
              </tr>
            </thead>
            <tbody>
              {overview.webhooks.map((w) => (
                <tr key={w.id} data-webhook={w.id}>
                  <td>
                    <a href={href('webhooks', w.id)} title={w.url}>
                      {w.id.slice(0, 8)}
                    </a>
                  </td>
                  <td>{w.topic}</td>
                  <td>
                    <Badge state={w.state} />
                  </td>
                  <td class="num">{count(w.lag)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
      </div>
    </div>
  );
}

function CreateTopic() {
  const [name, setName] = useState('');
  const [partitions, setPartitions] = useState('1');
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const denied = auth.can('topic', 'create') ? null : needs('topic', 'create');
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(null);
    try {
      await api.post('/v1/topics', { name, partitions: Number(partitions) });
      setDone(`Created topic ${name}`);
      setName('');
    } catch (err) {
      setError(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="inline" onSubmit={submit} aria-label="Create a topic">
      <label>
        Name{' '}
        <input
          name="topic-name"
          required
          pattern="[a-zA-Z0-9._\-]{1,249}"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
        />
      </label>
      <label>
        Partitions{' '}
        <input
          name="topic-partitions"
          type="number"
          min={1}
          value={partitions}
          onInput={(e) => setPartitions(e.currentTarget.value)}
        />
      </label>
      <ActionButton type="submit" denied={denied} busy={busy}>
        Create topic
      </ActionButton>
      <ErrorNotice error={error} />
      {done ? <span role="status">{done}</span> : null}
    </form>
  );
}
