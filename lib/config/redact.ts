import { SECRET_PATHS } from "./env.js";

/** What a secret is replaced with wherever configuration is shown. */
export const REDACTED = "[redacted]";

/** A deep copy of a configuration-shaped value with every secret field replaced by {@link REDACTED}. */
export function redactSecrets<T>(value: T, path = ""): T {
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, path)) as T;
  if (typeof value !== "object" || value === null) return value;
  const copy: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    const innerPath = path ? `${path}.${key}` : key;
    copy[key] =
      SECRET_PATHS.has(innerPath) && inner !== undefined ? REDACTED : redactSecrets(inner, innerPath);
  }
  return copy as T;
}

/** True when the dotted path names a secret (or lies inside one). */
export function isSecretPath(path: string): boolean {
  for (const secret of SECRET_PATHS) {
    if (path === secret || path.startsWith(`${secret}.`)) return true;
  }
  return false;
}
