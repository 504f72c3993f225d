import type { AwsEndpoints } from "../aws/clients.js";
import type { MailstreamConfigData } from "./schema.js";

/**
 * The endpoints for `createAwsClients` that a configuration names: the region always, local
 * emulator URLs only when set (on AWS none are, and the SDK's defaults apply).
 */
export function awsEndpointsFromConfig(config: Pick<MailstreamConfigData, "aws">): AwsEndpoints {
  const { region, endpoints } = config.aws;
  return {
    region,
    ...(endpoints.s3 ? { s3: endpoints.s3 } : {}),
    ...(endpoints.sqs ? { sqs: endpoints.sqs } : {}),
    ...(endpoints.dynamodb ? { dynamodb: endpoints.dynamodb } : {}),
  };
}

/**
 * The environment variables that point a mailstream process at the given endpoints (the inverse
 * of {@link awsEndpointsFromConfig}), for the local runtime starting handlers or child processes.
 */
export function environmentForAwsEndpoints(endpoints: AwsEndpoints): Record<string, string> {
  return {
    ...(endpoints.region ? { AWS_REGION: endpoints.region } : {}),
    ...(endpoints.s3 ? { MAILSTREAM_S3_ENDPOINT: endpoints.s3 } : {}),
    ...(endpoints.sqs ? { MAILSTREAM_SQS_ENDPOINT: endpoints.sqs } : {}),
    ...(endpoints.dynamodb ? { MAILSTREAM_DYNAMODB_ENDPOINT: endpoints.dynamodb } : {}),
  };
}
