import PQueue from "p-queue";
import pRetry, { AbortError } from "p-retry";
import { isMailstreamError, SkipError } from "../errors.js";
import type {
  ArchiveSink,
  CatalogEntry,
  DeltaPageView,
  MailSource,
  MessageMeta,
  RecordedError,
  UnitCheckpoint,
  UnitProgress,
  UnitStatePort,
} from "./ports.js";

/** The work handed to a stream: one mailbox, or a group of folders of one big mailbox. */
export interface UnitWork {
  jobId: string;
  index: number;
  mailboxId: string;
  folderIds: string[];
  /** Concurrent MIME downloads for this unit: its share of the mailbox's 4 request slots. Range 1–4. */
  concurrency: number;
}

export interface UnitBackupDeps {
  source: MailSource;
  archive: ArchiveSink;
  state: UnitStatePort;
  /** True when the invocation must stop starting new pages (near the Lambda deadline). */
  shouldYield(): boolean;
  /** Attempts per message when its download or upload fails transiently. Range 1–10. Default 3. */
  messageAttempts?: number;
}

export type UnitOutcome =
  | { status: "done"; progress: UnitProgress; errors: RecordedError[]; incompleteFolders: string[] }
  | { status: "paused"; progress: UnitProgress; errors: RecordedError[]; checkpoint: UnitCheckpoint }
  | { status: "mailbox-skipped"; progress: UnitProgress; errors: RecordedError[] };

/** Error names that mean the whole mailbox is gone or closed to us: stop the unit, record it. */
const MAILBOX_LEVEL_ERRORS = new Set(["MailboxNotFoundError", "AccessDeniedError", "MailboxNotEnabledError"]);

function isSyncStateLost(error: unknown): error is Error & { location?: string } {
  return error instanceof Error && error.name === "SyncStateLostError";
}

function recorded(subject: string, error: unknown): RecordedError {
  const e = error instanceof Error ? error : new Error(String(error));
  return { subject, name: e.name, message: e.message };
}

export function emptyProgress(): UnitProgress {
  return { items: 0, bytes: 0, removed: 0, deduplicated: 0, requests: 0, throttled: 0 };
}

function addProgress(into: UnitProgress, delta: UnitProgress): void {
  into.items += delta.items;
  into.bytes += delta.bytes;
  into.removed += delta.removed;
  into.deduplicated += delta.deduplicated;
  into.requests += delta.requests;
  into.throttled += delta.throttled;
}

/** Graph traffic of the unit's mailbox since the last reading: what each checkpoint adds. */
function trafficMeter(source: MailSource, mailboxId: string): (into: UnitProgress) => void {
  const read = () => source.traffic?.(mailboxId) ?? { requests: 0, throttled: 0 };
  let last = read();
  return (into) => {
    const now = read();
    into.requests += Math.max(0, now.requests - last.requests);
    into.throttled += Math.max(0, now.throttled - last.throttled);
    last = now;
  };
}

/**
 * Backs up one unit from its checkpoint: for each folder, follow the delta pages from the
 * checkpoint's link (or the folder's committed sync state, or an initial round); store every new
 * or changed message's MIME, then the page's catalog part, then checkpoint. A folder's new delta
 * link is staged only when every item of the folder was stored, so the sync state never runs
 * ahead of the archive.
 */
export async function backupUnit(
  unit: UnitWork,
  start: UnitCheckpoint,
  deps: UnitBackupDeps,
): Promise<UnitOutcome> {
  const progress = emptyProgress();
  const errors: RecordedError[] = [];
  const incomplete = new Set(start.incompleteFolders ?? []);
  let cp: UnitCheckpoint = { ...start, incompleteFolders: [...incomplete] };
  const meter = trafficMeter(deps.source, unit.mailboxId);

  for (let i = cp.folderIndex; i < unit.folderIds.length; i++) {
    const folderId = unit.folderIds[i]!;
    const resumeLink = i === cp.folderIndex ? cp.link : undefined;
    try {
      const result = await backupFolder(
        unit,
        folderId,
        i,
        resumeLink,
        cp,
        deps,
        progress,
        errors,
        incomplete,
        meter,
      );
      if (result.status === "paused") {
        return { status: "paused", progress, errors, checkpoint: result.checkpoint };
      }
      cp = result.checkpoint;
    } catch (error) {
      if (isMailstreamError(error) && MAILBOX_LEVEL_ERRORS.has(error.name)) {
        errors.push(recorded(`mailbox ${unit.mailboxId}`, error));
        return { status: "mailbox-skipped", progress, errors };
      }
      if (error instanceof SkipError) {
        // The folder vanished or is closed: record it and go on with the next one.
        errors.push(recorded(`folder ${folderId}`, error));
        incomplete.add(folderId);
        cp = { folderIndex: i + 1, page: cp.page, incompleteFolders: [...incomplete] };
        await deps.state.checkpoint(cp, emptyProgress());
        continue;
      }
      throw error;
    }
  }
  return { status: "done", progress, errors, incompleteFolders: [...incomplete] };
}

type FolderResult =
  | { status: "done"; checkpoint: UnitCheckpoint }
  | { status: "paused"; checkpoint: UnitCheckpoint };

async function backupFolder(
  unit: UnitWork,
  folderId: string,
  folderIndex: number,
  resumeLink: string | undefined,
  current: UnitCheckpoint,
  deps: UnitBackupDeps,
  progress: UnitProgress,
  errors: RecordedError[],
  incomplete: Set<string>,
  meter: (into: UnitProgress) => void,
): Promise<FolderResult> {
  let page = current.page;
  let link = resumeLink ?? (await deps.state.syncState(unit.mailboxId, folderId));
  // Without a link the round enumerates the whole folder: the catalog must say so, so that a
  // replay drops what an earlier job saw in the folder and this round no longer reports.
  let fullRound = link === undefined;
  let resyncs = 0;
  let folderHadItemErrors = false;

  for (;;) {
    try {
      for await (const view of deps.source.folderDelta(unit.mailboxId, folderId, link)) {
        const entries: CatalogEntry[] = fullRound ? [{ kind: "folder-reset", folderId }] : [];
        fullRound = false;
        const pageProgress = emptyProgress();
        const failed = await storePage(unit, folderId, view, entries, pageProgress, errors, deps);
        if (failed > 0) folderHadItemErrors = true;
        await deps.archive.writeCatalogPart(
          { jobId: unit.jobId, mailboxId: unit.mailboxId, folderId, unit: unit.index, page },
          entries,
        );
        page++;
        meter(pageProgress);
        if (view.deltaLink) {
          if (folderHadItemErrors) incomplete.add(folderId);
          else await deps.state.stageSyncState(unit.mailboxId, folderId, view.deltaLink);
          const done: UnitCheckpoint = {
            folderIndex: folderIndex + 1,
            page,
            incompleteFolders: [...incomplete],
          };
          await deps.state.checkpoint(done, pageProgress);
          addProgress(progress, pageProgress);
          return { status: "done", checkpoint: done };
        }
        const next: UnitCheckpoint = {
          folderIndex,
          link: view.nextLink,
          page,
          incompleteFolders: [...incomplete],
        };
        await deps.state.checkpoint(next, pageProgress);
        addProgress(progress, pageProgress);
        link = view.nextLink;
        if (deps.shouldYield()) return { status: "paused", checkpoint: next };
      }
      // A delta round always ends with a deltaLink; a source that stops without one is broken.
      throw new SkipError(
        `folder ${folderId}: expected the delta round to end with @odata.deltaLink, found the end of pages without it`,
      );
    } catch (error) {
      if (isSyncStateLost(error) && resyncs < 2) {
        // 410 SyncStateNotFound: only this folder starts over, from the fresh initial link the
        // service offers (or a plain initial round).
        resyncs++;
        link = error.location;
        fullRound = true;
        continue;
      }
      throw error;
    }
  }
}

/** Stores the MIME of every upsert of a page; returns how many items could not be stored. */
async function storePage(
  unit: UnitWork,
  folderId: string,
  view: DeltaPageView,
  entries: CatalogEntry[],
  pageProgress: UnitProgress,
  errors: RecordedError[],
  deps: UnitBackupDeps,
): Promise<number> {
  const queue = new PQueue({ concurrency: Math.max(1, unit.concurrency) });
  const stored: Array<CatalogEntry | undefined> = new Array(view.upserts.length);
  let failed = 0;
  view.upserts.forEach((meta, i) => {
    queue.add(async () => {
      try {
        const entry = await storeMessage(unit, folderId, meta, deps);
        stored[i] = entry.entry;
        pageProgress.items++;
        pageProgress.bytes += entry.entry.size;
        if (entry.existed) pageProgress.deduplicated++;
      } catch (error) {
        failed++;
        errors.push(recorded(`message ${meta.id} in folder ${folderId}`, error));
      }
    });
  });
  await queue.onIdle();
  // Keep the page's order in the catalog: replays apply lines in order.
  for (const e of stored) if (e) entries.push(e);
  for (const id of view.removed) {
    entries.push({ kind: "removed", messageId: id, folderId });
    pageProgress.removed++;
  }
  return failed;
}

async function storeMessage(
  unit: UnitWork,
  folderId: string,
  meta: MessageMeta,
  deps: UnitBackupDeps,
): Promise<{ entry: Extract<CatalogEntry, { kind: "upsert" }>; existed: boolean }> {
  if (typeof meta.id !== "string" || meta.id.length === 0) {
    throw new SkipError(`delta item: expected a message id, found ${JSON.stringify(meta).slice(0, 120)}`);
  }
  const blob = await pRetry(
    async () => {
      try {
        const stream = await deps.source.openMime(unit.mailboxId, meta.id);
        return await deps.archive.storeMime(stream);
      } catch (error) {
        // Items that are gone or refused will not come back by retrying; everything else
        // (a connection dropped mid-stream, a 5xx after the gateway's own retries) may.
        if (error instanceof SkipError) throw new AbortError(error);
        throw error;
      }
    },
    { retries: (deps.messageAttempts ?? 3) - 1, minTimeout: 200, factor: 2, randomize: true },
  );
  return {
    entry: { kind: "upsert", messageId: meta.id, folderId, sha256: blob.sha256, size: blob.size, meta },
    existed: blob.existed,
  };
}
