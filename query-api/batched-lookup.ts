/**
 * Reads by key that share round trips: the keys asked for while the event loop runs one turn go
 * to Postgres together in one query when the turn ends. Reads come in bunches, since every
 * projector commit releases at once the reads that waited for it; one query for the bunch
 * instead of one each spares both processes most of their work (each query is a write to a
 * socket that wakes the other side, which costs more than the query itself).
 */
export function createBatchedLookup<V>(loadMany: (keys: string[]) => Promise<ReadonlyMap<string, V>>, maxKeys: number) {
  let pending = new Map<string, Array<{ resolve(value: V | undefined): void; reject(err: unknown): void }>>();
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    const keys = [...batch.keys()];
    for (let i = 0; i < keys.length; i += maxKeys) {
      const slice = keys.slice(i, i + maxKeys);
      loadMany(slice).then(
        (found) => {
          for (const key of slice) for (const waiter of batch.get(key)!) waiter.resolve(found.get(key));
        },
        (err: unknown) => {
          for (const key of slice) for (const waiter of batch.get(key)!) waiter.reject(err);
        },
      );
    }
  }

  return {
    get(key: string): Promise<V | undefined> {
      return new Promise((resolve, reject) => {
        const waiters = pending.get(key);
        if (waiters) waiters.push({ resolve, reject });
        else pending.set(key, [{ resolve, reject }]);
        if (!scheduled) {
          scheduled = true;
          setImmediate(flush);
        }
      });
    },
  };
}
