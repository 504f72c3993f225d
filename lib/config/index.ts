export { awsEndpointsFromConfig, environmentForAwsEndpoints } from "./aws-endpoints.js";
export { isScheduleExpression } from "./checks.js";
export {
  type ClientCredential,
  parseClientCredentialSecret,
  resolveClientCredential,
} from "./client-credential.js";
export { CONFIG_FILE_VARIABLE, ENV_VARIABLES, type EnvVariable } from "./env.js";
export {
  type ConfigProblem,
  type ConfigSource,
  ConfigValidationError,
  loadConfig,
  loadStateConfig,
  type MailstreamConfig,
} from "./load.js";
export { REDACTED, redactSecrets } from "./redact.js";
export {
  type ArchiveConfig,
  type CredentialsConfig,
  configSchema,
  DEFAULT_GRAPH_BASE_URL,
  type MailstreamConfigData,
  type MailstreamConfigInput,
  type StateConfigData,
} from "./schema.js";
