/** A message's MIME, streamed from Graph (never held whole in memory). */
import type { Readable } from "node:stream";
import type { GraphGateway } from "./client.js";

/**
 * Opens `/users/{id}/messages/{id}/$value`. The request keeps one of the mailbox's slots until
 * the stream ends, fails or is destroyed (or lies unread past the gateway's idle timeout), so
 * a consumer that gives up must `destroy()` the stream.
 */
export function openMime(gateway: GraphGateway, userId: string, messageId: string): Promise<Readable> {
  return gateway.stream(
    `/users/${encodeURIComponent(userId)}/messages/${encodeURIComponent(messageId)}/$value`,
    {
      mailboxId: userId,
    },
  );
}
