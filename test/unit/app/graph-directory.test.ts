import { describe, expect, it } from "vitest";
import { createMailboxDirectory } from "../../../lib/app/graph-ports.js";
import type { TokenProvider } from "../../../lib/graph/auth.js";
import { createGraphGateway } from "../../../lib/graph/client.js";
import { MailboxNotFoundError } from "../../../lib/graph/errors.js";

const BASE = "https://graph.example.test/v1.0";
const tokens: TokenProvider = { getToken: async () => "t", invalidate() {} };
const USERS = ["u1", "u2", "u3"];

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** Answers alone (GET) or inside a batch: `/users`, probes, mailbox ids (u2's gone when asked), folder trees. */
function answer(path: string, idsGoneFor?: string): { status: number; body: unknown } {
  if (path === "/users") {
    return {
      status: 200,
      body: {
        value: USERS.map((id) => ({
          id,
          userPrincipalName: `${id}@t.test`,
          displayName: id,
          mail: `${id}@t.test`,
        })),
      },
    };
  }
  const probe = /^\/users\/(\w+)\/mailboxSettings$/.exec(path);
  if (probe) return { status: 200, body: { userPurpose: "user" } };
  const ids = /^\/users\/(\w+)\/settings\/exchange$/.exec(path);
  if (ids) {
    if (ids[1] === idsGoneFor)
      return { status: 404, body: { error: { code: "MailboxNotEnabledForRESTAPI", message: "Gone." } } };
    return { status: 200, body: { primaryMailboxId: `MBX:${ids[1]}@t`, inPlaceArchiveMailboxId: null } };
  }
  if (/\/folders\/delta$/.test(path)) {
    return {
      status: 200,
      body: {
        value: [
          { id: "f1", displayName: "Inbox", parentFolderId: "root", type: "IPF.Note", totalItemCount: 1 },
        ],
        "@odata.deltaLink": `${BASE}/delta-done`,
      },
    };
  }
  return { status: 400, body: { error: { code: "BadRequest", message: `unexpected ${path}` } } };
}

/** A fake Graph whose batches of mailbox ids fail as a whole (`idsBatch: "fail"`) or answer per user. */
function directory(idsBatch: "fail" | "answer", idsGoneFor?: string) {
  const singles: string[] = [];
  const batched: string[] = [];
  const fetchImpl = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const path = decodeURIComponent(url.pathname.replace(/^\/v1\.0/, ""));
    if (path === "/$batch") {
      const { requests } = JSON.parse(String(init?.body)) as { requests: Array<{ id: string; url: string }> };
      if (idsBatch === "fail" && requests.some((r) => r.url.includes("/settings/exchange")))
        return json({ error: { code: "BadRequest", message: "No batching here." } }, 400);
      batched.push(...requests.map((r) => r.url));
      return json({
        responses: requests.map((r) => ({ id: r.id, headers: {}, ...answer(r.url, idsGoneFor) })),
      });
    }
    singles.push(path);
    const a = answer(path, idsGoneFor);
    return json(a.body, a.status);
  }) as typeof fetch;
  const gateway = createGraphGateway({ tokens, baseUrl: BASE, policy: { fetch: fetchImpl } });
  return { directory: createMailboxDirectory(gateway, { include: [], exclude: [] }), singles, batched };
}

describe("the Graph mailbox directory with $batch", () => {
  it("reads a page's mailbox ids in one batch after its probes, and each listing uses its user's", async () => {
    const { directory: d, singles, batched } = directory("answer");
    const page = await d.discoverPage(undefined, 999);
    expect(page.mailboxes.map((m) => m.userId)).toEqual(USERS);
    expect(batched).toEqual([
      ...USERS.map((u) => `/users/${u}/mailboxSettings`),
      ...USERS.map((u) => `/users/${u}/settings/exchange`),
    ]);
    const listing = await d.listFolders("u2");
    expect(listing.mailboxIds).toEqual({ primary: "MBX:u2@t" });
    expect(listing.folders.map((f) => f.path)).toEqual(["Inbox"]);
    expect(singles.filter((p) => p.includes("/settings/exchange"))).toEqual([]);
  });

  it("fails the listing of a user whose batched read failed with that read's error, as its own read would", async () => {
    const { directory: d, singles } = directory("answer", "u2");
    await d.discoverPage(undefined, 999);
    const failed = await d.listFolders("u2").catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(MailboxNotFoundError);
    expect(failed).toMatchObject({ code: "MailboxNotEnabledForRESTAPI" });
    expect((await d.listFolders("u1")).mailboxIds).toEqual({ primary: "MBX:u1@t" });
    // Nothing was read twice.
    expect(singles.filter((p) => p.includes("/settings/exchange"))).toEqual([]);
  });

  it("lets each listing read its own ids when the batches of ids fail as a whole", async () => {
    const { directory: d, singles } = directory("fail");
    const page = await d.discoverPage(undefined, 999);
    expect(page.mailboxes).toHaveLength(3);
    for (const user of USERS)
      expect((await d.listFolders(user)).mailboxIds).toEqual({ primary: `MBX:${user}@t` });
    expect(singles.filter((p) => p.includes("/settings/exchange")).sort()).toEqual(
      USERS.map((u) => `/users/${u}/settings/exchange`),
    );
  });
});
