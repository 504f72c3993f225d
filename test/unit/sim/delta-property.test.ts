import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { DeltaCursor, NewMessage } from "../../../lib/dev/sim/model.js";
import { InMemoryTenantStore } from "../../../lib/dev/sim/tenant/store.js";

const USER = "99999999-2222-4333-8444-555555555555";

function newMessage(n: number): NewMessage {
  const date = new Date(Date.UTC(2024, 0, 1) + n * 1000).toISOString();
  return {
    internetMessageId: `<p${n}@test>`,
    conversationId: `c${n}`,
    subject: `p${n}`,
    from: { name: "", address: "a@test" },
    toRecipients: [],
    ccRecipients: [],
    bccRecipients: [],
    createdDateTime: date,
    receivedDateTime: date,
    sentDateTime: date,
    isDraft: false,
    hasAttachments: false,
    bodyPreview: "",
    isRead: false,
    flag: { flagStatus: "notFlagged" },
    categories: [],
    importance: "normal",
    mime: { kind: "bytes", bytes: Buffer.from(`Subject: p${n}\r\n\r\n.\r\n`) },
  };
}

type Op =
  | { op: "add"; folder: number }
  | { op: "update"; pick: number }
  | { op: "move"; pick: number; folder: number }
  | { op: "delete"; pick: number }
  | { op: "page"; folder: number; size: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant("add" as const), folder: fc.nat(2) }),
  fc.record({ op: fc.constant("update" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("move" as const), pick: fc.nat(), folder: fc.nat(2) }),
  fc.record({ op: fc.constant("delete" as const), pick: fc.nat() }),
  fc.record({ op: fc.constant("page" as const), folder: fc.nat(2), size: fc.integer({ min: 1, max: 4 }) }),
);

describe("delta rounds under concurrent changes (property)", () => {
  it("a client that applies every page converges to each folder's contents after a quiet round", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 80 }), (ops) => {
        const store = new InMemoryTenantStore({ tenantId: "prop" });
        store.addUser({
          id: USER,
          userPrincipalName: "p@test",
          displayName: "P",
          mail: "p@test",
          accountEnabled: true,
          licenseCount: 1,
          mailbox: { purpose: "user", timeZone: "UTC" },
          groups: [],
        });
        const root = store.rootFolderId(USER);
        const folders = [0, 1, 2].map(
          (i) =>
            store.addFolder(USER, root, { displayName: `F${i}`, isHidden: false, isSearchFolder: false }).id,
        );
        const replicas = folders.map(() => new Map<string, string>());
        const cursors: Array<DeltaCursor | null> = folders.map(() => null);
        const live: string[] = [];
        let n = 0;
        const page = (f: number, size: number) => {
          const result = store.delta(USER, folders[f] as string, cursors[f] ?? null, size);
          if (!result.ok) throw new Error(result.reason);
          const replica = replicas[f] as Map<string, string>;
          for (const e of result.page.entries) {
            if (e.type === "upsert") replica.set(e.message.id, e.message.changeKey);
            else replica.delete(e.id);
          }
          cursors[f] = result.page.cursor;
          return result.page.done;
        };
        for (const op of ops) {
          const target =
            live.length > 0 && "pick" in op ? (live[op.pick % live.length] as string) : undefined;
          if (op.op === "add")
            live.push(store.addMessage(USER, folders[op.folder] as string, newMessage(n++)).id);
          else if (op.op === "update" && target)
            store.updateMessage(USER, target, { isRead: !store.getMessage(USER, target)?.isRead });
          else if (op.op === "move" && target) store.moveMessage(USER, target, folders[op.folder] as string);
          else if (op.op === "delete" && target) {
            store.deleteMessage(USER, target);
            live.splice(live.indexOf(target), 1);
          } else if (op.op === "page") page(op.folder, op.size);
        }
        // Finish any round in progress, then run one quiet round per folder.
        for (let f = 0; f < folders.length; f++) {
          while (!page(f, 3)) {}
          while (!page(f, 3)) {}
          const actual = new Map(
            store.listMessages(USER, folders[f] as string).map((m) => [m.id, m.changeKey]),
          );
          expect(replicas[f]).toEqual(actual);
        }
      }),
      { numRuns: 300 },
    );
  });
});
