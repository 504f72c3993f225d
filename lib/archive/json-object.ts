/**
 * Reading one JSON object of the archive (a manifest, a report, an index manifest) and checking
 * its shape. Every such reader needs the same three outcomes: absent (undefined), well formed
 * (the parsed value), damaged (an error the caller chooses, saying what was expected and found).
 */
import type { z } from "zod";
import { getBytesIfExists, type ObjectStore } from "./store.js";

export interface JsonObjectExpectation<S extends z.ZodType> {
  /** The shape the object must have. */
  schema: S;
  /** What the object should be, for the message ("a job manifest"). */
  expected: string;
  /** The error to throw for a damaged object, given the problem ("expected …, found …"). */
  damaged: (problem: string, cause?: unknown) => Error;
}

/** The object at `key` parsed and validated; undefined when there is none; throws when damaged. */
export async function readJsonObject<S extends z.ZodType>(
  store: ObjectStore,
  key: string,
  expectation: JsonObjectExpectation<S>,
): Promise<z.infer<S> | undefined> {
  const bytes = await getBytesIfExists(store, key);
  if (!bytes) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString("utf8"));
  } catch (error) {
    throw expectation.damaged(`expected JSON, found ${(error as Error).message}`, error);
  }
  const parsed = expectation.schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw expectation.damaged(
      `expected ${expectation.expected}, found ${issue?.path.join(".") || "it"} invalid: ${issue?.message}`,
    );
  }
  return parsed.data;
}
