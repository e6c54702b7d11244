/**
 * The load generator process (forked by the orchestrator, never run by hand): executes GeneratorCommands one
 * at a time over the IPC channel, so its CPU is its own and separate from the server under test and from the
 * orchestrator. Holds at most one AllocationBurst and one TrafficRig.
 */
import { AllocationBurst } from './allocations.js';
import type { GeneratorCommand, GeneratorReply, GeneratorRequest, GeneratorResults } from './generator-protocol.js';
import { TrafficRig } from './traffic.js';

let burst: AllocationBurst | undefined;
let rig: TrafficRig | undefined;

async function handle(c: GeneratorCommand): Promise<GeneratorResults[keyof GeneratorResults]> {
  switch (c.cmd) {
    case 'burst.open':
      burst?.close();
      burst = await AllocationBurst.open(c.server, c.creds, c.count, c.localAddress);
      return { opened: burst.size };
    case 'burst.allocate':
      if (!burst) throw new Error('no burst opened');
      return burst.allocateAll(c.concurrency, c.bindTo);
    case 'burst.release': {
      if (!burst) throw new Error('no burst opened');
      const r = await burst.release(c.concurrency);
      burst = undefined;
      return r;
    }
    case 'rig.create':
      if (rig) await rig.close();
      rig = await TrafficRig.create(c.rig);
      return { flows: c.rig.flows };
    case 'rig.step':
      if (!rig) throw new Error('no traffic rig created');
      return rig.step(c.step);
    case 'rig.close':
      await rig?.close();
      rig = undefined;
      return { closed: true };
  }
}

function reply(r: GeneratorReply): void {
  process.send?.(r);
}

process.on('message', (m: GeneratorRequest) => {
  handle(m).then(
    (result) => reply({ id: m.id, ok: true, result }),
    (err: unknown) => reply({ id: m.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
