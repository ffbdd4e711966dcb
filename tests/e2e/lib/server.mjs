// Starts the real libreair binary on a random loopback port with a fresh data
// directory, for the Node.js end-to-end tests. Everything stops on exit.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BUILD = process.env.LAIR_BUILD;
export const SRC = process.env.LAIR_SRC;
export const SHARED = process.env.LAIR_SHARED || join(SRC, '..', 'shared');
export const BIN = join(BUILD, 'libreair');
export const STORIES = join(SHARED, 'models', 'stories260K.gguf');

// Generates a tiny random model with the project's generator, or null if the
// generator is not built.
export function genModel(preset, dir) {
  const gen = join(BUILD, 'gguf-gen');
  if (!existsSync(gen)) return null;
  const out = join(dir, `${preset}.gguf`);
  execFileSync(join(SRC, 'scripts', 'gen-model.sh'), [preset, out], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LAIR_BUILD: BUILD },
  });
  return out;
}

export async function startServer(args = [], { timeoutMs = 120000 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'lair-e2e-'));
  const data = join(dir, 'data');
  const init = execFileSync(BIN, ['init', '--data', data], { encoding: 'utf8' });
  const key = init.trim().split('\n').pop();
  const proc = spawn(BIN, ['serve', '--data', data, '--listen', '127.0.0.1:0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    let found = null;
    const timer = setTimeout(() => reject(new Error(`server not ready:\n${err}`)), timeoutMs);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (https?:\S+)/);
      if (m) found = m[1];
      if (found && /^libreair: ready/m.test(out)) { clearTimeout(timer); resolve(found); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}:\n${err}`)); });
  });
  const stop = async () => {
    if (proc.exitCode === null) {
      const done = new Promise((r) => proc.on('exit', r));
      proc.kill('SIGTERM');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { url, key, dir, proc, stop, stderr: () => err };
}

export async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + '{') || line.startsWith(name + ' ')) sum += Number(line.split(' ').pop());
  }
  return sum;
}
