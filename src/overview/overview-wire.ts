// The overview snapshot as it goes over the wire (GET /v1/overview/events): shared by the
// server that builds it and the dashboard that draws it. No imports, so the browser build and
// its type-check can use it as it is.

export interface OverviewTopic {
  name: string;
  partitions: number;
  size_bytes: number;
  /** Sum over partitions of the first retained offset / the next offset. */
  start_offset: number;
  end_offset: number;
  /** Records appended per second over the last interval. */
  records_in_per_sec: number;
}

export interface OverviewGroup {
  name: string;
  state: string;
  generation: number;
  members: number;
  total_lag: number;
}

export interface OverviewWebhook {
  id: string;
  topic: string;
  url: string;
  state: string;
  lag: number;
}

export interface OverviewHealth {
  status: 'ready' | 'not_ready';
  database_ok: boolean;
  /** Partitions quarantined (corruption) or refusing writes, as /readyz lists them. */
  quarantined: Array<{ topic_id: string; partition: number; reason: string }>;
  read_only: Array<{ topic_id: string; partition: number; reason: string }>;
  reasons: string[];
}

export interface OverviewRates {
  records_in_per_sec: number;
  records_read_per_sec: number;
  bytes_in_per_sec: number;
  bytes_out_per_sec: number;
  sse_streams: number;
}

/** Process rates over the last minutes, oldest first: what the dashboard's charts start from. */
export interface OverviewHistory {
  /** Unix ms of each sample. */
  at: number[];
  records_in_per_sec: number[];
  records_read_per_sec: number[];
  bytes_in_per_sec: number[];
  bytes_out_per_sec: number[];
}

export interface Overview {
  at: number;
  interval_ms: number;
  /** Null without cluster:describe. */
  health: OverviewHealth | null;
  rates: OverviewRates | null;
  topics: OverviewTopic[];
  groups: OverviewGroup[];
  webhooks: OverviewWebhook[];
  /** Set when groups/webhooks could not be read this time (Postgres down): they are the last known. */
  stale: string | null;
  /** Only in the first snapshot a watcher gets (and only with cluster:describe): the rates of the last minutes. */
  history?: OverviewHistory | null;
}
