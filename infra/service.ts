/** One piece of local infrastructure the launcher can bring up and down. */
export interface InfraService {
  name: string;
  /** Where clients reach it. */
  address: string;
  /** Whether something already answers at the address (started here or not). */
  isUp(): Promise<boolean>;
  /** Starts it and waits until it answers; throws a StartupError with the log tail otherwise. */
  start(): Promise<void>;
  /** Stops it if this launcher started it; returns whether it did. */
  stop(): Promise<boolean>;
}
