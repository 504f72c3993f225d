/**
 * A stream's request slots, shared by the units it runs at once (lib/backup/stream-runner.ts).
 *
 * Each unit has a share of the slots (its planned `concurrency`). A freed slot goes first to a
 * waiting request of a unit below its share, the oldest unit first; only when no unit waits
 * within its share is it lent to a waiting request of a unit at or above its share (oldest first):
 * a unit that may borrow (stream bins' whole mailboxes, `maxConcurrency`) fills the slots the
 * others leave idle, and never keeps a unit from its share for longer than one request holds a
 * slot. A unit that may not borrow never has more requests waiting than its share (its own queue
 * holds them back), so for plans without loans this is the older-first queue it replaced.
 */

/** What a unit's requests go through: one of its stream's slots each. */
export interface UnitSlots {
  add<T>(run: () => Promise<T>): Promise<T>;
}

interface Member {
  share: number;
  /** Its unit said it is done: it leaves the list once its last request has settled. */
  closed: boolean;
  running: number;
  waiting: Array<() => void>;
}

export class StreamSlots {
  private running = 0;
  /** Freed slots held from loans for a moment: their unit, within its share, may ask again. */
  private reserved = 0;
  /** The units, oldest (first registered) first. */
  private readonly members: Member[] = [];
  private pumping = false;

  /** @param capacity the stream's request slots. ≥ 1. */
  constructor(readonly capacity: number) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) {
      throw new RangeError(`StreamSlots: expected an integer capacity ≥ 1, found ${capacity}`);
    }
  }

  /** Requests running now, across the units. */
  get active(): number {
    return this.running;
  }

  /**
   * A unit's way to the slots, `share` of them its own (≥ 1), after every unit registered before
   * it. `done` unregisters it (its last request has settled).
   */
  unit(share: number): UnitSlots & { done(): void } {
    const member: Member = {
      share: Math.max(1, Math.floor(share)),
      closed: false,
      running: 0,
      waiting: [],
    };
    this.members.push(member);
    return {
      add: <T>(run: () => Promise<T>) =>
        new Promise<T>((resolve, reject) => {
          member.waiting.push(() => {
            let result: Promise<T>;
            try {
              result = Promise.resolve(run());
            } catch (error) {
              result = Promise.reject(error);
            }
            // The slot is free before the caller hears the answer (and may ask again). A unit
            // that was within its share keeps it from loans for two turns of the event loop: its
            // next request comes once the answer is processed, and lent at once, the slot would
            // make it wait a whole request's time behind a borrower (skewed N = 16: pieces of
            // one slot took 0.55–0.75 s a request beside borrowers, against 0.4 s).
            const release = () => {
              const withinShare = member.running <= member.share;
              member.running--;
              this.running--;
              if (withinShare && !member.closed) this.reserve();
              this.leaveIfDone(member);
              this.pump();
            };
            result.then(
              (value) => {
                release();
                resolve(value);
              },
              (error: unknown) => {
                release();
                reject(error);
              },
            );
          });
          this.pump();
        }),
      done: () => {
        member.closed = true;
        this.leaveIfDone(member);
      },
    };
  }

  private leaveIfDone(member: Member): void {
    if (!member.closed || member.running > 0 || member.waiting.length > 0) return;
    const at = this.members.indexOf(member);
    if (at >= 0) this.members.splice(at, 1);
  }

  /** Holds a freed slot from loans for two turns of the event loop (see `add`'s release). */
  private reserve(): void {
    this.reserved++;
    setImmediate(() =>
      setImmediate(() => {
        this.reserved--;
        this.pump();
      }),
    );
  }

  /** Starts waiting requests while slots are free: shares first, then loans, older units first. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.running < this.capacity) {
        let pick: Member | undefined;
        for (const m of this.members) {
          if (m.waiting.length > 0 && m.running < m.share) {
            pick = m;
            break;
          }
        }
        // A loan only from slots no unit within its share may still ask for this turn.
        if (!pick && this.running + this.reserved < this.capacity) {
          pick = this.members.find((m) => m.waiting.length > 0);
        }
        if (!pick) break;
        pick.running++;
        this.running++;
        pick.waiting.shift()!();
      }
    } finally {
      this.pumping = false;
    }
  }
}
