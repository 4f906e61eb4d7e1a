// OpenAPI/zod schemas shared by the consumer-group routes, and the mapping from a groups
// service error to the API's error envelope.
import { z } from '@hono/zod-openapi';
import { can, describePrincipal, type Principal } from '../../auth/principal.js';
import type { GroupError } from '../../groups/groups-service.js';
import { MAX_OFFSET_METADATA_CHARS } from '../../groups/offset-commit.js';
import { ApiError } from '../errors.js';
import { storedText } from './stored-text.js';

/** Groups Sluice keeps for itself (a webhook's progress is group `__webhook.<id>`). */
export const RESERVED_GROUP_PREFIX = '__';

export const NAME_PATTERN = /^[a-zA-Z0-9._-]{1,249}$/;
const NAME_RULE = 'must be 1–249 characters of a-z, A-Z, 0-9, ".", "_" or "-"';

export const GroupParam = z.object({
  group: z
    .string()
    .regex(NAME_PATTERN, NAME_RULE)
    .refine((name) => !name.startsWith(RESERVED_GROUP_PREFIX), {
      message: `names starting with "${RESERVED_GROUP_PREFIX}" are reserved for Sluice's own groups (webhook progress)`,
    })
    .openapi({
      param: { name: 'group', in: 'path' },
      example: 'billing',
      description: `Group name; names starting with \`${RESERVED_GROUP_PREFIX}\` are reserved (400).`,
    }),
});

export const MemberParam = GroupParam.extend({
  member: z
    .string()
    .min(1)
    .max(64)
    .openapi({ param: { name: 'member', in: 'path' }, description: 'The member_id returned by the join.' }),
});

export const TopicPartitionJson = z
  .object({ topic: z.string(), partition: z.number().int() })
  .openapi('TopicPartition');

export const MembershipJson = z
  .object({
    member_id: z.string(),
    generation: z
      .number()
      .int()
      .openapi({ description: 'The group generation this assignment belongs to; commits must carry it.' }),
    assignment: z.array(TopicPartitionJson).openapi({ description: 'Partitions this member owns in `generation`.' }),
  })
  .openapi('GroupMembership');
export type MembershipJson = z.infer<typeof MembershipJson>;

/** Throw the API error for a groups service error (status from the one table). */
/**
 * The caller's refusal to read a member's topic (a fetch, or a leave with a cursor): the member
 * id is no credential (group:describe shows it), so the caller must read the topics itself.
 */
export function refuseUnreadableTopic(principal: Principal): (topic: string) => GroupError | undefined {
  return (topic) =>
    can(principal, 'topic', topic, 'read')
      ? undefined
      : {
          code: 'forbidden',
          message: `${describePrincipal(principal)} may not read topic ${JSON.stringify(topic)} (needs topic:read)`,
          needs: { resource: 'topic', action: 'read', name: topic },
        };
}

export function throwGroupError(error: GroupError): never {
  const { code, message, ...details } = error;
  throw new ApiError(code, message, details);
}

export const OffsetCommitJson = z.strictObject({
  topic: z.string().min(1),
  partition: z.number().int().min(0),
  offset: z
    .number()
    .int()
    .min(0)
    .openapi({ description: 'The next record to read (last processed offset + 1), at most the end offset.' }),
  metadata: storedText()
    .max(MAX_OFFSET_METADATA_CHARS)
    .nullable()
    .optional()
    .openapi({
      description: `Free text stored with the offset (≤ ${MAX_OFFSET_METADATA_CHARS} characters, no U+0000).`,
    }),
});
