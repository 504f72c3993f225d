/**
 * The search index on S3 (fauxqs, through the AWS SDK client the CLI uses): built after each
 * job, a search with it returns exactly what the scan returns, for every filter and point in
 * time, reading the index with ranged GETs instead of every catalog part.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ObjectStore, S3ObjectStore } from "../../../lib/archive/index.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { type SearchResult, searchArchive } from "../../../lib/catalog-index/search.js";
import { buildSearchIndex } from "../../../lib/catalog-index/search-index/build.js";
import { type AwsHarness, useAwsEmulators } from "../../support/aws.js";
import {
  CRITERIA,
  JOB1,
  JOB2,
  JOB3,
  writeFirstJob,
  writeIdleJob,
  writeSecondJob,
} from "../../support/search-archive.js";

let aws: AwsHarness;
let store: ObjectStore;
const ITEMS = 120;

beforeAll(async () => {
  aws = await useAwsEmulators();
  store = new S3ObjectStore({ client: aws.clients.s3, bucket: await aws.createBucket() });
});
afterAll(async () => {
  await aws?.stop();
});

const answer = (r: SearchResult) => ({
  hits: r.hits.map((h) => ({ mailbox: h.mailbox.mailboxId, folder: h.folderPath, message: h.message })),
  total: r.total,
  searched: r.messagesScanned,
  errors: r.errors.length,
});

describe("the search index on S3", () => {
  it("answers every filter at every job exactly as the scan does", async () => {
    await writeFirstJob(store, ITEMS);
    expect(await buildSearchIndex(store, { rowsPerSegment: 100 })).toMatchObject({ rebuilt: 2, puts: 3 });
    await writeSecondJob(store, ITEMS);
    // Mailbox 0 changed: updated per changed line; mailbox 2 is new: replayed whole.
    expect(await buildSearchIndex(store, { rowsPerSegment: 100 })).toMatchObject({
      rebuilt: 1,
      updated: 1,
      reused: 1,
    });
    await writeIdleJob(store);
    expect(await buildSearchIndex(store)).toMatchObject({ rebuilt: 0, reused: 3, puts: 1 });

    const mailboxes = mailboxesOf(await requireJobs(store));
    for (const at of [JOB1, JOB2, JOB3]) {
      for (const criteria of CRITERIA) {
        const scanned = await searchArchive(store, mailboxes, criteria, { at, useIndex: false });
        expect(scanned.index).toBeUndefined();
        for (const limit of [undefined, 7]) {
          const opts = { at, ...(limit !== undefined ? { limit } : {}) };
          const indexed = await searchArchive(store, mailboxes, criteria, opts);
          // The scan with a limit keeps the first hits of its whole answer (search.ts).
          const expected = { ...scanned, hits: scanned.hits.slice(0, limit) };
          expect(answer(indexed), `${at} ${JSON.stringify(criteria)}`).toEqual(answer(expected));
          const exact = !criteria.subjectWords?.some((w) => /\s/.test(w));
          if (exact) expect(indexed.index?.mailboxes).toBe(at === JOB1 ? 2 : 3);
        }
      }
    }
    // One mailbox named: only its rows count, from a segment it shares with others.
    const one = mailboxes.filter((m) => m.mailboxId === "mbx-1");
    const indexed = await searchArchive(store, one, { subjectWords: ["budget"] }, { at: JOB3 });
    const scanned = await searchArchive(
      store,
      one,
      { subjectWords: ["budget"] },
      { at: JOB3, useIndex: false },
    );
    expect(indexed.index?.mailboxes).toBe(1);
    expect(indexed.total).toBeGreaterThan(0);
    expect(answer(indexed)).toEqual(answer(scanned));
  }, 300_000);
});
