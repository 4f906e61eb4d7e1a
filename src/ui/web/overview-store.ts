// One overview stream for the whole page (GET /v1/overview/events): the latest snapshot for
// every view, and the last minutes of rates for the charts.
import { useEffect, useState } from 'preact/hooks';
import type { Overview, OverviewGroup, OverviewTopic, OverviewWebhook } from '../../overview/overview-wire.js';
import { openStream, type LiveStream } from './api.js';

export type { Overview, OverviewGroup, OverviewTopic, OverviewWebhook };

/** Seconds of history the charts keep. */
const HISTORY_SECONDS = 300;

export interface History {
  /** Unix seconds, and one series per rate. */
  t: number[];
  recordsIn: number[];
  recordsRead: number[];
  bytesIn: number[];
  bytesOut: number[];
}

let latest: Overview | null = null;
let connected = false;
const history: History = { t: [], recordsIn: [], recordsRead: [], bytesIn: [], bytesOut: [] };
const listeners = new Set<() => void>();
let stream: LiveStream | null = null;

function notify(): void {
  for (const l of [...listeners]) l();
}

function push(o: Overview): void {
  latest = o;
  if (o.history) {
    // A (re)connected stream starts with the server's last minutes: the charts begin there.
    history.t = o.history.at.map((ms) => ms / 1000);
    history.recordsIn = [...o.history.records_in_per_sec];
    history.recordsRead = [...o.history.records_read_per_sec];
    history.bytesIn = [...o.history.bytes_in_per_sec];
    history.bytesOut = [...o.history.bytes_out_per_sec];
  } else if (o.rates) {
    history.t.push(o.at / 1000);
    history.recordsIn.push(o.rates.records_in_per_sec);
    history.recordsRead.push(o.rates.records_read_per_sec);
    history.bytesIn.push(o.rates.bytes_in_per_sec);
    history.bytesOut.push(o.rates.bytes_out_per_sec);
    const cutoff = o.at / 1000 - HISTORY_SECONDS;
    while (history.t.length > 0 && history.t[0]! < cutoff) {
      for (const series of Object.values(history)) series.shift();
    }
  }
  notify();
}

/** Open the stream (again, e.g. after a new key was entered). */
export function startOverview(): void {
  stream?.close();
  stream = openStream('/v1/overview/events', {
    events: { overview: (e) => push(JSON.parse(e.data) as Overview) },
    onOpen: () => {
      connected = true;
      notify();
    },
    onFailed: () => {
      connected = false;
      notify();
    },
  });
}

/**
 * Close the stream and drop what it showed: the next key (after Forget key, or a refused one)
 * must not see the previous key's snapshot while its own is late or never comes.
 */
export function stopOverview(): void {
  stream?.close();
  stream = null;
  connected = false;
  latest = null;
  for (const series of Object.values(history)) series.length = 0;
  notify();
}

/** The latest snapshot (re-rendering on each new one), whether the stream is up, and the history. */
export function useOverview(): { overview: Overview | null; connected: boolean; history: History } {
  const [, setTick] = useState(0);
  useEffect(() => {
    const l = () => setTick((n) => n + 1);
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return { overview: latest, connected, history };
}
