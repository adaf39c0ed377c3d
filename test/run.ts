import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs the test files of the given layers (unit, integration, e2e; all by default) with Node's
 * test runner. Node 20's runner does not expand globs, hence this listing.
 */
const LAYERS = ['unit', 'integration', 'e2e'];
const root = path.dirname(fileURLToPath(import.meta.url));
const layers = process.argv.slice(2).length > 0 ? process.argv.slice(2) : LAYERS;
const unknown = layers.filter((l) => !LAYERS.includes(l));
if (unknown.length > 0) {
  console.error(`unknown test layer(s): ${unknown.join(', ')}; expected ${LAYERS.join(', ')}`);
  process.exit(2);
}

const files = layers.flatMap((layer) =>
  readdirSync(path.join(root, layer), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.spec.ts'))
    .sort()
    .map((f) => path.join(root, layer, f)),
);

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
