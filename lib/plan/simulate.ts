import type { PlanLimits } from "./limits.js";
import type { Unit } from "./types.js";

/** What the simulation needs of a unit. */
export type ScheduledUnit = Pick<Unit, "index" | "mailboxId" | "cost" | "serialSeconds" | "concurrency">;

export interface UnitTiming {
  index: number;
  stream: number;
  startSeconds: number;
  endSeconds: number;
}

/** The rates in force for one mailbox during one interval of the simulation. */
export interface MailboxInterval {
  mailboxId: string;
  fromSeconds: number;
  toSeconds: number;
  /** Σ requests/s of the mailbox's running units. */
  requestsPerSecond: number;
  /** Σ concurrent requests of the mailbox's running units (requests/s × effective latency). */
  concurrency: number;
  /** True while the mailbox's budget window is used up: its units wait (rate 0) for the next window. */
  budgetBound: boolean;
  /** When the mailbox's budget window in force began (its requests in it are ≤ B). */
  windowStartSeconds: number;
}

export interface Schedule {
  makespanSeconds: number;
  /** One per unit, in the order given. */
  units: UnitTiming[];
}

interface Running {
  unit: ScheduledUnit;
  timing: UnitTiming;
  state: MailboxState;
  /** Requests left as of the mailbox's `since`. */
  remaining: number;
  /** Requests/s when only its own concurrency limits it: c / L_eff. */
  cap: number;
  rate: number;
  finishAt: number;
}

interface MailboxState {
  mailboxId: string;
  /** Requests left in the current budget window as of `since`. */
  allowance: number;
  /** Start of the current budget window: the mailbox's first request, then every W while it works. */
  windowStart: number;
  since: number;
  running: Running[];
  /** Next event of the mailbox: its window's allowance runs out, or the window ends. */
  eventAt: number;
}

/** Allowance below this is spent (floating-point remainders of exhausted windows). */
const SPENT = 1e-9;

/** Brings a mailbox's units and window to `now`, then sets their rates and next event. */
function settle(state: MailboxState, now: number, limits: PlanLimits): void {
  const elapsed = now - state.since;
  let used = 0;
  for (const r of state.running) {
    r.remaining = Math.max(0, r.remaining - r.rate * elapsed);
    used += r.rate * elapsed;
  }
  state.allowance = Math.max(0, state.allowance - used);
  state.since = now;
  // A window that has ended gives way to a new one from now (the next request opens it).
  if (now >= state.windowStart + limits.windowSeconds) {
    state.windowStart = now;
    state.allowance = limits.budgetPerWindow;
  }
  const { running } = state;
  if (running.length === 0) {
    state.eventAt = Number.POSITIVE_INFINITY;
    return;
  }
  // Units of one mailbox running at once share its C concurrent requests and its window's B.
  const asked = running.reduce((sum, r) => sum + r.unit.concurrency, 0);
  const scale = Math.min(1, limits.perMailboxConcurrency / asked);
  const open = state.allowance > SPENT;
  let total = 0;
  for (const r of running) {
    r.rate = open ? r.cap * scale : 0;
    // A unit whose last request went out as the window ran out ends now, not after the wait.
    r.finishAt =
      r.remaining <= SPENT ? now : r.rate > 0 ? now + r.remaining / r.rate : Number.POSITIVE_INFINITY;
    total += r.rate;
  }
  const windowEnd = state.windowStart + limits.windowSeconds;
  state.eventAt = open ? Math.min(windowEnd, now + state.allowance / total) : windowEnd;
}

/**
 * Simulates dynamic assignment: `streams` streams pull `units` in the order given (the plan's
 * largest-first order) whenever they are free. A unit holds its stream for its requests' time plus
 * `unitOverheadSeconds` (claim, completion, its pipeline's start and its last writes; the
 * overhead follows its requests and holds none of its mailbox's slots or budget). A unit runs at its concurrency (c / L_eff
 * requests/s); units of one mailbox running at once share the mailbox's C and its budget: B
 * requests per window of W seconds, the window starting with the mailbox's first request (and
 * again when one ends); a mailbox that used its window's B waits for the next. Time advances from
 * event to event (a unit ends, a window's allowance runs out, a window ends), so the result is
 * exact for the model.
 * `onInterval` sees every busy mailbox's rates between events (for tests and benchmarks).
 */
export function simulateSchedule(
  units: readonly ScheduledUnit[],
  streams: number,
  limits: PlanLimits,
  onInterval?: (interval: MailboxInterval) => void,
): Schedule {
  if (units.length === 0) return { makespanSeconds: 0, units: [] };
  if (!(Number.isInteger(streams) && streams >= 1)) {
    throw new RangeError(`simulateSchedule: expected an integer stream count ≥ 1, found ${streams}`);
  }
  const timings: UnitTiming[] = [];
  const mailboxes = new Map<string, MailboxState>();
  const busy = new Set<MailboxState>();
  const freeStreams: number[] = Array.from({ length: streams }, (_, i) => streams - 1 - i);
  const running: Running[] = [];
  /** Units whose requests are done, holding their streams for the overhead until `at`. */
  const ending: Array<{ at: number; stream: number }> = [];
  const overhead = limits.unitOverheadSeconds;
  const release = (timing: UnitTiming, at: number): void => {
    timing.endSeconds = at;
    if (at <= now) freeStreams.push(timing.stream);
    else ending.push({ at, stream: timing.stream });
  };
  const dirty = new Set<MailboxState>();
  let next = 0;
  let now = 0;

  const pull = (): void => {
    while (freeStreams.length > 0 && next < units.length) {
      const unit = units[next++]!;
      const stream = freeStreams.pop()!;
      const timing: UnitTiming = { index: unit.index, stream, startSeconds: now, endSeconds: now };
      timings.push(timing);
      if (unit.cost <= 0) {
        release(timing, now + overhead);
        continue;
      }
      if (!(unit.serialSeconds > 0 && unit.concurrency > 0)) {
        throw new RangeError(
          `simulateSchedule: unit ${unit.index} has ${unit.cost} requests, expected serialSeconds > 0 and concurrency > 0, found ${unit.serialSeconds} and ${unit.concurrency}`,
        );
      }
      let state = mailboxes.get(unit.mailboxId);
      if (!state) {
        state = {
          mailboxId: unit.mailboxId,
          allowance: limits.budgetPerWindow,
          windowStart: now,
          since: now,
          running: [],
          eventAt: Number.POSITIVE_INFINITY,
        };
        mailboxes.set(unit.mailboxId, state);
      }
      // Effective latency L_eff = serialSeconds / cost, so c / L_eff requests per second.
      const cap = (unit.concurrency * unit.cost) / unit.serialSeconds;
      settle(state, now, limits);
      const entry: Running = { unit, timing, state, remaining: unit.cost, cap, rate: 0, finishAt: now };
      state.running.push(entry);
      running.push(entry);
      busy.add(state);
      dirty.add(state);
    }
  };

  pull();
  while (running.length > 0 || ending.length > 0) {
    for (const state of dirty) settle(state, now, limits);
    dirty.clear();
    let until = Number.POSITIVE_INFINITY;
    for (const r of running) until = Math.min(until, r.finishAt);
    for (const state of busy) until = Math.min(until, state.eventAt);
    for (const e of ending) until = Math.min(until, e.at);
    if (onInterval) {
      for (const state of busy) {
        let requestsPerSecond = 0;
        let concurrency = 0;
        for (const r of state.running) {
          requestsPerSecond += r.rate;
          concurrency += (r.rate / r.cap) * r.unit.concurrency;
        }
        onInterval({
          mailboxId: state.mailboxId,
          fromSeconds: now,
          toSeconds: until,
          requestsPerSecond,
          concurrency,
          budgetBound: state.allowance <= SPENT,
          windowStartSeconds: state.windowStart,
        });
      }
    }
    now = until;
    for (let i = ending.length - 1; i >= 0; i--) {
      if (ending[i]!.at > now) continue;
      freeStreams.push(ending[i]!.stream);
      ending.splice(i, 1);
    }
    for (const state of busy) {
      if (state.eventAt <= now) {
        settle(state, now, limits);
        if (state.allowance <= SPENT) state.allowance = 0;
        dirty.add(state);
      }
    }
    for (let i = running.length - 1; i >= 0; i--) {
      const r = running[i]!;
      if (r.finishAt > now) continue;
      running.splice(i, 1);
      const { state } = r;
      settle(state, now, limits);
      state.running.splice(state.running.indexOf(r), 1);
      if (state.running.length === 0) busy.delete(state);
      release(r.timing, now + overhead);
      dirty.add(state);
    }
    pull();
  }
  const makespanSeconds = timings.reduce((max, t) => Math.max(max, t.endSeconds), 0);
  return { makespanSeconds, units: timings };
}
