// startFake runs `kefu fake --json` (the binary in KEFU_BIN) with args, the
// Token and key in env as they should be, and returns the JSON it printed
// when ready and a stop that ends it with SIGTERM and checks it exited 0.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export async function startFake(args, env = {}) {
  const bin = process.env.KEFU_BIN;
  assert.ok(bin, 'set KEFU_BIN to a kefu binary');
  const proc = spawn(bin, ['fake', '--addr', '127.0.0.1:0', '--json', ...args],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines = createInterface({ input: proc.stdout });
  const ready = await new Promise((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`kefu fake exited with ${code} before it was ready`)));
    lines.once('line', (line) => resolve(JSON.parse(line)));
  });
  const stop = async () => {
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0, 'kefu fake stops cleanly on SIGTERM');
  };
  return { ready, stop };
}
