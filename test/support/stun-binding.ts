/**
 * One STUN Binding over UDP with the independent `stun` package: resolves with the XOR-MAPPED-ADDRESS the
 * server reported, rejects when nothing answers after the retries.
 */
import dgram from 'node:dgram';
import stun from 'stun';

export async function stunBinding(host: string, port: number): Promise<{ address: string; port: number }> {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((resolve) => socket.bind(0, resolve));
  try {
    const message = stun.createMessage(stun.constants.STUN_BINDING_REQUEST);
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    const res = await stun.request(target, { socket, message, timeout: 300, retries: 6 });
    const mapped = res.getXorAddress() as { address: string; port: number };
    return { address: mapped.address, port: mapped.port };
  } finally {
    socket.close();
  }
}
