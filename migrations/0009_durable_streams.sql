CREATE TABLE "durable_streams" (
	"topic_id" uuid PRIMARY KEY NOT NULL,
	"path" text NOT NULL,
	"content_type" text NOT NULL,
	"ttl_seconds" integer,
	"expires_at" bigint,
	"last_access_at" bigint NOT NULL,
	"closed" boolean DEFAULT false NOT NULL,
	"closed_by" text,
	"created_at" bigint NOT NULL
);
--> statement-breakpoint
ALTER TABLE "durable_streams" ADD CONSTRAINT "durable_streams_topic_id_topics_id_fk" FOREIGN KEY ("topic_id") REFERENCES "public"."topics"("id") ON DELETE cascade ON UPDATE no action;