import * as pulumi from "@pulumi/pulumi";
import { ConfigError, RawConfig, loadConfig } from "./config";
import { LeafStackOutputs, leafStack } from "./leaf";
import { ObserverStackOutputs, observerStack } from "./observer";

/**
 * Reads the stack's config once, validates all of it, and declares the stack of its role.
 * Config problems surface as a RunError: Pulumi prints the message alone, with no stack trace.
 * The clock is read once, here: it places each leaf in its CA schedule (see `caSchedule`).
 */
export function runStack(
  raw: RawConfig = pulumi.runtime.allConfig(),
  stack: string = pulumi.getStack(),
  now: Date = new Date(),
): LeafStackOutputs | ObserverStackOutputs {
  let config;
  try {
    config = loadConfig(raw, stack);
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
  return config.role === "leaf" ? leafStack(config, now).outputs : observerStack(config).outputs;
}
