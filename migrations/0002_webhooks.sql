CREATE TABLE "webhook_deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"webhook_id" uuid NOT NULL,
	"message_id" text NOT NULL,
	"partition" integer NOT NULL,
	"first_offset" bigint NOT NULL,
	"last_offset" bigint NOT NULL,
	"record_count" integer NOT NULL,
	"attempt" integer NOT NULL,
	"outcome" text NOT NULL,
	"status_code" integer,
	"error" text,
	"duration_ms" integer NOT NULL,
	"at" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhooks" (
	"id" uuid PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"url" text NOT NULL,
	"start_from" text NOT NULL,
	"batch_max_records" integer NOT NULL,
	"batch_max_wait_ms" integer NOT NULL,
	"retry_max_attempts" integer NOT NULL,
	"retry_initial_backoff_ms" integer NOT NULL,
	"retry_max_backoff_ms" integer NOT NULL,
	"timeout_ms" integer NOT NULL,
	"dead_letter_topic" text,
	"filter" jsonb,
	"state" text NOT NULL,
	"state_reason" text,
	"secret" text NOT NULL,
	"previous_secret" text,
	"previous_secret_expires_at" bigint,
	"last_success_at" bigint,
	"last_error_at" bigint,
	"last_error" text,
	"consecutive_failures" integer DEFAULT 0 NOT NULL,
	"created_at" bigint NOT NULL,
	"updated_at" bigint NOT NULL,
	CONSTRAINT "webhooks_state_check" CHECK ("webhooks"."state" in ('active', 'paused', 'disabled'))
);
--> statement-breakpoint
ALTER TABLE "webhook_deliveries" ADD CONSTRAINT "webhook_deliveries_webhook_id_webhooks_id_fk" FOREIGN KEY ("webhook_id") REFERENCES "public"."webhooks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "webhook_deliveries_webhook_idx" ON "webhook_deliveries" USING btree ("webhook_id","id");--> statement-breakpoint
CREATE INDEX "webhooks_topic_idx" ON "webhooks" USING btree ("topic");