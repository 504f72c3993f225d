/**
 * An archive written by an earlier version (catalog part format 1: no header lines; manifests
 * without catalogPartVersion; test/fixtures/archive-v1) stays readable by every command, and
 * verify still finds a part that lost lines in it, through the job report's counts.
 */
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalObjectStore } from "../../../lib/archive/local-store.js";
import { listAll } from "../../../lib/archive/store.js";
import { exportCommand } from "../../../lib/cli/commands/export.js";
import { getCommand } from "../../../lib/cli/commands/get.js";
import { type JobRow, jobsCommand } from "../../../lib/cli/commands/jobs.js";
import { lsCommand } from "../../../lib/cli/commands/ls.js";
import { verifyCommand } from "../../../lib/cli/commands/verify.js";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import type { VerifyResult } from "../../../lib/verify/verify-blobs.js";
import { captureIO } from "../../support/command-io.js";

const fixture = join(import.meta.dirname, "../../fixtures/archive-v1");
const made = JSON.parse(readFileSync(join(fixture, "made.json"), "utf8")) as { jobs: string[] };

let dir: string;
let archive: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "archive-v1-"));
  archive = join(dir, "archive");
  cpSync(join(fixture, "archive"), archive, { recursive: true });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("an archive of format 1 (written by af0b06d)", () => {
  it("has parts without headers and manifests without a part format: the old format indeed", async () => {
    const store = new LocalObjectStore(archive);
    const parts = (await listAll(store, "catalog/")).filter((o) => o.key.includes("/part-"));
    expect(parts.length).toBeGreaterThan(5);
    for (const p of parts) expect((await store.getBytes(p.key)).toString()).not.toContain('"kind":"part"');
    const manifest = JSON.parse(readFileSync(join(archive, "jobs", made.jobs[0]!, "manifest.json"), "utf8"));
    expect(manifest.catalogPartVersion).toBeUndefined();
  });

  it("lists its jobs, mailboxes and folders without a warning", async () => {
    const jobs = captureIO();
    expect(await jobsCommand({ archive, json: true }, jobs.io)).toBe(EXIT.ok);
    const rows = JSON.parse(jobs.out.text()) as JobRow[];
    expect(rows.map((r) => [r.jobId, r.status])).toEqual(made.jobs.map((j) => [j, "complete"]));
    expect(jobs.err.text()).toBe("");

    const ls = captureIO();
    expect(await lsCommand(undefined, undefined, { archive, json: true }, ls.io)).toBe(EXIT.ok);
    const { mailboxes } = JSON.parse(ls.out.text()) as { mailboxes: Array<{ address: string }> };
    expect(mailboxes).toHaveLength(3);
    for (const m of mailboxes) {
      const folders = captureIO();
      expect(await lsCommand(m.address, undefined, { archive }, folders.io)).toBe(EXIT.ok);
      expect(folders.err.text()).toBe("");
      expect(folders.out.text()).toContain("Inbox");
    }
  });

  it("hands out a message by a unique beginning of its id, byte for byte its blob", async () => {
    const ls = captureIO();
    const { mailboxes } = await (async () => {
      await lsCommand(undefined, undefined, { archive, json: true }, ls.io);
      return JSON.parse(ls.out.text()) as { mailboxes: Array<{ address: string }> };
    })();
    const inbox = captureIO();
    await lsCommand(mailboxes[0]!.address, "Inbox", { archive, json: true }, inbox.io);
    const message = (
      JSON.parse(inbox.out.text()) as { messages: Array<{ messageId: string; sha256: string }> }
    ).messages[0]!;
    const got = captureIO();
    expect(await getCommand(`${message.messageId.slice(0, 40)}…`, { archive }, got.io)).toBe(EXIT.ok);
    expect(createHash("sha256").update(got.out.bytes()).digest("hex")).toBe(message.sha256);
  });

  it("exports a mailbox and verifies clean: blobs, lines, and the catalog against the reports", async () => {
    const ls = captureIO();
    await lsCommand(undefined, undefined, { archive, json: true }, ls.io);
    const address = (JSON.parse(ls.out.text()) as { mailboxes: Array<{ address: string }> }).mailboxes[1]!
      .address;
    const out = join(dir, "export");
    const exported = captureIO();
    expect(await exportCommand(address, undefined, { archive, output: out, json: true }, exported.io)).toBe(
      EXIT.ok,
    );
    expect((JSON.parse(exported.out.text()) as { messages: number }).messages).toBeGreaterThan(0);

    const verified = captureIO();
    expect(await verifyCommand(undefined, { archive, json: true }, verified.io)).toBe(EXIT.ok);
    const result = JSON.parse(verified.out.text()) as VerifyResult;
    expect(result).toMatchObject({ problems: [], catalogErrors: [], countProblems: [] });
    expect(result.jobs).toEqual(made.jobs);
  });

  it("a part of format 1 that lost its last line has no header to tell, but verify finds it by the report's counts", async () => {
    const damaged = join(dir, "damaged");
    cpSync(archive, damaged, { recursive: true });
    const store = new LocalObjectStore(damaged);
    const parts = (await listAll(store, "catalog/")).filter((o) => o.key.includes(`/job=${made.jobs[0]}/`));
    const withUpserts = parts.find((p) =>
      readFileSync(join(damaged, p.key), "utf8").includes('"kind":"upsert"'),
    )!;
    const file = join(damaged, withUpserts.key);
    const lines = readFileSync(file, "utf8").trimEnd().split("\n");
    const lastUpsert = lines.findLastIndex((l) => l.includes('"kind":"upsert"'));
    writeFileSync(file, `${lines.filter((_, i) => i !== lastUpsert).join("\n")}\n`);

    const verified = captureIO();
    expect(await verifyCommand(undefined, { archive: damaged, json: true }, verified.io)).toBe(EXIT.damaged);
    const result = JSON.parse(verified.out.text()) as VerifyResult;
    expect(result.catalogErrors).toEqual([]);
    expect(result.countProblems).toHaveLength(1);
    expect(result.countProblems[0]).toMatch(
      new RegExp(`job ${made.jobs[0]} mailbox .*: expected \\d+ stored`),
    );
    expect(readdirSync(damaged)).toContain("catalog");
  });
});
