/**
 * export / restore / verify against a backed-up simulated tenant: exports equal the simulator's
 * ground truth (SHA-256 per message), also at an earlier job; a restore into another mailbox
 * holds the same messages in the same folders with the same properties, and a second restore
 * adds nothing; verify finds a corrupted and a deleted blob.
 */
import { execFileSync } from "node:child_process";
import { cpSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { exportCommand } from "../../../lib/cli/commands/export.js";
import { restoreCommand } from "../../../lib/cli/commands/restore.js";
import { verifyCommand } from "../../../lib/cli/commands/verify.js";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import type { LocalStack } from "../../../lib/dev/local/stack.js";
import type { GroundTruth, generateTenant } from "../../../lib/dev/sim/index.js";
import { safeRelativePath } from "../../../lib/export/export-messages.js";
import { splitMbox } from "../../../lib/export/mbox.js";
import { sha } from "../../support/archive-entries.js";
import { captureIO } from "../../support/command-io.js";
import { backUpTwice, type TwoJobArchive } from "../../support/two-job-archive.js";

let dir: string;
let archive: string;
let job1: string;
let truth1: GroundTruth;
let truth2: GroundTruth;
let tenant: ReturnType<typeof generateTenant>;
let stack: LocalStack;
let fixture: TwoJobArchive | undefined;

/** Folder path → sorted SHA-256s of its messages, for folders holding messages. */
function truthHashes(truth: GroundTruth, address: string): Map<string, string[]> {
  const mailbox = truth.mailboxes.find((m) => m.address === address)!;
  return new Map(
    mailbox.folders
      .filter((f) => !f.isSearchFolder && f.messages.length > 0)
      .map((f) => [f.path, f.messages.map((m) => m.sha256).sort()]),
  );
}

function readMboxTree(out: string): Map<string, string[]> {
  const found = new Map<string, string[]>();
  for (const file of readdirSync(out, { recursive: true }) as string[]) {
    if (!file.endsWith(".mbox")) continue;
    const hashes = splitMbox(readFileSync(join(out, file)))
      .map(sha)
      .sort();
    if (hashes.length > 0) found.set(file.slice(0, -".mbox".length), hashes);
  }
  return found;
}

beforeAll(async () => {
  fixture = await backUpTwice({
    prefix: "mailstream-export-",
    // Every message an object of its own, gzip-compressed where it pays (.eml.gz): export,
    // restore and verify read them back as the exact MIME.
    compression: true,
    tenant: { seed: 61, shape: "uniform", mailboxes: 4, totalMessages: 200 },
    changes: { seed: 7, intensity: 0.2 },
  });
  ({ dir, archive, tenant, stack, job1, truth1, truth2 } = fixture);
}, 300_000);

afterAll(() => fixture?.stop());

describe("mailstream export", () => {
  it("exports a mailbox as mbox equal to the ground truth, message for message, readable by Python's mailbox", async () => {
    const address = truth2.mailboxes[0]!.address;
    const out = join(dir, "mbox-latest");
    const c = captureIO();
    expect(await exportCommand(address, undefined, { archive, output: out }, c.io)).toBe(0);
    const expected = new Map([...truthHashes(truth2, address)].map(([p, h]) => [safeRelativePath(p), h]));
    expect(readMboxTree(out)).toEqual(expected);
    expect(c.err.text()).toContain("export: ");

    // A standard parser: Python's mailbox module reads the same number of messages per file.
    const [path, hashes] = [...expected].sort((a, b) => b[1].length - a[1].length)[0]!;
    const count = execFileSync("python3", [
      "-c",
      "import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))",
      join(out, `${path}.mbox`),
    ]).toString();
    expect(Number(count)).toBe(hashes.length);
  });

  it("exports at an earlier job as the mailbox was then, as .eml files that mailparser reads", async () => {
    // A mailbox the mutation changed, so that job 1 and the latest job differ.
    const address = truth1.mailboxes.find(
      (m) =>
        JSON.stringify([...truthHashes(truth1, m.address)]) !==
        JSON.stringify([...truthHashes(truth2, m.address)]),
    )!.address;
    const out = join(dir, "eml-job1");
    const c = captureIO();
    expect(
      await exportCommand(address, undefined, { archive, output: out, format: "eml", at: job1 }, c.io),
    ).toBe(0);
    const found = new Map<string, string[]>();
    for (const file of readdirSync(out, { recursive: true }) as string[]) {
      if (!file.endsWith(".eml")) continue;
      const bytes = readFileSync(join(out, file));
      const folder = file.slice(0, file.lastIndexOf("/"));
      found.set(folder, [...(found.get(folder) ?? []), sha(bytes)].sort());
    }
    const expected = new Map([...truthHashes(truth1, address)].map(([p, h]) => [safeRelativePath(p), h]));
    expect(found).toEqual(expected);
    const first = (readdirSync(out, { recursive: true }) as string[]).find((f) => f.endsWith(".eml"))!;
    const parsed = await simpleParser(readFileSync(join(out, first)));
    expect(parsed.messageId).toMatch(/^<.+>$/);
  });

  it("answers an unknown mailbox or folder with a clear error", async () => {
    await expect(
      exportCommand("nobody@example.com", undefined, { archive, output: join(dir, "x") }, captureIO().io),
    ).rejects.toThrow(/mailbox "nobody@example.com": expected/);
    const address = truth2.mailboxes[0]!.address;
    await expect(
      exportCommand(address, "No/Such/Folder", { archive, output: join(dir, "x") }, captureIO().io),
    ).rejects.toThrow(/folder "No\/Such\/Folder": expected/);
  });
});

describe("mailstream restore", () => {
  it("restores a mailbox into another one as received mail with its properties, and a second run adds nothing", async () => {
    const source = truth2.mailboxes[0]!;
    const target = truth2.mailboxes[2]!;
    const gateway = stack.app.gateway;
    const into = "Restored test";

    const plan = captureIO();
    expect(
      await restoreCommand(
        source.address,
        undefined,
        { archive, to: target.address, into, dryRun: true, json: true, gateway },
        plan.io,
      ),
    ).toBe(0);
    const planned = JSON.parse(plan.out.text()) as { created: number; skipped: number };
    const total = [...truthHashes(truth2, source.address).values()].reduce((n, h) => n + h.length, 0);
    expect(planned).toMatchObject({ created: total, skipped: 0 });
    expect(
      tenant.getUser(target.address) &&
        (await tenant.groundTruth()).mailboxes
          .find((m) => m.address === target.address)!
          .folders.some((f) => f.path.startsWith(into)),
    ).toBe(false);

    const first = captureIO();
    expect(
      await restoreCommand(
        source.address,
        undefined,
        { archive, to: target.address, into, json: true, gateway },
        first.io,
      ),
    ).toBe(0);
    expect(JSON.parse(first.out.text())).toMatchObject({ created: total, skipped: 0 });

    const targetUser = tenant.getUser(target.address)!;
    const sourceUser = tenant.getUser(source.address)!;
    const after = await tenant.groundTruth();
    const restored = after.mailboxes.find((m) => m.address === target.address)!;
    const sourceNow = after.mailboxes.find((m) => m.address === source.address)!;
    const props = (userId: string, id: string) => {
      const m = tenant.getMessage(userId, id)!;
      return {
        internetMessageId: m.internetMessageId,
        subject: m.subject,
        isRead: m.isRead,
        flag: m.flag.flagStatus,
        categories: [...m.categories].sort(),
        receivedDateTime: new Date(m.receivedDateTime).toISOString(),
        isDraft: m.isDraft,
      };
    };
    const byImid = (a: { internetMessageId: string }, b: { internetMessageId: string }) =>
      a.internetMessageId < b.internetMessageId ? -1 : 1;
    for (const folder of sourceNow.folders.filter((f) => !f.isSearchFolder && f.messages.length > 0)) {
      const copy = restored.folders.find((f) => f.path === `${into}/${folder.path}`);
      expect(copy, folder.path).toBeDefined();
      const want = folder.messages
        .map((m) => ({ ...props(sourceUser.id, m.id), isDraft: false }))
        .sort(byImid);
      const got = copy!.messages.map((m) => props(targetUser.id, m.id)).sort(byImid);
      expect(got).toEqual(want);
    }

    const second = captureIO();
    expect(
      await restoreCommand(
        source.address,
        undefined,
        { archive, to: target.address, into, json: true, gateway },
        second.io,
      ),
    ).toBe(0);
    expect(JSON.parse(second.out.text())).toMatchObject({ created: 0, skipped: total });
    const again = (await tenant.groundTruth()).mailboxes.find((m) => m.address === target.address)!;
    expect(again.folders.map((f) => [f.path, f.messages.length])).toEqual(
      restored.folders.map((f) => [f.path, f.messages.length]),
    );
  });

  it("answers an unknown message id with a clear error", async () => {
    const source = truth2.mailboxes[0]!;
    await expect(
      restoreCommand(
        source.address,
        undefined,
        { archive, message: "no-such-id", dryRun: true, gateway: stack.app.gateway },
        captureIO().io,
      ),
    ).rejects.toThrow(/message "no-such-id": expected/);
  });
});

describe("mailstream verify", () => {
  it("passes on an intact archive and names a corrupted and a deleted blob", async () => {
    const copy = join(dir, "archive-copy");
    cpSync(archive, copy, { recursive: true });
    const ok = captureIO();
    expect(await verifyCommand(undefined, { archive: copy }, ok.io)).toBe(0);
    expect(ok.out.text()).toMatch(/^OK: \d+ blobs/m);

    const blobs = (readdirSync(join(copy, "blobs"), { recursive: true }) as string[])
      .filter((f) => /[0-9a-f]{64}/.test(f))
      .sort();
    // A compressed blob (.eml.gz) whose bytes are no gzip any more: damaged, not wrong bytes.
    const corrupted = blobs.find((f) => f.endsWith(".eml.gz"))!;
    expect(corrupted).toBeDefined();
    const deleted = blobs.find((f) => f !== corrupted)!;
    writeFileSync(join(copy, "blobs", corrupted), "not the message\n");
    unlinkSync(join(copy, "blobs", deleted));
    const bad = captureIO();
    expect(await verifyCommand(undefined, { archive: copy, json: true }, bad.io)).toBe(EXIT.damaged);
    const result = JSON.parse(bad.out.text()) as { problems: Array<{ sha256: string; kind: string }> };
    const hashOf = (f: string) => /([0-9a-f]{64})/.exec(f)![1]!;
    expect(result.problems.map((p) => [p.sha256, p.kind]).sort()).toEqual(
      [
        [hashOf(corrupted), "damaged"],
        [hashOf(deleted), "missing"],
      ].sort(),
    );
    await expect(
      verifyCommand("2020-01-01T00-00-00Z-nope", { archive: copy }, captureIO().io),
    ).rejects.toThrow(/job "2020/);
  });
});
