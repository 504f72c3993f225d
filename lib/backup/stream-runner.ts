import { randomUUID } from "node:crypto";
import { ruleFor } from "../errors.js";
import type { StreamQueue } from "../queue/stream-queue.js";
import type { StreamTask } from "../queue/stream-task.js";
import type { RetryDeadline } from "../retry.js";
import { ClaimGate, ClaimRefusedError } from "./claim-gate.js";
import type { ClaimedUnit, RecordedError, StreamStatePort, UnitProgress, UnitResult } from "./ports.js";
import { StreamSlots } from "./stream-slots.js";
import {
  backupUnit,
  emptyProgress,
  type UnitBackupDeps,
  type UnitOutcome,
  type UnitWork,
} from "./unit-backup.js";

export interface StreamRunnerDeps {
  state: StreamStatePort;
  /**
   * The state port whose retries wait no longer than `deadline` (the task's: see
   * {@link runStreamTask}). Default: `state` as it is.
   */
  stateUntil?(deadline: RetryDeadline): StreamStatePort;
  queue: StreamQueue;
  unitDeps(
    task: StreamTask,
    unit: UnitWork,
  ): Omit<
    UnitBackupDeps,
    "state" | "shouldYield" | "retryDeadline" | "streamSlots" | "onTail" | "onRequestsDone" | "onEndStep"
  >;
  /** Milliseconds left before the invocation must have returned. */
  remainingMs(): number;
  /** Stop starting new pages when fewer milliseconds than this are left. Default 60 000. */
  deadlineMarginMs?: number;
  /** Heartbeat period. Milliseconds. Default 15 000. */
  heartbeatMs?: number;
  /**
   * Graph requests the stream runs at once, across the units it holds. Range 1–64. Default 4
   * (one mailbox's worth: the per-stream rate the planner and the lower bound count on).
   */
  streamConcurrency?: number;
  /**
   * A unit the plan estimates at most this long lets the stream claim its next unit once its
   * last folder has started and its slots begin to idle (unit-backup.ts `onTail`), so that the next unit's first requests fill the slots the tail
   * leaves idle (and its claim overlaps this one's last answers). Seconds, ≥ 0; 0 turns it off.
   * Default 30: above it, the second or so a unit change costs is under 3 % of the unit.
   */
  lookaheadUnitSeconds?: number;
  /**
   * Units the stream runs at once, each within its own mailbox's request slots (the stream's
   * slots are `streamConcurrency` per unit): a stream that waits on Graph for one mailbox serves
   * others meanwhile. 1–8. Default 1 (one unit, and the lookahead above). The planner counts it
   * (`unitsPerStream` of lib/plan/limits.ts).
   */
  unitsAtOnce?: number;
  /** Finalizes the job (this stream was its last); `deadline`: the task's, for its retries. */
  finalizeJob(jobId: string, deadline: RetryDeadline): Promise<void>;
  /**
   * A stream that finds no pending unit while the job's discovery is still adding units comes
   * back after this long (a delayed continuation) instead of finishing. Milliseconds, 1 000–900 000.
   * Default 5 000.
   */
  discoveryWaitMs?: number;
  log?: (event: string, fields: Record<string, unknown>) => void;
}

export type StreamTaskOutcome =
  /** The task was not (or no longer) the stream's current one: dropped, nothing more written. */
  | { status: "stale" }
  | { status: "continued"; next: StreamTask; unitsDone: number }
  | { status: "finished"; unitsDone: number; finalizedJob: boolean };

/** A unit the stream is running. */
interface RunningUnit {
  work: UnitWork;
  /** Every folder of the unit has started: what is left is its last answers. */
  inTail: boolean;
  /**
   * Every request of the unit has answered: what is left is its last writes and its completion.
   * It takes no request slot any more, so it no longer counts against the stream's claims.
   */
  ending: boolean;
  /** Its Graph requests (each takes a stream slot): count, first start and last end (epoch ms), for the log. */
  requests: number;
  firstRequestAt?: number;
  lastAnswerAt?: number;
  /** When it told its requests were all answered (it stopped counting against claims), epoch ms. */
  requestsDoneAt?: number;
  /** When its folders had all run (last items stored, pages held), epoch ms, for the log. */
  storedAt?: number;
  /** When its last pages' parts were written and recorded, epoch ms, for the log. */
  partsWrittenAt?: number;
}

/**
 * Runs one stream task: resumes the units the stream holds, then pulls units (the next pending
 * one, largest first) until none is left or the invocation's deadline approaches; then it either
 * hands itself on through the queue or finishes, and the last stream to finish finalizes the job.
 *
 * A stream has `streamConcurrency × unitsAtOnce` request slots and runs units side by side while
 * their planned shares (`concurrency`) leave one free: `unitsAtOnce` units of a whole mailbox's
 * slots (default 1), or more units of smaller shares, each within its own share. With one unit
 * of a whole share, it runs at most two: when a small unit reaches its tail, the next one is
 * claimed and starts. Both draw on the stream's one set of request slots, the older unit first,
 * so the stream never runs more requests than one unit could; the newer unit only fills what the
 * older one leaves idle (its delta pages answering, its claim and its completion being written).
 * A unit whose requests have all answered no longer counts: the next claim overlaps its last
 * writes and its completion, while it stays held (resumed after a crash) until that is committed;
 * the stream claims no more while over `unitsAtOnce` units are ending.
 */
export async function runStreamTask(
  received: StreamTask,
  deps: StreamRunnerDeps,
): Promise<StreamTaskOutcome> {
  const margin = deps.deadlineMarginMs ?? 60_000;
  // No retry inside the task (state, Graph, the units' own) waits past the moment the task stops
  // starting pages: the deadline is handed to each, not held in an async context.
  const deadline: RetryDeadline = () => Date.now() + deps.remainingMs() - margin;
  const state = deps.stateUntil?.(deadline) ?? deps.state;
  return runTask(received, { ...deps, state }, margin, deadline);
}

/**
 * The rules of lib/errors.ts at the task boundary: a unit's own failure is recorded on the unit
 * (a fatal one also ends the stream's claiming); a failure of the machinery (state store, queue,
 * a wait longer than the invocation) fails the task, so the queue delivers it again; a task that
 * was superseded (its stream re-sent, its unit taken over) is dropped.
 */
async function runTask(
  received: StreamTask,
  deps: StreamRunnerDeps,
  margin: number,
  deadline: RetryDeadline,
): Promise<StreamTaskOutcome> {
  const log = deps.log ?? (() => {});
  // This invocation's hold on the stream: a second delivery of the same task takes it over.
  const task: StreamTask = { ...received, lease: randomUUID() };
  log("stream.task.begin", { ...received });
  const lookaheadSeconds = deps.lookaheadUnitSeconds ?? 30;
  const unitsAtOnce = Math.min(8, Math.max(1, deps.unitsAtOnce ?? 1));
  const perUnit = Math.max(1, deps.streamConcurrency ?? 4);
  /** The stream's request slots: `streamConcurrency` per unit it may run at once. */
  const capacity = perUnit * unitsAtOnce;
  // Each unit's share first, older units first; what is left is lent to units that may borrow.
  const slots = new StreamSlots(capacity);
  /**
   * A unit's planned share of the stream's slots (its `concurrency`, its share of its mailbox's
   * C); a unit without a valid one (a record of an older plan) takes a whole unit's slots.
   */
  const shareOf = (work: UnitWork) =>
    Number.isInteger(work.concurrency) && work.concurrency >= 1
      ? Math.min(work.concurrency, perUnit)
      : perUnit;
  /**
   * The slots a unit may use while the stream has them free: its `maxConcurrency` (stream bins'
   * whole mailboxes, whose mailbox has no other unit), else its share.
   */
  const maxOf = (work: UnitWork) => {
    const share = shareOf(work);
    const max = work.maxConcurrency;
    return Number.isInteger(max) && max! > share ? Math.min(max!, perUnit) : share;
  };
  const running = new Map<number, RunningUnit>();
  const runs: Array<Promise<void>> = [];
  let unitsDone = 0;
  let paused = false;
  /** The longest wait a unit paused for (a Retry-After it could not wait out in place), ms. */
  let resumeAfterMs = 0;
  let exhausted = false;
  /** No unit was pending, but discovery is still adding units: come back later, don't finish. */
  let unitsComing = false;
  /** A unit failed with a fatal error: the same cause would fail every further unit. */
  let stopClaiming = false;
  /** The first error that must fail the task (the state store or the queue failed): SQS retries it. */
  let failure: { error: unknown } | undefined;
  /** When the task last wrote its stream's heartbeat (begin, claim, unit end, beat), epoch ms. */
  let signOfLifeAt = Date.now();
  const alive = () => {
    signOfLifeAt = Date.now();
  };
  const deadlineNear = () => deps.remainingMs() < margin;
  // Units stop starting pages near the deadline, and as soon as the other unit failed the task.
  const unitShouldYield = () => deadlineNear() || failure !== undefined;

  let waiting: (() => void) | undefined;
  const wake = () => {
    const resume = waiting;
    waiting = undefined;
    resume?.();
  };
  const nextEvent = () => new Promise<void>((resolve) => (waiting = resolve));

  /** Runs a claimed unit; `gate`: one started before its claim landed (see the task's begin). */
  const start = (claimed: ClaimedUnit, gate?: ClaimGate) => {
    const index = claimed.work.index;
    const entry: RunningUnit = { work: claimed.work, inTail: false, ending: false, requests: 0 };
    running.set(index, entry);
    // Registered in claim order: older units first.
    const unitSlots = slots.unit(shareOf(claimed.work));
    const startedAt = new Date().toISOString();
    log("unit.start", {
      ...task,
      unit: index,
      mailboxId: claimed.work.mailboxId,
      ...(gate ? { early: true } : {}),
    });
    const run = (async () => {
      // A unit that may borrow runs as many requests as it may hold; the stream's slots decide
      // how many of them run while the other units use their shares.
      const borrowing = maxOf(claimed.work) > shareOf(claimed.work);
      const toRun: ClaimedUnit = borrowing
        ? { ...claimed, work: { ...claimed.work, concurrency: maxOf(claimed.work) } }
        : claimed;
      const outcome = await runUnit(task, toRun, deps, unitShouldYield, deadline, gate, {
        add: (fn) => {
          const answer = unitSlots.add(() => {
            // Refused meanwhile: the request is not sent.
            gate?.check();
            entry.requests++;
            entry.firstRequestAt ??= Date.now();
            return fn().finally(() => {
              entry.lastAnswerAt = Date.now();
            });
          });
          // Sent before the claim landed: its answer is processed once the claim is granted.
          return gate && gate.state !== "open" ? answer.then((value) => gate.after(value)) : answer;
        },
        onTail: () => {
          entry.inTail = true;
          wake();
        },
        onRequestsDone: () => {
          entry.ending = true;
          entry.requestsDoneAt = Date.now();
          wake();
        },
        onEndStep: (step) => {
          if (step === "stored") entry.storedAt = Date.now();
          else entry.partsWrittenAt = Date.now();
        },
      });
      // Started before its claim landed: nothing of it counts unless the claim was granted.
      if (gate && !(await gate.granted())) return;
      if (outcome.status === "paused") {
        log("unit.paused", {
          ...task,
          unit: index,
          ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
          ...(outcome.reason !== undefined ? { reason: outcome.reason } : {}),
        });
        paused = true;
        resumeAfterMs = Math.max(resumeAfterMs, outcome.retryAfterMs ?? 0);
        return;
      }
      if (outcome.status === "failed" && outcome.stop) {
        stopClaiming = true;
        log("stream.stopped", { ...task, unit: index, error: outcome.errors[0]?.message });
      }
      const result: UnitResult = {
        status: outcome.status,
        progress: outcome.progress,
        errors: outcome.errors,
        incompleteFolders: outcome.status === "done" ? outcome.incompleteFolders : [],
        ...(outcome.status === "done" && outcome.last ? { last: outcome.last } : {}),
        startedAt,
        endedAt: new Date().toISOString(),
      };
      await deps.state.completeUnit(task, index, result);
      alive();
      log("unit.end", {
        ...task,
        unit: index,
        status: result.status,
        items: result.progress.items,
        // Where the unit's time went: claimed (unit.start) → first request → last answer →
        // requests done (it stops counting) → stored (its last items) → partsWritten (its last
        // parts) → endedAt (its last checkpoint taken) → this line (its completion committed).
        requests: entry.requests,
        ...(entry.firstRequestAt ? { firstRequestAt: new Date(entry.firstRequestAt).toISOString() } : {}),
        ...(entry.lastAnswerAt ? { lastAnswerAt: new Date(entry.lastAnswerAt).toISOString() } : {}),
        ...(entry.requestsDoneAt ? { requestsDoneAt: new Date(entry.requestsDoneAt).toISOString() } : {}),
        ...(entry.storedAt ? { storedAt: new Date(entry.storedAt).toISOString() } : {}),
        ...(entry.partsWrittenAt ? { partsWrittenAt: new Date(entry.partsWrittenAt).toISOString() } : {}),
        endedAt: result.endedAt,
      });
      unitsDone++;
    })()
      .catch((error: unknown) => {
        // A unit started early whose claim was refused stops on ClaimRefusedError (or on
        // whatever its requests met meanwhile): not this task's unit, not its failure.
        if (gate?.state === "refused") return;
        failure ??= { error };
      })
      .finally(() => {
        unitSlots.done();
        running.delete(index);
        wake();
      });
    runs.push(run);
  };

  /** Whether the stream may claim another unit now. */
  const mayClaim = () => {
    if (exhausted || stopClaiming || failure !== undefined || paused || deadlineNear()) return false;
    // Planned slot shares: the stream claims while the shares of the units it holds leave a slot
    // free (lib/plan/simulate.ts models the same). The unit claimed may be wider than what is
    // free: it runs on what the older units leave (the slots serve older units first) and gets
    // its whole share as they end. With every share a whole `streamConcurrency`, that is
    // `unitsAtOnce` units.
    // A unit whose requests have all answered counts no more: its last writes and its completion
    // overlap the next claim (it stays held, and resumed after a crash, until its completion is
    // committed). No claim while more than `unitsAtOnce` units are ending, so that slow writes do
    // not pile up units.
    const active: RunningUnit[] = [];
    for (const unit of running.values()) if (!unit.ending) active.push(unit);
    if (running.size - active.length > unitsAtOnce) return false;
    let held = 0;
    for (const unit of active) held += shareOf(unit.work);
    if (held < capacity) return true;
    if (active.length > 1 || lookaheadSeconds <= 0) return false;
    const [only] = active;
    return only!.inTail && (only!.work.estimatedSeconds ?? Number.POSITIVE_INFINITY) <= lookaheadSeconds;
  };

  // A stream's first task carries the units the plan starts on it: one transaction begins the
  // task and claims them all. The units are read first and start on the read: their first
  // requests go out while the claim is in flight (on DynamoDB Local 16 streams' transactions at
  // once took 0.06–0.18 s), their answers and writes wait for its outcome (claim-gate.ts). Else
  // (or when that is refused) the task begins, then reads the units its stream holds: after the
  // begin's write, not beside it, because an earlier delivery of the same task may still claim a
  // unit until that write takes its lease, and a read made before it would miss that unit (its
  // stream would finish without it, leaving it running in no stream's hands).
  const early: { gate?: ClaimGate; units: Set<number> } = { units: new Set() };
  let first: ClaimedUnit[] | undefined;
  if (task.units !== undefined && task.units.length > 0 && deps.state.beginTaskWithUnits) {
    try {
      first = await deps.state.beginTaskWithUnits({ ...task, units: task.units }, (units) => {
        const gate = new ClaimGate();
        early.gate = gate;
        for (const unit of units) {
          early.units.add(unit.work.index);
          start(unit, gate);
        }
      });
    } catch (error) {
      // The claim's outcome is unknown: the units started early write nothing; they stop once
      // their requests in flight have answered (the invocation leaves none running).
      await abandonEarly(String((error as Error)?.message ?? error));
      throw error;
    }
    if (first) early.gate?.open();
    else await abandonEarly("refused");
  }
  /**
   * Refuses the gate of the units started early and waits until they have stopped. Always with
   * {@link ClaimRefusedError}, never retried in place, whatever made the claim fail.
   */
  async function abandonEarly(why: string) {
    const gate = early.gate;
    if (!gate) return;
    gate.refuse(new ClaimRefusedError(task.jobId, task.streamId, task.seq));
    await Promise.all(runs);
    runs.length = 0;
    log("stream.task.early.refused", { ...received, units: [...early.units], claim: why });
  }
  if (!first && (await deps.state.beginTask(task)) === "stale") {
    log("stream.task.stale", { ...received });
    return { status: "stale" };
  }
  // The units the claim returned that did not start early (none, unless a port gave no read).
  const held: Promise<ClaimedUnit[]> = first
    ? Promise.resolve(first.filter((unit) => !early.units.has(unit.work.index)))
    : deps.state.heldUnits(task);

  const heartbeatMs = deps.heartbeatMs ?? 15_000;
  const beat = setInterval(() => {
    // The task's begin, its claims and its units' ends write the stream's heartbeat too: a beat
    // within the period after one of them is not needed (the sign of life stays under two periods old).
    if (Date.now() - signOfLifeAt < heartbeatMs) return;
    const [current] = running.keys();
    deps.state
      .heartbeat(task, current)
      .then(alive)
      .catch((error) => log("stream.heartbeat.failed", { error: String(error) }));
  }, heartbeatMs);
  beat.unref();

  try {
    for (const unit of await held) start(unit);
    for (;;) {
      if (mayClaim()) {
        const claimed = await deps.state.claimUnit(task);
        if (claimed === "later") unitsComing = true;
        if (claimed && claimed !== "later") {
          alive();
          start(claimed);
        } else exhausted = true;
        continue;
      }
      if (running.size === 0) break;
      await nextEvent();
    }
    await Promise.all(runs);
  } catch (error) {
    // A failed claim: let the running units stop at their next page, then fail the task.
    failure ??= { error };
    await Promise.all(runs);
  } finally {
    clearInterval(beat);
  }
  if (failure) {
    if (ruleFor(failure.error) === "drop") {
      log("stream.task.superseded", {
        ...received,
        error: String((failure.error as Error)?.message ?? failure.error),
      });
      return { status: "stale" };
    }
    throw failure.error;
  }
  if (paused || (!exhausted && !stopClaiming))
    return await continueLater(task, deps, unitsDone, log, resumeAfterMs);
  if (unitsComing && !stopClaiming)
    return await continueLater(task, deps, unitsDone, log, deps.discoveryWaitMs ?? 5_000);

  // Only a stream that may be the job's last tries its finalization.
  const { othersLeft } = await deps.state.finishStream(task);
  const last = !othersLeft && (await deps.state.tryFinalizeJob(task.jobId));
  if (last) await deps.finalizeJob(task.jobId, deadline);
  log("stream.finished", { ...task, unitsDone, finalizedJob: last });
  return { status: "finished", unitsDone, finalizedJob: last };
}

type RunUnitOutcome =
  | UnitOutcome
  | {
      status: "failed";
      progress: UnitProgress;
      errors: RecordedError[] /** fatal: claim no more */;
      stop: boolean;
    };

async function runUnit(
  task: StreamTask,
  claimed: ClaimedUnit,
  deps: StreamRunnerDeps,
  shouldYield: () => boolean,
  retryDeadline: RetryDeadline,
  gate: ClaimGate | undefined,
  stream: {
    add: NonNullable<UnitBackupDeps["streamSlots"]>["add"];
    onTail: () => void;
    onRequestsDone: () => void;
    onEndStep: NonNullable<UnitBackupDeps["onEndStep"]>;
  },
): Promise<RunUnitOutcome> {
  try {
    const unitDeps = deps.unitDeps(task, claimed.work);
    const state = deps.state.unitState(task, claimed.work.index);
    return await backupUnit(claimed.work, claimed.checkpoint, {
      ...unitDeps,
      // Started before its claim landed: its writes wait for the claim (none if it is refused).
      ...(gate ? { archive: gate.archive(unitDeps.archive) } : {}),
      state: gate ? gate.unitState(state) : state,
      shouldYield,
      retryDeadline,
      streamSlots: { add: stream.add },
      onTail: stream.onTail,
      onRequestsDone: stream.onRequestsDone,
      onEndStep: stream.onEndStep,
    });
  } catch (error) {
    // A failure of the machinery (redeliver) or a superseded task (drop) ends the task; the
    // unit's own failure is recorded on it, and a fatal one stops the stream's claiming.
    const rule = ruleFor(error);
    if (rule === "redeliver" || rule === "drop") throw error;
    const e = error instanceof Error ? error : new Error(String(error));
    return {
      status: "failed",
      progress: emptyProgress(),
      errors: [{ subject: `unit ${claimed.work.index}`, name: e.name, message: e.message }],
      stop: rule === "stop",
    };
  }
}

/** Longest delay SQS gives a message, seconds. */
const MAX_QUEUE_DELAY_SECONDS = 900;

async function continueLater(
  task: StreamTask,
  deps: StreamRunnerDeps,
  unitsDone: number,
  log: (event: string, fields: Record<string, unknown>) => void,
  afterMs = 0,
): Promise<StreamTaskOutcome> {
  const next = await deps.state.handOn(task);
  // A unit that paused for a Retry-After comes back once it has passed (SQS delays a message
  // 15 minutes at most; a later start waits the rest at the mailbox's gate).
  const delaySeconds = Math.min(MAX_QUEUE_DELAY_SECONDS, Math.ceil(afterMs / 1000));
  await deps.queue.send(next, delaySeconds > 0 ? { delaySeconds } : undefined);
  log("stream.continued", { ...next, ...(delaySeconds > 0 ? { delaySeconds } : {}) });
  return { status: "continued", next, unitsDone };
}
