import { describe, expect, it } from "vitest";
import type { TokenProvider } from "../../../lib/graph/auth.js";
import { createGraphGateway } from "../../../lib/graph/client.js";
import { discoverMailboxes, parseMailboxRule } from "../../../lib/graph/mailboxes.js";

const BASE = "https://graph.example.test/v1.0";
const tokens: TokenProvider = { getToken: async () => "t", invalidate() {} };

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

/** A tiny directory: three users, group memberships, all with mailboxes. */
function directoryFetch(seen: string[]) {
  const users = [
    { id: "u1", userPrincipalName: "ann@contoso.test", displayName: "Ann", mail: "ann@contoso.test" },
    { id: "u2", userPrincipalName: "ben@contoso.test", displayName: "Ben", mail: "ben@contoso.test" },
    { id: "u3", userPrincipalName: "cy@fabrikam.test", displayName: "Cy", mail: "cy@fabrikam.test" },
  ];
  const groups: Record<string, string[]> = { u1: ["Sales"], u2: ["Sales", "Board"], u3: [] };
  const answer = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    seen.push(url.pathname + url.search);
    if (url.pathname === "/v1.0/$batch") {
      // Each inner request answered as it would be alone.
      const { requests } = JSON.parse(String(init?.body)) as { requests: Array<{ id: string; url: string }> };
      const responses = await Promise.all(
        requests.map(async (r) => {
          const inner = await answer(`${BASE}${r.url}`);
          return { id: r.id, status: inner.status, headers: {}, body: await inner.json() };
        }),
      );
      return json({ responses });
    }
    if (url.pathname === "/v1.0/users") {
      // Two pages: the second only through the nextLink.
      if (url.searchParams.get("$skiptoken") === "p2") return json({ value: users.slice(2) });
      return json({ value: users.slice(0, 2), "@odata.nextLink": `${BASE}/users?$skiptoken=p2` });
    }
    const member = /^\/v1\.0\/users\/(\w+)\/memberOf$/.exec(url.pathname);
    if (member)
      return json({ value: (groups[member[1] as string] ?? []).map((displayName) => ({ displayName })) });
    const probe = /^\/v1\.0\/users\/(\w+)\/mailboxSettings$/.exec(url.pathname);
    if (probe) return json({ userPurpose: probe[1] === "u2" ? "shared" : "user" });
    return json({ error: { code: "BadRequest" } }, 400);
  }) as typeof fetch;
  return answer;
}

describe("parseMailboxRule", () => {
  it("tells addresses, domains and groups apart", () => {
    expect(parseMailboxRule("Ann@Contoso.test")).toEqual({ kind: "address", value: "ann@contoso.test" });
    expect(parseMailboxRule("@Contoso.test")).toEqual({ kind: "domain", value: "contoso.test" });
    expect(parseMailboxRule("group: Sales Team")).toEqual({ kind: "group", value: "sales team" });
  });
});

describe("discoverMailboxes with group rules", () => {
  it("reads memberOf only when a group rule exists, and applies include then exclude", async () => {
    const seen: string[] = [];
    const gateway = createGraphGateway({ tokens, baseUrl: BASE, policy: { fetch: directoryFetch(seen) } });
    const result = await discoverMailboxes(gateway, {
      include: ["group:sales", "@fabrikam.test"],
      exclude: ["group:Board"],
    });
    expect(result.mailboxes).toEqual([
      { userId: "u1", address: "ann@contoso.test", displayName: "Ann", purpose: "user", groups: ["sales"] },
      { userId: "u3", address: "cy@fabrikam.test", displayName: "Cy", purpose: "user", groups: [] },
    ]);
    expect(result.skipped).toEqual([
      { userId: "u2", upn: "ben@contoso.test", reason: "excluded by rule group:board" },
    ]);
    expect(seen.filter((s) => s.includes("/memberOf"))).toHaveLength(3);
    expect(seen.filter((s) => s.includes("/mailboxSettings"))).toHaveLength(2);
    // Each page's probes went out in one batch.
    expect(seen.filter((s) => s.endsWith("/$batch"))).toHaveLength(2);

    const plainSeen: string[] = [];
    const plain = createGraphGateway({ tokens, baseUrl: BASE, policy: { fetch: directoryFetch(plainSeen) } });
    const all = await discoverMailboxes(plain);
    expect(all.mailboxes.map((m) => [m.userId, m.purpose])).toEqual([
      ["u1", "user"],
      ["u2", "shared"],
      ["u3", "user"],
    ]);
    expect(all.mailboxes[0]).not.toHaveProperty("groups");
    expect(plainSeen.some((s) => s.includes("/memberOf"))).toBe(false);
    expect(plainSeen[0]).toContain("$top=999");
  });
});

describe("streamed responses", () => {
  it("release the mailbox slot when the consumer abandons the stream without destroying it", async () => {
    // A body that would go on for ever; the consumer reads one chunk and walks away.
    const endless = (async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          pull(controller) {
            controller.enqueue(new Uint8Array(1024));
          },
        }),
        { status: 200 },
      )) as typeof fetch;
    const gateway = createGraphGateway({
      tokens,
      baseUrl: BASE,
      policy: { fetch: endless, streamIdleTimeoutMs: 50 },
    });
    const stream = await gateway.stream("/users/u1/messages/m1/$value");
    const failed = new Promise<unknown>((resolve) => stream.once("error", resolve));
    await new Promise<void>((resolve) => stream.once("data", () => resolve()));
    stream.pause();
    expect(gateway.traffic.inUse("u1")).toBe(1);
    await expect.poll(() => gateway.traffic.inUse("u1"), { timeout: 5000 }).toBe(0);
    stream.resume();
    expect(await failed).toMatchObject({ kind: "retryable" });
  });
});
