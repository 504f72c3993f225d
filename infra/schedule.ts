/**
 * EventBridge schedule expressions, checked at synth time so that a typo fails `cdk synth` with a
 * clear message instead of failing the CloudFormation deployment half-way.
 */
import { isScheduleExpression } from "../lib/config/checks.js";

const RATE = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/;
/** cron(minutes hours day-of-month month day-of-week year): six fields, EventBridge syntax. */
const CRON = /^cron\((\S+ ){5}\S+\)$/;

const SECONDS_PER_UNIT: Record<string, number> = {
  minute: 60,
  minutes: 60,
  hour: 3600,
  hours: 3600,
  day: 86_400,
  days: 86_400,
};

/** Why `expression` is not a valid EventBridge schedule, or undefined when it is. */
export function scheduleProblem(expression: string): string | undefined {
  const rate = RATE.exec(expression);
  if (rate) {
    const value = Number(rate[1]);
    const unit = rate[2]!;
    if (value < 1) return "a rate must be at least 1";
    // EventBridge insists on the singular unit for 1 and the plural for more.
    if (value === 1 && unit.endsWith("s"))
      return `use the singular unit for 1, e.g. "rate(1 ${unit.slice(0, -1)})"`;
    if (value > 1 && !unit.endsWith("s"))
      return `use the plural unit for ${value}, e.g. "rate(${value} ${unit}s)"`;
    return undefined;
  }
  if (CRON.test(expression)) {
    // The functions validate the same value at run time (lib/config): agree with them.
    if (!isScheduleExpression(expression)) {
      return 'expected a cron(…) whose day-of-month or day-of-week (exactly one) is "?", e.g. "cron(0 2 * * ? *)"';
    }
    return undefined;
  }
  return 'expected "rate(<n> minutes|hours|days)" or "cron(<6 fields>)"';
}

/**
 * The period between ticks in seconds for a `rate(...)` expression; undefined for `cron(...)`,
 * whose period cannot be derived in general (the caller then needs an explicit value).
 */
export function schedulePeriodSeconds(expression: string): number | undefined {
  const rate = RATE.exec(expression);
  if (!rate) return undefined;
  return Number(rate[1]) * SECONDS_PER_UNIT[rate[2]!]!;
}
