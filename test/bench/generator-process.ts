/**
 * GeneratorProcess: the orchestrator's handle on the load generator child process (dist/test/bench/generator.js),
 * with typed request/response calls over IPC.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { GeneratorCommand, GeneratorReply, GeneratorResults } from './generator-protocol.js';
import { GENERATOR_SCRIPT } from './paths.js';

export class GeneratorProcess {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on('message', (m: GeneratorReply) => {
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`generator: ${m.error}`));
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`generator exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  /** Forks the generator; `script` defaults to the compiled dist/test/bench/generator.js. */
  static start(script = GENERATOR_SCRIPT): GeneratorProcess {
    const child = fork(script, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new GeneratorProcess(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<C extends GeneratorCommand['cmd']>(command: Extract<GeneratorCommand, { cmd: C }>): Promise<GeneratorResults[C]> {
    if (this.exited) return Promise.reject(new Error('generator has exited'));
    const id = this.nextId++;
    return new Promise<GeneratorResults[C]>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  /** Ends the generator (closing its IPC channel makes it exit) and waits for it. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}
