CREATE TABLE "idempotency_inflight" (
	"lock_key" bigint PRIMARY KEY NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL
);
