/**
 * Picks one handler per class × method and turns what it returns (a Reply or a Refusal) or throws into the
 * response. This is the ONLY place a Refusal or an AnyturnError becomes a STUN error response.
 *
 *  - On an anycast transport with an anycast responder, every message is handed over (the responder checks,
 *    answers or drops and counts it: nothing on G reaches the TURN handlers).
 *  - FINGERPRINT present and wrong → dropped silently (RFC 8489 §7.3).
 *  - Requests: retransmits are
 *    answered from the retransmit cache (Binding excepted: stateless and cheap); unknown comprehension-required
 *    attributes → 420 + UNKNOWN-ATTRIBUTES, after the long-term credential check for the TURN methods (an
 *    unauthenticated one gets its 401/438, an authenticated one a signed 420); then the method's handler.
 *  - Indications: unknown comprehension-required attributes → dropped; Send → data path; Binding
 *    indications (keepalives) are ignored; others dropped.
 *  - Responses from clients → dropped.
 *
 * Every response gets SOFTWARE (if configured); responses to authenticated requests get MESSAGE-INTEGRITY of
 * the request's kind with the key that verified it; FINGERPRINT when the request had one. 401 and 438 carry
 * REALM and a fresh NONCE.
 */
import { AnyturnError, assertNever, isAnyturnError } from '../../src/errors.js';
import {
  Attr,
  Method,
  StunClass,
  StunWriter,
  verifyFingerprint,
  type StunMessage,
} from '../../src/stun/index.js';
import type { ClientTransport } from './client-transport.js';
import { Refusal } from './auth-check.js';
import type { HandlerResult, RequestContext, RequestHandler, TurnCore } from './context.js';
import { clientKey } from './five-tuple.js';
import { handleAllocate } from './handlers/allocate.js';
import { handleBinding } from './handlers/binding.js';
import { authenticate } from './handlers/common.js';
import { handleChannelBind } from './handlers/channel-bind.js';
import { handleCreatePermission } from './handlers/create-permission.js';
import { handleRefresh } from './handlers/refresh.js';
import { handleSendIndication } from './handlers/send.js';
import { RetransmitCache, type Entry as CacheEntry } from './retransmit-cache.js';

/** Takes over what arrives on anycast transports (relay/anycast/responder.ts). */
export interface AnycastHandover {
  /** Any STUN message received on an anycast transport. */
  handle(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void;
  /** A ChannelData message received on an anycast transport (never relayed: counted and dropped). */
  dropChannelData(bytes: number): void;
}

const REQUEST_HANDLERS: ReadonlyMap<number, RequestHandler> = new Map<number, RequestHandler>([
  [Method.Binding, handleBinding],
  [Method.Allocate, handleAllocate],
  [Method.Refresh, handleRefresh],
  [Method.CreatePermission, handleCreatePermission],
  [Method.ChannelBind, handleChannelBind],
]);

export class Dispatcher {
  readonly #core: TurnCore;
  readonly #anycast: AnycastHandover | undefined;
  readonly #cache: RetransmitCache;
  readonly #writer = new StunWriter();

  constructor(core: TurnCore, cache: RetransmitCache, anycast: AnycastHandover | undefined) {
    this.#core = core;
    this.#cache = cache;
    this.#anycast = anycast;
  }

  dispatch(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    if (transport.role === 'anycast' && this.#anycast !== undefined) {
      this.#anycast.handle(transport, msg, clientAddress, clientPort);
      return;
    }
    if (msg.has(Attr.FINGERPRINT) && verifyFingerprint(msg) !== 'ok') {
      this.#core.metrics.drop('bad-fingerprint');
      return;
    }
    const cls = msg.cls;
    switch (cls) {
      case StunClass.Request:
        this.#request(transport, msg, clientAddress, clientPort);
        return;
      case StunClass.Indication:
        // RFC 8489 §6.3.2: an indication with unknown comprehension-required attributes is discarded.
        if (msg.unknownComprehensionRequired().length > 0) this.#core.metrics.drop('malformed');
        else if (msg.method === Method.Send) handleSendIndication(this.#core, transport, msg, clientAddress, clientPort);
        else if (msg.method !== Method.Binding) this.#core.metrics.drop('unexpected-message');
        return;
      case StunClass.SuccessResponse:
      case StunClass.ErrorResponse:
        this.#core.metrics.drop('unexpected-message');
        return;
      default:
        assertNever(cls);
    }
  }

  #request(transport: ClientTransport, msg: StunMessage, clientAddress: string, clientPort: number): void {
    const key = clientKey(transport, clientAddress, clientPort);
    const ctx: RequestContext = { transport, clientAddress, clientPort, key, msg, auth: undefined };
    let cacheEntry: CacheEntry | undefined;
    if (msg.method !== Method.Binding) {
      const entryKey = RetransmitCache.keyOf(key, msg.transactionId);
      const now = this.#core.clock.now();
      const cached = this.#cache.lookup(entryKey, msg.raw, now);
      if (cached.state === 'hit') {
        this.#core.metrics.retransmit();
        this.#transmit(ctx, cached.response);
        return;
      }
      if (cached.state === 'pending') {
        this.#core.metrics.drop('retransmit-pending');
        return;
      }
      cacheEntry = this.#cache.begin(entryKey, msg.raw, now);
    }
    let result: HandlerResult | Promise<HandlerResult>;
    try {
      const unknown = msg.unknownComprehensionRequired();
      if (unknown.length > 0) {
        // RFC 8489 §6.3.1/§9.2.4: the authentication checks come first; a request that passes them gets a 420
        // signed with its key (#finish), one that does not gets their 400/401/438 (no hint for an unknown sender).
        if (REQUEST_HANDLERS.has(msg.method) && msg.method !== Method.Binding) {
          const auth = authenticate(this.#core, ctx);
          if (auth instanceof Refusal) {
            this.#refuse(ctx, cacheEntry, auth);
            return;
          }
        }
        this.#respondError(ctx, cacheEntry, 420, unknown);
        return;
      }
      const handler = REQUEST_HANDLERS.get(msg.method);
      if (handler === undefined) throw new AnyturnError('ATN_ERR_STUN_BAD_REQUEST', `method 0x${msg.method.toString(16)} is not supported`);
      result = handler(this.#core, ctx);
    } catch (err) {
      this.#fail(ctx, cacheEntry, err);
      return;
    }
    if (result instanceof Promise) {
      result.then(
        (reply) => this.#succeed(ctx, cacheEntry, reply),
        (err: unknown) => this.#fail(ctx, cacheEntry, err),
      );
    } else {
      this.#succeed(ctx, cacheEntry, result);
    }
  }

  #succeed(ctx: RequestContext, cacheEntry: CacheEntry | undefined, reply: HandlerResult): void {
    if (reply instanceof Refusal) {
      this.#refuse(ctx, cacheEntry, reply);
      return;
    }
    try {
      const w = this.#writer.reset(ctx.msg.method, StunClass.SuccessResponse, ctx.msg.transactionId);
      reply(w);
      this.#finish(ctx, cacheEntry, w, 'success');
    } catch (err) {
      this.#fail(ctx, cacheEntry, err);
    }
  }

  /** An expected refusal a handler returned (no exception): its error response. */
  #refuse(ctx: RequestContext, cacheEntry: CacheEntry | undefined, refusal: Refusal): void {
    if (this.#core.log.isLevelEnabled('debug')) {
      this.#core.log.debug({ code: refusal.stunCode, method: ctx.msg.method, reason: refusal.reason }, 'request refused');
    }
    this.#respondError(ctx, cacheEntry, refusal.stunCode, undefined);
  }

  /** AnyturnError with a STUN code → that error response; anything else is a bug → 500 (and logged). */
  #fail(ctx: RequestContext, cacheEntry: CacheEntry | undefined, err: unknown): void {
    let code = 500;
    if (isAnyturnError(err) && err.stunCode !== undefined) {
      code = err.stunCode;
      this.#core.log.debug({ code, method: ctx.msg.method, reason: err.message }, 'request refused');
    } else {
      this.#core.log.error({ err, method: ctx.msg.method }, 'request handler failed');
    }
    this.#respondError(ctx, cacheEntry, code, undefined);
  }

  #respondError(ctx: RequestContext, cacheEntry: CacheEntry | undefined, code: number, unknown: number[] | undefined): void {
    const core = this.#core;
    try {
      const w = this.#writer.reset(ctx.msg.method, StunClass.ErrorResponse, ctx.msg.transactionId).addErrorCode(code);
      if (unknown !== undefined) w.addUnknownAttributes(unknown);
      if (code === 401 || code === 438) {
        w.addString(Attr.REALM, core.options.realm);
        w.addString(Attr.NONCE, core.nonces.issue());
      }
      if (ctx.msg.method === Method.Allocate) core.metrics.allocateError(code);
      this.#finish(ctx, cacheEntry, w, code);
    } catch (err) {
      if (cacheEntry !== undefined) this.#cache.forget(cacheEntry);
      core.metrics.drop('internal-error');
      core.log.error({ err }, 'cannot encode an error response');
    }
  }

  #finish(ctx: RequestContext, cacheEntry: CacheEntry | undefined, w: StunWriter, code: number | 'success'): void {
    const software = this.#core.options.software;
    if (software !== '') w.addString(Attr.SOFTWARE, software);
    const auth = ctx.auth;
    if (auth !== undefined && code !== 401 && code !== 438) {
      if (auth.kind === 'sha256') w.addMessageIntegritySha256(auth.key);
      else w.addMessageIntegrity(auth.key);
    }
    if (ctx.msg.has(Attr.FINGERPRINT)) w.addFingerprint();
    const response = w.toBuffer();
    if (cacheEntry !== undefined) this.#cache.complete(cacheEntry, response);
    this.#core.metrics.response(code);
    this.#transmit(ctx, response);
  }

  #transmit(ctx: RequestContext, response: Buffer): void {
    const m = this.#core.metrics;
    try {
      ctx.transport.send(response, ctx.clientAddress, ctx.clientPort);
    } catch {
      m.drop('send-failed');
      return;
    }
    m.clientSentPackets += 1;
    m.clientSentBytes += response.length;
  }
}
