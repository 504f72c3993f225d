import { generateTenant } from "../lib/dev/sim/index.js";
import {
  createPlanner,
  lowerBound,
  resolvePlanLimits,
  simulateSchedule,
  type Unit,
} from "../lib/plan/index.js";
import { listedFromTruth, realContent } from "./figures.js";
import { planLimitsFor, SERVICE, SHAPES } from "./settings.js";

const shape = process.argv[2]!;
const n = Number(process.argv[3]);
const S = Number(process.argv[4] ?? 0);
const spec = SHAPES[shape]!;
const truth = await generateTenant(spec).groundTruth();
const k = spec.subset?.[n];
const mbs = k === undefined ? truth.mailboxes : truth.mailboxes.slice(0, k);
const only = new Set(mbs.map((m) => m.address));
const limits = resolvePlanLimits({ ...planLimitsFor(n), unitOverheadSeconds: S, slotShares: false });
const content = realContent(truth, { ...SERVICE, only, mailContent: "fidelity" });
const lb = lowerBound(content.works, n, limits);
const listed = mbs.map((m) => listedFromTruth(m, "fidelity"));
const plan = createPlanner(limits, "fidelity")(listed);
type U = Unit;
const jitter = (units: U[], seed: number) => {
  let x = seed;
  const r = () => (x = (x * 1103515245 + 12345) % 2147483648) / 2147483648;
  return units.map((u) => ({ ...u, serialSeconds: u.serialSeconds * (0.9 + 0.2 * r()) }));
};
const sim = (units: U[]) =>
  simulateSchedule(
    units.map((u, index) => ({ ...u, index })),
    n,
    limits,
  ).makespanSeconds;
const rob = (units: U[]) =>
  [1, 2, 3, 4, 5].map((s) => sim(jitter(units, s)) / lb).reduce((a, b) => a + b, 0) / 5;
console.log(`LPT: ${(sim(plan.units) / lb).toFixed(3)} robust ${rob(plan.units).toFixed(3)}`);
// offline bins
const units = plan.units;
const est = units.map((u) => u.estimatedSeconds);
const bins: number[][] = Array.from({ length: n }, () => []);
const load = new Array(n).fill(0);
for (let i = 0; i < units.length; i++) {
  let b = 0;
  for (let j = 1; j < n; j++) if (load[j] < load[b]) b = j;
  bins[b]!.push(i);
  load[b] += est[i]!;
}
const t0 = performance.now();
for (let iter = 0; iter < 2000; iter++) {
  let hi = 0;
  for (let j = 1; j < n; j++) if (load[j] > load[hi]) hi = j;
  let best: [number, number, number, number] | undefined; // gain, bin, idxInHi, idxInOther(-1 move)
  for (let o = 0; o < n; o++) {
    if (o === hi) continue;
    for (let a = 0; a < bins[hi]!.length; a++) {
      const ea = est[bins[hi]![a]!]!;
      // move
      const nm = Math.max(load[hi] - ea, load[o] + ea);
      const gain = load[hi] - nm;
      if (gain > 1e-9 && (!best || gain > best[0])) best = [gain, o, a, -1];
      for (let b = 0; b < bins[o]!.length; b++) {
        const eb = est[bins[o]![b]!]!;
        if (eb >= ea) continue;
        const nm2 = Math.max(load[hi] - ea + eb, load[o] + ea - eb);
        const g2 = load[hi] - nm2;
        if (g2 > 1e-9 && (!best || g2 > best[0])) best = [g2, o, a, b];
      }
    }
  }
  if (!best) break;
  const [, o, a, b] = best;
  const ua = bins[hi]![a]!;
  if (b < 0) {
    bins[hi]!.splice(a, 1);
    bins[o]!.push(ua);
    load[hi] -= est[ua]!;
    load[o] += est[ua]!;
  } else {
    const ub = bins[o]![b]!;
    bins[hi]![a] = ub;
    bins[o]![b] = ua;
    load[hi] += est[ub]! - est[ua]!;
    load[o] += est[ua]! - est[ub]!;
  }
}
console.log(`bins max ${(Math.max(...load) / lb).toFixed(3)} in ${(performance.now() - t0).toFixed(0)} ms`);
for (const within of ["desc", "asc"]) {
  const starts: Array<[number, number]> = [];
  for (const b of bins) {
    const s = [...b].sort((x, y) => (within === "desc" ? est[y]! - est[x]! : est[x]! - est[y]!));
    let t = 0;
    for (const i of s) {
      starts.push([t, i]);
      t += est[i]!;
    }
  }
  starts.sort((p, q) => p[0] - q[0] || est[q[1]]! - est[p[1]]!);
  const order = starts.map(([, i]) => units[i]!);
  console.log(`waves(${within}): ${(sim(order) / lb).toFixed(3)} robust ${rob(order).toFixed(3)}`);
}
