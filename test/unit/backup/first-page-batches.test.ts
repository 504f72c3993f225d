/**
 * First item delta pages in `$batch`es (lib/backup/first-page-batches.ts): the batching rule
 * (pages asked in the same turn go together, by mailbox, at most the limit each, a lone one
 * alone), and a unit that uses it: never more requests in flight than its slots (a batch of k
 * counting k), single-page folders batched, a folder with a nextLink after its batched first page
 * going on alone, a page the batch hands back fetched alone, a lost sync state in a batch resyncing
 * that folder only, and every item stored once.
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import {
  FirstPageBatches,
  firstPageBatchOf,
  firstPageBatchSizes,
} from "../../../lib/backup/first-page-batches.js";
import type {
  ArchiveSink,
  BlobKind,
  CatalogEntry,
  CatalogPartKey,
  DeltaPageView,
  ExportedItem,
  FirstPageAnswer,
  ItemMailbox,
  ItemPageView,
  MailSource,
  StagedLink,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
} from "../../../lib/backup/ports.js";
import { backupUnit, type UnitWork } from "../../../lib/backup/unit-backup.js";
import { SyncStateLostError } from "../../../lib/errors.js";

async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

const mailbox = (apiId: string): ItemMailbox => ({ userId: "U1", role: "primary", apiId });

describe("the first-page batching rule", () => {
  it("bounds the configured size to 1–4 (default 4) and cuts a group into full batches, then the rest", () => {
    expect([
      firstPageBatchOf(undefined),
      firstPageBatchOf(0),
      firstPageBatchOf(9),
      firstPageBatchOf(2.7),
    ]).toEqual([4, 1, 4, 2]);
    expect(firstPageBatchSizes(9, 4)).toEqual([4, 4, 1]);
    expect(firstPageBatchSizes(3, 4)).toEqual([3]);
    expect(firstPageBatchSizes(0, 4)).toEqual([]);
  });

  it("sends the pages asked in one turn together, by mailbox and at most the limit each; a lone page goes alone", async () => {
    const sent: Array<{ apiId: string; folders: string[] }> = [];
    const batches = new FirstPageBatches(async (mb, starts) => {
      sent.push({ apiId: mb.apiId, folders: starts.map((s) => s.folderId) });
      return starts.map((s) => ({
        page: { upserts: [], removed: [], deltaLink: `${s.folderId}#${s.from}` },
      }));
    }, 3);
    const asked = [
      batches.fetch(mailbox("A"), "a1", "x"),
      batches.fetch(mailbox("B"), "b1", undefined),
      batches.fetch(mailbox("A"), "a2", undefined),
      batches.fetch(mailbox("A"), "a3", undefined),
      batches.fetch(mailbox("A"), "a4", undefined),
    ];
    const answers = await Promise.all(asked);
    expect(sent).toEqual([{ apiId: "A", folders: ["a1", "a2", "a3"] }]);
    // Each answer is its own folder's; the fourth of A and the only one of B go alone.
    expect(answers.map((a) => ("page" in a ? a.page.deltaLink : a))).toEqual([
      "a1#x",
      { alone: true },
      "a2#undefined",
      "a3#undefined",
      { alone: true },
    ]);
    // A page asked in a later turn is not held for the ones before.
    expect(await batches.fetch(mailbox("A"), "a5", undefined)).toEqual({ alone: true });
  });

  it("sends nothing with a limit of 1, and sends alone each page of a batch that failed as a whole", async () => {
    let calls = 0;
    const off = new FirstPageBatches(async () => {
      calls++;
      return [];
    }, 1);
    expect(
      await Promise.all([off.fetch(mailbox("A"), "a", undefined), off.fetch(mailbox("A"), "b", undefined)]),
    ).toEqual([{ alone: true }, { alone: true }]);
    expect(calls).toBe(0);
    const failing = new FirstPageBatches(async () => {
      throw new Error("batch refused");
    }, 4);
    // A batch refused as a whole (a service that does not take the resource in `$batch`, or one
    // that failed after the gateway's retries): each page meets the single request's handling.
    expect(
      await Promise.all([
        failing.fetch(mailbox("A"), "a", undefined),
        failing.fetch(mailbox("A"), "b", undefined),
      ]),
    ).toEqual([{ alone: true }, { alone: true }]);
    // And it sends no more batches: the next pages go alone without a request.
    let sentAfter = 0;
    const once = new FirstPageBatches(async () => {
      sentAfter++;
      throw new Error("batch refused");
    }, 4);
    await Promise.all([once.fetch(mailbox("A"), "a", undefined), once.fetch(mailbox("A"), "b", undefined)]);
    expect(
      await Promise.all([once.fetch(mailbox("A"), "c", undefined), once.fetch(mailbox("A"), "d", undefined)]),
    ).toEqual([{ alone: true }, { alone: true }]);
    expect(sentAfter).toBe(1);
  });
});

/**
 * Item delta and exports of one mailbox, each folder a list of pages (links `<folder>#<page>`),
 * every request a few turns long; a batch of first pages counts as one request per page in
 * flight, as the mailbox's slots count it.
 */
class BatchingSource implements MailSource {
  inFlight = 0;
  peak = 0;
  readonly batches: string[][] = [];
  readonly alone: string[] = [];
  /** Folders whose next batched first page the batch hands back (`alone`), or answers 410. */
  readonly handBack = new Set<string>();
  readonly lose = new Set<string>();
  /**
   * Folders that live elsewhere (an expanded archive's): a first request from no link answers a
   * redirect (`<folder>#308`, one request), in a batch `alone` with the link `<folder>#moved`.
   */
  readonly moved = new Set<string>();
  /** Called as a batch is sent (before its answer). */
  onBatch: () => void = () => {};
  constructor(readonly pages: Map<string, string[][]>) {}

  private async request<T>(weight: number, answer: () => T): Promise<T> {
    this.inFlight += weight;
    this.peak = Math.max(this.peak, this.inFlight);
    await turns(3);
    this.inFlight -= weight;
    return answer();
  }

  private page(folderId: string, index: number): ItemPageView {
    const pages = this.pages.get(folderId) ?? [[]];
    return {
      upserts: (pages[index] ?? []).map((id) => ({ id, itemClass: "IPM.Note", size: 10, meta: { id } })),
      removed: [],
      ...(index + 1 < pages.length
        ? { nextLink: `${folderId}#${index + 1}` }
        : { deltaLink: `${folderId}#done` }),
    };
  }

  private static indexOf(folderId: string, from: string | undefined): number {
    return from?.startsWith(`${folderId}#`) && !from.endsWith("#fresh") && !from.endsWith("#moved")
      ? Number(from.split("#")[1])
      : 0;
  }

  // biome-ignore lint/correctness/useYield: mail folders are not read here
  async *folderDelta(): AsyncIterable<DeltaPageView> {
    throw new Error("expected item reads only");
  }

  async openMime(): Promise<Readable> {
    throw new Error("expected item reads only");
  }

  itemDelta(_mailbox: ItemMailbox, folderId: string, from: string | undefined): AsyncIterable<ItemPageView> {
    const source = this;
    const pages = this.pages.get(folderId) ?? [[]];
    return (async function* () {
      if (from === undefined && source.moved.has(folderId)) {
        source.alone.push(`${folderId}#308`);
        await source.request(1, () => undefined);
      }
      for (let i = BatchingSource.indexOf(folderId, from); i < pages.length; i++) {
        source.alone.push(`${folderId}#${i}`);
        yield await source.request(1, () => source.page(folderId, i));
      }
    })();
  }

  itemDeltaFirstPages = async (
    _mailbox: ItemMailbox,
    starts: ReadonlyArray<{ folderId: string; from: string | undefined }>,
  ): Promise<FirstPageAnswer[]> => {
    this.batches.push(starts.map((s) => s.folderId));
    this.onBatch();
    return this.request(starts.length, () =>
      starts.map((s): FirstPageAnswer => {
        if (this.handBack.delete(s.folderId)) return { alone: true };
        if (this.moved.has(s.folderId) && s.from === undefined)
          return { alone: true, from: `${s.folderId}#moved` };
        if (this.lose.delete(s.folderId))
          return {
            error: new SyncStateLostError(`folder ${s.folderId}: sync state lost`, `${s.folderId}#fresh`),
          };
        return { page: this.page(s.folderId, BatchingSource.indexOf(s.folderId, s.from)) };
      }),
    );
  };

  exportItems = async (_mailbox: ItemMailbox, itemIds: readonly string[]): Promise<ExportedItem[]> =>
    this.request(1, () => itemIds.map((itemId) => ({ itemId, data: Buffer.from(`export of ${itemId}`) })));
}

class Archive implements ArchiveSink {
  readonly items = new Set<string>();
  readonly parts = new Map<string, CatalogEntry[]>();
  async storeBlob(_kind: BlobKind, body: Readable | Buffer) {
    const bytes = body as Buffer;
    return { sha256: createHash("sha256").update(bytes).digest("hex"), size: bytes.length, existed: false };
  }
  async writeCatalogPart(key: CatalogPartKey, entries: CatalogEntry[]) {
    this.parts.set(`${key.folderId}/${key.page}`, entries);
    for (const e of entries) if (e.kind === "upsert") this.items.add(e.messageId);
  }
}

class State implements UnitStatePort {
  readonly staged = new Map<string, string>();
  items = 0;
  async syncState() {
    return undefined;
  }
  async checkpoint(_cp: UnitCheckpoint, d: UnitProgress, staged: StagedLink[] = []) {
    for (const s of staged) this.staged.set(s.folderId, s.deltaLink);
    this.items += d.items;
  }
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

/** 12 folders of one page (3 items), and F0 of three pages. */
function tenant(): Map<string, string[][]> {
  const pages = new Map<string, string[][]>();
  pages.set("F0", [ids("f0p0-", 20), ids("f0p1-", 20), ids("f0p2-", 5)]);
  for (let f = 1; f <= 12; f++) pages.set(`F${f}`, [ids(`f${f}-`, 3)]);
  return pages;
}

async function runUnit(
  source: BatchingSource,
  concurrency: number,
  firstPageBatch?: number,
  resume?: { from: UnitCheckpoint; archive: Archive; state: State; shouldYield?: () => boolean },
  onTail?: () => void,
) {
  const folderIds = [...source.pages.keys()];
  const unit: UnitWork = {
    jobId: "J1",
    index: 0,
    mailboxId: "U1",
    folderIds,
    folderReads: "p".repeat(folderIds.length),
    mailboxIds: { primary: "MBX:1" },
    concurrency,
    hasSyncStates: false,
  };
  const archive = resume?.archive ?? new Archive();
  const state = resume?.state ?? new State();
  const out = await backupUnit(unit, resume?.from ?? { folderIndex: 0, page: 0 }, {
    source,
    archive,
    state,
    shouldYield: resume?.shouldYield ?? (() => false),
    checkpointIntervalMs: 0,
    ...(firstPageBatch !== undefined ? { firstPageBatch } : {}),
    ...(onTail ? { onTail } : {}),
  });
  return { out, archive, state };
}

const allItems = (pages: Map<string, string[][]>) => [...pages.values()].flat(2).sort();

describe("a unit with first pages in batches", () => {
  it("batches the first pages that start together, never over its slots, and stores every item once", async () => {
    const source = new BatchingSource(tenant());
    const { out, archive, state } = await runUnit(source, 4);
    expect(out.status).toBe("done");
    expect(source.peak).toBeLessThanOrEqual(4);
    expect(source.batches.length).toBeGreaterThan(0);
    expect(Math.max(...source.batches.map((b) => b.length))).toBeLessThanOrEqual(4);
    // Fewer exchanges than folders: most first pages rode in batches.
    const batched = source.batches.flat();
    expect(batched.length).toBeGreaterThan(6);
    expect(new Set(batched).size).toBe(batched.length);
    // F0's round went on alone after its first page (batched or not).
    expect(source.alone).toEqual(expect.arrayContaining(["F0#1", "F0#2"]));
    expect([...archive.items].sort()).toEqual(allItems(source.pages));
    expect(state.items).toBe(allItems(source.pages).length);
    expect(archive.parts.has("F0/2")).toBe(true);
    expect(state.staged.size).toBe(source.pages.size);
  });

  it("exports the items of pages answered together in one batch: a partial batch leaves after the event loop's turn", async () => {
    // 15 folders of one page and one item, 4 slots: three batches of 4 first pages, then one of 3
    // with a slot free beside it (fewer folders left than slots: a partial batch may take it).
    // The last three pages answer together: their items leave in one export after them, not one
    // each as their pages are stored one after another (3 requests more; session 16).
    const pages = new Map<string, string[][]>();
    for (let f = 0; f < 15; f++) pages.set(`F${f}`, [[`f${f}-0`]]);
    const source = new BatchingSource(pages);
    const exported: number[] = [];
    const exportItems = source.exportItems;
    source.exportItems = async (mb, ids) => {
      exported.push(ids.length);
      return exportItems(mb, ids);
    };
    const { out, archive } = await runUnit(source, 4);
    expect(out.status).toBe("done");
    expect(source.batches.map((b) => b.length)).toEqual([4, 4, 4, 3]);
    expect(exported).toEqual([12, 3]);
    expect([...archive.items].sort()).toEqual(allItems(pages));
  });

  it("tells its tail only once its slots begin to idle, not when its last folder starts", async () => {
    // 13 folders on 16 lanes: the last folder starts at once; the unit's 4 slots stay busy with
    // the 13 first pages and F0's next pages for several rounds after that.
    const source = new BatchingSource(tenant());
    let sentAtTail: number | undefined;
    let tails = 0;
    const { out } = await runUnit(source, 4, undefined, undefined, () => {
      tails++;
      sentAtTail ??= source.batches.flat().length + source.alone.length;
    });
    expect(out.status).toBe("done");
    expect(tails).toBe(1);
    // Every folder's first page had been sent, and F0's later pages: nothing was left queued.
    expect(sentAtTail).toBeGreaterThanOrEqual(source.pages.size);
  });

  it("keeps a unit with a share of 2 slots to batches of 2, and sends nothing batched with firstPageBatch 1", async () => {
    const shared = new BatchingSource(tenant());
    const { out } = await runUnit(shared, 2);
    expect(out.status).toBe("done");
    expect(shared.peak).toBeLessThanOrEqual(2);
    expect(shared.batches.length).toBeGreaterThan(0);
    expect(Math.max(...shared.batches.map((b) => b.length))).toBe(2);

    const off = new BatchingSource(tenant());
    const { archive } = await runUnit(off, 4, 1);
    expect(off.batches).toEqual([]);
    expect([...archive.items].sort()).toEqual(allItems(off.pages));
  });

  it("fetches alone a page the batch hands back, and resyncs only the folder whose state the batch says is lost", async () => {
    const source = new BatchingSource(tenant());
    source.handBack.add("F1");
    source.handBack.add("F2");
    source.lose.add("F3");
    const { out, archive, state } = await runUnit(source, 4);
    expect(out.status).toBe("done");
    if (out.status !== "done") return;
    const batched = source.batches.flat();
    // Handed back from a batch, then fetched alone; the lost one started over from its fresh link.
    for (const f of ["F1", "F2", "F3"]) expect(batched).toContain(f);
    expect(source.alone).toEqual(expect.arrayContaining(["F1#0", "F2#0"]));
    expect(out.errors.map((e) => e.subject)).toEqual(["folder F3"]);
    expect(out.errors[0]?.notice).toBe(true);
    expect([...archive.items].sort()).toEqual(allItems(source.pages));
    expect(state.staged.get("F3")).toBe("F3#done");
  });

  it("fetches a page the batch answered with a redirect from where it points, not its first link again", async () => {
    const source = new BatchingSource(tenant());
    source.moved.add("F1");
    const { out, archive } = await runUnit(source, 4);
    expect(out.status).toBe("done");
    expect(source.batches.flat()).toContain("F1");
    // One redirect (in the batch), then the page from the redirect's link: no second redirect.
    expect(source.alone).toContain("F1#0");
    expect(source.alone).not.toContain("F1#308");
    expect([...archive.items].sort()).toEqual(allItems(source.pages));
  });

  it("stops mid-batch (the invocation's deadline) and resumes from its checkpoint: nothing lost, nothing twice", async () => {
    const first = new BatchingSource(tenant());
    let batchesSent = 0;
    // The deadline comes while the unit's second batch is in flight.
    first.onBatch = () => {
      batchesSent++;
    };
    const archive = new Archive();
    const state = new State();
    const paused = await runUnit(first, 4, undefined, {
      from: { folderIndex: 0, page: 0 },
      archive,
      state,
      shouldYield: () => batchesSent >= 2,
    });
    expect(paused.out.status).toBe("paused");
    if (paused.out.status !== "paused") return;
    const storedBefore = state.items;
    expect(storedBefore).toBeLessThan(allItems(first.pages).length);

    const second = new BatchingSource(tenant());
    const resumed = await runUnit(second, 4, undefined, { from: paused.out.checkpoint, archive, state });
    expect(resumed.out.status).toBe("done");
    expect([...archive.items].sort()).toEqual(allItems(first.pages));
    // Each item counted once over both runs; every folder's round staged once it was whole.
    expect(state.items).toBe(allItems(first.pages).length);
    expect(state.staged.size).toBe(first.pages.size);
    // The resumed run asked only for the folders the first left unfinished (+ 2: F0's later pages).
    const finishedBefore = paused.out.checkpoint.doneFolders?.length ?? 0;
    expect(second.batches.flat().length + second.alone.length).toBeLessThanOrEqual(
      first.pages.size - finishedBefore + 2,
    );
  });
});
