import type { PoolClient } from '../shared/db/pool.ts';
import type { CatalogueEvent, EventType } from '../shared/events/types.ts';

/** Where a projection writes: one transaction's client and the Postgres schema of its tables. */
export interface Target {
  client: PoolClient;
  schema: string;
}

/** What a fold decides for a batch: the changes to write, and the events it refused, with why. */
export interface FoldResult<Changes> {
  changes: Changes;
  /** eventId -> reason, for events that are valid but must not change the read model. */
  rejected: ReadonlyMap<string, string>;
}

/**
 * A read model as three parts: `load` reads, in bulk, the state a batch's fold needs; `fold` is
 * pure and decides; `write` executes the changes. The pipeline runs them inside the transaction
 * that also records each event's outcome and the partition's next offset.
 */
export interface ProjectionDefinition<E extends CatalogueEvent, State, Changes> {
  name: string;
  /** The schema of the live read model; a rebuild writes the same tables into another one. */
  schema: string;
  topic: string;
  handles: readonly E['type'][];
  load(target: Target, events: readonly E[]): Promise<State>;
  fold(events: readonly E[], state: State): FoldResult<Changes>;
  write(target: Target, changes: Changes): Promise<void>;
}

/** A projection as the pipeline sees it, its state and changes hidden behind `project`. */
export interface Projection {
  name: string;
  schema: string;
  topic: string;
  handles: readonly EventType[];
  /** Applies events this projection handles; returns the ones it rejected (eventId -> reason). */
  project(target: Target, events: readonly CatalogueEvent[]): Promise<ReadonlyMap<string, string>>;
}

export function defineProjection<E extends CatalogueEvent, State, Changes>(
  definition: ProjectionDefinition<E, State, Changes>,
): Projection {
  const { name, schema, topic, handles } = definition;
  const handled = new Set<EventType>(handles);
  return {
    name,
    schema,
    topic,
    handles,
    async project(target, events) {
      if (events.length === 0) return new Map();
      const stray = events.find((e) => !handled.has(e.type));
      if (stray) throw new Error(`${name} was given a ${stray.type}, which it does not handle`);
      const mine = events as readonly E[];
      const { changes, rejected } = definition.fold(mine, await definition.load(target, mine));
      await definition.write(target, changes);
      return rejected;
    },
  };
}
