/**
 * The test side of overlay-client.mjs: the TURN client process inside a lab namespace, one JSON command per line
 * in, one JSON reply per line out (used by the overlay and egress lab tests).
 */
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LabRelay } from '../../lab/lab.js';
import { spawnIn, stopChild, waitFor } from '../../lab/netns.js';

const CLIENT_SCRIPT = fileURLToPath(new URL('./overlay-client.mjs', import.meta.url));

export interface Relayed {
  address: string;
  port: number;
}

/** One overlay-client.mjs process inside a namespace: JSON commands in, JSON replies out. */
export class ScriptClient {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<number, (reply: Record<string, unknown>) => void>();
  #next = 1;
  #ready = false;
  stderr = '';

  constructor(readonly ns: string) {
    this.#child = spawnIn(ns, process.execPath, [CLIENT_SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stderr!.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    createInterface({ input: this.#child.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.event === 'ready') this.#ready = true;
      const id = msg.id as number | undefined;
      if (id !== undefined) this.#waiting.get(id)?.(msg);
    });
  }

  async ready(): Promise<this> {
    await waitFor(`client in ${this.ns}`, () => {
      if (this.#child.exitCode !== null) throw new Error(`client exited: ${this.stderr}`);
      return this.#ready || undefined;
    }, 15_000);
    return this;
  }

  call<T = Record<string, unknown>>(cmd: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${String(cmd.cmd)} timed out; stderr: ${this.stderr}`)), timeoutMs);
      this.#waiting.set(id, (reply) => {
        clearTimeout(timer);
        this.#waiting.delete(id);
        if (reply.ok === false) reject(new Error(String(reply.error)));
        else resolve(reply as T);
      });
      this.#child.stdin!.write(`${JSON.stringify({ id, ...cmd })}\n`);
    });
  }

  async allocate(relay: LabRelay, username: string, password: string): Promise<Relayed> {
    const r = await this.call<{ relayed: Relayed }>({ cmd: 'allocate', server: { address: relay.address, port: 3478 }, username, password });
    return r.relayed;
  }

  received(tag: number): Promise<{ packets: number; unique: number }> {
    return this.call({ cmd: 'received', tag });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode === null) {
      this.#child.stdin!.end();
      await stopChild(this.#child, 'SIGTERM');
    }
  }
}

