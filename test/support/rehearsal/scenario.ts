/**
 * The job a deploy rehearsal runs, through the functions as deployed:
 *
 * 1. A scheduled tick: the coordinator discovers the mailboxes, plans and starts the streams.
 * 2. The controllers consume the stream queue through the event source mapping. The first
 *    invocation of each stream starts 0.3 s before its deadline margin (as if Lambda had started it
 *    late), so every stream hands itself on through the queue once, mid-unit or after its first unit.
 * 3. A controller is killed mid-unit (at its third blob write): its task stays invisible, the
 *    other streams finish. The sweep, running later (its clock shifted past the heartbeat
 *    staleness), re-sends the stale stream, which resumes its unit.
 * 4. The controller that finalizes the job is killed at its report write; the next sweep
 *    finalizes the job.
 * 5. A second tick starts an incremental job; its finalizer is killed too, and EventBridge's
 *    second delivery of the same tick (a duplicate for the job) runs the coordinator's sweep,
 *    which finalizes it.
 * 6. An operator's bad asynchronous invocation of the coordinator fails its retries and lands in
 *    the failure destination; so does a sweep whose container dies.
 */
import type { CoordinatorResult } from "../../../functions/coordinator.js";
import { readReport } from "../../../lib/archive/reports.js";
import { S3ObjectStore } from "../../../lib/archive/s3-store.js";
import type { JobReport } from "../../../lib/backup/report.js";
import type { LocalSqsEventSource } from "../../../lib/dev/local/sqs-event-source.js";
import type { InvocationResult, RawCall } from "./lambda-emulator.js";
import type { Rehearsal } from "./rehearsal.js";

export interface ScenarioOutcome {
  firstJob: { jobId: string; report: JobReport };
  secondJob: { jobId: string; report: JobReport };
  ticks: InvocationResult[];
  sweeps: InvocationResult[];
  kills: RawCall[];
  controllerInvocations: number;
  continuations: number;
  /** Discovery pieces the controllers ran (a job's later pieces, handed on by the coordinator). */
  discoveryPiecesOnControllers: number;
  failedInvocations: number;
}

/** Rehearsal time that is not wall time: waits poll a condition, never sleep for an outcome. */
async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`rehearsal: gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** The event source has nothing left to run: no invocation in flight, no visible task (twice in a row). */
async function quiet(r: Rehearsal, source: LocalSqsEventSource): Promise<void> {
  let calm = 0;
  await until("the stream queue to be drained", async () => {
    const idle = source.inFlight === 0 && (await r.visibleMessages("StreamQueueTasks")) === 0;
    calm = idle ? calm + 1 : 0;
    return calm >= 3 ? true : undefined;
  });
}

async function closedReport(r: Rehearsal, jobId: string): Promise<JobReport> {
  const job = await r.state.getJob(jobId);
  if (!job || !["complete", "partial", "failed"].includes(job.status)) {
    throw new Error(`rehearsal: expected job ${jobId} closed, found ${job?.status ?? "no job"}`);
  }
  const env = r.deployment.fn("Sweep").environment;
  const store = new S3ObjectStore({
    client: r.clients.s3,
    bucket: env.MAILSTREAM_ARCHIVE_BUCKET!,
    ...(env.MAILSTREAM_ARCHIVE_PREFIX ? { prefix: env.MAILSTREAM_ARCHIVE_PREFIX } : {}),
  });
  const envelope = await readReport<JobReport>(store, jobId);
  if (!envelope) throw new Error(`rehearsal: job ${jobId} is closed but has no report`);
  return envelope.report;
}

const isS3Put = (call: RawCall, part: string) =>
  call.service === "S3" &&
  (call.command === "PutObjectCommand" || call.command === "CopyObjectCommand") &&
  String(call.input.Key ?? "").includes(part);

export async function runDeploymentScenario(r: Rehearsal): Promise<ScenarioOutcome> {
  const hour = 3600_000;
  const margin = Number(r.controller.fn.environment.MAILSTREAM_DEADLINE_MARGIN_MS);
  const kills: RawCall[] = [];
  const ticks: InvocationResult[] = [];
  const sweeps: InvocationResult[] = [];
  const jobOf = (result: InvocationResult) => {
    if (result.status !== "ok")
      throw new Error(`rehearsal: the coordinator failed: ${JSON.stringify(result)}`);
    return (result.value as CoordinatorResult).job;
  };

  // 1-3: a job, a controller killed mid-unit, the sweep re-sends its stream.
  const tick1 = r.scheduledEvent(new Date(), "tick-1");
  ticks.push(await r.invokeAsync(r.coordinator, tick1));
  const first = jobOf(ticks[0]!);
  if (first.status !== "started") throw new Error(`rehearsal: expected a started job, found ${first.status}`);
  let blobWrites = 0;
  const midUnit = r.controller.killAtNext((call) => isS3Put(call, "blobs/") && ++blobWrites === 3);
  // A stream's first invocation starts 0.3 s before its deadline margin: it cannot claim a second
  // unit, so it continues through the queue whether or not it finished its first.
  const source = await r.startEventSource((event, timeoutMs) => {
    const task = JSON.parse(event.Records[0]!.body) as { seq?: number };
    return task.seq === 0 ? margin + 300 : timeoutMs;
  });
  kills.push(await midUnit);
  await quiet(r, source);
  const finalizer = r.controller.killAtNext((call) => isS3Put(call, "reports/"));
  // The sweep runs "two hours later": every heartbeat is stale, but only the killed stream is open.
  sweeps.push(await r.invokeAsync(r.sweep, r.scheduledEvent(), { clockOffsetMs: 2 * hour }));
  kills.push(await finalizer);
  await quiet(r, source);
  // 4: the next sweep finalizes the job whose finalizer died.
  sweeps.push(await r.invokeAsync(r.sweep, r.scheduledEvent(), { clockOffsetMs: 2 * hour }));
  // A finalization the sweep cannot end within its deadline margin (at most a quarter of the
  // time it had when finalization began) goes on as a finalize task.
  await quiet(r, source);
  const firstReport = await closedReport(r, first.jobId);

  // 5: an incremental job; its finalizer dies, the coordinator's sweep on a redelivered tick finalizes it.
  const tick2 = r.scheduledEvent(new Date(Date.now() + 1000), "tick-2");
  ticks.push(await r.invokeAsync(r.coordinator, tick2));
  const second = jobOf(ticks[1]!);
  if (second.status !== "started")
    throw new Error(`rehearsal: expected a second job, found ${second.status}`);
  kills.push(await r.controller.killAtNext((call) => isS3Put(call, "reports/")));
  await quiet(r, source);
  ticks.push(await r.invokeAsync(r.coordinator, tick2, { clockOffsetMs: 2 * hour }));
  // A coordinator whose timeout is under the deadline margin (the production variant's 30 s
  // against 60 s) keeps a quarter of its time (7.5 s) and finalizes in the rest; what it cannot
  // end goes on as a finalize task that a controller ends from the queue.
  await quiet(r, source);
  const secondReport = await closedReport(r, second.jobId);
  await source.stop();

  // 6: failures of asynchronous invocations go to the failure destination.
  ticks.push(await r.invokeAsync(r.coordinator, { kind: "full" }));
  const sweepCrash = r.sweep.killAtNext(() => true);
  sweeps.push(await r.invokeAsync(r.sweep, r.scheduledEvent()));
  kills.push(await sweepCrash);

  const continuations = r.controller.output.filter((l) => l.includes('"event":"stream.continued"')).length;
  return {
    firstJob: { jobId: first.jobId, report: firstReport },
    secondJob: { jobId: second.jobId, report: secondReport },
    ticks,
    sweeps,
    kills,
    controllerInvocations: r.controller.invocations,
    continuations,
    discoveryPiecesOnControllers: r.controller.output.filter((l) => l.includes('"event":"discovery.piece"'))
      .length,
    failedInvocations: await r.visibleMessages("FailedInvocations"),
  };
}
