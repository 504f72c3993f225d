/**
 * Admin endpoints outside `/v1.0`, for tests, benchmarks and the local runtime in another process:
 *
 * - `GET  /_admin/stats`          served statistics (JSON)
 * - `POST /_admin/stats/reset`    zero the statistics
 * - `GET  /_admin/ground-truth`   `store.groundTruth()`
 * - `GET  /_admin/faults`         queued faults; `POST` a {@link FaultCommand}; `DELETE` clears
 * - `POST /_admin/mutate`         calls the `onMutate` hook with the JSON body (tenant mutation)
 *
 * No authentication: the simulator is a local test fixture bound to the loopback interface.
 */
import type { TenantStore } from "../model.js";
import type { FaultCommand, FaultState } from "./faults.js";

export interface AdminAnswer {
  status: number;
  body?: unknown;
}

/** Called by `POST /_admin/mutate` with the request body; its result is sent back as JSON. */
export type MutateHook = (request: unknown, store: TenantStore) => unknown | Promise<unknown>;

export interface AdminDeps {
  store: TenantStore;
  faults: FaultState;
  stats: () => unknown;
  resetStats: () => void;
  onMutate: MutateHook | undefined;
}

const FAULT_ACTIONS = new Set([
  "serverError",
  "serverErrorRate",
  "dropConnection",
  "syncStateLost",
  "malformedDeltaItem",
  "expireTokens",
  "denyMailbox",
  "removeMailbox",
  "clear",
]);

export async function handleAdmin(
  deps: AdminDeps,
  method: string,
  path: string,
  body: unknown,
): Promise<AdminAnswer> {
  const route = `${method} ${path.replace(/\/+$/, "")}`;
  switch (route) {
    case "GET /_admin/stats":
      return { status: 200, body: deps.stats() };
    case "POST /_admin/stats/reset":
      deps.resetStats();
      return { status: 204 };
    case "GET /_admin/ground-truth":
      return { status: 200, body: await deps.store.groundTruth() };
    case "GET /_admin/faults":
      return { status: 200, body: deps.faults.pending() };
    case "DELETE /_admin/faults":
      deps.faults.clear();
      return { status: 204 };
    case "POST /_admin/faults": {
      const action = (body as { action?: unknown } | undefined)?.action;
      if (typeof action !== "string" || !FAULT_ACTIONS.has(action)) {
        return {
          status: 400,
          body: {
            error: `Expected a fault command with action one of ${[...FAULT_ACTIONS].join(", ")}, found ${JSON.stringify(action)}.`,
          },
        };
      }
      try {
        deps.faults.apply(body as FaultCommand);
      } catch (error) {
        return { status: 400, body: { error: `Fault ${action} failed: ${String(error)}` } };
      }
      return { status: 204 };
    }
    case "POST /_admin/mutate":
      if (!deps.onMutate)
        return { status: 501, body: { error: "This simulator was started without an onMutate hook." } };
      return { status: 200, body: (await deps.onMutate(body, deps.store)) ?? null };
    default:
      return { status: 404, body: { error: `No admin endpoint ${route}.` } };
  }
}
