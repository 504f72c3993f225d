/**
 * Faults injected on purpose: transient 5xx (counted or at a rate), dropped connections, lost sync states, expired
 * tokens, denied and removed mailboxes, malformed delta items. Tests drive them through {@link FaultControl}; a running
 * simulator in another process takes the same commands through `POST /_admin/faults`.
 */
import type { TenantStore } from "../model.js";
import { Random, seedFrom } from "../tenant/random.js";

/** Where a queued fault applies. Both fields optional; an empty scope matches every Graph request. */
export interface FaultScope {
  /** Regular expression (source text) tested against the request path below `/v1.0`, e.g. `/messages/[^/]+/\$value$`. */
  pathPattern?: string;
  /** Mailbox by user id or userPrincipalName. */
  mailbox?: string;
}

export interface ServerErrorFault extends FaultScope {
  /**
   * 503 Service Unavailable or 504 Gateway Timeout; or 429 TooManyRequests, throttling as the
   * service's own limits would (with `Retry-After`: counted as throttled, and a retry before it
   * passed counted as early, like every answer with a `Retry-After`).
   */
  status: 429 | 503 | 504;
  /** How many matching requests get the error. Bounds ≥ 1. */
  count: number;
  /** `Retry-After` to send, seconds; omitted = no header. */
  retryAfterSeconds?: number;
}

export interface DropConnectionFault extends FaultScope {
  /** How many matching requests get their connection destroyed before any answer. Bounds ≥ 1. */
  count: number;
}

/** A share of all matching Graph requests answered 503/504, drawn from a seeded generator. */
export interface ServerErrorRateFault extends FaultScope {
  /** Probability (0–1) that a matching request gets the error; 0 turns the fault off. */
  rate: number;
  /** 503 (default) or 504. */
  status?: 503 | 504;
  /** `Retry-After` to send, seconds; omitted = no header. */
  retryAfterSeconds?: number;
  /** Seed of the draws, so that a run can be repeated. Default 1. */
  seed?: number;
}

/** The commands accepted by {@link FaultControl.apply} and `POST /_admin/faults`. */
export type FaultCommand =
  | ({ action: "serverError" } & ServerErrorFault)
  | ({ action: "serverErrorRate" } & ServerErrorRateFault)
  | ({ action: "dropConnection" } & DropConnectionFault)
  | {
      action: "syncStateLost";
      mailbox: string;
      folder: string;
      mode?: "invalidate" | "force";
      count?: number;
    }
  | { action: "malformedDeltaItem"; mailbox: string; folder: string; count?: number }
  | { action: "expireTokens" }
  | { action: "denyMailbox"; mailbox: string; denied?: boolean }
  | { action: "removeMailbox"; mailbox: string }
  | { action: "clear" };

export interface FaultControl {
  /** The next `count` matching requests answer 503/504 or 429 (with `Retry-After` when given). */
  serverError(fault: ServerErrorFault): void;
  /** From now on a share `rate` of the matching requests answer 503/504 (until `clear` or rate 0). */
  serverErrorRate(fault: ServerErrorRateFault): void;
  /** The next `count` matching requests have their socket destroyed (HTTP requests only, not the inner requests of a `$batch`). */
  dropConnection(fault: DropConnectionFault): void;
  /**
   * The folder's delta tokens answer 410 SyncStateNotFound. `invalidate` (default) makes the store
   * forget the sync state for good; `force` answers 410 to the next `count` (default 1) delta
   * requests that carry a token, without touching the store.
   */
  syncStateLost(mailbox: string, folder: string, mode?: "invalidate" | "force", count?: number): void;
  /**
   * The next `count` (default 1) delta pages of the folder carry one extra item without an `id`
   * (a message the service could not describe), after the page's real items.
   */
  malformedDeltaItem(mailbox: string, folder: string, count?: number): void;
  /** Every token issued so far is expired now: Graph answers 401 InvalidAuthenticationToken. */
  expireTokens(): void;
  /** Answers 403 ErrorAccessDenied for the mailbox (an application access policy), or stops doing so. */
  denyMailbox(mailbox: string, denied?: boolean): void;
  /** Removes the user from the tenant (store.removeUser): later requests answer 404. */
  removeMailbox(mailbox: string): void;
  /** Drops every queued fault and mailbox denial. Lost sync states and removed users stay lost. */
  clear(): void;
  /** Applies one command (the admin endpoint's entry point). */
  apply(command: FaultCommand): void;
  /** What is queued now, for the admin endpoint. */
  pending(): {
    serverErrors: ServerErrorFault[];
    serverErrorRate: ServerErrorRateFault | null;
    drops: DropConnectionFault[];
    forcedGone: Array<{ mailbox: string; folder: string; count: number }>;
    malformed: Array<{ mailbox: string; folder: string; count: number }>;
    denied: string[];
  };
}

interface Matchable extends FaultScope {
  count: number;
  regex?: RegExp;
  mailboxId?: string;
}

/** The fault state that the request pipeline consults. */
export class FaultState implements FaultControl {
  private serverErrors: Array<Matchable & { status: 429 | 503 | 504; retryAfterSeconds?: number }> = [];
  private errorRate: { fault: ServerErrorRateFault; scope: Matchable; random: Random } | undefined;
  private drops: Matchable[] = [];
  private forcedGone = new Map<string, number>();
  private malformed = new Map<string, number>();
  private denied = new Set<string>();

  constructor(
    private readonly store: TenantStore,
    private readonly onExpireTokens: () => void,
  ) {}

  serverError(fault: ServerErrorFault): void {
    this.serverErrors.push({ ...fault, ...this.compile(fault) });
  }

  dropConnection(fault: DropConnectionFault): void {
    this.drops.push({ ...fault, ...this.compile(fault) });
  }

  serverErrorRate(fault: ServerErrorRateFault): void {
    if (!(fault.rate >= 0 && fault.rate <= 1)) {
      throw new RangeError(`serverErrorRate.rate: expected a probability in [0, 1], found ${fault.rate}`);
    }
    this.errorRate =
      fault.rate > 0
        ? {
            fault: { ...fault },
            scope: { ...fault, count: 1, ...this.compile(fault) },
            random: new Random(seedFrom("server-error-rate", fault.seed ?? 1)),
          }
        : undefined;
  }

  syncStateLost(
    mailbox: string,
    folder: string,
    mode: "invalidate" | "force" = "invalidate",
    count = 1,
  ): void {
    const userId = this.mailboxId(mailbox);
    const folderId = this.store.getFolder(userId, folder)?.id ?? folder;
    if (mode === "invalidate") this.store.invalidateSyncState(userId, folderId);
    else this.forcedGone.set(`${userId}\u0000${folderId}`, count);
  }

  malformedDeltaItem(mailbox: string, folder: string, count = 1): void {
    const userId = this.mailboxId(mailbox);
    const folderId = this.store.getFolder(userId, folder)?.id ?? folder;
    this.malformed.set(`${userId}\u0000${folderId}`, count);
  }

  expireTokens(): void {
    this.onExpireTokens();
  }

  denyMailbox(mailbox: string, denied = true): void {
    const id = this.mailboxId(mailbox);
    if (denied) this.denied.add(id);
    else this.denied.delete(id);
  }

  removeMailbox(mailbox: string): void {
    this.store.removeUser(this.mailboxId(mailbox));
  }

  clear(): void {
    this.serverErrors = [];
    this.errorRate = undefined;
    this.drops = [];
    this.forcedGone.clear();
    this.malformed.clear();
    this.denied.clear();
  }

  apply(command: FaultCommand): void {
    switch (command.action) {
      case "serverError":
        this.serverError(command);
        break;
      case "dropConnection":
        this.dropConnection(command);
        break;
      case "serverErrorRate":
        this.serverErrorRate(command);
        break;
      case "syncStateLost":
        this.syncStateLost(command.mailbox, command.folder, command.mode, command.count);
        break;
      case "malformedDeltaItem":
        this.malformedDeltaItem(command.mailbox, command.folder, command.count);
        break;
      case "expireTokens":
        this.expireTokens();
        break;
      case "denyMailbox":
        this.denyMailbox(command.mailbox, command.denied);
        break;
      case "removeMailbox":
        this.removeMailbox(command.mailbox);
        break;
      case "clear":
        this.clear();
        break;
    }
  }

  pending() {
    return {
      serverErrors: this.serverErrors.map(({ regex: _r, mailboxId: _m, ...rest }): ServerErrorFault => rest),
      serverErrorRate: this.errorRate ? { ...this.errorRate.fault } : null,
      drops: this.drops.map(({ regex: _r, mailboxId: _m, ...rest }): DropConnectionFault => rest),
      forcedGone: perFolder(this.forcedGone),
      malformed: perFolder(this.malformed),
      denied: [...this.denied],
    };
  }

  // --- used by the request pipeline ---

  /** Consumes a drop-connection fault matching the request, if any. */
  takeDrop(path: string, mailboxId: string | undefined): boolean {
    return this.take(this.drops, path, mailboxId) !== undefined;
  }

  /** Whether a dropped-connection fault is queued (else no request needs its mailbox found for one). */
  get dropsQueued(): boolean {
    return this.drops.length > 0;
  }

  /** Consumes a 5xx (or 429) fault matching the request, if any. */
  takeServerError(
    path: string,
    mailboxId: string | undefined,
  ): { status: 429 | 503 | 504; retryAfterSeconds?: number } | undefined {
    const queued = this.take(this.serverErrors, path, mailboxId);
    if (queued) return queued;
    const rate = this.errorRate;
    if (!rate || !matches(rate.scope, path, mailboxId) || !rate.random.chance(rate.fault.rate))
      return undefined;
    return {
      status: rate.fault.status ?? 503,
      ...(rate.fault.retryAfterSeconds !== undefined
        ? { retryAfterSeconds: rate.fault.retryAfterSeconds }
        : {}),
    };
  }

  /** Consumes a forced 410 for the folder, if any. */
  takeForcedGone(mailboxId: string, folderId: string): boolean {
    return takeCount(this.forcedGone, `${mailboxId}\u0000${folderId}`);
  }

  /** Consumes a malformed-item fault for the folder, if any. */
  takeMalformedDeltaItem(mailboxId: string, folderId: string): boolean {
    return takeCount(this.malformed, `${mailboxId}\u0000${folderId}`);
  }

  isDenied(mailboxId: string): boolean {
    return this.denied.has(mailboxId);
  }

  private take<T extends Matchable>(queue: T[], path: string, mailboxId: string | undefined): T | undefined {
    const index = queue.findIndex((f) => f.count > 0 && matches(f, path, mailboxId));
    if (index < 0) return undefined;
    const fault = queue[index] as T;
    fault.count--;
    if (fault.count <= 0) queue.splice(index, 1);
    return fault;
  }

  private compile(scope: FaultScope): { regex?: RegExp; mailboxId?: string } {
    return {
      ...(scope.pathPattern ? { regex: new RegExp(scope.pathPattern, "i") } : {}),
      ...(scope.mailbox ? { mailboxId: this.mailboxId(scope.mailbox) } : {}),
    };
  }

  /** A mailbox named by id or UPN, as the user id the pipeline keys everything by. */
  private mailboxId(mailbox: string): string {
    return this.store.getUser(mailbox)?.id ?? mailbox.toLowerCase();
  }
}

function matches(scope: Matchable, path: string, mailboxId: string | undefined): boolean {
  return (!scope.regex || scope.regex.test(path)) && (!scope.mailboxId || scope.mailboxId === mailboxId);
}

/** Takes one from a per-folder countdown; false when none is left. */
function takeCount(counts: Map<string, number>, key: string): boolean {
  const left = counts.get(key) ?? 0;
  if (left <= 0) return false;
  if (left === 1) counts.delete(key);
  else counts.set(key, left - 1);
  return true;
}

function perFolder(counts: Map<string, number>): Array<{ mailbox: string; folder: string; count: number }> {
  return [...counts].map(([key, count]) => {
    const [mailbox = "", folder = ""] = key.split("\u0000");
    return { mailbox, folder, count };
  });
}
