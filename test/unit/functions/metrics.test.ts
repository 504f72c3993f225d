import { describe, expect, it } from "vitest";
import { METRIC as INFRA_METRIC, METRICS_NAMESPACE as INFRA_NAMESPACE } from "../../../infra/metrics.js";
import {
  createEmfMetrics,
  emfDocument,
  jobMetrics,
  METRIC,
  METRICS_NAMESPACE,
  pageMetrics,
  unitErrorMetrics,
} from "../../../lib/app/metrics.js";
import type { UnitResult } from "../../../lib/backup/ports.js";

function unit(overrides: Partial<UnitResult> = {}): UnitResult {
  return {
    status: "done",
    progress: { items: 120, bytes: 3_456_789, removed: 2, deduplicated: 5, requests: 40, throttled: 3 },
    errors: [],
    incompleteFolders: [],
    startedAt: "2026-11-29T04:00:00.000Z",
    endedAt: "2026-11-29T04:01:00.000Z",
    ...overrides,
  };
}

describe("EMF lines", () => {
  it("writes one JSON line per put with the _aws block, the Stage dimension and each value with its unit", () => {
    const lines: string[] = [];
    const metrics = createEmfMetrics({
      stage: "prod",
      write: (l) => lines.push(l),
      now: () => 1_790_000_000_000,
    });
    metrics.put({ ItemsStored: 7, BytesStored: 2048 }, { jobId: "j1", streamId: 2 });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("\n");
    expect(JSON.parse(lines[0]!)).toEqual({
      _aws: {
        Timestamp: 1_790_000_000_000,
        CloudWatchMetrics: [
          {
            Namespace: "Mailstream",
            Dimensions: [["Stage"]],
            Metrics: [
              { Name: "ItemsStored", Unit: "Count" },
              { Name: "BytesStored", Unit: "Bytes" },
            ],
          },
        ],
      },
      Stage: "prod",
      ItemsStored: 7,
      BytesStored: 2048,
      jobId: "j1",
      streamId: 2,
    });
  });

  it("never lets a property overwrite the dimension or a value", () => {
    const document = emfDocument("prod", { Errors: 1 }, 0, { Stage: "other", Errors: 99 });
    expect(document.Stage).toBe("prod");
    expect(document.Errors).toBe(1);
  });

  it("keeps zero values (continuous graphs) and writes nothing when no value is a number", () => {
    const lines: string[] = [];
    const metrics = createEmfMetrics({ stage: "dev", write: (l) => lines.push(l) });
    metrics.put({ ActiveStreams: 0 });
    metrics.put({ Errors: Number.NaN });
    metrics.put({});
    expect(lines.map((l) => JSON.parse(l).ActiveStreams)).toEqual([0]);
  });

  it("shares one contract with the stack's dashboard and alarms", () => {
    expect(INFRA_METRIC).toBe(METRIC);
    expect(INFRA_NAMESPACE).toBe(METRICS_NAMESPACE);
    expect(Object.values(METRIC).sort()).toEqual(
      [
        "ActiveStreams",
        "BytesStored",
        "Errors",
        "ItemsStored",
        "JobsFailed",
        "JobsSucceeded",
        "Throttled",
      ].sort(),
    );
  });
});

describe("what the pipeline reports", () => {
  it("counts a stored page's items, bytes and throttled answers", () => {
    expect(pageMetrics(unit().progress)).toEqual({ ItemsStored: 120, BytesStored: 3_456_789, Throttled: 3 });
  });

  it("counts a finished unit's recorded errors, and a failed unit without any as one", () => {
    const errors = [
      { subject: "message m1", name: "SkipError", message: "gone" },
      { subject: "folder f1", name: "SkipError", message: "gone" },
    ];
    expect(unitErrorMetrics(unit({ errors }))).toEqual({ Errors: 2 });
    expect(unitErrorMetrics(unit({ status: "failed", errors }))).toEqual({ Errors: 2 });
    expect(unitErrorMetrics(unit({ status: "failed" }))).toEqual({ Errors: 1 });
    expect(unitErrorMetrics(unit())).toEqual({ Errors: 0 });
  });

  it("counts only complete jobs as succeeded", () => {
    expect(jobMetrics({ status: "complete" })).toEqual({ JobsSucceeded: 1, JobsFailed: 0 });
    expect(jobMetrics({ status: "partial" })).toEqual({ JobsSucceeded: 0, JobsFailed: 1 });
    expect(jobMetrics({ status: "failed" })).toEqual({ JobsSucceeded: 0, JobsFailed: 1 });
  });
});
