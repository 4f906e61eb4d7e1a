// Expected failures of group operations, as values: each carries an HTTP error code from
// the one vocabulary and the extra fields its envelope shows.

/** A failure a caller can cause; `code` is one of the API's error codes. */
export type GroupError =
  | { code: 'group_not_found'; message: string }
  | { code: 'member_not_found'; message: string }
  | { code: 'topic_not_found'; message: string; topic: string }
  | { code: 'partition_not_found'; message: string; topic: string; partition: number }
  /** Unknown/expired member, stale generation, or a partition the member does not own. */
  | { code: 'fenced'; message: string; generation: number | null }
  /** The operation needs an empty group, or `auto_offset_reset: none` found no committed offset. */
  | { code: 'conflict'; message: string; topic?: string; partition?: number }
  | {
      code: 'offset_out_of_range';
      message: string;
      topic: string;
      partition: number;
      start_offset: number;
      end_offset: number;
    }
  /** A committed offset past the partition's end (422). */
  | { code: 'invalid_record'; message: string; topic: string; partition: number; end_offset: number }
  | { code: 'bad_request'; message: string }
  /** The caller may not read a topic the member consumes (checked on every fetch, as Kafka does). */
  | { code: 'forbidden'; message: string; needs: { resource: 'topic'; action: 'read'; name: string } };

export const groupNotFound = (group: string): GroupError => ({
  code: 'group_not_found',
  message: `group "${group}" does not exist`,
});

export const unknownMember = (group: string, memberId: string, generation: number | null): GroupError => ({
  code: 'fenced',
  message: `member "${memberId}" is not in group "${group}" (it left or its session expired); join again`,
  generation,
});

export const topicNotFound = (topic: string): GroupError => ({
  code: 'topic_not_found',
  message: `topic "${topic}" does not exist`,
  topic,
});
