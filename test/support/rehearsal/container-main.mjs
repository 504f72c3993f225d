/**
 * One Lambda container of a deployment rehearsal: loads the function's bundle as the Node.js
 * runtime does (an ES module, its handler export) on the first invocation, then runs the
 * invocations the parent sends over IPC, one at a time, each with a Lambda-like context whose
 * remaining time counts down from the budget the parent gives.
 *
 * Usage (by test/support/rehearsal/lambda-emulator.ts only):
 *   node --import ./recorder.mjs container-main.mjs <bundle file> <export name> <function name>
 */
import { pathToFileURL } from "node:url";

const [file, exportName, functionName] = process.argv.slice(2);
const realNow = () => performance.timeOrigin + performance.now();
let handler;

process.on("message", async (message) => {
  if (message?.type !== "invoke") return;
  const { id, event, budgetMs, clockOffsetMs } = message;
  globalThis.__rehearsalSetClockOffset(clockOffsetMs ?? 0);
  const started = realNow();
  const context = {
    awsRequestId: message.requestId,
    functionName,
    getRemainingTimeInMillis: () => Math.max(0, Math.round(budgetMs - (realNow() - started))),
  };
  try {
    handler ??= (await import(pathToFileURL(file).href))[exportName];
    if (typeof handler !== "function") throw new Error(`${file} exports no function "${exportName}"`);
    const value = await handler(event, context);
    process.send({ type: "result", id, ok: true, value: value ?? null });
  } catch (error) {
    process.send({
      type: "result",
      id,
      ok: false,
      error: { name: error?.name ?? "Error", message: error?.message ?? String(error) },
    });
  }
});
process.send({ type: "ready" });
