CREATE TABLE "cluster" (
	"id" uuid PRIMARY KEY NOT NULL,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "topics" (
	"id" uuid PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"state" text NOT NULL,
	"partitions" integer NOT NULL,
	"config" jsonb NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "topics_state_check" CHECK ("topics"."state" in ('creating', 'active', 'deleting')),
	CONSTRAINT "topics_partitions_check" CHECK ("topics"."partitions" >= 1)
);
--> statement-breakpoint
CREATE UNIQUE INDEX "topics_live_name_idx" ON "topics" USING btree ("name") WHERE "topics"."state" <> 'deleting';