import { describe, expect, it } from "vitest";
import { InvalidKeyError } from "../../../lib/archive/errors.js";
import {
  assertValidKey,
  blobKey,
  catalogPartKey,
  compareJobIds,
  keySegment,
  parseCatalogPartKey,
  parseSnapshotKey,
  snapshotKey,
} from "../../../lib/archive/keys.js";

describe("archive keys", () => {
  it("refuses keys that could escape a folder or collide", () => {
    for (const bad of ["", "/abs", "a//b", "a/../b", "..", "./a", "a\\b", "a/\0"]) {
      expect(() => assertValidKey(bad), bad).toThrow(InvalidKeyError);
    }
    expect(() => assertValidKey("blobs/sha256/aa/bb/x.eml")).not.toThrow();
  });

  it("keeps an id with / or = inside one segment and reads it back", () => {
    const part = {
      mailboxId: "m/1=",
      jobId: "2026-11-29T04-38-00Z-ab12",
      folderId: "AAMk+/x==",
      unit: 3,
      page: 12,
    };
    const key = catalogPartKey(part);
    expect(key).toBe(
      `catalog/mailbox=${keySegment("m/1=")}/job=2026-11-29T04-38-00Z-ab12/folder=${keySegment("AAMk+/x==")}/part-0003-000012.jsonl`,
    );
    expect(key.split("/")).toHaveLength(5);
    expect(parseCatalogPartKey(key)).toEqual(part);
    expect(parseCatalogPartKey("catalog/mailbox=a/job=b/folders.jsonl")).toBeUndefined();
    expect(parseSnapshotKey(snapshotKey("m", "j/1"))).toBe("j/1");
  });

  it("fans blobs out by the first two byte pairs and refuses non-hashes", () => {
    const sha = "ab".repeat(32);
    expect(blobKey(sha)).toBe(`blobs/sha256/ab/ab/${sha}.eml`);
    expect(blobKey(sha, "mime")).toBe(`blobs/sha256/ab/ab/${sha}.eml`);
    expect(blobKey(sha, "export")).toBe(`blobs/sha256/ab/ab/${sha}.fts`);
    expect(() => blobKey("../etc")).toThrow(InvalidKeyError);
    expect(() => blobKey("AB".repeat(32))).toThrow(InvalidKeyError);
  });

  it("orders job ids by their time prefix", () => {
    const ids = ["2026-11-29T10-00-00Z-aa", "2026-11-29T04-38-00Z-zz", "2026-12-01T00-00-00Z-00"];
    expect([...ids].sort(compareJobIds)).toEqual([ids[1], ids[0], ids[2]]);
  });
});
