/**
 * Relayed ports (RFC 8656 §7.2, §18.6 EVEN-PORT, §18.9 RESERVATION-TOKEN).
 *
 * Ports come from [minPort, maxPort], chosen at random (RFC 6056) per relay IP address: one bitmap of 65536
 * bytes per address marks the ports in use. EVEN-PORT asks for an even port; with R=1 the next (odd) port is
 * held too and a RESERVATION-TOKEN names it, for a later Allocate, until the reservation expires (30 s). Each
 * reservation names its holder (the username whose quota carries it, see quota.ts); `onReservationExpired` hears
 * of every reservation that ends unclaimed, so that the holder's quota is given back.
 *
 * The allocator only books ports; the caller binds the socket and releases the port if the bind fails.
 */
import { randomBytes, randomInt } from 'node:crypto';

export type PortRequest = 'any' | 'even' | 'even-pair';

interface Reservation {
  readonly address: string;
  readonly port: number;
  readonly expiresAt: number;
  readonly holder: string;
}

export interface PortAllocatorOptions {
  minPort: number;
  maxPort: number;
  reservationLifetimeMs: number;
  /** A reservation ended unclaimed (expired): its port is free again. */
  onReservationExpired?: (holder: string) => void;
}

export class PortAllocator {
  readonly #min: number;
  readonly #max: number;
  readonly #reservationMs: number;
  readonly #onReservationExpired: (holder: string) => void;
  readonly #used = new Map<string, Uint8Array>();
  readonly #count = new Map<string, number>();
  /** Token (hex) → reservation. */
  readonly #reservations = new Map<string, Reservation>();

  constructor(options: PortAllocatorOptions) {
    this.#min = options.minPort;
    this.#max = options.maxPort;
    this.#reservationMs = options.reservationLifetimeMs;
    this.#onReservationExpired = options.onReservationExpired ?? (() => undefined);
  }

  /**
   * Books a free port on `address`: any port, an even one, or an even one whose successor is free too
   * ('even-pair', both booked). Undefined when the range has none left.
   */
  acquire(address: string, request: PortRequest = 'any'): number | undefined {
    const used = this.#bitmap(address);
    const span = this.#max - this.#min + 1;
    if (span <= 0) return undefined;
    const start = randomInt(span);
    for (let k = 0; k < span; k++) {
      const port = this.#min + ((start + k) % span);
      if (used[port] !== 0) continue;
      if (request !== 'any' && (port & 1) !== 0) continue;
      if (request === 'even-pair') {
        if (port + 1 > this.#max || used[port + 1] !== 0) continue;
        this.#mark(address, port + 1);
      }
      this.#mark(address, port);
      return port;
    }
    return undefined;
  }

  /** Books one given port (e.g. to retry a specific port); false when taken or out of range. */
  acquireExact(address: string, port: number): boolean {
    if (port < this.#min || port > this.#max) return false;
    if (this.#bitmap(address)[port] !== 0) return false;
    this.#mark(address, port);
    return true;
  }

  release(address: string, port: number): void {
    const used = this.#used.get(address);
    if (used === undefined || used[port] === 0) return;
    used[port] = 0;
    this.#count.set(address, (this.#count.get(address) ?? 1) - 1);
  }

  /** Turns a booked port into a reservation held by `holder` and returns its 8-byte token. */
  reserve(address: string, port: number, nowMs: number, holder: string): Buffer {
    const token = randomBytes(8);
    this.#reservations.set(token.toString('hex'), { address, port, expiresAt: nowMs + this.#reservationMs, holder });
    return token;
  }

  /** The holder of the live reservation `token` names (RFC 8656 §7.2 step 5), without taking it. */
  holderOf(token: Buffer, nowMs: number): string | undefined {
    const r = this.#reservations.get(token.toString('hex'));
    return r !== undefined && r.expiresAt > nowMs ? r.holder : undefined;
  }

  /** Drops a reservation and frees its port without `onReservationExpired` (the Allocate that made it failed). */
  cancel(token: Buffer): void {
    const key = token.toString('hex');
    const r = this.#reservations.get(key);
    if (r === undefined) return;
    this.#reservations.delete(key);
    this.release(r.address, r.port);
  }

  /**
   * Takes a reservation: the port stays booked for the caller, who binds it (and releases it on failure).
   * Undefined for an unknown or expired token (RFC 8656 §7.2 step 5: 508).
   */
  claim(token: Buffer, nowMs: number): { address: string; port: number } | undefined {
    const key = token.toString('hex');
    const r = this.#reservations.get(key);
    if (r === undefined) return undefined;
    this.#reservations.delete(key);
    if (r.expiresAt <= nowMs) {
      this.release(r.address, r.port);
      this.#onReservationExpired(r.holder);
      return undefined;
    }
    return { address: r.address, port: r.port };
  }

  /** Releases expired reservations; returns how many. */
  sweep(nowMs: number): number {
    let n = 0;
    for (const [key, r] of this.#reservations) {
      if (r.expiresAt > nowMs) continue;
      this.#reservations.delete(key);
      this.release(r.address, r.port);
      this.#onReservationExpired(r.holder);
      n++;
    }
    return n;
  }

  /** Ports booked on `address` (including reserved ones). */
  inUse(address: string): number {
    return this.#count.get(address) ?? 0;
  }

  get reservations(): number {
    return this.#reservations.size;
  }

  #bitmap(address: string): Uint8Array {
    let used = this.#used.get(address);
    if (used === undefined) {
      used = new Uint8Array(65536);
      this.#used.set(address, used);
    }
    return used;
  }

  #mark(address: string, port: number): void {
    this.#bitmap(address)[port] = 1;
    this.#count.set(address, (this.#count.get(address) ?? 0) + 1);
  }
}
