/**
 * What a state request costs DynamoDB Local (and the calling process) by kind, for
 * bench/state-request-cost.ts: each kind of request a stream makes per unit and at its end, in the
 * form older code sent it and in the current one, sent `requests` times one after another on one
 * job (after a warm-up of the JVM), with the CPU the caller's sampler reads around each kind.
 */
import { createAwsClients } from "../../aws/clients.js";
import type { StreamTask } from "../../queue/stream-task.js";
import { jobIdForTick, type PlannedUnit, StateStore } from "../../state/index.js";
import { jobPk, META, stagedSyncSk, streamSk } from "../../state/keys.js";
import { stagedSyncStatePuts } from "../../state/sync-states.js";
import { startEmulators } from "./emulators.js";
import { commitOnePiece } from "./one-piece-job.js";
import { createStateTable } from "./state-table.js";

/** CPU seconds so far of DynamoDB Local and of this process. */
export interface CpuSample {
  dynamodb: number;
  harness: number;
}

export interface StateRequestCost {
  kind: string;
  /** Requests one call of the kind sends. */
  requests: number;
  /** CPU milliseconds per call. */
  dynamodbMs: number;
  harnessMs: number;
}

/** A unit of a many-small mailbox: 23 folders with ids as long as Graph's. */
function unit(i: number): PlannedUnit {
  return {
    mailboxId: `mbx-${i}`,
    folderIds: Array.from(
      { length: 23 },
      (_, f) => `AAMkAD${String(i).padStart(6, "0")}${"x".repeat(130)}${f}`,
    ),
    cost: 1000 - i,
    estimatedSeconds: 3,
    concurrency: 4,
  };
}

async function runningJob(store: StateStore, units: number, streams: number): Promise<string> {
  const jobId = jobIdForTick(new Date(), `cost-${units}-${streams}-${Math.random()}`);
  const { job } = await store.createJob({ jobId, trigger: "schedule" });
  const planned = Array.from({ length: units }, (_, i) => unit(i));
  await commitOnePiece(store, job, planned, streams);
  return jobId;
}

export async function stateRequestCosts(n: number, sample: () => CpuSample): Promise<StateRequestCost[]> {
  const emulators = await startEmulators({});
  const clients = createAwsClients(emulators.endpoints);
  const between = (a: CpuSample, b: CpuSample) => ({
    dynamodb: b.dynamodb - a.dynamodb,
    harness: b.harness - a.harness,
  });
  try {
    await createStateTable(clients.dynamodb, "state-request-cost");
    const store = new StateStore({ ddb: clients.ddb, tableName: "state-request-cost" });
    const t = store.table;
    const rows: StateRequestCost[] = [];
    /** Runs `op` n times, one after another; CPU per call (each call is `requests` requests). */
    const measure = async (kind: string, requests: number, op: (i: number) => Promise<unknown>) => {
      const c0 = sample();
      for (let i = 0; i < n; i++) await op(i);
      const c = between(c0, sample());
      rows.push({ kind, requests, dynamodbMs: (c.dynamodb * 1000) / n, harnessMs: (c.harness * 1000) / n });
    };

    // A job whose units are claimed and ended, n of them, with as many streams (one unit each).
    const work = await runningJob(store, n * 2, n);
    const task = (jobId: string, streamId: number): StreamTask => ({ jobId, streamId, seq: 0 });
    // Warm-up: the JVM compiles as it goes.
    await measure("warm-up: claim + end", 4, async (i) => {
      const u = await store.claimUnit(task(work, i));
      if (u && u !== "later") await store.completeUnit(task(work, i), u.index, { status: "done" });
    });
    rows.length = 0;
    await measure("a unit's claim (ticket, claim transaction, read) and end (transaction)", 4, async (i) => {
      const u = await store.claimUnit(task(work, i));
      if (u && u !== "later") await store.completeUnit(task(work, i), u.index, { status: "done" });
    });

    // A many-small unit's end as a stream sends it: its last checkpoint with the sync states of
    // the 17 folders it finished (delta links as long as Graph's) in the end's transaction.
    const ending = await runningJob(store, n, n);
    const last = (i: number) => ({
      checkpoint: { folderIndex: 17, page: 20 },
      counters: { items: 13, bytes: 60_000, requests: 20 },
      staged: Array.from({ length: 17 }, (_, f) => ({
        mailboxId: `mbx-${i}`,
        folderId: unit(i).folderIds[f] as string,
        deltaLink: `https://graph.microsoft.com/v1.0/users/mbx-${i}/mailFolders/${unit(i).folderIds[f]}/messages/delta?$deltatoken=${"t".repeat(200)}`,
      })),
    });
    await measure("a unit's claim and end with 17 folders' sync states (as many-small's)", 4, async (i) => {
      const u = await store.claimUnit(task(ending, i));
      if (u && u !== "later")
        await store.completeUnit(task(ending, i), u.index, { status: "done", last: last(i) });
    });

    // The 17 states alone, in a transaction of their own: as the per-folder items versions
    // before 2026-12-07 staged (one item each), and as the staged set staging writes now.
    const legacy = (i: number) =>
      last(i).staged.map((state) => ({
        Put: {
          TableName: t.name,
          Item: {
            pk: jobPk(ending),
            sk: stagedSyncSk(state.mailboxId, state.folderId),
            expiresAt: 1_900_000_000,
            ...state,
            stagedAt: t.nowIso(),
          },
        },
      }));
    await measure("17 folders' sync states staged: 17 per-folder items (before)", 1, (i) =>
      t.transact(legacy(i)),
    );
    await measure("17 folders' sync states staged: one staged set (now)", 1, async (i) =>
      t.transact(await stagedSyncStatePuts(t, ending, last(i).staged)),
    );

    await measure("a unit's read (GetItem, 23 folders)", 1, (i) => store.getUnit(work, i));
    // One process hosting many streams (the local stack, the bench) sends their claims together:
    // per request, what 64 reads at once cost (the DynamoDB client's sockets: lib/aws/clients.ts).
    const together = 64;
    await measure(`a unit's read, ${together} at once (CPU per read)`, 1, async (i) => {
      if (i % together === 0) {
        const reads = Math.min(together, n - i);
        await Promise.all(Array.from({ length: reads }, (_, k) => store.getUnit(work, i + k)));
      }
    });
    await measure("idle, per 10 ms (the JVM's own work)", 0, () => new Promise((r) => setTimeout(r, 10)));

    const stream = (jobId: string, i: number) => ({ pk: jobPk(jobId), sk: streamSk(i) });
    const heartbeatAt = "SET heartbeatAt = :now";
    await measure("heartbeat: one-item transaction (before)", 1, (i) =>
      t.transact([
        t.update(
          stream(work, i).pk,
          stream(work, i).sk,
          heartbeatAt,
          { ":now": t.nowIso(), ":seq": 0 },
          "seq = :seq",
        ),
      ]),
    );
    await measure("heartbeat: conditional update (now)", 1, (i) => store.heartbeat(task(work, i)));

    // The cursor is exhausted: every ticket is refused, as at a stream's end.
    const refusedTicket = {
      Key: { pk: jobPk(work), sk: META },
      UpdateExpression: "ADD nextUnit :one",
      ConditionExpression:
        "nextUnit < unitCount AND #status = :running AND attribute_not_exists(orphanedUnits)",
      ExpressionAttributeValues: { ":one": 1, ":running": "running" },
      ExpressionAttributeNames: { "#status": "status" },
      ReturnValues: "UPDATED_OLD" as const,
    };
    await t.updateReturning({
      Key: { pk: jobPk(work), sk: META },
      UpdateExpression: "SET nextUnit = unitCount",
    });
    await measure("refused ticket, then the job read (before)", 2, async () => {
      await t.updateReturning(refusedTicket);
      await t.get(jobPk(work), META);
    });
    await measure("refused ticket answering with the job (now)", 1, () => t.updateOrRead(refusedTicket));
    await measure("refused finalization attempt (before: every stream but the last)", 1, () =>
      store.tryFinalizeJob(work),
    );
    await measure("stream finish: two-item transaction", 1, async (i) => {
      await store.finishStream(task(work, i));
    });

    // Planning writes a piece's records and finalization promotes sync states in transactions of
    // up to 100 items (StateTable.transactEach): what one such request costs, for comparison.
    const hundred = (round: number) =>
      Array.from({ length: 100 }, (_, k) =>
        t.update(
          `MBX#cost-${round}`,
          `FOLDER#${k}`,
          "SET deltaLink = :link, lastJob = :job",
          { ":link": `https://graph.microsoft.com/v1.0/delta?$deltatoken=${"t".repeat(200)}`, ":job": work },
          "attribute_not_exists(lastJob) OR lastJob < :job",
        ),
      );
    const per100 = Math.max(1, Math.round(n / 20));
    const c0 = sample();
    for (let round = 0; round < per100; round++) await t.transactEach(hundred(round));
    const c = between(c0, sample());
    rows.push({
      kind: "transaction of 100 conditional updates (promotion, piece records)",
      requests: 1,
      dynamodbMs: (c.dynamodb * 1000) / per100,
      harnessMs: (c.harness * 1000) / per100,
    });

    return rows;
  } finally {
    clients.destroy();
    await emulators.stop();
  }
}
