/**
 * The real Lambda handlers (functions/coordinator.ts, functions/controller.ts, functions/sweep.ts)
 * configured only through MAILSTREAM_* environment variables, as on AWS, against a local stack:
 * the simulated tenant, DynamoDB Local and the S3/SQS emulator. The coordinator starts an
 * on-demand job, the controller handler consumes the stream queue through a Lambda-like event
 * source (with invocations short enough that streams continue through the queue), and the job's
 * report, archive and EMF metrics are checked against the tenant.
 */

import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { listAll } from "../../../lib/archive/index.js";
import { readPackIndex } from "../../../lib/archive/packs.js";
import type { JobReport } from "../../../lib/backup/report.js";
import { mailboxesOf, requireJobs } from "../../../lib/catalog-index/directory.js";
import { searchArchive } from "../../../lib/catalog-index/search.js";
import { readIndexManifest } from "../../../lib/catalog-index/search-index/index-manifest.js";
import { environmentForAwsEndpoints } from "../../../lib/config/aws-endpoints.js";
import { simulatorTenantEnv } from "../../../lib/dev/local/simulator-env.js";
import { LocalSqsEventSource } from "../../../lib/dev/local/sqs-event-source.js";
import { type LocalStack, startLocalStack } from "../../../lib/dev/local/stack.js";
import { type GroundTruth, generateTenant } from "../../../lib/dev/sim/index.js";
import { loadTestCa } from "../../support/sim-ca.js";

const STAGE = "itest";
const BUCKET = "mailstream-functions-itest";

let stack: LocalStack | undefined;
let source: LocalSqsEventSource | undefined;
let truth: GroundTruth;
const savedEnv = { ...process.env };
const stdoutLines: string[] = [];

type Handlers = {
  coordinator: typeof import("../../../functions/coordinator.js").handler;
  controller: typeof import("../../../functions/controller.js").handler;
  sweep: typeof import("../../../functions/sweep.js").handler;
  reset: typeof import("../../../lib/app/lambda.js").resetLambdaRuntime;
};
let handlers: Handlers;

beforeAll(async () => {
  const store = generateTenant({ seed: 83, shape: "uniform", mailboxes: 3, totalMessages: 120 });
  stack = await startLocalStack({
    store,
    ca: await loadTestCa(),
    archive: { kind: "s3", bucket: BUCKET },
    streams: 2,
    // Each request takes 150 ms, so a stream's share (a mailbox of ≥ 5 rounds of requests) takes
    // longer than an invocation's 0.6 s of work: at least one stream hands itself on through the
    // queue whatever the machine's speed (without latency a fast machine finished in one).
    latency: { baseMs: 150 },
  });
  // The stack's own consumer would run the tasks in-process: the real handler must run them.
  await stack.source.stop();
  truth = await store.groundTruth();

  const sim = stack.sim;
  Object.assign(process.env, {
    MAILSTREAM_STAGE: STAGE,
    ...simulatorTenantEnv(sim),
    MAILSTREAM_ARCHIVE: "s3",
    MAILSTREAM_ARCHIVE_BUCKET: BUCKET,
    MAILSTREAM_STATE_TABLE: stack.app.config.stateTable,
    MAILSTREAM_STREAM_QUEUE_URL: stack.queue.url,
    MAILSTREAM_STREAMS_MAX: "2",
    MAILSTREAM_LOG_LEVEL: "info",
    // Small pages and a short invocation (below): streams checkpoint often and continue through
    // the queue, so metrics and the report are checked across continuations too.
    MAILSTREAM_PAGE_SIZE: "10",
    MAILSTREAM_DEADLINE_MARGIN_MS: "5000",
    // The index task after the job in pieces of one mailbox: each invocation (its time all but
    // spent: 5.6 s against the 5 s margin) does one piece and hands on through the queue.
    MAILSTREAM_SEARCH_INDEX_MAILBOXES_PER_PIECE: "1",
    ...environmentForAwsEndpoints(stack.emulators.endpoints),
  });
  // Logs and EMF metrics go to stdout, as on Lambda: keep the JSON lines, pass the rest on.
  const write = process.stdout.write.bind(process.stdout);
  vi.spyOn(process.stdout, "write").mockImplementation(((chunk: unknown, ...rest: unknown[]) => {
    const text = String(chunk);
    if (text.startsWith("{")) {
      stdoutLines.push(...text.split("\n").filter((l) => l.length > 0));
      return true;
    }
    return (write as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write);

  // Modules read the environment when the container starts: import them fresh, after it is set.
  vi.resetModules();
  handlers = {
    coordinator: (await import("../../../functions/coordinator.js")).handler,
    controller: (await import("../../../functions/controller.js")).handler,
    sweep: (await import("../../../functions/sweep.js")).handler,
    reset: (await import("../../../lib/app/lambda.js")).resetLambdaRuntime,
  };
  source = new LocalSqsEventSource({
    sqs: stack.clients.sqs,
    queueUrl: stack.queue.url,
    queueArn: stack.queue.arn,
    handler: (event, context) => handlers.controller(event, context),
    batchSize: 1,
    maxConcurrency: 2,
    functionTimeoutMs: 5_600,
  });
}, 240_000);

afterAll(async () => {
  vi.restoreAllMocks();
  await source?.stop();
  await handlers?.reset();
  await stack?.stop();
  for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
  Object.assign(process.env, savedEnv);
});

function emf(): Array<Record<string, unknown>> {
  return stdoutLines
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((d) => typeof d._aws === "object");
}

const sum = (docs: Array<Record<string, unknown>>, name: string) =>
  docs.reduce((total, d) => total + (typeof d[name] === "number" ? (d[name] as number) : 0), 0);

describe("the deployed handlers, run locally", () => {
  let jobId: string;
  let report: JobReport;

  it("rejects a bad on-demand payload without starting anything", async () => {
    await expect(handlers.coordinator({ kind: "on-demand", requestId: "two words" }, {})).rejects.toThrow(
      /coordinator event: expected .*found \{"kind":"on-demand","requestId":"two words"\}/,
    );
  });

  it("runs an on-demand job to completion: coordinator, then controller invocations from the queue", async () => {
    const started = await handlers.coordinator({ kind: "on-demand", requestId: "itest-1" }, {});
    expect(started.job).toMatchObject({ status: "started", mailboxes: truth.mailboxes.length, streams: 2 });
    jobId = started.job.jobId;
    expect(started.sweep?.jobs).toBeGreaterThanOrEqual(1);
    source!.start();
    report = await stack!.waitForJob(jobId, { timeoutMs: 180_000, sweepEveryMs: 60_000 });
    expect(source!.invocations).toBeGreaterThan(0);
    const continued = stdoutLines.filter((l) => l.includes('"event":"stream.continued"'));
    expect(continued.length).toBeGreaterThan(0);

    // Every item of every kind of both mailboxes (content mode fidelity, the default).
    const items = truth.mailboxes.flatMap((m) => m.mailboxFolders.flatMap((f) => f.items));
    expect(report.status).toBe("complete");
    expect(report.totals.mailboxes).toBe(truth.mailboxes.length);
    expect(report.totals.items).toBe(items.length);
    // Every distinct export stream is in the bucket the handlers were pointed at, once: a blob of
    // its own (large) or an entry of a pack's index (small).
    const store = stack!.app.archive.store;
    const own = await listAll(store, "blobs/sha256/");
    const bodies = own.map((o) => /([0-9a-f]{64})\.fts$/.exec(o.key)![1]!);
    for (const { key } of await listAll(store, "blobs/packs/"))
      if (/\/[^/]+\.index\.json$/.test(key) && !/\/merged-[^/]*$/.test(key))
        bodies.push(
          ...(await readPackIndex(store, key)).entries
            .filter((e) => e.kind === "export")
            .map((e) => e.sha256),
        );
    expect(bodies.length).toBeGreaterThan(own.length);
    expect(bodies.sort()).toEqual([...new Set(items.map((m) => m.sha256))].sort());
  }, 240_000);

  it("wrote EMF metrics with the stage dimension that add up to the report", () => {
    const docs = emf();
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) {
      expect(d.Stage).toBe(STAGE);
      expect(d._aws).toMatchObject({
        CloudWatchMetrics: [{ Namespace: "Mailstream", Dimensions: [["Stage"]] }],
      });
    }
    const ofJob = docs.filter((d) => d.jobId === jobId);
    expect(sum(ofJob, "ItemsStored")).toBe(report.totals.items);
    expect(sum(ofJob, "BytesStored")).toBe(report.totals.bytes);
    expect(sum(ofJob, "JobsSucceeded")).toBe(1);
    expect(sum(ofJob, "JobsFailed")).toBe(0);
    // The coordinator's sweep reported the gauge of active streams.
    expect(docs.some((d) => typeof d.ActiveStreams === "number")).toBe(true);
  });

  it("logs structured JSON with the stage and the job id", () => {
    const logs = stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((d) => d.event);
    expect(logs.find((l) => l.event === "job.finalized")).toMatchObject({
      jobId,
      stage: STAGE,
      status: "complete",
    });
  });

  it("builds the search index after the job in pieces, one invocation each, handed on through the queue", async () => {
    const logs = () =>
      stdoutLines
        .map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((d) => d.event === "index.after.job");
    const deadline = Date.now() + 120_000;
    while (!logs().some((l) => l.status === "built") && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const runs = logs();
    // A piece per mailbox; an invocation that found its time spent after a piece handed on
    // (on this machine every one, unless its first piece took under 0.6 s: the test does not
    // count on which), each going on where the last stopped.
    const handedOn = runs.filter((l) => l.status === "continued").map((l) => l.mailboxesDone as number);
    expect(runs).toHaveLength(handedOn.length + 1);
    expect(handedOn).toEqual([...new Set(handedOn)].sort((a, b) => a - b));
    expect(handedOn.every((done) => done >= 1 && done < truth.mailboxes.length)).toBe(true);
    expect(runs.find((l) => l.status === "built")).toMatchObject({
      indexedJob: jobId,
      rebuilt: truth.mailboxes.length,
      pieces: truth.mailboxes.length,
    });
    const store = stack!.app.archive.store;
    expect(await readIndexManifest(store, jobId)).toMatchObject({ jobId });
    const mailboxes = mailboxesOf(await requireJobs(store));
    for (const criteria of [{}, { hasAttachments: true }, { kind: "mail" }]) {
      const indexed = await searchArchive(store, mailboxes, criteria, { at: jobId });
      const scanned = await searchArchive(store, mailboxes, criteria, { at: jobId, useIndex: false });
      expect(indexed.index?.mailboxes).toBe(truth.mailboxes.length);
      expect(indexed.hits).toEqual(scanned.hits);
    }
  }, 180_000);

  it("answers a batch with a malformed task with a partial batch response naming that record", async () => {
    const response = await handlers.controller(
      {
        Records: [
          {
            messageId: "bad-1",
            receiptHandle: "h",
            body: '{"not":"a stream task"}',
            attributes: { ApproximateReceiveCount: "1", SentTimestamp: String(Date.now()) },
          } as never,
        ],
      },
      { awsRequestId: "r", functionName: "controller", getRemainingTimeInMillis: () => 600_000 },
    );
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "bad-1" }] });
  });

  it("drops a finalization's continuation for a job already closed (a late copy): nothing written, the record acknowledged", async () => {
    const before = await stack!.app.state.getJob(jobId);
    const response = await handlers.controller(
      {
        Records: [
          {
            messageId: "fin-1",
            receiptHandle: "h",
            body: JSON.stringify({ kind: "finalize", jobId }),
            attributes: { ApproximateReceiveCount: "1", SentTimestamp: String(Date.now()) },
          } as never,
        ],
      },
      { awsRequestId: "r", functionName: "controller", getRemainingTimeInMillis: () => 600_000 },
    );
    expect(response).toEqual({ batchItemFailures: [] });
    const logs = stdoutLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.find((l) => l.event === "job.finalize.dropped")).toMatchObject({ jobId, status: "complete" });
    expect(await stack!.app.state.getJob(jobId)).toEqual(before);
  });

  it("sweeps with nothing left to do once the job is closed", async () => {
    expect(await handlers.sweep()).toEqual({ jobs: 0, resent: 0, finalized: [] });
  });
});
