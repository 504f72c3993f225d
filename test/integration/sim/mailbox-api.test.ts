import type { Client } from "@microsoft/microsoft-graph-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { recipientsFromTransportHeaders } from "../../../lib/graph/transport-headers.js";
import { graphErrorOf, graphFor, msalFor, secretGraph, startTestSimulator } from "./clients.js";
import { type ApiTenant, allPages, buildApiTenant, folderWith } from "./mailbox-api-fixture.js";

const MBX = /^MBX:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@[0-9a-f-]{36}$/;
const FOLDER_KEYS = [
  "@odata.type",
  "childFolderCount",
  "displayName",
  "id",
  "parentFolderId",
  "parentMailboxUrl",
  "totalItemCount",
  "type",
  "wellKnownName",
];
const ITEM_KEYS = [
  "@odata.etag",
  "@odata.type",
  "categories",
  "changeKey",
  "createdDateTime",
  "id",
  "lastModifiedDateTime",
  "size",
  "type",
];

describe("the mailbox import/export API, against the documentation's examples", () => {
  let tenant: ApiTenant;
  let sim: RunningSimulator;
  let graph: Client;
  const readOnlyApp = "33333333-4444-4555-8666-777777777777";

  beforeAll(async () => {
    tenant = await buildApiTenant();
    sim = await startTestSimulator({
      store: tenant.store,
      clients: [
        {},
        { clientId: readOnlyApp, clientSecret: "read-only", roles: ["MailboxFolder.ReadWrite.All"] },
      ],
    });
    graph = secretGraph(sim);
  });
  afterAll(async () => {
    await sim?.close();
  });

  const api = (mailboxId: string) => `/admin/exchange/mailboxes/${mailboxId}`;

  it("lists a user's mailboxes in exchangeSettings: primary, and the in-place archive when there is one", async () => {
    const settings = await graph.api(`/users/${tenant.owner.address}/settings/exchange`).get();
    expect(Object.keys(settings).sort()).toEqual([
      "@odata.context",
      "inPlaceArchiveMailboxId",
      "primaryMailboxId",
    ]);
    expect(settings["@odata.context"]).toBe(
      `${sim.baseUrl}/$metadata#users('${tenant.owner.userId}')/settings/exchange/$entity`,
    );
    expect(settings.primaryMailboxId).toBe(tenant.owner.primaryMailboxId);
    expect(settings.inPlaceArchiveMailboxId).toBe(tenant.owner.archiveMailboxId);
    expect(settings.primaryMailboxId).toMatch(MBX);
    const noArchive = tenant.truth.mailboxes.find((m) => m.archiveMailboxId === null);
    expect(noArchive).toBeDefined();
    const plain = await graph.api(`/users/${noArchive?.userId}/settings/exchange`).get();
    expect(plain.inPlaceArchiveMailboxId).toBeUndefined();
  });

  it("lists folders as mailboxFolder (example 1), pages by $skip, filters by type with $select and $top (example 2)", async () => {
    const mailbox = tenant.owner.primaryMailboxId;
    const first = await graph.api(`${api(mailbox)}/folders`).get();
    expect(first["@odata.context"]).toBe(
      `${sim.baseUrl}/$metadata#admin/exchange/mailboxes/${mailbox}/folders`,
    );
    expect(first.value).toHaveLength(10);
    for (const f of first.value) expect(Object.keys(f).sort()).toEqual(FOLDER_KEYS);
    expect(first["@odata.nextLink"]).toMatch(/\/folders\?\$skip=10$/);
    const inbox = first.value.find((f: { wellKnownName: string | null }) => f.wellKnownName === "inbox");
    expect(inbox).toMatchObject({
      "@odata.type": "#microsoft.graph.mailboxFolder",
      displayName: "Inbox",
      parentMailboxUrl: `${sim.baseUrl}/admin/exchange/mailboxes/${mailbox}`,
      type: "IPF.Note",
    });
    const all = await allPages(graph, `${api(mailbox)}/folders`);
    const roots = tenant.owner.mailboxFolders.filter((f) => f.mailbox === "primary" && !f.path.includes("/"));
    expect(all.items.map((f) => f.id).sort()).toEqual(roots.map((f) => f.id).sort());
    // Search and hidden folders are there too: the import/export API lists every folder.
    expect(all.items.map((f) => f.displayName)).toEqual(
      expect.arrayContaining(["Unread Mail", "Quick Step Settings"]),
    );

    const calendars = await graph
      .api(
        `${api(mailbox)}/folders?$filter=type eq 'IPF.Appointment'&$select=displayName,type,wellKnownName&$top=5`,
      )
      .get();
    expect(calendars.value).toEqual([
      {
        "@odata.type": "#microsoft.graph.mailboxFolder",
        id: expect.any(String),
        displayName: "Calendar",
        type: "IPF.Appointment",
        wellKnownName: "calendar",
      },
    ]);
    const child = await graph.api(`${api(mailbox)}/folders/${calendars.value[0].id}/childFolders`).get();
    for (const f of child.value) expect(f.type).toBe("IPF.Appointment");
  });

  it("lists items as mailboxItem, with paging, $select, $filter on dates and extended properties", async () => {
    const { folder, item } = folderWith(tenant.owner, "IPM.Appointment");
    const mailbox = tenant.owner.primaryMailboxId;
    const listed = await graph.api(`${api(mailbox)}/folders/${folder.id}/items`).get();
    expect(listed["@odata.context"]).toBe(
      `${sim.baseUrl}/$metadata#admin/exchange/mailboxes/${mailbox}/folders('${folder.id}')/items`,
    );
    for (const i of listed.value) expect(Object.keys(i).sort()).toEqual(ITEM_KEYS);
    const mine = listed.value.find((i: { id: string }) => i.id === item.id);
    expect(mine).toMatchObject({
      type: "IPM.Appointment",
      size: item.size,
      "@odata.etag": `W/"${mine.changeKey}"`,
    });
    const selected = await graph
      .api(`${api(mailbox)}/folders/${folder.id}/items?$select=type,size&$top=1`)
      .get();
    expect(Object.keys(selected.value[0]).sort()).toEqual([
      "@odata.etag",
      "@odata.type",
      "id",
      "size",
      "type",
    ]);
    expect(selected["@odata.nextLink"] !== undefined).toBe(folder.items.length > 1);

    const mail = folderWith(tenant.owner, "IPM.Note");
    const since = await graph
      .api(
        `${api(mailbox)}/folders/${mail.folder.id}/items?$filter=createdDateTime ge 2000-01-01 and createdDateTime lt 2100-01-01&$top=1000`,
      )
      .get();
    expect(since.value).toHaveLength(mail.folder.items.length);
    const none = await graph
      .api(`${api(mailbox)}/folders/${mail.folder.id}/items?$filter=createdDateTime lt 2000-01-01`)
      .get();
    expect(none.value).toEqual([]);

    const one = await graph
      .api(`${api(mailbox)}/folders/${folder.id}/items/${item.id}`)
      .query({
        $expand:
          "singleValueExtendedProperties($filter=id eq 'String 0x0037' or id eq 'SystemTime {00062002-0000-0000-C000-000000000046} Id 0x820D'),multiValueExtendedProperties($filter=id eq 'StringArray {00020329-0000-0000-C000-000000000046} Name Keywords')",
      })
      .get();
    const single = one.singleValueExtendedProperties as Array<{ id: string; value: string }>;
    expect(single.map((p) => p.id)).toEqual([
      "String 0x0037",
      "SystemTime {00062002-0000-0000-C000-000000000046} Id 0x820D",
    ]);
    expect(Date.parse(single[1]?.value ?? "")).not.toBeNaN();
    expect(one.multiValueExtendedProperties).toEqual([
      { id: "StringArray {00020329-0000-0000-C000-000000000046} Name Keywords", value: one.categories },
    ]);
  });

  it('computes PidTagDisplayTo, Cc and Bcc of mail from its recipients, as Exchange does (display names, "; " between)', async () => {
    const mailbox = tenant.owner.primaryMailboxId;
    const props = "String 0x0E04,String 0x0E03,String 0x0E02".split(",");
    const expand = `singleValueExtendedProperties($filter=${props.map((id) => `id eq '${id}'`).join(" or ")})`;
    const names = (list: Array<{ emailAddress: { name: string; address: string } }>) =>
      list.map((r) => r.emailAddress.name || r.emailAddress.address).join("; ");
    let compared = 0;
    let withToAndCc = 0;
    for (const folder of tenant.owner.mailboxFolders.filter((f) => f.mailbox === "primary")) {
      for (const item of folder.items.filter((i) => i.type === "IPM.Note").slice(0, 3)) {
        const message = await graph
          .api(`/users/${tenant.owner.userId}/messages/${item.id}`)
          .select("toRecipients,ccRecipients,bccRecipients")
          .get();
        const got = await graph
          .api(`${api(mailbox)}/folders/${folder.id}/items/${item.id}`)
          .query({ $expand: expand })
          .get();
        const single = new Map(
          (got.singleValueExtendedProperties as Array<{ id: string; value: string }>).map((p) => [
            p.id,
            p.value,
          ]),
        );
        const want = [message.toRecipients, message.ccRecipients, message.bccRecipients].map(names);
        expect(props.map((id) => single.get(id) ?? "")).toEqual(want);
        compared++;
        if (want[0] !== "" && want[1] !== "") withToAndCc++;
      }
      if (compared >= 6) break;
    }
    expect(withToAndCc).toBeGreaterThan(0);
  });

  it("pages item delta and folder delta by Prefer: odata.maxpagesize to a deltaLink (the documentation's examples)", async () => {
    const { folder } = folderWith(tenant.owner, "IPM.Note", "primary", () => true);
    const mailbox = tenant.owner.primaryMailboxId;
    const first = await graph
      .api(`${api(mailbox)}/folders/${folder.id}/items/delta`)
      .header("Prefer", "odata.maxpagesize=2")
      .get();
    expect(first["@odata.context"]).toBe(`${sim.baseUrl}/$metadata#Collection(mailboxItem)`);
    expect(first.value.length).toBeLessThanOrEqual(2);
    for (const i of first.value) expect(Object.keys(i).sort()).toEqual(ITEM_KEYS);
    const round = await allPages(
      graph,
      `${api(mailbox)}/folders/${folder.id}/items/delta`,
      "odata.maxpagesize=2",
    );
    expect(round.items.map((i) => i.id).sort()).toEqual(folder.items.map((i) => i.id).sort());
    expect(round.last["@odata.deltaLink"]).toMatch(
      new RegExp(
        `^${sim.baseUrl.replace(/[.]/g, "\\.")}/admin/exchange/mailboxes/.+/items/delta\\?\\$deltatoken=`,
      ),
    );
    const folders = await graph
      .api(`${api(mailbox)}/folders/delta`)
      .header("Prefer", "odata.maxpagesize=2")
      .get();
    expect(folders["@odata.context"]).toBe(`${sim.baseUrl}/$metadata#Collection(mailboxFolder)`);
    expect(folders.value).toHaveLength(2);
    expect(folders["@odata.nextLink"]).toMatch(/\/folders\/delta\?\$skiptoken=/);
    const tree = await allPages(graph, `${api(mailbox)}/folders/delta`, "odata.maxpagesize=7");
    expect(tree.items.map((f) => f.id).sort()).toEqual(
      tenant.owner.mailboxFolders
        .filter((f) => f.mailbox === "primary")
        .map((f) => f.id)
        .sort(),
    );
  });

  it("exports items as the documented exportItemResponse, and imports through a pre-authenticated session", async () => {
    const { folder, item } = folderWith(tenant.owner, "IPM.Contact");
    const mailbox = tenant.owner.primaryMailboxId;
    const exported = await graph
      .api(`${api(mailbox)}/exportItems`)
      .post({ itemIds: [item.id, "AAMkAGI2unknownItemId"] });
    expect(exported["@odata.context"]).toBe(
      `${sim.baseUrl}/$metadata#Collection(microsoft.graph.exportItemResponse)`,
    );
    expect(exported.value[0]).toEqual({
      itemId: item.id,
      changeKey: expect.any(String),
      data: expect.any(String),
    });
    expect(Buffer.from(exported.value[0].data, "base64").length).toBe(item.size);
    expect(exported.value[1]).toEqual({
      itemId: "AAMkAGI2unknownItemId",
      error: { code: "ErrorItemNotFound", message: "The specified object was not found in the store." },
    });

    const target = tenant.other.primaryMailboxId;
    const session = await graph.api(`${api(target)}/createImportSession`).post({});
    expect(Object.keys(session).sort()).toEqual(["@odata.context", "expirationDateTime", "importUrl"]);
    expect(session["@odata.context"]).toBe(
      `${sim.baseUrl}/$metadata#microsoft.graph.mailboxItemImportSession`,
    );
    expect(session.importUrl).toMatch(
      new RegExp(
        `^https://127\\.0\\.0\\.1:${sim.port}/api/gv1\\.0/Mailboxes\\('${target}'\\)/importItem\\?authtoken=`,
      ),
    );
    expect(Date.parse(session.expirationDateTime)).toBeGreaterThan(Date.now());
    const contacts = await graph.api(`${api(target)}/folders?$filter=type eq 'IPF.Contact'`).get();
    const answer = await fetch(session.importUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ FolderId: contacts.value[0].id, Mode: "create", Data: exported.value[0].data }),
    });
    expect(answer.status).toBe(200);
    const imported = (await answer.json()) as Record<string, string>;
    expect(Object.keys(imported).sort()).toEqual(["@odata.context", "changeKey", "itemId"]);
    expect(imported["@odata.context"]).toBe(
      `https://127.0.0.1:${sim.port}/api/gv1.0/$metadata#microsoft.graph.importMailboxItemResponse`,
    );
    const again = await graph.api(`${api(target)}/exportItems`).post({ itemIds: [imported.itemId] });
    expect(again.value[0].data).toBe(exported.value[0].data);
    expect(folder.id).not.toBe(contacts.value[0].id);
  });

  it("refuses what the documentation refuses: 21 ids, ids of another mailbox, bearer tokens on the import URL, missing permissions", async () => {
    const mailbox = tenant.owner.primaryMailboxId;
    const { item } = folderWith(tenant.owner, "IPM.Note");
    const tooMany = await graphErrorOf(
      graph.api(`${api(mailbox)}/exportItems`).post({ itemIds: Array(21).fill(item.id) }),
    );
    expect(tooMany.statusCode).toBe(400);
    const foreign = folderWith(tenant.other, "IPM.Note").item.id;
    const mixed = await graphErrorOf(
      graph.api(`${api(mailbox)}/exportItems`).post({ itemIds: [item.id, foreign] }),
    );
    expect([mixed.statusCode, mixed.message]).toEqual([400, expect.stringContaining("of another mailbox")]);
    const unknown = await graphErrorOf(
      graph.api(`${api("MBX:00000000-0000-4000-8000-000000000000@x")}/folders`).get(),
    );
    expect([unknown.statusCode, unknown.code]).toEqual([404, "ErrorNonExistentMailbox"]);

    const session = await graph.api(`${api(mailbox)}/createImportSession`).post({});
    const withBearer = await fetch(session.importUrl, {
      method: "POST",
      headers: { authorization: "Bearer x", "content-type": "application/json" },
      body: "{}",
    });
    expect(withBearer.status).toBe(401);
    const readOnly = graphFor(sim, msalFor(sim, { clientSecret: "read-only" }, readOnlyApp));
    expect(
      (await graphErrorOf(readOnly.api(`${api(mailbox)}/exportItems`).post({ itemIds: [item.id] })))
        .statusCode,
    ).toBe(403);
    expect(
      (await graphErrorOf(readOnly.api(`${api(mailbox)}/createImportSession`).post({}))).statusCode,
    ).toBe(403);
    const folders = await readOnly.api(`${api(mailbox)}/folders`).get();
    expect(folders.value.length).toBeGreaterThan(0);
  });

  it("gives a message that arrived its transport headers (PidTagTransportMessageHeaders) with the To and Cc addresses; a draft none", async () => {
    const mailbox = tenant.owner.primaryMailboxId;
    const expand = "singleValueExtendedProperties($filter=id eq 'String 0x007D')";
    const addresses = (list: Array<{ emailAddress: { address: string } }>) =>
      list.map((r) => r.emailAddress.address);
    let received = 0;
    for (const folder of tenant.owner.mailboxFolders.filter((f) => f.mailbox === "primary")) {
      for (const item of folder.items.filter((i) => i.type === "IPM.Note")) {
        if (received >= 8) break;
        const message = await graph
          .api(`/users/${tenant.owner.userId}/messages/${item.id}`)
          .select("toRecipients,ccRecipients,isDraft")
          .get();
        const got = await graph
          .api(`${api(mailbox)}/folders/${folder.id}/items/${item.id}`)
          .query({ $expand: expand })
          .get();
        const block = (
          got.singleValueExtendedProperties as Array<{ id: string; value: string }> | undefined
        )?.find((p) => p.id === "String 0x007D")?.value;
        if (message.isDraft) continue;
        const parsed = recipientsFromTransportHeaders(block);
        expect(parsed?.to.map((a) => a.address) ?? []).toEqual(addresses(message.toRecipients));
        expect(parsed?.cc.map((a) => a.address) ?? []).toEqual(addresses(message.ccRecipients));
        received++;
      }
    }
    expect(received).toBeGreaterThan(0);

    // A draft (written here: the generated tenant has none) never went through transport.
    const { folder } = folderWith(tenant.owner, "IPM.Note");
    const draft = await graph.api(`/users/${tenant.owner.userId}/mailFolders/${folder.id}/messages`).post({
      subject: "Unsent",
      toRecipients: [{ emailAddress: { name: "Adele", address: "adele@contoso.test" } }],
    });
    expect(draft.isDraft).toBe(true);
    const got = await graph
      .api(`${api(mailbox)}/folders/${folder.id}/items/${draft.id}`)
      .query({
        $expand: "singleValueExtendedProperties($filter=id eq 'String 0x007D' or id eq 'String 0x0E04')",
      })
      .get();
    expect(got.singleValueExtendedProperties).toEqual([{ id: "String 0x0E04", value: "Adele" }]);
  });
});
