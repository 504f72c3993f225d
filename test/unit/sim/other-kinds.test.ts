import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { GroundTruth } from "../../../lib/dev/sim/model.js";
import { generateTenant, type TenantSpec } from "../../../lib/dev/sim/tenant/generate.js";
import { exportItem } from "../../../lib/dev/sim/tenant/items/export.js";
import { summarizeItem } from "../../../lib/dev/sim/tenant/items/kinds.js";
import { encodeItem } from "../../../lib/dev/sim/tenant/items/stream.js";
import { mutateTenant } from "../../../lib/dev/sim/tenant/mutate.js";
import { mailTruth } from "../../support/tenant-messages.js";

const SPEC: TenantSpec = {
  seed: 9,
  shape: "skewed",
  mailboxes: 6,
  totalMessages: 500,
  largeFraction: 0,
  archiveFraction: 0.6,
};
const sha256 = (data: string) => createHash("sha256").update(data).digest("hex");

/** Every item of every mailbox folder, by id: its type, folder and content hash. */
function items(
  truth: GroundTruth,
): Map<string, { type: string; folder: string; sha256: string; mailbox: string }> {
  const out = new Map<string, { type: string; folder: string; sha256: string; mailbox: string }>();
  for (const m of truth.mailboxes)
    for (const f of m.mailboxFolders)
      for (const i of f.items)
        out.set(i.id, { type: i.type, folder: f.id, sha256: i.sha256, mailbox: f.mailbox });
  return out;
}

describe("calendars, contacts, tasks, notes and archives of generated tenants", () => {
  it("are the same for the same seed, and leave the mail of the seed as it was without them", async () => {
    const truth = await generateTenant(SPEC).groundTruth();
    expect(await generateTenant(SPEC).groundTruth()).toEqual(truth);
    const mailOnly = await generateTenant({ ...SPEC, itemScale: 0 }).groundTruth();
    expect(mailTruth(truth)).toEqual(mailTruth(mailOnly));
    expect(mailOnly.mailboxes.every((m) => m.archiveMailboxId === null)).toBe(true);
    // The whole tenant, every kind: pinned, so that a change of the generator is a decision.
    expect(sha256(JSON.stringify(truth))).toBe(
      "b661ef5ab58b17d9375ac2cce995ab5ef37f7fdaef6f3b30c6d9efd67105e1ba",
    );
  });

  it("hold every kind, in folders of their class, in both mailboxes, one archive auto-expanded", async () => {
    const store = generateTenant(SPEC);
    const truth = await store.groundTruth();
    const byType = new Map<string, number>();
    const folderTypes = new Map<string, Set<string>>();
    for (const m of truth.mailboxes) {
      for (const f of m.mailboxFolders) {
        for (const i of f.items) {
          byType.set(`${f.mailbox} ${i.type}`, (byType.get(`${f.mailbox} ${i.type}`) ?? 0) + 1);
          folderTypes.set(f.type, (folderTypes.get(f.type) ?? new Set()).add(i.type));
        }
      }
    }
    for (const kind of [
      "IPM.Note",
      "IPM.Appointment",
      "IPM.Contact",
      "IPM.DistList",
      "IPM.Task",
      "IPM.StickyNote",
    ]) {
      expect(byType.get(`primary ${kind}`), kind).toBeGreaterThan(0);
    }
    expect(byType.get("archive IPM.Note")).toBeGreaterThan(0);
    expect(byType.get("archive IPM.Appointment")).toBeGreaterThan(0);
    expect([...(folderTypes.get("IPF.Appointment") ?? [])]).toEqual(["IPM.Appointment"]);
    expect([...(folderTypes.get("IPF.Contact") ?? [])].sort()).toEqual(["IPM.Contact", "IPM.DistList"]);
    expect([...(folderTypes.get("IPF.Task") ?? [])]).toEqual(["IPM.Task"]);
    expect([...(folderTypes.get("IPF.StickyNote") ?? [])]).toEqual(["IPM.StickyNote"]);
    const expanded = truth.mailboxes.flatMap((m) =>
      m.mailboxFolders.filter((f) => f.mailbox === "archive" && f.itemsMailboxId !== m.archiveMailboxId),
    );
    expect(expanded).toHaveLength(1);
    expect(store.getMailbox(expanded[0]?.itemsMailboxId ?? "")?.kind).toBe("auxArchive");

    // Events recur with exceptions, have attendees and attachments; contacts have photos.
    const summaries = [...items(truth)].flatMap(([id, i]) => {
      for (const m of truth.mailboxes) {
        const folder = m.mailboxFolders.find((f) => f.id === i.folder);
        const item = folder && store.getItem(folder.itemsMailboxId, id);
        if (item) return [summarizeItem(item.itemClass, item.content())];
      }
      return [];
    });
    expect(summaries.some((s) => s.recurrence && (s.exceptions as number) > 0)).toBe(true);
    expect(summaries.some((s) => (s.attendees as number) > 2)).toBe(true);
    expect(summaries.some((s) => s.hasPhoto === true)).toBe(true);
    const statuses = summaries.flatMap((s) => (s.status === undefined ? [] : [s.status]));
    expect(statuses.length).toBeGreaterThan(0);
    for (const status of statuses)
      expect(["notStarted", "inProgress", "completed", "waitingOnOthers", "deferred"]).toContain(status);
  });

  it("are written when read: the same content on every read, no content held", () => {
    const store = generateTenant(SPEC);
    const user = store.listUsers().find((u) => u.mailbox?.purpose === "user");
    const calendar = user && store.getFolder(user.id, "calendar");
    if (!user || !calendar) throw new Error("expected a user with a calendar");
    for (const item of store.listItems(user.id, calendar.id)) {
      // Built twice from the item's seed (exportItem keeps what it built: compared, not rebuilt).
      const record = {
        itemClass: item.itemClass,
        createdDateTime: item.createdDateTime,
        lastModifiedDateTime: item.lastModifiedDateTime,
        categories: item.categories,
      };
      expect(
        encodeItem({ record, content: item.content() }).equals(
          encodeItem({ record, content: item.content() }),
        ),
      ).toBe(true);
      expect(exportItem(item).equals(encodeItem({ record, content: item.content() }))).toBe(true);
      expect(Object.values(item).some((v) => Buffer.isBuffer(v))).toBe(false);
    }
  });

  it("change in activity rounds as the round's summary says, and the round's mail stays as it was", async () => {
    const store = generateTenant(SPEC);
    const before = items(await store.groundTruth());
    const summary = mutateTenant(store, { seed: 4, intensity: 0.1 });
    const after = items(await store.groundTruth());
    const nonMail = (m: typeof before, mailbox: string) =>
      [...m].filter(([, i]) => i.type !== "IPM.Note" && i.mailbox === mailbox).map(([id]) => id);
    const kept = nonMail(before, "primary").filter((id) => after.has(id));
    expect(nonMail(before, "primary").length - kept.length).toBe(summary.itemsDeleted);
    expect(nonMail(after, "primary").filter((id) => !before.has(id)).length).toBe(summary.itemsAdded);
    expect(kept.filter((id) => before.get(id)?.sha256 !== after.get(id)?.sha256).length).toBe(
      summary.itemsUpdated,
    );
    expect(
      summary.itemsAdded + summary.itemsUpdated + summary.itemsDeleted + summary.archiveChanges,
    ).toBeGreaterThan(3);

    const mailOnly = generateTenant({ ...SPEC, itemScale: 0 });
    mutateTenant(mailOnly, { seed: 4, intensity: 0.1 });
    expect(mailTruth(await store.groundTruth())).toEqual(mailTruth(await mailOnly.groundTruth()));
  });
});
