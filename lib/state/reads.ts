/**
 * Reading stream and unit records, and the facts every state module derives from them (which
 * units a stream holds, whether a task still holds a unit). No writes here.
 */
import type { StreamTask } from "../queue/stream-task.js";
import { StateRecordMissingError } from "./errors.js";
import { jobPk, STREAM_PREFIX, streamSk, UNIT_PREFIX, unitSk } from "./keys.js";
import type { StreamRecord, UnitRecord } from "./records.js";
import { type StateTable, strip } from "./table.js";

export async function getStream(
  t: StateTable,
  jobId: string,
  streamId: number,
): Promise<StreamRecord | undefined> {
  const item = await t.get(jobPk(jobId), streamSk(streamId));
  return item ? (strip(item) as unknown as StreamRecord) : undefined;
}

export async function requireStream(t: StateTable, task: StreamTask): Promise<StreamRecord> {
  const stream = await getStream(t, task.jobId, task.streamId);
  if (!stream) {
    throw new StateRecordMissingError(
      `job ${task.jobId} stream ${task.streamId}: expected its record, found none`,
    );
  }
  return stream;
}

/** The streams of a job, by stream id (records beyond the plan's stream count are leftovers of a re-plan). */
export async function listStreams(
  t: StateTable,
  jobId: string,
  streamCount?: number,
): Promise<StreamRecord[]> {
  const streams = (await t.query(jobPk(jobId), STREAM_PREFIX)).map(
    (i) => strip(i) as unknown as StreamRecord,
  );
  return streamCount === undefined ? streams : streams.filter((s) => s.streamId < streamCount);
}

export async function getUnit(t: StateTable, jobId: string, index: number): Promise<UnitRecord | undefined> {
  const item = await t.get(jobPk(jobId), unitSk(index));
  return item ? (strip(item) as unknown as UnitRecord) : undefined;
}

/** Units of the job read by key, in batches (BatchGetItem), by index; a missing one is absent. */
export async function unitsByIndex(
  t: StateTable,
  jobId: string,
  indexes: readonly number[],
): Promise<Map<number, UnitRecord>> {
  const found = await t.batchGet(indexes.map((i) => ({ pk: jobPk(jobId), sk: unitSk(i) })));
  return new Map(
    found.map((item) => {
      const unit = strip(item) as unknown as UnitRecord;
      return [unit.index, unit];
    }),
  );
}

export async function requireUnit(t: StateTable, jobId: string, index: number): Promise<UnitRecord> {
  const unit = await getUnit(t, jobId, index);
  if (!unit) throw new StateRecordMissingError(`job ${jobId} unit ${index}: expected its record, found none`);
  return unit;
}

/** The units of a job in index order (records beyond the plan's unit count are leftovers of a re-plan). */
export async function listUnits(t: StateTable, jobId: string, unitCount?: number): Promise<UnitRecord[]> {
  const units = (await t.query(jobPk(jobId), UNIT_PREFIX)).map((i) => strip(i) as unknown as UnitRecord);
  return unitCount === undefined ? units : units.filter((u) => u.index < unitCount);
}

export function isHeldBy(unit: UnitRecord, task: StreamTask): boolean {
  return unit.status === "running" && unit.claimedBy === task.streamId && (unit.claimSeq ?? 0) <= task.seq;
}

export function describeUnit(unit: UnitRecord): string {
  const holder =
    unit.claimedBy === undefined ? "no stream" : `stream ${unit.claimedBy} (seq ${unit.claimSeq})`;
  return `status ${unit.status}, claimed by ${holder}`;
}

/** The indexes of the units a stream record says it holds (including the older single `currentUnit`). */
export function heldIndexes(stream: Pick<StreamRecord, "heldUnits" | "currentUnit">): number[] {
  const held = new Set<number>(stream.heldUnits ?? []);
  if (stream.currentUnit !== undefined) held.add(stream.currentUnit);
  return [...held].sort((a, b) => a - b);
}
