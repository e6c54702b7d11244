/**
 * The committed eBPF object (relay/offload/bpf/channel-data.bpf.o, what users load: they need no clang) is what its
 * C source compiles to with Debian's clang: rebuilt here with the same script and compared byte for byte.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BPF_OBJECT_PATH } from '../../../relay/offload/kernel-fast-path.js';
import { repoRoot } from '../../../relay/native-addon.js';

describe('eBPF object', () => {
  it('is up to date with its C source (rebuild with clang, compare bytes)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'anyturn-bpf-'));
    try {
      const out = join(dir, 'rebuilt.o');
      execFileSync('bash', [join(repoRoot(), 'relay', 'offload', 'bpf', 'build.sh'), out], { stdio: 'pipe' });
      const rebuilt = readFileSync(out);
      const committed = readFileSync(BPF_OBJECT_PATH);
      expect(rebuilt.length).toBeGreaterThan(1000);
      expect(rebuilt.equals(committed), 'relay/offload/bpf/channel-data.bpf.o is stale: run relay/offload/bpf/build.sh and commit it').toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
