/**
 * Per-tenant egress (US 9,124,652: a per-service egress table, separate from BGP, picks the egress link). A relay
 * host may have several relay addresses, each leaving by its own uplink (the router's source-based policy routing);
 * the egress table (`egress USER=IP`, '*' for everyone else) decides which relay address an allocation of a tenant
 * is given. A tenant is the allocation's USERNAME; a TURN REST name `<expiry>:<user>` counts as `<user>`. Tenants
 * without an entry (and families the entry does not cover) take the relay addresses in turn, as without a table.
 */

export interface EgressEntry {
  /** A user name, or '*'. */
  user: string;
  /** One of the relay's relay addresses. */
  address: string;
}

/** The tenant of a USERNAME: the user part of a TURN REST name, else the name itself. */
export function tenantOf(username: string): string {
  const colon = username.indexOf(':');
  return colon > 0 && /^\d+$/.test(username.slice(0, colon)) ? username.slice(colon + 1) : username;
}

export class EgressTable {
  readonly #byTenant = new Map<string, { 4?: string; 6?: string }>();

  constructor(entries: readonly EgressEntry[]) {
    for (const e of entries) {
      const family = e.address.includes(':') ? 6 : 4;
      const slot = this.#byTenant.get(e.user) ?? {};
      slot[family] ??= e.address;
      this.#byTenant.set(e.user, slot);
    }
  }

  get size(): number {
    return this.#byTenant.size;
  }

  /** The relay address an allocation of `username` gets in `family`; undefined = the normal rotation. */
  addressFor(username: string, family: 4 | 6): string | undefined {
    if (this.#byTenant.size === 0) return undefined;
    return this.#byTenant.get(tenantOf(username))?.[family] ?? this.#byTenant.get('*')?.[family];
  }
}
