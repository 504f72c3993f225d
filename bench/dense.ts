/** Requests per item on mailboxes of realistic density (hundreds of items per folder). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalServices, startLocalServices } from "../lib/dev/local/stack.js";
import type { LatencyOptions } from "../lib/dev/sim/server/index.js";
import { realContent } from "./figures.js";
import { DENSE, LIMITS, SERVICE } from "./settings.js";
import { counters } from "./shape-runs.js";
import { startSimProcess } from "./sim-process.js";

/**
 * Requests per item of a full backup and of a run with nothing changed, on mailboxes of realistic
 * density (every item kind, archives included), in a content mode for mail (default: the
 * configuration's default, `fidelity`).
 */
export async function benchDense(
  ca: { certPem: string; keyPem: string },
  caDir: string,
  mailContent?: "mime" | "fidelity" | "both",
): Promise<DenseFigures> {
  const latency: LatencyOptions = { baseMs: 25, jitterMs: 0, perMimeByteNs: 0 };
  const sim = await startSimProcess({ tenant: DENSE, latency, limits: LIMITS, ca, certDir: caDir });
  const dir = mkdtempSync(join(tmpdir(), "mailstream-bench-dense-"));
  let services: LocalServices | undefined;
  try {
    const content = realContent(await sim.groundTruth(), SERVICE);
    services = await startLocalServices(
      {
        archive: { kind: "local", path: join(dir, "archive") },
        streams: 4,
        ...(mailContent ? { env: { MAILSTREAM_MAIL_CONTENT: mailContent } } : {}),
      },
      sim.info.tenantEnv,
    );
    const c0 = await counters(sim);
    const full = await services.runJob({ refreshMs: 500 });
    const c1 = await counters(sim);
    await services.runJob({ refreshMs: 500 });
    const c2 = await counters(sim);
    return {
      mailboxes: content.works.length,
      folders: content.folders,
      items: full.report.totals.items,
      fullRequests: c1.requests - c0.requests,
      requestsPerItem: (c1.requests - c0.requests) / Math.max(1, full.report.totals.items),
      unchangedRequests: c2.requests - c1.requests,
      makespanSeconds: full.report.makespanSeconds,
      ...(mailContent ? { mailContent } : {}),
    };
  } finally {
    await services?.stop();
    await sim.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface DenseFigures {
  mailboxes: number;
  folders: number;
  items: number;
  fullRequests: number;
  requestsPerItem: number;
  unchangedRequests: number;
  /** The full backup's makespan, s. */
  makespanSeconds: number;
  mailContent?: "mime" | "fidelity" | "both";
}

/** The dense tenant in each content mode, one after another. */
export async function benchDenseByMode(
  ca: { certPem: string; keyPem: string },
  caDir: string,
): Promise<Record<"mime" | "fidelity" | "both", DenseFigures>> {
  return {
    fidelity: await benchDense(ca, caDir, "fidelity"),
    mime: await benchDense(ca, caDir, "mime"),
    both: await benchDense(ca, caDir, "both"),
  };
}
