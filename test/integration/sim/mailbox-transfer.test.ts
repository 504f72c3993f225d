import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SimItem } from "../../../lib/dev/sim/model.js";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { summarizeItem } from "../../../lib/dev/sim/tenant/items/kinds.js";
import { graphErrorOf, msalFor, secretGraph, startTestSimulator, tokenFrom } from "./clients.js";
import { type ApiTenant, allPages, buildApiTenant, folderWith } from "./mailbox-api-fixture.js";

const api = (mailboxId: string) => `/admin/exchange/mailboxes/${mailboxId}`;

/** A JSON entity without what differs between an item and its copy. */
function withoutIdentity(entity: Record<string, unknown>, extra: string[] = []): Record<string, unknown> {
  const out = { ...entity };
  for (const key of ["id", "changeKey", "@odata.etag", "@odata.context", ...extra]) delete out[key];
  return out;
}

async function importData(importUrl: string, body: Record<string, string>): Promise<Response> {
  return fetch(importUrl, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

describe("export and import through the mailbox import/export API", () => {
  let tenant: ApiTenant;
  let sim: RunningSimulator;
  let graph: Client;

  beforeAll(async () => {
    tenant = await buildApiTenant();
    sim = await startTestSimulator({ store: tenant.store });
    graph = secretGraph(sim);
  });
  afterAll(async () => {
    await sim?.close();
  });

  /** The first item of `itemClass` in the owner's mailbox that `pick` accepts (by its content). */
  function itemOf(
    mailboxId: string,
    itemClass: string,
    pick: (summary: Record<string, unknown>, item: SimItem) => boolean,
  ) {
    for (const folder of tenant.owner.mailboxFolders) {
      for (const entry of folder.items) {
        const item = tenant.store.getItem(folder.itemsMailboxId, entry.id);
        if (
          item &&
          folder.itemsMailboxId === mailboxId &&
          item.itemClass === itemClass &&
          pick(summarizeItem(item.itemClass, item.content()), item)
        )
          return { folder, item };
      }
    }
    throw new Error(`no ${itemClass} item fits in ${mailboxId}`);
  }

  it("imports every item kind into another mailbox equal to the export in every property", async () => {
    const owner = tenant.owner;
    const primary = owner.primaryMailboxId;
    const archive = owner.archiveMailboxId as string;
    const cases: Array<{ name: string; mailbox: string; id: string; folderClass: string }> = [];
    const add = (name: string, found: { folder: { type: string }; item: { id: string } }, mailbox: string) =>
      cases.push({ name, mailbox, id: found.item.id, folderClass: found.folder.type });
    add(
      "recurring event with exceptions",
      itemOf(primary, "IPM.Appointment", (s) => Boolean(s.recurrence) && (s.exceptions as number) > 0),
      primary,
    );
    add(
      "meeting with attendees",
      itemOf(primary, "IPM.Appointment", (s) => (s.attendees as number) > 0),
      primary,
    );
    add(
      "event with attachments",
      itemOf(primary, "IPM.Appointment", (_s, i) => i.content().attachments.some((a) => !a.embedded)),
      primary,
    );
    add(
      "contact with a photo",
      itemOf(primary, "IPM.Contact", (s) => s.hasPhoto === true),
      primary,
    );
    add(
      "distribution list",
      itemOf(primary, "IPM.DistList", () => true),
      primary,
    );
    add(
      "task",
      itemOf(primary, "IPM.Task", () => true),
      primary,
    );
    add(
      "note",
      itemOf(primary, "IPM.StickyNote", () => true),
      primary,
    );
    add(
      "archived event",
      itemOf(archive, "IPM.Appointment", () => true),
      archive,
    );
    const mail = folderWith(owner, "IPM.Note");
    cases.push({ name: "message", mailbox: primary, id: mail.item.id, folderClass: "IPF.Note" });
    const archivedMail = folderWith(owner, "IPM.Note", "archive", () => true);
    cases.push({
      name: "archived message",
      mailbox: archivedMail.folder.itemsMailboxId,
      id: archivedMail.item.id,
      folderClass: "IPF.Note",
    });

    const target = tenant.other.primaryMailboxId;
    const session = await graph.api(`${api(target)}/createImportSession`).post({});
    const folders = new Map<string, string>();
    for (const c of cases) {
      if (!folders.has(c.folderClass)) {
        const created = await graph
          .api(`${api(target)}/folders`)
          .post({ displayName: `Restored ${c.folderClass}`, type: c.folderClass });
        expect(created).toMatchObject({ type: c.folderClass, totalItemCount: 0, wellKnownName: null });
        folders.set(c.folderClass, created.id);
      }
      const exported = await graph.api(`${api(c.mailbox)}/exportItems`).post({ itemIds: [c.id] });
      const data = exported.value[0].data as string;
      const answer = await importData(session.importUrl, {
        FolderId: folders.get(c.folderClass) as string,
        Mode: "create",
        Data: data,
      });
      expect(answer.status, c.name).toBe(200);
      const { itemId } = (await answer.json()) as { itemId: string };
      const again = await graph.api(`${api(target)}/exportItems`).post({ itemIds: [itemId] });
      expect(again.value[0].data, c.name).toBe(data);
      const source = await graph
        .api(
          `${api(c.mailbox)}/folders/${tenant.store.mailboxItem(c.mailbox, c.id)?.parentFolderId}/items/${c.id}`,
        )
        .get();
      const copy = await graph
        .api(`${api(target)}/folders/${folders.get(c.folderClass)}/items/${itemId}`)
        .get();
      expect(withoutIdentity(copy), c.name).toEqual(withoutIdentity(source));
      if (c.folderClass === "IPF.Note" && c.mailbox === primary) {
        // The same message to the message endpoints: properties and MIME.
        const before = await graph.api(`/users/${owner.userId}/messages/${c.id}`).get();
        const after = await graph.api(`/users/${tenant.other.userId}/messages/${itemId}`).get();
        expect(withoutIdentity(after, ["parentFolderId"])).toEqual(
          withoutIdentity(before, ["parentFolderId"]),
        );
        const mimeBefore = await graph.api(`/users/${owner.userId}/messages/${c.id}/$value`).getStream();
        const mimeAfter = await graph
          .api(`/users/${tenant.other.userId}/messages/${itemId}/$value`)
          .getStream();
        expect(Buffer.from(await new Response(mimeAfter).arrayBuffer())).toEqual(
          Buffer.from(await new Response(mimeBefore).arrayBuffer()),
        );
      }
    }
    expect(cases).toHaveLength(10);
  });

  it("updates an item in place with its change key, and refuses a stale key, corrupt data and ids in create mode", async () => {
    const owner = tenant.owner.primaryMailboxId;
    const { folder, item } = folderWith(tenant.owner, "IPM.Task");
    const before = await graph.api(`${api(owner)}/exportItems`).post({ itemIds: [item.id] });
    const changeKey = before.value[0].changeKey as string;
    const other = folderWith(tenant.owner, "IPM.Task", "primary", (i) => i.id !== item.id);
    const replacement = await graph.api(`${api(owner)}/exportItems`).post({ itemIds: [other.item.id] });
    const session = await graph.api(`${api(owner)}/createImportSession`).post({});
    const base = { FolderId: folder.id, Data: replacement.value[0].data as string };
    expect((await importData(session.importUrl, { ...base, Mode: "create", ItemId: item.id })).status).toBe(
      400,
    );
    const stale = await importData(session.importUrl, {
      ...base,
      Mode: "update",
      ItemId: item.id,
      ChangeKey: "CQAAABYAAAAstale",
    });
    expect(stale.status).toBe(409);
    const corrupt = Buffer.from(replacement.value[0].data, "base64");
    corrupt[corrupt.length - 9] = (corrupt[corrupt.length - 9] ?? 0) ^ 0xff;
    const bad = await importData(session.importUrl, {
      ...base,
      Mode: "create",
      Data: corrupt.toString("base64"),
    });
    expect([bad.status, ((await bad.json()) as { error: { code: string } }).error.code]).toEqual([
      400,
      "ErrorCorruptData",
    ]);
    const updated = await importData(session.importUrl, {
      ...base,
      Mode: "update",
      ItemId: item.id,
      ChangeKey: changeKey,
    });
    expect(updated.status).toBe(200);
    const answer = (await updated.json()) as { itemId: string; changeKey: string };
    expect(answer.itemId).toBe(item.id);
    expect(answer.changeKey).not.toBe(changeKey);
    const after = await graph.api(`${api(owner)}/exportItems`).post({ itemIds: [item.id] });
    expect(after.value[0].data).toBe(replacement.value[0].data);
  });

  it("sends an archive's expanded folder to its auxiliary mailbox: 308 for folders and items, a per-item error on export, 409 on import", async () => {
    const owner = tenant.owner;
    const main = owner.archiveMailboxId as string;
    const expanded = owner.mailboxFolders.find((f) => f.mailbox === "archive" && f.itemsMailboxId !== main);
    if (!expanded) throw new Error("fixture: expected an expanded folder");
    const aux = expanded.itemsMailboxId;
    expect(expanded.items.length).toBeGreaterThan(0);
    // The Graph client follows the 308; the items are the auxiliary mailbox's.
    const listed = await allPages(graph, `${api(main)}/folders/${expanded.id}/items?$top=1000`);
    expect(listed.items.map((i) => i.id).sort()).toEqual(expanded.items.map((i) => i.id).sort());
    const raw = await fetch(`${sim.baseUrl}${api(main)}/folders/${expanded.id}/items?$top=5`, {
      redirect: "manual",
      headers: {
        authorization: `Bearer ${await tokenFrom(msalFor(sim, { clientSecret: sim.clientSecret ?? "" }))}`,
      },
    });
    expect(raw.status).toBe(308);
    expect(raw.headers.get("location")).toBe(`${sim.baseUrl}${api(aux)}/folders/${expanded.id}/items?$top=5`);

    const inMain = folderWith(owner, "IPM.Note", "archive", () => true);
    expect(inMain.folder.itemsMailboxId).toBe(main);
    const movedId = expanded.items[0]?.id as string;
    const exported = await graph.api(`${api(main)}/exportItems`).post({ itemIds: [movedId, inMain.item.id] });
    const moved = exported.value[0];
    expect(moved).toEqual({
      itemId: movedId,
      error: { code: "ErrorArchiveFolderMovedPermanently", message: `${sim.baseUrl}${api(aux)}/exportItems` },
    });
    expect(exported.value[1].data).toEqual(expect.any(String));
    const reissued = await graph.api(moved.error.message).post({ itemIds: [movedId] });
    expect(Buffer.from(reissued.value[0].data, "base64").length).toBe(expanded.items[0]?.size);

    const mainSession = await graph.api(`${api(main)}/createImportSession`).post({});
    const conflict = await importData(mainSession.importUrl, {
      FolderId: expanded.id,
      Mode: "create",
      Data: reissued.value[0].data,
    });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({
      Message: `Invalid import session. The target session is expected in mailbox ${aux}.`,
    });
    const auxSession = await graph.api(`${api(aux)}/createImportSession`).post({});
    expect(
      (
        await importData(auxSession.importUrl, {
          FolderId: expanded.id,
          Mode: "create",
          Data: reissued.value[0].data,
        })
      ).status,
    ).toBe(200);
  });

  it("gives incremental item and folder delta rounds with @removed, and 410 with a Location on a lost sync state", async () => {
    const mailbox = tenant.other.primaryMailboxId;
    const store = tenant.store;
    const contacts = store.getFolder(mailbox, "contacts");
    if (!contacts) throw new Error("fixture: no contacts folder");
    const url = `${api(mailbox)}/folders/${contacts.id}/items/delta`;
    const initial = await allPages(graph, url, "odata.maxpagesize=3");
    expect(initial.items.length).toBe(store.listMailboxItems(mailbox, contacts.id).length);
    const [changed, gone] = store.listItems(mailbox, contacts.id);
    if (!changed || !gone) throw new Error("fixture: expected two contacts");
    store.updateItem(mailbox, changed.id, { categories: ["Changed"] });
    store.deleteItem(mailbox, gone.id);
    const round = await allPages(graph, initial.last["@odata.deltaLink"] as string, "odata.maxpagesize=3");
    expect(round.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: changed.id, categories: ["Changed"] }),
        { "@odata.type": "#microsoft.graph.mailboxItem", id: gone.id, "@removed": { reason: "deleted" } },
      ]),
    );
    expect(round.items).toHaveLength(2);

    sim.faults.syncStateLost(mailbox, contacts.id);
    const token = await tokenFrom(msalFor(sim, { clientSecret: sim.clientSecret ?? "" }));
    const lost = await fetch(round.last["@odata.deltaLink"] as string, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(lost.status).toBe(410);
    expect(((await lost.json()) as { error: { code: string } }).error.code).toBe("SyncStateNotFound");
    const restart = await allPages(graph, lost.headers.get("location") as string);
    expect(restart.items.map((i) => i.id).sort()).toEqual(
      store
        .listItems(mailbox, contacts.id)
        .map((i) => i.id)
        .sort(),
    );

    const folders = await allPages(graph, `${api(mailbox)}/folders/delta`);
    const created = await graph
      .api(`${api(mailbox)}/folders`)
      .post({ displayName: "Delta probe", type: "IPF.Task" });
    await graph.api(`${api(mailbox)}/folders/${created.id}`).patch({ displayName: "Delta probe (renamed)" });
    const victim = await graph
      .api(`${api(mailbox)}/folders`)
      .post({ displayName: "Short-lived", type: "IPF.Note" });
    const between = await allPages(graph, folders.last["@odata.deltaLink"] as string);
    await graph.api(`${api(mailbox)}/folders/${victim.id}`).delete();
    const after = await allPages(graph, between.last["@odata.deltaLink"] as string);
    expect(between.items.map((f) => [f.id, f.displayName])).toEqual(
      expect.arrayContaining([
        [created.id, "Delta probe (renamed)"],
        [victim.id, "Short-lived"],
      ]),
    );
    expect(after.items).toEqual([
      { "@odata.type": "#microsoft.graph.mailboxFolder", id: victim.id, "@removed": { reason: "deleted" } },
    ]);
    const refused = await graphErrorOf(graph.api(`${api(mailbox)}/folders/${contacts.id}`).delete());
    expect(refused.statusCode).toBe(403);
  });
});
