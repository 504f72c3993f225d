/**
 * The mbox export read by a mail reader a user would use: GNU mailutils from Debian (`frm`
 * lists sender and decoded subject per message, `mail -H` the header summary, `readmsg` prints
 * one message). A real backup of a simulated tenant (simulator + emulators) is exported; every
 * mbox file must list exactly the archive's messages of that folder, in order, with the
 * catalog's senders and subjects, and a message whose body holds `From ` lines that look like
 * mbox separators must stay one message with its body intact.
 *
 * mailutils must be installed (`.ci/run` installs it): a missing reader fails the test.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalObjectStore } from "../../../lib/archive/index.js";
import { exportCommand } from "../../../lib/cli/commands/export.js";
import { type LocalStack, startLocalStack } from "../../../lib/dev/local/stack.js";
import { generateTenant, type SimMessage } from "../../../lib/dev/sim/index.js";
import { safeRelativePath } from "../../../lib/export/export-messages.js";
import { type Selection, selectMessages } from "../../../lib/export/selection.js";
import { captureIO } from "../../support/command-io.js";
import { loadTestCa } from "../../support/sim-ca.js";

let dir: string;
let archive: string;
let stack: LocalStack | undefined;
let address: string;
let fromLines: SimMessage;
let selection: Selection;
let exported: string;

/** Body lines that an mbox reader would take for message separators if they were not quoted. */
const SEPARATOR_LIKE = "From mallory@fabrikam.example Thu Nov 29 05:00:00 2026";
const BODY = [
  `${SEPARATOR_LIKE}`,
  "opens the body, right after the header.",
  "",
  `${SEPARATOR_LIKE}`,
  "follows a blank line, like a real separator.",
  ">From here on, an already quoted line (mboxrd adds one more '>').",
  ">>From there too.",
  "",
  "From the team, with regards",
  "",
].join("\r\n");

/** A hand-written message: RFC 2047 sender name and subject, and `From ` lines in the body. */
function fromLinesMime(date: Date): Buffer {
  return Buffer.from(
    [
      "From: =?utf-8?Q?Zo=C3=AB_M=C3=BCller?= <zoe.mueller@fabrikam.example>",
      `To: <${address}>`,
      "Subject: =?utf-8?Q?R=C3=A9sum=C3=A9_=E2=80=93_From_lines?= in the body",
      `Date: ${date.toUTCString().replace("GMT", "+0000")}`,
      "Message-ID: <from-lines.1@fabrikam.example>",
      "MIME-Version: 1.0",
      'Content-Type: text/plain; charset="utf-8"',
      "Content-Transfer-Encoding: 8bit",
      "",
      BODY,
    ].join("\r\n"),
    "utf8",
  );
}

/**
 * Runs a GNU mailutils program on a file in a UTF-8 locale (so it decodes headers into UTF-8).
 * Fails with what to install when the program is missing.
 */
function mailutils(program: string, args: string[]): { stdout: string; stderr: string } {
  const run = spawnSync(program, args, {
    encoding: "utf8",
    env: { ...process.env, LC_ALL: "C.UTF-8", HOME: dir },
    timeout: 30_000,
  });
  if (run.error) {
    throw new Error(
      `${program}: expected GNU mailutils' ${program} on the PATH (Debian: apt-get install mailutils; .ci/run installs it), found ${String(run.error)}`,
    );
  }
  if (run.signal) throw new Error(`${program} ${args.join(" ")}: killed by ${run.signal}`);
  return { stdout: run.stdout, stderr: run.stderr };
}

/** Fails unless `program` is GNU mailutils' (Debian's `mail` may be another package's). */
function requireGnuMailutils(program: string): void {
  const { stdout } = mailutils(program, ["--version"]);
  if (!stdout.includes("GNU Mailutils")) {
    throw new Error(
      `${program}: expected GNU Mailutils' ${program} (apt-get install mailutils), found "${stdout.split("\n")[0]}"`,
    );
  }
}

/** `frm -n FILE`: one line per message, `   N:\t<sender>\t<subject>`, decoded. */
function frmListing(file: string): Array<{ sender: string; subject: string }> {
  const { stdout, stderr } = mailutils("frm", ["-n", file]);
  expect(stderr).toBe("");
  return stdout
    .split("\n")
    .filter((l) => l.length > 0)
    .map((line, i) => {
      const m = /^\s*(\d+):\t([^\t]*)\t(.*)$/.exec(line);
      if (!m) throw new Error(`frm -n ${file}: expected "N:\\tsender\\tsubject", found "${line}"`);
      expect(Number(m[1])).toBe(i + 1);
      return { sender: m[2]!, subject: m[3]! };
    });
}

/** The message count `frm -S` reports ("Folder contains N new messages." / "no messages"; "new" may be another state word). */
function frmCount(file: string): number {
  const { stdout } = mailutils("frm", ["-S", "-Q", file]);
  const m = /Folder contains (no|\d+) (?:[a-z]+ )?messages?\./.exec(stdout);
  if (!m) throw new Error(`frm -S ${file}: expected "Folder contains N messages.", found "${stdout}"`);
  return m[1] === "no" ? 0 : Number(m[1]);
}

/** What a reader shows as the sender: the display name, else the address. */
function catalogSender(meta: Record<string, unknown>): string {
  const from = meta.from as { emailAddress?: { name?: string; address?: string } } | undefined;
  return from?.emailAddress?.name || from?.emailAddress?.address || "";
}

/** Readers unfold and trim header text; compare on single spaces. */
const spaces = (s: string) => s.replace(/\s+/g, " ").trim();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mailstream-mbox-reader-"));
  for (const program of ["frm", "mail", "readmsg"]) requireGnuMailutils(program);
  archive = join(dir, "archive");
  const tenant = generateTenant({
    seed: 83,
    shape: "uniform",
    mailboxes: 2,
    totalMessages: 80,
    itemScale: 0,
  });
  const user = tenant.listUsers().find((u) => u.mailbox && u.mail)!;
  address = user.mail!;
  const inbox = tenant.getFolder(user.id, "inbox")!;
  const newest = Math.max(
    0,
    ...tenant.listMessages(user.id, inbox.id).map((m) => Date.parse(m.receivedDateTime)),
  );
  const received = new Date(newest + 60_000);
  const mime = fromLinesMime(received);
  fromLines = tenant.addMessage(user.id, inbox.id, {
    internetMessageId: "<from-lines.1@fabrikam.example>",
    conversationId: "from-lines",
    subject: "Résumé – From lines in the body",
    from: { name: "Zoë Müller", address: "zoe.mueller@fabrikam.example" },
    toRecipients: [{ name: user.displayName, address }],
    ccRecipients: [],
    bccRecipients: [],
    createdDateTime: received.toISOString(),
    receivedDateTime: received.toISOString(),
    sentDateTime: received.toISOString(),
    isDraft: false,
    hasAttachments: false,
    bodyPreview: SEPARATOR_LIKE,
    mime: { kind: "bytes", bytes: mime },
    isRead: false,
    flag: { flagStatus: "notFlagged" },
    categories: [],
    importance: "normal",
  });
  stack = await startLocalStack({
    store: tenant,
    ca: await loadTestCa(),
    archive: { kind: "local", path: archive },
    streams: 2,
    // MIME commands: mail kept as .eml (content mode mime).
    env: { MAILSTREAM_MAIL_CONTENT: "mime" },
  });
  await stack.runJob();
  selection = await selectMessages(new LocalObjectStore(archive), { mailbox: address });
  exported = join(dir, "mbox");
  const c = captureIO();
  expect(await exportCommand(address, undefined, { archive, output: exported }, c.io)).toBe(0);
}, 300_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("mbox export read by GNU mailutils", () => {
  it("writes one mbox file per archived folder, holding the archive's count of messages (frm -S, mail -H)", () => {
    const files = (readdirSync(exported, { recursive: true }) as string[]).filter((f) => f.endsWith(".mbox"));
    expect(files.sort()).toEqual(selection.folders.map((f) => `${safeRelativePath(f.path)}.mbox`).sort());
    expect(selection.count).toBeGreaterThan(20);
    for (const folder of selection.folders) {
      const file = join(exported, `${safeRelativePath(folder.path)}.mbox`);
      expect(frmCount(file), folder.path).toBe(folder.messages.length);
      if (folder.messages.length === 0) continue;
      // mail(1) as a user opens a folder: one header summary line per message.
      const { stdout } = mailutils("mail", ["-N", "-H", "-f", file]);
      expect(stdout.split("\n").filter((l) => /^[> ][A-Z ] *\d+ /.test(l)).length, folder.path).toBe(
        folder.messages.length,
      );
    }
  });

  it("lists every message with the catalog's sender and decoded subject, in file order (frm)", () => {
    let listed = 0;
    for (const folder of selection.folders) {
      const file = join(exported, `${safeRelativePath(folder.path)}.mbox`);
      const expected = folder.messages.map((m) => ({
        sender: spaces(catalogSender(m.meta)),
        subject: spaces(typeof m.meta.subject === "string" ? m.meta.subject : ""),
      }));
      const found = frmListing(file).map((e) => ({ sender: spaces(e.sender), subject: spaces(e.subject) }));
      expect(found, folder.path).toEqual(expected);
      listed += found.length;
    }
    expect(listed).toBe(selection.count);
  });

  it("keeps a message whose body has separator-like `From ` lines as one message with its body intact", () => {
    const inbox = selection.folders.find((f) => f.messages.some((m) => m.messageId === fromLines.id))!;
    expect(inbox).toBeDefined();
    const file = join(exported, `${safeRelativePath(inbox.path)}.mbox`);
    // The file does hold such lines, quoted: without the quoting a reader would split there.
    const text = readFileSync(file, "utf8");
    expect(text).toContain(`\n>${SEPARATOR_LIKE}\n`);
    expect(text).toContain("\n>>>From there too.");

    const position = inbox.messages.findIndex((m) => m.messageId === fromLines.id) + 1;
    const entry = frmListing(file)[position - 1]!;
    expect(entry).toEqual({ sender: "Zoë Müller", subject: "Résumé – From lines in the body" });
    expect(frmCount(file)).toBe(inbox.messages.length);

    // readmsg prints the message as the reader stored it: the original body, quoting removed.
    const { stdout } = mailutils("readmsg", ["-n", "-f", file, String(position)]);
    const body = stdout.replace(/\r\n/g, "\n").trim();
    expect(body).toBe(BODY.replace(/\r\n/g, "\n").trim());
  });
});
