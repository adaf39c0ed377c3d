import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { StartupError } from './daemon.ts';
import { REPO_ROOT, dataPath } from './paths.ts';

const POM = path.join(REPO_ROOT, 'infra', 'maven', 'pom.xml');

export interface Artifacts {
  /** Classpath entries of the Kafka broker. */
  kafkaClasspath: string;
  /** The registry's self-contained Quarkus runner jar. */
  registryJar: string;
}

/**
 * Fetches the pinned Kafka and Apicurio artifacts with Maven, once per pom content: a changed
 * pin fetches again, an unchanged one reuses the folder (and Maven reuses ~/.m2).
 */
export function ensureArtifacts(log: (line: string) => void): Artifacts {
  const digest = createHash('sha256').update(readFileSync(POM)).digest('hex').slice(0, 12);
  const dir = dataPath('artifacts', digest);
  const marker = path.join(dir, '.complete');
  if (!existsSync(marker)) {
    log(`fetching Kafka and Apicurio Registry from Maven Central into ${dir}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    run('mvn', [
      '-q',
      '-B',
      '-f',
      POM,
      'dependency:copy-dependencies@kafka',
      'dependency:copy@registry',
      `-Dout=${dir}`,
    ]);
    const archive = readdirSync(dir).find((f) => f.endsWith('.tar.gz'));
    if (!archive) throw new StartupError(`Maven did not fetch the registry archive into ${dir}`);
    mkdirSync(path.join(dir, 'registry'));
    run('tar', ['-xzf', path.join(dir, archive), '-C', path.join(dir, 'registry')]);
    rmSync(path.join(dir, archive));
    writeFileSync(marker, new Date().toISOString());
  }
  const registryDir = path.join(dir, 'registry');
  const runner = readdirSync(registryDir).find((f) => f.endsWith('-runner.jar'));
  if (!runner) throw new StartupError(`No registry runner jar in ${registryDir}; delete ${dir} to fetch again`);
  return { kafkaClasspath: path.join(dir, 'kafka-libs', '*'), registryJar: path.join(registryDir, runner) };
}

function run(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: Buffer; stderr?: Buffer };
    throw new StartupError(
      `${command} ${args.join(' ')} failed:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`,
    );
  }
}
