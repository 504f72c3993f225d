/**
 * The deployed stack's settings that turn measured runs into money: each function's memory and
 * how often the schedules fire, as a deployment with only the required fields gets them
 * (infra/config.ts). Read from the configuration schema, so that a changed default changes the
 * priced figures.
 */
import { EXAMPLE_TENANT_ID, parseDeploymentConfig } from "../../infra/config.js";
import { schedulePeriodSeconds } from "../../infra/schedule.js";
import type { FunctionMemory } from "./price-run.js";
import { MONTH_SECONDS } from "./prices.js";

export interface DeploymentDefaults {
  memoryMb: FunctionMemory;
  /** The backup schedule, e.g. `rate(4 hours)`. */
  schedule: string;
  jobsPerMonth: number;
  sweepSchedule: string;
  sweepsPerMonth: number;
}

/** The defaults of a deployment configuration with only the required fields set. */
export function deploymentDefaults(): DeploymentDefaults {
  const config = parseDeploymentConfig({
    configVersion: 2,
    stage: "bench",
    tenantId: EXAMPLE_TENANT_ID,
    clientId: EXAMPLE_TENANT_ID,
    secretArn: "arn:aws:secretsmanager:us-east-1:111122223333:secret:mailstream/bench-Ab12Cd",
  });
  const perMonth = (expression: string) => {
    const period = schedulePeriodSeconds(expression);
    if (period === undefined)
      throw new Error(`deploymentDefaults: expected a rate(…) schedule, found ${expression}`);
    return MONTH_SECONDS / period;
  };
  return {
    memoryMb: {
      controller: config.controller.memoryMb,
      coordinator: config.coordinator.memoryMb,
      sweep: config.sweep.memoryMb,
    },
    schedule: config.schedule,
    jobsPerMonth: perMonth(config.schedule),
    sweepSchedule: config.sweepSchedule,
    sweepsPerMonth: perMonth(config.sweepSchedule),
  };
}
