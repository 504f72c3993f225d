import { describe, expect, it } from "vitest";
import { StreamSlots } from "../../../lib/backup/stream-slots.js";

/** A request the test answers by hand: its start is recorded, its answer waits for `answer()`. */
function manual(log: string[], name: string) {
  let answer!: () => void;
  const answered = new Promise<void>((resolve) => (answer = resolve));
  return {
    run: async () => {
      log.push(name);
      await answered;
      return name;
    },
    answer: () => answer(),
  };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

describe("StreamSlots", () => {
  it("lends free slots to a waiting unit, and gives a freed slot to a unit below its share first", async () => {
    const slots = new StreamSlots(4);
    const piece = slots.unit(2);
    const whole = slots.unit(2);
    const log: string[] = [];
    const w = [0, 1, 2, 3, 4].map((i) => manual(log, `w${i}`));
    const p = [0, 1].map((i) => manual(log, `p${i}`));
    const wAnswers = w.map((r) => whole.add(r.run));
    await turn();
    // Nothing else waits: the whole mailbox borrows every slot (its 5th request waits).
    expect(log).toEqual(["w0", "w1", "w2", "w3"]);
    expect(slots.active).toBe(4);
    const pAnswers = p.map((r) => piece.add(r.run));
    await turn();
    expect(log).toHaveLength(4);
    // A freed slot goes to the piece (below its share), not to the whole mailbox's next request,
    // though that one waited longer.
    w[0]!.answer();
    await turn();
    expect(log.slice(4)).toEqual(["p0"]);
    w[1]!.answer();
    await turn();
    expect(log.slice(5)).toEqual(["p1"]);
    // The piece at its share: the next slot is lent again.
    w[2]!.answer();
    await turn();
    expect(log.slice(6)).toEqual(["w4"]);
    for (const r of [...w, ...p]) r.answer();
    expect(await Promise.all([...wAnswers, ...pAnswers])).toEqual(["w0", "w1", "w2", "w3", "w4", "p0", "p1"]);
    expect(slots.active).toBe(0);
  });

  it("keeps a slot freed within a unit's share from loans while the unit asks again after its answer", async () => {
    const slots = new StreamSlots(2);
    const piece = slots.unit(1);
    const whole = slots.unit(1);
    const log: string[] = [];
    const first = manual(log, "p0");
    const w = [0, 1].map((i) => manual(log, `w${i}`));
    const asked = piece.add(first.run).then(async () => {
      // The next request, asked once the answer has been processed (a few microtasks and a turn).
      await turn();
      return piece.add(async () => {
        log.push("p1");
      });
    });
    const wAnswers = w.map((r) => whole.add(r.run));
    await turn();
    expect(log).toEqual(["p0", "w0"]);
    first.answer();
    await asked;
    // p1 took the slot p0 freed; w1, waiting for a loan all along, still waits.
    expect(log).toEqual(["p0", "w0", "p1"]);
    await turn();
    await turn();
    expect(log).toEqual(["p0", "w0", "p1", "w1"]);
    for (const r of w) r.answer();
    await Promise.all(wAnswers);
  });

  it("serves units within their shares oldest first, and never runs more than its capacity", async () => {
    const slots = new StreamSlots(2);
    const older = slots.unit(1);
    const newer = slots.unit(1);
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const request = (name: string) => async () => {
      log.push(name);
      running++;
      most = Math.max(most, running);
      await turn();
      running--;
    };
    await Promise.all([
      newer.add(request("n0")),
      newer.add(request("n1")),
      older.add(request("o0")),
      older.add(request("o1")),
    ]);
    // n0 took a free slot at once, n1 was lent the other; then each freed slot went to the older
    // unit, below its share, before the newer unit's loans.
    expect(log).toEqual(["n0", "n1", "o0", "o1"]);
    expect(most).toBe(2);
  });

  it("passes a request's failure to its caller and frees its slot", async () => {
    const slots = new StreamSlots(1);
    const unit = slots.unit(1);
    await expect(
      unit.add(async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    await expect(
      unit.add(() => {
        throw new Error("sync boom");
      }),
    ).rejects.toThrow("sync boom");
    expect(await unit.add(async () => "next")).toBe("next");
    expect(slots.active).toBe(0);
    expect(() => new StreamSlots(0)).toThrow(/expected an integer capacity ≥ 1, found 0/);
  });
});
