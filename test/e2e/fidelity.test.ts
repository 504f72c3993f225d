/**
 * Backups at full fidelity end to end (content mode `fidelity`, the default): every item of
 * every kind (mail, events, contacts, distribution lists, tasks, notes) of every folder of the
 * primary and the archive mailbox is stored as its export stream, equal to the simulator's
 * ground truth after a full and after an incremental backup; mail keeps the properties browse
 * shows; a 410 on one folder's item delta resyncs that folder alone and the report says so.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBlob } from "../../lib/archive/blobs.js";
import { listMailboxCatalog, readCatalogPart } from "../../lib/archive/catalog.js";
import { mailboxViewAt } from "../../lib/archive/replay.js";
import { messageMatches } from "../../lib/catalog-index/search.js";
import { compareAll } from "../../lib/dev/local/archive-truth.js";
import { type LocalStack, startLocalStack } from "../../lib/dev/local/stack.js";
import { type GroundTruth, generateTenant, mutateTenant } from "../../lib/dev/sim/index.js";
import { ARCHIVE_TARGET_PREFIX, restoreByImport } from "../../lib/restore/import-restore.js";
import { verifyArchive } from "../../lib/verify/verify-blobs.js";
import { loadTestCa } from "../support/sim-ca.js";

const WAIT = { refreshMs: 200, sweepEveryMs: 5_000, timeoutMs: 100_000 };
const TEST_TIMEOUT = 180_000;

describe("content mode fidelity: every item kind of both mailboxes", () => {
  let dir: string;
  let stack: LocalStack | undefined;
  const store = generateTenant({
    seed: 1207,
    shape: "uniform",
    mailboxes: 3,
    totalMessages: 240,
    archiveFraction: 1,
    unlicensedFraction: 0,
    sharedFraction: 0,
  });
  let firstJob: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mailstream-e2e-fidelity-"));
    stack = await startLocalStack({
      store,
      ca: await loadTestCa(),
      archive: { kind: "local", path: join(dir, "archive") },
      streams: 2,
      // Small export streams in packs (as on S3 by default), larger ones objects of their own.
      // Compressed where it pays, as on S3.
      env: {
        MAILSTREAM_PAGE_SIZE: "25",
        MAILSTREAM_ARCHIVE_PACK_THRESHOLD_BYTES: String(128 * 1024),
        MAILSTREAM_ARCHIVE_COMPRESSION: "gzip",
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const itemCount = (truth: GroundTruth) =>
    truth.mailboxes.reduce((n, m) => n + m.mailboxFolders.reduce((k, f) => k + f.items.length, 0), 0);

  it(
    "a full backup holds every item of every kind of both mailboxes as its export stream",
    async () => {
      const { jobId, report } = await stack!.runJob(WAIT);
      firstJob = jobId;
      const truth = await store.groundTruth();
      const { archived, expected } = await compareAll(stack!.app.archive.store, truth);
      expect(archived).toEqual(expected);

      // The tenant has every kind, and archives with items: the comparison covers them.
      const classes = new Set(
        truth.mailboxes.flatMap((m) => m.mailboxFolders.flatMap((f) => f.items.map((i) => i.type))),
      );
      for (const c of [
        "IPM.Note",
        "IPM.Appointment",
        "IPM.Contact",
        "IPM.DistList",
        "IPM.Task",
        "IPM.StickyNote",
      ]) {
        expect(classes).toContain(c);
      }
      expect(
        truth.mailboxes.some((m) =>
          m.mailboxFolders.some((f) => f.mailbox === "archive" && f.items.length > 0),
        ),
      ).toBe(true);

      expect(report.status).toBe("complete");
      expect(report.totals.errors).toBe(0);
      expect(report.totals.items).toBe(itemCount(truth));

      // A stored export stream is the bytes of the item, read back from the archive (its pack).
      const owner = truth.mailboxes[0]!;
      const view = await mailboxViewAt(stack!.app.archive.store, owner.userId, jobId, { strict: true });
      const some = view.folders.flatMap((f) => f.messages).find((m) => m.itemClass === "IPM.Appointment");
      expect(some?.content).toBe("export");
      expect(some?.pack).toBeDefined();
      // An event's export stream (text properties) compresses: its pack holds it gzip-compressed.
      expect(some?.encoding).toBe("gzip");
      expect(some!.pack!.length).toBeLessThan(some!.size);
      const hash = createHash("sha256");
      for await (const chunk of await readBlob(stack!.app.archive.store, some!, { kind: "export" }))
        hash.update(chunk as Buffer);
      expect(hash.digest("hex")).toBe(some!.sha256);

      // verify reads every export stream where it lies (pack or own object) and finds them whole.
      const verified = await verifyArchive(stack!.app.archive.store, { jobId });
      expect(verified).toMatchObject({ problems: [], catalogErrors: [], countProblems: [] });
      const streams = new Set(
        truth.mailboxes.flatMap((m) => m.mailboxFolders.flatMap((f) => f.items.map((i) => i.sha256))),
      );
      expect(verified.blobsChecked).toBeGreaterThanOrEqual(streams.size);

      // Mail keeps the properties browse shows; other kinds their own metadata.
      let mailWithRecipients = 0;
      for (const m of truth.mailboxes) {
        const at = await mailboxViewAt(stack!.app.archive.store, m.userId, jobId, { strict: true });
        const byId = new Map(at.folders.flatMap((f) => f.messages.map((x) => [x.messageId, x] as const)));
        for (const folder of m.folders) {
          if (folder.isSearchFolder) continue;
          for (const msg of folder.messages) {
            const meta = byId.get(msg.id)?.meta as Record<string, unknown>;
            expect(meta).toMatchObject({
              kind: "mail",
              isRead: msg.isRead,
              importance: msg.importance,
              flag: { flagStatus: msg.flag.flagStatus },
            });
            expect([...((meta.categories as string[]) ?? [])].sort()).toEqual([...msg.categories].sort());
            // Recipients with their addresses from a received message's transport headers
            // (names only from PidTagDisplayTo… for a draft), which `search --to` finds.
            const to = meta.toRecipients as
              | Array<{ emailAddress: { name: string; address?: string } }>
              | undefined;
            const sim = store.getMessage(m.userId, msg.id)!;
            if (!sim.isDraft)
              expect(to?.map((r) => r.emailAddress.address) ?? []).toEqual(
                sim.toRecipients.map((r) => r.address),
              );
            if (to?.length) {
              mailWithRecipients++;
              const { name, address } = to[0]!.emailAddress;
              expect(messageMatches(meta, "", { to: name }), name).toBe(true);
              if (address) expect(messageMatches(meta, "", { to: address }), address).toBe(true);
            }
          }
        }
        expect(mailWithRecipients, m.address).toBeGreaterThan(0);
        mailWithRecipients = 0;
        const event = at.folders.flatMap((f) => f.messages).find((x) => x.itemClass === "IPM.Appointment");
        expect(event?.meta).toMatchObject({
          kind: "event",
          subject: expect.any(String),
          start: expect.any(String),
        });
        const contact = at.folders.flatMap((f) => f.messages).find((x) => x.itemClass === "IPM.Contact");
        expect(contact?.meta).toMatchObject({ kind: "contact", displayName: expect.any(String) });
        const task = at.folders.flatMap((f) => f.messages).find((x) => x.itemClass === "IPM.Task");
        expect(task?.meta).toMatchObject({
          kind: "task",
          subject: expect.any(String),
          status: expect.any(String),
        });
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "an incremental backup after a round of changes equals the ground truth; a 410 resyncs only its folder",
    async () => {
      mutateTenant(store, { seed: 7, intensity: 0.1 });
      const truth = await store.groundTruth();
      const owner = truth.mailboxes.find((m) => m.archiveMailboxId !== null)!;
      const calendar = owner.mailboxFolders.find(
        (f) => f.mailbox === "primary" && f.type === "IPF.Appointment",
      )!;
      const archived = owner.mailboxFolders.find((f) => f.mailbox === "archive" && f.items.length > 0)!;
      stack!.sim.faults.syncStateLost(owner.userId, calendar.id, "force", 1);
      stack!.sim.faults.syncStateLost(owner.archiveMailboxId!, archived.id, "force", 1);

      const { jobId, report } = await stack!.runJob(WAIT);
      expect(jobId).not.toBe(firstJob);
      const compared = await compareAll(stack!.app.archive.store, truth);
      expect(compared.archived).toEqual(compared.expected);

      expect(report.status).toBe("complete");
      expect(report.totals.errors).toBe(0);
      const mine = report.mailboxes.find((m) => m.mailboxId === owner.userId)!;
      expect(mine.status).toBe("complete");
      const noticed = mine.errors.filter((e) => e.name === "SyncStateLostError").map((e) => e.subject);
      expect(noticed.sort()).toEqual([`folder ${archived.id}`, `folder ${calendar.id}`].sort());

      // Only the two folders (and folders new since the first job) were enumerated in full.
      const job = (await listMailboxCatalog(stack!.app.archive.store, owner.userId)).find(
        (j) => j.jobId === jobId,
      )!;
      const reset = new Set<string>();
      for (const part of job.parts) {
        for (const e of (await readCatalogPart(stack!.app.archive.store, part.key)).entries) {
          if (e.kind === "folder-reset") reset.add(e.folderId);
        }
      }
      expect(reset).toContain(calendar.id);
      expect(reset).toContain(archived.id);
      const knownBefore = await knownFolders(stack!.app.archive.store, owner.userId, firstJob);
      for (const id of reset) {
        if (id === calendar.id || id === archived.id) continue;
        expect(knownBefore.has(id)).toBe(false);
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "restores an event, a contact folder and a whole archive mailbox into another user's mailboxes (the archive into its archive, or into its primary when asked): items equal the originals in every property; again: nothing added",
    async () => {
      const archive = stack!.app.archive.store;
      const gateway = stack!.app.gateway;
      const truth = await store.groundTruth();
      const owner = truth.mailboxes.find((m) => m.archiveMailboxId !== null)!;
      const other = truth.mailboxes.find((m) => m.userId !== owner.userId)!;
      const view = await mailboxViewAt(archive, owner.userId, "latest", { strict: true });
      const calendar = view.folders.find((f) => f.class === "IPF.Appointment" && f.messages.length > 0)!;
      const event = calendar.messages[0]!;
      const contacts = view.folders.find((f) => f.class === "IPF.Contact" && f.messages.length > 0)!;
      const archived = view.folders.filter((f) => f.mailbox === "archive" && f.path !== undefined);
      const selected = [
        { ...calendar, path: calendar.path!, messages: [event] },
        { ...contacts, path: contacts.path! },
        ...archived.map((f) => ({ ...f, path: f.path! })),
      ];
      const classOfPath = new Map(
        view.folders.filter((f) => f.path !== undefined).map((f) => [f.path!, f.class ?? "IPF.Note"]),
      );
      const wanted = selected.reduce((n, f) => n + f.messages.length, 0);
      const options = { targetUser: other.userId, intoFolder: "Restored e2e" };

      const plan = await restoreByImport(archive, gateway, selected, classOfPath, {
        ...options,
        dryRun: true,
      });
      expect(plan.created).toBe(wanted);
      const untouched = await store.groundTruth();
      expect(
        untouched.mailboxes
          .find((m) => m.userId === other.userId)!
          .mailboxFolders.some((f) => f.path.startsWith("Restored e2e")),
      ).toBe(false);

      const done = await restoreByImport(archive, gateway, selected, classOfPath, options);
      expect(done.created).toBe(wanted);
      expect(done.skipped).toBe(0);
      const after = (await store.groundTruth()).mailboxes.find((m) => m.userId === other.userId)!;
      const restored = (path: string, mailbox: "primary" | "archive" = "primary", of = after) =>
        of.mailboxFolders.find((f) => f.mailbox === mailbox && f.path === path);
      // Every restored item's export stream is byte for byte the archived one: equal in every property.
      const sortedHashes = (xs: Array<{ sha256: string }>) => xs.map((x) => x.sha256).sort();
      expect(sortedHashes(restored(`Restored e2e/${calendar.path}`)!.items)).toEqual([event.sha256]);
      expect(restored(`Restored e2e/${calendar.path}`)!.type).toBe("IPF.Appointment");
      expect(sortedHashes(restored(`Restored e2e/${contacts.path}`)!.items)).toEqual(
        sortedHashes(contacts.messages),
      );
      expect(restored(`Restored e2e/${contacts.path}`)!.type).toBe("IPF.Contact");
      // The archive's folders went to the target's archive mailbox (it has one), with their paths.
      // (Empty folders are not created, as a MIME restore does not create them.)
      expect(plan.items.filter((i) => i.targetPath.startsWith(ARCHIVE_TARGET_PREFIX))).toHaveLength(
        archived.reduce((n, f) => n + f.messages.length, 0),
      );
      for (const f of archived.filter((x) => x.messages.length > 0)) {
        const into = restored(`Restored e2e/${f.path}`, "archive");
        expect(into, f.path).toBeDefined();
        expect(sortedHashes(into!.items)).toEqual(sortedHashes(f.messages));
        expect(into!.type).toBe(f.class ?? "IPF.Note");
      }
      expect(archived.reduce((n, f) => n + f.messages.length, 0)).toBeGreaterThan(0);

      // Idempotent: a second run finds every item in place and adds nothing.
      const again = await restoreByImport(archive, gateway, selected, classOfPath, options);
      expect(again.created).toBe(0);
      expect(again.skipped).toBe(wanted);
      const twice = (await store.groundTruth()).mailboxes.find((m) => m.userId === other.userId)!;
      const count = (m: typeof twice) => m.mailboxFolders.reduce((n, f) => n + f.items.length, 0);
      expect(count(twice)).toBe(count(after));

      // Asked to, the archive's folders go to the target's primary mailbox under In-Place Archive/.
      const third = truth.mailboxes.find((m) => m.userId !== owner.userId && m.userId !== other.userId)!;
      const archiveOnly = archived.filter((f) => f.messages.length > 0).map((f) => ({ ...f, path: f.path! }));
      const intoPrimary = await restoreByImport(archive, gateway, archiveOnly, classOfPath, {
        targetUser: third.userId,
        intoFolder: "Restored e2e",
        archiveInto: "primary",
      });
      expect(intoPrimary.created).toBe(archiveOnly.reduce((n, f) => n + f.messages.length, 0));
      const thirdAfter = (await store.groundTruth()).mailboxes.find((m) => m.userId === third.userId)!;
      for (const f of archiveOnly) {
        const into = restored(`Restored e2e/In-Place Archive/${f.path}`, "primary", thirdAfter);
        expect(into, f.path).toBeDefined();
        expect(sortedHashes(into!.items)).toEqual(sortedHashes(f.messages));
      }
      expect(
        thirdAfter.mailboxFolders.some((f) => f.mailbox === "archive" && f.path.startsWith("Restored")),
      ).toBe(false);

      // Into the original place: an item deleted from the owner's auto-expanded archive folder (its
      // items in the auxiliary mailbox, where the import must go) comes back; the rest is there.
      const expanded = truth.mailboxes
        .find((m) => m.userId === owner.userId)!
        .mailboxFolders.find(
          (f) => f.mailbox === "archive" && f.itemsMailboxId !== owner.archiveMailboxId && f.items.length > 1,
        );
      expect(expanded, "an auto-expanded archive folder with items").toBeDefined();
      const source = archived.find((f) => f.path === expanded!.path)!;
      const lost = expanded!.items[0]!;
      if (lost.type === "IPM.Note") store.deleteMessage(expanded!.itemsMailboxId, lost.id);
      else store.deleteItem(expanded!.itemsMailboxId, lost.id);
      const back = await restoreByImport(archive, gateway, [{ ...source, path: source.path! }], classOfPath, {
        targetUser: owner.userId,
        intoFolder: null,
      });
      expect({ created: back.created, skipped: back.skipped }).toEqual({
        created: 1,
        skipped: source.messages.length - 1,
      });
      const ownerAfter = (await store.groundTruth()).mailboxes.find((m) => m.userId === owner.userId)!;
      const refilled = restored(expanded!.path, "archive", ownerAfter)!;
      expect(refilled.itemsMailboxId).toBe(expanded!.itemsMailboxId);
      expect(sortedHashes(refilled.items)).toEqual(sortedHashes(expanded!.items));
    },
    TEST_TIMEOUT,
  );
});

/** Folders that held items in the archive's view at a job. */
async function knownFolders(
  store: Parameters<typeof mailboxViewAt>[0],
  mailboxId: string,
  jobId: string,
): Promise<Set<string>> {
  const view = await mailboxViewAt(store, mailboxId, jobId, { strict: true });
  return new Set(view.folders.filter((f) => f.path !== undefined).map((f) => f.folderId));
}
