/**
 * `npx tsx bench/unit-rounds.ts --shape=many-small --streams=64 [--units=0,3] [--parallel=16]
 * [--each] [--tenant=seed:mailboxes:messages] [--page-size=100]`: the requests and rounds of each unit of a shape's plan, run through `backupUnit`
 * alone against an in-process source that answers every request (delta page, each inner page of
 * a first-page `$batch`, export) one round after it was sent, on a virtual clock that moves to
 * the next answer only once the unit has nothing else to run, `--parallel` units at a time. Nothing else runs: no
 * simulator, no network, no state store, no other unit beside it, so the figures are the unit's
 * own scheduling (the order and size of its requests) and do not move with the machine's load as
 * a benchmark's bk/LB does (session 16: bk/LB of many-small N = 64 spread 1.5–2.7 at load 6 over
 * runs of the same code).
 *
 * Per unit: requests made (item pages, exports) against the fewest (its pages and, per
 * import/export mailbox, ⌈items / 20⌉: the benchmark's LB counts the same) and the plan's cost; its
 * rounds (its start → its last answer) against ⌈fewest / slots⌉; its durable progress, with every
 * stored page committed at once and every commit checkpointed (the deployment holds pages up to
 * 20 s and checkpoints at most once a second, so these are what the unit's order of requests
 * allows, not what a crash would find): the round of its first checkpoint, the most pages it had
 * fetched beyond its last checkpoint, and the most rounds it ran without a checkpoint adding a
 * page. `--tenant=seed:mailboxes:messages` plans the shape's generator on another tenant and
 * `--page-size` another page size (the crash e2e test's: `--shape=uniform --streams=1
 * --tenant=401:2:400 --page-size=10`). Item
 * reads only (content mode fidelity, the benchmark's), sizes from the tenant (no batch is cut by
 * its 8 MiB here: the shapes' items are small), no auxiliary-archive redirect (uniform's first
 * mailbox has one in the benchmark).
 */
import { createHash } from "node:crypto";
import type { Readable } from "node:stream";
import type {
  ArchiveSink,
  DeltaPageView,
  ExportedItem,
  FirstPageAnswer,
  ItemMailbox,
  ItemPageView,
  MailSource,
  UnitStatePort,
  UnitWork,
} from "../lib/backup/ports.js";
import { dealStartUnits } from "../lib/backup/start-units.js";
import { StreamSlots } from "../lib/backup/stream-slots.js";
import { backupUnit } from "../lib/backup/unit-backup.js";
import { generateTenant } from "../lib/dev/sim/index.js";
import { createPlanner } from "../lib/plan/index.js";
import { listedFromTruth } from "./figures.js";
import { PAGE_SIZE as BENCH_PAGE_SIZE, planLimitsFor, SHAPES } from "./settings.js";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shape = arg("shape") ?? "many-small";
const streams = Number(arg("streams") ?? 64);
const only = arg("units")?.split(",").map(Number);
const each = process.argv.includes("--each");
const parallel = Math.max(1, Math.floor(Number(arg("parallel") ?? 16)));
const shapeSpec = SHAPES[shape];
if (!shapeSpec)
  throw new Error(`--shape: expected one of ${Object.keys(SHAPES).join(", ")}, found '${shape}'`);
// --tenant=seed:mailboxes:messages: the shape's generator on another tenant (e.g. the crash e2e
// test's, 401:2:400), without the shape's subsets; --page-size: items a delta page (default the
// benchmark's, 100; the crash e2e test's is 10).
const tenant = arg("tenant")?.split(":").map(Number);
const spec =
  tenant === undefined
    ? shapeSpec
    : { seed: tenant[0]!, shape: shapeSpec.shape, mailboxes: tenant[1]!, totalMessages: tenant[2]! };
const PAGE_SIZE = Number(arg("page-size") ?? BENCH_PAGE_SIZE);

const truth = await generateTenant(spec).groundTruth();
const k = tenant === undefined ? shapeSpec.subset?.[streams] : undefined;
const mailboxes = k === undefined ? truth.mailboxes : truth.mailboxes.slice(0, k);
const plan = createPlanner(
  { ...planLimitsFor(streams), pageSize: PAGE_SIZE },
  "fidelity",
)(mailboxes.map((m) => listedFromTruth(m, "fidelity")));
const folderItems = new Map<string, Array<{ id: string; size: number }>>();
for (const m of mailboxes) for (const f of m.mailboxFolders) folderItems.set(f.id, f.items);
const pagesOf = (folderId: string) =>
  Math.max(1, Math.ceil((folderItems.get(folderId)?.length ?? 0) / PAGE_SIZE));

/**
 * A virtual clock: a request's answer is due one latency after it was sent, and the clock moves
 * to the next answer due only once nothing else is left to run (a few turns of the event loop
 * without a new request), so that a round is a round whatever the machine's load.
 */
class VirtualClock {
  now = 0;
  private due: Array<{ at: number; resolve: () => void }> = [];

  /** Resolves one latency from now, in virtual time. */
  after(latency: number): Promise<void> {
    return new Promise((resolve) => this.due.push({ at: this.now + latency, resolve }));
  }

  /** Runs until `done` settles: let the unit run to quiet, then answer what is due next. */
  async run(done: Promise<unknown>): Promise<void> {
    let finished = false;
    done.then(
      () => {
        finished = true;
      },
      () => {
        finished = true;
      },
    );
    for (;;) {
      // Quiet: several turns (the unit's own checks wait one) with nothing new to answer.
      for (let turn = 0; turn < 8; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
      if (finished) return;
      if (this.due.length === 0) throw new Error("expected the unit to wait on a request, found none due");
      const at = Math.min(...this.due.map((d) => d.at));
      this.now = at;
      const ready = this.due.filter((d) => d.at === at);
      this.due = this.due.filter((d) => d.at !== at);
      for (const d of ready) d.resolve();
    }
  }
}

/** Item delta and exports of one unit, each request answered one round after it was sent. */
class TimedSource implements MailSource {
  pages = 0;
  exports = 0;
  last = 0;
  readonly clock = new VirtualClock();
  /** Pages answered so far, by the round they answered in (the last count of each round). */
  readonly fetchedAt = new Map<number, number>();

  private async answer<T>(value: () => T): Promise<T> {
    await this.clock.after(1);
    this.last = this.clock.now;
    return value();
  }

  private page(folderId: string, index: number): ItemPageView {
    const items = folderItems.get(folderId) ?? [];
    return {
      upserts: items.slice(index * PAGE_SIZE, (index + 1) * PAGE_SIZE).map((x) => ({
        id: x.id,
        itemClass: "IPM.Note",
        size: x.size,
        meta: { id: x.id },
      })),
      removed: [],
      ...(index + 1 < pagesOf(folderId)
        ? { nextLink: `${folderId}#${index + 1}` }
        : { deltaLink: `${folderId}#done` }),
    };
  }

  private answeredPages = 0;
  private pageAnswered(page: ItemPageView): ItemPageView {
    this.answeredPages++;
    this.fetchedAt.set(this.clock.now, this.answeredPages);
    return page;
  }

  // biome-ignore lint/correctness/useYield: the units read items only
  async *folderDelta(): AsyncIterable<DeltaPageView> {
    throw new Error("expected item reads only");
  }

  async openMime(): Promise<Readable> {
    throw new Error("expected item reads only");
  }

  itemDelta(_mailbox: ItemMailbox, folderId: string, from: string | undefined): AsyncIterable<ItemPageView> {
    const start = from?.startsWith(`${folderId}#`) ? Number(from.split("#")[1]) : 0;
    const source = this;
    return (async function* () {
      for (let i = start; i < pagesOf(folderId); i++) {
        source.pages++;
        yield await source.answer(() => source.pageAnswered(source.page(folderId, i)));
      }
    })();
  }

  itemDeltaFirstPages = (
    _mailbox: ItemMailbox,
    starts: ReadonlyArray<{ folderId: string; from: string | undefined }>,
  ): Promise<FirstPageAnswer[]> => {
    this.pages += starts.length;
    return this.answer(() => starts.map((s) => ({ page: this.pageAnswered(this.page(s.folderId, 0)) })));
  };

  exportItems = (_mailbox: ItemMailbox, itemIds: readonly string[]): Promise<ExportedItem[]> => {
    this.exports++;
    return this.answer(() => itemIds.map((itemId) => ({ itemId, data: Buffer.from(itemId) })));
  };
}

const archive: ArchiveSink = {
  async storeBlob(_kind, body) {
    return {
      sha256: createHash("sha256")
        .update(body as Buffer)
        .digest("hex"),
      size: 1,
      existed: false,
    };
  },
  async writeCatalogPart() {},
};
/**
 * A unit's state port that notes each checkpoint's stored pages at the round it is written: the
 * unit's durable progress. The unit runs with every page committed at once (`pageHold.maxHoldMs`
 * 0) and no least interval between checkpoints, so that a checkpoint follows each page whose items
 * are all stored: what is measured is the unit's order of requests, not the holds' timers.
 */
function checkpointsOn(source: TimedSource): {
  state: UnitStatePort;
  written: Array<{ at: number; page: number }>;
} {
  const written: Array<{ at: number; page: number }> = [];
  return {
    written,
    state: {
      async syncState() {
        return undefined;
      },
      async checkpoint(checkpoint) {
        written.push({ at: source.clock.now, page: checkpoint.page });
      },
    },
  };
}

const total = {
  made: 0,
  fewest: 0,
  planned: 0,
  rounds: 0,
  ideal: 0,
  units: 0,
  firstCheckpoint: 0,
  maxLag: 0,
  unitsCheckpointedBeforeEnd: 0,
  maxGap: 0,
};
const roundsOver = new Map<number, number>();
type PlannedUnit = (typeof plan.units)[number];
/** A unit's exports, fewest: ⌈items / 20⌉ per import/export mailbox (primary, archive). */
function fewestExportsOf(u: PlannedUnit): number {
  const reads = u.folderReads ?? "";
  const byPool = new Map<string, number>();
  for (const [i, folderId] of u.folderIds.entries()) {
    const pool = reads[i] === "a" ? "archive" : "primary";
    byPool.set(pool, (byPool.get(pool) ?? 0) + (folderItems.get(folderId)?.length ?? 0));
  }
  return [...byPool.values()].reduce((sum, n) => sum + Math.ceil(n / 20), 0);
}
/** A unit's fewest requests: its pages and its fewest exports. */
function fewestOf(u: PlannedUnit): number {
  return u.folderIds.reduce((sum, f) => sum + pagesOf(f), 0) + fewestExportsOf(u);
}
function workOf(u: PlannedUnit): UnitWork {
  return {
    jobId: "J",
    index: u.index,
    mailboxId: u.mailboxId,
    folderIds: u.folderIds,
    folderReads: u.folderReads ?? "",
    mailboxIds: { primary: "MBX:primary", archive: "MBX:archive" },
    concurrency: u.concurrency,
    hasSyncStates: false,
  };
}

/** One unit alone against the timed source: its requests and rounds, added to the totals. */
async function runUnit(u: PlannedUnit): Promise<string> {
  const fewestExports = fewestExportsOf(u);
  const fewest = fewestOf(u);
  const work = workOf(u);
  const source = new TimedSource();
  const { state, written } = checkpointsOn(source);
  const running = backupUnit(
    work,
    { folderIndex: 0, page: 0 },
    { source, archive, state, shouldYield: () => false, checkpointIntervalMs: 0, pageHold: { maxHoldMs: 0 } },
  );
  await source.clock.run(running);
  const out = await running;
  if (out.status !== "done") throw new Error(`unit ${u.index}: expected done, found ${out.status}`);
  const made = source.pages + source.exports;
  const rounds = source.last;
  // Durable progress: the round of the first checkpoint naming a stored page, and the most pages
  // the unit had fetched beyond the last checkpoint's when a page answered (what a crash then
  // re-fetches).
  const firstCheckpoint = written.find((w) => w.page > 0)?.at ?? rounds;
  let maxLag = 0;
  for (const [at, fetched] of source.fetchedAt) {
    const durable = written.filter((w) => w.at <= at).reduce((most, w) => Math.max(most, w.page), 0);
    maxLag = Math.max(maxLag, fetched - durable);
  }
  // The most rounds the unit ran without a checkpoint adding a page (from its start to its last
  // answer).
  let maxGap = 0;
  let before = { at: 0, page: 0 };
  for (const w of written) {
    if (w.page <= before.page) continue;
    maxGap = Math.max(maxGap, w.at - before.at);
    before = w;
  }
  maxGap = Math.max(maxGap, rounds - before.at);
  total.maxGap = Math.max(total.maxGap, maxGap);
  total.firstCheckpoint += firstCheckpoint;
  total.maxLag = Math.max(total.maxLag, maxLag);
  if (firstCheckpoint < rounds) total.unitsCheckpointedBeforeEnd++;
  const ideal = Math.ceil(fewest / u.concurrency);
  roundsOver.set(rounds - ideal, (roundsOver.get(rounds - ideal) ?? 0) + 1);
  total.made += made;
  total.fewest += fewest;
  total.planned += u.cost;
  total.rounds += rounds;
  total.ideal += ideal;
  total.units++;
  return `unit ${u.index} (${u.concurrency} slots, ${u.folderIds.length} folders): ${made} requests (${source.pages} pages, ${source.exports} exports; fewest ${fewest} with ${fewestExports} exports; planned ${u.cost.toFixed(1)}), ${rounds} rounds (⌈fewest / slots⌉ ${ideal}); first checkpoint at round ${firstCheckpoint}, at most ${maxLag} pages fetched beyond a checkpoint, ${maxGap} rounds without one`;
}

/**
 * `--streams-run`: each stream's start units (dealt as the job's start deals them,
 * lib/backup/start-units.ts) run together through the stream's slots (lib/backup/stream-slots.ts:
 * each unit's share first, loans to units that may borrow, as the stream runner does) against one
 * timed source: the stream's rounds (its start → its last answer) against ⌈its fewest / 4⌉, and the
 * plan's (the longest stream's) against ⌈all fewest / all slots⌉. Only for plans whose units are
 * all start units (no later claim is modelled).
 */
async function runStreams(): Promise<void> {
  const slotsPerStream = plan.streamSlots;
  const dealt = dealStartUnits(
    plan.units.map((u) => u.concurrency),
    plan.streams,
    slotsPerStream,
  );
  const left = plan.units.length - dealt.flat().length;
  if (left > 0)
    throw new Error(`--streams-run: expected every unit to be a start unit, found ${left} claimed later`);
  let most = 0;
  let fewestAll = 0;
  let made = 0;
  const over = new Map<number, number>();
  const lines = await Promise.all(
    dealt.map(async (indexes, stream) => {
      const source = new TimedSource();
      const { state } = checkpointsOn(source);
      const slots = new StreamSlots(slotsPerStream);
      let fewest = 0;
      const runs = indexes.map((i) => {
        const u = plan.units[i]!;
        fewest += fewestOf(u);
        const share = Math.min(u.concurrency, slotsPerStream);
        const max = Math.max(share, Math.min(u.maxConcurrency ?? share, slotsPerStream));
        const work: UnitWork = { ...workOf(u), concurrency: max };
        return backupUnit(
          work,
          { folderIndex: 0, page: 0 },
          { source, archive, state, shouldYield: () => false, streamSlots: slots.unit(share) },
        );
      });
      const all = Promise.all(runs);
      await source.clock.run(all);
      for (const out of await all)
        if (out.status !== "done") throw new Error(`stream ${stream}: a unit ${out.status}`);
      const rounds = source.last;
      const ideal = Math.ceil(fewest / slotsPerStream);
      most = Math.max(most, rounds);
      fewestAll += fewest;
      made += source.pages + source.exports;
      over.set(rounds - ideal, (over.get(rounds - ideal) ?? 0) + 1);
      return `stream ${stream} (${indexes.length} units, shares ${indexes.map((i) => `${plan.units[i]!.concurrency}${plan.units[i]!.maxConcurrency ? "+" : ""}`).join(" ")}): ${source.pages + source.exports} requests (fewest ${fewest}), ${rounds} rounds (⌈fewest / slots⌉ ${ideal})`;
    }),
  );
  if (each) for (const line of lines) console.log(line);
  const ideal = Math.ceil(fewestAll / (plan.streams * slotsPerStream));
  console.log(
    `${shape} N=${streams} streams run: ${plan.units.length} units on ${plan.streams} streams, ${made} requests (fewest ${fewestAll}), longest stream ${most} rounds (⌈fewest / all slots⌉ ${ideal}); streams by rounds over ⌈their fewest / slots⌉: ${[
      ...over,
    ]
      .sort((a, b) => a[0] - b[0])
      .map(([o, n]) => `+${o}: ${n}`)
      .join(", ")}`,
  );
}
if (process.argv.includes("--streams-run")) {
  await runStreams();
  process.exit(0);
}

// Units run `parallel` at a time (each its own source and timers; their CPU is a few ms a round).
const units = plan.units.filter((u) => !only || only.includes(u.index));
const lines: string[] = [];
for (let at = 0; at < units.length; at += parallel) {
  lines.push(...(await Promise.all(units.slice(at, at + parallel).map(runUnit))));
}
if (each) for (const line of lines) console.log(line);
console.log(
  `${shape} N=${streams}: ${total.units} units, ${total.made} requests (fewest ${total.fewest}, planned ${total.planned.toFixed(1)}), ${total.rounds} rounds (⌈fewest / slots⌉ ${total.ideal}); units by rounds over that: ${[
    ...roundsOver,
  ]
    .sort((a, b) => a[0] - b[0])
    .map(([over, n]) => `+${over}: ${n}`)
    .join(
      ", ",
    )}; first checkpoint at round ${(total.firstCheckpoint / Math.max(1, total.units)).toFixed(2)} on average (${total.unitsCheckpointedBeforeEnd} of ${total.units} units before their last answer), at most ${total.maxLag} pages fetched beyond a unit's checkpoint, ${total.maxGap} rounds without one`,
);
