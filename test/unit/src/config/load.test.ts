import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { deepFreeze, formatPath, loadConfig, readYamlFile } from '../../../../src/config/load.js';
import { anyturnError, configDir } from './fixtures.js';

const { dir, yamlFile } = configDir('anyturn-load-', 'c');

const Schema = z
  .strictObject({
    name: z.string().min(1).default('x'),
    'max-items': z.number().int().min(1).default(5),
    hosts: z.array(z.string()).default([]),
    nested: z.strictObject({ depth: z.number() }).default({ depth: 1 }),
  })
  .transform((c) => ({ name: c.name, maxItems: c['max-items'], hosts: c.hosts, nested: c.nested }));

function configError(fn: () => unknown, code: 'ATN_ERR_CONFIG_INVALID' | 'ATN_ERR_CONFIG_FILE'): string {
  return anyturnError(fn, code).message;
}

describe('loadConfig', () => {
  it('applies defaults without a file', () => {
    expect(loadConfig(Schema, { overrides: {} })).toEqual({ name: 'x', maxItems: 5, hosts: [], nested: { depth: 1 } });
  });

  it('reads the file and lets flags win; a flag list replaces the file list', () => {
    const file = yamlFile('name: from-file\nmax-items: 7\nhosts: [a, b, c]\n');
    expect(loadConfig(Schema, { file, overrides: {} })).toEqual({ name: 'from-file', maxItems: 7, hosts: ['a', 'b', 'c'], nested: { depth: 1 } });
    const c = loadConfig(Schema, { file, overrides: { name: 'from-flag', hosts: ['z'], 'max-items': undefined } });
    expect(c).toEqual({ name: 'from-flag', maxItems: 7, hosts: ['z'], nested: { depth: 1 } });
  });

  it('names the key and the reason of a bad value, in the user spelling', () => {
    const file = yamlFile('max-items: 0\n');
    expect(configError(() => loadConfig(Schema, { file, overrides: {} }), 'ATN_ERR_CONFIG_INVALID')).toBe('max-items: must be >= 1, got 0');
    expect(configError(() => loadConfig(Schema, { overrides: { 'max-items': 'many' } }), 'ATN_ERR_CONFIG_INVALID')).toBe(
      "max-items: must be a number, got a string ('many')",
    );
    expect(configError(() => loadConfig(Schema, { overrides: { hosts: ['a', 3] } }), 'ATN_ERR_CONFIG_INVALID')).toBe(
      'hosts[1]: must be a string, got a number (3)',
    );
    expect(configError(() => loadConfig(Schema, { overrides: { nested: { depth: 'deep' } } }), 'ATN_ERR_CONFIG_INVALID')).toContain(
      'nested.depth: must be a number',
    );
  });

  it('reports every problem at once', () => {
    const msg = configError(() => loadConfig(Schema, { overrides: { name: '', 'max-items': 1.5 } }), 'ATN_ERR_CONFIG_INVALID');
    expect(msg).toContain('name: must not be empty');
    expect(msg).toContain('max-items: must be a whole number, got 1.5');
  });

  it('rejects unknown keys by name (typos do not pass silently)', () => {
    const file = yamlFile('name: a\nmax-item: 3\n');
    expect(configError(() => loadConfig(Schema, { file, overrides: {} }), 'ATN_ERR_CONFIG_INVALID')).toBe(
      'max-item: unknown key (did you mean max-items?)',
    );
    const nested = yamlFile('nested: { depth: 1, width: 2 }\n');
    expect(configError(() => loadConfig(Schema, { file: nested, overrides: {} }), 'ATN_ERR_CONFIG_INVALID')).toBe('nested.width: unknown key');
  });

  it('deep-freezes the result', () => {
    const c = loadConfig(Schema, { overrides: { hosts: ['a'] } });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.hosts)).toBe(true);
    expect(Object.isFrozen(c.nested)).toBe(true);
    expect(() => (c.hosts as string[]).push('b')).toThrow(TypeError);
    expect(() => {
      (c as { name: string }).name = 'y';
    }).toThrow(TypeError);
  });

  it('a missing file is ATN_ERR_CONFIG_FILE with the path', () => {
    const path = join(dir, 'absent.yaml');
    expect(configError(() => loadConfig(Schema, { file: path, overrides: {} }), 'ATN_ERR_CONFIG_FILE')).toBe(`${path}: no such file`);
  });

  it('unparsable YAML is ATN_ERR_CONFIG_FILE with the path and line', () => {
    const file = yamlFile('name: a\nhosts: [a, b\n');
    const msg = configError(() => loadConfig(Schema, { file, overrides: {} }), 'ATN_ERR_CONFIG_FILE');
    expect(msg.startsWith(`${file}: line `)).toBe(true);
    const dup = yamlFile('name: a\nname: b\n');
    expect(configError(() => loadConfig(Schema, { file: dup, overrides: {} }), 'ATN_ERR_CONFIG_FILE')).toMatch(/unique|duplicate/i);
  });

  it('a file whose top level is not a mapping is ATN_ERR_CONFIG_FILE; an empty file is fine', () => {
    const list = yamlFile('- a\n- b\n');
    expect(configError(() => loadConfig(Schema, { file: list, overrides: {} }), 'ATN_ERR_CONFIG_FILE')).toContain('mapping');
    expect(loadConfig(Schema, { file: yamlFile(''), overrides: {} }).name).toBe('x');
    expect(loadConfig(Schema, { file: yamlFile('# only a comment\n'), overrides: {} }).maxItems).toBe(5);
  });
});

describe('helpers', () => {
  it('readYamlFile parses YAML', () => {
    expect(readYamlFile(yamlFile('a: [1, two]\nb: { c: true }\n'))).toEqual({ a: [1, 'two'], b: { c: true } });
  });

  it('formatPath', () => {
    expect(formatPath(['listen', 1])).toBe('listen[1]');
    expect(formatPath(['a', 'b', 0, 'c'])).toBe('a.b[0].c');
  });

  it('deepFreeze leaves byte views alone', () => {
    const v = deepFreeze({ key: Buffer.from([1, 2]), list: [{ a: 1 }] });
    expect(Object.isFrozen(v.list[0])).toBe(true);
    expect(v.key[0]).toBe(1);
  });
});
