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
  const dir = fetchedOnce(POM, 'artifacts', (into) => {
    log(`fetching Kafka and Apicurio Registry from Maven Central into ${into}`);
    runTool('mvn', [
      '-q',
      '-B',
      '-f',
      POM,
      'dependency:copy-dependencies@kafka',
      'dependency:copy@registry',
      `-Dout=${into}`,
    ]);
    const archive = readdirSync(into).find((f) => f.endsWith('.tar.gz'));
    if (!archive) throw new StartupError(`Maven did not fetch the registry archive into ${into}`);
    mkdirSync(path.join(into, 'registry'));
    runTool('tar', ['-xzf', path.join(into, archive), '-C', path.join(into, 'registry')]);
    rmSync(path.join(into, archive));
  });
  const registryDir = path.join(dir, 'registry');
  const runner = readdirSync(registryDir).find((f) => f.endsWith('-runner.jar'));
  if (!runner) throw new StartupError(`No registry runner jar in ${registryDir}; delete ${dir} to fetch again`);
  return { kafkaClasspath: path.join(dir, 'kafka-libs', '*'), registryJar: path.join(registryDir, runner) };
}

/**
 * The folder `fill` fetched a pom's artifacts into, under the data folder and named after the
 * pom's content: filled once, reused while the pom is unchanged, filled afresh after a failure.
 */
export function fetchedOnce(pom: string, name: string, fill: (dir: string) => void): string {
  const digest = createHash('sha256').update(readFileSync(pom)).digest('hex').slice(0, 12);
  const dir = dataPath(name, digest);
  const marker = path.join(dir, '.complete');
  if (!existsSync(marker)) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    fill(dir);
    writeFileSync(marker, new Date().toISOString());
  }
  return dir;
}

export function runTool(command: string, args: string[]): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: Buffer; stderr?: Buffer };
    throw new StartupError(
      `${command} ${args.join(' ')} failed:\n${stdout?.toString() ?? ''}${stderr?.toString() ?? ''}`,
    );
  }
}
