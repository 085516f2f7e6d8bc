// thanos-bridge: one Pulumi program, one stack per cluster. The stack's `role` config decides
// what it declares; its outputs are the stack outputs.
import { runStack } from "./stacks";

export = runStack();
