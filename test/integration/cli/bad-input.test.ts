/**
 * The bad-input corpus of issue 11: every case a user can meet by mistake (bad configuration,
 * CLI misuse, outputs that cannot be created, a damaged archive, an unreachable service, a reader
 * that goes away) answered by the real `mailstream` process with one line on stderr, no stack
 * trace, and the documented exit code (lib/cli/exit-codes.ts); damaged data never reaches the
 * user as good data. No emulator is started: every case fails before it would need one.
 */
import { createHash } from "node:crypto";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toCheckedJsonLines } from "../../../lib/archive/catalog.js";
import { blobKey } from "../../../lib/archive/keys.js";
import { EXIT } from "../../../lib/cli/exit-codes.js";
import { type CliRun, runCli } from "../../support/cli-process.js";

const fixture = join(import.meta.dirname, "../../fixtures/archive-v1/archive");

let dir: string;
/** A copy of the stored archive of format 1. */
let v1: string;
/** The same archive as today's code writes it (format 2: parts with headers). */
let v2: string;
let mailbox: { address: string; mailboxId: string };
let message: { messageId: string; sha256: string; size: number };

/** One line on stderr, `mailstream: ` first, no stack trace; returns it. */
function oneLine(run: CliRun): string {
  const lines = run.stderr.split("\n").filter((l) => l !== "");
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^mailstream: /);
  expect(run.stderr).not.toMatch(/\n\s+at /);
  return lines[0]!;
}

async function fails(args: string[], code: number, line: RegExp, env?: Record<string, string>) {
  const run = await runCli(args, env ? { env } : {});
  expect(run.code, run.stderr).toBe(code);
  expect(oneLine(run)).toMatch(line);
  expect(run.stdout.length).toBe(0);
  return run;
}

/** Rewrites every part and folders record with its header, and the manifests with the part format. */
function toFormat2(root: string): void {
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)],
    );
  for (const file of walk(join(root, "catalog"))) {
    const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
    writeFileSync(file, toCheckedJsonLines(lines.map((l) => JSON.parse(l) as object)));
  }
  for (const job of readdirSync(join(root, "jobs"))) {
    const file = join(root, "jobs", job, "manifest.json");
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, "utf8")), catalogPartVersion: 2 }));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "bad-input-"));
  v1 = join(dir, "v1");
  v2 = join(dir, "v2");
  cpSync(fixture, v1, { recursive: true });
  cpSync(fixture, v2, { recursive: true });
  toFormat2(v2);
  const ls = await runCli(["ls", "-a", v1, "--json"]);
  mailbox = (JSON.parse(ls.stdout.toString()) as { mailboxes: (typeof mailbox)[] }).mailboxes[0]!;
  const inbox = await runCli(["ls", "-a", v1, mailbox.address, "Inbox", "--json"]);
  message = (JSON.parse(inbox.stdout.toString()) as { messages: (typeof message)[] }).messages[0]!;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("bad configuration stops `run` before anything starts, naming the field", () => {
  it("MAILSTREAM_STREAMS_MAX=abc", async () => {
    await fails(
      ["run", "-d", join(dir, "d1")],
      EXIT.config,
      /configuration streams\.max \(MAILSTREAM_STREAMS_MAX\): expected an integer from 1 to 1000, found "abc"$/,
      { MAILSTREAM_STREAMS_MAX: "abc" },
    );
    // Stopped before the data folder was even made.
    expect(existsSync(join(dir, "d1", "dynamodb"))).toBe(false);
  });

  it("MAILSTREAM_PAGE_SIZE out of range, MAILSTREAM_LOG_LEVEL unknown", async () => {
    await fails(["run", "-d", join(dir, "d2")], EXIT.config, /pageSize \(MAILSTREAM_PAGE_SIZE\).*found 5$/, {
      MAILSTREAM_PAGE_SIZE: "5",
    });
    await fails(["run", "-d", join(dir, "d2")], EXIT.config, /logLevel \(MAILSTREAM_LOG_LEVEL\).*"loud"$/, {
      MAILSTREAM_LOG_LEVEL: "loud",
    });
  });

  it("a missing MAILSTREAM_CONFIG_FILE, for the simulated and for a real tenant; a missing --tenant-config", async () => {
    const missing = join(dir, "missing.json");
    const line =
      /configuration file \(MAILSTREAM_CONFIG_FILE\): expected a readable JSON file, found ".*missing\.json" \(ENOENT\)$/;
    await fails(["run", "-d", join(dir, "d3")], EXIT.config, line, { MAILSTREAM_CONFIG_FILE: missing });
    await fails(["run", "--real-tenant", "-d", join(dir, "d3")], EXIT.config, line, {
      MAILSTREAM_CONFIG_FILE: missing,
    });
    await fails(["run", "--tenant-config", missing, "-d", join(dir, "d3")], EXIT.config, line);
  });

  it("--real-tenant without a tenant names every missing variable on one line", async () => {
    await fails(
      ["run", "--real-tenant", "-d", join(dir, "d4")],
      EXIT.config,
      /MAILSTREAM_TENANT_ID.*; configuration tenant\.clientId \(MAILSTREAM_CLIENT_ID\).*MAILSTREAM_CLIENT_SECRET/,
    );
  });

  it("a non-default authority without MAILSTREAM_KNOWN_AUTHORITIES", async () => {
    await fails(
      ["run", "--real-tenant", "-d", join(dir, "d5")],
      EXIT.config,
      /tenant\.knownAuthorities \(MAILSTREAM_KNOWN_AUTHORITIES\): expected the host of the authority https:\/\/login\.contoso-sts\.test\/contoso \(login\.contoso-sts\.test\) in the list, found nothing/,
      {
        MAILSTREAM_TENANT_ID: "contoso.onmicrosoft.com",
        MAILSTREAM_CLIENT_ID: "11111111-1111-4111-8111-111111111111",
        MAILSTREAM_CLIENT_SECRET: "not-a-real-secret",
        MAILSTREAM_AUTHORITY: "https://login.contoso-sts.test/contoso",
      },
    );
  });
});

describe("command-line misuse is a usage error (64)", () => {
  it("run --shape bogus", async () => {
    await fails(
      ["run", "--shape", "bogus"],
      EXIT.usage,
      /--shape: expected one of demo, uniform, skewed, giant, many-small, found "bogus" \(see `mailstream run --help`\)$/,
    );
  });

  it("--archive s3:// (no bucket) and other URLs", async () => {
    await fails(
      ["jobs", "--archive", "s3://"],
      EXIT.usage,
      /--archive: expected a folder or s3:\/\/<bucket>.*found "s3:\/\/"$/,
    );
    await fails(
      ["jobs", "--archive", "https://example.com/x"],
      EXIT.usage,
      /found "https:\/\/example\.com\/x"$/,
    );
  });

  it("an unknown option or command, a bad number", async () => {
    await fails(
      ["jobs", "--bogus"],
      EXIT.usage,
      /unknown option '--bogus' \(see `mailstream jobs --help`\)$/,
    );
    await fails(
      ["jbos"],
      EXIT.usage,
      /unknown command 'jbos' \(did you mean jobs\?\) \(see `mailstream --help`\)$/,
    );
    await fails(
      ["ls", "-a", v1, "--limit", "-1"],
      EXIT.usage,
      /--limit: expected an integer from 0 to 100000, found "-1"/,
    );
  });

  it("what is not a date: `1` is not the year 2001, February has no 30th", async () => {
    await fails(
      ["search", "-a", v1, "--since", "1"],
      EXIT.usage,
      /--since: expected a date or time .*found "1"/,
    );
    await fails(["search", "-a", v1, "--until", "2026-02-30"], EXIT.usage, /--until: .*found "2026-02-30"/);
    await fails(
      ["ls", "-a", v1, mailbox.address, "--at", "yesterday"],
      EXIT.notFound,
      /--at "yesterday": expected "latest", a job id/,
    );
  });

  it("a beginning of an id that several ids share lists them", async () => {
    const run = await fails(
      ["report", "-a", v1, "2026-12"],
      EXIT.usage,
      /job "2026-12": expected an id or a beginning only one id has, found 2 ids beginning so: /,
    );
    expect(run.stderr).toContain("give more of it");
  });

  it("export filters without --search", async () => {
    await fails(
      ["export", "-a", v1, mailbox.address, "--from", "x", "-o", join(dir, "x")],
      EXIT.usage,
      /--from is a search filter: expected --search/,
    );
  });
});

describe("outputs that cannot be created (73), checked before any work", () => {
  it("export -o <existing file>", async () => {
    const file = join(dir, "exists.txt");
    writeFileSync(file, "keep me");
    await fails(
      ["export", "-a", v1, mailbox.address, "-o", file],
      EXIT.cannotCreate,
      /-o .*exists\.txt: expected a folder \(created when missing\), found a file there$/,
    );
    expect(readFileSync(file, "utf8")).toBe("keep me");
  });

  it("get -o <directory>, get -o <existing file>", async () => {
    const folder = join(dir, "a-folder");
    mkdirSync(folder, { recursive: true });
    await fails(
      ["get", "-a", v1, message.messageId, "-o", folder],
      EXIT.cannotCreate,
      /expected the name of a new file, found a folder there/,
    );
    const file = join(dir, "taken.eml");
    writeFileSync(file, "keep me");
    await fails(
      ["get", "-a", v1, message.messageId, "-o", file],
      EXIT.cannotCreate,
      /found an existing file there/,
    );
    expect(readFileSync(file, "utf8")).toBe("keep me");
  });
});

describe("not found (66), unreachable (69)", () => {
  it("no archive, no such mailbox, message or job", async () => {
    await fails(
      ["jobs", "-a", join(dir, "nowhere")],
      EXIT.config,
      /expected an archive folder at .*nowhere, found nothing/,
    );
    await fails(
      ["ls", "-a", v1, "nobody@nowhere.test"],
      EXIT.notFound,
      /mailbox "nobody@nowhere\.test": expected the address or id/,
    );
    await fails(
      ["get", "-a", v1, "AAMkNOPE-NOPE"],
      EXIT.notFound,
      /message "AAMkNOPE-NOPE": expected the id of a message/,
    );
    await fails(
      ["report", "-a", v1, "2020-01-01T00-00-00Z-nope"],
      EXIT.notFound,
      /job "2020-01-01T00-00-00Z-nope": expected a job id/,
    );
  });

  it("an S3 endpoint that refuses connections; no AWS credentials at all", async () => {
    await fails(
      ["jobs", "--archive", "s3://some-bucket"],
      EXIT.unavailable,
      /archive at s3:\/\/some-bucket\/: expected a readable archive, found .*ECONNREFUSED/,
      {
        AWS_ACCESS_KEY_ID: "test",
        AWS_SECRET_ACCESS_KEY: "test",
        AWS_REGION: "us-east-1",
        AWS_MAX_ATTEMPTS: "1",
        MAILSTREAM_S3_ENDPOINT: "http://127.0.0.1:9",
      },
    );
    await fails(
      ["jobs", "--archive", "s3://some-bucket"],
      EXIT.config,
      /CredentialsProviderError.*\(set AWS credentials/,
      {
        AWS_REGION: "us-east-1",
        AWS_SHARED_CREDENTIALS_FILE: join(dir, "no-credentials"),
        AWS_CONFIG_FILE: join(dir, "no-config"),
        AWS_EC2_METADATA_DISABLED: "true",
      },
    );
  });

  it("a live run's state table that does not answer (a dead DynamoDB Local)", async () => {
    const data = join(dir, "data-dead-ddb");
    cpSync(v1, join(data, "archive"), { recursive: true });
    // A runtime file naming a live process (this one) and an endpoint nobody listens on.
    writeFileSync(
      join(data, "runtime.json"),
      JSON.stringify({
        pid: process.pid,
        dynamodbEndpoint: "http://127.0.0.1:9",
        tableName: "mailstream-state",
      }),
    );
    await fails(["status", "-d", data, "--once"], EXIT.unavailable, /ECONNREFUSED/, {
      AWS_MAX_ATTEMPTS: "1",
    });
  });
});

describe("damaged data (65) never reaches the user as good data", () => {
  let damaged: string;
  beforeAll(() => {
    damaged = join(dir, "damaged");
    cpSync(v2, damaged, { recursive: true });
    const blob = join(damaged, ...blobKey(message.sha256).split("/"));
    const bytes = readFileSync(blob);
    bytes[bytes.length - 3] = bytes[bytes.length - 3]! ^ 0x20;
    writeFileSync(blob, bytes);
  });

  it("get -o of a blob that fails its hash leaves no file (not even a temporary one)", async () => {
    const out = join(dir, "got");
    mkdirSync(out, { recursive: true });
    await fails(
      ["get", "-a", damaged, message.messageId, "-o", join(out, "m.eml")],
      EXIT.damaged,
      /blob .*: expected content hashing to [0-9a-f]{64}, found [0-9a-f]{64}$/,
    );
    expect(readdirSync(out)).toEqual([]);
  });

  it("get to stdout writes not a byte of it", async () => {
    await fails(["get", "-a", damaged, message.messageId], EXIT.damaged, /expected content hashing to/);
  });

  it("export skips the damaged message, exports the rest, lists it and exits 65", async () => {
    const out = join(dir, "exported");
    const run = await runCli(["export", "-a", damaged, mailbox.address, "-o", out, "-f", "eml", "--json"]);
    expect(run.code).toBe(EXIT.damaged);
    const summary = JSON.parse(run.stdout.toString()) as {
      messages: number;
      damaged: Array<{ messageId: string }>;
    };
    expect(summary.damaged.map((d) => d.messageId)).toEqual([message.messageId]);
    const good = await runCli([
      "export",
      "-a",
      v1,
      mailbox.address,
      "-o",
      join(dir, "exported-good"),
      "-f",
      "eml",
      "--json",
    ]);
    expect(summary.messages).toBe((JSON.parse(good.stdout.toString()) as { messages: number }).messages - 1);
    expect(run.stderr).toContain(`mailstream: damaged: message ${message.messageId} (Inbox) left out:`);
    // Every file written is a good message: none hashes to something the archive does not hold.
    const files = readdirSync(join(out, "Inbox"));
    for (const f of files) {
      const sha = createHash("sha256")
        .update(readFileSync(join(out, "Inbox", f)))
        .digest("hex");
      expect(existsSync(join(v1, ...blobKey(sha).split("/")))).toBe(true);
    }
  });

  it("a catalog part that lost its last line is reported by ls, export and verify", async () => {
    const cut = join(dir, "cut");
    cpSync(v2, cut, { recursive: true });
    const inboxParts = readdirSync(join(cut, "catalog", `mailbox=${encodeURIComponent(mailbox.mailboxId)}`), {
      recursive: true,
    })
      .map(String)
      .filter((p) => p.includes("part-"))
      .map((p) => join(cut, "catalog", `mailbox=${encodeURIComponent(mailbox.mailboxId)}`, p));
    const part = inboxParts.find((p) => readFileSync(p, "utf8").trimEnd().split("\n").length >= 3)!;
    const lines = readFileSync(part, "utf8").trimEnd().split("\n");
    writeFileSync(part, `${lines.slice(0, -1).join("\n")}\n`);

    const ls = await runCli(["ls", "-a", cut, mailbox.address]);
    expect(ls.code).toBe(EXIT.damaged);
    expect(ls.stderr).toMatch(
      /warning: catalog .*part-.*: expected \d+ lines after its header \(as written\), found \d+: 1 lost \(truncated\)/,
    );
    const exported = await runCli(["export", "-a", cut, mailbox.address, "-o", join(dir, "cut-export")]);
    expect(exported.code).toBe(EXIT.damaged);
    expect(exported.stderr).toMatch(/1 lost \(truncated\)/);
    const verify = await runCli(["verify", "-a", cut]);
    expect(verify.code).toBe(EXIT.damaged);
    expect(verify.stdout.toString()).toMatch(/^damaged catalog: .*1 lost \(truncated\)$/m);
    expect(verify.stdout.toString()).toMatch(/^PROBLEMS: /m);
  });
});

describe("a reader that goes away", () => {
  it("`mailstream … | head` (stdout closed early) ends quietly", async () => {
    const run = await runCli(["search", "-a", v1, "--json", "--limit", "100000"], { closeStdout: true });
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
  });
});
