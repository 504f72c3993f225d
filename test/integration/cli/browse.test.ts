/**
 * The archive browsing commands, run in process against a real backup: a small simulated tenant
 * backed up twice (full, then incremental after a round of changes) by the local stack into a
 * temporary archive folder; outputs are compared with the simulator's ground truth.
 */
import { createHash } from "node:crypto";
import { appendFileSync, cpSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CreateBucketCommand } from "@aws-sdk/client-s3";
import { simpleParser } from "mailparser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalObjectStore, listAll, S3ObjectStore } from "../../../lib/archive/index.js";
import { getCommand } from "../../../lib/cli/commands/get.js";
import { type JobRow, jobsCommand } from "../../../lib/cli/commands/jobs.js";
import { lsCommand } from "../../../lib/cli/commands/ls.js";
import { reportCommand } from "../../../lib/cli/commands/report.js";
import { searchCommand } from "../../../lib/cli/commands/search.js";
import { showCommand } from "../../../lib/cli/commands/show.js";
import { statusCommand } from "../../../lib/cli/commands/status.js";
import { type LocalRuntimeFile, RUNTIME_FILE } from "../../../lib/cli/context.js";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import type { CommandIO } from "../../../lib/cli/format/output.js";
import type { LocalStack } from "../../../lib/dev/local/stack.js";
import type { GroundTruth, generateTenant } from "../../../lib/dev/sim/index.js";
import { captureIO } from "../../support/command-io.js";
import { backUpTwice, type TwoJobArchive } from "../../support/two-job-archive.js";

let dir: string;
let archive: string;
let job1: string;
let job2: string;
let truth1: GroundTruth;
let truth2: GroundTruth;
let tenant: ReturnType<typeof generateTenant>;
let stack: LocalStack;
let fixture: TwoJobArchive | undefined;

async function json<T>(run: (io: CommandIO) => Promise<number>): Promise<T> {
  const c = captureIO();
  expect(await run(c.io)).toBe(0);
  return JSON.parse(c.out.text()) as T;
}

/** Backed-up folders of a ground-truth mailbox: message id → sha256, by folder path. */
function truthFolders(truth: GroundTruth, address: string): Map<string, Map<string, string>> {
  const mailbox = truth.mailboxes.find((m) => m.address === address)!;
  return new Map(
    mailbox.folders
      .filter((f) => !f.isSearchFolder)
      .map((f) => [f.path, new Map(f.messages.map((m) => [m.id, m.sha256]))]),
  );
}

beforeAll(async () => {
  fixture = await backUpTwice({
    prefix: "mailstream-browse-",
    // Small messages in packs, compressed where it pays (as on S3): every command reads them as
    // it reads .eml objects.
    packs: true,
    compression: true,
    tenant: { seed: 61, shape: "uniform", mailboxes: 4, totalMessages: 200 },
    changes: { seed: 7, intensity: 0.2 },
  });
  ({ dir, archive, tenant, stack, job1, job2, truth1, truth2 } = fixture);
  // As a local run does while it lasts: `status` finds the live state table through this file.
  const running: LocalRuntimeFile = {
    pid: process.pid,
    dynamodbEndpoint: stack.emulators.endpoints.dynamodb ?? "",
    tableName: stack.app.config.stateTable,
  };
  writeFileSync(join(dir, RUNTIME_FILE), JSON.stringify(running));
});

afterAll(() => fixture?.stop());

describe("mailstream browse commands", () => {
  it("jobs lists both jobs with their status and counts", async () => {
    const rows = await json<JobRow[]>((x) => jobsCommand({ archive, json: true }, x));
    expect(rows.map((r) => r.jobId)).toEqual([job1, job2]);
    expect(rows[0]!.status).toBe("complete");
    // Items of every kind of both mailboxes (mail as MIME, the other kinds as export streams).
    const items = truth1.mailboxes.reduce(
      (s, m) => s + m.mailboxFolders.reduce((t, f) => t + f.items.length, 0),
      0,
    );
    expect(rows[0]!.items).toBeLessThanOrEqual(items);
    expect(rows[0]!.items).toBeGreaterThan(0);
    const table = captureIO();
    await jobsCommand({ archive }, table.io);
    expect(table.out.text()).toContain(job2);
  });

  it("ls shows the mailboxes, a folder tree that matches the ground truth, and paged messages", async () => {
    const { mailboxes } = await json<{ mailboxes: Array<{ address: string; mailboxId: string }> }>((x) =>
      lsCommand(undefined, undefined, { archive, json: true }, x),
    );
    const withMailbox = truth2.mailboxes.map((m) => m.address).sort();
    expect(mailboxes.map((m) => m.address).sort()).toEqual(withMailbox);

    const address = truth2.mailboxes[0]!.address;
    const truth = truthFolders(truth2, address);
    const tree = await json<{ folders: Array<{ path: string; messages: number }> }>((x) =>
      lsCommand(address, undefined, { archive, json: true }, x),
    );
    for (const [path, messages] of truth) {
      expect(tree.folders.find((f) => f.path === path)?.messages, path).toBe(messages.size);
    }
    // Every folder of both mailboxes with its mailbox, class and item count (every kind).
    const full = await json<{
      folders: Array<{ folderId: string; mailbox: string; class: string; items: number }>;
    }>((x) => lsCommand(address, undefined, { archive, json: true }, x));
    const owner = truth2.mailboxes.find((m) => m.address === address)!;
    const searchIds = new Set(owner.folders.filter((f) => f.isSearchFolder).map((f) => f.id));
    const expectedFolders = owner.mailboxFolders
      .filter((f) => !searchIds.has(f.id))
      .map((f) => ({ folderId: f.id, mailbox: f.mailbox, class: f.type, items: f.items.length }))
      .sort((a, b) => (a.folderId < b.folderId ? -1 : 1));
    const listed = full.folders
      .filter((f) => !searchIds.has(f.folderId))
      .map((f) => ({ folderId: f.folderId, mailbox: f.mailbox, class: f.class, items: f.items }))
      .sort((a, b) => (a.folderId < b.folderId ? -1 : 1));
    expect(listed).toEqual(expectedFolders);
    expect(expectedFolders.some((f) => f.mailbox === "archive")).toBe(owner.archiveMailboxId !== null);
    // Also by id instead of address.
    const byId = mailboxes.find((m) => m.address === address)!.mailboxId;
    const tree2 = await json<typeof tree>((x) => lsCommand(byId, undefined, { archive, json: true }, x));
    expect(tree2.folders).toEqual(tree.folders);

    const [path, expected] = [...truth].sort((a, b) => b[1].size - a[1].size)[0]!;
    const page1 = await json<{ total: number; messages: Array<{ messageId: string; sha256: string }> }>((x) =>
      lsCommand(address, path, { archive, json: true, limit: 3, offset: 0 }, x),
    );
    const rest = await json<typeof page1>((x) =>
      lsCommand(address, path, { archive, json: true, limit: 100_000, offset: 3 }, x),
    );
    expect(page1.total).toBe(expected.size);
    const seen = [...page1.messages, ...rest.messages];
    expect(new Map(seen.map((m) => [m.messageId, m.sha256]))).toEqual(expected);
  });

  it("ls --at an earlier job (or a date after it) shows the mailbox as it was then", async () => {
    // A mailbox the mutation round changed.
    const changed = truth1.mailboxes.find((m) => {
      const a = truthFolders(truth1, m.address);
      const b = truthFolders(truth2, m.address);
      return [...a].some(([p, msgs]) => b.get(p)?.size !== msgs.size);
    })!;
    expect(changed).toBeDefined();
    const manifest = JSON.parse(readFileSync(join(archive, "jobs", job1, "manifest.json"), "utf8"));
    for (const at of [job1, manifest.endedAt as string]) {
      const tree = await json<{ at: string; folders: Array<{ path: string; messages: number }> }>((x) =>
        lsCommand(changed.address, undefined, { archive, json: true, at }, x),
      );
      expect(tree.at).toBe(job1);
      for (const [path, messages] of truthFolders(truth1, changed.address)) {
        expect(tree.folders.find((f) => f.path === path)?.messages, path).toBe(messages.size);
      }
    }
  });

  it("get writes the .eml byte-identical to the ground truth; show parses it", async () => {
    const mailbox = truth2.mailboxes[1]!;
    const message = mailbox.folders.flatMap((f) => f.messages).find((m) => m.size > 0)!;
    const c = captureIO();
    expect(await getCommand(message.id, { archive }, c.io)).toBe(0);
    expect(createHash("sha256").update(c.out.bytes()).digest("hex")).toBe(message.sha256);

    const file = join(dir, "one.eml");
    expect(
      await getCommand(message.id, { archive, mailbox: mailbox.address, output: file }, captureIO().io),
    ).toBe(0);
    expect(createHash("sha256").update(readFileSync(file)).digest("hex")).toBe(message.sha256);

    const parsed = await simpleParser(readFileSync(file));
    const shown = await json<{
      headers: { subject: string };
      attachments: unknown[];
      mailbox: { address: string };
    }>((x) => showCommand(message.id, { archive, json: true }, x));
    expect(shown.mailbox.address).toBe(mailbox.address);
    expect(shown.headers.subject).toBe(parsed.subject);
    expect(shown.attachments.length).toBe(parsed.attachments.length);
    const text = captureIO();
    expect(await showCommand(message.id, { archive }, text.io)).toBe(0);
    expect(text.out.text()).toContain(`Subject:     ${parsed.subject}`);
  });

  it("search by sender, subject word, folder and attachments finds exactly the matching ground truth", async () => {
    const all = truth2.mailboxes.flatMap((m) =>
      m.folders
        .filter((f) => !f.isSearchFolder)
        .flatMap((f) => f.messages.map((x) => ({ m, f, msg: tenant.getMessage(m.userId, x.id)! }))),
    );
    const sample = all.find((x) => x.msg.hasAttachments)!;
    const sender = sample.msg.from.address;
    const word = sample.msg.subject.split(/\s+/)[0]!;
    const expected = all.filter(
      (x) =>
        x.msg.from.address.toLowerCase().includes(sender.toLowerCase()) &&
        x.msg.subject.toLowerCase().includes(word.toLowerCase()) &&
        x.msg.hasAttachments,
    );
    const result = await json<{ total: number; hits: Array<{ messageId: string }> }>((x) =>
      searchCommand(
        { archive, json: true, from: sender, subject: word, attachments: true, limit: 100_000 },
        x,
      ),
    );
    expect(result.hits.map((h) => h.messageId).sort()).toEqual(expected.map((x) => x.msg.id).sort());

    const inFolder = await json<typeof result>((x) =>
      searchCommand(
        { archive, json: true, folder: sample.f.path, mailbox: [sample.m.address], limit: 100_000 },
        x,
      ),
    );
    expect(inFolder.hits.map((h) => h.messageId).sort()).toEqual(
      sample.m.folders
        .filter((f) => f.path === sample.f.path || f.path.startsWith(`${sample.f.path}/`))
        .flatMap((f) => f.messages.map((m) => m.id))
        .sort(),
    );
    const none = await json<typeof result>((x) =>
      searchCommand({ archive, json: true, until: "1990-01-01" }, x),
    );
    expect(none.total).toBe(0);
  });

  it("report prints the job and writes a timeline with one bar per started unit", async () => {
    const html = join(dir, "timeline.html");
    const c = captureIO();
    expect(await reportCommand(job1, { archive, html }, c.io)).toBe(0);
    expect(c.out.text()).toContain(`job ${job1}: complete`);
    const page = readFileSync(html, "utf8");
    const report = JSON.parse(readFileSync(join(archive, "reports", job1, "report.json"), "utf8")).report;
    const started = report.units.filter((u: { startedAt?: string }) => u.startedAt).length;
    expect(page.match(/class="bar actual"/g)?.length).toBe(started);
    expect(page.match(/class="bar planned"/g)?.length).toBe(report.plan.units.length);
    expect(page).toContain("<svg");
    // `latest` names the newest job with a report.
    const latest = captureIO();
    expect(await reportCommand("latest", { archive }, latest.io)).toBe(0);
    expect(latest.out.text()).toContain(`job ${job2}: complete`);
    // status without a reachable state table falls back to the last report
    const s = captureIO();
    expect(await statusCommand(undefined, { archive }, s.io)).toBe(0);
    expect(s.out.text()).toContain(`job ${job2}`);
  });

  it("status reads the live state table while a runtime is reachable", async () => {
    const c = captureIO();
    expect(await statusCommand(undefined, { data: dir, json: true }, c.io)).toBe(0);
    const progress = JSON.parse(c.out.text());
    expect(progress.jobId).toBe(job2);
    expect(progress.status).toBe("complete");
    expect(progress.unitsDone).toBe(progress.unitsTotal);
    const plain = captureIO();
    expect(await statusCommand(job1, { data: dir }, plain.io)).toBe(0);
    expect(plain.out.text()).toContain(`[${job1}] complete 100%`);
  });

  it("works the same on an S3 archive (a copy in the S3 emulator)", async () => {
    const s3 = stack.clients.s3;
    await s3.send(new CreateBucketCommand({ Bucket: "browse-copy" }));
    const copy = new S3ObjectStore({ client: s3, bucket: "browse-copy", prefix: "tenant-a" });
    const local = new LocalObjectStore(archive);
    for (const { key } of await listAll(local, "")) await copy.put(key, await local.getBytes(key));
    const saved = process.env.MAILSTREAM_S3_ENDPOINT;
    process.env.MAILSTREAM_S3_ENDPOINT = stack.emulators.endpoints.s3;
    try {
      const s3Archive = "s3://browse-copy/tenant-a";
      expect(await json((x) => jobsCommand({ archive: s3Archive, json: true }, x))).toEqual(
        await json((x) => jobsCommand({ archive, json: true }, x)),
      );
      const address = truth2.mailboxes[2]!.address;
      expect(await json((x) => lsCommand(address, undefined, { archive: s3Archive, json: true }, x))).toEqual(
        await json((x) => lsCommand(address, undefined, { archive, json: true }, x)),
      );
      const message = truth2.mailboxes[2]!.folders.flatMap((f) => f.messages)[0]!;
      const c = captureIO();
      expect(await getCommand(message.id, { archive: s3Archive }, c.io)).toBe(0);
      expect(createHash("sha256").update(c.out.bytes()).digest("hex")).toBe(message.sha256);
      await expect(
        jobsCommand({ archive: "s3://browse-copy/no-such-prefix" }, captureIO().io),
      ).rejects.toThrow(/found none/);
      await expect(jobsCommand({ archive: "s3://no-such-bucket" }, captureIO().io)).rejects.toThrow(
        /no-such-bucket/,
      );
    } finally {
      if (saved === undefined) delete process.env.MAILSTREAM_S3_ENDPOINT;
      else process.env.MAILSTREAM_S3_ENDPOINT = saved;
    }
  });

  it("answers bad input with a clear error", async () => {
    const address = truth2.mailboxes[0]!.address;
    await expect(reportCommand("2026-01-01T00-00-00Z-nope", { archive }, captureIO().io)).rejects.toThrow(
      /job "2026-01-01T00-00-00Z-nope"/,
    );
    await expect(lsCommand("nobody@nowhere.test", undefined, { archive }, captureIO().io)).rejects.toThrow(
      /mailbox "nobody@nowhere.test"/,
    );
    await expect(lsCommand(address, "No Such Folder", { archive }, captureIO().io)).rejects.toThrow(
      /folder "No Such Folder"/,
    );
    await expect(getCommand("AAMkNOPE", { archive }, captureIO().io)).rejects.toThrow(/message "AAMkNOPE"/);
    await expect(
      lsCommand(address, undefined, { archive, at: "2000-01-01" }, captureIO().io),
    ).rejects.toThrow(/before it/);
    await expect(jobsCommand({ archive: join(dir, "missing") }, captureIO().io)).rejects.toThrow(
      /expected an archive folder/,
    );
    const empty = join(dir, "empty");
    cpSync(join(archive, "blobs"), join(empty, "blobs"), { recursive: true });
    await expect(jobsCommand({ archive: empty }, captureIO().io)).rejects.toThrow(/found none/);
  });

  it("reports a damaged catalog line with its place and still shows the rest", async () => {
    const damaged = join(dir, "damaged");
    cpSync(archive, damaged, { recursive: true });
    const address = truth2.mailboxes[0]!.address;
    const { mailboxes } = await json<{ mailboxes: Array<{ address: string; mailboxId: string }> }>((x) =>
      lsCommand(undefined, undefined, { archive, json: true }, x),
    );
    const id = mailboxes.find((m) => m.address === address)!.mailboxId;
    const parts = (
      await listAll(new LocalObjectStore(damaged), `catalog/mailbox=${encodeURIComponent(id)}/`)
    ).filter((p) => p.key.endsWith(".jsonl") && p.key.includes("/part-"));
    const part = parts[parts.length - 1]!;
    appendFileSync(join(damaged, part.key), "{not json\n");
    const lines = readFileSync(join(damaged, part.key), "utf8").trimEnd().split("\n").length;

    const c = captureIO();
    expect(await lsCommand(address, undefined, { archive: damaged }, c.io)).toBe(EXIT.damaged);
    expect(c.err.text()).toContain(`${part.key} line ${lines}`);
    const good = captureIO();
    await lsCommand(address, undefined, { archive }, good.io);
    expect(c.out.text()).toBe(good.out.text());

    // A damaged report hides nothing else: the job shows as unreadable, the warning names the file.
    writeFileSync(join(damaged, "reports", job1, "report.json"), "{ truncated");
    const j = captureIO();
    expect(await jobsCommand({ archive: damaged, json: true }, j.io)).toBe(EXIT.damaged);
    expect(j.err.text()).toContain(`reports/${job1}/report.json`);
    const rows = JSON.parse(j.out.text()) as JobRow[];
    expect(rows.map((r) => [r.jobId, r.status])).toEqual([
      [job1, "unreadable"],
      [job2, "complete"],
    ]);
  });
});
