import { createHash } from "node:crypto";
import { simpleParser } from "mailparser";
import { describe, expect, it } from "vitest";
import type { SimMessage } from "../../../lib/dev/sim/model.js";
import {
  apportion,
  generateTenant,
  TENANT_SHAPES,
  type TenantSpec,
} from "../../../lib/dev/sim/tenant/generate.js";
import { allMessages, readAll } from "../../support/tenant-messages.js";

const SMALL: TenantSpec = { seed: 7, shape: "skewed", mailboxes: 6, totalMessages: 400, largeFraction: 0 };

describe("apportion", () => {
  it("splits a total exactly in proportion to weights", () => {
    expect(apportion(10, [1, 1, 1])).toEqual([4, 3, 3]);
    expect(apportion(7, [0, 2, 5])).toEqual([0, 2, 5]);
    expect(apportion(1000, [0.4, 0.2, 0.2, 0.2]).reduce((a, b) => a + b, 0)).toBe(1000);
  });
});

describe("generateTenant", () => {
  it("is deterministic: same spec, same ids, bytes and props; another seed differs", async () => {
    const a = await generateTenant(SMALL).groundTruth();
    const b = await generateTenant(SMALL).groundTruth();
    expect(b).toEqual(a);
    const c = await generateTenant({ ...SMALL, seed: 8 }).groundTruth();
    expect(c.tenantId).not.toBe(a.tenantId);
    expect(c.mailboxes[0]?.folders[0]?.messages[0]?.sha256).not.toBe(
      a.mailboxes[0]?.folders[0]?.messages[0]?.sha256,
    );
  });

  it("creates every kind of account and exactly the asked-for messages in the demo tenant", () => {
    const store = generateTenant(TENANT_SHAPES.demo);
    const users = store.listUsers();
    const purposes = users.map((u) => u.mailbox?.purpose ?? "none");
    expect(purposes.filter((p) => p === "shared").length).toBeGreaterThanOrEqual(2);
    expect(purposes).toContain("room");
    expect(purposes.filter((p) => p === "none").length).toBeGreaterThanOrEqual(2);
    expect(users.filter((u) => u.mailbox?.purpose === "user" && !u.accountEnabled).length).toBe(1);
    for (const u of users) {
      if (u.mailbox?.purpose === "shared") expect(u.licenseCount).toBe(0);
      expect(u.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
    expect(new Set(users.map((u) => u.userPrincipalName.toLowerCase())).size).toBe(users.length);
    expect(users.some((u) => u.groups.includes("All Staff"))).toBe(true);
    // Exactly totalMessages plus the large messages land in the mailboxes.
    expect(allMessages(store).length).toBe(
      TENANT_SHAPES.demo.totalMessages + (TENANT_SHAPES.demo.largeMessages?.length ?? 0),
    );
  });

  it("gives the giant mailbox about 40% of the items over many folders", () => {
    const spec: TenantSpec = {
      seed: 3,
      shape: "giant",
      mailboxes: 6,
      totalMessages: 1000,
      largeFraction: 0,
      sharedFraction: 0,
    };
    const store = generateTenant(spec);
    const owner = store.listUsers()[0]?.id as string;
    const messages = allMessages(store);
    const giant = messages.filter((m) => m.userId === owner).length;
    expect(giant).toBeGreaterThan(350);
    expect(giant).toBeLessThan(450);
    const folderIds = new Set(
      messages.filter((m) => m.userId === owner).map((m) => m.message.parentFolderId),
    );
    expect(folderIds.size).toBeGreaterThan(40);
  });

  it("builds folder trees with well-known, nested, hidden, search and oddly named folders", () => {
    const store = generateTenant(SMALL);
    const owner = store.listUsers()[0]?.id as string;
    for (const wk of [
      "inbox",
      "sentitems",
      "drafts",
      "deleteditems",
      "junkemail",
      "archive",
      "msgfolderroot",
    ]) {
      expect(store.getFolder(owner, wk)?.id).toBeTruthy();
    }
    const all: Array<{ name: string; depth: number; hidden: boolean; search: boolean }> = [];
    const walk = (id: string, depth: number) => {
      const children = store.listChildFolders(owner, id);
      const names = children.map((c) => c.displayName.toLowerCase());
      expect(new Set(names).size).toBe(names.length);
      for (const c of children) {
        all.push({ name: c.displayName, depth, hidden: c.isHidden, search: c.isSearchFolder });
        walk(c.id, depth + 1);
      }
    };
    walk(store.rootFolderId(owner), 1);
    expect(Math.max(...all.map((f) => f.depth))).toBeLessThanOrEqual(4);
    expect(all.some((f) => f.depth >= 2)).toBe(true);
    expect(all.some((f) => f.hidden)).toBe(true);
    expect(all.some((f) => f.search)).toBe(true);
    expect(all.some((f) => /[^\x20-\x7e]|[&/]|^ | $/.test(f.name))).toBe(true);
  });

  it("writes MIME that parses back to the message's properties", async () => {
    const store = generateTenant({ ...SMALL, shape: "uniform", mailboxes: 3, totalMessages: 300 });
    const messages = allMessages(store);
    const charsets = new Set<string>();
    const kinds = new Set<string>();
    for (const { message } of messages) {
      const raw = await readAll(store, message);
      expect(raw.length).toBe(message.size);
      // CRLF everywhere: no bare LF.
      expect(raw.includes(Buffer.from("\n")) && /[^\r]\n/.test(raw.toString("latin1"))).toBe(false);
      const parsed = await simpleParser(raw);
      expect(parsed.subject).toBe(message.subject);
      expect(parsed.messageId).toBe(message.internetMessageId);
      expect(parsed.from?.value[0]?.address).toBe(message.from.address);
      expect(parsed.from?.value[0]?.name).toBe(message.from.name);
      const files = parsed.attachments.filter((a) => a.contentDisposition === "attachment");
      expect(files.length > 0).toBe(message.hasAttachments);
      for (const file of files) expect(file.size).toBe(file.content.length);
      expect(parsed.text ?? "").not.toContain("\ufffd");
      expect((parsed.text ?? "").replace(/\s+/g, " ").trim().slice(0, 60)).toBe(
        message.bodyPreview.slice(0, 60),
      );
      const header = raw.subarray(0, raw.indexOf("\r\n\r\n")).toString("latin1");
      kinds.add(/multipart\/(\w+)/.exec(raw.toString("latin1"))?.[1] ?? "single");
      for (const m of raw.toString("latin1").matchAll(/charset="?([\w-]+)/g))
        charsets.add((m[1] as string).toLowerCase());
      expect(header).toMatch(/^Thread-Index: /m);
      expect(header).toMatch(/^MIME-Version: 1\.0$/m);
    }
    expect([...charsets].sort()).toEqual(
      expect.arrayContaining(["iso-2022-jp", "iso-8859-1", "shift_jis", "utf-8", "windows-1252"]),
    );
    expect([...kinds].sort()).toEqual(expect.arrayContaining(["alternative", "mixed", "single"]));
    expect(messages.some((m) => m.message.size < 1024)).toBe(true);
    expect(messages.some((m) => m.message.isDraft)).toBe(true);
    expect(new Set(messages.map((m) => m.message.isRead)).size).toBe(2);
  });

  it("produces large messages lazily with their exact size, parseable, identical on every open", async () => {
    const bytes = 1_500_003;
    const store = generateTenant({ ...SMALL, mailboxes: 1, totalMessages: 2, largeMessages: [{ bytes }] });
    const large = allMessages(store).find((m) => m.message.mime.kind === "generated")?.message as SimMessage;
    expect(large.size).toBe(bytes);
    expect(large.hasAttachments).toBe(true);
    const first = await readAll(store, large);
    const second = await readAll(store, large);
    expect(first.length).toBe(bytes);
    expect(createHash("sha256").update(second).digest("hex")).toBe(
      createHash("sha256").update(first).digest("hex"),
    );
    const parsed = await simpleParser(first);
    expect(parsed.subject).toBe(large.subject);
    expect(parsed.attachments).toHaveLength(1);
    expect(parsed.attachments[0]?.size).toBeGreaterThan(1_000_000);
    expect(parsed.attachments[0]?.filename).toMatch(/\.zip$/);
  });

  it("rejects specs outside their bounds with the field named", () => {
    expect(() => generateTenant({ ...SMALL, mailboxes: 0 })).toThrow(/TenantSpec\.mailboxes/);
    expect(() => generateTenant({ ...SMALL, largeMessages: [{ bytes: 10 }] })).toThrow(
      /largeMessages\[\]\.bytes/,
    );
  });
});
