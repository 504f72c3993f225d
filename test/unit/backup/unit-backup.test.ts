import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import type {
  ArchiveSink,
  BlobKind,
  CatalogEntry,
  CatalogPartKey,
  DeltaPageView,
  MailSource,
  StagedLink,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
} from "../../../lib/backup/ports.js";
import { backupUnit, type UnitWork } from "../../../lib/backup/unit-backup.js";
import {
  FatalError,
  MailboxUnavailableError,
  RetryableError,
  SkipError,
  SyncStateLostError,
} from "../../../lib/errors.js";
import { StateContentionError } from "../../../lib/state/errors.js";

/** A folder's delta as a list of pages; links are `<folder>#<page>`, the delta link `<folder>#done`. */
class FakeSource implements MailSource {
  readonly mime = new Map<string, string>();
  readonly mimeFetches: string[] = [];
  failOnce = new Set<string>();
  alwaysFail = new Set<string>();
  lostOnce = new Set<string>();
  vanishedFolders = new Set<string>();
  constructor(readonly pages: Map<string, DeltaPageView[]>) {}

  async *folderDelta(
    _user: string,
    folderId: string,
    from: string | undefined,
  ): AsyncIterable<DeltaPageView> {
    if (this.vanishedFolders.has(folderId)) throw new SkipError(`folder ${folderId} not found`);
    if (from && this.lostOnce.has(folderId)) {
      this.lostOnce.delete(folderId);
      throw new SyncStateLostError("sync state lost", undefined);
    }
    const pages = this.pages.get(folderId) ?? [];
    const startAt = from?.startsWith(`${folderId}#`) ? Number(from.split("#")[1]) : 0;
    for (let i = Number.isNaN(startAt) ? pages.length : startAt; i < pages.length; i++) {
      const p = pages[i]!;
      yield {
        ...p,
        ...(i + 1 < pages.length ? { nextLink: `${folderId}#${i + 1}` } : { deltaLink: `${folderId}#done` }),
      };
    }
  }

  traffic() {
    return { requests: this.mimeFetches.length, throttled: Math.floor(this.mimeFetches.length / 3) };
  }

  async openMime(_user: string, id: string): Promise<Readable> {
    this.mimeFetches.push(id);
    if (this.alwaysFail.has(id)) throw new RetryableError(`server error for ${id}`);
    if (this.failOnce.has(id)) {
      this.failOnce.delete(id);
      throw new RetryableError(`connection dropped for ${id}`);
    }
    return Readable.from([Buffer.from(this.mime.get(id) ?? `MIME of ${id}`)]);
  }
}

class FakeArchive implements ArchiveSink {
  readonly blobs = new Map<string, Buffer>();
  readonly parts = new Map<string, CatalogEntry[]>();
  async storeBlob(_kind: BlobKind, body: Readable | Buffer) {
    const chunks: Buffer[] = [];
    if (Buffer.isBuffer(body)) chunks.push(body);
    else for await (const c of body) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    const existed = this.blobs.has(sha256);
    this.blobs.set(sha256, bytes);
    return { sha256, size: bytes.length, existed };
  }
  async writeCatalogPart(key: CatalogPartKey, entries: CatalogEntry[]) {
    this.parts.set(`${key.folderId}/${key.page}`, entries);
  }
}

class FakeState implements UnitStatePort {
  readonly committed = new Map<string, string>();
  syncStateReads = 0;
  readonly staged = new Map<string, string>();
  readonly checkpoints: UnitCheckpoint[] = [];
  readonly totals: UnitProgress = {
    items: 0,
    bytes: 0,
    removed: 0,
    deduplicated: 0,
    requests: 0,
    throttled: 0,
  };
  /** When each committed state was written (ISO); a folder without one has no time. */
  readonly committedAt = new Map<string, string>();
  async syncState(_m: string, folderId: string) {
    this.syncStateReads++;
    return this.committed.get(folderId);
  }
  async committedSyncState(_m: string, folderId: string) {
    this.syncStateReads++;
    const deltaLink = this.committed.get(folderId);
    const updatedAt = this.committedAt.get(folderId);
    return deltaLink === undefined ? undefined : { deltaLink, ...(updatedAt ? { updatedAt } : {}) };
  }
  async checkpoint(cp: UnitCheckpoint, d: UnitProgress, staged: StagedLink[] = []) {
    for (const s of staged) this.staged.set(s.folderId, s.deltaLink);
    this.checkpoints.push(cp);
    this.totals.items += d.items;
    this.totals.bytes += d.bytes;
    this.totals.removed += d.removed;
    this.totals.requests += d.requests;
    this.totals.throttled += d.throttled;
  }
}

const page = (ids: string[], removed: string[] = []): DeltaPageView => ({
  upserts: ids.map((id) => ({ id, changeKey: `ck-${id}` })),
  removed,
});

const unit: UnitWork = { jobId: "J1", index: 0, mailboxId: "M1", folderIds: ["A", "B"], concurrency: 2 };

function setup() {
  const source = new FakeSource(
    new Map([
      ["A", [page(["a1", "a2"]), page(["a3"], ["gone"])]],
      ["B", [page(["b1"]), page([]), page(["b2", "b3"])]],
    ]),
  );
  return { source, archive: new FakeArchive(), state: new FakeState() };
}

describe("backupUnit", () => {
  describe("a folder whose round finds no change", () => {
    // From its committed link `<f>#1`, A's round is one empty page; B's brings b2.
    const incremental = (writtenAgoMs: number | undefined) => {
      const source = new FakeSource(
        new Map([
          ["A", [page(["a1"]), page([])]],
          ["B", [page(["b1"]), page(["b2"])]],
        ]),
      );
      const state = new FakeState();
      for (const f of ["A", "B"]) {
        state.committed.set(f, `${f}#1`);
        if (writtenAgoMs !== undefined)
          state.committedAt.set(f, new Date(Date.now() - writtenAgoMs).toISOString());
      }
      return { source, archive: new FakeArchive(), state };
    };
    const HOUR = 3_600_000;

    it("keeps its committed sync state while it is younger than syncStateRefreshMs: no part, nothing staged, its counts kept", async () => {
      const deps = incremental(HOUR);
      const out = await backupUnit(
        unit,
        { folderIndex: 0, page: 0 },
        { ...deps, shouldYield: () => false, syncStateRefreshMs: 24 * HOUR },
      );
      expect(out.status).toBe("done");
      expect([...deps.archive.parts.keys()]).toEqual(["B/0"]);
      expect(deps.state.staged).toEqual(new Map([["B", "B#done"]]));
      // Both folders are done in the last checkpoint, and the pages of both are counted.
      expect(deps.state.checkpoints.at(-1)).toMatchObject({ folderIndex: 2, page: 2 });
      expect(deps.state.totals.items).toBe(1);
      if (out.status === "done") expect(out.incompleteFolders).toEqual([]);
    });

    it("stages its new link when the committed state is older than syncStateRefreshMs, has no time, or the refresh is 0", async () => {
      for (const [writtenAgoMs, refreshMs] of [
        [25 * HOUR, 24 * HOUR],
        [undefined, 24 * HOUR],
        [HOUR, 0],
      ] as const) {
        const deps = incremental(writtenAgoMs);
        await backupUnit(
          unit,
          { folderIndex: 0, page: 0 },
          { ...deps, shouldYield: () => false, syncStateRefreshMs: refreshMs },
        );
        // Still no part for A's empty page; its link is staged.
        expect([...deps.archive.parts.keys()]).toEqual(["B/0"]);
        expect(deps.state.staged).toEqual(
          new Map([
            ["A", "A#done"],
            ["B", "B#done"],
          ]),
        );
      }
    });

    it("keeps its state when the round ends on the committed link itself, whatever its age", async () => {
      const deps = incremental(undefined);
      deps.state.committed.set("A", "A#done");
      deps.source.pages.set("A", []);
      // From `A#done` the fake yields no page: give it one empty page ending on the same link.
      deps.source.folderDelta = async function* (_u, folderId, from) {
        if (folderId === "A") {
          yield { upserts: [], removed: [], deltaLink: "A#done" };
          return;
        }
        yield* FakeSource.prototype.folderDelta.call(deps.source, _u, folderId, from);
      };
      await backupUnit(unit, { folderIndex: 0, page: 0 }, { ...deps, shouldYield: () => false });
      expect(deps.state.staged).toEqual(new Map([["B", "B#done"]]));
    });

    it("hands its counts over with the unit's end although it started no checkpoint write (deferLastCheckpoint)", async () => {
      const deps = incremental(HOUR);
      const out = await backupUnit(
        { ...unit, folderIds: ["A"] },
        { folderIndex: 0, page: 0 },
        {
          ...deps,
          shouldYield: () => false,
          syncStateRefreshMs: 24 * HOUR,
          checkpointIntervalMs: 0,
          deferLastCheckpoint: { maxStaged: 5 },
        },
      );
      expect(out.status).toBe("done");
      if (out.status !== "done") return;
      expect(deps.state.checkpoints).toHaveLength(0);
      expect(out.last?.checkpoint).toMatchObject({ folderIndex: 1, page: 1 });
      expect(out.last?.staged).toEqual([]);
    });
  });

  // Every page is held for its part until the unit ends (the default hold), so the end's commit
  // records all five at once: within the interval, or past it (0), nothing is written before the end.
  it.each([
    ["within one interval", 60_000],
    ["past the interval", 0],
  ])(
    "hands its last checkpoint to the caller with deferLastCheckpoint (%s), and writes it itself when too many links ride along",
    async (_when, checkpointIntervalMs) => {
      const { source, archive, state } = setup();
      const out = await backupUnit(
        unit,
        { folderIndex: 0, page: 0 },
        {
          source,
          archive,
          state,
          shouldYield: () => false,
          checkpointIntervalMs,
          deferLastCheckpoint: { maxStaged: 5 },
        },
      );
      expect(out.status).toBe("done");
      if (out.status !== "done") return;
      expect(state.checkpoints).toHaveLength(0);
      expect(out.last?.checkpoint).toMatchObject({ folderIndex: 2, page: 5 });
      expect(out.last?.delta.items).toBe(6);
      expect(out.last?.staged.map((l) => l.deltaLink).sort()).toEqual(["A#done", "B#done"]);

      // Too many links to ride along: one write, before the unit returns.
      const again = setup();
      const written = await backupUnit(
        unit,
        { folderIndex: 0, page: 0 },
        {
          ...again,
          shouldYield: () => false,
          checkpointIntervalMs,
          deferLastCheckpoint: { maxStaged: 1 },
        },
      );
      expect(written.status).toBe("done");
      expect("last" in written).toBe(false);
      expect(again.state.checkpoints).toHaveLength(1);
      expect(again.state.checkpoints[0]).toMatchObject({ folderIndex: 2, page: 5 });
      expect(again.state.totals.items).toBe(6);
      expect(again.state.staged.size).toBe(2);
    },
  );

  it("writes at most one checkpoint per interval and its last one as soon as it ends, with every count and link", async () => {
    const { source, archive, state } = setup();
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false, checkpointIntervalMs: 60_000 },
    );
    expect(out.status).toBe("done");
    // Five pages stored within the interval: one write, at the end, holding all of them.
    expect(state.checkpoints).toHaveLength(1);
    expect(state.checkpoints[0]).toMatchObject({ folderIndex: 2, page: 5 });
    expect(state.totals.items).toBe(6);
    expect(state.staged).toEqual(
      new Map([
        ["A", "A#done"],
        ["B", "B#done"],
      ]),
    );
  });

  it("reads no sync state when the plan says no folder of the unit had one, and reads them otherwise", async () => {
    const first = setup();
    const out = await backupUnit(
      { ...unit, hasSyncStates: false },
      { folderIndex: 0, page: 0 },
      { ...first, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    expect(first.state.syncStateReads).toBe(0);
    const next = setup();
    await backupUnit(unit, { folderIndex: 0, page: 0 }, { ...next, shouldYield: () => false });
    expect(next.state.syncStateReads).toBe(2);
  });

  it("stores every message, writes one catalog part per page that changed something, stages each folder's delta link", async () => {
    const { source, archive, state } = setup();
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    expect(out.progress.items).toBe(6);
    expect(out.progress.removed).toBe(1);
    // Parts are numbered per folder (folders run concurrently), by page: B's empty page 1 leaves none.
    expect([...archive.parts.keys()].sort()).toEqual(["A/0", "A/1", "B/0", "B/2"]);
    // An initial round starts with a folder-reset line so that replays drop older content.
    expect(archive.parts.get("A/0")?.[0]).toEqual({ kind: "folder-reset", folderId: "A" });
    expect(archive.parts.get("A/1")?.map((e) => e.kind)).toEqual(["upsert", "removed"]);
    expect(state.staged).toEqual(
      new Map([
        ["A", "A#done"],
        ["B", "B#done"],
      ]),
    );
    expect(state.totals.items).toBe(6);
    // The mailbox's Graph traffic reaches the checkpoints page by page, counted once.
    expect(state.totals.requests).toBe(6);
    expect(state.totals.throttled).toBe(2);
  });

  it("continues from the committed sync state without a folder-reset line", async () => {
    const { source, archive, state } = setup();
    state.committed.set("A", "A#1");
    await backupUnit(
      { ...unit, folderIds: ["A"] },
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(source.mimeFetches).toEqual(["a3"]);
    expect(archive.parts.get("A/0")?.map((e) => e.kind)).toEqual(["upsert", "removed"]);
  });

  it("pauses after a stored page when asked to yield, and resumes from that checkpoint without refetching", async () => {
    const { source, archive, state } = setup();
    const first = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      // Every page committed and checkpointed at once, so that the yield comes after the second one.
      {
        source,
        archive,
        state,
        shouldYield: () => state.checkpoints.length >= 2,
        checkpointIntervalMs: 0,
        pageHold: { maxHoldMs: 0 },
      },
    );
    expect(first.status).toBe("paused");
    if (first.status !== "paused") return;
    // The checkpoint counts every stored page, and B (3 pages) is still in progress with its link.
    // The checkpoint counts every stored page: those with a part, and B's empty second page
    // (fetched while B's first page was stored, before the yield), which leaves none.
    expect([...archive.parts.keys()].sort()).toEqual(["A/0", "A/1", "B/0"]);
    expect(first.checkpoint.page).toBe(archive.parts.size + 1);
    expect(first.checkpoint.openFolders?.map((f) => f.folderId)).toContain("B");
    expect(first.checkpoint.openFolders?.every((f) => f.link.startsWith(`${f.folderId}#`))).toBe(true);
    const fetchedBefore = [...source.mimeFetches];
    const second = await backupUnit(unit, first.checkpoint, {
      source,
      archive,
      state,
      shouldYield: () => false,
    });
    expect(second.status).toBe("done");
    // Nothing stored before the pause is fetched again; everything else is fetched once.
    expect(source.mimeFetches.slice(fetchedBefore.length).some((id) => fetchedBefore.includes(id))).toBe(
      false,
    );
    expect([...source.mimeFetches].sort()).toEqual(["a1", "a2", "a3", "b1", "b2", "b3"]);
    expect(state.totals.items).toBe(6);
    expect([...archive.parts.keys()].sort()).toEqual(["A/0", "A/1", "B/0", "B/2"]);
  });

  it("holds its pages' parts back and checkpoints no page before its part is written; a failed part write pauses the unit where nothing is lost", async () => {
    const { source, state } = setup();
    const archive = new FakeArchive();
    // Each checkpoint must name only pages whose parts exist: count them as it is written.
    const partsAtCheckpoint: number[] = [];
    const checkpoint = state.checkpoint.bind(state);
    state.checkpoint = async (cp, d, staged) => {
      partsAtCheckpoint.push(archive.parts.size);
      expect(cp.page).toBeLessThanOrEqual(archive.parts.size + 1); // + B's empty page, which has no part
      await checkpoint(cp, d, staged);
    };
    let failB2 = true;
    const write = archive.writeCatalogPart.bind(archive);
    archive.writeCatalogPart = async (key, entries) => {
      if (failB2 && `${key.folderId}/${key.page}` === "B/2") {
        failB2 = false;
        throw new RetryableError("part B/2: the store answered 503");
      }
      await write(key, entries);
    };
    const first = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      {
        source,
        archive,
        state,
        shouldYield: () => false,
        checkpointIntervalMs: 0,
        pageHold: { maxPages: 64 },
      },
    );
    // Every page was held to the unit's end, and the batch's write failed: the unit pauses
    // before every page of it (their parts are written again, identically, when it goes on).
    expect(first.status).toBe("paused");
    if (first.status !== "paused") return;
    expect(first.checkpoint).toMatchObject({ folderIndex: 0, page: 0 });
    expect(state.staged.size).toBe(0);
    const second = await backupUnit(unit, first.checkpoint, {
      source,
      archive,
      state,
      shouldYield: () => false,
    });
    expect(second.status).toBe("done");
    expect([...archive.parts.keys()].sort()).toEqual(["A/0", "A/1", "B/0", "B/2"]);
    expect(state.staged).toEqual(
      new Map([
        ["A", "A#done"],
        ["B", "B#done"],
      ]),
    );
  });

  it("resumes a checkpoint of the one-folder-at-a-time format", async () => {
    const { source, archive, state } = setup();
    const out = await backupUnit(
      unit,
      { folderIndex: 1, link: "B#2", page: 4 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    expect(source.mimeFetches.sort()).toEqual(["b2", "b3"]);
    // The folder's parts go on from the unit's old page counter, so no earlier part is replaced.
    expect([...archive.parts.keys()]).toEqual(["B/4"]);
    expect(state.checkpoints.at(-1)).toMatchObject({ folderIndex: 2, page: 5 });
  });

  it("runs folders concurrently without more Graph requests in flight than the unit's slots", async () => {
    const pages = new Map<string, DeltaPageView[]>();
    const folderIds = ["F0", "F1", "F2", "F3", "F4", "F5"];
    for (const f of folderIds) pages.set(f, [page([`${f}-1`, `${f}-2`, `${f}-3`])]);
    const source = new FakeSource(pages);
    let inFlight = 0;
    let peak = 0;
    const foldersSeen = new Set<string>();
    const openMime = source.openMime.bind(source);
    const folderDelta = source.folderDelta.bind(source);
    source.openMime = async (u, id) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return openMime(u, id);
    };
    let foldersStartedBeforeFirstDone = 0;
    // Set when the first folder's page is fully stored (its catalog part written).
    let anyFolderDone = false;
    source.folderDelta = (u, f, from) => {
      foldersSeen.add(f);
      if (!anyFolderDone) foldersStartedBeforeFirstDone++;
      return folderDelta(u, f, from);
    };
    const state = new FakeState();
    const archive = new FakeArchive();
    const write = archive.writeCatalogPart.bind(archive);
    archive.writeCatalogPart = async (key, entries) => {
      anyFolderDone = true;
      return write(key, entries);
    };
    const out = await backupUnit(
      { ...unit, folderIds, concurrency: 2 },
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    expect(out.progress.items).toBe(18);
    expect(peak).toBeLessThanOrEqual(2);
    expect(peak).toBe(2);
    expect(foldersStartedBeforeFirstDone).toBeGreaterThan(1);
    expect(state.checkpoints.at(-1)).toMatchObject({ folderIndex: 6, page: 6 });
    expect(state.staged.size).toBe(6);
  });

  it("resyncs only the folder whose sync state was lost (410)", async () => {
    const { source, archive, state } = setup();
    state.committed.set("A", "A#1");
    state.committed.set("B", "B#2");
    source.lostOnce.add("A");
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    // A was enumerated from the start, marked as a full round; B went on incrementally.
    expect(archive.parts.get("A/0")?.[0]).toEqual({ kind: "folder-reset", folderId: "A" });
    expect(source.mimeFetches.filter((id) => id.startsWith("a")).sort()).toEqual(["a1", "a2", "a3"]);
    expect(source.mimeFetches.filter((id) => id.startsWith("b")).sort()).toEqual(["b2", "b3"]);
  });

  it("retries a message whose download fails transiently", async () => {
    const { source, archive, state } = setup();
    source.failOnce.add("a2");
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.errors).toEqual([]);
    expect(out.progress.items).toBe(6);
    expect(source.mimeFetches.filter((id) => id === "a2")).toHaveLength(2);
  });

  it("records a message that keeps failing and keeps the folder's old sync state", async () => {
    const { source, archive, state } = setup();
    source.alwaysFail.add("b2");
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      {
        source,
        archive,
        state,
        shouldYield: () => false,
        messageRetry: { budgetMs: 300, backoffBaseMs: 1, backoffCapMs: 2 },
      },
    );
    expect(out.status).toBe("done");
    if (out.status !== "done") return;
    expect(out.errors).toHaveLength(1);
    expect(out.errors[0]?.subject).toBe("message b2 in folder B");
    expect(out.errors[0]?.name).toBe("RetriesExhaustedError");
    expect(source.mimeFetches.filter((id) => id === "b2").length).toBeGreaterThan(2);
    expect(out.incompleteFolders).toEqual(["B"]);
    expect(state.staged.has("A")).toBe(true);
    expect(state.staged.has("B")).toBe(false);
    expect(out.progress.items).toBe(5);
  });

  it("records a vanished folder and goes on with the next", async () => {
    const { source, archive, state } = setup();
    source.vanishedFolders.add("A");
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    expect(out.errors.map((e) => e.subject)).toEqual(["folder A"]);
    expect(state.staged.has("B")).toBe(true);
  });

  it("tells its requests done once, after its last answer and before its last parts are written; not when it stops", async () => {
    const { source, archive, state } = setup();
    const told: Array<{ fetched: number; parts: number }> = [];
    const onRequestsDone = () => told.push({ fetched: source.mimeFetches.length, parts: archive.parts.size });
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false, onRequestsDone },
    );
    expect(out.status).toBe("done");
    // Every message fetched, none of the unit's parts written yet (they are held for its end).
    expect(told).toEqual([{ fetched: 6, parts: 0 }]);
    expect(archive.parts.size).toBe(4);

    const gone = setup();
    gone.source.folderDelta = () => {
      throw new MailboxUnavailableError("mailbox M1 not found");
    };
    const stopped: string[] = [];
    const skipped = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { ...gone, shouldYield: () => false, onRequestsDone: () => stopped.push("told") },
    );
    expect(skipped.status).toBe("mailbox-skipped");
    expect(stopped).toEqual([]);
  });

  it("stops the unit when the mailbox itself is gone", async () => {
    const { source, archive, state } = setup();
    // Told by class (MailboxUnavailableError), whatever the subclass is called.
    class MailboxNotFoundError extends MailboxUnavailableError {}
    source.folderDelta = () => {
      throw new MailboxNotFoundError("mailbox M1 not found");
    };
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("mailbox-skipped");
    expect(out.errors[0]).toMatchObject({ subject: "mailbox M1", name: "MailboxNotFoundError" });
  });

  it("does not skip the mailbox for an ordinary SkipError named like a mailbox error", async () => {
    const { source, archive, state } = setup();
    class MailboxNotEnabledError extends SkipError {}
    let thrown = false;
    const original = source.folderDelta.bind(source);
    source.folderDelta = (user, folderId, from) => {
      if (folderId === "A" && !thrown) {
        thrown = true;
        throw new MailboxNotEnabledError("just this folder");
      }
      return original(user, folderId, from);
    };
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("done");
    expect(out.errors.map((e) => e.subject)).toEqual(["folder A"]);
  });

  it("pauses (to go on in a later task) on a retryable error with a Retry-After, instead of failing", async () => {
    const { source, archive, state } = setup();
    source.folderDelta = () => {
      throw new RetryableError("throttled for 10 minutes", { retryAfterMs: 600_000 });
    };
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("paused");
    if (out.status !== "paused") return;
    expect(out.retryAfterMs).toBe(600_000);
    // The stream's log says why (a pause on the archive's side looks the same otherwise).
    expect(out.reason).toBe("RetryableError: throttled for 10 minutes");
    expect(out.errors).toEqual([]);
  });

  it("pauses when its checkpoint write meets state contention (a retryable error), instead of failing", async () => {
    const { source, archive, state } = setup();
    state.checkpoint = async () => {
      throw new StateContentionError("state table t: expected a write to go through, found it conflicting");
    };
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false },
    );
    expect(out.status).toBe("paused");
    if (out.status !== "paused") return;
    expect(out.retryAfterMs).toBe(0);
  });

  it("does not record a message whose download was cut by the deadline: the page stops and the unit pauses", async () => {
    const { source, archive, state } = setup();
    const original = source.openMime.bind(source);
    source.openMime = async (user, id) => {
      // What the request policy throws at the invocation's deadline: the retryable error itself.
      if (id === "b2") throw new RetryableError("503 at the deadline");
      return original(user, id);
    };
    // The invocation's deadline has come: no retry may wait any more.
    const deadlineAt = Date.now() - 1;
    const out = await backupUnit(
      unit,
      { folderIndex: 0, page: 0 },
      { source, archive, state, shouldYield: () => false, retryDeadline: () => deadlineAt },
    );
    expect(out.status).toBe("paused");
    expect(out.errors).toEqual([]);
    // Folder B's last page was not stored: no catalog part for it, no staged link.
    expect(archive.parts.has("B/2")).toBe(false);
    expect(state.staged.has("B")).toBe(false);
  });

  it("throws a fatal error (the stream runner fails the unit and stops taking units)", async () => {
    const { source, archive, state } = setup();
    source.folderDelta = () => {
      throw new FatalError("credentials refused");
    };
    await expect(
      backupUnit(unit, { folderIndex: 0, page: 0 }, { source, archive, state, shouldYield: () => false }),
    ).rejects.toBeInstanceOf(FatalError);
  });
});
