import type { PlanLimits } from "./limits.js";
import type { Unit } from "./types.js";

/** What the simulation needs of a unit. */
export type ScheduledUnit = Pick<Unit, "index" | "mailboxId" | "cost" | "serialSeconds" | "concurrency"> &
  Partial<Pick<Unit, "maxConcurrency">>;

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
  stream: StreamState;
  /** Requests left as of the mailbox's `since`. */
  remaining: number;
  /** Requests/s of one request slot: 1 / L_eff. */
  perSlot: number;
  /** Request slots of its stream the unit has now: its share, less what older units of the stream hold. */
  slots: number;
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

interface StreamState {
  index: number;
  /** Σ shares of the units the stream holds (running, or in their overhead). */
  held: number;
  /** Its units whose requests are not done, oldest (first claimed) first. */
  units: Running[];
  /** When the stream's claim in progress is done: its next claim's unit starts no sooner. */
  claimsFreeAt: number;
}

/** Allowance below this is spent (floating-point remainders of exhausted windows). */
const SPENT = 1e-9;

/** A unit's share of its mailbox's request slots (a unit without one claims one slot). */
function shareOf(unit: ScheduledUnit): number {
  return Math.max(1, unit.concurrency);
}

/** The slots a unit may use when its stream has them free: its `maxConcurrency`, never below its share. */
function maxOf(unit: ScheduledUnit, capacity: number): number {
  return Math.min(capacity, Math.max(shareOf(unit), unit.maxConcurrency ?? 0));
}

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
  const asked = running.reduce((sum, r) => sum + r.slots, 0);
  const scale = asked > limits.perMailboxConcurrency ? limits.perMailboxConcurrency / asked : 1;
  const open = state.allowance > SPENT;
  let total = 0;
  for (const r of running) {
    r.rate = open ? r.slots * r.perSlot * scale : 0;
    // A unit whose last request went out as the window ran out ends now, not after the wait.
    r.finishAt =
      r.remaining <= SPENT ? now : r.rate > 0 ? now + r.remaining / r.rate : Number.POSITIVE_INFINITY;
    total += r.rate;
  }
  const windowEnd = state.windowStart + limits.windowSeconds;
  state.eventAt = open && total > 0 ? Math.min(windowEnd, now + state.allowance / total) : windowEnd;
}

/**
 * Simulates dynamic assignment: `streams` streams pull `units` in the order given (the plan's
 * largest-first order). Each stream has `perStreamConcurrency × unitsPerStream` request slots
 * (lib/backup/stream-runner.ts) and claims the next unit whenever the shares (`concurrency`) of
 * the units it holds sum to less than that; when several streams may, the one with the most
 * free slots claims first (ties: the lowest stream). A unit runs on the slots of its share that
 * the older units of its stream leave (older first, as the runner's slots are); a claimed unit
 * may so wait for slots while an older one ends. A unit that may borrow (`maxConcurrency`, stream
 * bins) also runs on the slots every share leaves, up to its maximum (oldest first), as the
 * runner lends them (lib/backup/stream-slots.ts). The units the streams hold at time 0 (their
 * first tasks carry them: lib/backup/start-units.ts) start at once; later, a stream claims one
 * unit at a time, so units it claims together start `claimSeconds` apart. A unit holds its
 * stream's share for its requests' time plus
 * `unitOverheadSeconds` (claim, completion, its pipeline's start and its last writes; the
 * overhead follows its requests and holds none of its mailbox's or its stream's request slots
 * or budget, only its claim). A unit runs at its slots (c / L_eff requests/s); units of one
 * mailbox running at once share the mailbox's C and its budget: B requests per window of W
 * seconds, the window starting with the mailbox's first request (and again when one ends); a
 * mailbox that used its window's B waits for the next. Time advances from event to event (a
 * unit ends, a window's allowance runs out, a window ends), so the result is exact for the model.
 * With every share equal to `perStreamConcurrency` a stream runs `unitsPerStream` units side by
 * side, each at its full share: the plan of whole-mailbox units, as before shares.
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
  const capacity = limits.perStreamConcurrency * limits.unitsPerStream;
  const timings: UnitTiming[] = [];
  const mailboxes = new Map<string, MailboxState>();
  const busy = new Set<MailboxState>();
  const lanes: StreamState[] = Array.from({ length: streams }, (_, index) => ({
    index,
    held: 0,
    units: [],
    claimsFreeAt: 0,
  }));
  const running: Running[] = [];
  /** Units whose requests are done, holding their share of their streams until `at`. */
  const ending: Array<{ at: number; stream: StreamState; share: number }> = [];
  /** Units claimed behind another claim of their stream, holding their share until they start at `at`. */
  const claiming: Array<{ at: number; unit: ScheduledUnit; timing: UnitTiming; stream: StreamState }> = [];
  const overhead = limits.unitOverheadSeconds;
  const dirty = new Set<MailboxState>();
  let next = 0;
  let now = 0;
  const release = (timing: UnitTiming, stream: StreamState, share: number, at: number): void => {
    timing.endSeconds = at;
    if (at <= now) stream.held -= share;
    else ending.push({ at, stream, share });
  };
  /**
   * Gives a stream's slots to its units, oldest first (their mailboxes brought to now first), each
   * its share; then lends what is left to the units that may borrow (`maxConcurrency`), oldest
   * first, as the runner's slots serve shares before loans (lib/backup/stream-runner.ts).
   */
  const allot = (stream: StreamState): void => {
    for (const r of stream.units) settle(r.state, now, limits);
    let left = capacity;
    for (const r of stream.units) {
      r.slots = Math.min(shareOf(r.unit), left);
      left -= r.slots;
      dirty.add(r.state);
    }
    for (const r of stream.units) {
      if (left <= 0) break;
      const loan = Math.min(left, Math.max(0, maxOf(r.unit, capacity) - r.slots));
      r.slots += loan;
      left -= loan;
    }
  };
  /** The stream that claims next: the most free slots, then the lowest index; none when all are full. */
  const claimer = (): StreamState | undefined => {
    let best: StreamState | undefined;
    for (const s of lanes) if (s.held < capacity && (!best || s.held < best.held)) best = s;
    return best;
  };

  /** Starts a claimed unit's requests now. */
  const begin = (unit: ScheduledUnit, timing: UnitTiming, stream: StreamState): void => {
    const share = shareOf(unit);
    if (unit.cost <= 0) {
      release(timing, stream, share, now + overhead);
      return;
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
    settle(state, now, limits);
    // Effective latency L_eff = serialSeconds / cost: one slot makes cost / serialSeconds requests/s.
    const entry: Running = {
      unit,
      timing,
      state,
      stream,
      remaining: unit.cost,
      perSlot: unit.cost / unit.serialSeconds,
      slots: 0,
      rate: 0,
      finishAt: now,
    };
    state.running.push(entry);
    stream.units.push(entry);
    running.push(entry);
    busy.add(state);
    allot(stream);
  };

  /**
   * `start`: the job's start, whose units the streams' first tasks carry and claim together in
   * the transaction that begins each task (lib/backup/start-units.ts): they all start at 0.
   */
  const pull = (start = false): void => {
    for (let stream = claimer(); stream && next < units.length; stream = claimer()) {
      const unit = units[next++]!;
      // Later, a stream claims one unit at a time: a unit claimed while its stream's previous
      // claim is in progress (several slots free at once) starts `claimSeconds` after it, as the
      // runner's claims, one transaction each, follow each other.
      const at = start ? now : Math.max(now, stream.claimsFreeAt);
      if (!start) stream.claimsFreeAt = at + limits.claimSeconds;
      const timing: UnitTiming = {
        index: unit.index,
        stream: stream.index,
        startSeconds: at,
        endSeconds: at,
      };
      timings.push(timing);
      stream.held += shareOf(unit);
      if (at > now) claiming.push({ at, unit, timing, stream });
      else begin(unit, timing, stream);
    }
  };

  pull(true);
  while (running.length > 0 || ending.length > 0 || claiming.length > 0) {
    for (const state of dirty) settle(state, now, limits);
    dirty.clear();
    let until = Number.POSITIVE_INFINITY;
    for (const r of running) until = Math.min(until, r.finishAt);
    for (const state of busy) until = Math.min(until, state.eventAt);
    for (const e of ending) until = Math.min(until, e.at);
    for (const c of claiming) until = Math.min(until, c.at);
    if (onInterval) {
      for (const state of busy) {
        let requestsPerSecond = 0;
        let concurrency = 0;
        for (const r of state.running) {
          requestsPerSecond += r.rate;
          concurrency += r.rate / r.perSlot;
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
      const e = ending[i]!;
      if (e.at > now) continue;
      e.stream.held -= e.share;
      ending.splice(i, 1);
    }
    for (let i = 0; i < claiming.length; ) {
      const c = claiming[i]!;
      if (c.at > now) {
        i++;
        continue;
      }
      claiming.splice(i, 1);
      begin(c.unit, c.timing, c.stream);
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
      const { state, stream } = r;
      settle(state, now, limits);
      state.running.splice(state.running.indexOf(r), 1);
      if (state.running.length === 0) busy.delete(state);
      stream.units.splice(stream.units.indexOf(r), 1);
      release(r.timing, stream, shareOf(r.unit), now + overhead);
      dirty.add(state);
      allot(stream);
    }
    pull();
  }
  const makespanSeconds = timings.reduce((max, t) => Math.max(max, t.endSeconds), 0);
  return { makespanSeconds, units: timings };
}
