import dgram from 'node:dgram';
import zlib from 'node:zlib';
import stun from 'stun';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextData, startPeer, startRelay, type Peer, type Relay } from './relay-fixture.js';

/**
 * Independent codec cross-check: the `stun` npm package (nodertc/stun, not ours) encodes requests and
 * indications our relay must accept, and decodes the responses and Data indications our relay produces.
 */
const { constants } = stun;

describe('cross-check with the `stun` npm package', () => {
  let relay: Relay;
  let peer: Peer;
  beforeAll(async () => {
    relay = await startRelay();
    peer = await startPeer();
  });
  afterAll(async () => {
    await relay.close();
    await peer.close();
  });

  it('its Binding request gets a response it decodes, with a valid FINGERPRINT and our XOR-MAPPED-ADDRESS', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      const message = stun.createMessage(constants.STUN_BINDING_REQUEST);
      message.addFingerprint();
      const res = await stun.request(`127.0.0.1:${relay.address.port}`, { socket, message, timeout: 200, retries: 3 });
      expect(res.type).toBe(constants.STUN_BINDING_RESPONSE);
      expect(res.getXorAddress()).toMatchObject({ address: '127.0.0.1', port: socket.address().port, family: 'IPv4' });
      expect(stun.validateFingerprint(res)).toBe(true);
      expect(res.getAttribute(constants.STUN_ATTR_SOFTWARE).value.toString()).toBe('anyturn');
    } finally {
      socket.close();
    }
  });

  it('its unauthenticated Allocate gets a 401 it decodes, with REALM and NONCE', async () => {
    const socket = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    try {
      const req = stun.createMessage(constants.STUN_ALLOCATE_REQUEST);
      req.addAttribute(constants.STUN_ATTR_REQUESTED_TRANSPORT, 17 << 24);
      req.addFingerprint();
      const answer = new Promise<Buffer>((resolve) => socket.once('message', (m) => resolve(m)));
      socket.send(stun.encode(req), relay.address.port, '127.0.0.1');
      const raw = await answer;
      const res = stun.decode(raw);
      expect(res.type).toBe(constants.STUN_ALLOCATE_ERROR_RESPONSE);
      expect(res.transactionId.equals(req.transactionId)).toBe(true);
      // stun 2.1.0 decodes ERROR-CODE as class * (number + 100) (404 for 401): check class and phrase instead.
      const error = res.getAttribute(constants.STUN_ATTR_ERROR_CODE);
      expect(error.errorClass).toBe(4);
      expect(error.value.reason).toBe('Unauthorized');
      expect(res.getAttribute(constants.STUN_ATTR_REALM).value.toString()).toBe('test.realm');
      expect(res.getAttribute(constants.STUN_ATTR_NONCE).value.length).toBeGreaterThan(0);
      // stun.validateFingerprint re-encodes the decoded message (and so the mis-decoded ERROR-CODE): check the
      // FINGERPRINT with zlib's CRC-32 instead.
      expect(raw.readUInt32BE(raw.length - 4)).toBe((zlib.crc32(raw.subarray(0, raw.length - 8)) ^ 0x5354554e) >>> 0);
    } finally {
      socket.close();
    }
  });

  it('its Send indication is relayed, and it decodes our Data indication', async () => {
    const c = await relay.client();
    const { relayed } = await c.allocate();
    await c.createPermission(peer.address);
    const send = stun.createMessage(constants.STUN_SEND_INDICATION);
    send.addAttribute(constants.STUN_ATTR_XOR_PEER_ADDRESS, peer.address.address, peer.address.port);
    send.addAttribute(constants.STUN_ATTR_DATA, Buffer.from('encoded by stun'));
    c.sendRaw(stun.encode(send));
    expect((await peer.next()).data.toString()).toBe('encoded by stun');

    const raw = new Promise<Buffer>((resolve) => c.socket.once('message', (m) => resolve(Buffer.from(m))));
    const ours = nextData(c);
    peer.send(Buffer.from('odd len'), relayed[0]);
    await ours;
    const data = stun.decode(await raw);
    expect(data.type).toBe(constants.STUN_DATA_INDICATION);
    expect(data.getAttribute(constants.STUN_ATTR_XOR_PEER_ADDRESS).value).toMatchObject({
      address: peer.address.address,
      port: peer.address.port,
    });
    expect(data.getAttribute(constants.STUN_ATTR_DATA).value.toString()).toBe('odd len');
  });
});
