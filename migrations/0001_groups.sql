CREATE TABLE "consumer_groups" (
	"name" text PRIMARY KEY NOT NULL,
	"generation" integer DEFAULT 0 NOT NULL,
	"protocol" text DEFAULT 'sticky' NOT NULL,
	"rebalance_due_at" bigint,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "group_members" (
	"group_name" text NOT NULL,
	"member_id" text NOT NULL,
	"kind" text DEFAULT 'poll' NOT NULL,
	"topics" jsonb NOT NULL,
	"session_timeout_ms" integer NOT NULL,
	"deadline" bigint NOT NULL,
	"auto_offset_reset" text NOT NULL,
	"auto_commit" boolean DEFAULT false NOT NULL,
	"assignment" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"positions" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"joined_at" bigint NOT NULL,
	CONSTRAINT "group_members_group_name_member_id_pk" PRIMARY KEY("group_name","member_id")
);
--> statement-breakpoint
CREATE TABLE "group_offsets" (
	"group_name" text NOT NULL,
	"topic" text NOT NULL,
	"partition" integer NOT NULL,
	"offset" bigint NOT NULL,
	"metadata" text,
	"committed_at" bigint NOT NULL,
	CONSTRAINT "group_offsets_group_name_topic_partition_pk" PRIMARY KEY("group_name","topic","partition")
);
--> statement-breakpoint
ALTER TABLE "group_members" ADD CONSTRAINT "group_members_group_name_consumer_groups_name_fk" FOREIGN KEY ("group_name") REFERENCES "public"."consumer_groups"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "group_offsets" ADD CONSTRAINT "group_offsets_group_name_consumer_groups_name_fk" FOREIGN KEY ("group_name") REFERENCES "public"."consumer_groups"("name") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "group_members_deadline_idx" ON "group_members" USING btree ("deadline");