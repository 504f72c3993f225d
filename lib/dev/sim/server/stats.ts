/** What a simulator served, for tests and benchmarks (`stats()`, `GET /_admin/stats`). */
import type { IdentityCounters } from "./identity.js";
import type { MailboxLimiter, MailboxStats } from "./limits.js";
import { RequestsByKind } from "./request-kinds.js";

export interface ServedStats {
  auth: IdentityCounters;
  graph: {
    /** HTTP requests under `/v1.0` plus inner requests of batches and pre-authenticated requests. */
    requests: number;
    /** `$batch` requests (each also counted once in `requests`). */
    batches: number;
    /**
     * Inner requests of batches (each counted in `requests` too): the round trips clients made
     * are `requests - batchedRequests`.
     */
    batchedRequests: number;
    byStatus: Record<string, number>;
    throttled: number;
    earlyRetries: number;
    droppedConnections: number;
    mimeBytesServed: number;
    /**
     * `requests` by the item kind they were made for (mail, event, contact, …; an export request
     * split across the kinds of its items), the rest as `overhead`; the rows add up to `requests`.
     */
    byKind: Record<string, number>;
  };
  /** Per mailbox (user id; an archive mailbox by its mailbox id). */
  mailboxes: Record<string, MailboxStats>;
}

function freshCounters() {
  return {
    auth: {
      tokenRequests: 0,
      tokensIssued: 0,
      tokenRefusals: 0,
      metadataRequests: 0,
      otherRequests: [] as string[],
    },
    graph: {
      requests: 0,
      batches: 0,
      batchedRequests: 0,
      byStatus: {} as Record<string, number>,
      droppedConnections: 0,
      mimeBytesServed: 0,
    },
  };
}

/** The served-request counters of one simulator; per-mailbox figures come from its limiter. */
export class StatsRecorder {
  private counters = freshCounters();
  /** Filled by the request pipeline (see request-kinds.ts). */
  readonly requestKinds = new RequestsByKind();

  constructor(private readonly limiter: MailboxLimiter) {}

  get auth(): IdentityCounters {
    return this.counters.auth;
  }

  /** One Graph answer (HTTP, inner request of a batch, or pre-authenticated) with its status. */
  countStatus(status: number): void {
    const graph = this.counters.graph;
    graph.requests++;
    graph.byStatus[status] = (graph.byStatus[status] ?? 0) + 1;
  }

  /** A `$batch` request and its inner requests. */
  countBatch(innerRequests: number): void {
    this.counters.graph.batches++;
    this.counters.graph.batchedRequests += innerRequests;
  }

  countDroppedConnection(): void {
    this.counters.graph.droppedConnections++;
  }

  /** Streamed MIME bytes, in total and for the mailbox they came from. */
  countStreamedBytes(mailboxId: string | undefined, bytes: number): void {
    this.counters.graph.mimeBytesServed += bytes;
    if (mailboxId) this.limiter.noteMimeBytes(mailboxId, bytes);
  }

  snapshot(): ServedStats {
    const mailboxes = this.limiter.stats();
    const sum = (key: "throttled" | "earlyRetries") =>
      Object.values(mailboxes).reduce((n, m) => n + m[key], 0);
    const { auth, graph } = this.counters;
    return {
      auth: { ...auth, otherRequests: [...auth.otherRequests] },
      graph: {
        ...graph,
        byStatus: { ...graph.byStatus },
        throttled: sum("throttled"),
        earlyRetries: sum("earlyRetries"),
        byKind: this.requestKinds.snapshot(graph.requests),
      },
      mailboxes,
    };
  }

  /** Zeroes the counters; limits in force stay (see {@link MailboxLimiter.resetStats}). */
  reset(): void {
    this.counters = freshCounters();
    this.requestKinds.reset();
    this.limiter.resetStats();
  }
}
