/**
 * What a state request costs DynamoDB Local (and this process) by kind: CPU milliseconds per
 * request of the kinds a stream makes per unit and at its end, in the form older code sent them
 * and in the current one (lib/dev/local/state-request-cost.ts), CPU read from /proc
 * (bench/process-cpu.ts). Shape runs on a shared machine move with the load; the CPU of one kind
 * of request sent alone moves far less.
 *
 * `npx tsx bench/state-request-cost.ts --requests=400` (default 400).
 */
import { stateRequestCosts } from "../lib/dev/local/state-request-cost.js";
import { sampleComponentCpu } from "./process-cpu.js";

const arg = (name: string, fallback: string) =>
  process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;

const rows = await stateRequestCosts(Number(arg("requests", "400")), () => {
  const c = sampleComponentCpu(undefined);
  return { dynamodb: c.dynamodb, harness: c.harness };
});
for (const r of rows)
  process.stdout.write(
    `${r.kind}: ${r.requests} request(s), DynamoDB Local ${r.dynamodbMs.toFixed(2)} CPU ms, this process ${r.harnessMs.toFixed(2)} CPU ms per call\n`,
  );
