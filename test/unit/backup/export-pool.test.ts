import { describe, expect, it } from "vitest";
import { ExportPool, type PooledOutcome } from "../../../lib/backup/export-pool.js";

type Item = { id: string; size?: number };

/** A request slot held closed until `open()`: requests started meanwhile wait for it. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { open, opened };
}

/** A pool whose requests answer every taken item with its id upper-cased, recording each batch. */
function recordingPool(slot: Promise<void> = Promise.resolve()) {
  const batches: string[][] = [];
  const pool = new ExportPool<Item, string>(async (take) => {
    await slot;
    const batch = take();
    if (batch.length > 0) batches.push(batch.map((i) => i.id));
    return new Map(batch.map((i) => [i.id, { ok: true, value: i.id.toUpperCase() } as const]));
  });
  return { pool, batches };
}

const items = (prefix: string, n: number, size = 10): Item[] =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i}`, size }));

describe("ExportPool", () => {
  it("batches the items of several folders into one request while the slot is busy", async () => {
    const slot = gate();
    const { pool, batches } = recordingPool(slot.opened);
    const a = pool.add(items("a", 3));
    const b = pool.add(items("b", 4));
    slot.open();
    const [fromA, fromB] = await Promise.all([a, b]);
    expect(batches).toEqual([["a0", "a1", "a2", "b0", "b1", "b2", "b3"]]);
    expect(fromA.map((o) => (o.ok ? o.value : ""))).toEqual(["A0", "A1", "A2"]);
    expect(fromB.map((o) => (o.ok ? o.value : ""))).toEqual(["B0", "B1", "B2", "B3"]);
  });

  it("sends at once what is there when a slot is free: no item waits for others", async () => {
    const { pool, batches } = recordingPool();
    await pool.add(items("a", 2));
    await pool.add(items("b", 1));
    expect(batches).toEqual([["a0", "a1"], ["b0"]]);
  });

  it("carries every item, 20 per request and about 8 MiB, however the adds are cut", async () => {
    const slot = gate();
    const { pool, batches } = recordingPool(slot.opened);
    const mib = 1024 * 1024;
    const all = [
      pool.add(items("a", 15)),
      pool.add(items("b", 15)),
      pool.add([
        { id: "big1", size: 3 * mib },
        { id: "big2", size: 3 * mib },
        { id: "big3", size: 3 * mib },
      ]),
    ];
    slot.open();
    const outcomes = (await Promise.all(all)).flat();
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(batches.map((b) => b.length)).toEqual([20, 12, 1]);
    expect(batches.flat().sort()).toEqual(
      [...items("a", 15), ...items("b", 15), { id: "big1" }, { id: "big2" }, { id: "big3" }]
        .map((i) => i.id)
        .sort(),
    );
  });

  it("fails the items of a request that fails, and an item its request left out", async () => {
    let calls = 0;
    const pool = new ExportPool<Item, string>(async (take) => {
      const batch = take();
      calls++;
      if (calls === 1) throw new Error("service down");
      return new Map([[batch[0]!.id, { ok: true, value: "kept" } as const]]);
    });
    const first = await pool.add(items("a", 2));
    expect(first.map((o) => (o.ok ? "ok" : (o.error as Error).message))).toEqual([
      "service down",
      "service down",
    ]);
    const second = await pool.add(items("b", 2));
    expect(second[0]).toEqual({ ok: true, value: "kept" });
    expect(second[1]).toMatchObject({ ok: false });
    expect(((second[1] as Extract<PooledOutcome<string>, { ok: false }>).error as Error).message).toMatch(
      /b1: expected an outcome of its request, found none/,
    );
  });

  it("fails what waits when a request fails before taking its batch", async () => {
    const pool = new ExportPool<Item, string>(async () => {
      throw new Error("no slot");
    });
    const outcomes = await pool.add(items("a", 3));
    expect(outcomes.every((o) => !o.ok && (o.error as Error).message === "no slot")).toBe(true);
  });

  it("sends full batches at once and holds a partial one until sendPartial allows it and the pool is poked", async () => {
    let partialAllowed = false;
    const batches: string[][] = [];
    const pool = new ExportPool<Item, string>(
      async (take) => {
        const batch = take();
        batches.push(batch.map((i) => i.id));
        return new Map(batch.map((i) => [i.id, { ok: true, value: i.id } as const]));
      },
      { sendPartial: () => partialAllowed },
    );
    let settled = 0;
    const a = pool.add(items("a", 25)).then((o) => {
      settled++;
      return o;
    });
    await new Promise<void>((resolve) => setImmediate(resolve));
    // The full batch left; the 5 left over wait for more items.
    expect(batches).toEqual([items("a", 20).map((i) => i.id)]);
    expect(settled).toBe(0);
    const b = pool.add(items("b", 10));
    await new Promise<void>((resolve) => setImmediate(resolve));
    // Still short of a batch (15): nothing more leaves, and a poke changes nothing while not allowed.
    pool.poke();
    expect(batches).toHaveLength(1);
    partialAllowed = true;
    pool.poke();
    const outcomes = [...(await a), ...(await b)];
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(batches.map((x) => x.length)).toEqual([20, 15]);
  });
});
