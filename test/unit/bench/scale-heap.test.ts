import { describe, expect, it } from "vitest";
import { dynamoDbHeapFor, finalizingPieces } from "../../../bench/scale.js";

describe("dynamoDbHeapFor (the scale bench's DynamoDB Local heap)", () => {
  it("keeps the tests' 512 MiB for small tenants and grows by 256 MiB per 1,000 mailboxes beyond", () => {
    expect(dynamoDbHeapFor(1_000)).toBe(512);
    expect(dynamoDbHeapFor(2_000)).toBe(512);
    expect(dynamoDbHeapFor(10_000)).toBe(2_560);
    expect(dynamoDbHeapFor(20_000)).toBe(5_120);
    expect(dynamoDbHeapFor(100_000)).toBe(16_384);
  });
});

describe("finalizingPieces", () => {
  it("counts pieces by kind and reads the largest piece a timeout allows off the largest and the longest", () => {
    const figures = finalizingPieces(
      [
        { kind: "report-units", records: 500, ms: 400 },
        { kind: "report-units", records: 480, ms: 500 },
        { kind: "report-units", records: 3, ms: 100 },
        { kind: "sync", records: 256, ms: 2000 },
      ],
      80,
    );
    expect(figures.pieces).toBe(4);
    expect(figures.longestPieceSeconds).toBe(2);
    expect(figures.byKind["report-units"]).toEqual({
      pieces: 3,
      records: 983,
      largestRecords: 500,
      longestSeconds: 0.5,
      totalSeconds: 1,
      recordsWithinTimeout: 80_000,
    });
    expect(figures.byKind.sync?.recordsWithinTimeout).toBe(10_240);
    expect(finalizingPieces([], 80)).toEqual({ pieces: 0, longestPieceSeconds: 0, byKind: {} });
  });
});
