/**
 * A small archive of varied items for search tests (unit and integration): several mailboxes,
 * folders and item kinds, senders and recipients shared between mailboxes, equal and missing
 * times, written with the real archive writer in two (or more) finalized jobs.
 */
import { createArchive } from "../../lib/archive/archive.js";
import type { ObjectStore } from "../../lib/archive/store.js";
import type { CatalogEntry, MessageMeta } from "../../lib/backup/ports.js";
import type { SearchCriteria } from "../../lib/catalog-index/search.js";

export const JOB1 = "2026-12-01T06-00-00Z-aaaa0001";
export const JOB2 = "2026-12-02T06-00-00Z-aaaa0002";
export const JOB3 = "2026-12-03T06-00-00Z-aaaa0003";

export const FOLDERS = [
  { id: "inbox", parentFolderId: "root", path: "Inbox", displayName: "Inbox" },
  { id: "fin", parentFolderId: "inbox", path: "Inbox/Finance", displayName: "Finance" },
  { id: "sent", parentFolderId: "root", path: "Sent Items", displayName: "Sent Items" },
  {
    id: "cal",
    parentFolderId: "root",
    path: "Calendar",
    displayName: "Calendar",
    folderClass: "IPF.Appointment",
  },
];
const FOLDER_IDS = ["inbox", "fin", "sent", "inbox"];
const WORDS = ["Budget", "review", "Q4", "lunch", "Σίσυφος", "offsite", "status", "budgets"];
const PEOPLE = ["Adele Vance", "Megan Bowen", "Lee Gu", "Nestor Wilke"];

const address = (name: string) => `${name.split(" ")[0]!.toLowerCase()}@contoso.test`;
const person = (name: string) => ({ emailAddress: { name, address: address(name) } });
const sha = (m: number, i: number, v: number) =>
  `${String(v).padStart(4, "0")}${"0".repeat(44)}${String(m).padStart(6, "0")}${String(i).padStart(10, "0")}`;

/** Item `i` of mailbox `m` in version `v` (a later version changes its subject and read state). */
export function item(m: number, i: number, v = 1): CatalogEntry {
  const id = `m${m}-item${i}`;
  const t = Date.UTC(2026, 10, 1) + (i % 13) * 3_600_000; // equal times across mailboxes
  const subject = `${WORDS[i % WORDS.length]} ${WORDS[(i * 3 + v) % WORDS.length]} #${i}`;
  const common = { id, hasAttachments: i % 3 === 0, changeKey: `ck${v}` };
  const kind = i % 7;
  let meta: MessageMeta;
  let folderId = FOLDER_IDS[i % FOLDER_IDS.length]!;
  if (kind === 5) {
    folderId = "cal";
    meta = {
      ...common,
      kind: "event",
      subject,
      organizer: person(PEOPLE[i % 4]!),
      start: new Date(t).toISOString(),
    };
  } else if (kind === 6) {
    meta = {
      ...common,
      kind: "contact",
      displayName: `${PEOPLE[(i + m) % 4]} ${v}`,
      companyName: "Contoso Budget",
    };
  } else {
    meta = {
      ...common,
      subject,
      from: person(PEOPLE[(i + m) % 4]!),
      toRecipients: [person(PEOPLE[(i + 1) % 4]!)],
      ...(i % 4 === 0 ? { ccRecipients: [person(PEOPLE[(i + 2) % 4]!)] } : {}),
      ...(i % 11 === 0 ? {} : { receivedDateTime: new Date(t).toISOString() }),
    };
  }
  return { kind: "upsert", messageId: id, folderId, sha256: sha(m, i, v), size: 1000 + i, meta };
}

/** Catalog lines per part (small, so that a few items make many parts). */
const PER_PART = 5;

/** A finalized job: each mailbox's lines (in parts of PER_PART per folder, in the order given) and its folder tree. */
export async function writeJob(
  store: ObjectStore,
  jobId: string,
  endedAt: string,
  parts: Map<number, CatalogEntry[]>,
  mailboxes: number[],
  folders: typeof FOLDERS = FOLDERS,
): Promise<void> {
  const archive = createArchive(store);
  for (const m of mailboxes) {
    await archive.recordFolders(jobId, `mbx-${m}`, folders);
    const entries = parts.get(m) ?? [];
    const byFolder = new Map<string, CatalogEntry[]>();
    for (const e of entries) byFolder.set(e.folderId, [...(byFolder.get(e.folderId) ?? []), e]);
    for (const [folderId, list] of byFolder) {
      for (let page = 0; page * PER_PART < list.length; page++) {
        await archive.writeCatalogPart(
          { jobId, mailboxId: `mbx-${m}`, folderId, unit: m, page },
          list.slice(page * PER_PART, page * PER_PART + PER_PART),
        );
      }
    }
  }
  await archive.writeManifest({
    jobId,
    status: "complete",
    endedAt,
    mailboxes: mailboxes.map((m) => ({
      mailboxId: `mbx-${m}`,
      status: "complete" as const,
      address: `user${m}@contoso.test`,
    })),
  });
}

/** Job 1: mailboxes 0 and 1 (`items` each, and mailbox 0 `extra` more). */
export async function writeFirstJob(store: ObjectStore, items = 40, extra = 0): Promise<void> {
  const parts = new Map(
    [0, 1].map((m) => [m, Array.from({ length: items + (m === 0 ? extra : 0) }, (_, i) => item(m, i))]),
  );
  await writeJob(store, JOB1, "2026-12-01T07:00:00.000Z", parts, [0, 1]);
}

/** Job 2: mailbox 0 changes (items updated, one removed, one added), mailbox 1 unchanged, mailbox 2 new. */
export async function writeSecondJob(store: ObjectStore, items = 40): Promise<void> {
  const changes: CatalogEntry[] = [
    item(0, 2, 2),
    item(0, 9, 2),
    { kind: "removed", messageId: "m0-item4", folderId: item(0, 4).folderId },
    item(0, items + 1, 2),
  ];
  const parts = new Map([
    [0, changes],
    [2, Array.from({ length: items }, (_, i) => item(2, i))],
  ]);
  await writeJob(store, JOB2, "2026-12-02T07:00:00.000Z", parts, [0, 1, 2]);
}

/** Job 3: nothing changed in any mailbox (folders recorded again, no part). */
export async function writeIdleJob(store: ObjectStore): Promise<void> {
  await writeJob(store, JOB3, "2026-12-03T07:00:00.000Z", new Map(), [0, 1, 2]);
}

/** Criteria covering every filter search has, alone and combined. */
export const CRITERIA: SearchCriteria[] = [
  {},
  { subjectWords: ["budget"] },
  { subjectWords: ["BUDGET", "q4"] },
  { subjectWords: ["σίσυφος"] },
  { subjectWords: ["get re"] },
  { subjectWords: ["nothing-like-this"] },
  { from: "adele" },
  { from: "@contoso" },
  { to: "megan" },
  { to: "lee gu <lee@" },
  { kind: "event" },
  { kind: "contact" },
  { kind: "mail", hasAttachments: true },
  { hasAttachments: false },
  { folder: "inbox" },
  { folder: "/Inbox/Finance/" },
  { folder: "Sent Items", from: "nestor" },
  { since: Date.UTC(2026, 10, 1, 3) },
  { until: Date.UTC(2026, 10, 1, 5) },
  { since: Date.UTC(2026, 10, 1, 2), until: Date.UTC(2026, 10, 1, 9), subjectWords: ["status"] },
  { since: Date.UTC(2030, 0, 1) },
];
