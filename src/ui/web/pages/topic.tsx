// A topic: partitions (offsets, sizes), config (shown and editable), a produce form, and a live
// tail over SSE from latest, earliest, an offset or a timestamp, with key/header filters.
import { Component } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { api, ApiError, auth, openStream, type LiveStream } from '../api.js';
import { ActionButton, ErrorNotice, Section } from '../components.js';
import { bytes, count, duration, oneLine, showValue, SHOWN_CHARS, time } from '../format.js';
import { needs } from '../grants.js';
import { useOverview } from '../overview-store.js';

interface Topic {
  name: string;
  partition_count: number;
  partitions: Array<{
    partition: number;
    start_offset: number;
    end_offset: number;
    size_bytes: number;
    writable: boolean;
  }>;
  config: {
    retention_ms: number;
    retention_bytes: number;
    segment_bytes: number;
    durability: string;
    value_format: 'json' | 'string' | 'binary';
    max_record_bytes: number;
  };
}

interface TailRecord {
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  value: unknown;
  headers: Record<string, string | null>;
  value_encoding?: string;
}

const errorText = (e: unknown): string => (e instanceof ApiError ? `${e.code}: ${e.message}` : String(e));

export function TopicPage(props: { name: string }) {
  const { overview } = useOverview();
  const [topic, setTopic] = useState<Topic | null>(null);
  const [gone, setGone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const summary = overview?.topics.find((t) => t.name === props.name);
  // Refetched when the overview stream says something about this topic changed, not on a timer.
  const version = summary
    ? `${summary.partitions}/${summary.start_offset}/${summary.end_offset}/${summary.size_bytes}`
    : 'none';
  const load = async () => {
    try {
      setTopic(await api.get<Topic>(`/v1/topics/${encodeURIComponent(props.name)}`));
      setGone(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) {
        setTopic(null);
        setGone(`Topic ${props.name} does not exist (it may have been deleted).`);
      } else setError(errorText(e));
    }
  };
  useEffect(() => {
    void load();
  }, [props.name, version]);

  if (gone) {
    return (
      <div class="page">
        <h1>Topic {props.name}</h1>
        <p class="error" role="alert" data-testid="topic-gone">
          {gone}
        </p>
      </div>
    );
  }
  if (!topic) return <p>{error ?? 'Loading…'}</p>;
  return (
    <div class="page">
      <h1>
        Topic <span data-testid="topic-name">{topic.name}</span>
      </h1>
      <ErrorNotice error={error} />
      <div class="grid two">
        <Section title="Partitions" id="h-partitions">
          <table data-testid="partitions">
            <thead>
              <tr>
                <th scope="col">#</th>
                <th scope="col" class="num">
                  Start
                </th>
                <th scope="col" class="num">
                  End
                </th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">Writable</th>
              </tr>
            </thead>
            <tbody>
              {topic.partitions.map((p) => (
                <tr key={p.partition}>
                  <td>{p.partition}</td>
                  <td class="num">{count(p.start_offset)}</td>
                  <td class="num" data-testid={`end-${p.partition}`}>
                    {count(p.end_offset)}
                  </td>
                  <td class="num">{bytes(p.size_bytes)}</td>
                  <td>{p.writable ? 'yes' : 'read-only'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </Section>
        <ConfigEditor topic={topic} onSaved={load} />
      </div>
      <ProduceForm topic={topic} />
      <LiveTail topic={topic} onGone={(m) => setGone(m)} />
    </div>
  );
}

function ConfigEditor(props: { topic: Topic; onSaved: () => void }) {
  const { topic } = props;
  const [partitions, setPartitions] = useState(String(topic.partition_count));
  const [retentionMs, setRetentionMs] = useState(String(topic.config.retention_ms));
  const [retentionBytes, setRetentionBytes] = useState(String(topic.config.retention_bytes));
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  useEffect(() => setPartitions(String(topic.partition_count)), [topic.partition_count]);
  const denied = auth.can('topic', 'alter', topic.name) ? null : needs('topic', 'alter', topic.name);
  const save = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const body: Record<string, unknown> = {
      config: { retention_ms: Number(retentionMs), retention_bytes: Number(retentionBytes) },
    };
    if (Number(partitions) !== topic.partition_count) body['partitions'] = Number(partitions);
    try {
      await api.patch(`/v1/topics/${encodeURIComponent(topic.name)}`, body);
      setSaved(true);
      props.onSaved();
    } catch (err) {
      setError(errorText(err));
    }
  };
  const c = topic.config;
  return (
    <Section title="Config" id="h-config">
      <p class="muted">
        {c.value_format} values · durability {c.durability} · segments of {bytes(c.segment_bytes)} · records ≤{' '}
        {bytes(c.max_record_bytes)} · retention {duration(c.retention_ms)}
        {c.retention_bytes >= 0 ? ` or ${bytes(c.retention_bytes)} per partition` : ''}
      </p>
      <form onSubmit={save} aria-label="Edit topic config" class="stack">
        <label>
          Partitions (grow only){' '}
          <input
            name="partitions"
            type="number"
            min={topic.partition_count}
            value={partitions}
            disabled={Boolean(denied)}
            onInput={(e) => setPartitions(e.currentTarget.value)}
          />
        </label>
        <label>
          retention_ms (-1 = forever){' '}
          <input
            name="retention_ms"
            type="number"
            min={-1}
            value={retentionMs}
            disabled={Boolean(denied)}
            onInput={(e) => setRetentionMs(e.currentTarget.value)}
          />
        </label>
        <label>
          retention_bytes (-1 = no limit){' '}
          <input
            name="retention_bytes"
            type="number"
            min={-1}
            value={retentionBytes}
            disabled={Boolean(denied)}
            onInput={(e) => setRetentionBytes(e.currentTarget.value)}
          />
        </label>
        <ActionButton type="submit" denied={denied}>
          Save config
        </ActionButton>
        <ErrorNotice error={error} />
        {saved ? <span role="status">Saved</span> : null}
      </form>
    </Section>
  );
}

/** `name: value` per line → headers. */
function parseHeaders(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const at = line.indexOf(':');
    if (at <= 0) throw new Error(`header line "${line}" is not "name: value"`);
    out[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  }
  return out;
}

function ProduceForm(props: { topic: Topic }) {
  const { topic } = props;
  const [key, setKey] = useState('');
  const [value, setValue] = useState('');
  const [headers, setHeaders] = useState('');
  const [partition, setPartition] = useState('');
  const [result, setResult] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const denied = auth.can('topic', 'write', topic.name) ? null : needs('topic', 'write', topic.name);
  const format = topic.config.value_format;
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    setResult(null);
    let record: Record<string, unknown>;
    try {
      record = {
        value: format === 'json' ? JSON.parse(value) : value,
        ...(key !== '' ? { key } : {}),
        ...(headers.trim() ? { headers: parseHeaders(headers) } : {}),
        ...(partition !== '' ? { partition: Number(partition) } : {}),
      };
    } catch (err) {
      setError(`Not sent: ${(err as Error).message}${format === 'json' ? ' (this topic takes JSON values)' : ''}`);
      return;
    }
    setBusy(true);
    try {
      const res = await api.post<{ offsets: Array<{ partition: number; offset: number }> }>(
        `/v1/topics/${encodeURIComponent(topic.name)}/records`,
        { records: [record] },
      );
      const o = res.offsets[0]!;
      setResult(`Appended at partition ${o.partition}, offset ${o.offset}`);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Produce" id="h-produce">
      <form onSubmit={submit} aria-label="Produce a record" class="produce">
        <label>
          Key <input name="key" value={key} disabled={Boolean(denied)} onInput={(e) => setKey(e.currentTarget.value)} />
        </label>
        <label>
          Partition{' '}
          <select
            name="partition"
            value={partition}
            disabled={Boolean(denied)}
            onChange={(e) => setPartition(e.currentTarget.value)}
          >
            <option value="">by key / spread</option>
            {topic.partitions.map((p) => (
              <option key={p.partition} value={String(p.partition)}>
                {p.partition}
              </option>
            ))}
          </select>
        </label>
        <label class="wide">
          <span>Value ({format === 'json' ? 'JSON' : format === 'binary' ? 'base64' : 'text'})</span>
          <textarea
            name="value"
            rows={3}
            required
            value={value}
            disabled={Boolean(denied)}
            onInput={(e) => setValue(e.currentTarget.value)}
          />
        </label>
        <label class="wide">
          <span>
            Headers (one <code>name: value</code> per line)
          </span>
          <textarea
            name="headers"
            rows={2}
            value={headers}
            disabled={Boolean(denied)}
            onInput={(e) => setHeaders(e.currentTarget.value)}
          />
        </label>
        <ActionButton type="submit" denied={denied} busy={busy}>
          Produce
        </ActionButton>
        <ErrorNotice error={error} />
        {result ? (
          <span role="status" data-testid="produce-result">
            {result}
          </span>
        ) : null}
      </form>
    </Section>
  );
}

const MAX_TAIL = 500;

function LiveTail(props: { topic: Topic; onGone: (message: string) => void }) {
  const { topic } = props;
  const [from, setFrom] = useState<'latest' | 'earliest' | 'offset' | 'timestamp'>('latest');
  const [partition, setPartition] = useState('all');
  const [position, setPosition] = useState('');
  const [keyFilter, setKeyFilter] = useState('');
  const [headerFilter, setHeaderFilter] = useState('');
  const [binaryAs, setBinaryAs] = useState<'base64' | 'hex'>('base64');
  const [records, setRecords] = useState<TailRecord[]>([]);
  const [status, setStatus] = useState<'stopped' | 'connecting' | 'live' | 'paused'>('stopped');
  const [notice, setNotice] = useState<string | null>(null);
  const stream = useRef<LiveStream | null>(null);
  const resumeFrom = useRef<string>('');
  const denied = auth.can('topic', 'read', topic.name) ? null : needs('topic', 'read', topic.name);
  // A binary topic's values come as base64 without `value_encoding` (every one of them is bytes).
  const binaryTopic = topic.config.value_format === 'binary';

  useEffect(() => () => stream.current?.close(), []);

  const url = (cursor: string): string => {
    const base = `/v1/topics/${encodeURIComponent(topic.name)}`;
    const q = new URLSearchParams();
    let path: string;
    if (partition === 'all') {
      path = `${base}/events`;
      if (!cursor) {
        if (from === 'timestamp') q.set('timestamp', String(Date.parse(position) || Number(position) || 0));
        else q.set('from', from === 'offset' ? 'earliest' : from);
      }
    } else {
      path = `${base}/partitions/${partition}/events`;
      if (!cursor) {
        if (from === 'timestamp') q.set('timestamp', String(Date.parse(position) || Number(position) || 0));
        else q.set('from', from === 'offset' ? String(Number(position) || 0) : from);
      }
    }
    if (cursor) q.set('last_event_id', cursor);
    if (keyFilter) q.set('key', keyFilter);
    const eq = headerFilter.indexOf('=');
    if (eq > 0) q.set(`header.${headerFilter.slice(0, eq).trim()}`, headerFilter.slice(eq + 1));
    return `${path}?${q.toString()}`;
  };

  const open = (cursor: string) => {
    stream.current?.close();
    setStatus('connecting');
    setNotice(null);
    stream.current = openStream(url(cursor), {
      events: {
        record: (e) => {
          const r = JSON.parse(e.data) as TailRecord;
          setRecords((list) => [r, ...list].slice(0, MAX_TAIL));
        },
        gap: (e) => {
          const g = JSON.parse(e.data) as { partition: number; from_offset: number; to_offset: number };
          setNotice(
            `Partition ${g.partition}: offsets ${g.from_offset}–${g.to_offset - 1} were deleted by retention before they were shown.`,
          );
        },
        error: (e) => {
          if (!e.data) return;
          const body = JSON.parse(e.data) as { code?: string; message?: string };
          stream.current?.close();
          setStatus('stopped');
          if (body.code === 'topic_not_found' || body.code === 'gone')
            props.onGone(body.message ?? 'The topic was deleted.');
          else setNotice(body.message ?? 'The stream ended.');
        },
      },
      onOpen: () => setStatus('live'),
      onFailed: (m) => {
        setStatus('stopped');
        setNotice(`The live tail stopped: ${m}`);
        // A refused stream most often means the topic went away: the page finds out.
        void api.get(`/v1/topics/${encodeURIComponent(topic.name)}`).catch((err) => {
          if (err instanceof ApiError && err.status === 404) props.onGone(`Topic ${topic.name} was deleted.`);
        });
      },
    });
  };
  const start = () => {
    setRecords([]);
    open('');
  };
  const pause = () => {
    resumeFrom.current = stream.current?.lastEventId ?? '';
    stream.current?.close();
    stream.current = null;
    setStatus('paused');
  };
  // Resuming from the cursor: nothing produced while paused is missed or repeated.
  const resume = () => open(resumeFrom.current);

  return (
    <Section title="Live tail" id="h-tail">
      <form class="inline" onSubmit={(e) => (e.preventDefault(), start())} aria-label="Live tail settings">
        <label>
          From{' '}
          <select name="from" value={from} onChange={(e) => setFrom(e.currentTarget.value as typeof from)}>
            <option value="latest">latest</option>
            <option value="earliest">earliest</option>
            <option value="offset">offset (one partition)</option>
            <option value="timestamp">timestamp</option>
          </select>
        </label>
        {from === 'offset' || from === 'timestamp' ? (
          <label>
            {from === 'offset' ? 'Offset' : 'Time (ISO or Unix ms)'}{' '}
            <input name="position" value={position} onInput={(e) => setPosition(e.currentTarget.value)} />
          </label>
        ) : null}
        <label>
          Partition{' '}
          <select name="tail-partition" value={partition} onChange={(e) => setPartition(e.currentTarget.value)}>
            {from === 'offset' ? null : <option value="all">all</option>}
            {topic.partitions.map((p) => (
              <option key={p.partition} value={String(p.partition)}>
                {p.partition}
              </option>
            ))}
          </select>
        </label>
        <label>
          Key <input name="key-filter" value={keyFilter} onInput={(e) => setKeyFilter(e.currentTarget.value)} />
        </label>
        <label>
          Header{' '}
          <input
            name="header-filter"
            placeholder="name=value"
            value={headerFilter}
            onInput={(e) => setHeaderFilter(e.currentTarget.value)}
          />
        </label>
        <ActionButton type="submit" denied={denied}>
          {status === 'stopped' ? 'Start' : 'Restart'}
        </ActionButton>
        <button type="button" onClick={pause} disabled={status !== 'live' && status !== 'connecting'}>
          Pause
        </button>
        <button type="button" onClick={resume} disabled={status !== 'paused'}>
          Resume
        </button>
        <button type="button" onClick={() => setRecords([])}>
          Clear
        </button>
        <label>
          Binary as{' '}
          <select
            name="binary-as"
            value={binaryAs}
            onChange={(e) => setBinaryAs(e.currentTarget.value as 'base64' | 'hex')}
          >
            <option value="base64">base64</option>
            <option value="hex">hex</option>
          </select>
        </label>
        <span role="status" class={`tail-status tail-${status}`} data-testid="tail-status">
          {status}
        </span>
      </form>
      {notice ? <p class="warn">{notice}</p> : null}
      <table class="tail" data-testid="tail">
        <thead>
          <tr>
            <th scope="col">Partition</th>
            <th scope="col" class="num">
              Offset
            </th>
            <th scope="col">Time</th>
            <th scope="col">Key</th>
            <th scope="col">Headers</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>
          {records.map((r) => (
            <TailRow
              key={`${r.partition}:${r.offset}`}
              r={r}
              base64={binaryTopic || r.value_encoding === 'base64'}
              binaryAs={binaryAs}
            />
          ))}
        </tbody>
      </table>
    </Section>
  );
}

interface TailRowProps {
  r: TailRecord;
  base64: boolean;
  binaryAs: 'base64' | 'hex';
}

/**
 * One record of the tail, rendered once: a new record re-renders only its own row, and a value
 * past SHOWN_CHARS is cut with a note (whole on request), so a producer of large values cannot
 * make every viewer's tab rebuild megabytes of text per record.
 */
class TailRow extends Component<TailRowProps, { all: boolean }> {
  override state = { all: false };

  override shouldComponentUpdate(next: TailRowProps, nextState: { all: boolean }): boolean {
    const p = this.props;
    return (
      next.r !== p.r ||
      nextState.all !== this.state.all ||
      next.base64 !== p.base64 ||
      (next.base64 && next.binaryAs !== p.binaryAs)
    );
  }

  override render() {
    const { r, base64, binaryAs } = this.props;
    const shown = showValue(r.value, base64, binaryAs, this.state.all ? Number.POSITIVE_INFINITY : SHOWN_CHARS);
    return (
      <tr data-offset={r.offset}>
        <td>{r.partition}</td>
        <td class="num">{r.offset}</td>
        <td>{time(r.timestamp)}</td>
        <td class="mono">{typeof r.key === 'string' ? oneLine(r.key) : '—'}</td>
        <td class="mono">
          {Object.entries(r.headers ?? {})
            .map(([k, v]) => `${oneLine(k)}: ${typeof v === 'string' ? oneLine(v) : JSON.stringify(v)}`)
            .join('\n')}
        </td>
        <td>
          <pre class="value">{shown.text}</pre>
          {shown.more > 0 ? (
            <p class="value-cut">
              … {count(shown.more)} more characters{' '}
              <button type="button" class="link" onClick={() => this.setState({ all: true })}>
                Show all
              </button>
            </p>
          ) : null}
        </td>
      </tr>
    );
  }
}
