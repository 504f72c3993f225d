import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { SimMessage } from "../../../lib/dev/sim/model.js";
import { generateTenant, type TenantSpec } from "../../../lib/dev/sim/tenant/generate.js";
import { OnDemandMime } from "../../../lib/dev/sim/tenant/mime.js";
import { mutateTenant } from "../../../lib/dev/sim/tenant/mutate.js";
import { Random } from "../../../lib/dev/sim/tenant/random.js";
import { allMessages, mailTruth, readAll } from "../../support/tenant-messages.js";

// A tenant with every MIME structure, a few generated-large messages and one fixed large one.
const PINNED: TenantSpec = {
  seed: 7,
  shape: "skewed",
  mailboxes: 4,
  totalMessages: 120,
  largeFraction: 0.02,
  largeMessages: [{ bytes: 70_001, mailbox: 1 }],
};

const sha256 = (data: Buffer | string) => createHash("sha256").update(data).digest("hex");

describe("MIME built on demand", () => {
  // The literals below were computed with the generator that built every message's MIME eagerly
  // (before messages became lazy): the same seed must keep giving the same bytes, ids and props.
  it("gives the same tenant, byte for byte, as the eager generator did", async () => {
    const store = generateTenant(PINNED);
    const truth = await store.groundTruth();
    const messages = truth.mailboxes.flatMap((m) => m.folders.flatMap((f) => f.messages));
    expect(messages).toHaveLength(121);
    expect(messages.slice(0, 4).map((m) => [m.id, m.sha256, m.size])).toEqual([
      [
        "AAMkAGI2SUeWoYI5fXOY1yOHZbCti62OtCxFFgOydM3W4YF5RFa_pvyr9C-dCGWQ0ITD6soWJZ2I9oQa3PSH3EItk8JXb_pD",
        "a5e5f2bb1129b627fbd20cfe0052dd52572483931880493ff2819ee83857d4eb",
        2007,
      ],
      [
        "AAMkAGI2nQofaEN9hmT8r0lb5CE56ib_Rj51-pr0A8AFE8li2IRzlf8qBD7Zm4J_6nUcAVIU1YgXf0fuTDjkWH4SxRrWL2vY",
        "cc7b51ed4ac422f9a606a27cf68d838223b4a69284736d85e56ae3e2e10ac121",
        1635,
      ],
      [
        "AAMkAGI2NOxpu0Vj7C-9GEMGsO7A0eUu0VWOjSJQ-7TFATUsPMFI04xp-jk4jD1MgDf9qqKD47FMQMYtwrf3fN1zqwYsUPR5",
        "21b1e32f88fcf1a0b78da2e804b3f42c24a616c6cc45d44ca9521806211ac583",
        1624,
      ],
      [
        "AAMkAGI27Cj-jToFManNzz2xpwIXEA7wPhGp1fqFmciAdy6JltD00-yfmDXTjlbdZzPidYmr5qa7MXnXEqa_o5F8fkSAEJgX",
        "058b3fdbf82b2edf68e344f48db6cb405a63835020d771bdc5028060f239355e",
        1078,
      ],
    ]);
    // Every id, hash, size and property of the tenant's mail, before and after a mutation round
    // (calendars, contacts, tasks, notes and archives came later, from random streams of their own).
    expect(sha256(JSON.stringify(mailTruth(truth)))).toBe(
      "87034d9706b1b6d6548f87a38281fd022a42fac2e058ce6a5e1fd033a87d0a9c",
    );
    mutateTenant(store, { seed: 3, intensity: 0.2 });
    expect(sha256(JSON.stringify(mailTruth(await store.groundTruth())))).toBe(
      "a23a049df3355c844b215610222cb60b36acd4246fbde34e3f74e672f9650278",
    );
  });

  it("serves each message's bytes with exactly its announced size, the same on every read", async () => {
    const store = generateTenant(PINNED);
    const truth = await store.groundTruth();
    const hashes = new Map(
      truth.mailboxes.flatMap((m) => m.folders.flatMap((f) => f.messages.map((x) => [x.id, x.sha256]))),
    );
    const kinds = new Set<string>();
    for (const { message } of allMessages(store)) {
      const first = await readAll(store, message);
      const second = await readAll(store, message);
      expect(first.length).toBe(message.size);
      expect(second.equals(first)).toBe(true);
      expect(sha256(first)).toBe(hashes.get(message.id));
      if (message.mime instanceof OnDemandMime) {
        expect(message.mime.bytes.equals(first)).toBe(true);
        kinds.add(/multipart\/(\w+)/.exec(first.toString("latin1"))?.[1] ?? "single");
      }
    }
    expect([...kinds].sort()).toEqual(["alternative", "mixed", "single"]);
  });

  it("keeps a new MIME given to a generated message (as an upload session does)", async () => {
    const store = generateTenant(PINNED);
    const { userId, message } = allMessages(store)[0] as { userId: string; message: SimMessage };
    const folderBefore = store.folderStats(userId, message.parentFolderId).sizeBytes;
    const next = Buffer.concat([await readAll(store, message), Buffer.from("extra part\r\n")]);
    const replaced = store.replaceMessageMime(userId, message.id, { kind: "bytes", bytes: next });
    expect(replaced.size).toBe(next.length);
    expect((await readAll(store, replaced)).equals(next)).toBe(true);
    expect(store.folderStats(userId, message.parentFolderId).sizeBytes).toBe(
      folderBefore - message.size + next.length,
    );
  });

  it("holds no MIME buffer for the 40,000 messages of a 200-mailbox tenant, and still gives the eager bytes", async () => {
    const store = generateTenant({ seed: 7, shape: "uniform", mailboxes: 200, totalMessages: 40_000 });
    const messages = allMessages(store);
    expect(messages).toHaveLength(40_000);
    let onDemand = 0;
    for (const { message } of messages) {
      // A large message streams from a generator; every other one is built when read.
      if (message.mime.kind === "generated") continue;
      expect(message.mime).toBeInstanceOf(OnDemandMime);
      const held = Object.getOwnPropertyDescriptor(message.mime, "bytes");
      expect(held?.get).toBeTypeOf("function");
      expect(held?.value).toBeUndefined();
      onDemand++;
    }
    expect(onDemand).toBeGreaterThan(39_800);
    // Every 40th message (1,000, across all mailboxes): id, bytes and size as the eager generator
    // gave them. (The whole tenant's ground truth matches too, but takes most of a minute here.)
    const sample: Array<[string, string, number]> = [];
    for (const [k, { message }] of messages.entries()) {
      if (k % 40 === 0) sample.push([message.id, sha256(await readAll(store, message)), message.size]);
    }
    expect(sample).toHaveLength(1000);
    expect(sha256(JSON.stringify(sample))).toBe(
      "82ebc295534b7e3ad4b78b1e26f62cdc558eb1b1471ed0f48d03bcd46add0ec9",
    );
  }, 240_000);
});

describe("Random.skip and clone", () => {
  it("skip(n) lands where n draws land; a clone yields what the original will", () => {
    for (const n of [0, 1, 7, 10_000]) {
      const drawn = new Random(12345);
      for (let i = 0; i < n; i++) drawn.uint32();
      const skipped = new Random(12345);
      skipped.skip(n);
      const clone = skipped.clone();
      const ahead = [skipped.uint32(), skipped.uint32()];
      expect(ahead).toEqual([drawn.uint32(), drawn.uint32()]);
      expect([clone.uint32(), clone.uint32()]).toEqual(ahead);
    }
    expect(() => new Random(1).skip(-1)).toThrow(/whole number of draws/);
  });
});
