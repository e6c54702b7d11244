/**
 * Who else must know when an allocation's flows change: the kernel fast path (relay/offload) keeps one entry per
 * channel binding and follows the TURN state through these calls. The TURN core calls them synchronously, after
 * the state changed and before the response is sent (so a client's next ChannelData already finds its entry), and
 * `closed` before the allocation's sockets close (so nothing is relayed for an allocation that is gone).
 */
import type { Allocation } from './allocation.js';

export interface FlowObserver {
  /** Channels, permissions, relays or the lifetime of a live allocation changed (ChannelBind, CreatePermission, Refresh). */
  changed(allocation: Allocation): void;
  /** The allocation is leaving the table (expiry, Refresh 0, connection closed, shutdown). */
  closed(allocation: Allocation): void;
  /** The periodic sweep ran (expired permissions and channels are judged against `nowMs`). */
  swept(nowMs: number): void;
}
