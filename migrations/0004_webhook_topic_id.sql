ALTER TABLE "webhooks" DROP CONSTRAINT "webhooks_state_check";--> statement-breakpoint
ALTER TABLE "webhooks" ADD COLUMN "topic_id" uuid;--> statement-breakpoint
ALTER TABLE "webhooks" ADD CONSTRAINT "webhooks_state_check" CHECK ("webhooks"."state" in ('active', 'paused', 'disabled', 'topic_deleted'));