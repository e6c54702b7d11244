/**
 * baresip (Debian `baresip`, SIP user agent on libre/librem) inside a lab namespace, for the client tests.
 * Each instance gets its own config directory (config, accounts) in a temporary directory, removed by `stop()`.
 * Audio is real but needs no sound card: the `ausine` module is the source (a sine tone; it runs at 48 kHz
 * only, so the audio pipeline is set to 48 kHz) and `aubridge` with a device nobody reads is the player (a
 * sink). The UI is the `stdio` module on a pipe: `command('/hangup')` types a command; its stdout is collected
 * line by line (LabProcess). Stopped by its PID (SIGTERM: baresip hangs up and frees its TURN allocations).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabProcess } from './proc.js';

export const BARESIP = '/usr/bin/baresip';
export const BARESIP_MODULES = '/usr/lib/baresip/modules';

export interface BaresipOptions {
  /** Namespace to run in. */
  ns: string;
  /** For messages and the temp dir name. */
  name: string;
  /** SIP listens on `<address>:5060` (UDP). */
  address: string;
  /** The account line of the `accounts` file, e.g. `<sip:bob@10.0.2.2>;regint=0;answermode=auto`. */
  account: string;
}

/**
 * The `config` file: SIP on one address, Opus at 48 kHz (ausine: 2 channels) from a sine source, TURN media NAT
 * (media through one allocation: RTP and RTCP multiplexed), RTP statistics printed when a call ends, stdio UI
 * without the once-a-second status line.
 */
export function baresipConfig(opts: BaresipOptions): string {
  return [
    'poll_method epoll',
    `sip_listen ${opts.address}:5060`,
    'call_local_timeout 30',
    'call_max_calls 1',
    'audio_source ausine,440',
    'audio_player aubridge,sink',
    'audio_alert aubridge,sink',
    'ausrc_srate 48000',
    'auplay_srate 48000',
    'ausrc_channels 2',
    'auplay_channels 2',
    'rtcp_mux yes',
    'rtp_stats yes',
    'statmode_default off',
    'jitter_buffer_delay 1-10',
    `module_path ${BARESIP_MODULES}`,
    'module stdio.so',
    'module opus.so',
    'module ausine.so',
    'module aubridge.so',
    'module turn.so',
    'module_tmp account.so',
    'module_app menu.so',
    '',
  ].join('\n');
}

export class Baresip {
  private constructor(
    readonly options: BaresipOptions,
    readonly dir: string,
    readonly proc: LabProcess,
  ) {}

  /** Writes the config dir and starts baresip; resolves once it says it is ready. */
  static async start(options: BaresipOptions): Promise<Baresip> {
    const dir = mkdtempSync(join(tmpdir(), `${options.ns}-baresip-${options.name}-`));
    writeFileSync(join(dir, 'config'), baresipConfig(options));
    writeFileSync(join(dir, 'accounts'), `${options.account}\n`);
    writeFileSync(join(dir, 'contacts'), '');
    const proc = new LabProcess(`baresip ${options.name}`, options.ns, BARESIP, ['-f', dir, '-4'], { stdin: true });
    const b = new Baresip(options, dir, proc);
    try {
      await b.waitForLine('ready', /baresip is ready/, 15_000);
    } catch (err) {
      await b.stop();
      throw err;
    }
    return b;
  }

  /** Everything it printed so far (for failure messages). */
  get output(): string {
    return `${this.proc.lines.join('\n')}\n${this.proc.stderr}`;
  }

  /** Lines printed so far: a mark for `waitForLine(..., from)`. */
  get lineCount(): number {
    return this.proc.lines.length;
  }

  /** Types one UI command (e.g. `/dial sip:bob@10.0.2.2`, `/hangup`). */
  command(text: string): void {
    this.proc.write(`${text}\n`);
  }

  /** The first output line (from line `from` on) matching `pattern`. */
  waitForLine(what: string, pattern: RegExp, timeoutMs: number, from = 0): Promise<RegExpMatchArray> {
    return this.proc.waitForLine(what, pattern, timeoutMs, from);
  }

  /** SIGTERM by PID (baresip hangs up and deallocates; SIGKILL after 5 s), then removes the config dir. */
  async stop(): Promise<void> {
    await this.proc.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
