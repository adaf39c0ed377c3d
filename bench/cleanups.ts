/**
 * What the bench must undo (consumers, pools, databases, groups), newest first. Each phase
 * releases its own as it ends, so the next phase measures on a quiet machine; whatever a failed
 * or interrupted phase left behind is released by `runAll`.
 */
export class Cleanups {
  private readonly pending: Array<{ label: string; undo: () => Promise<unknown> }> = [];

  /** Registers `undo` and returns a function that runs it now, once. */
  add(label: string, undo: () => Promise<unknown>): () => Promise<void> {
    const entry = { label, undo };
    this.pending.push(entry);
    return async () => {
      const at = this.pending.indexOf(entry);
      if (at < 0) return;
      this.pending.splice(at, 1);
      await undo();
    };
  }

  /** Runs everything still registered; one failure does not stop the rest. */
  async runAll(): Promise<void> {
    while (this.pending.length > 0) {
      const { label, undo } = this.pending.pop()!;
      try {
        await undo();
      } catch (err) {
        console.error(`cleanup: could not ${label}: ${(err as Error).message}`);
      }
    }
  }
}
