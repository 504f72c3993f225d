/**
 * What sent a state-table request, for the scale benchmark's counts by call site (bench/scale.ts,
 * and the controller processes that count their own: lib/dev/local/controller-child.ts).
 */

/**
 * What sent a state request, from the stack (async frames included): the first lib/state
 * function outside the table's plumbing, and the first lib/backup function that called it.
 */
export function stateRequestSite(): string {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 60;
  const stack = new Error().stack ?? "";
  Error.stackTraceLimit = limit;
  const frames = stack
    .split("\n")
    .map((line) => /at (?:async )?(\S+) \(.*\/lib\/(state|backup)\/([\w-]+)\.ts/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ fn: m[1]!, dir: m[2]!, file: m[3]! }));
  const state = frames.find(
    (f) => f.dir === "state" && f.file !== "table" && !f.fn.startsWith("StateStore."),
  );
  const backup = frames.find((f) => f.dir === "backup");
  return `${state ? `${state.file}.${state.fn}` : "?"}${backup ? ` < ${backup.file}.${backup.fn}` : ""}`;
}
