// What every actor handler receives as its second argument.
/** Passed as the second argument to every handler. */
export interface ActorContext {
  role: string;
  threadId: number;
  config: unknown;
}
