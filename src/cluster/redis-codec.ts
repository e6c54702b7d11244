/**
 * Decoding of what other processes wrote into Redis (JSON records). Anything that
 * does not fit is dropped (and counted by the caller), never trusted.
 */
import { z } from 'zod';
import type { AnnouncementRecord, RelayRecord } from './types.js';

const address = z.object({
  transport: z.enum(['udp', 'tcp', 'tls']),
  family: z.union([z.literal(4), z.literal(6)]),
  address: z.string().min(1).max(64),
  port: z.number().int().min(0).max(65535),
});

const overlay = z.object({
  addresses: z.array(z.object({
    family: z.union([z.literal(4), z.literal(6)]),
    address: z.string().min(1).max(64),
    port: z.number().int().min(1).max(65535),
  })).max(4),
  paths: z.array(z.object({
    peer: z.string().min(1).max(128),
    path: z.number().int().min(0).max(3),
    up: z.boolean(),
    rttMs: z.number().nonnegative().optional(),
    loss: z.number().min(0).max(1),
    duplicates: z.number().nonnegative(),
  })).max(1024),
  relayed: z.object({
    addresses: z.array(z.string().min(1).max(64)).max(64),
    minPort: z.number().int().min(0).max(65535),
    maxPort: z.number().int().min(0).max(65535),
  }).optional(),
});

const relayRecord = z.object({
  id: z.string().min(1).max(128),
  pop: z.string().min(1).max(128),
  addresses: z.array(address).max(64),
  capacity: z.number().nonnegative(),
  allocations: z.number().nonnegative(),
  load: z.number(),
  bandwidthBps: z.number().nonnegative(),
  state: z.enum(['active', 'draining', 'full']),
  overlay: overlay.optional(),
  updatedAt: z.number(),
  ttlMs: z.number().positive(),
});

const announcementRecord = z.object({
  pop: z.string().min(1).max(128),
  agent: z.string().min(1).max(128),
  action: z.enum(['announce', 'withdraw']),
  prepend: z.number().int().min(0),
  reason: z.string().max(1024),
  prefixes: z.array(z.string().max(64)).max(64),
  load: z.number(),
  updatedAt: z.number(),
  ttlMs: z.number().positive(),
});

export function decodeRelayRecord(text: string | null): RelayRecord | undefined {
  return decode(relayRecord, text);
}

export function decodeAnnouncementRecord(text: string | null): AnnouncementRecord | undefined {
  return decode(announcementRecord, text);
}

function decode<T>(schema: z.ZodType<T>, text: string | null): T | undefined {
  if (text === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}
