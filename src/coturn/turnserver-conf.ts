import { readFileSync } from 'node:fs';
import { AnyturnError } from '../errors.js';

/**
 * coturn's configuration file (turnserver.conf): one option per line, `name=value`, `name value` or a bare
 * `name` (a flag); `#` starts a comment line; a leading `--` is allowed (the file takes the command-line long
 * names); values may be double-quoted. Options repeat (listening-ip, user, ...), in file order.
 */
export interface ConfOption {
  name: string;
  /** Undefined for a bare flag. */
  value: string | undefined;
  line: number;
}

export function parseTurnserverConf(text: string): ConfOption[] {
  const out: ConfOption[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^(?:--)?([A-Za-z0-9][A-Za-z0-9_-]*)\s*(?:=\s*|\s+)?(.*)$/.exec(line);
    if (!match) return;
    const [, name, rest] = match;
    const value = rest === '' ? undefined : unquote(rest.trim());
    out.push({ name, value, line: i + 1 });
  });
  return out;
}

export function readTurnserverConf(path: string): ConfOption[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message;
    throw new AnyturnError('ATN_ERR_CONFIG_FILE', `${path}: ${reason}`, { cause: err });
  }
  return parseTurnserverConf(text);
}

function unquote(value: string): string {
  return value.length >= 2 && value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value;
}
