import { readFileSync } from 'node:fs';
import type { EventType } from '../events/types.ts';
import type { Topics } from '../config.ts';

/** One Avro schema of one event type, as it lives in `schemas/avro/<EventType>.v<version>.avsc`. */
export interface EventSchema {
  eventType: EventType;
  version: number;
  topic: keyof Topics;
  /** Avro full name; with the topic it names the registry subject (TopicRecordNameStrategy). */
  fullName: string;
  definition: string;
}

function load(eventType: EventType, version: number, topic: keyof Topics): EventSchema {
  const definition = readFileSync(new URL(`../../schemas/avro/${eventType}.v${version}.avsc`, import.meta.url), 'utf8');
  const parsed = JSON.parse(definition) as { name: string; namespace: string };
  return { eventType, version, topic, fullName: `${parsed.namespace}.${parsed.name}`, definition };
}

/** Every schema version, oldest first per event type. The last of each type is what we write. */
export const EVENT_SCHEMAS: readonly EventSchema[] = [
  load('MovieMetadataSet', 1, 'movieMetadata'),
  load('MovieMetadataSet', 2, 'movieMetadata'),
  load('RatingSubmitted', 1, 'movieRatings'),
  load('RatingSubmitted', 2, 'movieRatings'),
  load('RatingDeleted', 1, 'movieRatings'),
];

export function subjectOf(schema: EventSchema, topics: Topics): string {
  return `${topics[schema.topic]}-${schema.fullName}`;
}
