/**
 * The messages between the bench orchestrator (run.ts) and the load generator child process (generator.ts).
 * The orchestrator sends one command at a time, tagged with an id; the generator answers with the same id.
 */
import type { TransportAddress } from '../../src/stun/index.js';
import type { BurstResult, ReleaseResult } from './allocations.js';
import type { RigOptions, StepOptions, StepResult } from './traffic.js';
import type { Endpoint, TurnCredentials } from './turn-client.js';

export type GeneratorCommand =
  | { cmd: 'burst.open'; server: Endpoint; creds: TurnCredentials; count: number; localAddress: string }
  | { cmd: 'burst.allocate'; concurrency: number; bindTo?: TransportAddress }
  | { cmd: 'burst.release'; concurrency: number }
  | { cmd: 'rig.create'; rig: RigOptions }
  | { cmd: 'rig.step'; step: StepOptions }
  | { cmd: 'rig.close' };

export interface GeneratorResults {
  'burst.open': { opened: number };
  'burst.allocate': BurstResult;
  'burst.release': ReleaseResult;
  'rig.create': { flows: number };
  'rig.step': StepResult;
  'rig.close': { closed: true };
}

export type GeneratorRequest = GeneratorCommand & { id: number };

export type GeneratorReply =
  | { id: number; ok: true; result: GeneratorResults[keyof GeneratorResults] }
  | { id: number; ok: false; error: string };
