import { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as kms from "aws-cdk-lib/aws-kms";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import { METRIC, METRICS_NAMESPACE, STAGE_DIMENSION } from "../metrics.js";

export interface OperationsProps {
  stage: string;
  key: kms.IKey;
  alarmEmail: string | undefined;
  /** Seconds without a successful job before alarming (two schedule periods by default). */
  noSuccessWindowSeconds: number;
  queue: sqs.IQueue;
  deadLetterQueue: sqs.IQueue;
  /** Failed coordinator/sweep invocations and undeliverable events. */
  failedInvocations: sqs.IQueue;
  functions: { coordinator: lambda.IFunction; controller: lambda.IFunction; sweep: lambda.IFunction };
}

/** CloudWatch keeps alarm periods at one day at most; longer windows use several periods. */
const MAX_ALARM_PERIOD_SECONDS = 86_400;

/** The alarm topic, the alarms and the dashboard of one deployment. */
export class Operations extends Construct {
  readonly topic: sns.Topic;
  readonly dashboard: cloudwatch.Dashboard;
  readonly jobFailedAlarm: cloudwatch.Alarm;
  readonly deadLettersAlarm: cloudwatch.Alarm;
  readonly failedInvocationsAlarm: cloudwatch.Alarm;
  readonly noSuccessfulJobAlarm: cloudwatch.Alarm;
  readonly functionErrorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: OperationsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, "AlarmTopic", {
      displayName: `mailstream ${props.stage} alarms`,
      masterKey: props.key,
      enforceSSL: true,
    });
    if (props.alarmEmail) {
      // An alarm mail SNS could not deliver waits in the failed-invocations queue (which alarms too).
      this.topic.addSubscription(
        new subscriptions.EmailSubscription(props.alarmEmail, { deadLetterQueue: props.failedInvocations }),
      );
    }
    const notify = new actions.SnsAction(this.topic);

    const appMetric = (metricName: string, statistic: string, period = Duration.minutes(5)) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName,
        dimensionsMap: { [STAGE_DIMENSION]: props.stage },
        statistic,
        period,
      });

    this.jobFailedAlarm = new cloudwatch.Alarm(this, "JobFailed", {
      alarmDescription: `mailstream ${props.stage}: a backup job finished failed; see its job report.`,
      metric: appMetric(METRIC.jobsFailed, "Sum"),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    /** Alarms on the first message in a queue that only receives failures. */
    const notEmpty = (id: string, queue: sqs.IQueue, description: string) =>
      new cloudwatch.Alarm(this, id, {
        alarmDescription: `mailstream ${props.stage}: ${description}`,
        metric: queue.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(5),
          statistic: "Maximum",
        }),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      });
    this.deadLettersAlarm = notEmpty(
      "DeadLettersNotEmpty",
      props.deadLetterQueue,
      "stream tasks reached the dead-letter queue (controller crashed or timed out repeatedly).",
    );
    this.failedInvocationsAlarm = notEmpty(
      "FailedInvocations",
      props.failedInvocations,
      "a coordinator or sweep invocation failed after its retries, or an event could not be delivered; see the failed-invocations queue.",
    );

    // No data means no job succeeded: missing data breaches.
    const period = Math.min(props.noSuccessWindowSeconds, MAX_ALARM_PERIOD_SECONDS);
    this.noSuccessfulJobAlarm = new cloudwatch.Alarm(this, "NoSuccessfulJob", {
      alarmDescription: `mailstream ${props.stage}: no backup job succeeded in ${props.noSuccessWindowSeconds / 3600} hours.`,
      metric: appMetric(METRIC.jobsSucceeded, "Sum", Duration.seconds(period)),
      threshold: 1,
      evaluationPeriods: Math.ceil(props.noSuccessWindowSeconds / period),
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });

    const fns = props.functions;
    const functionErrors = new cloudwatch.MathExpression({
      expression: "coordinator + controller + sweep",
      usingMetrics: {
        coordinator: fns.coordinator.metricErrors({ statistic: "Sum" }),
        controller: fns.controller.metricErrors({ statistic: "Sum" }),
        sweep: fns.sweep.metricErrors({ statistic: "Sum" }),
      },
      label: "function errors",
      period: Duration.minutes(5),
    });
    this.functionErrorsAlarm = new cloudwatch.Alarm(this, "FunctionErrors", {
      alarmDescription: `mailstream ${props.stage}: a function invocation failed (crash, timeout or unhandled error).`,
      metric: functionErrors,
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });

    for (const alarm of this.alarms()) alarm.addAlarmAction(notify);
    // Recovery notices too, so nobody has to wonder whether it is still broken.
    for (const alarm of [this.deadLettersAlarm, this.failedInvocationsAlarm, this.noSuccessfulJobAlarm]) {
      alarm.addOkAction(notify);
    }

    const itemsPerSecond = new cloudwatch.MathExpression({
      expression: "items / PERIOD(items)",
      usingMetrics: { items: appMetric(METRIC.itemsStored, "Sum", Duration.minutes(1)) },
      label: "items/s",
      period: Duration.minutes(1),
    });

    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", {
      dashboardName: `mailstream-${props.stage}`,
      defaultInterval: Duration.hours(12),
      widgets: [
        [
          new cloudwatch.GraphWidget({ title: "Items stored per second", left: [itemsPerSecond], width: 8 }),
          new cloudwatch.GraphWidget({
            title: "Bytes stored",
            left: [appMetric(METRIC.bytesStored, "Sum", Duration.minutes(1))],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: "Graph throttling (429/503)",
            left: [appMetric(METRIC.throttled, "Sum", Duration.minutes(1))],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: "Streams",
            left: [
              appMetric(METRIC.activeStreams, "Maximum", Duration.minutes(1)),
              fns.controller.metric("ConcurrentExecutions", {
                statistic: "Maximum",
                period: Duration.minutes(1),
              }),
            ],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: "Errors",
            left: [appMetric(METRIC.errors, "Sum"), functionErrors],
            right: [appMetric(METRIC.jobsFailed, "Sum"), appMetric(METRIC.jobsSucceeded, "Sum")],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: "Stream queue and dead letters",
            left: [
              props.queue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum" }),
              props.queue.metricApproximateNumberOfMessagesNotVisible({ statistic: "Maximum" }),
            ],
            right: [props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum" })],
            width: 8,
          }),
        ],
        [
          new cloudwatch.AlarmStatusWidget({
            title: "Alarms",
            alarms: this.alarms(),
            width: 24,
          }),
        ],
      ],
    });
  }

  /** Every alarm of the deployment (the tamper alarms are EventBridge rules, see TamperAlarms). */
  alarms(): cloudwatch.Alarm[] {
    return [
      this.jobFailedAlarm,
      this.deadLettersAlarm,
      this.failedInvocationsAlarm,
      this.noSuccessfulJobAlarm,
      this.functionErrorsAlarm,
    ];
  }
}
