/**
 * The simulated Exchange Online tenant: the Graph-compatible HTTPS server and the tenant
 * (store, generator, mutation rounds).
 */
export * from "./model.js";
export {
  type CertificatePair,
  type DropConnectionFault,
  ensureSimulatorCa,
  type FaultCommand,
  type FaultControl,
  type FaultScope,
  type LatencyOptions,
  type LimitOptions,
  type MailboxStats,
  type MutateHook,
  type RunningSimulator,
  type ServedStats,
  type ServerErrorFault,
  type ServerErrorRateFault,
  type SimClientRegistration,
  type SimulatorCa,
  type SimulatorOptions,
  startSimulator,
} from "./server/index.js";
export * from "./tenant/index.js";
