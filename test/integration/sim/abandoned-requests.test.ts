/**
 * A client that dies with requests on the way (SIGKILL, a dropped connection) must not keep the
 * simulator's per-mailbox concurrency slots: the service forgets a request whose connection is
 * gone. Before this was fixed, a MIME request abandoned while it waited out its latency kept its
 * slot for good, and after four of them every request of the app to that mailbox drew 429.
 */
import { request } from "node:https";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningSimulator } from "../../../lib/dev/sim/server/index.js";
import { clientCredentialToken, startTestSimulator } from "./clients.js";
import { buildTestTenant, type TestTenant } from "./fixture.js";

/** Sends a GET and destroys its connection once the simulator holds it, before any answer. */
function abandon(sim: RunningSimulator, url: string, token: string): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` } });
    req.on("error", () => resolve());
    req.end();
    // Poll the served requests instead of guessing a time: destroy once the request arrived.
    const before = sim.stats().graph.requests;
    const poll = setInterval(() => {
      const arrived = Object.values(sim.stats().mailboxes).reduce((n, m) => n + m.requests, 0);
      if (arrived > before) {
        clearInterval(poll);
        req.destroy();
        resolve();
      }
    }, 5);
  });
}

describe("simulator: a client gone mid-request", () => {
  let tenant: TestTenant;
  let sim: RunningSimulator | undefined;
  beforeAll(async () => {
    tenant = await buildTestTenant();
  });
  afterEach(async () => {
    await sim?.close();
    sim = undefined;
  });

  it("gives back the concurrency slots of MIME requests abandoned while they waited", async () => {
    // Long enough that every abandoned request is still waiting when its connection goes.
    sim = await startTestSimulator({ store: tenant.store, latency: { baseMs: 500 } });
    const running = sim;
    const token = await clientCredentialToken(running);
    const auth = { headers: { authorization: `Bearer ${token}` } };
    const mailbox = `${running.baseUrl}/users/${tenant.alice.id}`;
    const list = (await fetch(`${mailbox}/mailFolders/inbox/messages?$top=4&$select=id`, auth).then((r) =>
      r.json(),
    )) as { value: Array<{ id: string }> };
    expect(list.value).toHaveLength(4);
    for (const m of list.value) await abandon(running, `${mailbox}/messages/${m.id}/$value`, token);
    // Every abandoned request has passed its wait by now.
    await new Promise((resolve) => setTimeout(resolve, 800));

    const answers = await Promise.all(
      Array.from({ length: 4 }, () => fetch(`${mailbox}/mailFolders/inbox`, auth)),
    );
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
  });
});
