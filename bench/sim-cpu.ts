/**
 * `npx tsx bench/sim-cpu.ts --shape=many-small [--repeats=3] [--mailboxes-at-once=64]`: the
 * simulator's CPU per Graph request, without the rest of a backup on the machine. Starts the
 * benchmark's simulator child (bench/sim-process.ts: the shape's tenant, latency and limits),
 * asks its ground truth (as every benchmark run does before its backup), then reads every
 * mailbox the way a full backup does, through the product's Graph layer: the folder tree (one
 * folder delta round), each folder's item delta pages (the client's `$select`/`$expand`,
 * `Prefer: odata.maxpagesize=100`, a 308 to an auxiliary archive followed), and every item
 * exported 20 at a time from the mailbox that served its page. No archive, no state, no
 * controllers: the CPU the simulator's process used (from /proc, user + system) over the
 * requests it served is its cost per request, steadier than a whole backup's under load.
 * Each repeat starts a fresh simulator (its caches as a backup finds them after ground truth).
 * Prints a digest of every answer (trees, pages and their links, export streams): two versions
 * of the simulator must give the same one.
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { performance } from "node:perf_hooks";
import PQueue from "p-queue";
import { createTokenProvider } from "../lib/graph/auth.js";
import { createGraphGateway, type GraphGateway } from "../lib/graph/client.js";
import { EXPORT_BATCH_LIMIT, exportItems } from "../lib/graph/export-items.js";
import { itemDeltaPages } from "../lib/graph/item-delta.js";
import { archiveTrafficKey, readFolderTree } from "../lib/graph/mailbox-folders.js";
import { LATENCY, LIMITS, PAGE_SIZE, SHAPES } from "./settings.js";
import { startSimProcess, trustBenchCa } from "./sim-process.js";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shape = arg("shape") ?? "many-small";
const repeats = Number(arg("repeats") ?? 3);
const mailboxesAtOnce = Number(arg("mailboxes-at-once") ?? 64);
/** `--answers=FILE`: every answer's digest, one a line (what `digest` sums), to tell two versions apart. */
const answersFile = arg("answers");

/** CPU seconds (user + system) of a process, from /proc. */
function cpuSeconds(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Answers by what was asked (for `--digest`): the same tenant read twice gives the same set. */
type Answers = Map<string, string>;

const sha256 = (data: string | Buffer) => createHash("sha256").update(data).digest("hex");

/** One mailbox as a full backup reads it: its tree, every folder's delta pages, every item exported. */
async function readMailbox(
  gateway: GraphGateway,
  mailboxId: string,
  trafficKey: string,
  counts: { trees: number; pages: number; exports: number; items: number },
  answers: Answers,
): Promise<void> {
  const folders = await readFolderTree(gateway, mailboxId, { trafficKey });
  counts.trees++;
  answers.set(`tree ${mailboxId}`, sha256(JSON.stringify(folders)));
  // Item ids by the mailbox that served their pages (an expanded archive folder's: its auxiliary).
  const byMailbox = new Map<string, string[]>();
  await Promise.all(
    folders.map(async (folder) => {
      let n = 0;
      for await (const page of itemDeltaPages(gateway, mailboxId, folder.id, {
        pageSize: PAGE_SIZE,
        trafficKey,
      })) {
        counts.pages++;
        // Links name the simulator's port, which differs from run to run.
        const text = JSON.stringify(page).replaceAll(new URL(gateway.baseUrl).origin, "https://sim");
        answers.set(`page ${mailboxId} ${folder.id} ${n++}`, sha256(text));
        const from = page.servedBy ?? mailboxId;
        const ids = byMailbox.get(from) ?? [];
        ids.push(...page.upserts.map((u) => u.id));
        byMailbox.set(from, ids);
      }
    }),
  );
  // Exported 20 at a time across the mailbox's folders, as a unit fills its export batches.
  const exports: Array<Promise<unknown>> = [];
  for (const [from, ids] of byMailbox) {
    for (let at = 0; at < ids.length; at += EXPORT_BATCH_LIMIT) {
      const batch = ids.slice(at, at + EXPORT_BATCH_LIMIT);
      counts.items += batch.length;
      counts.exports++;
      exports.push(
        exportItems(gateway, from, batch, { trafficKey }).then((exported) => {
          for (const e of exported)
            answers.set(
              `export ${e.itemId}`,
              "data" in e ? `${e.changeKey} ${sha256(e.data)}` : e.error.code,
            );
        }),
      );
    }
  }
  await Promise.all(exports);
}

async function main(): Promise<void> {
  const { ca, caDir } = await trustBenchCa();
  const tenant = SHAPES[shape];
  if (!tenant) throw new Error(`--shape: expected one of ${Object.keys(SHAPES).join(", ")}, found ${shape}`);
  const { subset: _subset, ...spec } = tenant;

  for (let r = 0; r < repeats; r++) {
    const sim = await startSimProcess({ tenant: spec, latency: LATENCY, limits: LIMITS, ca, certDir: caDir });
    try {
      const pid = sim.pid ?? 0;
      const beforeTruth = cpuSeconds(pid);
      const truth = await sim.groundTruth();
      const truthSeconds = cpuSeconds(pid) - beforeTruth;
      const env = sim.info.tenantEnv;
      const tokens = createTokenProvider({
        tenantId: env.MAILSTREAM_TENANT_ID ?? "",
        clientId: env.MAILSTREAM_CLIENT_ID ?? "",
        credential: { clientSecret: env.MAILSTREAM_CLIENT_SECRET ?? "" },
        authority: env.MAILSTREAM_AUTHORITY ?? "",
        knownAuthorities: (env.MAILSTREAM_KNOWN_AUTHORITIES ?? "").split(","),
        authorityMetadata: env.MAILSTREAM_AUTHORITY_METADATA ?? "",
      });
      const gateway = createGraphGateway({
        tokens,
        baseUrl: sim.info.baseUrl,
        mailboxConcurrency: LIMITS.concurrentPerMailbox,
      });
      await tokens.getToken();
      const servedBefore = await sim.stats();
      const cpuBefore = cpuSeconds(pid);
      const load = loadavg()[0] ?? 0;
      const started = performance.now();
      const queue = new PQueue({ concurrency: mailboxesAtOnce });
      const counts = { trees: 0, pages: 0, exports: 0, items: 0 };
      const answers: Answers = new Map();
      for (const m of truth.mailboxes) {
        void queue.add(async () => {
          await readMailbox(gateway, m.primaryMailboxId, m.userId, counts, answers);
          if (m.archiveMailboxId) {
            const key = archiveTrafficKey(m.archiveMailboxId);
            await readMailbox(gateway, m.archiveMailboxId, key, counts, answers);
          }
        });
      }
      await queue.onIdle();
      const wall = (performance.now() - started) / 1000;
      const cpu = cpuSeconds(pid) - cpuBefore;
      const served = await sim.stats();
      const requests = served.graph.requests - servedBefore.graph.requests;
      console.log(
        `${shape} run ${r + 1}: ${requests} requests (${counts.trees} folder trees, ${counts.pages} item delta pages, ${counts.exports} exports of ${counts.items} items) in ${wall.toFixed(1)} s; simulator CPU ${cpu.toFixed(2)} s = ${((cpu * 1000) / requests).toFixed(3)} ms a request (ground truth before: ${truthSeconds.toFixed(2)} s); load ${load.toFixed(1)}`,
      );
      const statuses = Object.entries(served.graph.byStatus).map(
        ([k, v]) => `${k}: ${v - (servedBefore.graph.byStatus[k] ?? 0)}`,
      );
      // One digest of every answer (folder trees, pages with their links, export streams), to
      // compare two versions of the simulator: the same tenant must be answered the same way.
      const answerLines = [...answers].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => `${k} ${v}`);
      if (answersFile) writeFileSync(answersFile, `${answerLines.join("\n")}\n`);
      const digest = sha256([...answers].sort(([a], [b]) => (a < b ? -1 : 1)).join("\n"));
      console.log(
        `  statuses ${statuses.join(", ")}; ${answers.size} answers, digest ${digest.slice(0, 16)}`,
      );
    } finally {
      await sim.close();
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
