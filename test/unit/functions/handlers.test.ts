import { beforeEach, describe, expect, it, vi } from "vitest";
import type { BackupApp } from "../../../lib/app/backup-app.js";
import { InvalidEventError } from "../../../lib/app/lambda.js";
import type { Logger } from "../../../lib/app/logger.js";
import type { JobTrigger } from "../../../lib/backup/ports.js";
import { processSqsBatch } from "../../../lib/queue/batch.js";
import type { SQSEvent, SQSRecord } from "../../../lib/queue/lambda-events.js";

// The handlers' only dependency: the per-container runtime. Everything else is the real code.
const runtime = vi.hoisted(() => ({ current: undefined as unknown, calls: 0 }));
vi.mock("../../../lib/app/lambda.js", async (importOriginal) => {
  const original = await importOriginal<typeof import("../../../lib/app/lambda.js")>();
  return {
    ...original,
    lambdaRuntime: async () => {
      runtime.calls++;
      return runtime.current;
    },
    // The sweep builds its own, smaller app (no Graph, no secret): the same stand-in serves it.
    sweepRuntime: async () => {
      runtime.calls++;
      return runtime.current;
    },
  };
});

const { handler: coordinator } = await import("../../../functions/coordinator.js");
const { handler: controller } = await import("../../../functions/controller.js");
const { handler: sweepHandler } = await import("../../../functions/sweep.js");

const logged: Array<{ event: string; fields?: Record<string, unknown> }> = [];
const logger: Logger = {
  debug: () => {},
  info: (event, fields) => logged.push({ event, fields }),
  warn: (event, fields) => logged.push({ event, fields }),
  error: (event, fields) => logged.push({ event, fields }),
  child: () => logger,
};

function fakeApp(overrides: Partial<BackupApp>): BackupApp {
  return overrides as BackupApp;
}

function record(messageId: string, body: string): SQSRecord {
  return {
    messageId,
    receiptHandle: `h-${messageId}`,
    body,
    attributes: { ApproximateReceiveCount: "1", SentTimestamp: "0" },
  } as SQSRecord;
}

const context = {
  awsRequestId: "req-1",
  functionName: "controller",
  getRemainingTimeInMillis: () => 600_000,
};

beforeEach(() => {
  logged.length = 0;
  runtime.calls = 0;
});

describe("controller handler", () => {
  it("answers with a partial batch response naming only the record that failed", async () => {
    const ran: string[] = [];
    runtime.current = {
      logger,
      app: fakeApp({
        handleSqsEvent: (event, ctx) =>
          processSqsBatch(
            event,
            async (r) => {
              expect(ctx.getRemainingTimeInMillis()).toBe(600_000);
              if (r.body === "boom") throw new Error("stream task failed");
              ran.push(r.body);
            },
            () => {},
          ),
      }),
    };
    const event: SQSEvent = { Records: [record("m1", "ok-1"), record("m2", "boom"), record("m3", "ok-3")] };
    const response = await controller(event, context);
    expect(response).toEqual({ batchItemFailures: [{ itemIdentifier: "m2" }] });
    expect(ran).toEqual(["ok-1", "ok-3"]);
  });

  it("rejects an event that is not an SQS batch before building the app", async () => {
    await expect(controller({ kind: "on-demand" } as unknown as SQSEvent, context)).rejects.toThrow(
      InvalidEventError,
    );
    expect(runtime.calls).toBe(0);
  });
});

describe("coordinator handler", () => {
  function coordinatorApp(sweepResult: () => Promise<unknown>) {
    const triggers: JobTrigger[] = [];
    const order: string[] = [];
    runtime.current = {
      logger,
      app: fakeApp({
        startJob: async (trigger) => {
          order.push("startJob");
          triggers.push(trigger);
          return {
            status: "started",
            jobId: "job-1",
            discovery: "done",
            pieces: 1,
            mailboxes: 3,
            skipped: 1,
            units: 4,
            streams: 2,
            predictedMakespanSeconds: 40,
            longestPieceMs: 10,
            largestPiece: 4,
          } as never;
        },
        sweep: async () => {
          order.push("sweep");
          return sweepResult() as never;
        },
      }),
    };
    return { triggers, order };
  }

  it("starts the scheduled job, then sweeps, and reports both", async () => {
    const { triggers, order } = coordinatorApp(async () => ({ jobs: 2, resent: [{}], finalized: ["old"] }));
    const result = await coordinator(
      { "detail-type": "Scheduled Event", id: "ev-9", time: "2026-11-29T04:00:00Z", source: "aws.events" },
      { awsRequestId: "req-2" },
    );
    expect(triggers).toEqual([{ kind: "schedule", time: "2026-11-29T04:00:00.000Z", eventId: "ev-9" }]);
    expect(order).toEqual(["startJob", "sweep"]);
    expect(result).toEqual({
      job: {
        status: "started",
        jobId: "job-1",
        discovery: "done",
        pieces: 1,
        mailboxes: 3,
        skipped: 1,
        units: 4,
        streams: 2,
        predictedMakespanSeconds: 40,
      },
      sweep: { jobs: 2, resent: 1, finalized: ["old"] },
    });
  });

  it("still reports the started job when the sweep fails, and logs the failure", async () => {
    coordinatorApp(async () => {
      throw new Error("table unavailable");
    });
    const result = await coordinator({ kind: "on-demand", requestId: "ops-1" }, { awsRequestId: "r" });
    expect(result).toEqual({
      job: {
        status: "started",
        jobId: "job-1",
        discovery: "done",
        pieces: 1,
        mailboxes: 3,
        skipped: 1,
        units: 4,
        streams: 2,
        predictedMakespanSeconds: 40,
      },
    });
    expect(logged).toContainEqual({
      event: "coordinator.sweep.failed",
      fields: { error: { name: "Error", message: "table unavailable" } },
    });
  });

  it("rejects a bad on-demand payload with a clear error and starts nothing", async () => {
    const { triggers } = coordinatorApp(async () => ({
      jobs: 0,
      resent: [],
      discoveryResent: [],
      finalized: [],
      abandoned: [],
    }));
    await expect(coordinator({ kind: "full-backup" }, { awsRequestId: "r" })).rejects.toThrow(
      /coordinator event: expected .*found \{"kind":"full-backup"\}/,
    );
    expect(triggers).toEqual([]);
    expect(runtime.calls).toBe(0);
  });
});

describe("sweep handler", () => {
  it("runs the sweep and summarizes it", async () => {
    runtime.current = {
      logger,
      app: fakeApp({
        sweep: async () => ({
          jobs: 3,
          resent: [{} as never, {} as never],
          discoveryResent: [],
          finalized: [],
          abandoned: [],
        }),
      }),
    };
    expect(await sweepHandler()).toEqual({ jobs: 3, resent: 2, finalized: [] });
  });
});
