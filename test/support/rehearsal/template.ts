/**
 * A synthesized CloudFormation template as a deployment rehearsal reads it: its resources, and
 * every intrinsic function (Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select, Fn::Split) resolved
 * against the names a local "account" gave the resources.
 */

export interface TemplateResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Metadata?: Record<string, unknown>;
}

export interface CfnTemplate {
  Resources: Record<string, TemplateResource>;
}

/** Where a stack is "deployed": the pseudo parameters. */
export interface Pseudo {
  account: string;
  region: string;
  partition: string;
}

/** What Ref and Fn::GetAtt of one resource give. */
export interface PhysicalResource {
  ref: string;
  attributes: Record<string, string>;
}

export class UnresolvableError extends Error {
  override name = "UnresolvableError";
}

/**
 * Resolves intrinsic functions in `value`. `physical(logicalId)` gives a resource's Ref and
 * attributes; a reference to anything it does not know throws, naming the reference.
 */
export function resolveIntrinsics(
  value: unknown,
  pseudo: Pseudo,
  physical: (logicalId: string) => PhysicalResource | undefined,
): unknown {
  const ref = (name: string): string => {
    switch (name) {
      case "AWS::AccountId":
        return pseudo.account;
      case "AWS::Region":
        return pseudo.region;
      case "AWS::Partition":
        return pseudo.partition;
      case "AWS::URLSuffix":
        return "amazonaws.com";
      case "AWS::StackName":
        return "rehearsal";
      case "AWS::NoValue":
        return "";
    }
    const resource = physical(name);
    if (!resource) throw new UnresolvableError(`Ref to ${name}: no such resource in the rehearsal`);
    return resource.ref;
  };
  const getAtt = (id: string, attribute: string): string => {
    const resource = physical(id);
    const found = resource?.attributes[attribute];
    if (found === undefined)
      throw new UnresolvableError(`Fn::GetAtt ${id}.${attribute}: not known to the rehearsal`);
    return found;
  };
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v === null || typeof v !== "object") return v;
    const entries = Object.entries(v as Record<string, unknown>);
    if (entries.length === 1) {
      const [fn, arg] = entries[0]!;
      switch (fn) {
        case "Ref":
          return ref(arg as string);
        case "Fn::GetAtt": {
          const [id, attribute] = Array.isArray(arg) ? (arg as string[]) : (arg as string).split(".");
          return getAtt(id!, attribute!);
        }
        case "Fn::Join": {
          const [separator, parts] = arg as [string, unknown[]];
          return (walk(parts) as unknown[]).join(separator);
        }
        case "Fn::Select": {
          const [index, list] = arg as [unknown, unknown];
          return (walk(list) as unknown[])[Number(walk(index))];
        }
        case "Fn::Split": {
          const [separator, text] = arg as [string, unknown];
          return String(walk(text)).split(separator);
        }
        case "Fn::Sub": {
          const [text, vars] =
            typeof arg === "string" ? [arg, {}] : (arg as [string, Record<string, unknown>]);
          return text.replace(/\$\{([^}]+)\}/g, (_m, name: string) => {
            if (name in vars) return String(walk(vars[name]));
            if (name.includes(".") && !name.startsWith("AWS::")) {
              const [id, attribute] = name.split(".");
              return getAtt(id!, attribute!);
            }
            return ref(name);
          });
        }
      }
    }
    return Object.fromEntries(entries.map(([k, inner]) => [k, walk(inner)]));
  };
  return walk(value);
}

/** The logical ids of the resources of a type. */
export function resourcesOfType(template: CfnTemplate, type: string): string[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === type)
    .map(([id]) => id);
}

/** The logical id a `{Ref}` or `{Fn::GetAtt}` points at, or undefined. */
export function referencedId(value: unknown): string | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.Ref === "string") return v.Ref;
  const att = v["Fn::GetAtt"];
  if (Array.isArray(att)) return att[0] as string;
  return undefined;
}
