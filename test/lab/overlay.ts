/**
 * The lab's overlay network (`labUp({ overlay: true })`, `anyturn lab up --overlay`): the PoPs' private network with
 * two independent paths. A namespace `<prefix>ovl` holds two bridges, `br1` and `br2`; every relay gets one veth
 * into each (`ov1`, `ov2`), with path k on 10.77.k.0/24 (relay i of PoP p: 10.77.k.(16p + i)).
 *
 *   pop1-r1 ov1 10.77.1.17 ─┐        ┌─ pop2-r1 ov1 10.77.1.33
 *                           br1 (ovl)
 *   pop1-r1 ov2 10.77.2.17 ─┐        ┌─ pop2-r1 ov2 10.77.2.33
 *                           br2 (ovl)
 *
 * Impairment: this lab's kernel has no `sch_netem` (CONFIG_NET_SCH_NETEM is off here), so loss is made with
 * nftables in each relay namespace (`numgen random` drops on the overlay interfaces' output, one rule per path),
 * and counters (nftables, interface statistics) prove where packets went.
 */
import { addAddress, addNamespace, addVeth, ipJson, sh } from './netns.js';

export const OVERLAY_PATHS = 2;
export const OVERLAY_PORT = 4000;

export interface LabOverlayPort {
  /** Interface in the relay namespace (`ov1`, `ov2`). */
  dev: string;
  address: string;
  /** The bridge port in the overlay namespace. */
  bridgePort: string;
}

export interface LabOverlay {
  ns: string;
  bridges: string[];
}

/** Addresses of relay `relayIndex` (0-based) of PoP `popIndex` (0-based), one per path. */
export function overlayPorts(popIndex: number, relayIndex: number): LabOverlayPort[] {
  return Array.from({ length: OVERLAY_PATHS }, (_, k) => ({
    dev: `ov${k + 1}`,
    address: `10.77.${k + 1}.${16 * (popIndex + 1) + relayIndex + 1}`,
    bridgePort: `p${popIndex + 1}r${relayIndex + 1}o${k + 1}`,
  }));
}

export function overlayLayout(prefix: string): LabOverlay {
  return { ns: `${prefix}ovl`, bridges: Array.from({ length: OVERLAY_PATHS }, (_, k) => `br${k + 1}`) };
}

/** Builds the bridges and plugs every relay in (the namespaces exist already). */
export async function buildOverlay(overlay: LabOverlay, relays: { ns: string; overlay?: LabOverlayPort[] }[]): Promise<void> {
  for (const br of overlay.bridges) {
    await sh('ip', ['-n', overlay.ns, 'link', 'add', 'name', br, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
    await sh('ip', ['-n', overlay.ns, 'link', 'set', 'dev', br, 'up']);
  }
  for (const r of relays) {
    for (const [k, port] of (r.overlay ?? []).entries()) {
      await addVeth({ ns: overlay.ns, name: port.bridgePort }, { ns: r.ns, name: port.dev });
      await sh('ip', ['-n', overlay.ns, 'link', 'set', 'dev', port.bridgePort, 'master', overlay.bridges[k]]);
      await addAddress(r.ns, port.dev, `${port.address}/24`);
    }
  }
}

/**
 * Random loss on every overlay path leaving the relay in `ns` (`percent` of the UDP datagrams on each `ovN`
 * output, independently), and a counter of datagrams from `watchSource` arriving on `publicDev` (the public path).
 * Replaces what an earlier call set.
 */
export async function impairOverlay(ns: string, percent: number, publicDev: string, watchSource: string): Promise<void> {
  await sh('nft', ['delete', 'table', 'inet', 'atlab'], { ns, allowFail: true });
  const perMille = Math.round(percent * 10);
  const drops = Array.from({ length: OVERLAY_PATHS }, (_, k) =>
    `    oifname "ov${k + 1}" meta l4proto udp numgen random mod 1000 < ${perMille} counter drop`);
  const rules = [
    'table inet atlab {',
    '  chain out {',
    '    type filter hook output priority 0;',
    ...(perMille > 0 ? drops : []),
    '  }',
    '  chain in {',
    '    type filter hook input priority 0;',
    `    iifname "${publicDev}" ip saddr ${watchSource} meta l4proto udp counter`,
    '  }',
    '}',
  ];
  await sh('nft', ['-f', '-'], { ns, input: `${rules.join('\n')}\n` });
}

/** Packets the `in` chain's counter saw (UDP from the watched source on the public interface). */
export async function publicPacketsFrom(ns: string): Promise<number> {
  const { stdout } = await sh('nft', ['-j', 'list', 'chain', 'inet', 'atlab', 'in'], { ns });
  const items = (JSON.parse(stdout) as { nftables: { rule?: { expr: { counter?: { packets: number } }[] } }[] }).nftables;
  let n = 0;
  for (const i of items) for (const e of i.rule?.expr ?? []) n += e.counter?.packets ?? 0;
  return n;
}

/** rx/tx packet counters of an interface. */
export async function linkPackets(ns: string, dev: string): Promise<{ rx: number; tx: number }> {
  const [link] = await ipJson<{ stats64: { rx: { packets: number }; tx: { packets: number } } }>(ns, ['-s', 'link', 'show', 'dev', dev]);
  return { rx: link.stats64.rx.packets, tx: link.stats64.tx.packets };
}
