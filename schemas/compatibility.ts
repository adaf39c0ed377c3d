import avro from 'avsc';
import type { EventSchema } from '../shared/kafka/schema-catalog.ts';

/**
 * What stops a set of schema files from being a safe history, as a list of problems (empty when
 * there are none). Each event type's versions must run 1, 2, ... under one record name, and each
 * version must read what every earlier one wrote (BACKWARD_TRANSITIVE, as the registry enforces):
 * checked with avsc's schema resolution, so it needs no registry and registers nothing.
 */
export function compatibilityProblems(schemas: readonly EventSchema[]): string[] {
  const problems: string[] = [];
  const byType = new Map<string, EventSchema[]>();
  for (const schema of schemas) byType.set(schema.eventType, [...(byType.get(schema.eventType) ?? []), schema]);
  for (const [eventType, versions] of byType) {
    versions.forEach((schema, i) => {
      if (schema.version !== i + 1) problems.push(`${eventType}: expected v${i + 1}, found v${schema.version}`);
      if (schema.fullName !== versions[0]!.fullName)
        problems.push(
          `${eventType} v${schema.version}: record name ${schema.fullName} differs from ${versions[0]!.fullName}`,
        );
    });
    const types = versions.map((schema) => ({ schema, type: parse(schema, problems) }));
    for (const [k, reader] of types.entries()) {
      for (const writer of types.slice(0, k)) {
        if (!reader.type || !writer.type) continue;
        try {
          reader.type.createResolver(writer.type);
        } catch (err) {
          problems.push(
            `${eventType} v${reader.schema.version} cannot read v${writer.schema.version}: ${(err as Error).message}`,
          );
        }
      }
    }
  }
  return problems;
}

function parse(schema: EventSchema, problems: string[]): avro.Type | undefined {
  try {
    return avro.Type.forSchema(JSON.parse(schema.definition) as avro.Schema);
  } catch (err) {
    problems.push(`${schema.eventType} v${schema.version}: not a valid Avro schema: ${(err as Error).message}`);
    return undefined;
  }
}
