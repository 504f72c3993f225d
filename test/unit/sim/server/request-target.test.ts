import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { plainTarget } from "../../../../lib/dev/sim/server/index.js";

const BASE = "https://localhost:8443";

describe("a Graph request's target split without the URL parser", () => {
  it("gives the path and query the URL parser gives, or leaves the target to it", () => {
    // Targets from pieces a client's URLs are made of, and the ones the URL parser rewrites.
    const piece = fc.constantFrom(
      "/",
      "v1.0",
      "users",
      "a%40b.com",
      "folders('AAMk=')",
      "items",
      "delta",
      ".",
      "..",
      "%2e",
      "%2E%2e",
      "//",
      "\\",
      " ",
      "#",
      "?",
      "&",
      "=",
      "$expand=singleValueExtendedProperties($filter=id eq 'String 0x0037')",
      "$deltatoken=eyJjdXJzb3I",
      "+",
      "%",
      "%zz",
      "é",
      "[",
      "|",
      "`",
      "{",
      '"',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 12 }), (pieces) => {
        const target = `/${pieces.join("")}`;
        const plain = plainTarget(target);
        if (plain === undefined) return;
        const url = new URL(target, BASE);
        expect(plain.path).toBe(url.pathname);
        expect([...new URLSearchParams(plain.search)]).toEqual([...url.searchParams]);
      }),
      { numRuns: 3000 },
    );
  });

  it("takes a client's requests as they are and leaves dot segments, doubled slashes and fragments to the parser", () => {
    const delta =
      "/v1.0/admin/exchange/mailboxes/MBX:1@t/folders/AAMk%3D/items/delta?$select=id,type&$expand=singleValueExtendedProperties($filter=id%20eq%20'String%200x0037')";
    expect(plainTarget(delta)).toEqual({
      path: "/v1.0/admin/exchange/mailboxes/MBX:1@t/folders/AAMk%3D/items/delta",
      search: "?$select=id,type&$expand=singleValueExtendedProperties($filter=id%20eq%20'String%200x0037')",
    });
    expect(plainTarget("/v1.0/users")).toEqual({ path: "/v1.0/users", search: "" });
    for (const other of [
      "/v1.0/../_admin/stats",
      "/v1.0/%2e%2e/x",
      "//host/v1.0",
      "/v1.0\\users",
      "/v1.0/a#b",
      "/v1.0/ä",
    ])
      expect(plainTarget(other)).toBeUndefined();
  });
});
