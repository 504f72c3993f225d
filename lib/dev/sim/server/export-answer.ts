/**
 * The body of an `exportItems` answer, encoded straight to bytes: `{"@odata.context": …,
 * "value": [{itemId, changeKey, data} | {itemId, error}, …]}`, byte for byte what
 * `JSON.stringify` gives for the same object with `data` as base64. Each item's base64 is written
 * once into the body; through `JSON.stringify` the 20 items' 90 KiB were scanned and copied three
 * times more (the largest share of the simulator's CPU on an export after building the items).
 */

/**
 * One entry of the answer: an item's export stream (its bytes, or their base64 already made),
 * or why the item was not exported.
 */
export type ExportEntry =
  | { itemId: string; changeKey: string; data: Buffer }
  | { itemId: string; changeKey: string; base64: string }
  | { itemId: string; error: { code: string; message: string } };

/** Base64 length of `n` bytes (padded). */
function base64Length(n: number): number {
  return 4 * Math.ceil(n / 3);
}

export function exportAnswerJson(context: string, entries: readonly ExportEntry[]): Buffer {
  // In order: JSON text (ids, keys and errors escaped by JSON.stringify) and the bytes whose
  // base64 goes between the quotes of a `data` value (base64 needs no escaping).
  const pieces: Array<string | Buffer | { base64: string }> = [
    `{"@odata.context":${JSON.stringify(context)},"value":[`,
  ];
  entries.forEach((entry, i) => {
    const comma = i === 0 ? "" : ",";
    if ("data" in entry || "base64" in entry) {
      pieces.push(
        `${comma}{"itemId":${JSON.stringify(entry.itemId)},"changeKey":${JSON.stringify(entry.changeKey)},"data":"`,
        "data" in entry ? entry.data : { base64: entry.base64 },
        '"}',
      );
    } else {
      pieces.push(`${comma}${JSON.stringify(entry)}`);
    }
  });
  pieces.push("]}");
  let size = 0;
  for (const piece of pieces) {
    if (typeof piece === "string") size += Buffer.byteLength(piece);
    else if (Buffer.isBuffer(piece)) size += base64Length(piece.length);
    else size += piece.base64.length;
  }
  const body = Buffer.allocUnsafe(size);
  let at = 0;
  for (const piece of pieces) {
    if (typeof piece === "string") at += body.write(piece, at);
    else at += body.write(Buffer.isBuffer(piece) ? piece.toString("base64") : piece.base64, at, "latin1");
  }
  return body;
}
