// The error a partition log throws when it cannot serve a read now for a reason outside Sluice
// (its Kafka topic was replaced under it, or Kafka kept refusing its fetches): the request answers
// 503, not 500.
export class LogUnavailableError extends Error {
  override name = 'LogUnavailableError';
}
