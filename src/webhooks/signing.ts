// Standard Webhooks signing with the `standardwebhooks` library: secret generation, the
// stable per-batch message id, and headers signed with the current (and rotated-out) secret.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** A new secret in the Standard Webhooks format: `whsec_` + base64 of 32 random bytes. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

/**
 * The `webhook-id` of one batch: the same for every retry of it and across restarts (the
 * batch's offset range is persisted before its first attempt), so receivers can dedupe on it.
 */
export function messageId(webhookId: string, partition: number, firstOffset: number, lastOffset: number): string {
  return `msg_${webhookId.replace(/-/g, '')}_${partition}_${firstOffset}_${lastOffset}`;
}

export interface SigningSecrets {
  current: string;
  /** Still signed with (a second signature) until it expires, so receivers can rotate without a gap. */
  previous?: { secret: string; expiresAt: number } | undefined;
}

/** `webhook-id`, `webhook-timestamp` and `webhook-signature` for one attempt. */
export function signedHeaders(
  secrets: SigningSecrets,
  msgId: string,
  payload: string,
  now: number = Date.now(),
): Record<string, string> {
  const at = new Date(now);
  const signatures = [new Webhook(secrets.current).sign(msgId, at, payload)];
  if (secrets.previous && secrets.previous.expiresAt > now)
    signatures.push(new Webhook(secrets.previous.secret).sign(msgId, at, payload));
  return {
    'webhook-id': msgId,
    'webhook-timestamp': String(Math.floor(now / 1000)),
    'webhook-signature': signatures.join(' '),
  };
}
