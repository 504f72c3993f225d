/**
 * A unit started before its claim has landed (a stream's start units, whose records are read
 * beside the transaction that claims them: stream-runner.ts): its Graph requests go out at once,
 * but nothing it writes (archive bodies, catalog parts, checkpoints) and no answer it gets is
 * processed until the claim is known. A granted claim opens the gate (answers normally come
 * ~0.4 s after the request, the claim ~0.2 s: the wait costs nothing); a refused one (a stale
 * task, a unit another delivery took) fails every gated call with {@link ClaimRefusedError}, so
 * that the unit stops having written nothing and sends no further request.
 */
import { Readable } from "node:stream";
import { SupersededError } from "../errors.js";
import type { ArchiveSink, UnitStatePort } from "./ports.js";

/**
 * The claim of a unit started early was refused: the unit was not this task's to back up. Its
 * requests' answers are dropped and nothing of it is written; the task goes on as if it had not
 * started it (superseded: the unit is someone else's, or the task is stale).
 */
export class ClaimRefusedError extends SupersededError {
  override name = "ClaimRefusedError";
  constructor(jobId: string, streamId: number, seq: number) {
    super(
      `job ${jobId} stream ${streamId} task ${seq}: expected its start units' claim to be granted, found it refused (an answer or write of a unit started early is dropped)`,
    );
  }
}

export class ClaimGate {
  #state: "pending" | "open" | "refused" = "pending";
  #refusal: Error | undefined;
  readonly #settled: Promise<boolean>;
  #settle!: (granted: boolean) => void;

  constructor() {
    this.#settled = new Promise<boolean>((resolve) => {
      this.#settle = resolve;
    });
  }

  get state(): "pending" | "open" | "refused" {
    return this.#state;
  }

  /** The claim was granted: everything waiting goes on. */
  open(): void {
    if (this.#state !== "pending") return;
    this.#state = "open";
    this.#settle(true);
  }

  /** The claim was refused (or could not be made): every gated call fails with `error`. */
  refuse(error: Error): void {
    if (this.#state !== "pending") return;
    this.#state = "refused";
    this.#refusal = error;
    this.#settle(false);
  }

  /** Whether the claim was granted, once it is known. */
  granted(): Promise<boolean> {
    return this.#settled;
  }

  /** Resolves once the claim is granted; rejects once it is refused. No wait when it is open. */
  pass(): Promise<void> | undefined {
    if (this.#state === "open") return undefined;
    if (this.#state === "refused") return Promise.reject(this.#refusal);
    return this.#settled.then((granted) => {
      if (!granted) throw this.#refusal;
    });
  }

  /** Throws at once when the claim was refused (a request not to send). */
  check(): void {
    if (this.#state === "refused") throw this.#refusal;
  }

  /** `value` once the claim is granted (an answer is processed only then). */
  after<T>(value: T): T | Promise<T> {
    const passing = this.pass();
    return passing ? passing.then(() => value) : value;
  }

  /** A write, once the claim is granted (at once when it is); rejects once it is refused. */
  #whenGranted<T>(write: () => Promise<T>): Promise<T> {
    const passing = this.pass();
    return passing ? passing.then(write) : write();
  }

  /** The archive, each write waiting for the claim; a refused claim writes nothing (a body stream is destroyed unread). */
  archive(sink: ArchiveSink): ArchiveSink {
    const gated: ArchiveSink = {
      storeBlob: (kind, body, owner) => {
        const passing = this.pass();
        if (!passing) return sink.storeBlob(kind, body, owner);
        return passing.then(
          () => sink.storeBlob(kind, body, owner),
          (error: unknown) => {
            if (body instanceof Readable) body.destroy();
            throw error;
          },
        );
      },
      writeCatalogPart: (key, entries) => this.#whenGranted(() => sink.writeCatalogPart(key, entries)),
    };
    if (sink.pendingPackBytes) gated.pendingPackBytes = (mailboxId) => sink.pendingPackBytes!(mailboxId);
    return gated;
  }

  /** The unit's state port, its checkpoints waiting for the claim (its reads of sync states do not). */
  unitState(port: UnitStatePort): UnitStatePort {
    return {
      syncState: (mailboxId, folderId, via) => port.syncState(mailboxId, folderId, via),
      ...(port.committedSyncState ? { committedSyncState: port.committedSyncState.bind(port) } : {}),
      checkpoint: (checkpoint, delta, staged) =>
        this.#whenGranted(() => port.checkpoint(checkpoint, delta, staged)),
    };
  }
}
