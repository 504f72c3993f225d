/**
 * The CDK feature flags of cdk.json, for apps built outside the CDK CLI (tests, the documentation
 * tables), so that they synthesize exactly what `cdk synth` does.
 */
import { readFileSync } from "node:fs";

export function cdkFeatureFlags(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL("../cdk.json", import.meta.url), "utf8")) as {
    context: Record<string, unknown>;
  };
  return Object.fromEntries(Object.entries(cdkJson.context).filter(([key]) => key.startsWith("@aws-cdk/")));
}
