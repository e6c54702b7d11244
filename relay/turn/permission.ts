/**
 * A permission (RFC 8656 §9): the peer IP address (no port) a client may exchange data with, for 300 s unless
 * refreshed by CreatePermission or ChannelBind. Expiry is a timestamp checked per packet; the allocation's
 * sweep removes expired permissions (no timer per permission).
 */
export class Permission {
  readonly peerAddress: string;
  expiresAt: number;

  constructor(peerAddress: string, expiresAt: number) {
    this.peerAddress = peerAddress;
    this.expiresAt = expiresAt;
  }

  isValid(nowMs: number): boolean {
    return this.expiresAt > nowMs;
  }

  refresh(nowMs: number, lifetimeMs: number): void {
    this.expiresAt = nowMs + lifetimeMs;
  }
}
