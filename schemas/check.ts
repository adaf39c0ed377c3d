import { EVENT_SCHEMAS } from '../shared/kafka/schema-catalog.ts';
import { compatibilityProblems } from './compatibility.ts';

/** `npm run schemas:check`: fails the build when a schema file would break the history of its type. */
const problems = compatibilityProblems(EVENT_SCHEMAS);
if (problems.length > 0) {
  console.error(`schemas: ${problems.length} problem(s):\n${problems.map((p) => `  ${p}`).join('\n')}`);
  process.exit(1);
}
console.log(`schemas: ${EVENT_SCHEMAS.length} files, every version reads every earlier one (BACKWARD_TRANSITIVE)`);
