/**
 * How a unit that reads items (mailbox import/export API) schedules its requests: delta pages
 * and export requests share the unit's slots; the next delta page is fetched while the page
 * before is exported; a folder whose last page is fetched frees its lane; export batches fill
 * up while the slots are busy and the last partial one still leaves.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import PQueue from "p-queue";
import { describe, expect, it } from "vitest";
import { STREAMED_EXPORT_BYTES } from "../../../lib/backup/export-batches.js";
import type {
  ArchiveSink,
  BlobKind,
  CatalogEntry,
  CatalogPartKey,
  DeltaPageView,
  ExportedItem,
  ItemMailbox,
  ItemPageView,
  MailSource,
  StagedLink,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
} from "../../../lib/backup/ports.js";
import { backupUnit, type UnitWork } from "../../../lib/backup/unit-backup.js";
import { FatalError } from "../../../lib/errors.js";

/** A few turns of the event loop: a request's answer, without any clock. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

type Event =
  | { kind: "open"; folderId: string }
  | { kind: "delta" | "export"; phase: "start" | "end"; folderId?: string; ids?: string[] };

/**
 * Item delta and exports of one mailbox: each folder a list of pages (item ids), links
 * `<folder>#<page>`; every request (delta page, export) takes a few event-loop turns and is
 * logged at its start and end, with how many requests were in flight.
 */
class ItemSource implements MailSource {
  readonly log: Event[] = [];
  inFlight = 0;
  peak = 0;
  readonly exportBatches: string[][] = [];
  constructor(
    readonly pages: Map<string, string[][]>,
    private readonly exportTurns = 6,
    /** The size item delta says each item's export has. */
    private readonly itemSize = 10,
  ) {}

  async request<T>(
    event: Omit<Event & { kind: "delta" | "export" }, "phase">,
    turnsTaken: number,
    answer: () => T,
  ) {
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    this.log.push({ ...event, phase: "start" });
    await turns(turnsTaken);
    this.log.push({ ...event, phase: "end" });
    this.inFlight--;
    return answer();
  }

  // biome-ignore lint/correctness/useYield: mail folders are not read in these tests
  async *folderDelta(_userId: string, _folderId: string): AsyncIterable<DeltaPageView> {
    throw new Error("expected item reads only");
  }

  async openMime(_userId: string, _messageId: string): Promise<Readable> {
    throw new Error("expected item reads only");
  }

  itemDelta(_mailbox: ItemMailbox, folderId: string, from: string | undefined): AsyncIterable<ItemPageView> {
    this.log.push({ kind: "open", folderId });
    const pages = this.pages.get(folderId) ?? [[]];
    const source = this;
    return (async function* () {
      const startAt = from?.startsWith(`${folderId}#`) ? Number(from.split("#")[1]) : 0;
      for (let i = startAt; i < pages.length; i++) {
        const ids = pages[i]!;
        yield await source.request(
          { kind: "delta", folderId },
          2,
          (): ItemPageView => ({
            upserts: ids.map((id) => ({
              id,
              itemClass: "IPM.Note",
              size: source.itemSize,
              meta: { id, subject: id },
            })),
            removed: [],
            ...(i + 1 < pages.length
              ? { nextLink: `${folderId}#${i + 1}` }
              : { deltaLink: `${folderId}#done` }),
          }),
        );
      }
    })();
  }

  // A property: the unit calls it detached from the source.
  exportItems = async (_mailbox: ItemMailbox, itemIds: readonly string[]): Promise<ExportedItem[]> => {
    this.exportBatches.push([...itemIds]);
    return this.request({ kind: "export", ids: [...itemIds] }, this.exportTurns, () =>
      itemIds.map((itemId) => ({ itemId, data: Buffer.from(`export of ${itemId}`) })),
    );
  };
}

/** Message delta and MIME besides the exports: folders read `b` (both). */
class MimeAndItemSource extends ItemSource {
  readonly mimeOpened: string[] = [];
  override async *folderDelta(_userId: string, folderId: string): AsyncIterable<DeltaPageView> {
    const pages = this.pages.get(folderId) ?? [[]];
    for (let i = 0; i < pages.length; i++) {
      const messageIds = pages[i]!;
      yield await this.request(
        { kind: "delta", folderId },
        2,
        (): DeltaPageView => ({
          upserts: messageIds.map((id) => ({ id })),
          removed: [],
          ...(i + 1 < pages.length
            ? { nextLink: `${folderId}#${i + 1}` }
            : { deltaLink: `${folderId}#done` }),
        }),
      );
    }
  }

  override async openMime(_userId: string, messageId: string): Promise<Readable> {
    this.mimeOpened.push(messageId);
    await turns(2);
    return Readable.from([Buffer.from(`mime of ${messageId}`)]);
  }
}

class Archive implements ArchiveSink {
  readonly blobs = new Set<string>();
  readonly parts = new Map<string, CatalogEntry[]>();
  async storeBlob(_kind: BlobKind, body: Readable | Buffer) {
    const chunks: Buffer[] = [];
    if (!Buffer.isBuffer(body)) for await (const chunk of body) chunks.push(chunk as Buffer);
    const bytes = Buffer.isBuffer(body) ? body : Buffer.concat(chunks);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const existed = this.blobs.has(sha256);
    this.blobs.add(sha256);
    return { sha256, size: bytes.length, existed };
  }
  async writeCatalogPart(key: CatalogPartKey, entries: CatalogEntry[]) {
    this.parts.set(`${key.folderId}/${key.page}`, entries);
  }
}

class State implements UnitStatePort {
  readonly staged = new Map<string, string>();
  readonly checkpoints: UnitCheckpoint[] = [];
  items = 0;
  async syncState() {
    return undefined;
  }
  async checkpoint(cp: UnitCheckpoint, d: UnitProgress, staged: StagedLink[] = []) {
    for (const s of staged) this.staged.set(s.folderId, s.deltaLink);
    this.checkpoints.push(cp);
    this.items += d.items;
  }
}

const ids = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${i}`);

function itemUnit(folderIds: string[], concurrency: number): UnitWork {
  return {
    jobId: "J1",
    index: 0,
    mailboxId: "M1",
    folderIds,
    folderReads: "p".repeat(folderIds.length),
    mailboxIds: { primary: "MBX:1" },
    concurrency,
    hasSyncStates: false,
  };
}

/** Exports streaming at once, counted over every source (unit) that shares it. */
interface StreamingCount {
  now: number;
  peak: number;
}

/** Items above the streamed size, exported alone and streamed into the archive. */
class LargeItemSource extends ItemSource {
  readonly streamed: string[] = [];
  constructor(
    pages: Map<string, string[][]>,
    private readonly count: StreamingCount,
  ) {
    super(pages, 6, STREAMED_EXPORT_BYTES + 1);
  }
  exportItemTo = async <T>(_mailbox: ItemMailbox, itemId: string, store: (body: Readable) => Promise<T>) => {
    this.count.now++;
    this.count.peak = Math.max(this.count.peak, this.count.now);
    await turns(6);
    const result = await store(Readable.from([Buffer.from(`large export of ${itemId}`)]));
    this.streamed.push(itemId);
    this.count.now--;
    return { itemId, result };
  };
}

/** `exportBacklogItems` 0: the least backlog (the slots' full batches), pages held back soonest. */
async function run(
  source: ItemSource,
  folderIds: string[],
  concurrency: number,
  exportBacklogItems?: number,
) {
  const archive = new Archive();
  const state = new State();
  const out = await backupUnit(
    itemUnit(folderIds, concurrency),
    { folderIndex: 0, page: 0 },
    {
      source,
      archive,
      state,
      shouldYield: () => false,
      checkpointIntervalMs: 0,
      ...(exportBacklogItems !== undefined ? { exportBacklogItems } : {}),
    },
  );
  return { out, archive, state };
}

/** Position in the log of the first event matching. */
function at(log: Event[], match: (e: Event) => boolean): number {
  const i = log.findIndex(match);
  if (i < 0) throw new Error("expected the event in the log, found none");
  return i;
}

describe("backupUnit reading items", () => {
  it("fetches a folder's next delta page while the page before is exported", async () => {
    const source = new ItemSource(new Map([["A", [ids("a", 20), ids("b", 20), ids("c", 20)]]]));
    const { out, archive, state } = await run(source, ["A"], 4);
    expect(out.status).toBe("done");
    // The export of page 0's items was still running when page 1 was asked for.
    const log = source.log;
    const export0End = at(log, (e) => e.kind === "export" && e.phase === "end" && e.ids?.[0] === "a0");
    const deltaStarts = log.flatMap((e, i) => (e.kind === "delta" && e.phase === "start" ? [i] : []));
    expect(deltaStarts).toHaveLength(3);
    expect(deltaStarts[1]).toBeLessThan(export0End);
    // Still one part per page, in order, and every item stored once.
    expect([...archive.parts.keys()]).toEqual(["A/0", "A/1", "A/2"]);
    expect(state.items).toBe(60);
    expect(state.staged.get("A")).toBe("A#done");
    expect(source.exportBatches.map((b) => b.length)).toEqual([20, 20, 20]);
    expect(source.peak).toBeLessThanOrEqual(4);
  });

  it("takes the next folder while the last page of the one before is exported", async () => {
    // One slot, so four lanes: the fifth folder starts only when a lane is free.
    const folders = ["F0", "F1", "F2", "F3", "F4"];
    const source = new ItemSource(new Map(folders.map((f) => [f, [ids(`${f}-`, 20)]])));
    const { out, state } = await run(source, folders, 1);
    expect(out.status).toBe("done");
    const log = source.log;
    const firstExportEnd = at(log, (e) => e.kind === "export" && e.phase === "end");
    expect(at(log, (e) => e.kind === "open" && e.folderId === "F4")).toBeLessThan(firstExportEnd);
    expect(state.items).toBe(100);
    expect(state.staged.size).toBe(5);
    expect(source.peak).toBe(1);
  });

  it("gives export requests the slot before waiting delta pages, in full batches, and sends the last partial batch", async () => {
    // Eight folders of 5 items and one of 3, one slot: 43 items need 3 export requests. The
    // least backlog (20 items waiting) holds the pages back as soon as a full batch waits.
    const folders = [...ids("F", 9)];
    const source = new ItemSource(new Map(folders.map((f, i) => [f, [ids(`${f}-`, i === 8 ? 3 : 5)]])), 2);
    const { out, state, archive } = await run(source, folders, 1, 0);
    expect(out.status).toBe("done");
    expect(state.items).toBe(43);
    expect(source.exportBatches.map((b) => b.length)).toEqual([20, 20, 3]);
    // The first full batch went before the delta pages still waiting for the slot.
    const log = source.log;
    const firstExport = at(log, (e) => e.kind === "export" && e.phase === "start");
    const lastDelta = log.findLastIndex((e) => e.kind === "delta" && e.phase === "start");
    expect(firstExport).toBeLessThan(lastDelta);
    expect(archive.parts.size).toBe(9);
  });

  it("sends one export for a one-slot unit whose folders' items fit in one batch, after the last page", async () => {
    // Seven folders of 1–4 items (16 in all), one slot: 7 pages and 1 export. Between a page's
    // answer and its folder's next request the slot is free for an instant; a partial batch sent
    // then would be followed by another, one request more on the unit's only slot.
    const folders = [...ids("F", 7)];
    const source = new ItemSource(new Map(folders.map((f, i) => [f, [ids(`${f}-`, 1 + (i % 4))]])));
    const { out, state } = await run(source, folders, 1);
    expect(out.status).toBe("done");
    expect(state.items).toBe(16);
    expect(source.exportBatches.map((b) => b.length)).toEqual([16]);
    const starts = source.log.filter((e) => e.kind !== "open" && e.phase === "start");
    expect(starts.map((e) => e.kind)).toEqual([...Array(7).fill("delta"), "export"]);
  });

  it("sends a partial batch early on a slot that would idle: fewer folders left fetching than slots", async () => {
    // Two slots; one folder of 3 pages: its pages are a chain, one at a time, so the other slot
    // carries each page's items as they come instead of idling until the last page.
    const source = new ItemSource(new Map([["A", [ids("a", 5), ids("b", 5), ids("c", 5)]]]), 2);
    const { out, state } = await run(source, ["A"], 2);
    expect(out.status).toBe("done");
    expect(state.items).toBe(15);
    expect(source.exportBatches.map((b) => b.length)).toEqual([5, 5, 5]);
    const log = source.log;
    const firstExport = at(log, (e) => e.kind === "export" && e.phase === "start");
    const lastDelta = log.findLastIndex((e) => e.kind === "delta" && e.phase === "start");
    expect(firstExport).toBeLessThan(lastDelta);
  });

  it("sends a folder's partial batch when the unit waits on it: a folder read `b` fetches its next page after its exports", async () => {
    // One slot, one folder of 3 pages of 3 messages read both ways: the folder fetches a page
    // only once the page two before is stored, exports included, so page 0's exports must leave
    // before page 2 is asked for, or the unit would wait forever.
    const source = new MimeAndItemSource(new Map([["A", [ids("a", 3), ids("b", 3), ids("c", 3)]]]));
    const archive = new Archive();
    const state = new State();
    const out = await backupUnit(
      { ...itemUnit(["A"], 1), folderReads: "b" },
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false, checkpointIntervalMs: 0 },
    );
    expect(out.status).toBe("done");
    expect(state.items).toBe(9);
    // Every item exported once; page 0's batch left before page 2 was asked for.
    expect(source.exportBatches.flat().sort()).toEqual([...ids("a", 3), ...ids("b", 3), ...ids("c", 3)]);
    const deltaStarts = source.log.flatMap((e, i) => (e.kind === "delta" && e.phase === "start" ? [i] : []));
    expect(at(source.log, (e) => e.kind === "export" && e.phase === "start")).toBeLessThan(deltaStarts[2]!);
    expect(source.mimeOpened).toHaveLength(9);
  });

  it("fetches a folder's next page once the export pools have room, ahead of the exports still waiting", async () => {
    // Two slots and the least backlog: the pools have room below 40 waiting items. Pages of 100
    // items, 5 batches each.
    const source = new ItemSource(new Map([["A", [ids("a", 100), ids("b", 100), ids("c", 100)]]]));
    const { out, state, archive } = await run(source, ["A"], 2, 0);
    expect(out.status).toBe("done");
    const starts = source.log.filter((e) => e.kind !== "open" && e.phase === "start");
    const order = starts.map((e) => (e.kind === "delta" ? "d" : "e"));
    // Page 1 waited while 60 and 40 items waited, went once 20 did, before the fifth batch.
    expect(order.slice(0, 7)).toEqual(["d", "e", "e", "e", "e", "d", "e"]);
    expect(source.exportBatches.map((b) => b.length)).toEqual(Array(15).fill(20));
    expect(source.peak).toBe(2);
    expect(state.items).toBe(300);
    expect([...archive.parts.keys()]).toEqual(["A/0", "A/1", "A/2"]);
  });

  it("sends up to its slots less one export at a time ahead of the delta pages waiting, in full batches, a slot always left to the pages", async () => {
    // 12 folders of 7–9 items, one of 2 pages, 4 slots: 98 items, 5 export requests, 13 pages.
    // A page is durable only once its items are exported: the full batches do not wait for every
    // page (with them all behind the pages, the first export started after the 13th page), but
    // never more than 3 at a time go ahead, so that the pages keep a slot.
    const folders = [...ids("F", 12)];
    const pages = new Map(folders.map((f, i) => [f, [ids(`${f}-`, 7 + (i % 3))]]));
    pages.get("F0")!.push(ids("F0-late-", 2));
    const source = new ItemSource(pages);
    const { out, state, archive } = await run(source, folders, 4);
    expect(out.status).toBe("done");
    expect(state.items).toBe(98);
    const log = source.log;
    const starts = log.filter((e) => e.kind !== "open" && e.phase === "start");
    const firstExport = starts.findIndex((e) => e.kind === "export");
    const lastDelta = starts.findLastIndex((e) => e.kind === "delta");
    expect(firstExport).toBeGreaterThan(0);
    expect(firstExport).toBeLessThan(lastDelta);
    // While delta pages were still to start, at most 3 exports were in flight at once.
    let exporting = 0;
    let most = 0;
    const lastDeltaAt = log.findLastIndex((e) => e.kind === "delta" && e.phase === "start");
    for (const e of log.slice(0, lastDeltaAt)) {
      if (e.kind !== "export") continue;
      exporting += e.phase === "start" ? 1 : -1;
      most = Math.max(most, exporting);
    }
    expect(most).toBeGreaterThanOrEqual(1);
    expect(most).toBeLessThanOrEqual(3);
    // The fewest exports: four full batches and the rest.
    expect(source.exportBatches.map((b) => b.length)).toEqual([20, 20, 20, 20, 18]);
    // Never more requests in flight than the unit's slots (the mailbox's 4).
    expect(source.peak).toBe(4);
    expect(archive.parts.size).toBe(13);
  });

  it("checkpoints as it goes: never more than a few pages fetched beyond its last checkpoint", async () => {
    // A long folder of 8 pages first, then 20 folders of one page, 20 items a page, 4 slots (the
    // planner's order: the longest chain first, folders with items before those without), an
    // export as long as a delta page (the simulator's 0.4 s each). Each
    // page is committed once stored and every commit checkpointed (no hold, no interval), so the
    // checkpoints follow the exports. With every export behind the delta pages, all 28 pages
    // were fetched before the first export, and the unit's first checkpoint came at its end: a
    // crash lost everything it had done (session 16, the crash e2e test).
    const folders = ["L", ...ids("F", 20)];
    const pages = new Map(folders.map((f) => [f, [ids(`${f}-`, 20)]]));
    pages.set(
      "L",
      Array.from({ length: 8 }, (_, i) => ids(`L${i}-`, 20)),
    );
    const source = new ItemSource(pages, 2);
    let fetched = 0;
    let checkpointed = 0;
    const ahead: number[] = [];
    const request = source["request"].bind(source) as ItemSource["request"];
    (source as unknown as { request: ItemSource["request"] }).request = async (event, turnsTaken, answer) => {
      const result = await request(event, turnsTaken, answer);
      if (event.kind === "delta") {
        fetched++;
        ahead.push(fetched - checkpointed);
      }
      return result;
    };
    const state = new State();
    const checkpoint = state.checkpoint.bind(state);
    state.checkpoint = async (cp, d, staged) => {
      checkpointed = Math.max(checkpointed, cp.page);
      return checkpoint(cp, d, staged);
    };
    const out = await backupUnit(
      itemUnit(folders, 4),
      { folderIndex: 0, page: 0 },
      {
        source,
        archive: new Archive(),
        state,
        shouldYield: () => false,
        checkpointIntervalMs: 0,
        pageHold: { maxHoldMs: 0 },
      },
    );
    expect(out.status).toBe("done");
    expect(state.items).toBe(28 * 20);
    expect(ahead).toHaveLength(28);
    // The first checkpoint within the first third of the pages (measured: after the 6th), and
    // never more than 10 pages fetched beyond the last one (measured: 9, the pages whose exports
    // wait or run; 26 with every export behind the pages).
    expect(ahead.findIndex((n, i) => n < i + 1)).toBeGreaterThanOrEqual(0);
    expect(ahead.findIndex((n, i) => n < i + 1)).toBeLessThan(28 / 3);
    expect(Math.max(...ahead)).toBeLessThanOrEqual(10);
    // Still the fewest exports, all full.
    expect(source.exportBatches.map((b) => b.length)).toEqual(Array(28).fill(20));
    expect(source.peak).toBe(4);
  });

  it("fetches a long folder's next pages before the first pages of the folders waiting", async () => {
    // Four slots (16 lanes): folder L of 6 pages, then 40 folders of one page. L's pages are a
    // chain (each named by the one before); behind the other lanes' first pages each would wait
    // about four rounds. Ahead of them: one a round, the other folders beside it.
    const folders = ["L", ...ids("F", 40)];
    const pages = new Map(folders.map((f) => [f, [ids(`${f}-`, 3)]]));
    pages.set(
      "L",
      Array.from({ length: 6 }, (_, i) => ids(`L${i}-`, 3)),
    );
    const source = new ItemSource(pages);
    const { out, state } = await run(source, folders, 4);
    expect(out.status).toBe("done");
    expect(state.items).toBe(6 * 3 + 40 * 3);
    const deltas = source.log.filter((e) => e.kind === "delta" && e.phase === "start");
    expect(deltas).toHaveLength(46);
    // Each page of L within a round and a half of the one before (it is queued just after its
    // slot went to the next page waiting, and takes the next slot free): not 16 pages later.
    const ofL = deltas.flatMap((e, i) => (e.folderId === "L" ? [i] : []));
    expect(ofL).toHaveLength(6);
    expect(ofL[0]).toBe(0);
    for (let k = 1; k < ofL.length; k++) expect(ofL[k]! - ofL[k - 1]!).toBeLessThanOrEqual(6);
    // Every item exported, in full batches but the last two: the full batches leave ahead of the
    // pages, so none is left at the end to fill the slots L's last pages leave, and a partial
    // batch leaves on a slot that would idle while items are still to come (one request more
    // than the fewest; the planner starts folders without items last, whose pages bring none).
    const sizes = source.exportBatches.map((b) => b.length);
    expect(sizes.reduce((n, b) => n + b, 0)).toBe(6 * 3 + 40 * 3);
    expect(sizes.slice(0, 6)).toEqual(Array(6).fill(20));
    expect(sizes.length).toBeLessThanOrEqual(8);
    // Never more than the unit's slots at once.
    expect(source.peak).toBe(4);
  });

  it("holds item delta pages back once the backlog limit's items wait for export", async () => {
    // Four slots (16 lanes), slow exports (20 turns against a page's 2), 60 folders of one page
    // of 20 items, a backlog of 200.
    const folders = [...ids("F", 60)];
    const source = new ItemSource(new Map(folders.map((f) => [f, [ids(`${f}-`, 20)]])), 20);
    const waitingAtDelta: number[] = [];
    const request = source["request"].bind(source) as ItemSource["request"];
    let fetched = 0;
    (source as unknown as { request: ItemSource["request"] }).request = async (event, turnsTaken, answer) => {
      if (event.kind === "delta") {
        // Items fetched that no export request has taken yet (a request takes its batch at its start).
        const taken = source.exportBatches.reduce((n, b) => n + b.length, 0);
        waitingAtDelta.push(fetched - taken);
        const page = await request(event, turnsTaken, answer);
        fetched += 20;
        return page;
      }
      return request(event, turnsTaken, answer);
    };
    const { out, state } = await run(source, folders, 4, 200);
    expect(out.status).toBe("done");
    expect(state.items).toBe(1200);
    // Pages ran ahead of the exports up to the limit, and no further than the limit plus a page
    // for each lane that found room before the pages queued ahead of it were answered.
    const most = Math.max(...waitingAtDelta);
    expect(most).toBeGreaterThanOrEqual(200);
    expect(most).toBeLessThanOrEqual(200 + 16 * 20);
    // Once there, the exports took the slots: the backlog came down before pages went on.
    expect(waitingAtDelta.slice(waitingAtDelta.indexOf(most) + 1)).toContain(180);
    expect(source.exportBatches.map((b) => b.length)).toEqual(Array(60).fill(20));
    expect(source.peak).toBe(4);
  });

  it("exports the items of a page another mailbox served from that mailbox", async () => {
    // Folder B's pages came from an auxiliary archive (their links name it): its items are
    // exported there, in a batch of their own, not from the mailbox asked.
    const source = new ItemSource(
      new Map([
        ["A", [ids("a", 5)]],
        ["B", [ids("b", 4)]],
      ]),
    );
    const itemDelta = source.itemDelta.bind(source);
    source.itemDelta = (mailbox, folderId, from) => {
      const pages = itemDelta(mailbox, folderId, from);
      if (folderId !== "B") return pages;
      return (async function* () {
        for await (const page of pages) yield { ...page, servedBy: "MBX:aux" };
      })();
    };
    const asked: Array<[string, string[]]> = [];
    const exportItems = source.exportItems;
    source.exportItems = async (mailbox, itemIds) => {
      asked.push([mailbox.apiId, [...itemIds]]);
      return exportItems(mailbox, itemIds);
    };
    const { out, state } = await run(source, ["A", "B"], 4);
    expect(out.status).toBe("done");
    expect(state.items).toBe(9);
    expect(asked.sort()).toEqual([
      ["MBX:1", ids("a", 5)],
      ["MBX:aux", ids("b", 4)],
    ]);
  });

  it("streams one large item at a time across the units of a controller that share its turns", async () => {
    // Two units (mailboxes) run at once, each with 3 large items in 2 folders and 4 slots.
    const runBoth = async (largeItemTurns?: PQueue) => {
      const count: StreamingCount = { now: 0, peak: 0 };
      const sources = ["M1", "M2"].map(
        (m) =>
          new LargeItemSource(
            new Map([
              ["A", [ids(`${m}-a`, 2)]],
              ["B", [ids(`${m}-b`, 1)]],
            ]),
            count,
          ),
      );
      const outs = await Promise.all(
        sources.map((source, i) =>
          backupUnit(
            { ...itemUnit(["A", "B"], 4), index: i, mailboxId: `M${i + 1}` },
            { folderIndex: 0, page: 0 },
            {
              source,
              archive: new Archive(),
              state: new State(),
              shouldYield: () => false,
              checkpointIntervalMs: 0,
              ...(largeItemTurns ? { largeItemTurns } : {}),
            },
          ),
        ),
      );
      return { outs, sources, peak: count.peak };
    };
    // Without turns the two units stream several large items at once...
    const free = await runBoth();
    expect(free.peak).toBeGreaterThan(1);
    // ...with one turn, one at a time, and every item is still stored.
    const one = await runBoth(new PQueue({ concurrency: 1 }));
    expect(one.outs.map((o) => o.status)).toEqual(["done", "done"]);
    expect(one.peak).toBe(1);
    expect(one.sources.map((s) => [...s.streamed].sort())).toEqual([
      ["M1-a0", "M1-a1", "M1-b0"],
      ["M2-a0", "M2-a1", "M2-b0"],
    ]);
    // The items went alone, streamed, never in an export batch.
    expect(one.sources.flatMap((s) => s.exportBatches)).toEqual([]);
    // Two turns: at most two at once.
    expect((await runBoth(new PQueue({ concurrency: 2 }))).peak).toBe(2);
  });

  it("stops fetching a folder's pages once a page failed, and fails with that page's error", async () => {
    const pages = Array.from({ length: 20 }, (_, p) => ids(`p${p}-`, 20));
    const source = new ItemSource(new Map([["A", pages]]));
    const exportItems = source.exportItems;
    source.exportItems = async (mailbox, itemIds) => {
      if (itemIds[0] === "p1-0") throw new FatalError("export refused for the whole app");
      return exportItems(mailbox, itemIds);
    };
    await expect(run(source, ["A"], 1)).rejects.toThrow(/export refused/);
    const fetched = source.log.filter((e) => e.kind === "delta" && e.phase === "start").length;
    expect(fetched).toBeLessThanOrEqual(4);
  });
});
