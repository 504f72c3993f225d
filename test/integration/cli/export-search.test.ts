/**
 * `mailstream export --search`: the hits of a search across mailboxes, exported from a real
 * backup of a simulated tenant (simulator + emulators). The exported set must be exactly the
 * search's hits, each file (or mbox entry) byte-equal to its archive blob, laid out by mailbox
 * and folder; `--at` exports the hits as of an earlier job.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BodyEncoding } from "../../../lib/archive/encoding.js";
import {
  LocalObjectStore,
  listAll,
  PACK_PREFIX,
  type PackLocation,
  readBlob,
} from "../../../lib/archive/index.js";
import { blobKey } from "../../../lib/archive/keys.js";
import { readPackIndex } from "../../../lib/archive/packs.js";
import { ArchiveLookupError } from "../../../lib/catalog-index/errors.js";
import {
  type ExportCommandOptions,
  ExportRequestError,
  exportCommand,
} from "../../../lib/cli/commands/export.js";
import { searchCommand } from "../../../lib/cli/commands/search.js";
import type { GroundTruth, generateTenant } from "../../../lib/dev/sim/index.js";
import { safeRelativePath } from "../../../lib/export/export-messages.js";
import { splitMbox } from "../../../lib/export/mbox.js";
import { sha } from "../../support/archive-entries.js";
import { captureIO } from "../../support/command-io.js";
import { backUpTwice, type TwoJobArchive } from "../../support/two-job-archive.js";

let dir: string;
let archive: string;
let job1: string;
let truth2: GroundTruth;
let tenant: ReturnType<typeof generateTenant>;
let fixture: TwoJobArchive | undefined;
/** A sender whose mail sits in more than one mailbox, chosen from the tenant. */
let sender: string;

/** `<mailbox>/<folder>` → sorted SHA-256s; the key as the export lays it out. */
type Tree = Map<string, string[]>;

function addTo(tree: Tree, key: string, hash: string): void {
  tree.set(key, [...(tree.get(key) ?? []), hash].sort());
}

/** The hits `mailstream search --json` prints for these filters, as an export tree. */
async function searchHits(opts: Omit<ExportCommandOptions, "output">): Promise<Tree> {
  const c = captureIO();
  expect(await searchCommand({ ...opts, archive, limit: 100_000, json: true }, c.io)).toBe(0);
  const result = JSON.parse(c.out.text()) as {
    total: number;
    hits: Array<{ address: string; folder: string; sha256: string }>;
  };
  expect(result.hits.length).toBe(result.total);
  const tree: Tree = new Map();
  for (const h of result.hits) addTo(tree, safeRelativePath(`${h.address}/${h.folder}`), h.sha256);
  return tree;
}

/** What the export wrote, hashing every message it holds. */
function exportedTree(out: string, format: "mbox" | "eml"): Tree {
  const tree: Tree = new Map();
  for (const file of readdirSync(out, { recursive: true }) as string[]) {
    if (format === "mbox" && file.endsWith(".mbox")) {
      for (const message of splitMbox(readFileSync(join(out, file)))) {
        addTo(tree, file.slice(0, -".mbox".length), sha(message));
      }
    } else if (format === "eml" && file.endsWith(".eml")) {
      addTo(tree, file.slice(0, file.lastIndexOf("/")), sha(readFileSync(join(out, file))));
    }
  }
  return tree;
}

/** Every exported message is byte-equal to its body in the archive (re-hashed from its object or pack). */
async function expectBlobsEqual(tree: Tree): Promise<void> {
  const store = new LocalObjectStore(archive);
  // Small messages lie in packs: where, from the packs' indexes.
  const packed = new Map<string, { pack: PackLocation; encoding?: BodyEncoding | undefined }>();
  for (const { key } of await listAll(store, PACK_PREFIX))
    if (key.endsWith(".index.json"))
      for (const e of (await readPackIndex(store, key)).entries)
        packed.set(e.sha256, {
          pack: { key: e.pack, offset: e.offset, length: e.length },
          encoding: e.encoding,
        });
  expect(packed.size).toBeGreaterThan(0);
  // Compressed where it pays: some packed bodies are gzip members.
  expect([...packed.values()].some((p) => p.encoding === "gzip")).toBe(true);
  for (const hash of new Set([...tree.values()].flat())) {
    const chunks: Buffer[] = [];
    // A body of its own is `<sha256>.eml`, or `<sha256>.eml.gz` when stored compressed.
    const own = (await store.head(blobKey(hash, "mime", "gzip"))) ? ("gzip" as const) : undefined;
    const ref = packed.get(hash) ? { sha256: hash, ...packed.get(hash) } : { sha256: hash, encoding: own };
    for await (const chunk of await readBlob(store, ref, { verify: false })) chunks.push(chunk as Buffer);
    expect(sha(Buffer.concat(chunks))).toBe(hash);
  }
}

const count = (tree: Tree) => [...tree.values()].reduce((n, h) => n + h.length, 0);

beforeAll(async () => {
  fixture = await backUpTwice({
    prefix: "mailstream-export-search-",
    // Small messages in packs, compressed where it pays (as on S3): every command reads them as
    // it reads .eml objects.
    packs: true,
    compression: true,
    tenant: { seed: 29, shape: "uniform", mailboxes: 3, totalMessages: 150 },
    changes: { seed: 11, intensity: 0.3 },
  });
  ({ dir, archive, tenant, job1, truth2 } = fixture);

  // The sender found in the most mailboxes (ties: the most messages), from the tenant itself.
  const seen = new Map<string, { mailboxes: Set<string>; messages: number }>();
  for (const mailbox of truth2.mailboxes) {
    for (const folder of mailbox.folders.filter((f) => !f.isSearchFolder)) {
      for (const m of folder.messages) {
        const from = tenant.getMessage(mailbox.userId, m.id)!.from.address.toLowerCase();
        const s = seen.get(from) ?? { mailboxes: new Set(), messages: 0 };
        s.mailboxes.add(mailbox.address);
        s.messages++;
        seen.set(from, s);
      }
    }
  }
  sender = [...seen].sort(
    (a, b) => b[1].mailboxes.size - a[1].mailboxes.size || b[1].messages - a[1].messages,
  )[0]![0];
}, 300_000);

afterAll(() => fixture?.stop());

describe("mailstream export --search", () => {
  it("exports exactly the search hits as one mbox per mailbox and folder, each message equal to its blob", async () => {
    // Mail only: --from also finds the events the sender organizes (kept without MIME).
    const hits = await searchHits({ from: sender, kind: "mail" });
    // The tenant's own view (ground truth) of the sender's mail: the search found all of it.
    const truth: Tree = new Map();
    for (const mailbox of truth2.mailboxes) {
      for (const folder of mailbox.folders.filter((f) => !f.isSearchFolder)) {
        for (const m of folder.messages) {
          const from = tenant.getMessage(mailbox.userId, m.id)!.from;
          if (`${from.name} <${from.address}>`.toLowerCase().includes(sender)) {
            addTo(truth, safeRelativePath(`${mailbox.address}/${folder.path}`), m.sha256);
          }
        }
      }
    }
    expect(hits).toEqual(truth);
    expect(new Set([...hits.keys()].map((k) => k.split("/")[0])).size).toBeGreaterThan(1);

    const out = join(dir, "by-sender");
    const c = captureIO();
    expect(
      await exportCommand(
        undefined,
        undefined,
        { archive, output: out, search: true, from: sender, kind: "mail" },
        c.io,
      ),
    ).toBe(0);
    const exported = exportedTree(out, "mbox");
    expect(exported).toEqual(hits);
    await expectBlobsEqual(exported);
    const mailboxes = new Set([...hits.keys()].map((k) => k.split("/")[0])).size;
    expect(c.out.text()).toContain(`exported ${count(hits)} search hits (`);
    expect(c.out.text()).toContain(`from ${mailboxes} of ${truth2.mailboxes.length} mailboxes`);
    expect(c.out.text()).toContain(`into ${hits.size} mbox files under ${out}`);
  });

  it("combines filters and --at: .eml files by mailbox and folder, as the search found them at an earlier job", async () => {
    const filters = {
      from: sender,
      kind: "mail",
      attachments: false,
      mailbox: [truth2.mailboxes[0]!.address, truth2.mailboxes[1]!.address],
    };
    const latest = await searchHits(filters);
    const earlier = await searchHits({ ...filters, at: job1 });
    expect(count(earlier)).toBeGreaterThan(0);
    // The mutation between the jobs changed this result, so --at is what decides the export.
    expect(earlier).not.toEqual(latest);
    expect([...earlier.keys()].every((k) => filters.mailbox.some((m) => k.startsWith(`${m}/`)))).toBe(true);

    const out = join(dir, "earlier-eml");
    const c = captureIO();
    expect(
      await exportCommand(
        undefined,
        undefined,
        { archive, output: out, search: true, format: "eml", at: job1, json: true, ...filters },
        c.io,
      ),
    ).toBe(0);
    const exported = exportedTree(out, "eml");
    expect(exported).toEqual(earlier);
    await expectBlobsEqual(exported);
    const summary = JSON.parse(c.out.text()) as {
      jobId: string;
      hits: number;
      messages: number;
      files: string[];
    };
    expect(summary).toMatchObject({ jobId: job1, hits: count(earlier), messages: count(earlier) });
    expect(summary.files.length).toBe(count(earlier));
  });

  it("writes nothing for a search without hits", async () => {
    const out = join(dir, "no-hits");
    const c = captureIO();
    expect(
      await exportCommand(
        undefined,
        undefined,
        { archive, output: out, search: true, subject: "zz-no-such-word-zz" },
        c.io,
      ),
    ).toBe(0);
    expect(c.out.text()).toContain("exported 0 search hits");
    expect(existsSync(out) ? readdirSync(out) : []).toEqual([]);
  });

  it("answers a confused command line with a clear error", async () => {
    const address = truth2.mailboxes[0]!.address;
    const output = join(dir, "never");
    await expect(
      exportCommand(address, undefined, { archive, output, search: true }, captureIO().io),
    ).rejects.toThrow(ExportRequestError);
    await expect(
      exportCommand(address, undefined, { archive, output, search: true }, captureIO().io),
    ).rejects.toThrow(/expected the mailboxes as -m\/--mailbox/);
    await expect(
      exportCommand(address, undefined, { archive, output, from: sender }, captureIO().io),
    ).rejects.toThrow(/--from is a search filter: expected --search/);
    await expect(exportCommand(undefined, undefined, { archive, output }, captureIO().io)).rejects.toThrow(
      /expected a mailbox \(address or id\) or --search/,
    );
    await expect(
      exportCommand(
        undefined,
        undefined,
        { archive, output, search: true, mailbox: ["nobody@example.com"] },
        captureIO().io,
      ),
    ).rejects.toThrow(ArchiveLookupError);
    expect(existsSync(output)).toBe(false);
  });
});
