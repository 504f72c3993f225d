/**
 * The search index kept current after each job (search-index/after-job.ts): brought up to the
 * newest finalized job, a no-op when it is current already, and exactly the scan's answer.
 */
import { describe, expect, it } from "vitest";
import { MemoryObjectStore } from "../../../lib/archive/memory-store.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { searchArchive } from "../../../lib/catalog-index/search.js";
import { indexAfterJob } from "../../../lib/catalog-index/search-index/after-job.js";
import { parseQueueTask, serializeIndexTask } from "../../../lib/queue/stream-task.js";
import { CRITERIA, JOB1, JOB2, writeFirstJob, writeSecondJob } from "../../support/search-archive.js";

/** Counts the puts of a store. */
function counting(store: MemoryObjectStore) {
  const puts: string[] = [];
  const put = store.put.bind(store);
  store.put = async (key, body, opts) => {
    puts.push(key);
    return put(key, body, opts);
  };
  return puts;
}

describe("indexAfterJob", () => {
  it("does nothing before a job is finalized, builds up to the newest one, and is a no-op when current", async () => {
    const store = new MemoryObjectStore();
    const puts = counting(store);
    expect(await indexAfterJob(store)).toEqual({ status: "none" });
    await writeFirstJob(store);
    const first = await indexAfterJob(store);
    expect(first).toMatchObject({ status: "built", jobId: JOB1, build: { rebuilt: 2 } });
    puts.length = 0;
    // A copy of the task, or the task of an older job: nothing written.
    expect(await indexAfterJob(store)).toEqual({ status: "current", jobId: JOB1 });
    expect(puts).toEqual([]);

    await writeSecondJob(store);
    const second = await indexAfterJob(store);
    // The mailbox the second job did not change keeps its rows.
    expect(second).toMatchObject({ status: "built", jobId: JOB2, build: { reused: 1 } });

    // Without `mailstream index`, a search uses the index and answers as the scan does.
    const mailboxes = mailboxesOf(await requireJobs(store));
    for (const criteria of CRITERIA) {
      const indexed = await searchArchive(store, mailboxes, criteria, { at: "latest" });
      const scanned = await searchArchive(store, mailboxes, criteria, { at: "latest", useIndex: false });
      // Subject words with white space inside are answered by scanning (docs/archive-format.md).
      if (!criteria.subjectWords?.some((w) => /\s/.test(w)))
        expect(indexed.index?.mailboxes, JSON.stringify(criteria)).toBe(mailboxes.length);
      expect(indexed.hits, JSON.stringify(criteria)).toEqual(scanned.hits);
      expect(indexed.total).toBe(scanned.total);
    }
  });

  it("travels on the stream queue as {kind: index, jobId}", () => {
    const body = serializeIndexTask({ kind: "index", jobId: JOB2 });
    expect(parseQueueTask(body)).toEqual({ kind: "index", jobId: JOB2 });
    expect(() => parseQueueTask('{"kind":"index"}')).toThrow(/index task: expected/);
  });
});
