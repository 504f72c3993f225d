/**
 * The planner's view of the benchmark's shapes, without running them: per shape and N, the
 * plan's units (with their slot shares), streams, predicted makespan and the benchmark's LB
 * (from the tenant's real content, as bench/shape-runs.ts computes it). Counts and model seconds
 * only: they do not depend on the machine's load.
 *
 *     npx tsx bench/plan-shapes.ts [--shapes=skewed,uniform] [--streams=16,64] [--mail-content=fidelity]
 *       [--unit-overhead=0.05] [--units]
 *
 * `--unit-overhead=S`: the planner's `unitOverheadSeconds` (seconds a unit holds its stream besides
 * its requests; default the benchmark's, UNIT_OVERHEAD_SECONDS of bench/settings.ts): at 0 the plan is what the model reaches with free
 * claims and ends, against LB, which counts none.
 */
import { generateTenant } from "../lib/dev/sim/index.js";
import { createPlanner, lowerBound, type MailContent } from "../lib/plan/index.js";
import { listedFromTruth, realContent } from "./figures.js";
import { planLimitsFor, SERVICE, SHAPES, STREAM_COUNTS } from "./settings.js";

const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const shapes = arg("shapes")?.split(",") ?? Object.keys(SHAPES);
const streamCounts = arg("streams")?.split(",").map(Number) ?? STREAM_COUNTS;
const mailContent = (arg("mail-content") ?? "fidelity") as MailContent;
const unitOverhead = arg("unit-overhead");
if (unitOverhead !== undefined && !(Number(unitOverhead) >= 0))
  throw new Error(`--unit-overhead: expected seconds ≥ 0, found '${unitOverhead}'`);

for (const shape of shapes) {
  const spec = SHAPES[shape];
  if (!spec) throw new Error(`--shapes: expected one of ${Object.keys(SHAPES).join(", ")}, found '${shape}'`);
  const truth = await generateTenant(spec).groundTruth();
  for (const streams of streamCounts) {
    const k = spec.subset?.[streams];
    const mailboxes = k === undefined ? truth.mailboxes : truth.mailboxes.slice(0, k);
    const only = new Set(mailboxes.map((m) => m.address));
    const content = realContent(truth, { ...SERVICE, only, mailContent });
    const limits = {
      ...planLimitsFor(streams),
      ...(unitOverhead === undefined ? {} : { unitOverheadSeconds: Number(unitOverhead) }),
    };
    const lb = lowerBound(content.works, streams, limits);
    const listed = mailboxes.map((m) => listedFromTruth(m, mailContent));
    const plan = createPlanner(limits, mailContent)(listed);
    const split = plan.perMailbox.filter((m) => m.unitIndexes.length > 1).length;
    console.log(
      `${shape} N=${streams}: ${plan.units.length} units (${split} mailboxes split), ${plan.streams} streams, ` +
        `planned ${plan.predictedMakespanSeconds.toFixed(2)} s, plan LB ${plan.lowerBoundSeconds.toFixed(2)} s, ` +
        `bench LB ${lb.toFixed(2)} s, planned/LB ${(plan.predictedMakespanSeconds / lb).toFixed(3)}`,
    );
    if (process.argv.includes("--units")) {
      for (const u of plan.units) {
        console.log(
          `  #${u.index} ${u.mailboxId.slice(0, 8)} ${u.kind} folders=${u.folderIds.length} cost=${u.cost.toFixed(1)} est=${u.estimatedSeconds.toFixed(2)} c=${u.concurrency}`,
        );
      }
    }
  }
}
