import { describe, expect, it } from "vitest";
import { ITEM_META_PROPERTIES, itemKind, itemMetadata } from "../../../lib/graph/item-meta.js";
import { withPaths } from "../../../lib/graph/mailbox-folders.js";
import { normalisePropertyId } from "../../../lib/graph/property-id.js";
import { recipientsFromTransportHeaders } from "../../../lib/graph/transport-headers.js";

const props = (values: Partial<Record<keyof typeof ITEM_META_PROPERTIES, string>>) =>
  Object.fromEntries(
    Object.entries(values).map(([k, v]) => [
      normalisePropertyId(ITEM_META_PROPERTIES[k as keyof typeof ITEM_META_PROPERTIES]),
      v,
    ]),
  );

describe("normalisePropertyId", () => {
  it("spells an id one way whatever its case and padding", () => {
    expect(normalisePropertyId("systemtime {00062002-0000-0000-c000-000000000046} id 0x820d")).toBe(
      normalisePropertyId("SystemTime  {00062002-0000-0000-C000-000000000046} Id 0x820D"),
    );
    expect(normalisePropertyId("String 0x37")).toBe(normalisePropertyId("string 0x0037"));
    expect(normalisePropertyId("String 0x0037")).not.toBe(normalisePropertyId("String 0x0042"));
  });

  it("spells an id the same way when asked again, also after more ids than it remembers", () => {
    const first = normalisePropertyId("integer  0xe07");
    // More distinct spellings than the remembered ones: the map is cleared and filled again.
    for (let i = 0; i < 3000; i++) {
      expect(normalisePropertyId(`string 0x${i.toString(16)}`)).toBe(
        `string 0x${i.toString(16).toUpperCase().padStart(4, "0")}`,
      );
    }
    expect(normalisePropertyId("integer  0xe07")).toBe(first);
    expect(first).toBe("integer 0x0E07");
  });
});

describe("itemKind", () => {
  it("tells kinds apart by message class, sub-classes included", () => {
    expect(itemKind("IPM.Note")).toBe("mail");
    expect(itemKind("IPM.Note.SMIME")).toBe("mail");
    expect(itemKind("IPM.Schedule.Meeting.Request")).toBe("mail");
    expect(itemKind("IPM.Appointment")).toBe("event");
    expect(itemKind("ipm.contact")).toBe("contact");
    expect(itemKind("IPM.DistList")).toBe("distributionList");
    expect(itemKind("IPM.Task")).toBe("task");
    expect(itemKind("IPM.StickyNote")).toBe("note");
    expect(itemKind("IPM.Notebook")).toBe("other");
  });
});

describe("itemMetadata", () => {
  it("gives an event its subject, times, location, organizer and recurrence", () => {
    const meta = itemMetadata({
      id: "e1",
      type: "IPM.Appointment",
      categories: ["Red"],
      properties: props({
        subject: "Standup",
        start: "2026-01-05T09:00:00Z",
        end: "2026-01-05T09:15:00Z",
        location: "Room 1",
        fromName: "Ann",
        fromAddress: "ann@contoso.test",
        recurrence: '{"pattern":{"type":"daily","interval":1}}',
      }),
    });
    expect(meta).toEqual({
      kind: "event",
      itemClass: "IPM.Appointment",
      categories: ["Red"],
      subject: "Standup",
      start: "2026-01-05T09:00:00Z",
      end: "2026-01-05T09:15:00Z",
      location: "Room 1",
      organizer: { emailAddress: { name: "Ann", address: "ann@contoso.test" } },
      recurrence: { pattern: { type: "daily", interval: 1 } },
    });
  });

  it("gives a contact names, addresses, phones and company; a task due and status", () => {
    expect(
      itemMetadata({
        id: "c",
        type: "IPM.Contact",
        properties: props({
          displayName: "Bo Li",
          givenName: "Bo",
          surname: "Li",
          email1: "bo@x.test",
          mobilePhone: "+1 5",
          company: "X",
        }),
      }),
    ).toMatchObject({
      kind: "contact",
      displayName: "Bo Li",
      emailAddresses: ["bo@x.test"],
      phones: ["+1 5"],
      companyName: "X",
    });
    expect(
      itemMetadata({
        id: "t",
        type: "IPM.Task",
        properties: props({ subject: "Do", due: "2026-02-01T00:00:00Z", status: "2" }),
      }),
    ).toMatchObject({
      kind: "task",
      subject: "Do",
      dueDateTime: "2026-02-01T00:00:00Z",
      status: "completed",
    });
  });

  it("gives mail the fields of Graph's message from its MAPI properties", () => {
    const meta = itemMetadata({
      id: "m",
      type: "IPM.Note",
      properties: props({
        subject: "Hi",
        messageFlags: String(0x1 | 0x10),
        importance: "2",
        flagStatus: "2",
        fromAddress: "a@x.test",
      }),
    });
    expect(meta).toMatchObject({
      kind: "mail",
      subject: "Hi",
      isRead: true,
      isDraft: false,
      hasAttachments: true,
      importance: "high",
      flag: { flagStatus: "flagged" },
      from: { emailAddress: { address: "a@x.test" } },
    });
    expect(meta).not.toHaveProperty("toRecipients");
  });

  it("gives mail its recipients' display names from PidTagDisplayTo, Cc and Bcc, without addresses", () => {
    const meta = itemMetadata({
      id: "m",
      type: "IPM.Note",
      properties: props({ displayTo: "Adele Vance; bob@x.test", displayCc: " ", displayBcc: "Carol" }),
    });
    expect(meta.toRecipients).toEqual([
      { emailAddress: { name: "Adele Vance" } },
      { emailAddress: { name: "bob@x.test" } },
    ]);
    expect(meta).not.toHaveProperty("ccRecipients");
    expect(meta.bccRecipients).toEqual([{ emailAddress: { name: "Carol" } }]);
  });
});

describe("recipients from a received message's transport headers", () => {
  const block = [
    "Received: from mail.example.test by exchange.example.test; Sun, 6 Dec 2026 10:00:00 +0000",
    'From: "Ann" <ann@x.test>',
    'To: "Vance, Adele" <adele@x.test>,',
    "\t=?utf-8?Q?J=C3=BCrgen?= <j@x.test>, <noname@x.test>",
    "CC: Team: <t1@x.test>, <t2@x.test>;, undisclosed-recipients:;",
    "Subject: Hi",
    "",
  ].join("\r\n");

  it("reads To and Cc with names and addresses (folded, encoded, in groups); Bcc stays names", () => {
    expect(recipientsFromTransportHeaders(block)).toEqual({
      to: [
        { name: "Vance, Adele", address: "adele@x.test" },
        { name: "Jürgen", address: "j@x.test" },
        { name: "", address: "noname@x.test" },
      ],
      cc: [
        { name: "", address: "t1@x.test" },
        { name: "", address: "t2@x.test" },
      ],
    });
    const meta = itemMetadata({
      id: "m",
      type: "IPM.Note",
      properties: props({
        transportHeaders: block,
        displayTo: "Vance, Adele; Jürgen; noname@x.test",
        displayBcc: "Carol",
      }),
    });
    expect(meta.toRecipients).toEqual([
      { emailAddress: { name: "Vance, Adele", address: "adele@x.test" } },
      { emailAddress: { name: "Jürgen", address: "j@x.test" } },
      { emailAddress: { name: "noname@x.test", address: "noname@x.test" } },
    ]);
    expect(meta.ccRecipients).toHaveLength(2);
    expect(meta.bccRecipients).toEqual([{ emailAddress: { name: "Carol" } }]);
  });

  it("keeps display names when there are no headers or they name nobody with an address", () => {
    expect(recipientsFromTransportHeaders(undefined)).toBeUndefined();
    expect(recipientsFromTransportHeaders("To: undisclosed-recipients:;\r\nSubject: x\r\n")).toBeUndefined();
    const meta = itemMetadata({
      id: "m",
      type: "IPM.Note",
      properties: props({ transportHeaders: "Subject: x\r\n", displayTo: "Adele Vance" }),
    });
    expect(meta.toRecipients).toEqual([{ emailAddress: { name: "Adele Vance" } }]);
  });
});

describe("withPaths", () => {
  it("orders parents before children with paths, a folder of an unknown parent at the top", () => {
    const f = (id: string, parentFolderId: string, displayName: string) => ({
      id,
      parentFolderId,
      displayName,
      folderClass: "IPF.Note",
      totalItemCount: 0,
      childFolderCount: 0,
    });
    const out = withPaths([
      f("c", "b", "Child"),
      f("b", "root", "Inbox"),
      f("a", "root", "Calendar"),
      f("x", "x", "Loop"),
    ]);
    expect(out.map((o) => [o.id, o.path])).toEqual([
      ["a", "Calendar"],
      ["b", "Inbox"],
      ["c", "Inbox/Child"],
      ["x", "Loop"],
    ]);
  });
});
