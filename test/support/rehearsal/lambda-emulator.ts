/**
 * Runs a function of a synthesized template the way Lambda would, on this machine: each
 * container is its own Node process (the function's bundle, its handler, the template's
 * environment, a heap sized by its memory), invocations run one at a time per container and new
 * containers start for concurrent ones, an invocation past the function's timeout is killed.
 *
 * Every AWS call is recorded (test/support/rehearsal/recorder.mjs), with the function it came from;
 * so are the calls Lambda itself makes with the function's role (log stream and events, traces).
 * A one-shot "kill at" breakpoint kills the container that is about to make a matching call.
 */
import { type ChildProcess, fork, type Serializable } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import type { DeployedFunction } from "./local-deployment.js";

const RECORDER = fileURLToPath(new URL("./recorder.mjs", import.meta.url));
const CONTAINER_MAIN = fileURLToPath(new URL("./container-main.mjs", import.meta.url));

export interface RawCall {
  service: string;
  command: string;
  input: Record<string, unknown>;
}

export interface CallOutcome {
  ok: boolean;
  status?: number;
  error?: string;
  /** Messages a ReceiveMessage returned. */
  messages?: number;
}

export interface RecordedCall extends RawCall {
  seq: number;
  /** The function (construct id) whose role made the call. */
  fn: string;
  roleArn: string;
  /** `code`: the function's code; otherwise what Lambda (or S3) did with the role. */
  by: "code" | "lambda runtime" | "event source mapping" | "async failure destination" | "S3 replication";
  outcome?: CallOutcome;
}

/** Every call of a rehearsal, in order. */
export class CallLog {
  readonly calls: RecordedCall[] = [];
  add(call: Omit<RecordedCall, "seq">): RecordedCall {
    const recorded = { ...call, seq: this.calls.length };
    this.calls.push(recorded);
    return recorded;
  }
}

export type InvocationResult =
  | { status: "ok"; value: unknown }
  | { status: "error"; error: { name: string; message: string } }
  | { status: "killed"; at: RawCall }
  | { status: "timeout" };

export interface InvokeOptions {
  /** Remaining time the context reports at the start, ms. Default: the function's timeout. */
  budgetMs?: number;
  /** Shift of the container's clock during this invocation, ms. Default 0. */
  clockOffsetMs?: number;
}

interface Container {
  process: ChildProcess;
  ready: Promise<void>;
  busy: boolean;
  dead: boolean;
  stdout: string[];
  current?: { resolve: (r: InvocationResult) => void; timer: NodeJS.Timeout };
  pendingCalls: Map<number, RecordedCall>;
}

export class LambdaEmulator {
  private readonly containers = new Set<Container>();
  private killAt: { match: (call: RawCall) => boolean; resolve: (call: RawCall) => void } | undefined;
  /** JSON lines the function wrote to stdout (its logs and EMF metrics), all containers. */
  readonly output: string[] = [];
  invocations = 0;
  coldStarts = 0;

  constructor(
    readonly fn: DeployedFunction,
    private readonly opts: { log: CallLog; extraEnv: Record<string, string>; region: string },
  ) {}

  /**
   * Kills the container that is about to make the next call matching `match` (the call is not
   * sent). Resolves with that call.
   */
  killAtNext(match: (call: RawCall) => boolean): Promise<RawCall> {
    return new Promise((resolve) => {
      this.killAt = { match, resolve };
    });
  }

  async invoke(event: unknown, options: InvokeOptions = {}): Promise<InvocationResult> {
    const container = this.idleContainer() ?? this.start();
    container.busy = true;
    await container.ready;
    this.invocations++;
    this.runtimeCall("logs:PutLogEvents");
    if (this.fn.tracing) this.runtimeCall("xray:PutTraceSegments");
    const timeoutMs = this.fn.timeoutSeconds * 1000;
    const result = await new Promise<InvocationResult>((resolve) => {
      const timer = setTimeout(() => {
        // Lambda ends the invocation at its timeout and starts a fresh container next time.
        this.kill(container);
        resolve({ status: "timeout" });
      }, timeoutMs);
      container.current = { resolve, timer };
      sendQuietly(container.process, {
        type: "invoke",
        id: randomUUID(),
        requestId: randomUUID(),
        event,
        budgetMs: Math.min(options.budgetMs ?? timeoutMs, timeoutMs),
        clockOffsetMs: options.clockOffsetMs ?? 0,
      });
    });
    container.busy = false;
    return result;
  }

  /** Stops every container. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.containers].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.dead) return resolve();
            c.process.once("exit", () => resolve());
            this.kill(c);
          }),
      ),
    );
  }

  private idleContainer(): Container | undefined {
    return [...this.containers].find((c) => !c.busy && !c.dead);
  }

  private runtimeCall(action: "logs:PutLogEvents" | "logs:CreateLogStream" | "xray:PutTraceSegments"): void {
    const [service, command] = action.split(":") as [string, string];
    this.opts.log.add({
      fn: this.fn.name,
      roleArn: this.fn.role.arn,
      by: "lambda runtime",
      service: service === "logs" ? "CloudWatch Logs" : "XRay",
      command: `${command}Command`,
      input: { logGroupArn: this.fn.logGroupArn },
      outcome: { ok: true },
    });
  }

  private start(): Container {
    this.coldStarts++;
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? "",
      // What Lambda sets in every Node.js container.
      AWS_REGION: this.opts.region,
      AWS_DEFAULT_REGION: this.opts.region,
      AWS_EXECUTION_ENV: "AWS_Lambda_nodejs22.x",
      AWS_LAMBDA_FUNCTION_NAME: this.fn.functionName,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(this.fn.memoryMb),
      AWS_LAMBDA_LOG_GROUP_NAME: this.fn.logGroupArn.split(":log-group:")[1]!.replace(/:\*$/, ""),
      LAMBDA_TASK_ROOT: dirname(this.fn.handlerFile),
      TZ: ":UTC",
      ...this.fn.environment,
      ...this.opts.extraEnv,
    };
    const child = fork(CONTAINER_MAIN, [this.fn.handlerFile, this.fn.handlerExport, this.fn.functionName], {
      cwd: dirname(this.fn.handlerFile),
      env,
      execArgv: ["--import", RECORDER, `--max-old-space-size=${this.fn.memoryMb}`],
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let readyResolve: () => void = () => {};
    const container: Container = {
      process: child,
      ready: new Promise<void>((resolve) => {
        readyResolve = resolve;
      }),
      busy: false,
      dead: false,
      stdout: [],
      pendingCalls: new Map(),
    };
    this.containers.add(container);
    let buffered = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) if (line.trim()) this.output.push(line);
    });
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    child.on("message", (message: { type: string; id?: number | string } & Record<string, unknown>) => {
      switch (message.type) {
        case "ready":
          this.runtimeCall("logs:CreateLogStream");
          readyResolve();
          return;
        case "call": {
          const call = message.call as RawCall;
          if (this.killAt?.match(call)) {
            // The call is what the function was about to do: IAM would have had to allow it.
            this.opts.log.add({
              ...call,
              fn: this.fn.name,
              roleArn: this.fn.role.arn,
              by: "code",
              outcome: { ok: false, error: "the container was killed before sending it" },
            });
            const { resolve } = this.killAt;
            this.killAt = undefined;
            const current = container.current;
            container.current = undefined;
            this.kill(container);
            if (current) {
              clearTimeout(current.timer);
              current.resolve({ status: "killed", at: call });
            }
            resolve(call);
            return;
          }
          const recorded = this.opts.log.add({
            ...call,
            fn: this.fn.name,
            roleArn: this.fn.role.arn,
            by: "code",
          });
          container.pendingCalls.set(message.id as number, recorded);
          sendQuietly(child, { type: "proceed", id: message.id });
          return;
        }
        case "called": {
          const recorded = container.pendingCalls.get(message.id as number);
          container.pendingCalls.delete(message.id as number);
          if (recorded) recorded.outcome = message.outcome as CallOutcome;
          return;
        }
        case "result": {
          const current = container.current;
          container.current = undefined;
          if (!current) return;
          clearTimeout(current.timer);
          current.resolve(
            message.ok
              ? { status: "ok", value: message.value }
              : { status: "error", error: message.error as { name: string; message: string } },
          );
          return;
        }
      }
    });
    child.on("exit", (code, signal) => {
      container.dead = true;
      this.containers.delete(container);
      readyResolve();
      const current = container.current;
      container.current = undefined;
      if (current) {
        clearTimeout(current.timer);
        current.resolve({
          status: "error",
          error: { name: "Runtime.ExitError", message: `exited (${code ?? signal}): ${stderr.slice(-2000)}` },
        });
      }
    });
    return container;
  }

  private kill(container: Container): void {
    if (container.dead) return;
    container.dead = true;
    container.process.kill("SIGKILL");
  }
}

export interface RecordedCommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a mailstream CLI command (`lib/dev/cli/main.ts`) in its own process with the recorder, its AWS
 * calls logged as made by `role` (an operator who assumed it): how a rehearsal checks a role that
 * no function uses, such as the restore role.
 */
export function runRecordedCommand(
  args: string[],
  opts: { env: Record<string, string>; log: CallLog; name: string; roleArn: string; cwd: string },
): Promise<RecordedCommandResult> {
  const child = fork(fileURLToPath(new URL("../../../lib/dev/cli/main.ts", import.meta.url)), args, {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? "", ...opts.env, REHEARSAL_RECORDER_UNREF: "1" },
    execArgv: ["--import", "tsx", "--import", RECORDER],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  const pending = new Map<number, RecordedCall>();
  child.on("message", (message: { type: string; id: number; call?: RawCall; outcome?: CallOutcome }) => {
    if (message.type === "call") {
      pending.set(
        message.id,
        opts.log.add({ ...message.call!, fn: opts.name, roleArn: opts.roleArn, by: "code" }),
      );
      sendQuietly(child, { type: "proceed", id: message.id });
    } else if (message.type === "called") {
      const recorded = pending.get(message.id);
      pending.delete(message.id);
      if (recorded) recorded.outcome = message.outcome!;
    }
  });
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, stdout, stderr })));
}

/**
 * Sends to a container's or command's process. A process that is gone (killed, timed out) drops
 * the message: its exit already settles what was waiting on it, and the EPIPE of a send into its
 * closed channel would otherwise surface as an unhandled error of the whole test run.
 */
function sendQuietly(child: ChildProcess, message: Serializable): void {
  if (!child.connected) return;
  child.send(message, () => {});
}
