import { createHash } from "node:crypto";
import { buffer } from "node:stream/consumers";
import { describe, expect, it } from "vitest";
import type { MailboxItemView, SimItem, SimMessage, TenantStore } from "../../../lib/dev/sim/model.js";
import { generateTenant, type TenantSpec } from "../../../lib/dev/sim/tenant/generate.js";
import { lazyOf } from "../../../lib/dev/sim/tenant/items/content.js";
import {
  EXPORT_STREAM_KEPT_MAX_BYTES,
  exportItem,
  exportMessage,
  exportSize,
  exportStreamKept,
  itemExport,
} from "../../../lib/dev/sim/tenant/items/export.js";
import { messageItem } from "../../../lib/dev/sim/tenant/items/message-content.js";
import { P } from "../../../lib/dev/sim/tenant/items/properties.js";
import { encodeItem } from "../../../lib/dev/sim/tenant/items/stream.js";
import { openMimeSource } from "../../../lib/dev/sim/tenant/mime-source.js";
import { mutateTenant } from "../../../lib/dev/sim/tenant/mutate.js";
import { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";

const SPEC: TenantSpec = {
  seed: 21,
  shape: "skewed",
  mailboxes: 4,
  totalMessages: 120,
  largeFraction: 0,
  archiveFraction: 0.5,
};
const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Every item of the tenant as the import/export API sees it (primary and archive mailboxes). */
function allViews(store: TenantStore): MailboxItemView[] {
  const out: MailboxItemView[] = [];
  for (const user of store.listUsers()) {
    for (const mailbox of [store.primaryMailbox(user.id), store.archiveMailbox(user.id)]) {
      if (!mailbox) continue;
      const visit = (folderId: string) => {
        for (const child of store.listChildFolders(mailbox.id, folderId)) {
          const home = store.folderHome(mailbox.id, child.id) ?? mailbox;
          out.push(...store.listMailboxItems(home.id, child.id));
          visit(child.id);
        }
      };
      visit(store.rootFolderId(mailbox.id));
    }
  }
  return out;
}

/** The export stream built anew, through nothing kept: the item's content written again, its MIME read again. */
async function builtAnew(view: MailboxItemView): Promise<Buffer> {
  if (view.message) {
    const source = view.message.mime;
    const mime = source.kind === "bytes" ? source.bytes : await buffer(openMimeSource(source));
    return encodeItem(messageItem(view.message, lazyOf(mime)));
  }
  const item = view.item as SimItem;
  const record = {
    itemClass: item.itemClass,
    createdDateTime: item.createdDateTime,
    lastModifiedDateTime: item.lastModifiedDateTime,
    categories: [...item.categories],
  };
  return encodeItem({ record, content: item.content() });
}

const exportOf = (view: MailboxItemView) =>
  view.message ? exportMessage(view.message) : Promise.resolve(exportItem(view.item as SimItem));

describe("export streams kept per message and item", () => {
  it("are kept by ground truth and exported byte for byte as built anew", async () => {
    const store = generateTenant(SPEC);
    const truth = await store.groundTruth();
    const hashes = new Map(
      truth.mailboxes.flatMap((m) => m.mailboxFolders.flatMap((f) => f.items.map((i) => [i.id, i.sha256]))),
    );
    const views = allViews(store);
    expect(views.length).toBeGreaterThan(150);
    expect(views.some((v) => v.message) && views.some((v) => v.item)).toBe(true);
    for (const view of views) {
      const object = view.message ?? (view.item as SimItem);
      expect(exportStreamKept(object)).toBe(true);
      const exported = await exportOf(view);
      expect(exported.equals(await builtAnew(view))).toBe(true);
      expect(sha256(exported)).toBe(hashes.get(view.id));
    }
  });

  it("serve a mutation round's changed messages and items as changed, never a stream kept before", async () => {
    const store = generateTenant(SPEC);
    await store.groundTruth();
    const before = new Map(allViews(store).map((v) => [v.id, v]));
    const keptBefore = new Map<string, Buffer>();
    for (const [id, view] of before) keptBefore.set(id, await exportOf(view));
    mutateTenant(store, { seed: 5, intensity: 0.5 });
    let changed = 0;
    for (const view of allViews(store)) {
      const old = before.get(view.id);
      const exported = await exportOf(view);
      expect(exported.equals(await builtAnew(view))).toBe(true);
      if (old && old.changeKey !== view.changeKey) {
        changed++;
        // A change makes a new object: nothing is kept for it until it is read.
        expect((old.message ?? old.item) === (view.message ?? view.item)).toBe(false);
        expect(exported.equals(keptBefore.get(view.id) as Buffer)).toBe(false);
      }
    }
    expect(changed).toBeGreaterThan(5);
  });

  it("leave out a stream longer than the entry bound, which is built again on each read", async () => {
    const store = new InMemoryTenantStore({ tenantId: "3c0de0a1-0000-4000-8000-00000000e1f0" });
    store.addUser({
      id: "00000001-bbbb-4ccc-8ddd-000000000001",
      userPrincipalName: "big@contoso.test",
      displayName: "Big",
      mail: "big@contoso.test",
      accountEnabled: true,
      licenseCount: 1,
      mailbox: { purpose: "user", timeZone: "UTC" },
      groups: [],
    });
    const userId = "00000001-bbbb-4ccc-8ddd-000000000001";
    const inbox = store.addFolder(userId, store.rootFolderId(userId), {
      displayName: "Inbox",
      isHidden: false,
      isSearchFolder: false,
      wellKnownName: "inbox",
    });
    const header = "From: a@b.test\r\nSubject: big\r\nContent-Type: text/plain\r\n\r\n";
    const add = (size: number): SimMessage =>
      store.addMessage(userId, inbox.id, {
        isRead: false,
        flag: { flagStatus: "notFlagged" },
        categories: [],
        importance: "normal",
        internetMessageId: `<m${size}@b.test>`,
        conversationId: "c",
        subject: "big",
        from: { name: "A", address: "a@b.test" },
        toRecipients: [],
        ccRecipients: [],
        bccRecipients: [],
        createdDateTime: "2026-01-05T10:00:00Z",
        receivedDateTime: "2026-01-05T10:00:00Z",
        sentDateTime: "2026-01-05T09:59:00Z",
        isDraft: false,
        hasAttachments: false,
        bodyPreview: "",
        mime: { kind: "bytes", bytes: Buffer.from(header + "x".repeat(size)) },
      });
    const large = add(EXPORT_STREAM_KEPT_MAX_BYTES);
    const small = add(1000);
    expect(exportSize({ message: large })).toBeGreaterThan(EXPORT_STREAM_KEPT_MAX_BYTES);
    const first = await exportMessage(large);
    expect(first.length).toBe(exportSize({ message: large }));
    expect(exportStreamKept(large)).toBe(false);
    expect((await exportMessage(large)).equals(first)).toBe(true);
    await exportMessage(small);
    expect(exportStreamKept(small)).toBe(true);
    // Ground truth hashes the large message by streaming it, and keeps nothing for it either.
    const truth = await store.groundTruth();
    const truthItems = truth.mailboxes.flatMap((m) => m.mailboxFolders.flatMap((f) => f.items));
    expect(truthItems.find((i) => i.id === large.id)?.sha256).toBe(sha256(first));
    expect(exportStreamKept(large)).toBe(false);
  });

  it("write a non-mail item's content once for its size, its properties and its export", () => {
    const store = generateTenant(SPEC);
    const user = store.listUsers().find((u) => u.mailbox?.purpose === "user");
    const calendar = user && store.getFolder(user.id, "calendar");
    const original = user && calendar && store.listItems(user.id, calendar.id)[0];
    if (!user || !calendar || !original) throw new Error("expected a user with a calendar item");
    let written = 0;
    const counted = store.updateItem(user.id, original.id, {
      content: () => {
        written++;
        return original.content();
      },
    });
    const size = exportSize({ item: counted });
    const { content } = itemExport(counted);
    const data = exportItem(counted);
    expect(written).toBe(1);
    expect(data.length).toBe(size);
    expect(content.props.find((p) => p.def === P.subject)?.value).toBe(
      original.content().props.find((p) => p.def === P.subject)?.value,
    );
    // A change of the item is a new object: its content is written anew.
    const again = store.updateItem(user.id, original.id, { categories: ["Changed"] });
    itemExport(again);
    expect(written).toBe(2);
  });
});
