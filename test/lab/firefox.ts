/**
 * Headless Firefox ESR (Debian `firefox-esr`) inside a lab namespace, without WebDriver: the page is served from
 * inside the same namespace (page-server.ts on 127.0.0.1) and posts its result back; this module waits for that
 * post. Every run gets a fresh profile and HOME in a temporary directory, removed afterwards; the browser is
 * stopped by its PID (SIGTERM; its child processes, found by PID beforehand, are killed if they outlive it).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { processAlive, waitFor } from './netns.js';
import { LabProcess, repoRoot } from './proc.js';

export const FIREFOX = '/usr/bin/firefox-esr';

export type Prefs = Record<string, string | number | boolean>;

/**
 * Prefs of every run: no first-run pages, no update/telemetry/safe-browsing/captive-portal traffic (the
 * namespace has no internet), WebRTC without permission prompts.
 */
const QUIET_PREFS: Prefs = {
  'browser.shell.checkDefaultBrowser': false,
  'browser.startup.homepage_override.mstone': 'ignore',
  'browser.startup.page': 0,
  'startup.homepage_welcome_url': '',
  'browser.aboutwelcome.enabled': false,
  'browser.newtabpage.enabled': false,
  'datareporting.policy.dataSubmissionEnabled': false,
  'datareporting.healthreport.uploadEnabled': false,
  'toolkit.telemetry.enabled': false,
  'toolkit.telemetry.unified': false,
  'app.update.auto': false,
  'app.normandy.enabled': false,
  'extensions.update.enabled': false,
  'extensions.getAddons.cache.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'browser.safebrowsing.phishing.enabled': false,
  'browser.safebrowsing.downloads.enabled': false,
  'network.captive-portal-service.enabled': false,
  'network.connectivity-service.enabled': false,
  // the page and the TURN server are IP literals: no name lookups leave the namespace
  'network.dns.disabled': true,
  'network.dns.disablePrefetch': true,
  'network.prefetch-next': false,
  'network.proxy.type': 0,
  'media.navigator.permission.disabled': true,
};

export interface FirefoxPageOptions {
  /** Extra prefs (user.js), e.g. `media.peerconnection.ice.relay_only`. */
  prefs?: Prefs;
  /** Until the page has posted its result (browser start-up included). */
  timeoutMs: number;
}

export interface FirefoxPageRun {
  /** What the page posted to /result (parsed JSON). */
  result: unknown;
  /** From launching Firefox until the post arrived. */
  ms: number;
}

function pageServerBin(): string {
  return resolve(repoRoot(), 'dist', 'test', 'lab', 'page-server.js');
}

function userJs(prefs: Prefs): string {
  return Object.entries(prefs)
    .map(([k, v]) => `user_pref(${JSON.stringify(k)}, ${JSON.stringify(v)});\n`)
    .join('');
}

/** Opens `html` in headless Firefox ESR inside `ns` and resolves with what the page posts to `/result`. */
export async function runPageInFirefox(ns: string, html: string, opts: FirefoxPageOptions): Promise<FirefoxPageRun> {
  const tmp = mkdtempSync(join(tmpdir(), `${ns}-firefox-`));
  const profile = join(tmp, 'profile');
  const home = join(tmp, 'home');
  mkdirSync(profile);
  mkdirSync(home);
  writeFileSync(join(profile, 'user.js'), userJs({ ...QUIET_PREFS, ...opts.prefs }));
  const page = join(tmp, 'page.html');
  writeFileSync(page, html);

  let server: LabProcess | undefined;
  let firefox: LabProcess | undefined;
  try {
    server = new LabProcess('page-server', ns, process.execPath, [pageServerBin(), '--html', page]);
    const ready = await server.waitForEvent('ready', (e) => e.event === 'ready');
    const url = `http://127.0.0.1:${String(ready.port)}/`;
    const started = Date.now();
    // `env` execs Firefox, so the PID we hold is Firefox's own
    firefox = new LabProcess('firefox-esr', ns, 'env', [
      `HOME=${home}`,
      'MOZ_CRASHREPORTER_DISABLE=1',
      // keep every Firefox process in the lab namespace (the content sandbox would give them their own)
      'MOZ_DISABLE_CONTENT_SANDBOX=1',
      FIREFOX, '--headless', '--no-remote', '--profile', profile, url,
    ]);
    const posted = await waitFor('Firefox to post the page result', () => {
      const found = server!.events.find((e) => e.event === 'result');
      if (found) return found;
      if (firefox!.exited) throw new Error(`firefox-esr exited (${firefox!.child.exitCode ?? firefox!.child.signalCode}): ${firefox!.stderr.trim().slice(-2000)}`);
      if (server!.exited) throw new Error(`page server exited: ${server!.stderr.trim()}`);
      return undefined;
    }, opts.timeoutMs, 50);
    return { result: posted.body ?? posted.text, ms: Date.now() - started };
  } finally {
    if (firefox) await stopTree(firefox);
    await server?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** SIGTERM to the process (SIGKILL after 5 s), then SIGKILL to any of its descendants that outlived it. */
async function stopTree(proc: LabProcess): Promise<void> {
  const pid = proc.child.pid;
  const children = pid === undefined ? [] : descendants(pid);
  await proc.stop();
  const left = children.filter(processAlive);
  for (const p of left) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (left.length > 0) await waitFor('Firefox child processes to exit', () => left.every((p) => !processAlive(p)) || undefined, 5_000, 20);
}

/** PIDs of every descendant of `root` (from /proc/<pid>/stat's parent PID). */
function descendants(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(name), ppid);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const p = queue.shift()!;
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child);
        queue.push(child);
      }
    }
  }
  return out;
}
