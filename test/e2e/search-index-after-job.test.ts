/**
 * The search index kept current after each job, end to end: three backups through the local stack
 * with the index task on (the deployment's default), no `mailstream index`, and a search with the
 * index answers exactly as one that scans the catalog, at every point in time. The third job
 * changes, moves and deletes items without touching a folder tree: its index is updated per
 * changed line (a segment of changes, masks on older rows).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../lib/archive/store.js";
import { mailboxesOf, requireJobs } from "../../lib/catalog-index/directory.js";
import { type SearchCriteria, type SearchResult, searchArchive } from "../../lib/catalog-index/search.js";
import { readIndexManifest } from "../../lib/catalog-index/search-index/index-manifest.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { generateTenant, mutateTenant } from "../../lib/dev/sim/index.js";
import { loadTestCa } from "../support/sim-ca.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 80_000 };
const TEST_TIMEOUT = 200_000;

/** Waits for the index task of a job (a controller runs it after the job closed). */
async function indexOf(store: ObjectStore, jobId: string) {
  const until = Date.now() + 60_000;
  for (;;) {
    const manifest = await readIndexManifest(store, jobId);
    if (manifest) return manifest;
    if (Date.now() > until) throw new Error(`expected the index as of ${jobId} within 60 s, found none`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const answer = (r: SearchResult) => ({
  hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
  total: r.total,
});

describe("the search index after each job", () => {
  let dir: string;
  let stack: LocalStack | undefined;
  const store = generateTenant({
    seed: 515,
    shape: "uniform",
    mailboxes: 4,
    totalMessages: 160,
    itemScale: 0,
  });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-index-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 2,
      env: {
        MAILSTREAM_PAGE_SIZE: "25",
        MAILSTREAM_MAIL_CONTENT: "mime",
        MAILSTREAM_SEARCH_INDEX_AFTER_JOB: "on",
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(
    "after each job, search with the index equals search without it, with no `mailstream index`",
    async () => {
      const archive = stack!.app.archive.store;
      const first = await stack!.runJob(WAIT);
      expect((await indexOf(archive, first.jobId)).finalizedJobs).toEqual([first.jobId]);
      mutateTenant(store, { seed: 52, intensity: 0.2 });
      const second = await stack!.runJob(WAIT);
      const manifest = await indexOf(archive, second.jobId);
      expect(manifest.finalizedJobs).toEqual([first.jobId, second.jobId]);
      const changes = mutateTenant(store, {
        seed: 53,
        counts: {
          newMessages: 6,
          deletes: 4,
          moves: 5,
          propertyChanges: 6,
          newFolders: 0,
          renamedFolders: 0,
        },
      });
      expect(changes.moves + changes.deletes).toBeGreaterThan(4);
      const third = await stack!.runJob(WAIT);
      const perLine = await indexOf(archive, third.jobId);
      expect(perLine.version).toBe(2);
      // Updated per changed line: the newest segment holds the job's changes only.
      expect(perLine.segments.at(-1)?.delta).toBe(true);
      expect(perLine.segments.at(-1)!.rows).toBeLessThanOrEqual(
        changes.newMessages + changes.moves + changes.propertyChanges,
      );

      const mailboxes = mailboxesOf(await requireJobs(archive));
      const all = await searchArchive(archive, mailboxes, {}, { at: "latest", useIndex: false });
      expect(all.total).toBeGreaterThan(0);
      // Filters drawn from what the archive holds, so that each finds something.
      const sample = all.hits[Math.floor(all.hits.length / 2)]!;
      const meta = sample.message.meta as {
        subject?: string;
        from?: { emailAddress?: { address?: string } };
      };
      const word = (meta.subject ?? "").split(/\s+/).find((w) => w.length > 3);
      const criteria: SearchCriteria[] = [
        {},
        { folder: sample.folderPath },
        { hasAttachments: true },
        ...(word ? [{ subjectWords: [word] }] : []),
        ...(meta.from?.emailAddress?.address ? [{ from: meta.from.emailAddress.address.slice(0, 5) }] : []),
      ];
      for (const at of [first.jobId, second.jobId, third.jobId]) {
        for (const c of criteria) {
          const indexed = await searchArchive(archive, mailboxes, c, { at });
          const scanned = await searchArchive(archive, mailboxes, c, { at, useIndex: false });
          expect(indexed.index?.mailboxes, `${at} ${JSON.stringify(c)}`).toBe(mailboxes.length);
          expect(answer(indexed), `${at} ${JSON.stringify(c)}`).toEqual(answer(scanned));
        }
      }
    },
    TEST_TIMEOUT,
  );
});
