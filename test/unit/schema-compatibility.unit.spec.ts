import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVENT_SCHEMAS, type EventSchema } from '../../shared/kafka/schema-catalog.ts';
import { compatibilityProblems } from '../../schemas/compatibility.ts';

/** Rewrites the real schema file of `eventType` v`version` with `edit` applied to its JSON. */
function edited(
  eventType: string,
  version: number,
  edit: (schema: { fields: Array<Record<string, unknown>> }) => void,
): EventSchema[] {
  return EVENT_SCHEMAS.map((schema) => {
    if (schema.eventType !== eventType || schema.version !== version) return schema;
    const json = JSON.parse(schema.definition) as { fields: Array<Record<string, unknown>> };
    edit(json);
    return { ...schema, definition: JSON.stringify(json) };
  });
}

describe('schema compatibility check', () => {
  it('passes the schema files as they are', () => {
    assert.deepEqual(compatibilityProblems(EVENT_SCHEMAS), []);
  });

  it('refuses a new field without a default, which old events cannot fill', () => {
    const problems = compatibilityProblems(
      edited('RatingSubmitted', 2, (s) => void s.fields.push({ name: 'source', type: 'string' })),
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^RatingSubmitted v2 cannot read v1: /);
  });

  it('refuses a changed field type', () => {
    const problems = compatibilityProblems(
      edited('MovieMetadataSet', 2, (s) => {
        const year = s.fields.find((f) => f.name === 'year')!;
        year.type = 'string';
        delete year.default;
      }),
    );
    assert.match(problems.join('\n'), /^MovieMetadataSet v2 cannot read v1: /);
  });

  it('refuses a gap in the versions and a renamed record', () => {
    const gap = EVENT_SCHEMAS.filter((s) => !(s.eventType === 'RatingSubmitted' && s.version === 1));
    assert.deepEqual(compatibilityProblems(gap), ['RatingSubmitted: expected v1, found v2']);
    const renamed = EVENT_SCHEMAS.map((s) =>
      s.eventType === 'RatingDeleted'
        ? s
        : s.eventType === 'MovieMetadataSet' && s.version === 2
          ? { ...s, fullName: 'other.Name' }
          : s,
    );
    assert.deepEqual(compatibilityProblems(renamed), [
      'MovieMetadataSet v2: record name other.Name differs from moviecatalogue.events.MovieMetadataSet',
    ]);
  });
});
