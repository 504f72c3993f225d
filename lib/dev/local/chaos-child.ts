/**
 * One "local backup" process for the chaos runs (lib/dev/local/chaos.ts): configured only by
 * MAILSTREAM_* environment values (the parent's simulator, emulators, state table, queue and
 * archive), it does what a fresh `mailstream run` does after a crash: resume what is open (the
 * sweep re-sends every stream at once, closes a job interrupted while planning and finalizes one
 * interrupted while finalizing), start a job if none is open, run the controller until the job
 * closes, and print `{"jobId","status"}`.
 *
 * MAILSTREAM_CHAOS_KILL makes it SIGKILL itself at a chosen point, from inside, so that the
 * kill lands in the phase named: `planning:<k>` at the k-th state-table request of planning
 * (the mailboxes' sync-state reads, the plan's writes), `finalizing:<k>` at the request that
 * promotes the k-th sync state (after the report and manifest are written, before the job is
 * closed; promotion sends up to 100 in a transaction).
 */
import { QueryCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { createBackupApp } from "../../app/backup-app.js";
import { silentLogger } from "../../app/logger.js";
import { createAwsClients } from "../../aws/clients.js";
import { awsEndpointsFromConfig } from "../../config/aws-endpoints.js";
import { loadConfig } from "../../config/index.js";
import { LocalSqsEventSource } from "./sqs-event-source.js";

const queueUrl = process.env.MAILSTREAM_STREAM_QUEUE_URL;
if (!queueUrl) throw new Error("chaos-child: expected MAILSTREAM_STREAM_QUEUE_URL, found none");

const killSpec = /^(planning|finalizing):(\d+)$/.exec(process.env.MAILSTREAM_CHAOS_KILL ?? "");
const config = loadConfig({ env: process.env });
const clients = createAwsClients(awsEndpointsFromConfig(config));

/** Planning kills count only the requests of this process's own planning (startJob below). */
let planning = false;

if (killSpec) {
  const [, phase, at] = killSpec;
  let seen = 0;
  /** Message delta links (FOLDER#) and item delta links (ITEMS#) are promoted alike. */
  const promotes = (key: { sk?: unknown } | undefined) =>
    typeof key?.sk === "string" && (key.sk.startsWith("FOLDER#") || key.sk.startsWith("ITEMS#"));
  /** How many of the phase's steps a state-table request takes (0: not in the phase). */
  const stepsIn = (command: unknown): number => {
    if (phase === "planning") {
      if (!planning) return 0;
      // The plan's writes (transactions), and the mailboxes' state reads (a query of each partition).
      if (command instanceof TransactWriteCommand) return 1;
      const pk = (command as QueryCommand).input?.ExpressionAttributeValues?.[":pk"];
      return command instanceof QueryCommand && typeof pk === "string" && pk.startsWith("MBX#") ? 1 : 0;
    }
    // Promotion writes up to 100 sync states in a transaction (older versions: one update each).
    if (command instanceof UpdateCommand) return promotes(command.input.Key) ? 1 : 0;
    if (command instanceof TransactWriteCommand) {
      return (command.input.TransactItems ?? []).filter((item) => promotes(item.Update?.Key)).length;
    }
    return 0;
  };
  const send = clients.ddb.send.bind(clients.ddb) as (...args: unknown[]) => Promise<unknown>;
  (clients.ddb as unknown as { send: (...args: unknown[]) => Promise<unknown> }).send = (...args) => {
    const steps = stepsIn(args[0]);
    seen += steps;
    // Killed at the request that carries the at-th step, before it is sent.
    if (steps > 0 && seen >= Number(at)) process.kill(process.pid, "SIGKILL");
    return send(...args);
  };
}

const app = await createBackupApp({ config, clients, logger: silentLogger });
const source = new LocalSqsEventSource({
  sqs: clients.sqs,
  queueUrl,
  handler: (event, context) => app.handleSqsEvent(event, context),
  batchSize: 1,
  maxConcurrency: config.streams.max,
});

/** Plans a new job, with planning kills armed meanwhile; its id. */
async function planJob(): Promise<string> {
  planning = true;
  try {
    return (await app.startJob({ kind: "on-demand", time: new Date().toISOString() })).jobId;
  } finally {
    planning = false;
  }
}

/** Waits until the job is closed; its status. */
async function closed(jobId: string): Promise<string> {
  for (;;) {
    const job = await app.state.getJob(jobId);
    if (job && ["complete", "partial", "failed"].includes(job.status)) return job.status;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// Nothing else works this state: what is open was interrupted.
await app.sweep({ staleAfterMs: 0, planningStaleAfterMs: 0 });
const open = (await app.state.openJobs()).find((j) =>
  ["planning", "running", "finalizing"].includes(j.status),
);
let jobId = open?.jobId ?? (await planJob());
process.stdout.write(`${JSON.stringify({ event: "working", jobId, resumed: open !== undefined })}\n`);
source.start();
let status = await closed(jobId);
if (open && killSpec?.[1] === "planning") {
  // A planning kill for a process that had a job to finish first: it plans the next one.
  jobId = await planJob();
  process.stdout.write(`${JSON.stringify({ event: "working", jobId, resumed: false })}\n`);
  status = await closed(jobId);
}
await source.stop();
process.stdout.write(`${JSON.stringify({ event: "closed", jobId, status })}\n`);
app.close();
process.exit(0);
