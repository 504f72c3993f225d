import { describe, expect, it } from "vitest";
import type { ItemContent } from "../../../lib/dev/sim/item-model.js";
import { lazyOf } from "../../../lib/dev/sim/tenant/items/content.js";
import {
  graphPropertyId,
  P,
  PROPERTY_SETS,
  parseGraphPropertyId,
} from "../../../lib/dev/sim/tenant/items/properties.js";
import {
  CorruptExportDataError,
  decodeItem,
  EXPORT_FORMAT_VERSION,
  type ExportedItem,
  encodedSize,
  encodeItem,
} from "../../../lib/dev/sim/tenant/items/stream.js";

/** An item with a value of every type, recipients, a file attachment and an embedded item. */
function everyType(): ExportedItem {
  const embedded: ItemContent = {
    props: [
      { def: P.messageClass, value: "IPM.OLE.CLASS.{00061055-0000-0000-C000-000000000046}" },
      { def: P.subject, value: "Exception ✈️" },
    ],
    recipients: [[{ def: P.smtpAddress, value: "x@y.test" }]],
    attachments: [],
  };
  return {
    record: {
      itemClass: "IPM.Appointment",
      createdDateTime: "2024-05-06T07:08:09Z",
      lastModifiedDateTime: "2024-05-06T07:08:09.123Z",
      categories: ["Red category", "Проект"],
    },
    content: {
      props: [
        { def: { kind: "tag", id: 0x0001, type: "int16" }, value: -12 },
        { def: P.importance, value: 2 },
        { def: P.percentComplete, value: 0.75 },
        { def: P.allDayEvent, value: true },
        { def: { kind: "tag", id: 0x0e08, type: "int64" }, value: 2 ** 40 + 3 },
        { def: P.subject, value: "会議 — Réunion 🎉" },
        { def: { kind: "tag", id: 0x0ff9, type: "guid" }, value: "0006200e-0000-0000-c000-000000000046" },
        { def: P.startWhole, value: "2025-01-02T03:04:05Z" },
        { def: { kind: "tag", id: 0x0ff8, type: "binary" }, value: Buffer.from([0, 1, 2, 255]) },
        { def: P.keywords, value: ["a", "", "ü"] },
        { def: P.deletedOccurrences, value: ["2025-01-09T03:04:05Z", "2025-01-16T03:04:05Z"] },
        {
          def: { kind: "name", set: PROPERTY_SETS.simulator, name: "Custom name", type: "string" },
          value: "named",
        },
      ],
      recipients: [
        [
          { def: P.recipientType, value: 1 },
          { def: P.displayName, value: "Zoë" },
        ],
        [],
      ],
      attachments: [
        {
          props: [
            { def: P.attachLongFilename, value: "a.bin" },
            { def: P.attachDataBinary, value: lazyOf(Buffer.alloc(70_000, 7)) },
          ],
        },
        { props: [{ def: P.attachMethod, value: 5 }], embedded },
      ],
    },
  };
}

/** The item as decoding gives it back: lazy bytes as buffers. */
function materialized(item: ExportedItem): unknown {
  return JSON.parse(
    JSON.stringify(item, (_k, v) =>
      v && typeof v === "object" && "bytes" in v && "size" in v
        ? (v as { bytes(): Buffer }).bytes().toJSON()
        : v,
    ),
  );
}

describe("the export stream (MSFX v1)", () => {
  it("round-trips every value type, recipients, attachments and embedded items byte for byte", () => {
    const item = everyType();
    const data = encodeItem(item);
    expect(data.subarray(0, 4).toString("latin1")).toBe("MSFX");
    expect(data.readUInt16LE(4)).toBe(EXPORT_FORMAT_VERSION);
    expect(encodedSize(item)).toBe(data.length);
    const decoded = decodeItem(data);
    expect(JSON.parse(JSON.stringify(decoded))).toEqual(materialized(item));
    expect(encodeItem(decoded).equals(data)).toBe(true);
  });

  it("detects a changed byte, a cut stream, another version and other data", () => {
    const data = encodeItem(everyType());
    for (const at of [8, 40, data.length - 10]) {
      const changed = Buffer.from(data);
      changed[at] = (changed[at] ?? 0) ^ 0x01;
      expect(() => decodeItem(changed)).toThrow(CorruptExportDataError);
    }
    expect(() => decodeItem(data.subarray(0, data.length - 1))).toThrow(CorruptExportDataError);
    const newer = Buffer.from(data);
    newer.writeUInt16LE(2, 4);
    expect(() => decodeItem(newer)).toThrow(/format version 1, found 2/);
    expect(() => decodeItem(Buffer.from("From: a@b\r\n\r\nhello, world"))).toThrow(/MSFX header/);
  });

  it("writes Graph's extended property ids and parses them back, in any case and padding", () => {
    expect(graphPropertyId(P.subject)).toBe("String 0x0037");
    expect(graphPropertyId(P.startWhole)).toBe("SystemTime {00062002-0000-0000-C000-000000000046} Id 0x820D");
    expect(graphPropertyId(P.keywords)).toBe(
      "StringArray {00020329-0000-0000-C000-000000000046} Name Keywords",
    );
    for (const def of [P.subject, P.startWhole, P.keywords, P.percentComplete, P.taskComplete]) {
      expect(parseGraphPropertyId(graphPropertyId(def))).toEqual(def);
    }
    // Types, GUIDs and ids in any case; names as they are (MAPI names are case-sensitive).
    expect(parseGraphPropertyId("systemtime {00062002-0000-0000-c000-000000000046} id 0x820d")).toEqual(
      P.startWhole,
    );
    expect(parseGraphPropertyId("string 0x37")).toEqual(P.subject);
    expect(parseGraphPropertyId("Nonsense 0x0037")).toBeUndefined();
  });
});
