/**
 * The options every archive command shares (`--data`, `--archive`) and the way a command opens
 * and closes its archive context.
 */
import { type Command, InvalidArgumentError } from "commander";
import { type CliContext, openCliContext } from "../context.js";

export interface ArchiveOptions {
  /** `--data <dir>`: the local runtime's data folder. Default `.mailstream`. */
  data?: string;
  /** `--archive <dir|s3://bucket/prefix>`: the archive, overriding `--data` and the environment. */
  archive?: string;
}

export function addArchiveOptions(command: Command): Command {
  return command
    .option("-d, --data <dir>", "data folder of the local runtime (its archive/ is read)", ".mailstream")
    .option("-a, --archive <place>", "archive folder or s3://bucket/prefix (overrides --data)");
}

/** Opens the archive, runs the body, closes the context whatever happens. */
export async function withArchive<T>(
  opts: ArchiveOptions,
  body: (ctx: CliContext) => Promise<T>,
): Promise<T> {
  const ctx = openCliContext({
    ...(opts.data !== undefined ? { data: opts.data } : {}),
    ...(opts.archive !== undefined ? { archive: opts.archive } : {}),
  });
  try {
    return await body(ctx);
  } finally {
    ctx.close();
  }
}

/** Parses a non-negative integer option (commander argument parser). */
export function nonNegativeInt(name: string, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new InvalidArgumentError(`${name}: expected an integer from 0 to ${max}, found "${value}"`);
    }
    return n;
  };
}
