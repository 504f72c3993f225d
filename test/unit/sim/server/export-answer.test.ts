import { describe, expect, it } from "vitest";
import { type ExportEntry, exportAnswerJson } from "../../../../lib/dev/sim/server/export-answer.js";

/** The answer as JSON.stringify writes it, data as base64: what the builder must equal byte for byte. */
function stringified(context: string, entries: ExportEntry[]): string {
  return JSON.stringify({
    "@odata.context": context,
    value: entries.map((e) =>
      "data" in e
        ? { ...e, data: e.data.toString("base64") }
        : "base64" in e
          ? { itemId: e.itemId, changeKey: e.changeKey, data: e.base64 }
          : e,
    ),
  });
}

describe("exportAnswerJson", () => {
  const context = "https://localhost:8443/v1.0/$metadata#Collection(microsoft.graph.exportItemResponse)";

  it("writes the same bytes as JSON.stringify, for every base64 padding and for errors between items", () => {
    const entries: ExportEntry[] = [
      { itemId: "AAMkAGI2TAAA=", changeKey: "CQAAABYAAAB", data: Buffer.from([0, 1, 2]) },
      { itemId: "AAMkAGI2TBBB=", changeKey: "CQAAABYAAAC", data: Buffer.from([255, 254, 253, 252]) },
      { itemId: "bad id", error: { code: "ErrorInvalidIdMalformed", message: "Id is malformed." } },
      { itemId: "AAMkAGI2TCCC=", changeKey: "CQAAABYAAAD", data: Buffer.from([7, 8, 9, 10, 11]) },
      { itemId: "AAMkAGI2TDDD=", changeKey: "CQAAABYAAAE", data: Buffer.alloc(0) },
    ];
    const body = exportAnswerJson(context, entries);
    expect(body.toString("utf8")).toBe(stringified(context, entries));
    expect(JSON.parse(body.toString("utf8")).value[1].data).toBe("//79/A==");
  });

  it("escapes ids, keys and messages that need it, and counts their UTF-8 bytes", () => {
    const entries: ExportEntry[] = [
      { itemId: 'quote " and \\ back', changeKey: "ünï\u2028", data: Buffer.from("x") },
      {
        itemId: "AAMk\u00e9",
        error: {
          code: "ErrorArchiveFolderMovedPermanently",
          message: "https://h/v1.0/admin/exchange/mailboxes/MBX:é/exportItems",
        },
      },
    ];
    const body = exportAnswerJson(context, entries);
    expect(body.toString("utf8")).toBe(stringified(context, entries));
    expect(body.length).toBe(Buffer.byteLength(stringified(context, entries)));
  });

  it("writes streams given as their base64 as it writes their bytes", () => {
    const streams = [
      Buffer.from([0, 1, 2]),
      Buffer.from([255, 254, 253, 252]),
      Buffer.alloc(0),
      Buffer.from("x"),
    ];
    const asBytes: ExportEntry[] = streams.map((data, i) => ({
      itemId: `AAMk${i}=`,
      changeKey: `CQ${i}`,
      data,
    }));
    const asBase64: ExportEntry[] = streams.map((data, i) => ({
      itemId: `AAMk${i}=`,
      changeKey: `CQ${i}`,
      base64: data.toString("base64"),
    }));
    const body = exportAnswerJson(context, asBase64);
    expect(body.equals(exportAnswerJson(context, asBytes))).toBe(true);
    expect(body.toString("utf8")).toBe(stringified(context, asBase64));
  });

  it("writes an empty value list", () => {
    expect(exportAnswerJson(context, []).toString("utf8")).toBe(stringified(context, []));
  });
});
