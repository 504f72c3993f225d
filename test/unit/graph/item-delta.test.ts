import { describe, expect, it } from "vitest";
import type { GraphGateway } from "../../../lib/graph/client.js";
import { itemDeltaPages, mailboxOfLink, movedLink } from "../../../lib/graph/item-delta.js";

/** A gateway whose GETs answer the given pages in order (the only call item delta makes). */
function pagesGateway(pages: unknown[]): GraphGateway {
  let i = 0;
  return { get: async () => pages[i++] } as unknown as GraphGateway;
}

const base = "https://graph.example/v1.0/admin/exchange/mailboxes";

describe("item delta pages", () => {
  it("names the mailbox that served a page when its links name another one than asked", async () => {
    const gateway = pagesGateway([
      {
        value: [{ id: "i1", type: "IPM.Note" }],
        "@odata.nextLink": `${base}/MBX%3Aaux/folders/F/items/delta?$skiptoken=1`,
      },
      {
        value: [{ id: "i2", type: "IPM.Note" }],
        "@odata.deltaLink": `${base}/MBX:aux/folders/F/items/delta?$deltatoken=2`,
      },
    ]);
    const pages = [];
    for await (const page of itemDeltaPages(gateway, "MBX:archive", "F", { trafficKey: "k" }))
      pages.push(page);
    expect(pages.map((p) => p.servedBy)).toEqual(["MBX:aux", "MBX:aux"]);
  });

  it("leaves it out when the links name the mailbox asked (in any case) or none", async () => {
    const gateway = pagesGateway([
      { value: [], "@odata.nextLink": `${base}/mbx:archive/folders/F/items/delta?$skiptoken=1` },
      { value: [], "@odata.deltaLink": "https://graph.example/v1.0/elsewhere?$deltatoken=2" },
    ]);
    const pages = [];
    for await (const page of itemDeltaPages(gateway, "MBX:archive", "F", { trafficKey: "k" }))
      pages.push(page);
    expect(pages.map((p) => p.servedBy)).toEqual([undefined, undefined]);
    expect(mailboxOfLink(undefined)).toBeUndefined();
    expect(mailboxOfLink(`${base}/MBX%3Ax%40y/exportItems`)).toBe("MBX:x@y");
  });
});

describe("a batched redirect's link", () => {
  const gateway = { baseUrl: "https://graph.example/v1.0" };
  it("keeps an absolute Location under the base URL and resolves a root-relative one against the origin", () => {
    const link =
      "https://graph.example/v1.0/admin/exchange/mailboxes/MBX:aux/folders/F/items/delta?$select=id";
    expect(movedLink(gateway, link)).toBe(link);
    expect(
      movedLink(gateway, "/v1.0/admin/exchange/mailboxes/MBX:aux/folders/F/items/delta?$select=id"),
    ).toBe(link);
  });
  it("gives nothing for a Location the batch's gateway cannot follow (another host, version or a relative path)", () => {
    expect(movedLink(gateway, "https://elsewhere.example/v1.0/admin/x")).toBeUndefined();
    expect(movedLink(gateway, "/beta/admin/x")).toBeUndefined();
    expect(movedLink(gateway, "items/delta")).toBeUndefined();
  });
});
