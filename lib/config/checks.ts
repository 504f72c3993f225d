/**
 * Small validators for configuration values, each returning `true` when the value is acceptable.
 * Kept apart from the schema so that they can be unit-tested and reused (e.g. by the CLI).
 */

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A DNS name with at least one dot, e.g. `contoso.onmicrosoft.com`. */
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/i;
const ADDRESS = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function isGuid(value: string): boolean {
  return GUID.test(value);
}

export function isDomain(value: string): boolean {
  return DOMAIN.test(value);
}

/** An `https://` URL with a host (no credentials in it). */
export function isHttpsUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "https:" && url.host !== "" && url.username === "" && url.password === "";
  } catch {
    return false;
  }
}

/** An `http://` or `https://` URL, for local emulator endpoints. */
export function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === "http:" || url.protocol === "https:") && url.host !== "";
  } catch {
    return false;
  }
}

/** A mailbox selection rule: an address, `@domain`, or `group:<name>`. */
export function isMailboxRule(value: string): boolean {
  if (value.startsWith("@")) return isDomain(value.slice(1));
  if (value.startsWith("group:")) return value.slice("group:".length).trim().length > 0;
  return ADDRESS.test(value);
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
const CRON_FIELD = /^[0-9A-Za-z*?,/#-]+$/;

/**
 * An EventBridge schedule expression: `rate(<n> <unit>)` with a singular unit for 1 and a plural
 * otherwise (EventBridge rejects `rate(1 minutes)`), or `cron(<6 fields>)` where exactly one of
 * day-of-month and day-of-week is `?`.
 */
export function isScheduleExpression(value: string): boolean {
  const rate = RATE.exec(value);
  if (rate) {
    const count = Number(rate[1]);
    const plural = rate[2]!.endsWith("s");
    return count >= 1 && (count === 1 ? !plural : plural);
  }
  const cron = /^cron\((.*)\)$/.exec(value);
  if (!cron) return false;
  const fields = cron[1]!.trim().split(/\s+/);
  if (fields.length !== 6 || !fields.every((f) => CRON_FIELD.test(f))) return false;
  const [, , dayOfMonth, , dayOfWeek] = fields;
  return (dayOfMonth === "?") !== (dayOfWeek === "?");
}

/** The endpoints MSAL needs in `authorityMetadata` to skip discovery (see docs/graph-facts.md). */
export const AUTHORITY_METADATA_FIELDS = [
  "authorization_endpoint",
  "token_endpoint",
  "issuer",
  "jwks_uri",
] as const;

/** A JSON object (as a string) naming every endpoint in {@link AUTHORITY_METADATA_FIELDS}. */
export function isAuthorityMetadata(value: string): boolean {
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== "object" || parsed === null) return false;
    const record = parsed as Record<string, unknown>;
    return AUTHORITY_METADATA_FIELDS.every((field) => typeof record[field] === "string");
  } catch {
    return false;
  }
}
