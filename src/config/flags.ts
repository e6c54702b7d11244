import { AnyturnError } from '../errors.js';

/**
 * A small typed argv parser shared by every `anyturn` command.
 *
 *   --name value | --name=value       string / number flags
 *   --name | --name=true|false        boolean flags; `--no-name` sets false
 *   repeatable flags collect an array in command-line order
 *   --help / -h                       sets `help: true` (check with wantsHelp first)
 *
 * Keys of the result are the flag names as written (kebab-case); flags not given
 * are absent. Anything else – unknown flag, missing or non-numeric value, a
 * non-repeatable flag given twice, a stray argument – is ATN_ERR_CLI_USAGE.
 */
export type FlagType = 'string' | 'number' | 'boolean';
export interface FlagSpec {
  type: FlagType;
  repeatable?: boolean;
  /** One line for the usage text. */
  help?: string;
  /** Placeholder shown in the usage text (e.g. `IP`). */
  arg?: string;
}
export type FlagsSpec = Record<string, FlagSpec>;

export interface ParseFlagsOptions {
  /** Accept bare arguments and return them under `_` (e.g. `anyturn lab up`). */
  positionals?: boolean;
}

const NUMBER = /^-?(?:\d+|\d*\.\d+)$/;

export function parseFlags(argv: string[], spec: FlagsSpec, options: ParseFlagsOptions = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '--help' || arg === '-h') {
      out.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let inline: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    let flag = spec[name];
    if (flag === undefined && name.startsWith('no-') && spec[name.slice(3)]?.type === 'boolean') {
      if (inline !== undefined) throw usage(`--${name} takes no value`);
      name = name.slice(3);
      flag = spec[name];
      inline = 'false';
    }
    if (flag === undefined) throw usage(`unknown flag --${name}${suggest(name, Object.keys(spec))}`);

    let value: unknown;
    if (flag.type === 'boolean') {
      if (inline === undefined || inline === 'true') value = true;
      else if (inline === 'false') value = false;
      else throw usage(`--${name}: expects true or false, got '${inline}'`);
    } else {
      let text = inline;
      if (text === undefined) {
        const next = argv[i + 1];
        if (next === undefined || next.startsWith('--')) throw usage(`--${name} needs a value`);
        text = next;
        i++;
      }
      if (flag.type === 'number') {
        if (!NUMBER.test(text)) throw usage(`--${name}: expects a number, got '${text}'`);
        value = Number(text);
      } else {
        value = text;
      }
    }

    if (flag.repeatable) {
      const list = (out[name] as unknown[] | undefined) ?? [];
      list.push(value);
      out[name] = list;
    } else {
      if (name in out) throw usage(`--${name} given more than once`);
      out[name] = value;
    }
  }
  if (positionals.length > 0) {
    if (!options.positionals) throw usage(`unexpected argument '${positionals[0]}'`);
  }
  if (options.positionals) out._ = positionals;
  return out;
}

/** True when argv asks for help; check this before parsing so --help works next to bad flags. */
export function wantsHelp(argv: string[]): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === '--help' || arg === '-h') return true;
  }
  return false;
}

/** Usage text: one line per flag, from the spec. */
export function formatUsage(synopsis: string, spec: FlagsSpec): string {
  const rows = Object.entries(spec).map(([name, f]) => {
    const arg = f.type === 'boolean' ? '' : ` ${f.arg ?? (f.type === 'number' ? 'N' : 'VALUE')}`;
    const left = `  --${name}${arg}${f.repeatable ? ' ...' : ''}`;
    return f.help ? `${left.padEnd(30)} ${f.help}` : left;
  });
  return `usage: ${synopsis}\n\nflags:\n${rows.join('\n')}\n`;
}

function usage(message: string): AnyturnError {
  return new AnyturnError('ATN_ERR_CLI_USAGE', message);
}

/** ` (did you mean --x?)` when a known name is one or two edits away. */
export function suggest(name: string, known: string[], prefix = '--'): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = editDistance(name, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` (did you mean ${prefix}${best}?)`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length];
}
