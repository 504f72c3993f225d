/**
 * docs/archive-format.md promises that a message can be pulled out of its pack with the AWS CLI
 * and jq alone. This runs the documented commands, as written there, against an archive that
 * mailstream wrote to the S3 emulator: messages that lie in a pack and messages of their own, each
 * stored as it is (attachment-like bytes) and gzip-compressed (text), so that the documented
 * `gunzip` step is run too.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createArchive } from "../../../lib/archive/archive.js";
import { readCatalogPart, type UpsertEntry } from "../../../lib/archive/catalog.js";
import { catalogPartKey } from "../../../lib/archive/keys.js";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";
import { EMULATOR_CREDENTIALS } from "../../../lib/aws/clients.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";

const DOC = fileURLToPath(new URL("../../../docs/archive-format.md", import.meta.url));

/** The shell block that follows the "tested by" marker in the document. */
function documentedCommands(): string {
  const text = readFileSync(DOC, "utf8");
  const marker = text.indexOf("<!-- tested by test/integration/archive/pack-by-hand.test.ts -->");
  expect(marker).toBeGreaterThan(0);
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(marker));
  expect(block).not.toBeNull();
  return block![1]!;
}

let aws: AwsHarness;
beforeAll(async () => {
  aws = await useAwsEmulators();
});
afterAll(() => aws?.stop());

describe("pulling a message out by hand (docs/archive-format.md)", () => {
  it("the documented aws s3api, jq and gunzip commands give packed and large messages' exact bytes, compressed or not", async () => {
    const bucket = await aws.createBucket();
    const store = new S3ObjectStore({ client: aws.clients.s3, bucket });
    const archive = createArchive(store, {
      packs: { thresholdBytes: 128 * 1024 },
      compression: { codec: "gzip" },
    });
    const mime = (n: number) =>
      Buffer.concat([Buffer.from("From: a@example.com\r\nSubject: packed\r\n\r\n"), randomBytes(n)]);
    const text = (n: number) =>
      Buffer.from(
        "From: a@example.com\r\nSubject: text\r\n\r\n" +
          "The plan for the quarter, line by line.\r\n".repeat(Math.ceil(n / 40)),
      );
    // An attachment-like MIME part in base64: compresses by a quarter, stays above the threshold.
    const base64Text = (n: number) =>
      Buffer.from(
        `From: a@example.com\r\nSubject: attachment\r\n\r\n${randomBytes(Math.ceil((n * 3) / 4)).toString("base64")}`,
      );
    const bodies = {
      small1: mime(900),
      small2: mime(40_000),
      large: mime(200_000),
      smallText: text(40_000),
      // 300 KB that compress below the threshold: packed (the decision is on the stored size).
      packedText: text(300_000),
      largeText: base64Text(300_000),
    };
    const entries = [];
    for (const [messageId, body] of Object.entries(bodies)) {
      const stored = await archive.storeBlob("mime", body, { mailboxId: "mb-1" });
      entries.push({
        kind: "upsert" as const,
        messageId,
        folderId: "inbox",
        sha256: stored.sha256,
        size: stored.size,
        meta: { id: messageId },
      });
    }
    const part = {
      jobId: "2026-12-06T06-00-00Z-ab12",
      mailboxId: "mb-1",
      folderId: "inbox",
      unit: 0,
      page: 0,
    };
    await archive.writeCatalogPart(part, entries);
    const lines = (await readCatalogPart(store, catalogPartKey(part))).entries as UpsertEntry[];
    const line = (id: string) => lines.find((l) => l.messageId === id)!;
    expect(line("small2")).toMatchObject({ pack: expect.anything() });
    expect(line("small2").encoding).toBeUndefined();
    expect(line("large").pack).toBeUndefined();
    expect(line("large").encoding).toBeUndefined();
    expect(line("smallText")).toMatchObject({ pack: expect.anything(), encoding: "gzip" });
    expect(line("packedText")).toMatchObject({ pack: expect.anything(), encoding: "gzip" });
    expect(line("largeText").pack).toBeUndefined();
    expect(line("largeText").encoding).toBe("gzip");

    const dir = mkdtempSync(join(tmpdir(), "pack-by-hand-"));
    writeFileSync(
      join(dir, "aws-config"),
      "[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n",
    );
    // (packedText is read like smallText: a gzip member in a pack.)
    for (const messageId of ["small2", "large", "smallText", "largeText"]) {
      const work = mkdtempSync(join(dir, `${messageId}-`));
      // The emulator's endpoint for every aws command of the block, in both CLI versions.
      const script = `aws() { command aws --endpoint-url "$S3_ENDPOINT" "$@"; }\nset -eo pipefail\n${documentedCommands()}`;
      // Not spawnSync: the S3 emulator answers from this process's event loop.
      const run = await promisify(execFile)("bash", ["-c", script], {
        timeout: 60_000,
        cwd: work,
        encoding: "utf8",
        env: {
          PATH: process.env.PATH,
          HOME: dir,
          AWS_CONFIG_FILE: join(dir, "aws-config"),
          AWS_ACCESS_KEY_ID: EMULATOR_CREDENTIALS.accessKeyId,
          AWS_SECRET_ACCESS_KEY: EMULATOR_CREDENTIALS.secretAccessKey,
          S3_ENDPOINT: aws.endpoints.s3!,
          BUCKET: bucket,
          MAILBOX: "mb-1",
          JOB: part.jobId,
          MESSAGE: messageId,
        },
      });
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe("message.eml: sha256 checked\n");
      expect(readFileSync(join(work, "message.eml"))).toEqual(bodies[messageId as keyof typeof bodies]);
    }
  }, 180_000); // four runs of the aws CLI (a Python start each): about 25 s quiet, over 60 s on a loaded machine
});
