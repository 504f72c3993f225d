import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { ConfigError } from "../../../lib/errors.js";
import { createTokenProvider } from "../../../lib/graph/auth.js";
import { listFolders } from "../../../lib/graph/folders.js";
import { discoverMailboxes } from "../../../lib/graph/mailboxes.js";
import { buildTenant, type GraphTestTenant, gatewayFor, startSim } from "./fixture.js";

let tenant: GraphTestTenant;
let sim: RunningSimulator;

beforeAll(async () => {
  tenant = buildTenant();
  sim = await startSim(tenant.store);
});
afterAll(async () => {
  await sim?.close();
});

describe("token provider", () => {
  it("gets a token from the simulator with the token POST as the only call", async () => {
    sim.resetStats();
    const tokens = createTokenProvider({
      tenantId: sim.tenantId,
      clientId: sim.clientId,
      credential: { clientSecret: sim.clientSecret as string },
      authority: sim.authority,
      knownAuthorities: sim.knownAuthorities,
      authorityMetadata: sim.msalAuthorityMetadata,
    });
    // A burst of first callers shares one token request.
    const burst = await Promise.all([tokens.getToken(), tokens.getToken(), tokens.getToken()]);
    expect(new Set(burst).size).toBe(1);
    const second = await tokens.getToken();
    expect(second).toBe(burst[0]);
    const auth = sim.stats().auth;
    expect(auth.tokenRequests).toBe(1);
    expect(auth.metadataRequests).toBe(0);
    expect(auth.otherRequests).toEqual([]);
    tokens.invalidate();
    await tokens.getToken();
    expect(sim.stats().auth.tokenRequests).toBe(2);
  });

  it("refuses a wrong secret with one fatal line naming the MSAL error code and the setting to fix", async () => {
    const tokens = createTokenProvider({
      tenantId: sim.tenantId,
      clientId: sim.clientId,
      credential: { clientSecret: "not-the-secret" },
      authority: sim.authority,
      knownAuthorities: sim.knownAuthorities,
      authorityMetadata: sim.msalAuthorityMetadata,
    });
    const error = await tokens.getToken().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({
      kind: "fatal",
      field: expect.stringContaining("MAILSTREAM_CLIENT_SECRET"),
    });
    expect((error as Error).message).toContain("invalid_client");
    expect((error as Error).message).not.toContain("\n");
  });
});

describe("discoverMailboxes", () => {
  it("finds the mailboxes with their purpose and skips users without a usable one, with reasons", async () => {
    const gateway = gatewayFor(sim);
    sim.faults.denyMailbox(tenant.room.id);
    try {
      const result = await discoverMailboxes(gateway);
      expect(result.mailboxes.map((m) => [m.address, m.purpose]).sort()).toEqual([
        ["alice@contoso.test", "user"],
        ["support@contoso.test", "shared"],
      ]);
      const reasons = Object.fromEntries(result.skipped.map((s) => [s.upn, s.reason]));
      expect(reasons).toEqual({
        "boardroom@contoso.test": "ErrorAccessDenied",
        "gone@contoso.test": "MailboxNotEnabledForRESTAPI",
        "nomail@contoso.test": "no mail address (no Exchange mailbox)",
      });
    } finally {
      sim.faults.denyMailbox(tenant.room.id, false);
    }
  });

  it("applies include and exclude rules by address and domain", async () => {
    const gateway = gatewayFor(sim);
    const result = await discoverMailboxes(gateway, {
      include: ["@contoso.test"],
      exclude: ["Support@contoso.test"],
    });
    expect(result.mailboxes.map((m) => m.address).sort()).toEqual([
      "alice@contoso.test",
      "boardroom@contoso.test",
    ]);
    expect(result.skipped.find((s) => s.upn === "support@contoso.test")?.reason).toBe(
      "excluded by rule support@contoso.test",
    );
    const none = await discoverMailboxes(gateway, { include: ["@fabrikam.test"] });
    expect(none.mailboxes).toEqual([]);
  });
});

describe("listFolders", () => {
  it("walks the whole tree (hidden, search, nested, paged) and equals the ground truth", async () => {
    const gateway = gatewayFor(sim);
    const folders = await listFolders(gateway, tenant.alice.id);
    const truth = (await tenant.store.groundTruth()).mailboxes.find((m) => m.userId === tenant.alice.id);
    expect(truth).toBeDefined();
    const expected = (truth?.folders ?? [])
      .map((f) => ({ id: f.id, path: f.path, isHidden: f.isHidden, isSearchFolder: f.isSearchFolder }))
      .sort((a, b) => a.id.localeCompare(b.id));
    const got = folders
      .map((f) => ({ id: f.id, path: f.path, isHidden: f.isHidden, isSearchFolder: f.isSearchFolder }))
      .sort((a, b) => a.id.localeCompare(b.id));
    expect(got).toEqual(expected);
    const inbox = folders.find((f) => f.id === tenant.inboxId);
    const inboxTruth = truth?.folders.find((f) => f.id === tenant.inboxId);
    expect(inbox?.totalItemCount).toBe(inboxTruth?.messages.length);
    expect(inbox?.unreadItemCount).toBe(inboxTruth?.messages.filter((m) => !m.isRead).length);
    expect(inbox?.sizeBytes).toBe(inboxTruth?.messages.reduce((sum, m) => sum + m.size, 0));
    const receipts = folders.find((f) => f.path === "Inbox/Receipts");
    expect(receipts?.parentFolderId).toBe(tenant.inboxId);
  });
});
