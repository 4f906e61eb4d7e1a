// A consumer group: state, generation, members and their assignment, per-partition committed
// offset, end offset and lag (refreshed when the overview stream reports a change), and an
// offset reset (only while the group has no members) behind a confirmation step.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, auth } from '../api.js';
import { ActionButton, Badge, ErrorNotice, href, Section, Table } from '../components.js';
import { count, time } from '../format.js';
import { needs } from '../grants.js';
import { useOverview } from '../overview-store.js';

interface Group {
  name: string;
  state: string;
  generation: number;
  protocol: string;
  members: Array<{
    member_id: string;
    kind: string;
    topics: string[];
    session_expires_at: number;
    assignment: Array<{ topic: string; partition: number }>;
  }>;
  partitions: Array<{
    topic: string;
    partition: number;
    committed_offset: number | null;
    end_offset: number | null;
    lag: number | null;
    owner: string | null;
  }>;
  total_lag: number;
}

const errorText = (e: unknown): string => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));

export function GroupPage(props: { name: string }) {
  const { overview } = useOverview();
  const [group, setGroup] = useState<Group | null>(null);
  const [error, setError] = useState<string | null>(null);
  const s = overview?.groups.find((g) => g.name === props.name);
  const version = s ? `${s.state}/${s.generation}/${s.members}/${s.total_lag}` : 'none';
  // Topics' end offsets move the lag: the overview's change of total_lag triggers a reload.
  const load = async () => {
    try {
      setGroup(await api.get<Group>(`/v1/groups/${encodeURIComponent(props.name)}`));
      setError(null);
    } catch (e) {
      setGroup(null);
      setError(e instanceof ApiError && e.status === 404 ? `Group ${props.name} does not exist.` : errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, [props.name, version]);
  if (!group) return <div class="page">{error ? <ErrorNotice error={error} /> : <p>Loading…</p>}</div>;
  return (
    <div class="page">
      <h1>
        Group <span data-testid="group-name">{group.name}</span>
      </h1>
      <p>
        <Badge state={group.state} /> generation {group.generation} · protocol {group.protocol || '—'} · total lag{' '}
        <strong data-testid="total-lag">{count(group.total_lag)}</strong>
      </p>
      <ErrorNotice error={error} />
      <Section title="Lag per partition" id="h-lag">
        <Table
          testid="group-partitions"
          rows={group.partitions}
          rowKey={(p) => `${p.topic}:${p.partition}`}
          columns={[
            { label: 'Topic', cell: (p) => <a href={href('topics', p.topic)}>{p.topic}</a> },
            { label: 'Partition', cell: (p) => p.partition },
            { label: 'Committed', num: true, cell: (p) => p.committed_offset ?? '—' },
            { label: 'End', num: true, cell: (p) => p.end_offset ?? 'deleted' },
            { label: 'Lag', num: true, cell: (p) => p.lag ?? '—' },
            { label: 'Owner', mono: true, cell: (p) => (p.owner ? p.owner.slice(0, 8) : '—') },
          ]}
        />
      </Section>
      <Section title={`Members (${group.members.length})`} id="h-members">
        <table>
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Kind</th>
              <th scope="col">Topics</th>
              <th scope="col">Assignment</th>
              <th scope="col">Session expires</th>
            </tr>
          </thead>
          <tbody>
            {group.members.map((m) => (
              <tr key={m.member_id}>
                <td class="mono">{m.member_id}</td>
                <td>{m.kind}</td>
                <td>{m.topics.join(', ')}</td>
                <td>{m.assignment.map((a) => `${a.topic}/${a.partition}`).join(', ') || '—'}</td>
                <td>{time(m.session_expires_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </Section>
      <ResetOffsets group={group} onDone={load} />
    </div>
  );
}

function ResetOffsets(props: { group: Group; onDone: () => void }) {
  const { group } = props;
  const topics = [...new Set(group.partitions.map((p) => p.topic))];
  const [topic, setTopic] = useState(topics[0] ?? '');
  const [to, setTo] = useState<'earliest' | 'latest' | 'offset' | 'timestamp'>('latest');
  const [at, setAt] = useState('');
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const denied = !auth.can('group', 'write', group.name)
    ? needs('group', 'write', group.name)
    : group.members.length > 0
      ? `the group has ${group.members.length} member(s): offsets can be reset only while it has none`
      : topics.length === 0
        ? 'the group has no partitions to reset'
        : !auth.can('topic', 'read', topic || topics[0]!)
          ? needs('topic', 'read', topic || topics[0]!)
          : null;
  const target =
    to === 'offset' ? { offset: Number(at) } : to === 'timestamp' ? { timestamp: Date.parse(at) || Number(at) } : to;
  const describeTarget = to === 'offset' ? `offset ${at}` : to === 'timestamp' ? `time ${at}` : to;
  const reset = async () => {
    setError(null);
    try {
      await api.post(`/v1/groups/${encodeURIComponent(group.name)}/offsets/reset`, {
        topic: topic || topics[0],
        to: target,
      });
      setDone(`Offsets of ${topic} reset to ${describeTarget}`);
      props.onDone();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setConfirming(false);
    }
  };
  return (
    <Section title="Reset offsets" id="h-reset">
      <form class="inline" aria-label="Reset offsets" onSubmit={(e) => (e.preventDefault(), setConfirming(true))}>
        <label>
          Topic{' '}
          <select name="reset-topic" value={topic} onChange={(e) => setTopic(e.currentTarget.value)}>
            {topics.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          To{' '}
          <select name="reset-to" value={to} onChange={(e) => setTo(e.currentTarget.value as typeof to)}>
            <option value="earliest">earliest</option>
            <option value="latest">latest</option>
            <option value="offset">offset</option>
            <option value="timestamp">timestamp</option>
          </select>
        </label>
        {to === 'offset' || to === 'timestamp' ? (
          <label>
            {to === 'offset' ? 'Offset' : 'Time (ISO or Unix ms)'}{' '}
            <input name="reset-at" value={at} onInput={(e) => setAt(e.currentTarget.value)} />
          </label>
        ) : null}
        <ActionButton type="submit" denied={denied}>
          Reset…
        </ActionButton>
      </form>
      {confirming ? (
        <div class="confirm" role="alertdialog" aria-label="Confirm the reset">
          <p>
            Reset the committed offsets of group {group.name} on {topic} to {describeTarget}? Consumers will re-read or
            skip records.
          </p>
          <button type="button" onClick={() => void reset()} autoFocus>
            Confirm reset
          </button>{' '}
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      ) : null}
      <ErrorNotice error={error} />
      {done ? <span role="status">{done}</span> : null}
    </Section>
  );
}
