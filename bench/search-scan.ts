/**
 * How fast `mailstream search` scans the catalog (issue 15: search over 10 million catalog
 * lines in seconds). Writes an archive of `BENCH_SEARCH_MAILBOXES` mailboxes (default 200) of
 * `BENCH_SEARCH_LINES` catalog lines each (default 1,000: one upsert per message, 100 per part)
 * in one finalized job to a local folder, then times `searchArchive` over every mailbox (a
 * subject word that few messages hold) and prints lines per second and the seconds 10 million
 * lines would take at that rate. `npx tsx bench/search-scan.ts`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { createArchive } from "../lib/archive/archive.js";
import { LocalObjectStore } from "../lib/archive/local-store.js";
import type { CatalogEntry } from "../lib/backup/ports.js";
import { listArchivedJobs, mailboxesOf } from "../lib/catalog-index/directory.js";
import { searchArchive } from "../lib/catalog-index/search.js";

const MAILBOXES = Number(process.env.BENCH_SEARCH_MAILBOXES ?? 200);
const LINES = Number(process.env.BENCH_SEARCH_LINES ?? 1000);
const PER_PART = 100;
const jobId = "2026-12-06T06-00-00Z-5ea4c400";

function upsert(m: number, i: number): CatalogEntry {
  const id = `m${m}-msg${i}`;
  return {
    kind: "upsert",
    messageId: id,
    folderId: "inbox",
    sha256: `${"0".repeat(48)}${String(m).padStart(6, "0")}${String(i).padStart(10, "0")}`,
    size: 12_000,
    meta: {
      id,
      subject: i % 997 === 0 ? `quarterly budget ${i}` : `status update ${i} for project ${m}`,
      from: { emailAddress: { name: `Sender ${i % 50}`, address: `sender${i % 50}@contoso.test` } },
      toRecipients: [{ emailAddress: { name: `User ${m}`, address: `user${m}@contoso.test` } }],
      receivedDateTime: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      sentDateTime: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString(),
      hasAttachments: i % 7 === 0,
      isRead: true,
      changeKey: `ck${i}`,
    },
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-search-"));
  try {
    const store = new LocalObjectStore(dir);
    const archive = createArchive(store);
    const mailboxes = Array.from({ length: MAILBOXES }, (_, m) => `user-${String(m).padStart(6, "0")}`);
    for (const [m, mailboxId] of mailboxes.entries()) {
      await archive.recordFolders(jobId, mailboxId, [
        { id: "inbox", parentFolderId: "root", path: "Inbox", displayName: "Inbox" },
      ]);
      for (let page = 0; page * PER_PART < LINES; page++) {
        const entries = Array.from({ length: Math.min(PER_PART, LINES - page * PER_PART) }, (_, k) =>
          upsert(m, page * PER_PART + k),
        );
        await archive.writeCatalogPart({ jobId, mailboxId, folderId: "inbox", unit: m, page }, entries);
      }
    }
    await archive.writeManifest({
      jobId,
      status: "complete",
      endedAt: "2026-12-06T07:00:00.000Z",
      mailboxes: mailboxes.map((mailboxId) => ({
        mailboxId,
        status: "complete",
        address: `${mailboxId}@contoso.test`,
      })),
    });
    const started = Date.now();
    const all = mailboxesOf(await listArchivedJobs(store));
    const result = await searchArchive(store, all, { subjectWords: ["budget"] }, { at: jobId });
    const seconds = (Date.now() - started) / 1000;
    const lines = MAILBOXES * LINES;
    const perSecond = result.messagesScanned / seconds;
    process.stdout.write(
      `${JSON.stringify(
        {
          cpus: cpus().length,
          node: process.version,
          mailboxes: MAILBOXES,
          lines,
          scanned: result.messagesScanned,
          hits: result.hits.length,
          seconds,
          linesPerSecond: Math.round(perSecond),
          secondsFor10MillionLines: Math.round(10_000_000 / perSecond),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `search-scan: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
