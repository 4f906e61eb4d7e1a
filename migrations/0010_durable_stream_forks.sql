ALTER TABLE "durable_streams" ADD COLUMN "tag" text;--> statement-breakpoint
ALTER TABLE "durable_streams" ADD COLUMN "forked_from" uuid;--> statement-breakpoint
ALTER TABLE "durable_streams" ADD COLUMN "fork_source" text;--> statement-breakpoint
ALTER TABLE "durable_streams" ADD COLUMN "fork_offset" bigint;--> statement-breakpoint
ALTER TABLE "durable_streams" ADD COLUMN "fork_sub_offset" integer;--> statement-breakpoint
ALTER TABLE "durable_streams" ADD COLUMN "soft_deleted" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "durable_streams_forked_from_idx" ON "durable_streams" USING btree ("forked_from");