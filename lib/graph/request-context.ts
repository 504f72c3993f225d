/**
 * What a Graph request is sent for: the piece of work (a unit of a backup) whose requests it
 * counts in, and the deadline its retries keep to. It travels with the request
 * ({@link MailboxRequestOption}), set by a gateway view bound to it
 * (`GraphGateway.withContext`): a request counts for the work that sent it even when a shared
 * queue starts it from another unit's callback, and the process never turns on Node's promise
 * hooks (an AsyncLocalStorage did: 13–14 % of a controller's busy time in the shape benchmarks).
 */
import type { RetryDeadline } from "../retry.js";

/**
 * Graph requests counted for one piece of work, whatever else runs in the process: the gateway's
 * counters are per mailbox, so two units of one mailbox running at once (planned slot shares)
 * would each see the other's requests in them.
 */
export interface RequestTally {
  /** Requests sent: each attempt, each inner request of a `$batch`, as the mailbox's counters count them. */
  requests: number;
  /** 429 answers (inner ones of a `$batch` included). */
  throttled: number;
}

export interface RequestContext {
  /** Where the requests sent for the work (and their 429 answers) are added. Default: nowhere. */
  tally?: RequestTally;
  /**
   * No retry waits past it, and no wait in place (a mailbox's slots, gate or budget) lasts
   * beyond it: the stream runner's is the moment its invocation stops starting work. Default none.
   */
  deadline?: RetryDeadline;
}
