import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Everything the launcher writes lives under this one git-ignored folder. */
export const DATA_DIR = path.resolve(process.env.DATA_DIR ?? path.join(REPO_ROOT, '.data'));

export const dataPath = (...parts: string[]) => path.join(DATA_DIR, ...parts);
export const logPath = (name: string) => dataPath('logs', `${name}.log`);
export const pidPath = (name: string) => dataPath('run', `${name}.pid`);
