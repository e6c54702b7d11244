import { readFileSync } from 'node:fs';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { AnyturnError } from '../errors.js';
import { suggest } from './flags.js';

/**
 * The one way a command turns a YAML file plus command-line flags into its typed,
 * validated, frozen options:
 *
 *   file (YAML mapping) <- flag overrides (flags win; a repeatable flag replaces the
 *   file's list) -> zod schema, once -> deep freeze
 *
 * The schema sees the user's spelling (kebab-case keys, exactly the flag names), so
 * every error names the key as the user wrote it: `max-port: must be >= min-port`,
 * `listen[1]: not an IP address`, `lisen: unknown key (did you mean listen?)`.
 * Schemas should be strict objects so that typos never pass silently.
 */
export interface LoadOptions {
  /** YAML file; omitted = flags and defaults only. */
  file?: string;
  /** Parsed flags, keyed by flag name; `undefined` values are ignored. */
  overrides: Record<string, unknown>;
}

export function loadConfig<T>(schema: z.ZodType<T>, opts: LoadOptions): Readonly<T> {
  const fromFile = opts.file === undefined ? {} : readYamlMapping(opts.file);
  const merged: Record<string, unknown> = { ...fromFile };
  for (const [key, value] of Object.entries(opts.overrides)) {
    if (value !== undefined) merged[key] = value;
  }
  const result = schema.safeParse(merged, { reportInput: true });
  if (!result.success) {
    const reasons = result.error.issues.flatMap((issue) => describeIssue(issue, schema));
    throw new AnyturnError('ATN_ERR_CONFIG_INVALID', reasons.join('; '), { cause: result.error });
  }
  return deepFreeze(result.data);
}

/** Parses a YAML file; ATN_ERR_CONFIG_FILE '<path>: <reason>' when it is missing or not YAML. */
export function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new AnyturnError('ATN_ERR_CONFIG_FILE', `${path}: ${reason}`, { cause: err });
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const where = first.linePos ? `line ${first.linePos[0].line}: ` : '';
    const what = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new AnyturnError('ATN_ERR_CONFIG_FILE', `${path}: ${where}${what}`, { cause: first });
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/** A YAML file whose top level is a mapping (an empty file is an empty mapping). */
export function readYamlMapping(path: string): Record<string, unknown> {
  const value = readYamlFile(path);
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new AnyturnError('ATN_ERR_CONFIG_FILE', `${path}: the top level must be a mapping of keys (key: value)`);
  }
  return value as Record<string, unknown>;
}

/** Freezes objects and arrays all the way down (Buffers and other byte views cannot be frozen and are left as is). */
export function deepFreeze<T>(value: T): Readonly<T> {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || ArrayBuffer.isView(value)) return value;
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return Object.freeze(value);
}

/** `listen[1]`, `a.b`: a zod path in the user's spelling. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

type Issue = z.core.$ZodIssue;

/** One `<key>: <reason>` line per problem. */
export function describeIssue(issue: Issue, schema?: z.ZodType): string[] {
  if (issue.code === 'unrecognized_keys') {
    const known = issue.path.length === 0 && schema ? objectKeys(schema) : [];
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key${suggest(key, known, '')}`);
  }
  const key = issue.path.length === 0 ? '(top level)' : formatPath(issue.path);
  return [`${key}: ${reasonOf(issue)}`];
}

function reasonOf(issue: Issue): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return 'is required';
      if (issue.expected === 'int') return `must be a whole number, got ${show(input)}`;
      return `must be ${article(issue.expected === 'array' ? 'list' : issue.expected)}, got ${kindOf(input)}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      if (issue.origin === 'string') return `must be at least ${issue.minimum} characters`;
      if (issue.origin === 'array') return `needs at least ${issue.minimum} ${Number(issue.minimum) === 1 ? 'entry' : 'entries'}`;
      return `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}, got ${show(input)}`;
    case 'too_big':
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      if (issue.origin === 'array') return `takes at most ${issue.maximum} entries`;
      return `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}, got ${show(input)}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => String(v)).join(', ')}, got ${show(input)}`;
    default:
      return issue.message;
  }
}

function kindOf(value: unknown): string {
  if (value === null) return 'nothing (null)';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${article(typeof value)} (${show(value)})`;
}

function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'object' && value !== null) return Array.isArray(value) ? 'a list' : 'a mapping';
  return String(value);
}

function article(word: string): string {
  return /^[aeiou]/.test(word) ? `an ${word}` : `a ${word}`;
}

/** The keys of the object at the root of a schema (through pipes, refinements, defaults), for suggestions. */
function objectKeys(schema: z.ZodType): string[] {
  let current: unknown = schema;
  for (let depth = 0; depth < 8 && current; depth++) {
    const def = (current as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return [];
    if (def.type === 'object' && def.shape && typeof def.shape === 'object') return Object.keys(def.shape);
    current = def.in ?? def.innerType ?? def.schema;
  }
  return [];
}
