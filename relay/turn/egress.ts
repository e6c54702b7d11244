/**
 * Per-tenant egress (US 9,124,652: a per-service egress table, separate from BGP, picks the egress link). A relay
 * host may have several relay addresses, each leaving by its own uplink (the router's source-based policy routing);
 * the egress table (`egress USER=IP`, '*' for everyone else) decides which relay address an allocation of a tenant
 * is given. A tenant is the allocation's USERNAME; a TURN REST name `<expiry>:<user>` counts as `<user>`. Tenants
 * without an entry (and families the entry does not cover) take the relay addresses in turn, as without a table.
 *
 * Two sources: this relay's config (`egress USER=IP`, wins) and the cluster-wide table in the cluster store
 * (`tenant=uplink` rules, newest first, `anyturn secret add --egress`), mapped to this relay's addresses through
 * its `uplink NAME=IP` settings; a rule naming an uplink this relay does not have is ignored here.
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

/** An uplink of this relay host: its name in the cluster's egress table and the relay address bound to it. */
export interface Uplink {
  name: string;
  address: string;
}

type Slots = Map<string, { 4?: string; 6?: string }>;

export class EgressTable {
  readonly #configured: Slots;
  readonly #uplinks: readonly Uplink[];
  #byTenant: Slots;

  constructor(entries: readonly EgressEntry[], uplinks: readonly Uplink[] = []) {
    this.#configured = slots(entries);
    this.#uplinks = uplinks;
    this.#byTenant = this.#configured;
  }

  get size(): number {
    return this.#byTenant.size;
  }

  /** The cluster-wide rules (`tenant=uplink`, newest first); the configured entries stay on top. */
  setShared(rules: readonly string[]): void {
    const entries: EgressEntry[] = [];
    const seen = new Set<string>();
    for (const rule of rules) {
      const eq = rule.lastIndexOf('=');
      const tenant = rule.slice(0, eq);
      if (eq < 1 || seen.has(tenant)) continue;
      seen.add(tenant);
      for (const u of this.#uplinks) if (u.name === rule.slice(eq + 1)) entries.push({ user: tenant, address: u.address });
    }
    const merged = slots(entries);
    for (const [tenant, slot] of this.#configured) merged.set(tenant, { ...merged.get(tenant), ...slot });
    this.#byTenant = merged;
  }

  /** The relay address an allocation of `username` gets in `family`; undefined = the normal rotation. */
  addressFor(username: string, family: 4 | 6): string | undefined {
    if (this.#byTenant.size === 0) return undefined;
    return this.#byTenant.get(tenantOf(username))?.[family] ?? this.#byTenant.get('*')?.[family];
  }
}

function slots(entries: readonly EgressEntry[]): Slots {
  const out: Slots = new Map();
  for (const e of entries) {
    const family = e.address.includes(':') ? 6 : 4;
    const slot = out.get(e.user) ?? {};
    slot[family] ??= e.address;
    out.set(e.user, slot);
  }
  return out;
}
