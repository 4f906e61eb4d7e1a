CREATE TABLE "queue_partitions" (
	"queue_id" uuid NOT NULL,
	"partition" integer NOT NULL,
	"start_offset" bigint NOT NULL,
	"end_offset" bigint NOT NULL,
	"ranges" jsonb NOT NULL,
	"sweep_at" bigint,
	"accepted" bigint DEFAULT 0 NOT NULL,
	"dead_lettered" bigint DEFAULT 0 NOT NULL,
	"archived" bigint DEFAULT 0 NOT NULL,
	"skipped" bigint DEFAULT 0 NOT NULL,
	"deliveries" bigint DEFAULT 0 NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "queue_partitions_queue_id_partition_pk" PRIMARY KEY("queue_id","partition")
);
--> statement-breakpoint
CREATE TABLE "queues" (
	"id" uuid PRIMARY KEY NOT NULL,
	"topic_id" uuid NOT NULL,
	"name" text NOT NULL,
	"start" text NOT NULL,
	"lock_ms" integer NOT NULL,
	"max_deliveries" integer NOT NULL,
	"dead_letter_topic" text,
	"ordered_by_key" boolean DEFAULT false NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "worker_leases" (
	"name" text PRIMARY KEY NOT NULL,
	"holder" text NOT NULL,
	"epoch" integer NOT NULL,
	"expires_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "queue_partitions" ADD CONSTRAINT "queue_partitions_queue_id_queues_id_fk" FOREIGN KEY ("queue_id") REFERENCES "public"."queues"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "queues" ADD CONSTRAINT "queues_topic_id_topics_id_fk" FOREIGN KEY ("topic_id") REFERENCES "public"."topics"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "queue_partitions_sweep_idx" ON "queue_partitions" USING btree ("sweep_at");--> statement-breakpoint
CREATE UNIQUE INDEX "queues_topic_name_idx" ON "queues" USING btree ("topic_id","name");