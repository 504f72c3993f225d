/**
 * `mailstream sim`'s options and help. Loaded by every start of the command line, so it imports
 * commander and the option parsers only: the simulator itself (sim-command.ts) is imported when
 * the command runs.
 */
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { integer } from "../../cli/options.js";
import { ConfigError } from "../../errors.js";
import type { FaultCommand } from "../sim/server/faults.js";
import type { SimCommandOptions } from "./sim-command.js";

/** A parser of a number option within bounds (fractions allowed). */
function number(flag: string, min: number, max: number) {
  return (value: string): number => {
    const n = value.trim() === "" ? Number.NaN : Number(value);
    if (!Number.isFinite(n) || n < min || n > max) {
      throw new InvalidArgumentError(`${flag}: expected a number from ${min} to ${max}, found "${value}"`);
    }
    return n;
  };
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function faultFrom(value: string, previous: FaultCommand[] = []): FaultCommand[] {
  try {
    const parsed = JSON.parse(value) as FaultCommand;
    if (typeof parsed?.action !== "string") throw new Error("no action");
    return [...previous, parsed];
  } catch {
    throw new InvalidArgumentError(
      `--fault: expected a JSON fault command such as '{"action":"serverError","status":503,"count":5}', found '${value}'`,
    );
  }
}

function readPem(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw new ConfigError(flag, `expected a readable PEM file, found ${path} (${String(error)})`);
  }
}

const MAX_INT = 2 ** 31 - 1;

async function runSim(opts: SimCommandOptions): Promise<void> {
  const { runSimCommand } = await import("./sim-command.js");
  await runSimCommand(opts);
}

/** Adds `mailstream sim` and its options to the program; `run` serves (tests pass their own). */
export function registerSim(
  program: Command,
  run: (opts: SimCommandOptions) => Promise<void> = runSim,
): void {
  program
    .command("sim")
    .description(
      "Serve a simulated Exchange Online tenant (Graph + token endpoint over HTTPS) until stopped; prints one JSON line with how to connect.",
    )
    .option("--shape <shape>", "tenant preset: demo, uniform, skewed, giant, many-small", "demo")
    .option(
      "--seed <n>",
      "seed of the generated tenant (default: the preset's)",
      integer("--seed", 0, MAX_INT),
    )
    .option("--rounds <n>", "activity rounds applied before serving", integer("--rounds", 0, 1000), 0)
    .option(
      "--activity-seed <n>",
      "seed of the activity rounds (default: the tenant seed)",
      integer("--activity-seed", 0, MAX_INT),
    )
    .option(
      "-p, --port <port>",
      "TCP port (0 = a free one; 443 with a hosts entry)",
      integer("--port", 0, 65535),
      0,
    )
    .option("--bind <address>", "interface to listen on", "127.0.0.1")
    .option(
      "--host-name <names>",
      "host names to serve, comma-separated or repeated (e.g. graph.microsoft.com,login.microsoftonline.com,outlook.office365.com); the first is printed (default localhost)",
      collect,
    )
    .option(
      "--cert <file>",
      "server certificate (PEM) of your own, with --key, instead of the simulator CA's",
    )
    .option("--key <file>", "private key (PEM) of --cert")
    .option("--ca-dir <dir>", "folder of the simulator CA (reused across runs)")
    .option("--latency-ms <ms>", "delay before each answer, ms", number("--latency-ms", 0, 600_000), 100)
    .option("--jitter-ms <ms>", "uniform jitter of the delay, ± ms", number("--jitter-ms", 0, 600_000), 50)
    .option(
      "--transfer-ns-per-byte <ns>",
      "transfer time of streamed MIME and export data, ns per byte (1 ≈ 1 GB/s)",
      number("--transfer-ns-per-byte", 0, 1_000_000),
      0,
    )
    .option(
      "--concurrency <n>",
      "concurrent requests per app and mailbox",
      integer("--concurrency", 1, 10_000),
      4,
    )
    .option(
      "--budget <n>",
      "requests per app and mailbox per window",
      integer("--budget", 1, 100_000_000),
      10_000,
    )
    .option(
      "--window-ms <ms>",
      "length of the request budget window, ms",
      integer("--window-ms", 1, 86_400_000),
      600_000,
    )
    .option(
      "--upload-bytes <n>",
      "upload and import bytes per mailbox per 5 minutes",
      integer("--upload-bytes", 1, Number.MAX_SAFE_INTEGER),
      150 * 1024 * 1024,
    )
    .option(
      "--error-rate <p>",
      "share (0–1) of mailbox requests answered 503 with Retry-After: 1",
      number("--error-rate", 0, 1),
    )
    .option(
      "--fault <json>",
      "a fault command in force from the start (repeatable; see POST /_admin/faults)",
      faultFrom,
    )
    .action(async (o) => {
      if (Boolean(o.cert) !== Boolean(o.key)) {
        throw new ConfigError("--cert/--key", "expected both a certificate and its key, found only one");
      }
      const hostNames = (o.hostName as string[] | undefined)?.flatMap((n) => n.split(",")).filter(Boolean);
      const faults: FaultCommand[] = [
        ...(o.errorRate !== undefined && o.errorRate > 0
          ? [
              {
                action: "serverErrorRate" as const,
                rate: o.errorRate,
                status: 503 as const,
                retryAfterSeconds: 1,
              },
            ]
          : []),
        ...((o.fault as FaultCommand[] | undefined) ?? []),
      ];
      await run({
        shape: o.shape,
        ...(o.seed !== undefined ? { seed: o.seed } : {}),
        rounds: o.rounds,
        ...(o.activitySeed !== undefined ? { activitySeed: o.activitySeed } : {}),
        port: o.port,
        bind: o.bind,
        ...(hostNames && hostNames.length > 0 ? { hostNames } : {}),
        ...(o.cert
          ? { certificate: { certPem: readPem("--cert", o.cert), keyPem: readPem("--key", o.key) } }
          : {}),
        ...(o.caDir ? { caDir: o.caDir } : {}),
        latency: { baseMs: o.latencyMs, jitterMs: o.jitterMs, perMimeByteNs: o.transferNsPerByte },
        limits: {
          concurrentPerMailbox: o.concurrency,
          budgetPerWindow: o.budget,
          windowMs: o.windowMs,
          uploadBytesPerWindow: o.uploadBytes,
        },
        faults,
      });
    });
}
